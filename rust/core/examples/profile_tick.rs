//! Instruction counts of one tick, for `valgrind --tool=callgrind`, which counts
//! instructions rather than time and is therefore repeatable on a busy machine:
//!
//! ```sh
//! cargo build --release -p serenity-core --example profile_tick
//! valgrind --tool=callgrind target/release/examples/profile_tick 1000
//! callgrind_annotate --inclusive=yes callgrind.out.* | grep -E 'decode_usage|Snapshot::new|Pipeline::tick'
//! ```
//!
//! It decodes 60 ticks of the synthetic node (`model::build::synthetic_node`)
//! and runs the shipped estimator and QoS pipelines on each; the ratio
//! (decode + Snapshot::new + Pipeline::tick) / (decode + Snapshot::new) is the
//! one docs/benchmarks.md reports.

use prost::Message;
use serenity_core::model::build::synthetic_node;
use serenity_core::{build_pipeline, decode_usage, BuildOptions, Snapshot, ValveControl};
use std::sync::Arc;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let ticks: Vec<Vec<u8>> = (1..=60)
        .map(|t| synthetic_node(n, t).encode_to_vec())
        .collect();
    let valve = Arc::new(ValveControl::new(true));
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../pipelines");
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).expect("shipped pipeline");
    let build =
        |f: &str, options| build_pipeline(f, &read(f), &[], options).expect("valid pipeline");
    let mut est = build(
        "estimator.toml",
        BuildOptions {
            valve: Some(valve.clone()),
            ..Default::default()
        },
    );
    let mut qos = build(
        "qos.toml",
        BuildOptions {
            estimator_valve: Some(valve),
            ..Default::default()
        },
    );
    let (mut corrections, mut slack) = (0usize, 0.0);
    for bytes in &ticks {
        let snap = Snapshot::new(decode_usage(bytes).expect("valid bytes"));
        corrections += qos.tick(&snap).corrections.len();
        slack += est.tick(&snap).slack.map_or(0.0, |s| s.cpus);
    }
    println!(
        "{n} executors, 60 ticks: {corrections} corrections, mean slack {:.2} cpus",
        slack / 60.0
    );
}
