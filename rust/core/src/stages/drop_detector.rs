//! `drop_detector`: per production executor, detects a drop of a signal
//! (IPC by default) with the original's checkpoint-voting analyzer.
//!
//! Original: SignalBasedDetector driving a SignalDropAnalyzer
//! ("AssuranceDropAnalyzer"), spec/serenity.md §2.11 and §2.12, reproduced
//! exactly:
//!
//! - cp = number of binary digits of the window size W, at most
//!   `max_checkpoints`; the checkpoints are the samples 2^(cp−1), …, 4, 2, 1
//!   ticks before the incoming one (W=10, MAXCP=3 → lags {4, 2, 1}).
//! - quorum = ⌊Q·cp⌋; when that is 0 or more than cp, every checkpoint must
//!   vote (W=10, MAXCP=3, Q=0.7 → 2 of 3).
//! - The incoming sample x is floored at 0.1; the window starts filled with
//!   1e-5, so a checkpoint that does not hold a real sample yet never votes.
//! - Voting: checkpoint value b votes when d = 1 − x/b ≥ `fractional_threshold`.
//!   With at least `quorum` votes the analyzer remembers V = mean of the
//!   voting b's and reports a detection of severity mean(d)·`severity_fraction`.
//! - Tracking: while V is set, every sample below (1 − `near_fraction`)·V is a
//!   detection of severity ((1 − NF)·V − x)·`severity_fraction`; the first sample
//!   at or above it clears V and votes again. This is the original's "QoS
//!   guarantee": contention persists until the signal recovers.
//! - A severity is reported only when positive, so the default
//!   `severity_fraction = −1` means "severity unknown".
//! - After evaluation x enters the window and the oldest sample leaves.
//!
//! The stage keeps one analyzer per selected production executor that has
//! the `input` signal; an analyzer is created the first time it sees the
//! executor with a value and that tick is skipped, as in the original. A
//! detection while no best-effort executor exists is a false positive (no
//! best-effort work can be the cause): tracking is reset and no contention is
//! raised. A detection otherwise raises a contention naming the production
//! executor as victim, with unit `fraction`.
//!
//! Deliberate differences: `max_checkpoints = 0` and `window_size = 0` are
//! configuration errors (the original's setup arithmetic underflows); a
//! non-finite sample is ignored instead of being floored (the stage never
//! passes one; the scalar analyzer guards itself); analyzers are forgotten
//! with their executor (the original's map grew forever).

use super::BuildContext;
use crate::config::reader::{at_least_one, non_negative};
use crate::config::ParamReader;
use crate::executors::SlotMap;
use crate::signal::SignalId;
use crate::stage::Stage;
use crate::tick::{Contention, Flow, SeverityUnit, Tick};
use std::collections::VecDeque;
use std::sync::Arc;

/// Samples are floored at this value before analysis (the original's floor).
pub const INPUT_FLOOR: f64 = 0.1;
/// The value the analyzer's window starts filled with.
pub const WINDOW_START: f64 = 0.00001;

/// Parameters of `drop_detector` (the original's `AssuranceDropAnalyzer`
/// section, same defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct DropParams {
    /// Signal watched (default `ipc`; the shipped pipeline uses `ipc_ema`).
    pub input: SignalId,
    /// W: samples kept (`window_size`, default 10, at least 1).
    pub window_size: u64,
    /// MAXCP: at most this many checkpoints (`max_checkpoints`, default 3, at least 1).
    pub max_checkpoints: u64,
    /// Q: fraction of checkpoints that must vote (`quorum`, default 0.7).
    pub quorum: f64,
    /// FT: relative drop a checkpoint votes for (`fractional_threshold`, default 0.5).
    pub fractional_threshold: f64,
    /// NF: the signal has recovered within this fraction of its pre-drop
    /// level (`near_fraction`, default 0.1).
    pub near_fraction: f64,
    /// SF: severity multiplier; ≤ 0 means severity unknown
    /// (`severity_fraction`, default −1).
    pub severity_fraction: f64,
}

impl Default for DropParams {
    fn default() -> Self {
        DropParams {
            input: crate::signal::builtin::IPC,
            window_size: 10,
            max_checkpoints: 3,
            quorum: 0.7,
            fractional_threshold: 0.5,
            near_fraction: 0.1,
            severity_fraction: -1.0,
        }
    }
}

