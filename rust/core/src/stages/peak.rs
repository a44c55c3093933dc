//! `peak`: the largest recent value of a signal, per executor, plus a
//! margin: an envelope of what the executor may need next.
//!
//! New (spec/anchors.md §7.2: Borg and Autopilot reclaim against a peak or a
//! high percentile of recent usage, not the latest sample). An estimate is
//! in force until the next one; lending `limit − usage` of the latest
//! sample lends whatever the executor's next upward swing needs (the
//! closed-loop scorer counts each such tick as over-lending). With `peak`
//! before `slack`, slack is `limit − (max of the last `window` samples +
//! margin)`:
//! - output = max(x over the executor's last `window` samples) × (1 +
//!   `margin_fraction`) + `margin`;
//! - the output appears from the first sample (the window is then just it);
//! - state is per executor and dropped with it.
//!
//! With `scope = "node"` the envelope is taken of the node's sum instead:
//! S = Σ x over the selected executors with a value, P = max(S over the
//! last `window` ticks) × (1 + `margin_fraction`) + `margin`, and each
//! executor's output is its share of it, x × P / S (x + (P − S) / n when
//! S = 0), so that Σ output = P. Independent executors rarely peak together:
//! the envelope of the sum is narrower than the sum of the envelopes, so
//! less is held back for the same protection.

use super::BuildContext;
use crate::config::reader::{at_least_one, non_negative};
use crate::config::ParamReader;
use crate::executors::SlotMap;
use crate::signal::SignalId;
use crate::stage::Stage;
use crate::tick::{Flow, Tick};
use std::collections::VecDeque;

/// Parameters of `peak`.
#[derive(Debug, Clone, PartialEq)]
pub struct PeakParams {
    /// Signal (default `cpu_usage`).
    pub input: SignalId,
    /// Signal to write (default `<input>_peak`).
    pub output: SignalId,
    /// Samples in the window (`window`, default 10).
    pub window: u64,
    /// Added in the signal's unit (`margin`, default 0).
    pub margin: f64,
    /// Added as a share of the peak (`margin_fraction`, default 0).
    pub margin_fraction: f64,
    /// `executor` (default) or `node`: the envelope of each executor, or of
    /// the selected executors' sum, shared out in proportion.
    pub node_scope: bool,
}

/// The maximum over a sliding window of samples (a monotonic deque:
/// amortised O(1) per sample).
#[derive(Debug, Clone, Default)]
pub struct WindowMax {
    window: usize,
    seen: u64,
    /// (sample number, value), values decreasing from the front.
    deque: VecDeque<(u64, f64)>,
}

impl WindowMax {
    /// A window of `window` samples (at least 1).
    pub fn new(window: usize) -> Self {
        WindowMax {
            window: window.max(1),
            ..Default::default()
        }
    }

    /// Adds `x` and returns the maximum of the last `window` samples.
    pub fn update(&mut self, x: f64) -> f64 {
        let n = self.seen;
        self.seen += 1;
        while self.deque.back().is_some_and(|&(_, v)| v <= x) {
            self.deque.pop_back();
        }
        self.deque.push_back((n, x));
        while self
            .deque
            .front()
            .is_some_and(|&(i, _)| i + self.window as u64 <= n)
        {
            self.deque.pop_front();
        }
        self.deque.front().map_or(x, |&(_, v)| v)
    }

    /// Forgets every sample.
    pub fn reset(&mut self) {
        self.seen = 0;
        self.deque.clear();
    }
}

struct PeakStage {
    params: PeakParams,
    state: SlotMap<WindowMax>,
    node: WindowMax,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, _ctx: &mut BuildContext) -> Box<dyn Stage> {
    let input = r.signal_in("input", "cpu_usage");
    let default_out = format!("{}_peak", r.signal_name(input));
    let window = r.u64("window", 10, at_least_one);
    let margin = r.f64("margin", 0.0, non_negative);
    let margin_fraction = r.f64("margin_fraction", 0.0, non_negative);
    let node_scope = r.choice("scope", "executor", &["executor", "node"]) == "node";
    let output = r.signal_out("output", &default_out);
    Box::new(PeakStage {
        params: PeakParams {
            input,
            output,
            window,
            margin,
            margin_fraction,
            node_scope,
        },
        state: SlotMap::default(),
        node: WindowMax::new(usize::try_from(window).unwrap_or(usize::MAX)),
    })
}

