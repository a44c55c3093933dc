//! simulate → replay → score, end to end, on two scenarios, with the stages
//! every branch has (a basic estimator, and a QoS pipeline that has no
//! detector and therefore never kills).

mod common;
use common::*;
use serde_json::Value;

fn score(dir: &std::path::Path, scenario: &str) -> Value {
    let trace = simulate(dir, scenario);
    let est = write(dir, "est.toml", ESTIMATOR);
    let qos = write(dir, "qos.toml", QOS_NO_DETECTOR);
    let result = dir.join(format!("{scenario}.result.jsonl"));
    let o = serenity(&[
        "replay", "-p", &est, "-p", &qos, "--output", "jsonl", &trace,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(&result, &o.stdout).unwrap();
    let o = serenity(&[
        "score",
        &trace,
        "--result",
        result.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn steady_scenario_lends_most_idle_capacity_without_over_lending_or_kills() {
    let dir = tempfile::tempdir().unwrap();
    let s = score(dir.path(), "steady-no-interference");
    assert_eq!(s["label"], "steady-no-interference");
    let est = &s["pipelines"][0];
    assert_eq!(est["pipeline"], "est (with qos)");
    assert_eq!(est["kind"], "estimator");
    assert_eq!(est["ticks"], 450);
    assert_eq!(est["episodes"], 0);
    let ratio = est["slack_over_idle"].as_f64().unwrap();
    assert!((0.70..0.95).contains(&ratio), "slack/idle = {ratio}");
    let over = est["over_lending_pct"].as_f64().unwrap();
    assert!(over < 2.0, "over-lending {over} %");
    let qos = &s["pipelines"][1];
    assert_eq!(qos["kind"], "qos");
    assert_eq!(
        (qos["kills"].as_u64(), qos["false_kills"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn ipc_drop_scenario_has_one_episode_that_a_pipeline_without_detector_misses() {
    let dir = tempfile::tempdir().unwrap();
    let s = score(dir.path(), "ipc-step-drop");
    let qos = &s["pipelines"][1];
    assert_eq!(qos["episodes"], 1);
    assert_eq!(qos["detected"], 0);
    assert_eq!(qos["missed"], 1);
    assert!(qos["mean_delay"].is_null());
    assert_eq!(qos["false_kills_per_10k_ticks"], 0.0);
}

#[test]
fn markdown_rows_follow_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "ipc-step-drop");
    let qos = write(dir.path(), "qos.toml", QOS_NO_DETECTOR);
    let o = serenity(&["replay", "-p", &qos, "--output", "jsonl", &trace]);
    let result = write(dir.path(), "r.jsonl", &stdout(&o));
    let o = serenity(&[
        "score",
        &trace,
        "--result",
        &result,
        "--output",
        "markdown",
        "--header",
        "--label",
        "ipc-step-drop",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 3);
    assert!(rows[0].starts_with("| scenario | pipeline | episodes | detected | missed |"));
    assert_eq!(
        rows[2],
        "| ipc-step-drop | qos | 1 | 0 | 1 | — | — | 0 | 0 | 0.0 | 0 |"
    );
    assert_eq!(rows[0].matches('|').count(), rows[2].matches('|').count());
}

#[test]
fn markdown_rows_of_estimators_have_their_own_layout() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "steady-no-interference");
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let qos = write(dir.path(), "qos.toml", QOS_NO_DETECTOR);
    let o = serenity(&[
        "replay", "-p", &est, "-p", &qos, "--output", "jsonl", &trace,
    ]);
    let result = write(dir.path(), "r.jsonl", &stdout(&o));
    let o = serenity(&[
        "score",
        &trace,
        "--result",
        &result,
        "--output",
        "markdown",
        "--header",
        "--kind",
        "estimator",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(rows[0].starts_with("| scenario | pipeline | mean slack (CPUs) |"));
    assert!(
        rows[2].starts_with("| steady-no-interference | est (with qos) | "),
        "{}",
        rows[2]
    );
    assert_eq!(rows[0].matches('|').count(), rows[2].matches('|').count());
}

#[test]
fn a_trace_without_truth_cannot_be_scored() {
    let dir = tempfile::tempdir().unwrap();
    let r = write(dir.path(), "r.jsonl", "");
    let o = serenity(&[
        "score",
        "tests/data/baseline_smoke_test_resource_usage.json",
        "--result",
        &r,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("has no ground truth"), "{}", stderr(&o));
}

/// A sustained overload: the production service needs 4 more CPUs for
/// 1500 s, and with the best-effort jobs the node's 7.6 CPUs do not suffice.
const SUSTAINED_OVERLOAD: &str = r#"
ticks = 400
interval_secs = 5.0
agent_cpus = 7.6
[[executor]]
id = "web"
kind = "production"
cpus = 6.0
load = { model = "constant", value = 2.0 }
[[executor]]
id = "b1"
kind = "best_effort"
cpus = 1.0
load = { model = "constant", value = 0.9 }
[[executor]]
id = "b2"
kind = "best_effort"
cpus = 1.0
load = { model = "constant", value = 0.9 }
[[event]]
type = "cpu_surge"
executors = ["web"]
extra_cpus = 4.0
start = 100
end = 400
"#;

#[test]
fn the_load_average_baseline_reacts_in_minutes_and_kills_every_best_effort_executor() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(dir.path(), "overload.toml", SUSTAINED_OVERLOAD);
    let trace = dir.path().join("overload.jsonl").display().to_string();
    let o = serenity(&["simulate", "--scenario", &scenario, "--out", &trace]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = serenity(&[
        "replay",
        "-p",
        "pipelines/qos-load-baseline.toml",
        "--output",
        "jsonl",
        &trace,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let result = write(dir.path(), "r.jsonl", &stdout(&o));
    // Both executors are killed on the same tick, as Mesos's controller does.
    let kill_ticks: Vec<(u64, String)> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .flat_map(|l| {
            let t = l["tick"].as_u64().unwrap();
            l["corrections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (t, c["executor_id"].as_str().unwrap().to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(kill_ticks[0].0, kill_ticks[1].0);
    assert_eq!(kill_ticks[0].1, "b1");
    assert_eq!(kill_ticks[1].1, "b2");
    let o = serenity(&["score", &trace, "--result", &result, "--output", "json"]);
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &s["pipelines"][0];
    assert_eq!(
        (p["detected"].as_u64(), p["missed"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(p["false_kills"], 0);
    // Usage steps from 3.8 to 7.6 CPUs; a 300 s EMA crosses 0.85 × 7.6 =
    // 6.46 after 300 × ln(3.8 / 1.14) ≈ 361 s, i.e. about 72 ticks of 5 s:
    // minutes, as in Mesos.
    let delay = p["mean_delay"].as_f64().unwrap();
    assert!((66.0..=78.0).contains(&delay), "delay {delay} ticks");
}

#[test]
fn a_closed_loop_kill_removes_the_aggressor_and_ends_its_episode() {
    let dir = tempfile::tempdir().unwrap();
    let qos = "pipelines/qos.toml";
    let trace = dir.path().join("closed.jsonl").display().to_string();
    let o = serenity(&[
        "simulate",
        "--scenario",
        "tests/scenarios/ipc-step-drop.toml",
        "-p",
        qos,
        "--out",
        &trace,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let records: Vec<Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kill_tick = records
        .iter()
        .position(|r| {
            r["actions"][0]["corrections"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        })
        .expect("the drop detector kills");
    let named = |t: usize, id: &str| {
        records[t]["executors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["executor_info"]["executor_id"]["value"] == id)
    };
    let killed = records[kill_tick]["actions"][0]["corrections"][0]["executor_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(named(kill_tick, &killed) && !named(kill_tick + 1, &killed));
    let o = serenity(&["score", &trace, "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["loop"], "closed");
    let p = &s["pipelines"][0];
    assert_eq!(
        (p["episodes"].as_u64(), p["detected"].as_u64()),
        (Some(1), Some(1))
    );
    // The episode ends the tick after the kill: the closed loop has no
    // counterfactual tail to excuse kills in.
    assert_eq!(p["excused_kills"], 0);
}

#[test]
fn an_open_loop_trace_needs_its_replay_to_be_scored() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "ipc-step-drop");
    let o = serenity(&["score", &trace]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("has no actions"), "{}", stderr(&o));
}

#[test]
fn score_reads_its_traces_as_replay_does_and_names_a_record_that_is_not_a_usage() {
    let dir = tempfile::tempdir().unwrap();
    // A replay's output given where the simulated trace belongs.
    let not_a_trace = write(
        dir.path(),
        "result.jsonl",
        "{\"tick\": 0, \"pipeline\": \"qos\", \"slack\": null}\n",
    );
    let o = serenity(&["score", &not_a_trace]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!(
            "error: trace {not_a_trace}: record 0 (line 1): not a ResourceUsage: the object has none of the keys `executors` and `total`"
        )),
        "{err}"
    );
}