/// A drop reported by [`DropAnalyzer::update`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Raw severity × `severity_fraction`, when positive.
    pub severity: Option<f64>,
    /// True on the sample that started the drop (voting), false while tracking.
    pub onset: bool,
}

/// The original's SignalDropAnalyzer, usable alone.
#[derive(Debug, Clone, PartialEq)]
pub struct DropAnalyzer {
    window: VecDeque<f64>,
    lags: Vec<usize>,
    quorum: usize,
    fractional_threshold: f64,
    near_fraction: f64,
    severity_fraction: f64,
    value_before_drop: Option<f64>,
}

/// Number of binary digits of `w` (bit length): 8 → 4, 10 → 4, 16 → 5.
fn bit_length(w: u64) -> u64 {
    u64::from(u64::BITS - w.leading_zeros())
}

impl DropAnalyzer {
    /// An analyzer with the given parameters. `window_size` and
    /// `max_checkpoints` below 1 are raised to 1 (the stage rejects them).
    pub fn new(p: &DropParams) -> Self {
        let w = p.window_size.max(1);
        let cp = bit_length(w).min(p.max_checkpoints.max(1));
        let q = (p.quorum * cp as f64).floor();
        let quorum = if q < 1.0 || q > cp as f64 {
            cp
        } else {
            q as u64
        };
        let lags = (0..cp).rev().map(|k| 1usize << k).collect();
        DropAnalyzer {
            window: std::iter::repeat_n(WINDOW_START, w as usize).collect(),
            lags,
            quorum: quorum as usize,
            fractional_threshold: p.fractional_threshold,
            near_fraction: p.near_fraction,
            severity_fraction: p.severity_fraction,
            value_before_drop: None,
        }
    }

    /// The checkpoint lags, largest first (W=10, MAXCP=3 → [4, 2, 1]).
    pub fn lags(&self) -> &[usize] {
        &self.lags
    }

    /// Votes needed for a detection.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// The pre-drop level while a drop is being tracked.
    pub fn tracking(&self) -> Option<f64> {
        self.value_before_drop
    }

    /// Feeds one sample; returns a detection if the signal dropped (or is
    /// still below its pre-drop level). Non-finite samples are ignored.
    pub fn update(&mut self, x: f64) -> Option<Detection> {
        if !x.is_finite() {
            return None;
        }
        let x = x.max(INPUT_FLOOR);
        let result = self.evaluate(x);
        self.window.pop_front();
        self.window.push_back(x);
        result
    }

    fn severity(&self, raw: f64) -> Option<f64> {
        let s = raw * self.severity_fraction;
        (s > 0.0).then_some(s)
    }

    fn evaluate(&mut self, x: f64) -> Option<Detection> {
        if let Some(v) = self.value_before_drop {
            let target = v - self.near_fraction * v;
            if x >= target {
                self.value_before_drop = None;
            } else {
                return Some(Detection {
                    severity: self.severity(target - x),
                    onset: false,
                });
            }
        }
        let n = self.window.len();
        let (mut votes, mut sum_d, mut sum_b) = (0usize, 0.0, 0.0);
        for &lag in &self.lags {
            let b = self.window[n - lag];
            let d = 1.0 - x / b;
            if d >= self.fractional_threshold {
                votes += 1;
                sum_d += d;
                sum_b += b;
            }
        }
        if votes >= self.quorum && votes > 0 {
            self.value_before_drop = Some(sum_b / votes as f64);
            return Some(Detection {
                severity: self.severity(sum_d / votes as f64),
                onset: true,
            });
        }
        None
    }

    /// Stops tracking a drop (the original's `resetSignalRecovering`): the
    /// next sample votes afresh. The window is kept.
    pub fn reset(&mut self) {
        self.value_before_drop = None;
    }
}

struct DropDetector {
    params: DropParams,
    name: Arc<str>,
    analyzers: SlotMap<DropAnalyzer>,
}

