//! The scorer: grades what pipelines did against a simulated trace's truth.
//! docs/replay.md states each definition; every figure has a test below on
//! a hand-made trace where it comes out non-zero.
//!
//! **Closed loop** (a trace from a closed-loop simulation, where a kill
//! removes the executor and ends its interference):
//! - every episode (each burst of interference, see [`episodes`]) is
//!   detected or missed on its own: detected when an aggressor of that
//!   episode is killed at a tick in [onset, end + grace), with grace =
//!   ⌊`grace_fraction` × the episode's length⌋ ticks, at most
//!   `max_grace_ticks`; its delay is the first such tick minus the onset;
//! - every correction is a kill, counted each time; a kill is *true* when
//!   it names an aggressor of an episode whose detection window holds that
//!   tick, and *false* otherwise (a non-aggressor, or outside any episode);
//!   none are excused.
//!
//! **Open loop** (a replay of a simulated trace: the trace keeps showing
//! interference after a kill, and a pipeline may name a killed executor
//! again): only the first correction naming an executor is a kill, and a
//! kill after an episode was resolved, within its window, is *excused*.
//! These rules flatter; they are kept to compare with earlier figures.
//!
//! **Estimators** (both loops): the slack advertised on tick t is in force
//! until the next estimate, over the `period_ticks` ticks t+1..=t+period.
//! What could be lent over that period is what production leaves idle by
//! its own demand on its worst tick, less what was already lent at t:
//! `future_idle(t) = min over the period of prod_idle_cpus − revocable_cpus(t)`,
//! floored at 0.
//! - **slack / idle**: mean slack over mean future idle (ticks with a
//!   period ahead; warm-up included);
//! - **over-lending**: ticks where slack > future idle + 0.01 CPU, and the
//!   amount: Σ over those ticks and their period of (slack − idle on that
//!   tick) × interval, in CPU·seconds;
//! - **revocations**: kills of best-effort executors (by any QoS pipeline
//!   of the run) and the CPUs they held: lent capacity later revoked.

use crate::actions::TickLine;
use crate::episodes::{episodes, Episode};
use crate::truth::Truth;
use serde::Serialize;
use std::collections::HashSet;

/// Over-lending tolerance, CPUs.
pub const OVER_LENDING_TOLERANCE: f64 = 0.01;

/// Whether pipelines ran in the loop or were replayed over a fixed trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Loop {
    /// Kills changed the trace (closed-loop simulation).
    Closed,
    /// Replay of a fixed trace.
    Open,
}

/// Scoring parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreOptions {
    /// Grace after an episode's end, as a fraction of its length.
    pub grace_fraction: f64,
    /// Longest grace, ticks (the open-loop rules use it as the grace).
    pub max_grace_ticks: usize,
    /// Ticks an estimate is in force (the estimate interval).
    pub period_ticks: usize,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            grace_fraction: 0.25,
            max_grace_ticks: 10,
            period_ticks: 1,
        }
    }
}

/// The grade of one pipeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PipelineScore {
    /// The pipeline's name.
    pub pipeline: String,
    /// `estimator` (it reported slack) or `qos`.
    pub kind: String,
    /// `closed` or `open`.
    pub loop_kind: String,
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
    /// Kills.
    pub kills: usize,
    /// Kills of aggressors inside an episode's detection window.
    pub true_kills: usize,
    /// Every other kill.
    pub false_kills: usize,
    /// False kills per 10 000 ticks.
    pub false_kills_per_10k_ticks: f64,
    /// Open loop only: kills after an episode was resolved, within its window.
    pub excused_kills: usize,
    /// Mean advertised slack, CPUs (estimators).
    pub mean_slack: Option<f64>,
    /// Mean future idle capacity on the same ticks, CPUs.
    pub mean_idle: Option<f64>,
    /// mean_slack / mean_idle.
    pub slack_over_idle: Option<f64>,
    /// Ticks where slack > future idle + tolerance.
    pub over_lending_ticks: usize,
    /// % of scored ticks that over-lent.
    pub over_lending_pct: Option<f64>,
    /// Amount over-lent, CPU·seconds.
    pub over_lent_cpu_seconds: f64,
    /// Kills of best-effort executors in the run (lent capacity revoked).
    pub revocations: usize,
    /// CPUs those executors held.
    pub revoked_cpus: f64,
    /// Σ slack and Σ future idle over the scored ticks, and their number
    /// (what aggregates are computed from).
    pub slack_sum: f64,
    /// Σ future idle over the scored ticks.
    pub idle_sum: f64,
    /// Ticks scored for slack.
    pub slack_ticks: usize,
}

