//! `serenity score`: grade a replay against a simulated trace's truth.
//!
//! An *episode* is a maximal run of ticks on which one scripted event is
//! active (its aggressors present, inside its window); its onset is the
//! first such tick. A *kill* is the first correction naming an executor in a
//! pipeline's output: a replay cannot remove the executor from the trace,
//! so later corrections of the same executor would be of a dead one and are
//! ignored.
//!
//! The replay is open loop: the trace goes on showing interference after the
//! aggressor was killed. Scoring assumes recovery from the kill tick on:
//! - an episode is *detected* by the first kill of one of its aggressors at
//!   a tick in [onset, end + grace); the detection delay is that tick minus
//!   the onset; the episode is *resolved* then;
//! - an episode with no such kill is *missed*;
//! - a kill is *true* when it names an aggressor of an episode that is on
//!   (or within the grace after its end) and not yet resolved before that
//!   tick; kills on the resolution tick itself that name other executors are
//!   false (e.g. `kill_all` taking innocent best-effort work along);
//! - a kill after an episode was resolved and before its end + grace is
//!   *excused*: the replay showed interference that the kill had ended, so
//!   it says nothing about the pipeline; these are reported, not counted;
//! - every other kill is *false*; false kills are given per 10 000 ticks.
//!
//! Slack (estimator pipelines): mean advertised slack over mean true idle
//! capacity on the ticks where both are known, and the share of those ticks
//! where the slack exceeded the idle capacity by more than 0.01 CPU
//! (over-lending).

use crate::cli::{ReportFormat, ScoreArgs};
use crate::output::TickLine;
use crate::truth::{load_truth, Truth};
use anyhow::Context;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;

/// Over-lending tolerance, CPUs.
pub const OVER_LENDING_TOLERANCE: f64 = 0.01;

/// One interference episode from the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The scenario event's index.
    pub event: usize,
    /// First tick.
    pub onset: usize,
    /// First tick after.
    pub end: usize,
    /// Aggressors seen during the episode.
    pub aggressors: Vec<String>,
}

/// Splits the truth into episodes, in onset order.
pub fn episodes(truth: &[Option<Truth>]) -> Vec<Episode> {
    let mut open: BTreeMap<usize, Episode> = BTreeMap::new();
    let mut done = Vec::new();
    for (t, tr) in truth.iter().enumerate() {
        let active: Vec<usize> = tr.as_ref().map(|x| x.events.clone()).unwrap_or_default();
        let ended: Vec<usize> = open
            .keys()
            .filter(|e| !active.contains(e))
            .copied()
            .collect();
        for e in ended {
            if let Some(mut ep) = open.remove(&e) {
                ep.end = t;
                done.push(ep);
            }
        }
        for e in active {
            let ep = open.entry(e).or_insert_with(|| Episode {
                event: e,
                onset: t,
                end: t + 1,
                aggressors: Vec::new(),
            });
            if let Some(tr) = tr {
                for a in &tr.aggressors {
                    if !ep.aggressors.contains(a) {
                        ep.aggressors.push(a.clone());
                    }
                }
            }
        }
    }
    for (_, mut ep) in open {
        ep.end = truth.len();
        done.push(ep);
    }
    done.sort_by_key(|e| (e.onset, e.event));
    done
}

/// The grade of one pipeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PipelineScore {
    /// The pipeline's name.
    pub pipeline: String,
    /// `estimator` (it reported slack) or `qos`.
    pub kind: String,
    /// Ticks in the result.
    pub ticks: usize,
    /// Episodes in the truth.
    pub episodes: usize,
    /// Episodes detected.
    pub detected: usize,
    /// Episodes missed.
    pub missed: usize,
    /// Detection delays, ticks, in episode order.
    pub delays: Vec<usize>,
    /// Mean detection delay, ticks.
    pub mean_delay: Option<f64>,
    /// Largest detection delay, ticks.
    pub max_delay: Option<usize>,
    /// Kills (first correction per executor).
    pub kills: usize,
    /// Kills of aggressors of unresolved episodes.
    pub true_kills: usize,
    /// Kills outside episodes or of non-aggressors.
    pub false_kills: usize,
    /// False kills per 10 000 ticks.
    pub false_kills_per_10k_ticks: f64,
    /// Kills in the counterfactual tail after an episode was resolved.
    pub excused_kills: usize,
    /// Mean advertised slack, CPUs (estimators).
    pub mean_slack: Option<f64>,
    /// Mean true idle capacity on the same ticks, CPUs.
    pub mean_idle: Option<f64>,
    /// mean_slack / mean_idle.
    pub slack_over_idle: Option<f64>,
    /// % of ticks where slack > idle + tolerance.
    pub over_lending_pct: Option<f64>,
}