fn at_least_one_checkpoint(v: u64) -> Result<(), String> {
    if v >= 1 {
        Ok(())
    } else {
        Err("must be at least 1 (0 checkpoints cannot detect anything)".into())
    }
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    let d = DropParams::default();
    let params = DropParams {
        input: r.signal_in("input", "ipc"),
        window_size: r.u64("window_size", d.window_size, at_least_one),
        max_checkpoints: r.u64(
            "max_checkpoints",
            d.max_checkpoints,
            at_least_one_checkpoint,
        ),
        quorum: r.f64("quorum", d.quorum, non_negative),
        fractional_threshold: r.f64("fractional_threshold", d.fractional_threshold, |_| Ok(())),
        near_fraction: r.f64("near_fraction", d.near_fraction, |_| Ok(())),
        severity_fraction: r.f64("severity_fraction", d.severity_fraction, |_| Ok(())),
    };
    Box::new(DropDetector {
        params,
        name: ctx.stage_name.clone(),
        analyzers: SlotMap::default(),
    })
}

impl Stage for DropDetector {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let has_best_effort = tick.snapshot.has_revocable();
        let rows: Vec<usize> = tick
            .selected_rows()
            .filter(|&r| !tick.is_revocable(r))
            .collect();
        for row in rows {
            let Some(x) = tick.signal(row, self.params.input) else {
                continue;
            };
            let er = tick.executor(row);
            let Some(analyzer) = self.analyzers.get_mut(er) else {
                self.analyzers
                    .get_or_insert_with(er, || DropAnalyzer::new(&self.params));
                continue;
            };
            let Some(detection) = analyzer.update(x) else {
                continue;
            };
            let key = &tick.snapshot.executors[row].key;
            if !has_best_effort {
                analyzer.reset();
                log::debug!(target: "serenity",
                    "stage {}: drop of {x:.3} on production executor {key} ignored: no best-effort executor can be the cause",
                    self.name);
                continue;
            }
            if detection.onset {
                log::info!(target: "serenity",
                    "stage {}: production executor {key} dropped to {x:.3} (pre-drop level {:.3})",
                    self.name, analyzer.tracking().unwrap_or(f64::NAN));
            }
            tick.state.contentions.push(Contention {
                stage: tick.stage,
                detector: self.name.clone(),
                signal: self.params.input,
                victim: Some(row),
                severity: detection.severity,
                unit: SeverityUnit::Fraction,
                handled: false,
            });
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyzer(w: u64, maxcp: u64, q: f64) -> DropAnalyzer {
        DropAnalyzer::new(&DropParams {
            window_size: w,
            max_checkpoints: maxcp,
            quorum: q,
            ..DropParams::default()
        })
    }

    #[test]
    fn checkpoints_and_quorum_follow_the_spec_examples() {
        let a = analyzer(10, 3, 0.7);
        assert_eq!(a.lags(), &[4, 2, 1]);
        assert_eq!(a.quorum(), 2);
        let a = analyzer(8, 4, 0.5);
        assert_eq!(a.lags(), &[8, 4, 2, 1]);
        assert_eq!(a.quorum(), 2);
        assert_eq!(analyzer(8, 4, 0.7).quorum(), 2);
        let a = analyzer(16, 5, 0.7);
        assert_eq!(a.lags(), &[16, 8, 4, 2, 1]);
        assert_eq!(a.quorum(), 3);
        // floor(Q·cp) of 0 or above cp means every checkpoint must vote.
        assert_eq!(analyzer(10, 3, 0.1).quorum(), 3);
        assert_eq!(analyzer(10, 3, 2.0).quorum(), 3);
        // W=10 has 4 binary digits; a larger MAXCP does not add lags.
        assert_eq!(analyzer(10, 9, 0.7).lags(), &[8, 4, 2, 1]);
    }

    #[test]
    fn checkpoints_still_holding_the_start_value_never_vote() {
        // The window starts at 1e-5 and x is floored at 0.1, so only
        // checkpoints that hold real samples can vote.
        let mut a = analyzer(10, 3, 0.7);
        assert_eq!(a.update(1.0), None);
        // Only lag 1 holds a real sample: one vote, quorum 2.
        assert_eq!(a.update(0.0), None);
        let mut a = analyzer(10, 3, 0.7);
        a.update(1.0);
        a.update(1.0);
        // Lags 1 and 2 hold 1.0: two votes, a detection on the third sample.
        assert!(a.update(0.3).is_some());
    }

    #[test]
    fn a_halving_is_detected_by_quorum_and_tracked_until_recovery() {
        let mut a = DropAnalyzer::new(&DropParams {
            severity_fraction: 2.0,
            ..DropParams::default()
        });
        for _ in 0..10 {
            assert_eq!(a.update(1.0), None);
        }
        // Lags 4, 2, 1 all hold 1.0: d = 0.6 for each, three votes ≥ quorum 2.
        let d = a.update(0.4).expect("a 60 % drop is detected");
        assert!(d.onset);
        assert!((d.severity.unwrap() - 1.2).abs() < 1e-12);
        assert_eq!(a.tracking(), Some(1.0));
        // Tracking: below 0.9 every sample is a detection with severity (0.9 − x)·SF.
        let d = a.update(0.5).expect("still below the pre-drop level");
        assert!(!d.onset);
        assert!((d.severity.unwrap() - 0.8).abs() < 1e-12);
        assert!(a.update(0.89).is_some());
        // 0.9 is (1 − 0.1)·1.0: recovered, tracking cleared, then voting: the
        // checkpoints (0.4, 0.5, 0.89) do not see a drop.
        assert_eq!(a.update(0.9), None);
        assert_eq!(a.tracking(), None);
    }

    #[test]
    fn a_drop_below_the_fractional_threshold_is_not_detected() {
        let mut a = analyzer(10, 3, 0.7);
        for _ in 0..10 {
            a.update(2.0);
        }
        // d = 1 − 1.1/2 = 0.45 < 0.5.
        assert_eq!(a.update(1.1), None);
        assert_eq!(a.update(1.1), None);
    }

    #[test]
    fn one_vote_is_not_a_quorum() {
        let mut a = analyzer(10, 3, 0.7);
        for x in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.4, 0.4] {
            a.update(x);
        }
        // Now: lag 4 = 1.0, lag 2 = 0.4, lag 1 = 0.4 (the 0.4 samples were
        // reported, then tracked until 0.9 recovers); clear tracking:
        a.reset();
        // 0.35 against (1.0, 0.4, 0.4): only lag 4 votes (d = 0.65).
        assert_eq!(a.update(0.35), None);
    }

