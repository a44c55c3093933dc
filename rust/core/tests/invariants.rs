//! Invariants that hold for every shipped pipeline on any input.

use proptest::prelude::*;
use serenity_core::model::proto::{
    ContainerId, Executor, ExecutorId, ExecutorInfo, FrameworkId, PerfStatistics, Resource,
    ResourceStatistics, ResourceUsage, RevocableInfo, Scalar,
};
use serenity_core::{build_pipeline, BuildOptions, Pipeline, PipelineKind, Snapshot};

fn shipped() -> Vec<Pipeline> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../pipelines");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        out.push(
            build_pipeline(&name, &text, &[], BuildOptions::default())
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    // Always exercise the always-present stages too.
    let inline = r#"kind = "estimator"
[[stage]]
type = "valve"
[[stage]]
type = "pr_only"
[[stage]]
type = "ema"
[[stage]]
type = "slack"
usage = "cpu_usage_ema"
"#;
    out.push(build_pipeline("inline.toml", inline, &[], BuildOptions::default()).unwrap());
    out
}

/// Any f64, with the awkward ones (NaN, ±inf, negative, huge) well represented.
fn wild_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0f64..100.0,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => -1e6f64..0.0,
        1 => Just(1e300),
        1 => Just(0.0),
    ]
}

fn resource() -> impl Strategy<Value = Resource> {
    (
        prop_oneof![Just("cpus"), Just("mem"), Just("disk")],
        wild_f64(),
        any::<bool>(),
    )
        .prop_map(|(n, v, rev)| Resource {
            name: Some(n.to_owned()),
            r#type: Some(0),
            scalar: Some(Scalar { value: Some(v) }),
            revocable: rev.then_some(RevocableInfo {}),
            ..Default::default()
        })
}

fn statistics() -> impl Strategy<Value = Option<ResourceStatistics>> {
    proptest::option::of(
        (
            proptest::option::of(wild_f64()),
            proptest::option::of(wild_f64()),
            proptest::option::of(wild_f64()),
            proptest::option::of(wild_f64()),
            proptest::option::of(any::<u64>()),
            proptest::option::of((any::<u32>(), any::<u32>())),
            proptest::option::of((wild_f64(), wild_f64(), any::<u64>(), any::<u64>())),
        )
            .prop_map(
                |(ts, user, sys, limit, rss, thr, perf)| ResourceStatistics {
                    timestamp: ts,
                    cpus_user_time_secs: user,
                    cpus_system_time_secs: sys,
                    cpus_limit: limit,
                    mem_rss_bytes: rss,
                    mem_limit_bytes: rss.map(|r| r / 2),
                    cpus_nr_periods: thr.map(|t| t.0),
                    cpus_nr_throttled: thr.map(|t| t.1),
                    perf: perf.map(|(start, d, c, i)| PerfStatistics {
                        timestamp: Some(start),
                        duration: Some(d),
                        cycles: Some(c),
                        instructions: Some(i),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
    )
}

fn executor() -> impl Strategy<Value = Executor> {
    (
        0u8..6,
        0u8..3,
        any::<bool>(),
        proptest::collection::vec(resource(), 0..4),
        statistics(),
        proptest::option::of(0u8..3),
    )
        .prop_map(
            |(id, fw, has_info, allocated, statistics, container)| Executor {
                executor_info: has_info.then(|| ExecutorInfo {
                    executor_id: Some(ExecutorId {
                        value: Some(format!("e{id}")),
                    }),
                    framework_id: Some(FrameworkId {
                        value: Some(format!("f{fw}")),
                    }),
                    ..Default::default()
                }),
                allocated,
                statistics,
                container_id: container.map(|c| ContainerId {
                    value: Some(format!("c{c}")),
                    parent: None,
                }),
                tasks: Vec::new(),
            },
        )
}

fn usage() -> impl Strategy<Value = ResourceUsage> {
    (
        proptest::collection::vec(executor(), 0..8),
        proptest::collection::vec(resource(), 0..3),
    )
        .prop_map(|(executors, total)| ResourceUsage { executors, total })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_snapshots_never_panic_slack_is_finite_and_kills_are_revocable(
        trace in proptest::collection::vec(usage(), 1..12)
    ) {
        for mut p in shipped() {
            let (kind, name) = (p.kind(), p.name().to_owned());
            for u in &trace {
                let snap = Snapshot::new(u.clone());
                let out = p.tick(&snap);
                match kind {
                    PipelineKind::Estimator => {
                        let s = out.slack.expect("an estimator always answers");
                        prop_assert!(s.cpus.is_finite() && s.cpus >= 0.0, "{}: cpus {}", name, s.cpus);
                        prop_assert!(s.mem_bytes.is_finite() && s.mem_bytes >= 0.0, "{}: mem {}", name, s.mem_bytes);
                    }
                    PipelineKind::Qos => {
                        prop_assert!(out.slack.is_none());
                        let mut rows = std::collections::HashSet::new();
                        for c in out.corrections {
                            prop_assert!(snap.executors[c.row].revocable, "{} killed production executor {}", name, snap.executors[c.row].key);
                            prop_assert!(rows.insert(c.row), "{} named an executor twice", name);
                        }
                    }
                }
            }
        }
    }
}
