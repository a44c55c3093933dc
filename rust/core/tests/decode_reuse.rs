//! The C ABI's decode path (`decode_usage_into` over the previous tick's
//! message, `Snapshot::rebuild` over the previous view) gives what a fresh
//! `decode_usage` and `Snapshot::new` give: the same message or the same
//! error, the same snapshot, and therefore the same decisions of every
//! shipped pipeline, on random, mutated, hostile (the fuzz corpus) and
//! recorded input.

mod support;

use proptest::prelude::*;
use prost::Message;
use serenity_core::model::build::{synthetic_node, usage, ExecutorSpec};
use serenity_core::model::proto::ResourceUsage;
use serenity_core::{
    build_pipeline, decode_usage, decode_usage_into, load_trace_bytes, BuildOptions, Pipeline,
    Snapshot,
};
use std::path::{Path, PathBuf};
use support::shipped_pipelines;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What a decode answered, in a form two paths can be compared by (the
/// encoding: NaN, which the corpus sends, is not equal to itself).
fn answer(r: &Result<ResourceUsage, serenity_core::model::DecodeError>) -> Result<Vec<u8>, String> {
    r.as_ref()
        .map(|u| u.encode_to_vec())
        .map_err(|e| e.to_string())
}

/// Decodes `bytes` fresh and over `reused`; both answers must agree.
fn check_same(bytes: &[u8], reused: &mut ResourceUsage, what: &str) {
    let fresh = decode_usage(bytes);
    let over = decode_usage_into(bytes, reused).map(|()| reused.clone());
    assert_eq!(
        answer(&fresh),
        answer(&over),
        "{what}: decoding over the previous message differs from a fresh decode"
    );
    if let Ok(usage) = fresh {
        let new = Snapshot::new(usage.clone());
        assert_eq!(
            format!("{:?}", reference::view(&usage)),
            format!(
                "{:?}",
                (
                    &new.executors,
                    &new.rejected,
                    new.total_cpus,
                    new.total_mem_bytes,
                    new.timestamp
                )
            ),
            "{what}: the snapshot differs from the reference view"
        );
        let mut rebuilt = Snapshot::new(ResourceUsage::default());
        rebuilt.usage = usage;
        rebuilt.rebuild();
        assert_eq!(
            format!("{new:?}"),
            format!("{rebuilt:?}"),
            "{what}: the rebuilt snapshot differs"
        );
    }
}

/// The snapshot view as it was computed before views were rebuilt in place
/// (one fresh `ExecutorView` per executor, a set of borrowed keys): the
/// reference the rebuilt views are held to.
mod reference {
    use serenity_core::model::proto::{Executor, Resource, ResourceUsage};
    use serenity_core::model::{ExecutorKey, ExecutorView, Rejection, MIB};

    fn scalar_sum<'a>(resources: impl Iterator<Item = &'a Resource>, name: &str) -> Option<f64> {
        let mut found = false;
        let mut sum = 0.0;
        for r in resources {
            if r.name.as_deref() != Some(name) {
                continue;
            }
            if let Some(v) = r.scalar.as_ref().and_then(|s| s.value) {
                if v.is_finite() && v > 0.0 {
                    sum += v;
                    found = true;
                }
            }
        }
        found.then_some(sum)
    }

    fn one(index: usize, e: &Executor) -> Result<ExecutorView, String> {
        let info = e.executor_info.as_ref().ok_or_else(|| {
            format!("executor #{index} has no executor_info, so it cannot be identified")
        })?;
        let executor_id = info
            .executor_id
            .as_ref()
            .and_then(|id| id.value.clone())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                format!("executor #{index} has no executor_id, so it cannot be identified")
            })?;
        let framework_id = info
            .framework_id
            .as_ref()
            .and_then(|id| id.value.clone())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                format!("executor {executor_id} (#{index}) has no framework_id, so it cannot be identified")
            })?;
        let revocable = || e.allocated.iter().filter(|r| r.revocable.is_some());
        Ok(ExecutorView {
            index,
            key: ExecutorKey {
                framework_id,
                executor_id,
            },
            container_id: e.container_id.as_ref().and_then(|c| c.value.clone()),
            revocable: e.allocated.iter().any(|r| r.revocable.is_some()),
            allocated_cpus: scalar_sum(e.allocated.iter(), "cpus"),
            allocated_mem_bytes: scalar_sum(e.allocated.iter(), "mem").map(|m| m * MIB),
            revocable_cpus: scalar_sum(revocable(), "cpus").unwrap_or(0.0),
            revocable_mem_bytes: scalar_sum(revocable(), "mem").map_or(0.0, |m| m * MIB),
        })
    }

    /// (executors, rejected, total cpus, total mem bytes, timestamp).
    #[allow(clippy::type_complexity)]
    pub fn view(
        usage: &ResourceUsage,
    ) -> (
        Vec<ExecutorView>,
        Vec<Rejection>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
    ) {
        let mut executors = Vec::new();
        let mut rejected = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut timestamp: Option<f64> = None;
        for (index, e) in usage.executors.iter().enumerate() {
            match one(index, e) {
                Err(reason) => rejected.push(Rejection { index, reason }),
                Ok(view) => {
                    if !seen.insert(view.key.clone()) {
                        rejected.push(Rejection {
                            index,
                            reason: format!(
                                "executor {} appears more than once in the snapshot; the first entry is used",
                                view.key
                            ),
                        });
                        continue;
                    }
                    if let Some(ts) = e.statistics.as_ref().and_then(|s| s.timestamp) {
                        if ts.is_finite() {
                            timestamp = Some(timestamp.map_or(ts, |t: f64| t.max(ts)));
                        }
                    }
                    executors.push(view);
                }
            }
        }
        let total_cpus = scalar_sum(usage.total.iter(), "cpus");
        let total_mem_bytes = scalar_sum(usage.total.iter(), "mem").map(|m| m * MIB);
        (executors, rejected, total_cpus, total_mem_bytes, timestamp)
    }
}

