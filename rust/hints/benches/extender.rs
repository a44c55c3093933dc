//! Latency of the extender's `filter` and `prioritize` for 5 000 candidate
//! nodes, the whole route (JSON parse, node table lookup, judging, JSON
//! answer) without the socket: both the `NodeNames` form
//! (nodeCacheCapable: true) and the `Nodes` form (every candidate's
//! `v1.Node`, as tests/fixtures/args-nodes.json has them).
//!
//! Criterion reports the means; before them this bench prints p50, p99 and
//! the maximum of 500 single calls each (the figures of docs/benchmarks.md).
//! The node table is synthetic and seeded by index: 10 % of the nodes in
//! contention, 5 % never polled (stale), slack spread over 0..4 CPUs.

use criterion::{criterion_group, Criterion};
use serde_json::{json, Value};
use serenity_agent::http::Request;
use serenity_core::summary::{SummaryBuilder, TickRecord};
use serenity_core::Slack;
use serenity_hints::config::NodeConfig;
use serenity_hints::nodes::NodeTable;
use serenity_hints::placement::{Filter, Policy};
use serenity_hints::pod::BestEffortRule;
use serenity_hints::service::HintsService;
use serenity_hints::HintsMetrics;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: usize = 5_000;

fn name(i: usize) -> String {
    format!("node-{i:05}")
}

fn service(now: Instant) -> HintsService {
    let configs: Vec<NodeConfig> = (0..NODES)
        .map(|i| NodeConfig {
            name: name(i),
            url: format!("http://10.0.{}.{}:9464", i / 250, i % 250),
        })
        .collect();
    let table = NodeTable::new(&configs, Duration::from_secs(10));
    for i in 0..NODES {
        if i % 20 == 7 {
            continue; // never polled: stale
        }
        let contended = i % 10 == 3;
        let mut b = SummaryBuilder::new();
        b.record(
            0.0,
            TickRecord {
                slack: Some(Slack {
                    cpus: (i % 41) as f64 / 10.0,
                    mem_bytes: 1e9,
                }),
                contentions: if contended {
                    vec![("cpu_usage".into(), "overload".into())]
                } else {
                    Vec::new()
                },
                corrections: u64::from(contended),
                best_effort_executors: i % 3,
                ..TickRecord::default()
            },
        );
        table.update(&name(i), Ok(b.summary(0.5)), now);
    }
    HintsService {
        table: Arc::new(table),
        best_effort: BestEffortRule {
            qos_class: true,
            ..BestEffortRule::default()
        },
        filter: Filter::default(),
        policy: Policy::Spread,
        metrics: Arc::new(HintsMetrics::default()),
    }
}

fn bodies() -> (Vec<u8>, Vec<u8>) {
    let path = format!(
        "{}/tests/fixtures/args-nodes.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let fixture: Value = serde_json::from_slice(&std::fs::read(&path).expect("the fixture"))
        .expect("the fixture is JSON");
    let pod = fixture["Pod"].clone();
    let template = fixture["Nodes"]["items"][0].clone();
    let names: Vec<String> = (0..NODES).map(name).collect();
    let items: Vec<Value> = names
        .iter()
        .map(|n| {
            let mut node = template.clone();
            node["metadata"]["name"] = json!(n);
            node["metadata"]["labels"]["kubernetes.io/hostname"] = json!(n);
            node
        })
        .collect();
    let by_names = serde_json::to_vec(&json!({"Pod": pod, "NodeNames": names})).unwrap();
    let by_nodes =
        serde_json::to_vec(&json!({"Pod": pod, "Nodes": {"metadata": {}, "items": items}}))
            .unwrap();
    (by_names, by_nodes)
}

fn request(path: &str, body: &[u8]) -> Request {
    Request {
        method: "POST".into(),
        path: path.into(),
        query: String::new(),
        body: body.to_vec(),
    }
}

/// The cases: (label, request).
fn cases() -> Vec<(&'static str, Request)> {
    let (by_names, by_nodes) = bodies();
    vec![
        ("filter/node_names", request("/filter", &by_names)),
        ("prioritize/node_names", request("/prioritize", &by_names)),
        ("filter/nodes", request("/filter", &by_nodes)),
        ("prioritize/nodes", request("/prioritize", &by_nodes)),
    ]
}

/// p50, p99 and max of 500 single calls per case, printed.
fn percentiles() {
    let now = Instant::now();
    let s = service(now);
    println!("extender latency, {NODES} nodes, 500 calls each (p50 / p99 / max, ms):");
    for (label, r) in cases() {
        assert_eq!(s.handle_at(&r, now).status, 200, "{label}");
        let mut times: Vec<f64> = (0..500)
            .map(|_| {
                let t = Instant::now();
                black_box(s.handle_at(black_box(&r), now));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "  {label:<24} {:>7.3} / {:>7.3} / {:>7.3}  (body {} KiB)",
            times[times.len() / 2],
            times[times.len() * 99 / 100],
            times[times.len() - 1],
            r.body.len() / 1024
        );
    }
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let s = service(now);
    let mut group = c.benchmark_group("extender_5000_nodes");
    group.sample_size(30);
    for (label, r) in cases() {
        group.bench_function(label, |b| b.iter(|| s.handle_at(black_box(&r), now)));
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    percentiles();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
