#!/usr/bin/env bash
# The real-Mesos step of the test command: checks the module library built
# against ../shared/mesos (exports, RTLD_NOW) and runs the end-to-end test
# (tests/mesos/e2e.py: real master + agent + our modules + a revocable
# framework). Its last line is `mesos: N passed, M failed, K skipped`.
#
#   tests/mesos/run.sh MESOS_ROOT LIBSERENITY_MESOS SERENITY_BIN
#
# With no MESOS_ROOT (the dist is absent) it says so and counts one skip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mesos_root=${1:-}
module=${2:-}
serenity=${3:-}
if [ -z "$mesos_root" ] || [ ! -x "$mesos_root/sbin/mesos-agent" ]; then
  echo "SKIP: real Mesos: no Mesos 1.11 installation (../shared/mesos is absent or install.sh failed)"
  echo "mesos: 0 passed, 0 failed, 1 skipped"
  exit 0
fi
for f in "$module" "$serenity"; do
  if [ ! -f "$f" ]; then
    echo "FAIL: real Mesos: $f was not built"
    echo "mesos: 0 passed, 1 failed, 0 skipped"
    exit 1
  fi
done
command -v stress-ng >/dev/null || { echo "FAIL: real Mesos: stress-ng is not installed"; echo "mesos: 0 passed, 1 failed, 0 skipped"; exit 1; }
exec python3 "$here/e2e.py" --mesos "$mesos_root" --module "$module" --serenity "$serenity" ${SERENITY_MESOS_KEEP:+--keep "$SERENITY_MESOS_KEEP"}
