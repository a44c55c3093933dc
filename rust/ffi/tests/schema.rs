//! Schema cross-check against Mesos's own generated protobuf classes.
//!
//! tests/schema/run.sh builds ResourceUsage messages with PyPI
//! `mesos.interface` (tests/schema/gen.py) and runs this test with
//! SERENITY_SCHEMA_DIR pointing at them. For every message it checks that
//! - the bytes decode (`decode_usage`) to exactly what protobuf's own JSON
//!   of the same message deserializes to, field by field (compared through a
//!   canonical re-encoding, so NaN equals NaN), and that no field of that
//!   JSON is unknown to the Rust model (every key is consumed);
//! - the same holds for the Mesos-style JSON (64-bit integers as numbers);
//! - spot values (ids, container parent chains, revocable markers, times)
//!   read from the JSON match the decoded message.
//!
//! It also checks that the C ABI path (bytes) and the JSON path
//! (`load_trace`) give identical decisions, slack and corrections, with the
//! same pipelines of real stages; corrections name only best-effort
//! executors.

mod common;

use common::*;
use prost::Message;
use serde_json::Value;
use serenity_core::model::{proto, Snapshot};
use serenity_core::{build_pipeline, decode_usage, load_trace, BuildOptions};
use serenity_ffi::serenity_result;
use std::path::PathBuf;

const ESTIMATOR: &str = r#"
kind = "estimator"
[[stage]]
type = "valve"
[[stage]]
type = "ema"
input = "cpu_usage"
output = "cpu_ema"
alpha = 0.6
[[stage]]
type = "pr_only"
[[stage]]
type = "slack"
usage = "cpu_ema"
fraction = 0.9
"#;

/// Real stages only: node overload above 15 % of the agent's cpus (the
/// trace's executors use about 46 of 256 cpus, so about 7.6 cpus above it
/// from the second snapshot on) answered by the fewest best-effort
/// executors, by rank, that cover it.
const QOS: &str = r#"
kind = "qos"
[[stage]]
type = "valve"
[[stage]]
type = "overload"
threshold = 0.15
[[stage]]
type = "ranked_victims"
"#;

fn schema_dir() -> Option<PathBuf> {
    match std::env::var_os("SERENITY_SCHEMA_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            println!(
                "schema: skipped: SERENITY_SCHEMA_DIR is not set (tests/schema/run.sh sets it)"
            );
            None
        }
    }
}

/// Deserializes a JSON text into the Rust model, collecting every key the
/// model does not know.
fn from_json(text: &str) -> (proto::ResourceUsage, Vec<String>) {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut ignored = Vec::new();
    let usage: proto::ResourceUsage =
        serde_ignored::deserialize(&mut de, |path| ignored.push(path.to_string()))
            .expect("the JSON deserializes into the model");
    (usage, ignored)
}

/// Leaf values in a JSON document (the number of field values compared).
fn leaves(v: &Value) -> usize {
    match v {
        Value::Object(m) => m.values().map(leaves).sum(),
        Value::Array(a) => a.iter().map(leaves).sum(),
        _ => 1,
    }
}

/// Field-by-field equality of two decoded messages, NaN-aware: equal
/// canonical encodings; on a difference, the first differing executor's
/// fields are shown.
fn assert_same(what: &str, got: &proto::ResourceUsage, want: &proto::ResourceUsage) {
    if got.encode_to_vec() == want.encode_to_vec() {
        return;
    }
    assert_eq!(
        got.executors.len(),
        want.executors.len(),
        "{what}: executor count"
    );
    for (i, (g, w)) in got.executors.iter().zip(&want.executors).enumerate() {
        if g.encode_to_vec() != w.encode_to_vec() {
            let (g, w) = (format!("{g:#?}"), format!("{w:#?}"));
            let diff: Vec<String> = g
                .lines()
                .zip(w.lines())
                .filter(|(a, b)| a != b)
                .take(5)
                .map(|(a, b)| format!("  bytes: {a}\n  json:  {b}"))
                .collect();
            panic!("{what}: executor {i} differs:\n{}", diff.join("\n"));
        }
    }
    panic!(
        "{what}: the agent totals differ:\n{:#?}\n{:#?}",
        got.total, want.total
    );
}

fn container_chain(c: &proto::ContainerId) -> Vec<String> {
    let mut out = vec![c.value.clone().unwrap_or_default()];
    let mut p = c.parent.as_deref();
    while let Some(c) = p {
        out.push(c.value.clone().unwrap_or_default());
        p = c.parent.as_deref();
    }
    out
}

fn json_chain(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = Some(v);
    while let Some(x) = c {
        out.push(x["value"].as_str().unwrap_or_default().to_owned());
        c = x.get("parent");
    }
    out
}

