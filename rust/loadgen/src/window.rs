//! Per-window and whole-run statistics.

use serde::Serialize;

use crate::histogram::{prometheus_bounds, quantile_sorted, FineHistogram, PromHistogram};

/// What happened to requests, as counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Requests written to a connection.
    pub sent: u64,
    /// Requests answered as expected (a hit, a miss or `STORED`).
    pub completed: u64,
    /// Requests answered with an error, lost with a broken connection, or
    /// never sent because no connection could be made.
    pub errors: u64,
    /// Requests unanswered within the timeout.
    pub timeouts: u64,
    /// Completed `get`s that found no value (a part of `completed`).
    pub misses: u64,
}

/// The latencies and counts of one window, as they come in.
#[derive(Debug, Clone, Default)]
pub struct WindowAccumulator {
    latencies_ns: Vec<u64>,
    fine: FineHistogram,
    counts: Counts,
}

/// One closed window: a JSON line of the output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowReport {
    /// Always `"window"`.
    pub kind: &'static str,
    /// Start, unix seconds.
    pub start: f64,
    /// End, unix seconds.
    pub end: f64,
    /// The counts of requests sent, completed or failed in the window.
    #[serde(flatten)]
    pub counts: Counts,
    /// Latencies in the distribution: completed requests, plus timeouts at
    /// the timeout (a lower bound of their latency), so losing requests
    /// never improves a quantile.
    pub samples: u64,
    /// Nearest-rank median latency, milliseconds (null without samples).
    pub p50_ms: Option<f64>,
    /// 95th percentile, milliseconds.
    pub p95_ms: Option<f64>,
    /// 99th percentile, milliseconds.
    pub p99_ms: Option<f64>,
    /// Largest latency, milliseconds.
    pub max_ms: Option<f64>,
    /// Sum of the window's latencies, milliseconds (the mean is
    /// `sum_ms / samples`).
    pub sum_ms: f64,
    /// The window's fine histogram: `[low_ns, high_ns, count]` per non-empty
    /// bucket (see [`crate::histogram`]), to merge windows exactly.
    pub hist_ns: Vec<[u64; 3]>,
}

fn ms(ns: Option<u64>) -> Option<f64> {
    ns.map(|v| v as f64 / 1e6)
}

impl WindowAccumulator {
    /// Counts requests written.
    pub fn sent(&mut self, n: u64) {
        self.counts.sent += n;
    }

    /// Counts one completed request and its latency.
    pub fn completed(&mut self, ns: u64, miss: bool) {
        self.counts.completed += 1;
        self.counts.misses += u64::from(miss);
        self.latencies_ns.push(ns);
        self.fine.record(ns);
    }

    /// Counts one failed request.
    pub fn error(&mut self) {
        self.counts.errors += 1;
    }

    /// Counts one timed-out request, entered at latency `timeout_ns`.
    pub fn timeout(&mut self, timeout_ns: u64) {
        self.counts.timeouts += 1;
        self.latencies_ns.push(timeout_ns);
        self.fine.record(timeout_ns);
    }

    /// Closes the window `[start, end)` (unix seconds) and starts a new one.
    pub fn close(&mut self, start: f64, end: f64) -> WindowReport {
        let mut w = std::mem::take(self);
        w.latencies_ns.sort_unstable();
        let l = &w.latencies_ns;
        WindowReport {
            kind: "window",
            start,
            end,
            counts: w.counts,
            samples: l.len() as u64,
            p50_ms: ms(quantile_sorted(l, 0.5)),
            p95_ms: ms(quantile_sorted(l, 0.95)),
            p99_ms: ms(quantile_sorted(l, 0.99)),
            max_ms: ms(l.last().copied()),
            sum_ms: l.iter().map(|v| u128::from(*v)).sum::<u128>() as f64 / 1e6,
            hist_ns: w.fine.buckets(),
        }
    }
}

/// Everything the run measured so far: the open window, the totals and the
/// last closed window (what the metrics endpoint reports).
#[derive(Debug, Clone)]
pub struct Stats {
    /// The window being filled.
    pub window: WindowAccumulator,
    /// Counts since the start.
    pub total: Counts,
    /// Latencies since the start, for `/metrics`.
    pub prom: PromHistogram,
    /// Latencies since the start, for the summary.
    pub fine: FineHistogram,
    /// The last closed window.
    pub last_window: Option<WindowReport>,
    /// The configured rate, requests per second.
    pub target_rate: f64,
}

