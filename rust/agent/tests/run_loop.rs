//! `run()` and `Agent::new()` on a recorded cgroup v1 tree (plain
//! directories and files, no root needed): the loop stops after `--once`,
//! `--ticks` or the shutdown flag, pipeline files are checked, and a closed
//! estimator valve shows in the slack and the metrics, and the correction
//! counter exists before the first correction.

mod support;

use serenity_agent::{run, Agent, AgentArgs, AgentConfig};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use support::TempDir;

const QOS: &str = "kind = \"qos\"\ninterval_secs = 0.05\n[[stage]]\ntype = \"ema\"\n";
const ESTIMATOR: &str = "kind = \"estimator\"\ninterval_secs = 7\n[[stage]]\ntype = \"valve\"\n[[stage]]\ntype = \"slack\"\n";

/// A fake v1 tree: `<dir>/cg/cpuacct/prod/web` with cpuacct files, and an
/// agent config with both pipelines.
fn setup(dir: &TempDir, extra_top: &str) -> std::path::PathBuf {
    let web = dir.0.join("cg/cpuacct/prod/web");
    fs::create_dir_all(&web).unwrap();
    fs::write(web.join("cpuacct.stat"), "user 100\nsystem 50\n").unwrap();
    fs::write(web.join("cpuacct.usage"), "1500000000\n").unwrap();
    fs::write(web.join("cgroup.procs"), "").unwrap();
    fs::create_dir_all(dir.0.join("cg/cpuacct/be")).unwrap();
    dir.file("q.toml", QOS);
    dir.file("e.toml", ESTIMATOR);
    dir.file(
        "agent.toml",
        &format!(
            "{extra_top}qos = \"q.toml\"\nestimator = \"e.toml\"\n[cgroups]\nversion = \"v1\"\nroot = \"{}\"\nproduction = [\"prod\"]\nbest_effort = \"be\"\nperf = false\n[total]\ncpus = 4\nmem_mib = 1024\n[metrics]\nenabled = false\n",
            dir.0.join("cg").display()
        ),
    )
}

fn args(config: &Path) -> AgentArgs {
    AgentArgs {
        config: config.to_path_buf(),
        enforce: false,
        once: false,
        ticks: None,
    }
}

#[test]
fn interval_defaults_to_the_qos_pipeline_and_groups_are_found() {
    let dir = TempDir::new();
    let config = AgentConfig::load(&setup(&dir, "")).unwrap();
    let mut agent = Agent::new(config, false).unwrap();
    assert_eq!(agent.interval().as_secs_f64(), 0.05);
    assert_eq!(agent.totals(), (4.0, 1024.0));
    let report = agent.tick();
    assert_eq!(report.groups.len(), 1);
    assert_eq!(report.groups[0].path_str(), "prod/web");
    let stats = report.snapshot.usage.executors[0]
        .statistics
        .as_ref()
        .unwrap();
    assert_eq!(stats.cpus_user_time_secs, Some(1.0));
    assert_eq!(agent.metrics().lock().ticks_total, 1);
    assert!(!agent.enforcer().changed_groups().iter().any(|_| true));

    let dir = TempDir::new();
    let config = AgentConfig::load(&setup(&dir, "interval_secs = 2.5\n")).unwrap();
    assert_eq!(
        Agent::new(config, false).unwrap().interval().as_secs_f64(),
        2.5
    );
}

#[test]
fn a_closed_estimator_valve_zeroes_the_slack_and_shows_in_metrics() {
    let dir = TempDir::new();
    let config = AgentConfig::load(&setup(&dir, "")).unwrap();
    let agent = Agent::new(config, false).unwrap();
    let estimator = agent.estimator().unwrap();
    assert!(estimator.has_valve());
    // Closing the estimator's valve stops its ticks: the control the QoS
    // pipeline's pause_estimator holds (the e2e test checks that link).
    estimator.valve().set(false);
    let mut agent = agent;
    let report = agent.tick();
    assert_eq!(report.slack.map(|s| s.cpus), Some(0.0));
    assert_eq!(
        agent.metrics().lock().valve_open.get("e"),
        Some(&false),
        "the metric shows the closed valve"
    );
}