/// Spot checks read straight from protobuf's JSON.
fn spot_check(n: usize, decoded: &proto::ResourceUsage, json: &Value) {
    let execs = json
        .get("executors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        decoded.executors.len(),
        execs.len(),
        "message {n}: executors"
    );
    for (i, (e, j)) in decoded.executors.iter().zip(&execs).enumerate() {
        let info = e.executor_info.as_ref().expect("executor_info");
        assert_eq!(
            info.executor_id.as_ref().and_then(|x| x.value.as_deref()),
            j["executor_info"]["executor_id"]["value"].as_str(),
            "message {n} executor {i}: executor_id"
        );
        assert_eq!(
            info.framework_id.as_ref().and_then(|x| x.value.as_deref()),
            j["executor_info"]["framework_id"]["value"].as_str(),
            "message {n} executor {i}: framework_id"
        );
        assert_eq!(
            container_chain(e.container_id.as_ref().expect("container_id")),
            json_chain(&j["container_id"]),
            "message {n} executor {i}: container id and parents"
        );
        let revocable: Vec<bool> = e.allocated.iter().map(|r| r.revocable.is_some()).collect();
        let want: Vec<bool> = j["allocated"]
            .as_array()
            .map(|a| a.iter().map(|r| r.get("revocable").is_some()).collect())
            .unwrap_or_default();
        assert_eq!(
            revocable, want,
            "message {n} executor {i}: revocable markers"
        );
        match (&e.statistics, j.get("statistics")) {
            (None, None) => {}
            (Some(s), Some(js)) => {
                assert_eq!(
                    s.timestamp,
                    js["timestamp"].as_f64(),
                    "message {n} executor {i}: timestamp"
                );
                if let Some(c) = js.pointer("/perf/cycles") {
                    let want: u64 = c
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .expect("uint64 as string");
                    assert_eq!(s.perf.as_ref().and_then(|p| p.cycles), Some(want));
                }
            }
            (s, j) => panic!(
                "message {n} executor {i}: statistics {} vs {}",
                s.is_some(),
                j.is_some()
            ),
        }
    }
}

/// Named checks, each reported on a line of its own for tests/schema/run.sh
/// (`schema: ok: <check>` or `schema: FAILED: <check>: <why>`). A failed
/// check does not stop the next ones; the test fails at the end if any did.
#[derive(Default)]
struct Checks {
    failed: Vec<String>,
}

impl Checks {
    fn run<T>(&mut self, what: &str, check: impl FnOnce() -> T) -> Option<T> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
            Ok(v) => {
                println!("schema: ok: {what}");
                Some(v)
            }
            Err(e) => {
                let why = e
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| e.downcast_ref::<&str>().copied())
                    .unwrap_or("panicked");
                println!(
                    "schema: FAILED: {what}: {}",
                    why.lines().next().unwrap_or_default()
                );
                self.failed.push(what.to_owned());
                None
            }
        }
    }

    fn finish(self) {
        assert!(self.failed.is_empty(), "failed checks: {:?}", self.failed);
    }
}

/// One message: bytes against both JSON forms and `load_trace`, plus spot
/// checks. Returns its executor and field-value counts.
fn check_message(dir: &std::path::Path, n: usize) -> (usize, usize) {
    let bytes = std::fs::read(dir.join(format!("{n:03}.pb"))).expect("pb");
    let decoded = decode_usage(&bytes).unwrap_or_else(|e| panic!("message {n}: {e}"));
    for variant in ["expected", "mesos"] {
        let text =
            std::fs::read_to_string(dir.join(format!("{n:03}.{variant}.json"))).expect("json");
        let (from_json, ignored) = from_json(&text);
        assert!(
            ignored.is_empty(),
            "message {n} ({variant} JSON): fields the Rust model does not know: {:?}",
            &ignored[..ignored.len().min(10)]
        );
        assert_same(
            &format!("message {n} ({variant} JSON)"),
            &decoded,
            &from_json,
        );
        // load_trace reads the same text the same way.
        let (_, traced) = load_trace(&text).expect("load_trace reads a single message");
        if !traced.is_empty() {
            assert_same(
                &format!("message {n} ({variant}, load_trace)"),
                &decoded,
                &traced[0],
            );
        }
    }
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{n:03}.expected.json"))).expect("json"),
    )
    .expect("json");
    spot_check(n, &decoded, &json);
    (decoded.executors.len(), leaves(&json))
}

