#!/usr/bin/env bash
# Criterion benchmark of one tick (decode alone vs decode + the shipped
# estimator and QoS pipelines, 10 … 10 000 executors), then the table of
# docs/benchmarks.md.
#
# glibc's allocator is pinned (no trimming, no mmap for large blocks): without
# it, whichever benchmark runs first pays page faults for every multi-MiB
# snapshot it frees and reallocates, and at 10 000 executors "decode alone"
# measured twice as slow as "decode + pipelines". Both phases are measured
# under the same allocator settings, in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf target/criterion/tick
MALLOC_TRIM_THRESHOLD_=4000000000 MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TOP_PAD_=268435456 \
  cargo bench -q -p serenity-core --bench pipelines
python3 scripts/bench-report.py
