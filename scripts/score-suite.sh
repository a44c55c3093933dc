#!/usr/bin/env bash
# Scores pipelines on the scenario suite, closed loop: for every scenario of
# tests/scenarios/ and every run, simulate with the run's pipelines inside
# the loop (their kills remove executors, their slack admits best-effort
# work), score the trace, and print Markdown tables: per scenario, then the
# aggregate over the suite, for QoS pipelines and for estimators
# (docs/benchmarks.md, "Scenario scores"). Everything is seeded: the same
# binary and files give the same tables.
#
# Usage: scripts/score-suite.sh [RUN ...]
#   A RUN is a comma-separated list of pipeline files run together (an
#   estimator and a QoS pipeline are linked as on the agent). Default runs:
#     pipelines/estimator.toml,pipelines/qos.toml
#     pipelines/estimator.toml,pipelines/qos-cusum.toml
#     pipelines/qos-load-baseline.toml
#     pipelines/estimator-reclaim.toml,pipelines/qos-cusum.toml
#     pipelines/estimator-reclaim.toml,pipelines/qos-starvation.toml
#     pipelines/estimator-safe.toml,pipelines/qos-starvation.toml
#     pipelines/estimator.toml
#     pipelines/estimator-conservative.toml
#     pipelines/estimator-reclaim.toml
#     pipelines/estimator-safe.toml
#   A run whose files are missing, or do not build with this binary (e.g. a
#   stage type not merged yet), is skipped and listed under the tables.
# Env: SERENITY=path/to/serenity (default: builds target/release/serenity);
#      SCORE_ARGS: extra `serenity score` options (e.g. --period-ticks 2).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${SERENITY:-target/release/serenity}
if [ -z "${SERENITY:-}" ]; then
  cargo build --release --quiet -p serenity-cli
fi
read -r -a score_args <<<"${SCORE_ARGS:-}"

if [ $# -gt 0 ]; then
  runs=("$@")
else
  runs=(
    "pipelines/estimator.toml,pipelines/qos.toml"
    "pipelines/estimator.toml,pipelines/qos-cusum.toml"
    "pipelines/qos-load-baseline.toml"
    "pipelines/estimator-reclaim.toml,pipelines/qos-cusum.toml"
    "pipelines/estimator-reclaim.toml,pipelines/qos-starvation.toml"
    "pipelines/estimator-safe.toml,pipelines/qos-starvation.toml"
    "pipelines/estimator.toml"
    "pipelines/estimator-conservative.toml"
    "pipelines/estimator-reclaim.toml"
    "pipelines/estimator-safe.toml"
  )
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
skipped=()
usable=()
for run in "${runs[@]}"; do
  IFS=, read -r -a files <<<"$run"
  why=""
  for f in "${files[@]}"; do
    if [ ! -f "$f" ]; then
      why="$f does not exist"
      break
    fi
    if ! "$bin" -q check "$f" >"$tmp/check.txt" 2>&1; then
      why="$f does not build: $(grep -v '^ok:' "$tmp/check.txt" | head -1)"
      break
    fi
  done
  if [ -n "$why" ]; then
    skipped+=("$run: $why")
  else
    usable+=("$run")
  fi
done

header() { # kind
  "$bin" -q score "$1" --output markdown --kind "$2" --header "${score_args[@]}" | head -2
}

first=""
for i in "${!usable[@]}"; do
  run=${usable[$i]}
  IFS=, read -r -a files <<<"$run"
  args=()
  for f in "${files[@]}"; do args+=(--pipeline "$f"); done
  mkdir -p "$tmp/run$i"
  for scenario in tests/scenarios/*.toml; do
    name=$(basename "$scenario" .toml)
    "$bin" -q simulate --scenario "$scenario" "${args[@]}" --out "$tmp/run$i/$name.jsonl"
  done
  traces=("$tmp/run$i"/*.jsonl)
  first=${first:-${traces[0]}}
  for kind in qos estimator; do
    "$bin" -q score "${traces[@]}" --output markdown --kind $kind "${score_args[@]}" >>"$tmp/rows-$kind.md"
    "$bin" -q score "${traces[@]}" --aggregate --output markdown --kind $kind "${score_args[@]}" \
      | grep '^| \*\*all\*\* ' >>"$tmp/all-$kind.md" || true
  done
done

for kind in qos estimator; do
  if [ -s "$tmp/rows-$kind.md" ]; then
    if [ $kind = qos ]; then title="QoS pipelines"; else title="Estimators"; fi
    echo
    echo "$title, closed loop, whole suite:"
    echo
    header "$first" $kind
    cat "$tmp/all-$kind.md"
    echo
    echo "$title, closed loop, per scenario:"
    echo
    header "$first" $kind
    sort -t'|' -k2,2 -s "$tmp/rows-$kind.md"
  fi
done

if [ ${#usable[@]} -eq 0 ]; then
  echo "(no run could be scored)"
fi
if [ ${#skipped[@]} -gt 0 ]; then
  echo
  echo "Skipped runs:"
  for s in "${skipped[@]}"; do echo "- $s"; done
fi