#[test]
fn rust_decoding_matches_the_published_mesos_schema() {
    let Some(dir) = schema_dir() else {
        return;
    };
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json"),
    )
    .expect("manifest");
    let messages = manifest["messages"].as_u64().expect("messages") as usize;
    assert!(messages >= 3, "{manifest}");
    let mut checks = Checks::default();
    let (mut executors, mut values) = (0usize, 0usize);
    for n in 0..messages {
        if let Some((e, v)) = checks.run(
            &format!("message {n:03} decodes as Mesos's classes"),
            || check_message(&dir, n),
        ) {
            executors += e;
            values += v;
        }
    }
    // Counted from the bytes, so a failed message is not reported twice.
    checks.run("the messages hold every executor of the manifest", || {
        let decoded: usize = (0..messages)
            .map(|n| {
                let bytes = std::fs::read(dir.join(format!("{n:03}.pb"))).expect("pb");
                decode_usage(&bytes).map_or(0, |u| u.executors.len())
            })
            .sum();
        assert_eq!(
            decoded as u64,
            manifest["executors"].as_u64().expect("executors")
        )
    });
    println!(
        "schema: {messages} messages, {executors} executors, {values} field values compared \
         (protobuf {}, mesos.interface {})",
        manifest["protobuf"], manifest["mesos_interface"]
    );
    checks.finish();
}

type Kills = Vec<(String, String, String, usize)>;

#[test]
fn the_abi_and_json_paths_decide_identically() {
    let Some(dir) = schema_dir() else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("trace.jsonl")).expect("trace.jsonl");
    let (_, trace) = load_trace(&text).expect("trace loads");
    assert!(trace.len() >= 3);
    let est = Est::from_text("schema-est.toml", ESTIMATOR, &[]).expect("valid");
    let qos = Qos::from_text("schema-qos.toml", QOS, &[]).expect("valid");
    let mut est_json =
        build_pipeline("schema-est.toml", ESTIMATOR, &[], BuildOptions::default()).expect("valid");
    let mut qos_json =
        build_pipeline("schema-qos.toml", QOS, &[], BuildOptions::default()).expect("valid");
    let mut checks = Checks::default();
    let (mut slack_ticks, mut kills_total, mut spared_ticks) = (0, 0, 0);
    for (n, usage) in trace.into_iter().enumerate() {
        let what = format!("tick {n}: the ABI and JSON paths decide identically");
        let Some((slack, kills, spared)) = checks.run(&what, || {
            let bytes = std::fs::read(dir.join(format!("{n:03}.pb"))).expect("pb");
            let (r, s) = est.update(&bytes);
            assert_eq!(r, serenity_result::Ok, "tick {n}");
            let (r, kills) = qos.update(&bytes);
            assert_eq!(r, serenity_result::Ok, "tick {n}");

            let snapshot = Snapshot::new(usage);
            let out = est_json.tick(&snapshot);
            let js = out.slack.expect("an estimator answers slack");
            assert_eq!(
                (s.cpus.to_bits(), s.mem_bytes.to_bits(), s.stopped),
                (
                    js.cpus.to_bits(),
                    js.mem_bytes.to_bits(),
                    out.stopped.is_some()
                ),
                "tick {n}: slack {s:?} (ABI) vs {js:?} (JSON)"
            );
            let out = qos_json.tick(&snapshot);
            for c in out.corrections {
                let v = &snapshot.executors[c.row];
                assert!(
                    v.revocable,
                    "tick {n}: correction of production executor {}",
                    v.key.executor_id
                );
            }
            let best_effort = snapshot.executors.iter().filter(|v| v.revocable).count();
            let json_kills: Kills = out
                .corrections
                .iter()
                .map(|c| {
                    let v = &snapshot.executors[c.row];
                    (
                        v.key.framework_id.clone(),
                        v.key.executor_id.clone(),
                        v.container_id.clone().unwrap_or_default(),
                        v.index,
                    )
                })
                .collect();
            let abi_kills: Kills = kills
                .iter()
                .map(|k| {
                    (
                        k.framework_id.clone(),
                        k.executor_id.clone(),
                        k.container_id.clone(),
                        k.executor_index,
                    )
                })
                .collect();
            assert_eq!(abi_kills, json_kills, "tick {n}: corrections");
            let spared = !kills.is_empty() && kills.len() < best_effort;
            (s.cpus, kills.len(), spared)
        }) else {
            continue;
        };
        slack_ticks += usize::from(slack > 0.0);
        kills_total += kills;
        spared_ticks += usize::from(spared);
    }
    checks.run("the compared decisions are not trivial", || {
        assert!(slack_ticks > 0, "the estimator found slack on some tick");
        assert!(kills_total > 0, "the QoS controller corrected on some tick");
        assert!(
            spared_ticks > 0,
            "ranked_victims chose among the best-effort executors on some tick"
        );
    });
    println!(
        "schema: identical decisions: {slack_ticks} tick(s) with slack, {kills_total} correction(s), \
         {spared_ticks} tick(s) sparing some best-effort work"
    );
    checks.finish();
}
