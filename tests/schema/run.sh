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
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
version=${MESOS_INTERFACE_VERSION:-1.7.2}
work=${SERENITY_SCHEMA_WORK:-$root/target/schema}
out=$work/out
venv=$work/venv-$version
pylib=$work/pylib-$version
python=python3

mkdir -p "$work"
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
      echo "schema: skipped: PyPI is unreachable (pip could not fetch mesos.interface==$version); see $work/pip.log"
      exit 0
    fi
    echo "schema: pip failed to install ${packages[*]}:" >&2
    tail -5 "$work/pip.log" >&2
    exit 1
  fi
fi

rm -rf "$out"
"$python" "$root/tests/schema/gen.py" "$out"
cd "$root"
SERENITY_SCHEMA_DIR=$out cargo test -p serenity-ffi --test schema -- --nocapture --test-threads=1
