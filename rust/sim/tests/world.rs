//! The simulated node: causal interference, kills and the recovery lag,
//! relaunch, slack admission, starvation totals, determinism.

use serde_json::{json, Value};
use serenity_core::load_trace;
use serenity_sim::scenario::Admission;
use serenity_sim::truth::Truth;
use serenity_sim::{generate, Scenario, World};

const BASE: &str = r#"
ticks = 40
agent_cpus = 8.0
[[executor]]
id = "web"
kind = "production"
cpus = 4.0
ipc = 2.0
ipc_noise = 0.0
load = { model = "constant", value = 2.0 }
[[executor]]
id = "batch"
kind = "best_effort"
cpus = 2.0
arrive = 10
depart = 30
load = { model = "constant", value = 1.5, noise = 0.2 }
"#;

fn scenario(extra: &str) -> Scenario {
    Scenario::parse("s.toml", &format!("{BASE}{extra}")).unwrap()
}

fn ipc_of(v: &Value, id: &str) -> Option<f64> {
    v["executors"]
        .as_array()?
        .iter()
        .find(|e| e["executor_info"]["executor_id"]["value"] == id)
        .map(|e| {
            let p = &e["statistics"]["perf"];
            p["instructions"].as_f64().unwrap() / p["cycles"].as_f64().unwrap()
        })
}

#[test]
fn interference_only_while_an_aggressor_is_present() {
    let s = scenario(
        r#"
[[event]]
type = "ipc_drop"
victims = ["web"]
aggressors = ["batch"]
start = 5
end = 35
drop = 0.5
"#,
    );
    let trace = generate(&s);
    let truth = |t: usize| -> Truth { serde_json::from_value(trace[t]["truth"].clone()).unwrap() };
    // Window opens at 5 but the aggressor arrives at 10 and leaves at 30.
    assert!(!truth(9).interference);
    assert!(truth(10).interference && truth(10).onset);
    assert!(truth(29).interference && !truth(29).onset);
    assert!(!truth(30).interference);
    assert!((ipc_of(&trace[9], "web").unwrap() - 2.0).abs() < 1e-6);
    assert!((ipc_of(&trace[15], "web").unwrap() - 1.0).abs() < 1e-6);
    assert!((ipc_of(&trace[30], "web").unwrap() - 2.0).abs() < 1e-6);
    assert_eq!(truth(15).aggressors, vec!["batch".to_string()]);
}

#[test]
fn ramp_reaches_the_full_drop_after_ramp_ticks() {
    let s = scenario(
        r#"
[[event]]
type = "ipc_drop"
victims = ["web"]
aggressors = ["batch"]
start = 10
end = 30
drop = 0.5
shape = "ramp"
ramp_ticks = 10
"#,
    );
    let trace = generate(&s);
    let first = ipc_of(&trace[10], "web").unwrap();
    let mid = ipc_of(&trace[14], "web").unwrap();
    let full = ipc_of(&trace[19], "web").unwrap();
    assert!((first - 2.0 * (1.0 - 0.05)).abs() < 1e-6, "{first}");
    assert!((mid - 2.0 * (1.0 - 0.25)).abs() < 1e-6, "{mid}");
    assert!((full - 1.0).abs() < 1e-6, "{full}");
}

#[test]
fn counter_reset_sets_cumulative_cpu_back_and_the_trace_replays() {
    let s = scenario(
        r#"
[[event]]
type = "counter_reset"
executors = ["web"]
at = 20
"#,
    );
    let trace = generate(&s);
    let user = |t: usize| {
        trace[t]["executors"][0]["statistics"]["cpus_user_time_secs"]
            .as_f64()
            .unwrap()
    };
    assert!(user(19) > 30.0);
    assert!(user(20) < 2.0);
    let text: String = trace.iter().map(|v| format!("{v}\n")).collect();
    let (_, usages) = load_trace(&text).unwrap();
    assert_eq!(usages.len(), 40);
}

