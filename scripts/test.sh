#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian 12 machine (as CI does):
# installs what it needs, checks formatting and lints, runs the Rust tests
# (including the cgroup and perf tests, which need root), the C++ wrapper
# tests under ctest (once under valgrind), the cross-check against
# Mesos's own protobuf schema, and the modules inside a real Mesos 1.11
# (../shared/mesos, installed with its install.sh; the module library is
# built against it in the same CMake build as the C++ tests). Prints
# "N passed, N failed" last.
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

# --- a real Mesos (../shared/mesos) ----------------------------------------
mesos_dist=${SERENITY_MESOS_DIST:-$(pwd)/../shared/mesos}
mesos_root=""
if [ -f "$mesos_dist/install.sh" ]; then
  log "installing the real Mesos 1.11 from $mesos_dist"
  if out=$(bash "$mesos_dist/install.sh" "${SERENITY_MESOS_HOME:-/var/tmp/serenity-mesos}" --dev 2>&1); then
    mesos_root=$(printf '%s\n' "$out" | tail -1)
    echo "Mesos root: $mesos_root"
  else
    printf '%s\n' "$out" >&2
    echo "the real-Mesos tests cannot run: install.sh failed (above)" >&2
  fi
else
  echo "no Mesos dist at $mesos_dist: the module library is not built and the real-Mesos tests are skipped"
fi

# --- C++ wrapper over the C ABI (ctest, once under valgrind), and the module
# library against the real Mesos in the same build ---------------------------
log "C++ wrapper tests${mesos_root:+ and libserenity_mesos.so against $mesos_root}"
build_dir=${BUILD_DIR:-$(pwd)/build}
BUILD_DIR=$build_dir bash scripts/test-cpp.sh ${mesos_root:+-DMESOS_ROOT=$mesos_root} 2>&1 | tee "$tmp/ctest.log"
c_pass=$(grep -Eo '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$tmp/ctest.log" | tail -1 | awk '{print $NF - $4}')
c_fail=$(grep -Eo '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$tmp/ctest.log" | tail -1 | awk '{print $4}')
passed=$((passed + ${c_pass:-0})); failed=$((failed + ${c_fail:-0}))

# --- decoding checked against Mesos's own schema ---------------------------
log "schema cross-check (mesos.interface 1.7.2)"
bash tests/schema/run.sh 2>&1 | tee "$tmp/schema.log"
s_pass=$(grep -Eo 'schema: [0-9]+ passed' "$tmp/schema.log" | awk '{print $2}' | tail -1)
passed=$((passed + ${s_pass:-0}))

# --- the modules inside a real Mesos -----------------------------------------
log "real Mesos end-to-end (tests/mesos)"
bash tests/mesos/run.sh "$mesos_root" "$build_dir/cpp_shim/libserenity_mesos.so" \
  "${CARGO_TARGET_DIR:-$(pwd)/target}/debug/serenity" 2>&1 | tee "$tmp/mesos.log" || true
m_pass=$(grep -Eo 'mesos: [0-9]+ passed' "$tmp/mesos.log" | awk '{print $2}' | tail -1)
m_fail=$(grep -Eo 'mesos: [0-9]+ passed, [0-9]+ failed' "$tmp/mesos.log" | awk '{print $4}' | tail -1)
[ -n "$m_fail" ] || m_fail=1 # no summary line: the step itself broke
passed=$((passed + ${m_pass:-0})); failed=$((failed + m_fail))

log "summary"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