impl Stats {
    /// Empty statistics of a run at `target_rate`.
    pub fn new(target_rate: f64) -> Stats {
        Stats {
            window: WindowAccumulator::default(),
            total: Counts::default(),
            prom: PromHistogram::new(prometheus_bounds()),
            fine: FineHistogram::new(),
            last_window: None,
            target_rate,
        }
    }

    /// Counts requests written.
    pub fn sent(&mut self, n: u64) {
        self.window.sent(n);
        self.total.sent += n;
    }

    /// Counts one completed request.
    pub fn completed(&mut self, ns: u64, miss: bool) {
        self.window.completed(ns, miss);
        self.total.completed += 1;
        self.total.misses += u64::from(miss);
        self.prom.observe(ns);
        self.fine.record(ns);
    }

    /// Counts one failed request.
    pub fn error(&mut self) {
        self.window.error();
        self.total.errors += 1;
    }

    /// Counts one timed-out request.
    pub fn timeout(&mut self, timeout_ns: u64) {
        self.window.timeout(timeout_ns);
        self.total.timeouts += 1;
        self.prom.observe(timeout_ns);
        self.fine.record(timeout_ns);
    }
}

/// The last JSON line: the whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Always `"summary"`.
    pub kind: &'static str,
    /// Start, unix seconds.
    pub start: f64,
    /// End of sending, unix seconds.
    pub end: f64,
    /// The configured rate.
    pub target_rate: f64,
    /// Completed requests per second of the run.
    pub achieved_rate: f64,
    /// All counts, late answers after the last window included.
    #[serde(flatten)]
    pub counts: Counts,
    /// Median over the run (fine-histogram bucket midpoint), milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile over the run, milliseconds.
    pub p99_ms: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_window_reports_its_quantiles_and_starts_empty() {
        let mut w = WindowAccumulator::default();
        w.sent(101);
        for i in 1..=100u64 {
            w.completed(i * 1_000_000, i % 10 == 0);
        }
        w.error();
        let r = w.close(10.0, 11.0);
        assert_eq!((r.start, r.end), (10.0, 11.0));
        assert_eq!(
            r.counts,
            Counts {
                sent: 101,
                completed: 100,
                errors: 1,
                timeouts: 0,
                misses: 10
            }
        );
        assert_eq!(r.p50_ms, Some(50.0));
        assert_eq!(r.p95_ms, Some(95.0));
        assert_eq!(r.p99_ms, Some(99.0));
        assert_eq!(r.max_ms, Some(100.0));
        assert_eq!(r.sum_ms, 5050.0);
        assert_eq!(r.hist_ns.iter().map(|b| b[2]).sum::<u64>(), 100);
        let empty = w.close(11.0, 12.0);
        assert_eq!(empty.samples, 0);
        assert_eq!(empty.p99_ms, None);
        assert_eq!(empty.counts, Counts::default());
    }

    #[test]
    fn timeouts_enter_the_distribution_at_the_timeout() {
        let mut w = WindowAccumulator::default();
        for _ in 0..98 {
            w.completed(100_000, false);
        }
        w.timeout(1_000_000_000);
        w.timeout(1_000_000_000);
        let r = w.close(0.0, 1.0);
        assert_eq!(r.counts.timeouts, 2);
        assert_eq!(r.samples, 100);
        assert_eq!(r.p99_ms, Some(1000.0));
        assert_eq!(r.p95_ms, Some(0.1));
    }

    #[test]
    fn the_json_line_names_every_field() {
        let mut w = WindowAccumulator::default();
        w.completed(250_000, false);
        let line = serde_json::to_string(&w.close(1.5, 2.5)).unwrap();
        for field in [
            "\"kind\":\"window\"",
            "\"start\":1.5",
            "\"end\":2.5",
            "\"sent\":0",
            "\"completed\":1",
            "\"errors\":0",
            "\"timeouts\":0",
            "\"p99_ms\":0.25",
            "\"hist_ns\":[[",
        ] {
            assert!(line.contains(field), "{field} missing in {line}");
        }
    }
}
