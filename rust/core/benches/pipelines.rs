//! Cost of one tick: decode (protobuf bytes → Snapshot) alone, and decode plus
//! the shipped estimator and QoS pipelines, at 10 … 10 000 executors.
//! `scripts/bench-report.py` turns the results into the per-executor costs
//! and the (decode + pipelines) / decode ratio of docs/benchmarks.md.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use prost::Message;
use serenity_core::model::build::synthetic_node;
use serenity_core::{
    build_pipeline, decode_usage_into, BuildOptions, Pipeline, Snapshot, ValveControl,
};
use std::sync::Arc;

const SIZES: &[usize] = &[10, 100, 1_000, 10_000];

/// Tick `t` of the synthetic node, serialized as the agent would send it.
fn tick_bytes(n: usize, t: u64) -> Vec<u8> {
    synthetic_node(n, t).encode_to_vec()
}

fn pipeline(file: &str, options: BuildOptions) -> Pipeline {
    let path = format!("{}/../../pipelines/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    build_pipeline(&path, &text, &[], options).unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("tick");
    group.sample_size(20);
    for &n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        // As the C ABI does: each tick decoded over the previous one's
        // message and view (`decode_usage_into`, `Snapshot::rebuild`).
        let mut t = 0u64;
        let mut snap = Snapshot::new(Default::default());
        group.bench_with_input(BenchmarkId::new("decode", n), &n, |b, &n| {
            b.iter_batched(
                || {
                    t += 1;
                    tick_bytes(n, t)
                },
                |bytes| {
                    decode_usage_into(&bytes, &mut snap.usage).unwrap();
                    snap.rebuild();
                    snap.executors.len()
                },
                BatchSize::LargeInput,
            )
        });
        let valve = Arc::new(ValveControl::new(true));
        let mut est = pipeline(
            "estimator.toml",
            BuildOptions {
                valve: Some(valve.clone()),
                ..Default::default()
            },
        );
        let mut qos = pipeline(
            "qos.toml",
            BuildOptions {
                estimator_valve: Some(valve),
                ..Default::default()
            },
        );
        let mut t = 0u64;
        let mut snap = Snapshot::new(Default::default());
        group.bench_with_input(BenchmarkId::new("decode+pipelines", n), &n, |b, &n| {
            b.iter_batched(
                || {
                    t += 1;
                    tick_bytes(n, t)
                },
                |bytes| {
                    decode_usage_into(&bytes, &mut snap.usage).unwrap();
                    snap.rebuild();
                    let corrections = qos.tick(&snap).corrections.len();
                    let slack = est.tick(&snap).slack;
                    (corrections, slack)
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
