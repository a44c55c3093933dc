//! Latency distributions: exact quantiles of one window, a fine
//! log-linear histogram that windows can be merged with, and the
//! cumulative Prometheus histogram.
//!
//! Window quantiles are exact: every latency of the window is kept and the
//! quantile is the nearest-rank value (the smallest value with at least
//! `q·n` values at or below it; Hyndman and Fan 1996, definition 1), so a
//! p99 is a latency some request really had.
//!
//! The fine histogram is HdrHistogram's layout (Tene, HdrHistogram): values
//! in nanoseconds, exact below 64 ns, then 64 linear sub-buckets per
//! power of two, so every bucket is at most 1/64 (1.6 %) of its lower
//! bound wide. Each window's JSON line carries its non-empty buckets; a
//! consumer that sums the buckets of ten 1-s windows gets the 10-s window's
//! distribution and its quantiles within 1.6 % (averaging p99s would not).

use std::fmt::Write as _;

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

/// The fine histogram's bucket of `ns`.
pub fn bucket_index(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    let k = 63 - ns.leading_zeros(); // ≥ SUB_BITS
    let shift = k - SUB_BITS;
    let sub = (ns >> shift) - SUB;
    (SUB + u64::from(shift) * SUB + sub) as usize
}

/// The half-open range `[low, high)` of nanoseconds of bucket `index`.
pub fn bucket_bounds(index: usize) -> (u64, u64) {
    let i = index as u64;
    if i < SUB {
        return (i, i + 1);
    }
    let shift = (i - SUB) / SUB;
    let sub = (i - SUB) % SUB;
    let low = (SUB + sub) << shift;
    (low, low + (1 << shift))
}

/// A fine log-linear histogram of nanosecond latencies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FineHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl FineHistogram {
    /// An empty histogram.
    pub fn new() -> FineHistogram {
        FineHistogram::default()
    }

    /// Counts one latency.
    pub fn record(&mut self, ns: u64) {
        let i = bucket_index(ns);
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.total += 1;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &FineHistogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// Latencies counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The non-empty buckets as `[low_ns, high_ns, count]`, ascending.
    pub fn buckets(&self) -> Vec<[u64; 3]> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| {
                let (lo, hi) = bucket_bounds(i);
                [lo, hi, *c]
            })
            .collect()
    }

    /// The nearest-rank `q` quantile in nanoseconds, as the midpoint of its
    /// bucket (within 0.8 % of a value in that bucket); `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let rank = nearest_rank(self.total as usize, q)? as u64 + 1;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bucket_bounds(i);
                return Some((lo + hi - 1) as f64 / 2.0);
            }
        }
        None
    }
}

/// The 0-based index of the nearest-rank `q` quantile among `n` sorted
/// values: `ceil(q·n) - 1`, clamped to `0..n`; `None` for `n = 0`.
pub fn nearest_rank(n: usize, q: f64) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let rank = (q * n as f64).ceil() as usize;
    Some(rank.clamp(1, n) - 1)
}

/// The nearest-rank `q` quantile of ascending `sorted` values.
pub fn quantile_sorted(sorted: &[u64], q: f64) -> Option<u64> {
    nearest_rank(sorted.len(), q).map(|i| sorted[i])
}