    #[test]
    fn default_severity_fraction_means_unknown_severity() {
        let mut a = analyzer(10, 3, 0.7);
        for _ in 0..10 {
            a.update(1.0);
        }
        let d = a.update(0.2).unwrap();
        assert_eq!(d.severity, None);
    }

    #[test]
    fn reset_stops_tracking_but_keeps_the_window() {
        let mut a = analyzer(10, 3, 0.7);
        for _ in 0..10 {
            a.update(1.0);
        }
        assert!(a.update(0.3).is_some());
        a.reset();
        assert_eq!(a.tracking(), None);
        // Lags 4 and 2 still hold 1.0: 0.3 is detected again by voting.
        assert!(a.update(0.3).unwrap().onset);
    }

    #[test]
    fn inputs_are_floored_and_non_finite_samples_ignored() {
        let mut a = analyzer(10, 3, 0.7);
        for _ in 0..10 {
            a.update(0.15);
        }
        // 0.0 is floored to 0.1: d = 1 − 0.1/0.15 = 0.33 < 0.5, nothing.
        assert_eq!(a.update(0.0), None);
        let before = a.clone();
        assert_eq!(a.update(f64::NAN), None);
        assert_eq!(a, before);
    }

    use super::super::testkit::*;

    /// Runs a drop_detector pipeline over ticks of (production ipc, whether
    /// a best-effort executor runs, its ipc); returns the 1-based ticks with
    /// contentions.
    fn contention_ticks(extra: &str, ticks: &[(Option<f64>, bool)]) -> Vec<usize> {
        let mut p = pipeline(&format!(
            "kind = \"qos\"\n[[stage]]\ntype = \"drop_detector\"\n{extra}"
        ));
        let mut out = Vec::new();
        for (i, &(ipc, with_be)) in ticks.iter().enumerate() {
            let execs = if with_be {
                vec![pr("p", 2.0), be("b", 1.0)]
            } else {
                vec![pr("p", 2.0)]
            };
            let snap = snapshot(&execs, Some(4.0), i as f64);
            let o = p.tick_injecting(&snap, |t, n| {
                match ipc {
                    Some(v) => set(t, n, 0, "ipc", v),
                    None => clear(t, n, 0, "ipc"),
                }
                if with_be {
                    // Best-effort work is never analysed, whatever it does.
                    set(t, n, 1, "ipc", if i % 2 == 0 { 2.0 } else { 0.1 });
                }
            });
            if !o.contentions.is_empty() {
                let c = &o.contentions[0];
                assert_eq!(c.victim, Some(0), "the production executor is the victim");
                assert_eq!(c.unit, crate::tick::SeverityUnit::Fraction);
                assert_eq!(o.contentions.len(), 1);
                out.push(i + 1);
            }
        }
        out
    }

