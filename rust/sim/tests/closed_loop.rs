//! Closed-loop runs of shipped pipelines on suite scenarios, scored with
//! the strict rules: the claims docs/benchmarks.md makes, as tests.

use serenity_core::{build_pipeline, BuildOptions, Pipeline, PipelineKind, ValveControl};
use serenity_sim::closed_loop;
use serenity_sim::score::{score_run, Loop, PipelineScore, ScoreOptions};
use serenity_sim::truth::{load_labelled, Labels};
use serenity_sim::Scenario;
use std::path::Path;
use std::sync::Arc;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn scenario(name: &str) -> Scenario {
    let path = root().join(format!("tests/scenarios/{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    Scenario::parse(name, &text).unwrap()
}

/// Builds shipped pipelines, linking the estimator's valve to the QoS one.
fn pipelines(files: &[&str]) -> Vec<Pipeline> {
    let valve = Arc::new(ValveControl::default());
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(root().join("pipelines").join(f)).unwrap();
            let mut options = BuildOptions::default();
            if f.starts_with("estimator") {
                options.valve = Some(valve.clone());
            } else {
                options.estimator_valve = Some(valve.clone());
            }
            build_pipeline(f, &text, &[], options).unwrap()
        })
        .collect()
}

/// Runs `files` in the loop over `scenario` and scores every pipeline.
fn run(scenario_name: &str, files: &[&str]) -> (Vec<PipelineScore>, String) {
    let s = scenario(scenario_name);
    let mut p = pipelines(files);
    let records = closed_loop::run(&s, &mut p).unwrap();
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    let (truth, actions) = load_labelled(&text).unwrap();
    (
        score_run(&actions, &truth, Loop::Closed, &ScoreOptions::default()),
        text,
    )
}

fn qos(scores: &[PipelineScore]) -> &PipelineScore {
    scores.iter().find(|s| s.kind == "qos").unwrap()
}

#[test]
fn the_72_percent_overload_rule_kills_on_harmless_load_peaks_and_the_starvation_rule_does_not() {
    let (old, _) = run(
        "load-peaks-no-interference",
        &["estimator-reclaim.toml", "qos.toml"],
    );
    assert_eq!(qos(&old).episodes, 0);
    assert!(qos(&old).false_kills >= 1, "{:?}", qos(&old));
    let (new, _) = run(
        "load-peaks-no-interference",
        &["estimator-reclaim.toml", "qos-starvation.toml"],
    );
    assert_eq!(qos(&new).kills, 0, "{:?}", qos(&new));
}

#[test]
fn the_starvation_rule_alone_catches_a_real_overload_within_two_ticks() {
    let s = scenario("cpu-surge-overload");
    let text = std::fs::read_to_string(root().join("pipelines/qos-starvation.toml")).unwrap();
    // The 95 % overload backstop switched off: only `starvation` can act.
    let mut p = vec![build_pipeline(
        "qos-starvation.toml",
        &text,
        &["overload.threshold=1.0".into()],
        BuildOptions::default(),
    )
    .unwrap()];
    assert_eq!(p[0].kind(), PipelineKind::Qos);
    let records = closed_loop::run(&s, &mut p).unwrap();
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    let (truth, actions) = load_labelled(&text).unwrap();
    let score = &score_run(&actions, &truth, Loop::Closed, &ScoreOptions::default())[0];
    assert_eq!(
        (score.episodes, score.detected, score.false_kills),
        (1, 1, 0)
    );
    assert!(score.max_delay.unwrap() <= 2, "{score:?}");
}

#[test]
fn recurring_bursts_are_each_caught_and_the_closed_loop_is_deterministic() {
    let files = ["estimator-safe.toml", "qos-starvation.toml"];
    let (scores, first) = run("recurring-bursts", &files);
    let q = qos(&scores);
    assert_eq!((q.episodes, q.detected, q.false_kills), (9, 9, 0));
    let (_, second) = run("recurring-bursts", &files);
    assert_eq!(first, second);
}

#[test]
fn lending_against_the_recent_peak_over_lends_far_less_than_lending_the_last_sample() {
    let (raw, _) = run("steady-no-interference", &["estimator-reclaim.toml"]);
    let (peak, _) = run("steady-no-interference", &["estimator-safe.toml"]);
    assert!(raw[0].over_lending_ticks >= 20, "{:?}", raw[0]);
    assert_eq!(peak[0].over_lending_ticks, 0, "{:?}", peak[0]);
    assert!(peak[0].slack_over_idle.unwrap() > 0.65, "{:?}", peak[0]);
}

#[test]
fn scoring_labels_that_keep_only_the_corrected_executors_lent_cpus_score_the_same() {
    // A closed loop with revocations; `serenity score` keeps of each tick's
    // `lent` only the executors corrected on that tick, so that its memory
    // does not grow with every best-effort executor of every tick.
    let files = ["estimator-safe.toml", "qos-starvation.toml"];
    let (full, text) = run("recurring-bursts", &files);
    let estimator = full.iter().find(|s| s.kind == "estimator").unwrap();
    assert!(estimator.revoked_cpus > 0.0, "{estimator:?}");
    let mut closed = Labels::for_closed_loop_score();
    let mut kept = 0;
    for (i, line) in text.lines().enumerate() {
        closed.push_line(i + 1, line).unwrap();
    }
    for t in closed.truth.iter().flatten() {
        kept += t.lent.len();
    }
    let (all, _) = load_labelled(&text).unwrap();
    let everything: usize = all.iter().flatten().map(|t| t.lent.len()).sum();
    assert!(kept < everything / 4, "{kept} of {everything} entries kept");
    let pruned = score_run(
        &closed.actions,
        &closed.truth,
        Loop::Closed,
        &ScoreOptions::default(),
    );
    assert_eq!(
        serde_json::to_string(&pruned).unwrap(),
        serde_json::to_string(&full).unwrap()
    );

    // Open loop: the kills come from a replay result; the same executors'
    // entries are kept at the ticks the result names them.
    let mut open = Labels::for_open_loop_score(&closed.actions);
    let mut unpruned = Labels::default();
    for (i, line) in text.lines().enumerate() {
        open.push_line(i + 1, line).unwrap();
        unpruned.push_line(i + 1, line).unwrap();
    }
    let score = |labels: &Labels| {
        serde_json::to_string(&score_run(
            &closed.actions,
            &labels.truth,
            Loop::Open,
            &ScoreOptions::default(),
        ))
        .unwrap()
    };
    assert_eq!(score(&open), score(&unpruned));
    assert!(score(&open).contains("\"revoked_cpus\""));
}