impl Stage for PeakStage {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let p = &self.params;
        if p.node_scope {
            let rows: Vec<(usize, f64)> = (0..tick.rows())
                .filter(|&r| tick.state.selected[r])
                .filter_map(|r| tick.signal(r, p.input).map(|x| (r, x)))
                .collect();
            if rows.is_empty() {
                return Flow::Continue;
            }
            let sum: f64 = rows.iter().map(|(_, x)| x).sum();
            let envelope = self.node.update(sum) * (1.0 + p.margin_fraction) + p.margin;
            let n = rows.len() as f64;
            for (row, x) in rows {
                let out = if sum > 0.0 {
                    x * envelope / sum
                } else {
                    x + (envelope - sum) / n
                };
                tick.state.signals.set(row, p.output, Some(out));
            }
            return Flow::Continue;
        }
        for row in 0..tick.rows() {
            if !tick.state.selected[row] {
                continue;
            }
            let Some(x) = tick.signal(row, p.input) else {
                continue;
            };
            let window = usize::try_from(p.window).unwrap_or(usize::MAX);
            let peak = self
                .state
                .get_or_insert_with(tick.executor(row), || WindowMax::new(window))
                .update(x);
            let out = peak * (1.0 + p.margin_fraction) + p.margin;
            tick.state.signals.set(row, p.output, Some(out));
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    #[test]
    fn window_max_forgets_values_older_than_the_window() {
        let mut w = WindowMax::new(3);
        let out: Vec<f64> = [1.0, 5.0, 2.0, 2.0, 1.0, 0.5]
            .iter()
            .map(|&x| w.update(x))
            .collect();
        assert_eq!(out, vec![1.0, 5.0, 5.0, 5.0, 2.0, 2.0]);
        w.reset();
        assert_eq!(w.update(0.1), 0.1);
    }

    #[test]
    fn the_peak_signal_adds_its_margins_to_the_window_maximum() {
        let mut p = pipeline(
            "kind = \"estimator\"\n[[stage]]\ntype = \"peak\"\nwindow = 2\nmargin = 0.1\nmargin_fraction = 0.5\n",
        );
        let snap = snapshot(&[pr("web", 4.0)], Some(8.0), 10.0);
        let mut run = |x: f64| {
            p.tick_injecting(&snap, |t, n| set(t, n, 0, "cpu_usage", x));
            p.last_signals()
                .get(0, p.signals().lookup("cpu_usage_peak").unwrap())
                .unwrap()
        };
        assert!((run(2.0) - 3.1).abs() < 1e-12);
        assert!((run(1.0) - 3.1).abs() < 1e-12, "2.0 is still in the window");
        assert!((run(1.0) - 1.6).abs() < 1e-12, "2.0 left the window");
    }

    #[test]
    fn the_node_envelope_is_shared_out_in_proportion_and_sums_to_the_peak_of_the_sum() {
        let mut p = pipeline(
            "kind = \"estimator\"\n[[stage]]\ntype = \"peak\"\nscope = \"node\"\nwindow = 2\n",
        );
        let snap = snapshot(&[pr("a", 4.0), pr("b", 4.0)], Some(8.0), 10.0);
        let mut run = |a: f64, b: f64| {
            p.tick_injecting(&snap, |t, n| {
                set(t, n, 0, "cpu_usage", a);
                set(t, n, 1, "cpu_usage", b);
            });
            let id = p.signals().lookup("cpu_usage_peak").unwrap();
            let s = p.last_signals();
            (s.get(0, id).unwrap(), s.get(1, id).unwrap())
        };
        // Each executor peaks on a different tick; the sum never exceeds 3.
        assert_eq!(run(2.0, 1.0), (2.0, 1.0));
        let (a, b) = run(1.0, 2.0);
        assert!((a + b - 3.0).abs() < 1e-12, "{a} + {b}");
        assert!((a - 1.0).abs() < 1e-12 && (b - 2.0).abs() < 1e-12);
        // The busier tick 3 sets the envelope at 4 for the quieter tick 4.
        run(2.0, 2.0);
        let (a, b) = run(1.0, 1.0);
        assert!(
            (a - 2.0).abs() < 1e-12 && (b - 2.0).abs() < 1e-12,
            "{a}, {b}"
        );
    }
}
