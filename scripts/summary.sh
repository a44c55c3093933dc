# The test command's accounting, sourced by scripts/test.sh (and checked by
# tests/summary/run.sh on real logs): every test or check counts once, as
# passed, failed or skipped, and every skip is named with its reason.
#
#   count_cargo LOG        libtest's "test result" lines and the tests' SKIP lines
#   count_suite NAME LOG   a script's "NAME: N passed, M failed[, K skipped]"
#   summary                the named skips, then "N passed, N failed, N skipped"
#
# Safe under `set -euo pipefail` (what test.sh runs with): a grep that finds
# nothing never ends the caller.

passed=0; failed=0; skipped=0
skips=() # "suite: test: reason", one per skipped test or part
# cargo's "test result" lines of a log, then its SKIP lines: a whole skip is
# moved from passed (libtest counts a test that returned early as passed) to
# skipped; an ignored test is skipped too.
count_cargo() {
  local log=$1 p f i line
  read -r p f i < <(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed; [0-9]+ ignored' "$log" |
    awk '{p+=$4; f+=$6; i+=$8} END {print p+0, f+0, i+0}' || true)
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + i))
  while IFS= read -r line; do
    case $line in
      "SKIP part: "*) skips+=("cargo (part of a test): ${line#SKIP part: }") ;;
      "SKIP: "*) skips+=("cargo: ${line#SKIP: }"); passed=$((passed - 1)); skipped=$((skipped + 1)) ;;
    esac
  done < <(grep -Eo 'SKIP( part)?: .*' "$log" || true)
  while IFS= read -r line; do
    skips+=("cargo (ignored): $line")
  done < <(sed -nE 's/^test (.*) \.\.\. ignored(, (.*))?$/\1: \3/p' "$log" || true)
}
# A script's summary line `NAME: N passed, M failed[, K skipped]` and its
# `SKIP: name: why` lines; no summary line counts as one failure.
count_suite() {
  local name=$1 log=$2 sum p f k line
  sum=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1 || true)
  if [ -z "$sum" ]; then
    echo "$name: no summary line: the step itself broke (see above)" >&2
    failed=$((failed + 1)); return
  fi
  p=$(sed -E 's/^[^:]+: ([0-9]+) passed.*/\1/' <<<"$sum")
  f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$sum")
  k=$(grep -Eo '[0-9]+ skipped' <<<"$sum" || true)
  k=${k%% *}
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${k:-0}))
  while IFS= read -r line; do
    skips+=("$name: ${line#SKIP: }")
  done < <(grep -E '^SKIP: ' "$log" || true)
}
summary() {
  printf '\n== summary\n'
  local s
  for s in "${skips[@]}"; do echo "skipped: $s"; done
  echo "$passed passed, $failed failed, $skipped skipped"
}