#[test]
fn same_seed_same_trace_and_noise_stays_within_bounds() {
    let s = scenario("");
    assert_eq!(generate(&s), generate(&s));
    for r in generate(&s).iter().skip(11).take(18) {
        let be = r["executors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["executor_info"]["executor_id"]["value"] == "batch")
            .unwrap();
        let cycles = be["statistics"]["perf"]["cycles"].as_f64().unwrap();
        let usage = cycles / 2.5e9;
        assert!((1.3 - 1e-6..=1.7 + 1e-6).contains(&usage), "{usage}");
    }
}

/// `web` wants 10 more CPUs from tick 12 to 20.
const WEB_SURGE: &str = r#"
[[event]]
type = "cpu_surge"
executors = ["web"]
extra_cpus = 10.0
start = 12
end = 20
"#;

#[test]
fn a_surge_the_node_can_serve_is_a_harmless_peak_and_idle_truth_subtracts_lent_cpus() {
    let s = scenario(WEB_SURGE);
    let trace = generate(&s);
    // web is clamped to its 4 CPUs and batch uses under 2: 8 CPUs suffice.
    let truth: Truth = serde_json::from_value(trace[15]["truth"].clone()).unwrap();
    assert!(!truth.interference);
    // Before batch arrives, web leaves 2 of its 4 CPUs idle; once batch
    // holds 2 revocable CPUs, nothing more can be lent.
    let before: Truth = serde_json::from_value(trace[5]["truth"].clone()).unwrap();
    assert!(
        (before.idle_cpus - 2.0).abs() < 1e-9,
        "{}",
        before.idle_cpus
    );
    let lent: Truth = serde_json::from_value(trace[25]["truth"].clone()).unwrap();
    assert!(lent.idle_cpus.abs() < 1e-9, "{}", lent.idle_cpus);
    assert_eq!(lent.lent.get("batch"), Some(&2.0));
}

#[test]
fn a_surge_past_the_node_is_interference_and_starves_everyone_on_the_run_queue() {
    let s = scenario(WEB_SURGE);
    let mut small = s.clone();
    small.agent_cpus = 5.0;
    let trace = generate(&small);
    let truth: Truth = serde_json::from_value(trace[15]["truth"].clone()).unwrap();
    assert!(truth.interference);
    assert_eq!(truth.aggressors, vec!["batch".to_string()]);
    let delay = |t: usize| {
        trace[t]["executors"][0]["statistics"]["serenity_runqueue_delay_secs"]
            .as_f64()
            .unwrap()
    };
    // Before: ~1 % of 2 busy CPUs; during: web wants 4 CPUs and waits
    // for what it does not get (plus the 1 % background).
    let calm = delay(11) - delay(10);
    let starved = delay(16) - delay(15);
    let usage = trace[16]["executors"][0]["statistics"]["perf"]["cycles"]
        .as_f64()
        .unwrap()
        / 2.5e9;
    assert!(calm < 0.05, "{calm}");
    assert!(usage < 3.9, "{usage}");
    assert!(
        (starved - (4.0 - usage)).abs() < 0.06,
        "{starved} vs {usage}"
    );
}

#[test]
fn a_killed_aggressor_is_gone_next_tick_and_its_harm_ends_after_the_recovery_lag() {
    let mut s = scenario(
        r#"
[[event]]
type = "ipc_drop"
victims = ["web"]
aggressors = ["batch"]
start = 10
end = 40
drop = 0.5
"#,
    );
    s.recovery_ticks = 2;
    let mut w = World::new(&s);
    let mut truths = Vec::new();
    let mut records = Vec::new();
    for t in 0..20 {
        let (r, tr) = w.step(None);
        let r = json!(r);
        if t == 12 {
            assert!(w.kill("batch", 12));
            assert!(!w.kill("web", 12), "production is never killed");
        }
        truths.push(tr);
        records.push(r);
    }
    let ids = |t: usize| -> Vec<String> {
        records[t]["executors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e["executor_info"]["executor_id"]["value"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert!(ids(12).contains(&"batch".to_string()));
    assert!(!ids(13).contains(&"batch".to_string()));
    assert!(truths[13].interference && truths[14].interference);
    assert!(!truths[15].interference);
    assert!((ipc_of(&records[15], "web").unwrap() - 2.0).abs() < 1e-6);
}

#[test]
fn a_killed_executor_is_relaunched_in_a_new_container_with_fresh_counters() {
    let mut s = scenario("");
    s.executors[1].relaunch_after_ticks = Some(3);
    let mut w = World::new(&s);
    let mut records = Vec::new();
    for _ in 0..20 {
        let (r, _) = w.step(None);
        records.push(json!(r));
    }
    let mut w = World::new(&s);
    let mut killed = Vec::new();
    for t in 0..20 {
        let (r, _) = w.step(None);
        let r = json!(r);
        if t == 12 {
            w.kill("batch", 12);
        }
        killed.push(r);
    }
    let batch = |r: &Value| {
        r["executors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["executor_info"]["executor_id"]["value"] == "batch")
            .cloned()
    };
    assert!(batch(&killed[15]).is_none());
    let back = batch(&killed[16]).expect("relaunched 3 ticks after the kill");
    assert_eq!(back["container_id"]["value"], "ctr-batch-1");
    assert!(back["statistics"]["cpus_user_time_secs"].as_f64().unwrap() < 2.0);
    assert!(batch(&records[16]).is_some());
}

#[test]
fn slack_admission_waits_until_the_lent_capacity_covers_the_executor() {
    let mut s = scenario("");
    s.admission = Admission::Slack;
    let mut w = World::new(&s);
    let present = |r: &Value| {
        r["executors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["executor_info"]["executor_id"]["value"] == "batch")
    };
    let mut seen = Vec::new();
    for t in 0..16 {
        // 1 CPU lent until tick 12, then 2 (batch wants 2).
        let lent = if t < 13 { 1.0 } else { 2.0 };
        let (r, _) = w.step(Some(lent));
        seen.push(present(&json!(r)));
    }
    assert!(!seen[10] && !seen[12]);
    assert!(seen[13]);
}

#[test]
fn recurring_bursts_are_separate_episodes() {
    let s = scenario(
        r#"
[[event]]
type = "ipc_drop"
victims = ["web"]
aggressors = ["batch"]
start = 10
end = 30
drop = 0.3
every = 5
burst_ticks = 2
"#,
    );
    let trace = generate(&s);
    let onsets: Vec<usize> = (0..40)
        .filter(|&t| trace[t]["truth"]["onset"] == true)
        .collect();
    assert_eq!(onsets, vec![10, 15, 20, 25]);
    assert_eq!(trace[12]["truth"]["interference"], false);
}

#[test]
fn every_problem_of_a_scenario_is_reported() {
    let text = format!(
        "{BASE}{}",
        r#"
[[event]]
type = "ipc_drop"
victims = ["batch", "ghost"]
aggressors = []
start = 9
end = 3
drop = 1.5
"#
    );
    let errs = Scenario::parse("s.toml", &text).unwrap_err();
    assert_eq!(
        errs,
        vec![
            "s.toml: event 1: victim `batch` must be a production executor",
            "s.toml: event 1: victim `ghost` is not an executor",
            "s.toml: event 1: an ipc_drop needs at least one aggressor",
            "s.toml: event 1: `drop` must be between 0 and 1",
            "s.toml: event 1: `end` must come after `start`",
        ]
    );
}

#[test]
fn a_record_writes_the_text_its_json_value_writes() {
    // The typed record must write its keys in the sorted order of a
    // serde_json object, so that traces stay byte-for-byte what they were
    // when records were built as values: the value's text re-sorts them.
    let mut s = scenario("");
    s.executors[1].relaunch_after_ticks = Some(1);
    let mut w = World::new(&s);
    let mut revocable_seen = false;
    for t in 0..40 {
        let (r, _) = w.step(None);
        let text = r.text();
        assert_eq!(text, json!(r).to_string(), "tick {t}");
        revocable_seen |= text.contains("\"revocable\":{}");
        if t == 15 {
            w.kill("batch", t);
        }
    }
    assert!(
        revocable_seen,
        "best-effort resources are written revocable"
    );
}