/// Grades one pipeline's lines (tick order) against the truth.
pub fn score_pipeline(
    name: &str,
    lines: &[&TickLine],
    truth: &[Option<Truth>],
    grace: usize,
) -> PipelineScore {
    let eps = episodes(truth);
    let is_estimator = lines.iter().any(|l| l.slack.is_some());
    let mut kills: Vec<(usize, String)> = Vec::new();
    let mut seen = HashSet::new();
    for l in lines {
        for c in &l.corrections {
            if seen.insert(c.executor_id.clone()) {
                kills.push((l.tick as usize, c.executor_id.clone()));
            }
        }
    }
    // Resolution of each episode: first kill of an aggressor in the window.
    let resolved: Vec<Option<usize>> = eps
        .iter()
        .map(|e| {
            kills
                .iter()
                .find(|(t, x)| *t >= e.onset && *t < e.end + grace && e.aggressors.contains(x))
                .map(|(t, _)| *t)
        })
        .collect();
    let mut true_kills = 0;
    let mut false_kills = 0;
    let mut excused = 0;
    for (t, x) in &kills {
        let t = *t;
        let is_true = eps.iter().zip(&resolved).any(|(e, r)| {
            t >= e.onset
                && t < e.end + grace
                && r.is_none_or(|r| t <= r)
                && e.aggressors.contains(x)
        });
        let is_excused = eps
            .iter()
            .zip(&resolved)
            .any(|(e, r)| r.is_some_and(|r| t > r && t < e.end + grace));
        if is_true {
            true_kills += 1;
        } else if is_excused {
            excused += 1;
        } else {
            false_kills += 1;
        }
    }
    let delays: Vec<usize> = eps
        .iter()
        .zip(&resolved)
        .filter_map(|(e, r)| r.map(|r| r - e.onset))
        .collect();
    let ticks = lines.len();
    let mut s = PipelineScore {
        pipeline: name.to_owned(),
        kind: if is_estimator { "estimator" } else { "qos" }.into(),
        ticks,
        episodes: eps.len(),
        detected: delays.len(),
        missed: eps.len() - delays.len(),
        mean_delay: (!delays.is_empty())
            .then(|| delays.iter().sum::<usize>() as f64 / delays.len() as f64),
        max_delay: delays.iter().max().copied(),
        delays,
        kills: kills.len(),
        true_kills,
        false_kills,
        false_kills_per_10k_ticks: if ticks > 0 {
            false_kills as f64 * 10_000.0 / ticks as f64
        } else {
            0.0
        },
        excused_kills: excused,
        ..Default::default()
    };
    if is_estimator {
        let pairs: Vec<(f64, f64)> = lines
            .iter()
            .filter_map(|l| {
                let slack = l.slack?.cpus;
                let idle = truth.get(l.tick as usize)?.as_ref()?.idle_cpus;
                Some((slack, idle))
            })
            .collect();
        if !pairs.is_empty() {
            let n = pairs.len() as f64;
            let ms = pairs.iter().map(|p| p.0).sum::<f64>() / n;
            let mi = pairs.iter().map(|p| p.1).sum::<f64>() / n;
            s.mean_slack = Some(ms);
            s.mean_idle = Some(mi);
            s.slack_over_idle = (mi > 0.0).then_some(ms / mi);
            let over = pairs
                .iter()
                .filter(|(sl, id)| *sl > id + OVER_LENDING_TOLERANCE)
                .count();
            s.over_lending_pct = Some(over as f64 * 100.0 / n);
        }
    }
    s
}

/// Reads a replay result (JSON Lines of [`TickLine`]).
pub fn read_result(text: &str) -> anyhow::Result<Vec<TickLine>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("result line {}", i + 1)))
        .collect()
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |v| format!("{v:.digits$}"))
}

/// The Markdown header of QoS rows ([`markdown_row`]).
pub const MARKDOWN_HEADER_QOS: &str = "| scenario | pipeline | episodes | detected | missed | mean delay (ticks) | max delay (ticks) | kills | false kills | false kills / 10k ticks | excused kills |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/// The Markdown header of estimator rows ([`markdown_row`]).
pub const MARKDOWN_HEADER_ESTIMATOR: &str = "| scenario | pipeline | mean slack (CPUs) | mean true idle (CPUs) | slack / idle | over-lending % of ticks |\n|---|---|---:|---:|---:|---:|";

