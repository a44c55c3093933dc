#!/usr/bin/env python3
"""Summarise `cargo bench -p serenity-core --bench pipelines` for docs/benchmarks.md.

Reads target/criterion/tick/<decode|decode+pipelines>/<n>/new/estimates.json and
prints, per executor count: the mean tick cost of decode alone and of decode +
both shipped pipelines, the cost per executor, and the ratio of the two (the
issue's target: ratio <= 2.0). Both figures come from the same run.
"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion/tick"


def mean_ns(kind, n):
    path = os.path.join(root, kind, str(n), "new", "estimates.json")
    with open(path) as f:
        e = json.load(f)
    return e["mean"]["point_estimate"], e["mean"]["confidence_interval"]


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


sizes = sorted(int(d) for d in os.listdir(os.path.join(root, "decode")) if d.isdigit())
print("| executors | decode | decode + pipelines | per executor (decode / all) | ratio |")
print("|---:|---:|---:|---:|---:|")
worst = 0.0
for n in sizes:
    d, _ = mean_ns("decode", n)
    a, _ = mean_ns("decode+pipelines", n)
    ratio = a / d
    worst = max(worst, ratio)
    print(f"| {n} | {fmt(d)} | {fmt(a)} | {fmt(d / n)} / {fmt(a / n)} | {ratio:.2f} |")
print(f"\nworst ratio: {worst:.2f} (target <= 2.0)")