/// The upper bounds (seconds) of the Prometheus histogram: 15 per decade
/// (1, 1.25, 1.5, 1.75, 2, 2.5, 3, ..., 9), from 50 µs to 1 s, so steps
/// are at most 25 % wide where a memcached p99 lies (0.1–10 ms).
pub fn prometheus_bounds() -> Vec<f64> {
    const MANTISSAS: [f64; 15] = [
        1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0,
    ];
    let mut out = Vec::new();
    for exp in -5..=0 {
        for m in MANTISSAS {
            // Rounded to nanoseconds so labels print as short decimals.
            let v = (m * 10f64.powi(exp) * 1e9).round() / 1e9;
            if (50e-6 - 1e-12..=1.0 + 1e-12).contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// A cumulative Prometheus histogram of latencies (seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct PromHistogram {
    bounds: Vec<f64>,
    bounds_ns: Vec<u64>,
    /// Per bucket (not cumulative), the last one is `+Inf`.
    counts: Vec<u64>,
    sum_ns: u128,
    count: u64,
}

impl PromHistogram {
    /// An empty histogram over `bounds` (ascending seconds).
    pub fn new(bounds: Vec<f64>) -> PromHistogram {
        let bounds_ns = bounds.iter().map(|b| (b * 1e9).round() as u64).collect();
        let counts = vec![0; bounds.len() + 1];
        PromHistogram {
            bounds,
            bounds_ns,
            counts,
            sum_ns: 0,
            count: 0,
        }
    }

    /// Counts one latency in nanoseconds (`le` is inclusive).
    pub fn observe(&mut self, ns: u64) {
        let i = self.bounds_ns.partition_point(|b| *b < ns);
        self.counts[i] += 1;
        self.sum_ns += u128::from(ns);
        self.count += 1;
    }

    /// Appends the `_bucket`, `_sum` and `_count` series of `name` (its
    /// `# HELP`/`# TYPE` lines included) to `out`.
    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c;
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum_ns as f64 / 1e9);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The fine histogram's widest bucket, relative to its lower bound.
    const FINE_RELATIVE_WIDTH: f64 = 1.0 / 64.0;

    #[test]
    fn every_value_falls_in_its_bucket_and_buckets_are_narrow() {
        let mut r = Rng::new(5);
        for _ in 0..100_000 {
            let ns = r.next_u64() >> (r.below(60) + 4);
            let (lo, hi) = bucket_bounds(bucket_index(ns));
            assert!(lo <= ns && ns < hi, "{ns} not in [{lo}, {hi})");
            assert!((hi - lo) as f64 <= (lo as f64 * FINE_RELATIVE_WIDTH).max(1.0));
        }
        // Buckets tile the line: each starts where the previous ended.
        for i in 1..3000 {
            assert_eq!(bucket_bounds(i - 1).1, bucket_bounds(i).0, "bucket {i}");
        }
    }

    #[test]
    fn nearest_rank_quantiles_are_values_of_the_sample() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile_sorted(&v, 0.5), Some(50));
        assert_eq!(quantile_sorted(&v, 0.99), Some(99));
        assert_eq!(quantile_sorted(&v, 0.995), Some(100));
        assert_eq!(quantile_sorted(&v, 1.0), Some(100));
        assert_eq!(quantile_sorted(&v, 0.0), Some(1));
        assert_eq!(quantile_sorted(&[7], 0.99), Some(7));
        assert_eq!(quantile_sorted(&[], 0.5), None);
    }

    #[test]
    fn merged_windows_give_the_quantile_of_all_their_latencies() {
        // Ten windows with different latency levels: the merged p99 is the
        // p99 of all values, not the mean of the windows' p99s.
        let mut r = Rng::new(11);
        let mut all = Vec::new();
        let mut merged = FineHistogram::new();
        let mut p99s = Vec::new();
        for w in 0..10u64 {
            let mut h = FineHistogram::new();
            let mut vals = Vec::new();
            for _ in 0..3000 {
                let base = if w == 3 { 2_000_000.0 } else { 200_000.0 };
                let ns = (base * (1.0 + r.exponential(1.0))) as u64;
                h.record(ns);
                vals.push(ns);
            }
            vals.sort_unstable();
            p99s.push(quantile_sorted(&vals, 0.99).unwrap() as f64);
            all.extend(vals);
            merged.merge(&h);
        }
        all.sort_unstable();
        assert_eq!(merged.total(), 30_000);
        for q in [0.5, 0.95, 0.99] {
            let exact = quantile_sorted(&all, q).unwrap() as f64;
            let approx = merged.quantile(q).unwrap();
            assert!(
                (approx - exact).abs() <= exact * FINE_RELATIVE_WIDTH,
                "q {q}: {approx} vs {exact}"
            );
        }
        let mean_p99 = p99s.iter().sum::<f64>() / 10.0;
        let exact = quantile_sorted(&all, 0.99).unwrap() as f64;
        assert!(
            (mean_p99 - exact).abs() > exact * 0.1,
            "{mean_p99} vs {exact}"
        );
    }

    #[test]
    fn the_json_buckets_round_trip_the_counts() {
        let mut h = FineHistogram::new();
        for ns in [10, 10, 100_000, 100_001, 5_000_000] {
            h.record(ns);
        }
        let b = h.buckets();
        assert_eq!(b.iter().map(|x| x[2]).sum::<u64>(), 5);
        assert_eq!(b[0], [10, 11, 2]);
        assert!(b.windows(2).all(|w| w[0][1] <= w[1][0]));
    }

    #[test]
    fn prometheus_bounds_span_50us_to_1s_in_small_steps() {
        let b = prometheus_bounds();
        assert_eq!(b.first(), Some(&50e-6));
        assert_eq!(b.last(), Some(&1.0));
        for w in b.windows(2) {
            assert!(w[1] > w[0]);
            assert!(w[1] / w[0] <= 1.25 + 1e-9, "{} -> {}", w[0], w[1]);
        }
        // 0.2–5 ms is resolvable: at least 10 bounds in it.
        assert!(b.iter().filter(|x| (0.2e-3..=5e-3).contains(*x)).count() >= 10);
    }

    #[test]
    fn prometheus_histogram_is_cumulative_with_inclusive_bounds() {
        let mut h = PromHistogram::new(vec![0.001, 0.002]);
        h.observe(1_000_000); // exactly 1 ms: le="0.001"
        h.observe(1_500_000);
        h.observe(3_000_000);
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "Latency.");
        assert!(out.contains("# TYPE x_seconds histogram\n"));
        assert!(out.contains("x_seconds_bucket{le=\"0.001\"} 1\n"));
        assert!(out.contains("x_seconds_bucket{le=\"0.002\"} 2\n"));
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(out.contains("x_seconds_sum 0.0055\n"));
        assert!(out.contains("x_seconds_count 3\n"));
    }
}
