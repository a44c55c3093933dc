#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian 12 machine (as CI does):
# installs what it needs, checks formatting and lints, runs the Rust tests
# (including the cgroup and perf tests, which need root), the C++ wrapper
# tests under ctest (once under valgrind), and the cross-check against
# Mesos's own protobuf schema. Prints "N passed, N failed" last.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

log() { printf '\n== %s\n' "$*"; }

# --- machine setup ---------------------------------------------------------
need_apt=()
for pkg in cmake g++ libgtest-dev valgrind stress-ng python3-venv; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing apt packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "missing apt packages (${need_apt[*]}) and not root: the C++ and cgroup tests may be skipped" >&2
  fi
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

passed=0; failed=0
count() { # sums cargo's "test result" lines from a log file
  local p f
  p=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$4} END {print s+0}')
  f=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$6} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f))
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- Rust -------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "cargo test (workspace)"
status=0
cargo test --workspace 2>&1 | tee "$tmp/cargo.log" || status=$?
count "$tmp/cargo.log"
[ $status -eq 0 ] || { echo "cargo test failed" >&2; echo "$passed passed, $((failed > 0 ? failed : 1)) failed"; exit 1; }
log "benchmarks compile"
cargo bench --workspace --no-run --quiet

# --- C++ wrapper over the C ABI (ctest, once under valgrind) ---------------
log "C++ wrapper tests"
bash scripts/test-cpp.sh 2>&1 | tee "$tmp/ctest.log"
c_pass=$(grep -Eo '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$tmp/ctest.log" | tail -1 | awk '{print $NF - $4}')
c_fail=$(grep -Eo '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$tmp/ctest.log" | tail -1 | awk '{print $4}')
passed=$((passed + ${c_pass:-0})); failed=$((failed + ${c_fail:-0}))

# --- decoding checked against Mesos's own schema ---------------------------
log "schema cross-check (mesos.interface 1.7.2)"
bash tests/schema/run.sh 2>&1 | tee "$tmp/schema.log"
s_pass=$(grep -Eo 'schema: [0-9]+ passed' "$tmp/schema.log" | awk '{print $2}' | tail -1)
passed=$((passed + ${s_pass:-0}))

log "summary"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