#[test]
fn the_configured_actions_correction_counter_is_exported_at_zero_before_any_correction() {
    let dir = TempDir::new();
    let config = AgentConfig::load(&setup(&dir, "")).unwrap();
    let agent = Agent::new(config, false).unwrap();
    let text = agent.metrics().render();
    assert!(
        text.contains("serenity_corrections_total{action=\"kill\",mode=\"dry_run\"} 0\n"),
        "{text}"
    );
    assert!(!text.contains("mode=\"enforce\""), "{text}");
}

#[test]
fn once_and_ticks_bound_the_loop() {
    let dir = TempDir::new();
    let path = setup(&dir, "");
    let shutdown = Arc::new(AtomicBool::new(false));
    let mut once = args(&path);
    once.once = true;
    run(once, shutdown.clone()).unwrap();
    let mut three = args(&path);
    three.ticks = Some(3);
    run(three, shutdown.clone()).unwrap();
    assert!(!shutdown.load(Ordering::SeqCst));

    let config = AgentConfig::load(&path).unwrap();
    let mut agent = Agent::new(config, false).unwrap();
    assert_eq!(agent.run_loop(&shutdown, Some(3)), 3);
    shutdown.store(true, Ordering::SeqCst);
    assert_eq!(
        agent.run_loop(&shutdown, None),
        0,
        "a set flag stops the loop"
    );
    // run() returns at once too.
    run(args(&path), shutdown).unwrap();
}

#[test]
fn startup_errors_name_the_file_and_key() {
    let dir = TempDir::new();
    let path = setup(&dir, "");
    // A QoS file where the estimator belongs.
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("estimator = \"e.toml\"", "estimator = \"q.toml\"");
    let path = dir.file("agent.toml", &text);
    let err = run(args(&path), Arc::new(AtomicBool::new(false))).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: `estimator` = {:?}: the file is a qos pipeline; `estimator` needs kind = \"estimator\"",
            path.display(),
            dir.0.join("q.toml").display().to_string()
        )
    );

    let text = text.replace("estimator = \"q.toml\"", "estimator = \"missing.toml\"");
    let path = dir.file("agent.toml", &text);
    let err = run(args(&path), Arc::new(AtomicBool::new(false))).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "{}: `estimator` = {:?}: cannot read the pipeline file: ",
            path.display(),
            dir.0.join("missing.toml").display().to_string()
        )),
        "{err}"
    );

    dir.file("bad.toml", "kind = \"qos\"\n[[stage]]\ntype = \"nope\"\n");
    let text = text
        .replace("estimator = \"missing.toml\"\n", "")
        .replace("q.toml", "bad.toml");
    let path = dir.file("agent.toml", &text);
    let err = run(args(&path), Arc::new(AtomicBool::new(false))).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "{}:3:8: stage 1 (nope): `type` = \"nope\": unknown stage type",
            dir.0.join("bad.toml").display()
        )),
        "{err}"
    );

    // Enforcing a freeze needs a freezer hierarchy (the fake tree has none).
    let text =
        fs::read_to_string(setup(&dir, "")).unwrap() + "[enforcement]\naction = \"freeze\"\n";
    let path = dir.file("agent.toml", &text);
    let mut enforcing = args(&path);
    enforcing.enforce = true;
    let err = run(enforcing, Arc::new(AtomicBool::new(false))).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`enforcement.action = \"freeze\"` needs the cgroup v1 freezer hierarchy, and none is mounted under {}",
            dir.0.join("cg").display()
        )
    );
    let mut dry = args(&path);
    dry.once = true;
    run(dry, Arc::new(AtomicBool::new(false))).expect("a dry run does not need it");

    let err = run(
        args(&dir.0.join("absent.toml")),
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read the agent configuration "),
        "{err}"
    );
}