    fn high_then_low(high: usize, low: usize, be_from: usize) -> Vec<(Option<f64>, bool)> {
        (0..high + low)
            .map(|i| {
                let v = if i < high { 1.0 } else { 0.3 };
                (Some(v), i + 1 >= be_from)
            })
            .collect()
    }

    #[test]
    fn a_drop_raises_a_contention_every_tick_until_recovery() {
        let mut ticks = high_then_low(6, 3, 1);
        ticks.push((Some(0.95), true));
        ticks.push((Some(0.95), true));
        // Tick 1 creates the analyzer; ticks 2–6 fill it with 1.0; the drop
        // at tick 7 is voted (lags 4, 2, 1 hold 1.0) and tracked at 8 and 9;
        // 0.95 ≥ 0.9 at tick 10 recovers.
        assert_eq!(contention_ticks("", &ticks), vec![7, 8, 9]);
    }

    #[test]
    fn the_first_sample_of_an_executor_only_creates_its_analyzer() {
        // Had tick 1 been analysed, lags 1 and 2 would hold 1.0 at tick 3.
        let ticks = [(Some(1.0), true), (Some(1.0), true), (Some(0.3), true)];
        assert!(contention_ticks("", &ticks).is_empty());
    }

    #[test]
    fn without_best_effort_work_a_drop_is_a_false_positive_and_tracking_resets() {
        // No best-effort executor until tick 10: the drop at 7 (and the vote
        // at 8) are discarded and tracking reset, so at tick 10 only lag 4
        // still sees 1.0: one vote, no contention.
        assert!(contention_ticks("", &high_then_low(6, 4, 10)).is_empty());
        // The same signal with best-effort work all along.
        assert_eq!(
            contention_ticks("", &high_then_low(6, 4, 1)),
            vec![7, 8, 9, 10]
        );
    }

    #[test]
    fn an_absent_signal_is_skipped() {
        let mut ticks = high_then_low(6, 0, 1);
        ticks.push((None, true));
        ticks.push((None, true));
        assert!(contention_ticks("", &ticks).is_empty());
    }

    #[test]
    fn severity_is_the_mean_drop_times_the_severity_fraction() {
        let mut p = pipeline(
            "kind = \"qos\"\n[[stage]]\ntype = \"drop_detector\"\nseverity_fraction = 2.1\nfractional_threshold = 0.3\n",
        );
        let mut last = None;
        for (i, v) in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.6].iter().enumerate() {
            let snap = snapshot(&[pr("p", 2.0), be("b", 1.0)], Some(4.0), i as f64);
            let o = p.tick_injecting(&snap, |t, n| set(t, n, 0, "ipc", *v));
            last = o.contentions.first().and_then(|c| c.severity);
        }
        // d = 0.4 at every checkpoint: 0.4 × 2.1.
        assert!((last.expect("detected") - 0.84).abs() < 1e-12);
    }

    #[test]
    fn zero_checkpoints_or_window_are_configuration_errors() {
        let e = config_errors(
            "kind = \"qos\"\n[[stage]]\ntype = \"drop_detector\"\nmax_checkpoints = 0\nwindow_size = 0\n",
        );
        assert_eq!(
            e,
            vec![
                "test.toml:5:15: stage 1 (drop_detector): `window_size` = 0: must be at least 1",
                "test.toml:4:19: stage 1 (drop_detector): `max_checkpoints` = 0: must be at least 1 (0 checkpoints cannot detect anything)",
            ]
        );
    }
}