/// One kill: the tick and the executor.
type Kill = (usize, String);

fn kills_of(lines: &[&TickLine], first_only: bool) -> Vec<Kill> {
    let mut kills = Vec::new();
    let mut seen = HashSet::new();
    for l in lines {
        for c in &l.corrections {
            if !first_only || seen.insert(c.executor_id.clone()) {
                kills.push((l.tick as usize, c.executor_id.clone()));
            }
        }
    }
    kills
}

/// Grades one pipeline's lines (tick order) against the truth. `run_kills`
/// are the kills of every QoS pipeline of the run (for revocations).
pub fn score_pipeline(
    name: &str,
    lines: &[&TickLine],
    truth: &[Option<Truth>],
    run_kills: &[(usize, String)],
    mode: Loop,
    opts: &ScoreOptions,
) -> PipelineScore {
    let is_estimator = lines.iter().any(|l| l.slack.is_some());
    let ticks = lines.len();
    let eps = episodes(truth);
    let mut s = PipelineScore {
        pipeline: name.to_owned(),
        kind: if is_estimator { "estimator" } else { "qos" }.into(),
        loop_kind: match mode {
            Loop::Closed => "closed",
            Loop::Open => "open",
        }
        .into(),
        ticks,
        episodes: eps.len(),
        ..Default::default()
    };
    let (delays, true_kills, false_kills, excused, kills) = match mode {
        Loop::Closed => grade_closed(&eps, &kills_of(lines, false), opts),
        Loop::Open => grade_open(&eps, &kills_of(lines, true), opts.max_grace_ticks),
    };
    s.detected = delays.iter().filter(|d| d.is_some()).count();
    s.missed = eps.len() - s.detected;
    s.delays = delays.into_iter().flatten().collect();
    s.mean_delay = (!s.delays.is_empty())
        .then(|| s.delays.iter().sum::<usize>() as f64 / s.delays.len() as f64);
    s.max_delay = s.delays.iter().max().copied();
    s.kills = kills;
    s.true_kills = true_kills;
    s.false_kills = false_kills;
    s.excused_kills = excused;
    s.false_kills_per_10k_ticks = per_10k(false_kills, ticks);
    if is_estimator {
        grade_slack(&mut s, lines, truth, opts);
        s.revocations = run_kills.len();
        s.revoked_cpus = run_kills
            .iter()
            .filter_map(|(t, x)| truth.get(*t)?.as_ref()?.lent.get(x).copied())
            .fold(0.0, |a, b| a + b);
    }
    s
}

fn per_10k(n: usize, ticks: usize) -> f64 {
    if ticks > 0 {
        n as f64 * 10_000.0 / ticks as f64
    } else {
        0.0
    }
}

type Grades = (Vec<Option<usize>>, usize, usize, usize, usize);

fn grade_closed(eps: &[Episode], kills: &[Kill], opts: &ScoreOptions) -> Grades {
    let window = |e: &Episode| e.onset..e.end + e.grace(opts.grace_fraction, opts.max_grace_ticks);
    let delays = eps
        .iter()
        .map(|e| {
            let w = window(e);
            kills
                .iter()
                .find(|(t, x)| w.contains(t) && e.aggressors.contains(x))
                .map(|(t, _)| t - e.onset)
        })
        .collect();
    let true_kills = kills
        .iter()
        .filter(|(t, x)| {
            eps.iter()
                .any(|e| window(e).contains(t) && e.aggressors.contains(x))
        })
        .count();
    (delays, true_kills, kills.len() - true_kills, 0, kills.len())
}

