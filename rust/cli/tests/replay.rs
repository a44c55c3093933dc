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
            "error: trace {trace}: record 2 (line 3, column 51): at `executors[0].statistics.timestamp`: expected a number, found the string \"noon\"\n"
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

/// What `serenity_core` says a trace record must look like (checked word for
/// word in the core's tests).
const SHAPES: &str = "a trace record is a JSON object with `executors` (a Mesos ResourceUsage); a trace is JSON Lines of them (one object per line, what `serenity record` and `serenity simulate` write), a single ResourceUsage object, or an original Serenity fixture file ({\"resource_usage\": [ResourceUsage, ...]})";

#[test]
fn a_record_that_is_json_but_not_a_resource_usage_is_an_error_naming_file_record_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    // A replay's own output given back as a trace.
    let trace = write(
        dir.path(),
        "result.jsonl",
        "{\"executors\": []}\n{\"tick\": 0, \"pipeline\": \"qos\"}\n",
    );
    let o = serenity(&["replay", "-p", &est, &trace]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "", "no tick runs");
    assert_eq!(
        stderr(&o),
        format!("error: trace {trace}: record 1 (line 2): not a ResourceUsage: the object has none of the keys `executors` and `total` (its keys: `tick`, `pipeline`); {SHAPES}\n")
    );
}

#[test]
fn json_of_the_wrong_shape_says_what_a_trace_record_must_look_like() {
    let dir = tempfile::tempdir().unwrap();
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let trace = write(dir.path(), "numbers.json", "[1,2,3]\n");
    let o = serenity(&["replay", "-p", &est, &trace]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("error: trace {trace}: line 1, column 1: this is a JSON array, not a trace record: {SHAPES}\n")
    );
}

#[test]
fn bytes_that_are_not_utf8_are_reported_with_their_byte_offset_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let trace = dir.path().join("binary.jsonl");
    std::fs::write(&trace, b"{\"executors\": []}\n{\"executors\": [\xff]}\n").unwrap();
    let trace = trace.display().to_string();
    let o = serenity(&["replay", "-p", &est, &trace]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("error: trace {trace}: line 2, column 16, byte offset 33: byte 0xff is not UTF-8: a trace is JSON text (is this a binary or compressed file?)\n")
    );
}

#[test]
fn an_empty_usage_and_an_executor_without_statistics_still_replay() {
    let dir = tempfile::tempdir().unwrap();
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let trace = write(
        dir.path(),
        "sparse.jsonl",
        "{}\n{\"executors\": [{\"executor_info\": {\"executor_id\": {\"value\": \"e\"}, \"framework_id\": {\"value\": \"f\"}}}]}\n",
    );
    let o = serenity(&["replay", "-p", &est, "--output", "jsonl", &trace]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(lines(&stdout(&o)).len(), 2);
}

#[test]
fn a_plot_path_that_cannot_be_written_fails_before_the_replay_prints_anything() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "steady-no-interference");
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let missing = dir.path().join("no-such-dir");
    let plot = missing.join("out.svg").display().to_string();
    let o = serenity(&["replay", "-p", &est, &trace, "--plot", &plot]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "", "the replay did not run");
    assert_eq!(
        stderr(&o),
        format!(
            "error: --plot {plot}: the directory {} does not exist; create it or choose another path\n",
            missing.display()
        )
    );
    // A directory is not a plot file either, whatever its name.
    let as_dir = dir.path().join("d.svg");
    std::fs::create_dir(&as_dir).unwrap();
    let as_dir = as_dir.display().to_string();
    let o = serenity(&["replay", "-p", &est, &trace, "--plot", &as_dir]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        format!(
            "error: --plot {as_dir}: is a directory; give a file name ending in .svg or .png\n"
        )
    );
}

#[test]
fn a_written_plot_is_announced_on_stderr_unless_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "steady-no-interference");
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let plot = dir.path().join("out.svg").display().to_string();
    let o = serenity(&["replay", "-p", &est, &trace, "--plot", &plot]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).ends_with(&format!("wrote {plot}\n")),
        "{}",
        stderr(&o)
    );
    assert!(std::path::Path::new(&plot).is_file());
    let o = serenity(&["-q", "replay", "-p", &est, &trace, "--plot", &plot]);
    assert!(o.status.success());
    assert_eq!(stderr(&o), "");
}

#[test]
fn a_stage_key_given_as_a_pipeline_override_names_the_stages_that_take_it_in_each_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "steady-no-interference");
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let qos = write(dir.path(), "qos.toml", QOS_NO_DETECTOR);
    let o = serenity(&[
        "replay",
        "-p",
        &est,
        "-p",
        &qos,
        "--set",
        "alpha=0.3",
        &trace,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        format!(
            "override `alpha=0.3`: `alpha`: a key of stages (ema), not of the pipeline; in {est}, stage 3 (ema) takes it: write `ema.alpha=0.3`\n\
             override `alpha=0.3`: `alpha`: a key of stages (ema), not of the pipeline; in {qos}, stage 1 (ema) takes it: write `ema.alpha=0.3`\n"
        )
    );
}

#[test]
fn a_misspelt_override_key_gets_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "steady-no-interference");
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let o = serenity(&["replay", "-p", &est, "--set", "slack.fracton=0.5", &trace]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "override `slack.fracton=0.5`: stage 4 (slack): `fracton`: unknown key; did you mean `fraction`? (this stage takes: epsilon_cpus, fraction, name, usage)\n"
    );
}