/// One Markdown row, in the layout of the pipeline's kind.
pub fn markdown_row(label: &str, s: &PipelineScore) -> String {
    if s.kind == "qos" {
        format!(
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} |",
            s.pipeline,
            s.episodes,
            s.detected,
            s.missed,
            opt(s.mean_delay, 1),
            s.max_delay.map_or("—".into(), |d| d.to_string()),
            s.kills,
            s.false_kills,
            s.false_kills_per_10k_ticks,
            s.excused_kills,
        )
    } else {
        format!(
            "| {label} | {} | {} | {} | {} | {} |",
            s.pipeline,
            opt(s.mean_slack, 2),
            opt(s.mean_idle, 2),
            opt(s.slack_over_idle, 2),
            opt(s.over_lending_pct, 1),
        )
    }
}

/// Runs `serenity score`.
pub fn run(args: &ScoreArgs) -> anyhow::Result<ExitCode> {
    let trace = std::fs::read_to_string(&args.trace)
        .with_context(|| format!("cannot read trace {}", args.trace.display()))?;
    let truth =
        load_truth(&trace).map_err(|e| anyhow::anyhow!("trace {}: {e}", args.trace.display()))?;
    if !truth.iter().any(Option::is_some) {
        anyhow::bail!(
            "trace {} has no ground truth (`truth` keys); score needs a trace from `serenity simulate`",
            args.trace.display()
        );
    }
    let result = std::fs::read_to_string(&args.result)
        .with_context(|| format!("cannot read result {}", args.result.display()))?;
    let lines =
        read_result(&result).with_context(|| format!("result {}", args.result.display()))?;
    let mut names: Vec<String> = Vec::new();
    for l in &lines {
        if !names.contains(&l.pipeline) {
            names.push(l.pipeline.clone());
        }
    }
    let scores: Vec<PipelineScore> = names
        .iter()
        .map(|n| {
            let mine: Vec<&TickLine> = lines.iter().filter(|l| &l.pipeline == n).collect();
            if mine.len() != truth.len() {
                log::warn!(
                    "pipeline {n} has {} ticks but the trace has {} records; was the result made from this trace?",
                    mine.len(),
                    truth.len()
                );
            }
            let mut s = score_pipeline(n, &mine, &truth, args.grace_ticks);
            if names.len() > 1 {
                let others: Vec<&str> = names.iter().filter(|o| *o != n).map(String::as_str).collect();
                s.pipeline = format!("{n} (with {})", others.join(" + "));
            }
            s
        })
        .collect();
    let label = args.label.clone().unwrap_or_else(|| {
        args.trace
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let mut text = String::new();
    match args.output {
        ReportFormat::Json => {
            text = serde_json::to_string_pretty(
                &serde_json::json!({"label": label, "grace_ticks": args.grace_ticks, "pipelines": scores}),
            )?;
            text.push('\n');
        }
        ReportFormat::Markdown => {
            let want = args.kind.map(|k| k.as_str());
            if args.header {
                match args.kind {
                    Some(crate::cli::ScoreKind::Estimator) => {
                        text.push_str(&format!("{MARKDOWN_HEADER_ESTIMATOR}\n"))
                    }
                    _ => text.push_str(&format!("{MARKDOWN_HEADER_QOS}\n")),
                }
            }
            for s in scores.iter().filter(|s| want.is_none_or(|k| s.kind == k)) {
                text.push_str(&markdown_row(&label, s));
                text.push('\n');
            }
        }
        ReportFormat::Table => {
            let mut t = crate::output::Table::new(
                [
                    "pipeline",
                    "kind",
                    "ticks",
                    "episodes",
                    "detected",
                    "missed",
                    "mean delay",
                    "max delay",
                    "kills",
                    "false",
                    "false/10k",
                    "excused",
                    "slack/idle",
                    "over-lending %",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            );
            for s in &scores {
                t.push(vec![
                    s.pipeline.clone(),
                    s.kind.clone(),
                    s.ticks.to_string(),
                    s.episodes.to_string(),
                    s.detected.to_string(),
                    s.missed.to_string(),
                    opt(s.mean_delay, 1),
                    s.max_delay.map_or("—".into(), |d| d.to_string()),
                    s.kills.to_string(),
                    s.false_kills.to_string(),
                    format!("{:.1}", s.false_kills_per_10k_ticks),
                    s.excused_kills.to_string(),
                    opt(s.slack_over_idle, 2),
                    opt(s.over_lending_pct, 1),
                ]);
            }
            text = t.render();
        }
    }
    crate::output::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{CorrectionLine, SlackLine};

    fn truth_with(n: usize, on: std::ops::Range<usize>, aggressor: &str) -> Vec<Option<Truth>> {
        (0..n)
            .map(|t| {
                let active = on.contains(&t);
                Some(Truth {
                    interference: active,
                    onset: t == on.start,
                    idle_cpus: 2.0,
                    aggressors: if active {
                        vec![aggressor.into()]
                    } else {
                        vec![]
                    },
                    victims: vec![],
                    events: if active { vec![0] } else { vec![] },
                })
            })
            .collect()
    }

    fn lines(n: usize, kills: &[(usize, &str)], slack: Option<f64>) -> Vec<TickLine> {
        (0..n)
            .map(|t| TickLine {
                tick: t as u64,
                timestamp: Some(t as f64),
                pipeline: "p".into(),
                slack: slack.map(|c| SlackLine {
                    cpus: c,
                    mem_bytes: 0,
                }),
                contentions: vec![],
                corrections: kills
                    .iter()
                    .filter(|(k, _)| *k == t)
                    .map(|(_, x)| CorrectionLine {
                        framework_id: "f".into(),
                        executor_id: (*x).into(),
                        container_id: None,
                        reason: "r".into(),
                    })
                    .collect(),
                stopped_by: None,
            })
            .collect()
    }

    fn score(truth: &[Option<Truth>], l: &[TickLine]) -> PipelineScore {
        let refs: Vec<&TickLine> = l.iter().collect();
        score_pipeline("p", &refs, truth, 10)
    }

    #[test]
    fn episodes_split_on_gaps_and_collect_aggressors() {
        let mut t = truth_with(30, 5..10, "a");
        t[20] = Some(Truth {
            events: vec![0],
            aggressors: vec!["b".into()],
            ..Default::default()
        });
        let e = episodes(&t);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].onset, e[0].end), (5, 10));
        assert_eq!(
            (e[1].onset, e[1].end, e[1].aggressors.clone()),
            (20, 21, vec!["b".to_string()])
        );
    }

    #[test]
    fn delay_counts_from_onset_to_the_first_aggressor_kill() {
        let t = truth_with(100, 40..60, "be-1");
        let s = score(&t, &lines(100, &[(43, "be-1"), (50, "be-1")], None));
        assert_eq!((s.detected, s.missed, s.delays.clone()), (1, 0, vec![3]));
        assert_eq!((s.kills, s.true_kills, s.false_kills), (1, 1, 0));
    }

    #[test]
    fn innocent_kills_and_kills_outside_episodes_are_false() {
        let t = truth_with(10_000, 40..60, "be-1");
        // kill_all style: aggressor and an innocent on the same tick, plus a
        // kill long after the episode.
        let s = score(
            &t,
            &lines(10_000, &[(45, "be-1"), (45, "be-2"), (500, "be-3")], None),
        );
        assert_eq!((s.true_kills, s.false_kills, s.excused_kills), (1, 2, 0));
        assert!((s.false_kills_per_10k_ticks - 2.0).abs() < 1e-9);
    }

    #[test]
    fn kills_after_resolution_within_the_episode_are_excused() {
        let t = truth_with(100, 40..60, "be-1");
        let s = score(
            &t,
            &lines(
                100,
                &[(42, "be-1"), (55, "be-2"), (65, "be-3"), (80, "be-4")],
                None,
            ),
        );
        assert_eq!((s.true_kills, s.excused_kills, s.false_kills), (1, 2, 1));
    }

    #[test]
    fn a_late_kill_within_grace_still_detects_and_one_after_it_misses() {
        let t = truth_with(100, 40..60, "be-1");
        assert_eq!(
            score(&t, &lines(100, &[(69, "be-1")], None)).delays,
            vec![29]
        );
        let s = score(&t, &lines(100, &[(70, "be-1")], None));
        assert_eq!((s.detected, s.missed, s.false_kills), (0, 1, 1));
    }

    #[test]
    fn slack_is_compared_with_true_idle() {
        let t = truth_with(50, 0..0, "x");
        let s = score(&t, &lines(50, &[], Some(1.0)));
        assert_eq!(s.kind, "estimator");
        assert_eq!(s.slack_over_idle, Some(0.5));
        assert_eq!(s.over_lending_pct, Some(0.0));
        let s = score(&t, &lines(50, &[], Some(3.0)));
        assert_eq!(s.over_lending_pct, Some(100.0));
    }
}
