#!/usr/bin/env bash
# One module tick against libprotobuf's own parse of the same bytes
# (cpp_shim/bench/tick_bench.cpp), at 10, 100, 1 000 and 10 000 executors of
# the synthetic node, and the table of docs/benchmarks.md: wall-clock
# medians, and with --callgrind instruction counts too (deterministic; slow:
# about 15 minutes for all four sizes).
#
#   bash scripts/bench-tick.sh [--callgrind] [EXECUTORS ...]
#   bash scripts/bench-tick.sh --smoke BENCH_BINARY   (ctest: runs, no timing)
#
# Needs a Mesos (MESOS_ROOT, default /var/tmp/serenity-mesos/mesos-1.11.0,
# what ../shared/mesos/install.sh installs) and builds into $BUILD_DIR
# (default <cargo target dir>/cmake-bench).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target_dir=${CARGO_TARGET_DIR:-$root/target}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

usage_file() { # executors ticks output
  cargo run -q --release --locked -p serenity-core --example usage_file -- "$@"
}

if [ "${1:-}" = --smoke ]; then
  bench=${2:?--smoke needs the benchmark binary}
  usage_file 10 25 "$tmp/usage.bin"
  "$bench" "$tmp/usage.bin" pipelines/estimator.toml pipelines/qos.toml --rounds 1 | tee "$tmp/out"
  for phase in parse_fresh_o2 parse_fresh serialize modules shim; do
    grep -q "^$phase " "$tmp/out" || { echo "bench-tick: no $phase row" >&2; exit 1; }
  done
  exit 0
fi

callgrind=0
sizes=()
for a in "$@"; do
  case "$a" in
    --callgrind) callgrind=1 ;;
    *) sizes+=("$a") ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1000 10000)

mesos_root=${MESOS_ROOT:-/var/tmp/serenity-mesos/mesos-1.11.0}
build=${BUILD_DIR:-$target_dir/cmake-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMESOS_ROOT="$mesos_root" \
  -DSERENITY_TESTS=OFF >/dev/null
cmake --build "$build" --target serenity_tick_bench -j "$(nproc)" >/dev/null
bench=$build/cpp_shim/serenity_tick_bench

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
printf '| executors | ticks | bytes/executor | measure | C++ fresh parse (-O2) | C++ reused parse (-O2) | serialize (-O2) | C++ fresh parse (libmesos -O0) | both modules (C ABI) | modules / fresh parse (-O2) |\n'
printf '|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n'
for n in "${sizes[@]}"; do
  # 60 ticks (15 s apart: the estimator's 300 s warm-up is passed after 20);
  # 25 at 10 000 executors, to keep the file and callgrind's time bounded.
  ticks=60
  [ "$n" -ge 10000 ] && ticks=25
  usage_file "$n" "$ticks" "$tmp/usage.bin"
  out=$("$bench" "$tmp/usage.bin" pipelines/estimator.toml pipelines/qos.toml --rounds 7)
  bpe=$(sed -n 's/.*(\([0-9]*\) per executor).*/\1/p' <<<"$out")
  ns() { awk -v p="$1" '$1 == p { print $4 }' <<<"$out"; }
  ratio=$(awk -v a="$(ns modules)" -v b="$(ns parse_fresh_o2)" 'BEGIN { printf "%.2f", a / b }')
  printf '| %s | %s | %s | ns/executor (median of 7) | %s | %s | %s | %s | %s | %s |\n' "$n" "$ticks" "$bpe" \
    "$(ns parse_fresh_o2)" "$(ns parse_reused_o2)" "$(ns serialize_o2)" "$(ns parse_fresh)" "$(ns modules)" "$ratio"
  if [ "$callgrind" = 1 ]; then
    (cd "$tmp" && rm -f callgrind.out.* &&
      valgrind --tool=callgrind "$bench" "$tmp/usage.bin" "$root/pipelines/estimator.toml" \
        "$root/pipelines/qos.toml" --callgrind >/dev/null 2>&1)
    ir() { # phase -> instructions per executor per tick
      local f
      f=$(grep -l "^desc: Trigger: Client Request: $1\$" "$tmp"/callgrind.out.*)
      awk -v d=$((n * ticks)) '/^totals:/ { printf "%.0f", $2 / d }' "$f"
    }
    ratio=$(awk -v a="$(ir modules)" -v b="$(ir parse_fresh_o2)" 'BEGIN { printf "%.2f", a / b }')
    printf '| %s | %s | %s | instructions/executor (callgrind) | %s | %s | %s | %s | %s | %s |\n' "$n" "$ticks" "$bpe" \
      "$(ir parse_fresh_o2)" "$(ir parse_reused_o2)" "$(ir serialize_o2)" "$(ir parse_fresh)" "$(ir modules)" "$ratio"
  fi
done
