#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian 12 machine (as CI does):
# installs what it needs, checks formatting and lints, runs the Rust tests
# (including the cgroup and perf tests, which need root), the C++ wrapper
# tests under ctest (once under valgrind), the cross-check against
# Mesos's own protobuf schema, and the modules inside a real Mesos 1.11
# (../shared/mesos, installed with its install.sh; the module library is
# built against it in the same CMake build as the C++ tests), the Debian
# package installed into a scratch root, and Debian's Prometheus scraping a
# live agent.
#
# Build trees go under cargo's target directory ($CARGO_TARGET_DIR, default
# target/): the CMake build in $BUILD_DIR (default <target>/cmake), the
# schema check's venv in <target>/schema. Nothing else is written into the
# checkout.
#
# Skips are never silent: a test that cannot run here (not root, no PMU, no
# hierarchy, no PyPI) prints `SKIP: <test>: <reason>` and is counted as
# skipped, not passed; `SKIP part: ...` names a part of a test that could not
# run while the rest checked. The summary lists every skip with its reason
# and ends with the line "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

log() { printf '\n== %s\n' "$*"; }

# --- machine setup ---------------------------------------------------------
need_apt=()
for pkg in cmake g++ libgtest-dev valgrind stress-ng memcached python3-venv dpkg-dev binutils curl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing apt packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # Debian's memcached starts a daemon on 11211 where an init system runs;
    # the SLO bench starts its own on a free port.
    if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
      systemctl disable --now memcached.service >/dev/null 2>&1 || true
    fi
  else
    echo "missing apt packages (${need_apt[*]}) and not root: the C++ and cgroup tests may be skipped" >&2
  fi
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# shellcheck source=scripts/summary.sh
. scripts/summary.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- the accounting itself, on real logs -----------------------------------
log "test accounting (tests/summary)"
bash tests/summary/run.sh 2>&1 | tee "$tmp/summary.log" || true
count_suite summary "$tmp/summary.log"

# --- Rust -------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "cargo test (workspace)"
status=0
cargo test --workspace 2>&1 | tee "$tmp/cargo.log" || status=$?
count_cargo "$tmp/cargo.log"
if [ $status -ne 0 ]; then
  echo "cargo test failed" >&2
  [ "$failed" -gt 0 ] || failed=1
  summary; exit 1
fi
log "benchmarks compile"
cargo bench --workspace --no-run --quiet
# The binaries the live suites run (cargo test built them; this says so).
cargo build --quiet -p serenity-cli -p serenity-loadgen

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
target_dir=${CARGO_TARGET_DIR:-$(pwd)/target}
build_dir=${BUILD_DIR:-$target_dir/cmake}
BUILD_DIR=$build_dir bash scripts/test-cpp.sh ${mesos_root:+-DMESOS_ROOT=$mesos_root} 2>&1 | tee "$tmp/ctest.log" || true
ctest_sum=$(grep -Eo '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$tmp/ctest.log" | tail -1 || true)
if [ -n "$ctest_sum" ]; then
  c_fail=$(awk '{print $4}' <<<"$ctest_sum")
  passed=$((passed + $(awk '{print $NF}' <<<"$ctest_sum") - c_fail)); failed=$((failed + c_fail))
else
  echo "C++ wrapper tests: the CMake build or ctest broke before any test ran (above)" >&2
  failed=$((failed + 1))
fi

# --- decoding checked against Mesos's own schema ---------------------------
log "schema cross-check (mesos.interface 1.7.2)"
bash tests/schema/run.sh 2>&1 | tee "$tmp/schema.log" || true
count_suite schema "$tmp/schema.log"

# --- the Debian package, installed into a scratch root ----------------------
log "Debian package (tests/package)${mesos_root:+ with the module for $mesos_root}"
bash tests/package/run.sh "$mesos_root" 2>&1 | tee "$tmp/package.log" || true
count_suite package "$tmp/package.log"

# --- a real Prometheus scraping a live agent ---------------------------------
log "Prometheus scraping a live agent (tests/prometheus)"
bash tests/prometheus/run.sh "$target_dir/debug/serenity" 2>&1 | tee "$tmp/prometheus.log" || true
count_suite prometheus "$tmp/prometheus.log"

# --- the SLO controller in a closed loop (memcached, stress-ng) --------------
# Alone on the machine: the bench measures latency, so nothing else runs.
log "SLO closed loop: memcached under stress-ng, three controllers (tests/slo)"
bash tests/slo/run.sh "$target_dir/debug/serenity" "$target_dir/debug/serenity-loadgen" 2>&1 | tee "$tmp/slo.log" || true
count_suite slo "$tmp/slo.log"

# --- the modules inside a real Mesos -----------------------------------------
log "real Mesos end-to-end (tests/mesos)"
bash tests/mesos/run.sh "$mesos_root" "$build_dir/cpp_shim/libserenity_mesos.so" \
  "$target_dir/debug/serenity" 2>&1 | tee "$tmp/mesos.log" || true
count_suite mesos "$tmp/mesos.log"

summary
[ "$failed" -eq 0 ]