#[test]
fn every_update_corpus_input_decodes_over_the_previous_one_as_it_decodes_fresh() {
    let dir = root().join("fuzz/corpus/update");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(
        files.len() > 100,
        "the update corpus has {} inputs",
        files.len()
    );
    let mut reused = ResourceUsage::default();
    let mut accepted = 0;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        check_same(&bytes, &mut reused, &path.display().to_string());
        accepted += usize::from(decode_usage(&bytes).is_ok());
    }
    // The corpus holds both kinds, so both branches were compared.
    assert!(
        accepted > 0 && accepted < files.len(),
        "{accepted} of {} accepted",
        files.len()
    );
}

#[test]
fn recorded_traces_decode_over_each_other_as_they_decode_fresh() {
    let mut reused = ResourceUsage::default();
    let mut records = 0;
    for name in [
        "demo-trace.jsonl",
        "baseline_smoke_test_resource_usage.json",
        "ema_insufficient_metrics_test.json",
        "pr_executor_pass_test.json",
    ] {
        let bytes = std::fs::read(root().join("tests/data").join(name)).unwrap();
        let (_, trace) = load_trace_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (i, u) in trace.iter().enumerate() {
            check_same(
                &u.encode_to_vec(),
                &mut reused,
                &format!("{name} record {}", i + 1),
            );
            records += 1;
        }
    }
    assert!(records > 20, "{records} records");
}

/// Executors from a small alphabet of ids, so that duplicates, missing ids
/// and executors coming and going all happen.
fn node() -> impl Strategy<Value = ResourceUsage> {
    let executor = (
        0u8..6,
        0u8..3,
        any::<bool>(),
        0u8..4,
        0.0f64..4.0,
        0u32..2000,
    );
    prop::collection::vec(executor, 0..10).prop_map(|specs| {
        let specs: Vec<ExecutorSpec> = specs
            .into_iter()
            .map(|(id, fw, revocable, shape, cpus, t)| {
                let framework = ["fw-a", "fw-b", ""][fw as usize];
                let executor = if id == 5 {
                    String::new()
                } else {
                    format!("e{id}")
                };
                let mut s = ExecutorSpec::new(framework, &executor, revocable, cpus, 256.0);
                match shape {
                    0 => {}
                    1 => s = s.cpu(1000.0 + f64::from(t), f64::from(t) * 0.1),
                    2 => s = s.cpu(1000.0 + f64::from(t), 1.0).rss(u64::from(t) << 20),
                    _ => {
                        s.container_id = None;
                        s = s.perf(1000.0, 1.0, u64::from(t) * 1000, u64::from(t) * 700);
                    }
                }
                s
            })
            .collect();
        usage(8.0, 8192.0, &specs)
    })
}

