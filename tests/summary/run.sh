#!/usr/bin/env bash
# Checks the test command's accounting (scripts/summary.sh) on logs: real
# libtest output of the live tests run without root (every test a SKIP), a
# log with an ignored test, a partly skipped test and a failure, a script
# suite with a skip, one without a skipped count, and a step that broke
# before printing its summary. Runs under `set -euo pipefail`, as test.sh.
# The last line is `summary: N passed, M failed`; exit 0 iff M = 0.
set -euo pipefail # as scripts/test.sh runs the accounting
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/summary.sh
. "$here/../../scripts/summary.sh"
ok=0; bad=0
expect() { # name expected actual
  if [ "$2" = "$3" ]; then ok=$((ok + 1)); echo "PASS: $1"
  else bad=$((bad + 1)); echo "FAIL: $1: expected [$2], got [$3]"; fi
}
reset() { passed=0; failed=0; skipped=0; skips=(); }

reset; count_cargo "$here/cargo-not-root.log"
expect "a live test that returned early without root is skipped, not passed" \
  "0 passed, 0 failed, 23 skipped" "$passed passed, $failed failed, $skipped skipped"
expect "every skipped test is named with its reason" 23 "${#skips[@]}"
expect "the skip names the test and says why" \
  "cargo: dry_run_touches_nothing: needs root (geteuid != 0) to create cgroups" \
  "$(printf '%s\n' "${skips[@]}" | grep dry_run)"

reset; count_cargo "$here/cargo-mixed.log"
expect "ignored counts as skipped, a partial skip keeps its test passed, a failure fails" \
  "1 passed, 1 failed, 1 skipped" "$passed passed, $failed failed, $skipped skipped"
expect "the ignored test and the skipped part are both named" \
  "cargo (ignored): corpus::rewrite_seeds: rewrites the committed seeds; run by hand|cargo (part of a test): starvation::psi: /sys/fs/cgroup/unified/x has no cpu.pressure" \
  "$(printf '%s\n' "${skips[@]}" | LC_ALL=C sort | paste -sd'|')"

reset; count_suite mesos "$here/mesos-one-skip.log"
expect "a suite's summary line is counted with its skips" \
  "1 passed, 0 failed, 1 skipped" "$passed passed, $failed failed, $skipped skipped"
expect "a suite's SKIP line is named under the suite" \
  "mesos: the BE task is killed: the executors never used more than 1.44 cpus" "${skips[0]:-}"

reset; count_suite schema "$here/schema-ok.log"
expect "a summary line without a skipped count counts no skip" \
  "5 passed, 0 failed, 0 skipped" "$passed passed, $failed failed, $skipped skipped"

reset; count_suite schema "$here/schema-broken.log" 2>/dev/null
expect "a step without its summary line counts as one failure" \
  "0 passed, 1 failed, 0 skipped" "$passed passed, $failed failed, $skipped skipped"

reset; count_cargo "$here/cargo-mixed.log"; count_suite mesos "$here/mesos-one-skip.log"
expect "the last line of the summary is the totals" \
  "2 passed, 1 failed, 2 skipped" "$(summary | tail -1)"

echo "summary: $ok passed, $bad failed"
[ "$bad" -eq 0 ]
