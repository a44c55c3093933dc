#!/usr/bin/env bash
# Scores pipelines on the scenario suite: for every scenario of
# tests/scenarios/ and every run, simulate -> replay -> score, and print one
# Markdown tables, one for QoS pipelines and one for estimators
# (docs/benchmarks.md, "Scenario scores").
#
# Usage: scripts/score-suite.sh [RUN ...]
#   A RUN is a comma-separated list of pipeline files replayed together (an
#   estimator and a QoS pipeline are linked as on the agent). Default runs:
#     pipelines/estimator.toml,pipelines/qos.toml
#     pipelines/estimator.toml,pipelines/qos-cusum.toml
#     pipelines/qos-load-baseline.toml
#     pipelines/estimator-reclaim.toml,pipelines/qos-cusum.toml
#     pipelines/estimator.toml
#     pipelines/estimator-conservative.toml
#     pipelines/estimator-reclaim.toml
#   A run whose files are missing, or do not build with this binary (e.g. a
#   stage type not merged yet), is skipped and listed under the table.
# Env: SERENITY=path/to/serenity (default: builds target/release/serenity).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${SERENITY:-target/release/serenity}
if [ -z "${SERENITY:-}" ]; then
  cargo build --release --quiet -p serenity-cli
fi

if [ $# -gt 0 ]; then
  runs=("$@")
else
  runs=(
    "pipelines/estimator.toml,pipelines/qos.toml"
    "pipelines/estimator.toml,pipelines/qos-cusum.toml"
    "pipelines/qos-load-baseline.toml"
    "pipelines/estimator-reclaim.toml,pipelines/qos-cusum.toml"
    "pipelines/estimator.toml"
    "pipelines/estimator-conservative.toml"
    "pipelines/estimator-reclaim.toml"
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

for scenario in tests/scenarios/*.toml; do
  name=$(basename "$scenario" .toml)
  "$bin" -q simulate --scenario "$scenario" --out "$tmp/$name.jsonl"
  for run in "${usable[@]}"; do
    IFS=, read -r -a files <<<"$run"
    args=()
    for f in "${files[@]}"; do args+=(--pipeline "$f"); done
    "$bin" -q replay "${args[@]}" --output jsonl "$tmp/$name.jsonl" >"$tmp/result.jsonl"
    for kind in qos estimator; do
      "$bin" -q score "$tmp/$name.jsonl" "$tmp/result.jsonl" --output markdown --kind $kind --label "$name" >>"$tmp/rows-$kind.md"
    done
  done
done

for kind in qos estimator; do
  if [ -s "$tmp/rows-$kind.md" ]; then
    echo
    if [ $kind = qos ]; then echo "QoS pipelines:"; else echo "Estimators:"; fi
    echo
    # The header comes from the binary so that it always matches the rows.
    "$bin" -q score "$tmp/$name.jsonl" "$tmp/result.jsonl" --output markdown --kind $kind --header | head -2
    cat "$tmp/rows-$kind.md"
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