/// A valid encoding with some bytes changed, cut or added.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        node(),
        prop::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 0..4),
    )
        .prop_map(|(u, edits)| {
            let mut bytes = u.encode_to_vec();
            for (at, value, kind) in edits {
                if bytes.is_empty() {
                    break;
                }
                let at = usize::from(at) % bytes.len();
                match kind {
                    0 => bytes[at] = value,
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, value),
                }
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_sequence_of_snapshots_decodes_over_itself_as_each_decodes_fresh(
        seq in prop::collection::vec(node(), 1..6)
    ) {
        let mut reused = ResourceUsage::default();
        let mut snapshot = Snapshot::new(ResourceUsage::default());
        for (i, u) in seq.iter().enumerate() {
            let bytes = u.encode_to_vec();
            check_same(&bytes, &mut reused, &format!("tick {i}"));
            // The view rebuilt over the previous tick's is the reference view.
            decode_usage_into(&bytes, &mut snapshot.usage).unwrap();
            snapshot.rebuild();
            let s = &snapshot;
            prop_assert_eq!(
                format!("{:?}", reference::view(&decode_usage(&bytes).unwrap())),
                format!("{:?}", (&s.executors, &s.rejected, s.total_cpus, s.total_mem_bytes, s.timestamp)),
                "tick {}", i
            );
        }
    }

    #[test]
    fn mutated_and_random_bytes_get_the_fresh_decode_s_answer(
        before in node(), bytes in mutated(), noise in prop::collection::vec(any::<u8>(), 0..64)
    ) {
        let mut reused = decode_usage(&before.encode_to_vec()).unwrap();
        check_same(&bytes, &mut reused, "mutated");
        check_same(&noise, &mut reused, "random");
        // After a refusal, the next good snapshot is whole again.
        check_same(&before.encode_to_vec(), &mut reused, "after");
    }
}

fn build(name: &str, text: &str) -> Option<Pipeline> {
    // Pipelines with `[[sli]]` tables start fetchers: not for this test.
    if text.contains("[[sli]]") {
        return None;
    }
    Some(build_pipeline(name, text, &[], BuildOptions::default()).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn every_shipped_pipeline_decides_the_same_on_both_decode_paths() {
    // The synthetic node past the warm-up, with executors leaving, coming
    // back and a garbage tick in between; then a recorded agent trace.
    let mut ticks: Vec<Vec<u8>> = Vec::new();
    for t in 1..=40u64 {
        let mut u = synthetic_node(12, t);
        if t % 7 == 0 {
            u.executors.truncate(8);
        }
        if t % 11 == 0 {
            u.executors.reverse();
        }
        ticks.push(u.encode_to_vec());
        if t == 25 {
            ticks.push(vec![0xff, 0x01, 0x02]);
        }
    }
    let recorded = std::fs::read(root().join("tests/data/demo-trace.jsonl")).unwrap();
    let (_, trace) = load_trace_bytes(&recorded).unwrap();
    ticks.extend(trace.iter().map(|u| u.encode_to_vec()));

    let mut compared = 0;
    for (name, text) in shipped_pipelines() {
        let (Some(mut old), Some(mut new)) = (build(&name, &text), build(&name, &text)) else {
            continue;
        };
        let mut snapshot = Snapshot::new(ResourceUsage::default());
        for (i, bytes) in ticks.iter().enumerate() {
            let fresh = decode_usage(bytes).map(Snapshot::new);
            let reused = decode_usage_into(bytes, &mut snapshot.usage);
            assert_eq!(fresh.is_ok(), reused.is_ok(), "{name} tick {i}");
            let Ok(fresh) = fresh else { continue };
            snapshot.rebuild();
            let a = format!("{:?}", old.tick(&fresh));
            let b = format!("{:?}", new.tick(&snapshot));
            assert_eq!(a, b, "{name} tick {i}: the decisions differ");
            compared += 1;
        }
    }
    assert!(compared > 500, "{compared} ticks compared");
}

#[test]
fn the_in_place_decoders_are_what_the_generator_writes_from_proto_rs() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let generated = match Command::new("python3")
        .arg(root().join("tools/gen_proto_reuse.py"))
        .output()
    {
        Ok(out) if out.status.success() => out.stdout,
        Ok(out) => panic!(
            "tools/gen_proto_reuse.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            println!("SKIP: the_in_place_decoders_are_what_the_generator_writes_from_proto_rs: no python3 ({e})");
            return;
        }
    };
    let mut rustfmt = match Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            println!("SKIP: the_in_place_decoders_are_what_the_generator_writes_from_proto_rs: no rustfmt ({e})");
            return;
        }
    };
    rustfmt.stdin.take().unwrap().write_all(&generated).unwrap();
    let formatted = rustfmt.wait_with_output().unwrap();
    assert!(
        formatted.status.success(),
        "rustfmt refused the generated code"
    );
    let committed = std::fs::read(root().join("rust/core/src/model/proto_reuse.rs")).unwrap();
    assert!(
        formatted.stdout == committed,
        "rust/core/src/model/proto_reuse.rs is not what tools/gen_proto_reuse.py writes from \
         proto.rs: regenerate it (see the script's docstring)"
    );
}