fn grade_open(eps: &[Episode], kills: &[Kill], grace: usize) -> Grades {
    let resolved: Vec<Option<usize>> = eps
        .iter()
        .map(|e| {
            kills
                .iter()
                .find(|(t, x)| *t >= e.onset && *t < e.end + grace && e.aggressors.contains(x))
                .map(|(t, _)| *t)
        })
        .collect();
    let (mut true_kills, mut false_kills, mut excused) = (0, 0, 0);
    for (t, x) in kills {
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
    let delays = eps
        .iter()
        .zip(&resolved)
        .map(|(e, r)| r.map(|r| r - e.onset))
        .collect();
    (delays, true_kills, false_kills, excused, kills.len())
}

fn grade_slack(
    s: &mut PipelineScore,
    lines: &[&TickLine],
    truth: &[Option<Truth>],
    opts: &ScoreOptions,
) {
    let period = opts.period_ticks.max(1);
    let mut over_ticks = 0;
    let mut over_cpu_s = 0.0;
    let (mut slack_sum, mut idle_sum, mut n) = (0.0, 0.0, 0usize);
    for l in lines {
        let (Some(slack), Some(Some(now))) = (l.slack, truth.get(l.tick as usize)) else {
            continue;
        };
        let t = l.tick as usize;
        let ahead: Vec<&Truth> = (t + 1..=t + period)
            .filter_map(|u| truth.get(u)?.as_ref())
            .collect();
        if ahead.is_empty() {
            continue;
        }
        let idle_at = |u: &Truth| (u.prod_idle_cpus - now.revocable_cpus).max(0.0);
        let future = ahead
            .iter()
            .map(|u| idle_at(u))
            .fold(f64::INFINITY, f64::min);
        slack_sum += slack.cpus;
        idle_sum += future;
        n += 1;
        if slack.cpus > future + OVER_LENDING_TOLERANCE {
            over_ticks += 1;
            over_cpu_s += ahead
                .iter()
                .map(|u| (slack.cpus - idle_at(u)).max(0.0) * u.interval_secs)
                .sum::<f64>();
        }
    }
    s.slack_sum = slack_sum;
    s.idle_sum = idle_sum;
    s.slack_ticks = n;
    s.over_lending_ticks = over_ticks;
    s.over_lent_cpu_seconds = over_cpu_s;
    if n > 0 {
        s.mean_slack = Some(slack_sum / n as f64);
        s.mean_idle = Some(idle_sum / n as f64);
        s.slack_over_idle = (idle_sum > 0.0).then_some(slack_sum / idle_sum);
        s.over_lending_pct = Some(over_ticks as f64 * 100.0 / n as f64);
    }
}

/// Grades every pipeline of one run. `lines` hold every pipeline's lines
/// (any order); pipelines are named as in the run, `name (with other)`
/// when several ran together.
pub fn score_run(
    lines: &[TickLine],
    truth: &[Option<Truth>],
    mode: Loop,
    opts: &ScoreOptions,
) -> Vec<PipelineScore> {
    let mut names: Vec<String> = Vec::new();
    for l in lines {
        if !names.contains(&l.pipeline) {
            names.push(l.pipeline.clone());
        }
    }
    let mut mine: Vec<Vec<&TickLine>> = names
        .iter()
        .map(|n| lines.iter().filter(|l| &l.pipeline == n).collect())
        .collect();
    for m in &mut mine {
        m.sort_by_key(|l| l.tick);
    }
    let run_kills: Vec<(usize, String)> = mine
        .iter()
        .filter(|m| !m.iter().any(|l| l.slack.is_some()))
        .flat_map(|m| kills_of(m, mode == Loop::Open))
        .collect();
    names
        .iter()
        .zip(&mine)
        .map(|(n, m)| {
            if m.len() != truth.len() {
                log::warn!(
                    "pipeline {n} has {} ticks but the trace has {} records; was the result made from this trace?",
                    m.len(),
                    truth.len()
                );
            }
            let mut s = score_pipeline(n, m, truth, &run_kills, mode, opts);
            if names.len() > 1 {
                let others: Vec<&str> = names.iter().filter(|o| *o != n).map(String::as_str).collect();
                s.pipeline = format!("{n} (with {})", others.join(" + "));
            }
            s
        })
        .collect()
}

/// The aggregate of one pipeline's scores over several scenarios: counts
/// and amounts summed, delays pooled, slack / idle as Σ slack / Σ idle.
pub fn aggregate(scores: &[&PipelineScore]) -> Option<PipelineScore> {
    let first = scores.first()?;
    let mut a = PipelineScore {
        pipeline: first.pipeline.clone(),
        kind: first.kind.clone(),
        loop_kind: first.loop_kind.clone(),
        ..Default::default()
    };
    for s in scores {
        a.ticks += s.ticks;
        a.episodes += s.episodes;
        a.detected += s.detected;
        a.missed += s.missed;
        a.delays.extend(&s.delays);
        a.kills += s.kills;
        a.true_kills += s.true_kills;
        a.false_kills += s.false_kills;
        a.excused_kills += s.excused_kills;
        a.over_lending_ticks += s.over_lending_ticks;
        a.over_lent_cpu_seconds += s.over_lent_cpu_seconds;
        a.revocations += s.revocations;
        a.revoked_cpus += s.revoked_cpus;
        a.slack_sum += s.slack_sum;
        a.idle_sum += s.idle_sum;
        a.slack_ticks += s.slack_ticks;
    }
    a.mean_delay = (!a.delays.is_empty())
        .then(|| a.delays.iter().sum::<usize>() as f64 / a.delays.len() as f64);
    a.max_delay = a.delays.iter().max().copied();
    a.false_kills_per_10k_ticks = per_10k(a.false_kills, a.ticks);
    if a.slack_ticks > 0 {
        let n = a.slack_ticks as f64;
        a.mean_slack = Some(a.slack_sum / n);
        a.mean_idle = Some(a.idle_sum / n);
        a.slack_over_idle = (a.idle_sum > 0.0).then_some(a.slack_sum / a.idle_sum);
        a.over_lending_pct = Some(a.over_lending_ticks as f64 * 100.0 / n);
    }
    Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{CorrectionLine, SlackLine};

    /// A truth of `n` ticks with interference of event 0 by `aggressor` on
    /// the ticks of `on`; production leaves 2 CPUs idle.
    fn truth_with(n: usize, on: &[(usize, usize)], aggressor: &str) -> Vec<Option<Truth>> {
        (0..n)
            .map(|t| {
                let active = on.iter().any(|&(a, b)| (a..b).contains(&t));
                Some(Truth {
                    interference: active,
                    onset: on.iter().any(|&(a, _)| a == t),
                    idle_cpus: 2.0,
                    prod_idle_cpus: 2.0,
                    interval_secs: 2.0,
                    aggressors: if active {
                        vec![aggressor.into()]
                    } else {
                        vec![]
                    },
                    events: if active { vec![0] } else { vec![] },
                    ..Default::default()
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

    fn closed(truth: &[Option<Truth>], l: &[TickLine]) -> PipelineScore {
        let refs: Vec<&TickLine> = l.iter().collect();
        score_pipeline(
            "p",
            &refs,
            truth,
            &[],
            Loop::Closed,
            &ScoreOptions::default(),
        )
    }

    fn open(truth: &[Option<Truth>], l: &[TickLine]) -> PipelineScore {
        let refs: Vec<&TickLine> = l.iter().collect();
        score_pipeline("p", &refs, truth, &[], Loop::Open, &ScoreOptions::default())
    }

    #[test]
    fn delay_counts_from_onset_to_the_first_aggressor_kill() {
        let t = truth_with(100, &[(40, 60)], "be-1");
        let s = closed(&t, &lines(100, &[(43, "be-1")], None));
        assert_eq!((s.detected, s.missed, s.delays.clone()), (1, 0, vec![3]));
        assert_eq!(s.mean_delay, Some(3.0));
        assert_eq!((s.kills, s.true_kills, s.false_kills), (1, 1, 0));
    }

    #[test]
    fn every_burst_is_an_episode_detected_or_missed_on_its_own() {
        // Nine bursts of 4 ticks; the aggressor is killed at the onset of
        // the first eight (relaunched in between) and not in the ninth.
        let bursts: Vec<(usize, usize)> = (0..9).map(|i| (20 + i * 20, 24 + i * 20)).collect();
        let t = truth_with(300, &bursts, "be-1");
        let kills: Vec<(usize, &str)> = bursts[..8].iter().map(|b| (b.0, "be-1")).collect();
        let s = closed(&t, &lines(300, &kills, None));
        assert_eq!((s.episodes, s.detected, s.missed), (9, 8, 1));
        assert_eq!((s.true_kills, s.false_kills), (8, 0));
        // The open-loop rule counts only the first kill of an executor.
        let o = open(&t, &lines(300, &kills, None));
        assert_eq!((o.detected, o.missed), (1, 8));
    }

    #[test]
    fn a_kill_after_a_short_burst_and_its_grace_misses_it_and_is_false() {
        // A 4-tick burst has a grace of one tick (0.25 × 4): a kill two
        // ticks after its end detects nothing, where a fixed 10-tick grace
        // would have counted it.
        let t = truth_with(100, &[(40, 44)], "be-1");
        let s = closed(&t, &lines(100, &[(45, "be-1")], None));
        assert_eq!((s.detected, s.missed, s.false_kills), (0, 1, 1));
        let s = closed(&t, &lines(100, &[(44, "be-1")], None));
        assert_eq!((s.detected, s.delays.clone()), (1, vec![4]));
    }

    #[test]
    fn every_false_kill_counts_each_time_in_closed_loop() {
        // The same innocent job named in three windows: three false kills.
        let t = truth_with(10_000, &[(40, 60)], "be-1");
        let s = closed(
            &t,
            &lines(
                10_000,
                &[(45, "be-1"), (45, "be-2"), (500, "be-2"), (900, "be-2")],
                None,
            ),
        );
        assert_eq!((s.true_kills, s.false_kills, s.excused_kills), (1, 3, 0));
        assert!((s.false_kills_per_10k_ticks - 3.0).abs() < 1e-9);
        let o = open(
            &t,
            &lines(10_000, &[(45, "be-1"), (45, "be-2"), (500, "be-2")], None),
        );
        assert_eq!(o.false_kills, 1, "open loop collapses repeats");
    }

    #[test]
    fn a_kill_of_an_innocent_after_the_episode_is_resolved_is_false_not_excused() {
        let t = truth_with(100, &[(40, 60)], "be-1");
        let s = closed(&t, &lines(100, &[(42, "be-1"), (55, "be-2")], None));
        assert_eq!((s.true_kills, s.excused_kills, s.false_kills), (1, 0, 1));
        let o = open(&t, &lines(100, &[(42, "be-1"), (55, "be-2")], None));
        assert_eq!((o.excused_kills, o.false_kills), (1, 0));
    }

    #[test]
    fn slack_above_what_production_leaves_idle_next_period_is_over_lending() {
        // Production leaves 2 CPUs idle except on tick 11, when it needs
        // all but 0.5: the 1.5 CPUs advertised on tick 10 are over-lent by
        // 1 CPU for one 2 s interval, although on tick 10 itself they were idle.
        let mut t = truth_with(20, &[], "x");
        if let Some(tr) = t[11].as_mut() {
            tr.prod_idle_cpus = 0.5;
        }
        let s = closed(&t, &lines(20, &[], Some(1.5)));
        assert_eq!(s.kind, "estimator");
        assert_eq!(s.over_lending_ticks, 1);
        assert!(
            (s.over_lent_cpu_seconds - 2.0).abs() < 1e-9,
            "{}",
            s.over_lent_cpu_seconds
        );
        // 19 ticks have a period ahead; idle is 2 on 18 of them and 0.5 on one.
        assert_eq!(s.slack_ticks, 19);
        let ratio = s.slack_over_idle.unwrap();
        assert!(
            (ratio - 1.5 * 19.0 / (2.0 * 18.0 + 0.5)).abs() < 1e-9,
            "{ratio}"
        );
    }

    #[test]
    fn capacity_already_lent_is_not_idle() {
        let mut t = truth_with(20, &[], "x");
        for tr in t.iter_mut().flatten() {
            tr.revocable_cpus = 1.5;
        }
        // 2 idle − 1.5 lent = 0.5 left; advertising 1 more over-lends every tick.
        let s = closed(&t, &lines(20, &[], Some(1.0)));
        assert_eq!(s.over_lending_ticks, 19);
        assert_eq!(s.mean_idle, Some(0.5));
    }

    #[test]
    fn lent_capacity_later_revoked_is_counted_with_its_cpus() {
        let mut t = truth_with(50, &[(20, 30)], "be-1");
        for tr in t.iter_mut().flatten() {
            tr.lent.insert("be-1".into(), 1.5);
        }
        let mut all = lines(50, &[], Some(0.2));
        all.iter_mut().for_each(|l| l.pipeline = "est".into());
        let mut qos = lines(50, &[(22, "be-1")], None);
        qos.iter_mut().for_each(|l| l.pipeline = "qos".into());
        all.extend(qos);
        let scores = score_run(&all, &t, Loop::Closed, &ScoreOptions::default());
        assert_eq!(scores[0].pipeline, "est (with qos)");
        assert_eq!((scores[0].revocations, scores[0].revoked_cpus), (1, 1.5));
        assert_eq!(scores[1].detected, 1);
    }

    #[test]
    fn aggregates_sum_counts_and_pool_delays() {
        let t = truth_with(100, &[(40, 60)], "be-1");
        let a = closed(&t, &lines(100, &[(42, "be-1")], None));
        let b = closed(&t, &lines(100, &[(46, "be-1"), (80, "be-2")], None));
        let g = aggregate(&[&a, &b]).unwrap();
        assert_eq!(
            (g.ticks, g.episodes, g.detected, g.false_kills),
            (200, 2, 2, 1)
        );
        assert_eq!(g.mean_delay, Some(4.0));
        assert_eq!(g.max_delay, Some(6));
        assert!((g.false_kills_per_10k_ticks - 50.0).abs() < 1e-9);
    }
}
