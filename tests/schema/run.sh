#!/usr/bin/env bash
# Schema cross-check, end to end: builds ResourceUsage messages with Mesos's
# published protobuf classes (PyPI mesos.interface 1.7.2 by default, the
# newest version pip can install: 1.8 to 1.11 exist on PyPI only as
# platform-named dumb archives; MESOS_INTERFACE_VERSION picks another) and
# checks the Rust decoder and
# both decision paths against them (rust/ffi/tests/schema.rs).
#
# Skips, saying why, only when PyPI cannot be reached. Takes ~1 min the
# first time (venv + pip), ~15 s afterwards (plus the cargo build).
#
# The last line of output is always the summary
#   schema: N passed, M failed
# where a check is one named check of rust/ffi/tests/schema.rs, reported on
# its own line (`schema: ok: ...` or `schema: FAILED: ...`): one per
# generated message (bytes vs both JSON forms, load_trace and spot values),
# one for the manifest's executor count, one per trace tick (the ABI and
# JSON paths decide identically) and one that those decisions are not
# trivial. A step that fails before any check runs (pip, gen.py, the cargo
# build) counts as one failed check. Exit status 0 only when M = 0 and
# N > 0. When PyPI is unreachable it prints `SKIP: schema cross-check:
# <reason>` and the summary
#   schema: 0 passed, 0 failed, 1 skipped
# and the exit status is 0. Work files (venv, generated messages, logs) go
# to $SERENITY_SCHEMA_WORK, default $CARGO_TARGET_DIR/schema (target/schema).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
version=${MESOS_INTERFACE_VERSION:-1.7.2}
work=${SERENITY_SCHEMA_WORK:-${CARGO_TARGET_DIR:-$root/target}/schema}
out=$work/out
venv=$work/venv-$version
pylib=$work/pylib-$version
python=python3

mkdir -p "$work"

# The summary line, then exit: 0 only with no failure and some check passed.
summary() {
  local passed=$1 failed=$2 note=${3:-}
  echo "schema: $passed passed, $failed failed${note:+ ($note)}"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] && exit 0
  exit 1
}
packages=("mesos.interface==$version" "protobuf<4")

have_packages() { "$1" -c "import mesos.interface.mesos_pb2, google.protobuf" 2>/dev/null; }

if [ -x "$venv/bin/python" ] && have_packages "$venv/bin/python"; then
  python=$venv/bin/python
elif [ -d "$pylib" ] && PYTHONPATH=$pylib have_packages python3; then
  export PYTHONPATH=$pylib
else
  if python3 -m venv "$venv" >/dev/null 2>&1; then
    pip=("$venv/bin/python" -m pip)
    target=()
    python=$venv/bin/python
  else
    # No venv module (Debian without python3-venv): install beside us.
    pip=(python3 -m pip)
    target=(--target "$pylib")
    export PYTHONPATH=$pylib
  fi
  if ! "${pip[@]}" install --quiet --disable-pip-version-check "${target[@]}" "${packages[@]}" >"$work/pip.log" 2>&1; then
    # Skip only when PyPI cannot be reached; any other failure is an error.
    if grep -qiE "NewConnectionError|Max retries exceeded|Temporary failure in name resolution|Network is unreachable|Connection (refused|reset)|timed out|ProxyError|SSLError|from versions: none" "$work/pip.log"; then
      echo "SKIP: schema cross-check: PyPI is unreachable (pip could not fetch mesos.interface==$version); see $work/pip.log"
      echo "schema: 0 passed, 0 failed, 1 skipped"
      exit 0
    fi
    echo "schema: pip failed to install ${packages[*]}:" >&2
    tail -5 "$work/pip.log" >&2
    summary 0 1 "pip failed"
  fi
fi

rm -rf "$out"
"$python" "$root/tests/schema/gen.py" "$out" || summary 0 1 "gen.py failed"
cd "$root"
log=$work/cargo-test.log
status=0
SERENITY_SCHEMA_DIR=$out cargo test -p serenity-ffi --test schema -- --nocapture --test-threads=1 \
  2>&1 | tee "$log" || status=$?
# libtest may print a test's first line right after "test name ... ", so
# the markers are matched anywhere on a line.
passed=$(grep -c 'schema: ok: ' "$log" || true)
failed=$(grep -c 'schema: FAILED: ' "$log" || true)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  summary "$passed" 1 "cargo test failed outside the checks; see $log"
fi
summary "$passed" "$failed"
