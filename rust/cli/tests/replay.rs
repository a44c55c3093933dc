//! `serenity replay`: the JSON Lines shape, linking, table and errors.

mod common;
use common::*;
use serde_json::Value;

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn jsonl_has_one_object_per_tick_and_pipeline_with_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "ipc-step-drop");
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let qos = write(dir.path(), "qos.toml", QOS_NO_DETECTOR);
    let o = serenity(&[
        "replay",
        "--pipeline",
        &est,
        "--pipeline",
        &qos,
        "--output",
        "jsonl",
        &trace,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = lines(&stdout(&o));
    assert_eq!(lines.len(), 450 * 2);
    for (i, l) in lines.iter().enumerate() {
        let obj = l.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "contentions",
                "corrections",
                "pipeline",
                "slack",
                "stopped_by",
                "tick",
                "timestamp"
            ]
        );
        // Ticks are 0-based, pipelines in command-line order.
        assert_eq!(l["tick"].as_u64(), Some((i / 2) as u64));
        assert_eq!(l["pipeline"], if i % 2 == 0 { "est" } else { "qos" });
        assert!(l["timestamp"].is_f64());
        assert!(l["contentions"].is_array() && l["corrections"].is_array());
        assert!(l["stopped_by"].is_null() || l["stopped_by"].is_string());
        if i % 2 == 0 {
            assert!(l["slack"]["cpus"].is_f64());
            assert!(l["slack"]["mem_bytes"].is_u64());
        } else {
            assert!(l["slack"].is_null());
        }
    }
    // The estimator lends something once its EMA has a value.
    assert!(lines
        .iter()
        .any(|l| l["slack"]["cpus"].as_f64().unwrap_or(0.0) > 1.0));
}

#[test]
fn a_closed_valve_stops_every_tick_with_zero_slack_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "steady-no-interference");
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let o = serenity(&[
        "replay",
        "-p",
        &est,
        "--set",
        "valve.open=false",
        "--output",
        "jsonl",
        &trace,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = lines(&stdout(&o));
    assert!(lines
        .iter()
        .all(|l| l["stopped_by"] == "valve" && l["slack"]["cpus"] == 0.0));
}

#[test]
fn prefixed_overrides_reach_only_their_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "steady-no-interference");
    let a = write(dir.path(), "a.toml", ESTIMATOR);
    let b = write(dir.path(), "b.toml", ESTIMATOR);
    let o = serenity(&[
        "replay",
        "-p",
        &a,
        "-p",
        &b,
        "--set",
        "b:valve.open=false",
        "--output",
        "jsonl",
        &trace,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = lines(&stdout(&o));
    assert!(lines
        .iter()
        .filter(|l| l["pipeline"] == "b")
        .all(|l| l["stopped_by"] == "valve"));
    assert!(lines
        .iter()
        .filter(|l| l["pipeline"] == "a")
        .all(|l| l["stopped_by"].is_null()));
}

#[test]
fn the_table_has_a_row_per_tick_and_a_summary_per_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "steady-no-interference");
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let o = serenity(&["replay", "-p", &est, &trace]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("tick  time (s)  est\n"), "{}", &out[..200]);
    assert!(out.contains("\n449   898.0     slack "), "last row missing");
    let summary = out.lines().last().unwrap();
    assert!(
        summary.starts_with("est: 450 ticks, 0 stopped, mean slack "),
        "{summary}"
    );
}

#[test]
fn an_unreadable_trace_exits_nonzero_naming_the_first_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let trace = write(
        dir.path(),
        "bad.jsonl",
        "{\"executors\": []}\n{\"executors\": []}\n{\"executors\": [{\"statistics\": {\"timestamp\": \"noon\"}}]}\n{\"executors\": 5}\n",
    );
    let o = serenity(&["replay", "-p", &est, &trace]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        format!(
            "error: trace {trace}: record 2 (line 3): at `executors[0].statistics.timestamp`: expected a number, found the string \"noon\" at line 1 column 51\n"
        )
    );
}

#[test]
fn configuration_problems_of_all_pipelines_are_printed_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "steady-no-interference");
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let o = serenity(&[
        "replay",
        "-p",
        &est,
        "--set",
        "slack.fraction=7",
        "--set",
        "nope",
        &trace,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "override `nope`: an override must read `key=value` or `stage.key=value`\n\
         override `slack.fraction=7`: stage 4 (slack): `fraction` = 7: must be greater than 0 and at most 1\n"
    );
}

#[test]
fn fixture_files_of_the_original_replay_too() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "est.toml", ESTIMATOR);
    let o = serenity(&[
        "replay",
        "-p",
        &p,
        "--output",
        "jsonl",
        "tests/data/baseline_smoke_test_resource_usage.json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(lines(&stdout(&o)).len(), 4);
}

#[test]
fn the_bundled_demo_trace_is_what_its_scenario_generates_and_it_replays() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo.jsonl").display().to_string();
    let o = serenity(&[
        "simulate",
        "--scenario",
        "tests/data/demo-scenario.toml",
        "--out",
        &out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let committed = std::fs::read_to_string(root().join("tests/data/demo-trace.jsonl")).unwrap();
    assert!(
        committed == std::fs::read_to_string(&out).unwrap(),
        "tests/data/demo-trace.jsonl is stale: regenerate it with `serenity simulate --scenario tests/data/demo-scenario.toml --out tests/data/demo-trace.jsonl`"
    );
    let o = serenity(&[
        "replay",
        "-p",
        "pipelines/estimator.toml",
        "--output",
        "jsonl",
        "tests/data/demo-trace.jsonl",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = lines(&stdout(&o));
    assert_eq!(lines.len(), 160);
    // The shipped estimator ignores executors younger than 300 s (60 ticks
    // of 5 s), then lends.
    assert!(lines[..60].iter().all(|l| l["slack"]["cpus"] == 0.0));
    assert!(lines[61..]
        .iter()
        .any(|l| l["slack"]["cpus"].as_f64().unwrap() > 0.5));
}

#[test]
fn an_unprefixed_override_reaches_the_pipelines_that_have_the_stage() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "steady-no-interference");
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let qos = write(dir.path(), "qos.toml", QOS_NO_DETECTOR);
    // `slack` exists only in the estimator: no error for the QoS pipeline.
    let o = serenity(&[
        "replay",
        "-p",
        &est,
        "-p",
        &qos,
        "--set",
        "slack.fraction=0.5",
        "--output",
        "jsonl",
        &trace,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let half: f64 = lines(&stdout(&o))
        .iter()
        .filter_map(|l| l["slack"]["cpus"].as_f64())
        .sum();
    let o = serenity(&[
        "replay", "-p", &est, "-p", &qos, "--output", "jsonl", &trace,
    ]);
    let full: f64 = lines(&stdout(&o))
        .iter()
        .filter_map(|l| l["slack"]["cpus"].as_f64())
        .sum();
    assert!(half < full, "a lower cap lends less: {half} vs {full}");
}
