//! `cache_occupancy`: kill the best-effort executors that occupy the most
//! last-level cache.
//!
//! Original: CacheOccupancyStrategy (spec/serenity.md §2.15; issue #127,
//! PR #133): among the best-effort executors that report `llc_occupancy`
//! (Intel CMT, which needed a patched Mesos), the aggressors are those with
//! llc_occupancy ≥ the mean and > `min_llc_occupancy` (1,000,000 bytes, a
//! constant in the original); all of them are killed. The contentions'
//! content is not used, only their presence.
//!
//! Fallback (new, on by default with `fallback_to_cache_misses`): when no
//! best-effort executor reports `llc_occupancy` — every stock Mesos agent and
//! any machine without CMT — the same rule runs on `cache_misses_per_sec`
//! (perf cache misses per second of the perf window): aggressors have a rate
//! ≥ the mean and > `min_cache_misses_per_sec` (default 0). An executor that
//! misses the cache most is the one evicting others' lines most, which is
//! what occupancy approximates. The original, without CMT, found no
//! aggressors ever. When neither signal is reported, no correction is made
//! and the contentions stay pending for a later strategy.

use super::common::{
    best_effort_rows, correct, describe_contention, describe_executor, known_signals,
    ContentionFilter,
};
use super::BuildContext;
use crate::config::reader::non_negative;
use crate::config::ParamReader;
use crate::signal::{builtin, SignalId, SignalNames};
use crate::stage::Stage;
use crate::tick::{Flow, Tick};
use std::sync::Arc;

/// Parameters of `cache_occupancy`.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheOccupancyParams {
    /// An aggressor occupies more than this many bytes of LLC
    /// (`min_llc_occupancy`, default 1,000,000).
    pub min_llc_occupancy: f64,
    /// Use `cache_misses_per_sec` when nobody reports `llc_occupancy`
    /// (`fallback_to_cache_misses`, default true).
    pub fallback_to_cache_misses: bool,
    /// In the fallback, an aggressor misses more than this many times per
    /// second (`min_cache_misses_per_sec`, default 0).
    pub min_cache_misses_per_sec: f64,
}

struct CacheOccupancy {
    params: CacheOccupancyParams,
    filter: ContentionFilter,
    names: SignalNames,
    name: Arc<str>,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    let params = CacheOccupancyParams {
        min_llc_occupancy: r.f64("min_llc_occupancy", 1_000_000.0, non_negative),
        fallback_to_cache_misses: r.bool("fallback_to_cache_misses", true),
        min_cache_misses_per_sec: r.f64("min_cache_misses_per_sec", 0.0, non_negative),
    };
    r.reads_builtin(builtin::LLC_OCCUPANCY);
    r.reads_builtin(builtin::CPU_USAGE);
    if params.fallback_to_cache_misses {
        r.reads_builtin(builtin::CACHE_MISSES_PER_SEC);
    }
    Box::new(CacheOccupancy {
        params,
        filter: ContentionFilter::read(r),
        names: known_signals(r),
        name: ctx.stage_name.clone(),
    })
}

fn reported(tick: &Tick<'_>, rows: &[usize], id: SignalId) -> Vec<(usize, f64)> {
    rows.iter()
        .filter_map(|&r| tick.signal(r, id).map(|v| (r, v)))
        .collect()
}

impl Stage for CacheOccupancy {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let pending = self.filter.pending(tick);
        if pending.is_empty() {
            return Flow::Continue;
        }
        let best_effort = best_effort_rows(tick);
        let mut signal = builtin::LLC_OCCUPANCY;
        let mut minimum = self.params.min_llc_occupancy;
        let mut values = reported(tick, &best_effort, signal);
        if values.is_empty() && self.params.fallback_to_cache_misses {
            signal = builtin::CACHE_MISSES_PER_SEC;
            minimum = self.params.min_cache_misses_per_sec;
            values = reported(tick, &best_effort, signal);
        }
        if values.is_empty() {
            log::debug!(target: "serenity",
                "stage {}: no best-effort executor reports llc_occupancy{}; contentions left for the next strategy",
                self.name,
                if self.params.fallback_to_cache_misses { " or cache_misses_per_sec" } else { "" });
            return Flow::Continue;
        }
        let mean = values.iter().map(|v| v.1).sum::<f64>() / values.len() as f64;
        let signal_name = self.names.name(signal).to_owned();
        let why = format!(
            "{}: for {}{}, best-effort {signal_name} mean {mean:.0}",
            self.name,
            describe_contention(&tick.state.contentions[pending[0]], &self.names, tick),
            if pending.len() > 1 {
                format!(" (and {} more)", pending.len() - 1)
            } else {
                String::new()
            },
        );
        let victims: Vec<(usize, String)> = values
            .into_iter()
            .filter(|&(_, v)| v >= mean && v > minimum)
            .map(|(row, v)| {
                let reason = format!(
                    "{why}; {} is an aggressor with {signal_name} {v:.0} (≥ mean, > {minimum:.0})",
                    describe_executor(tick, row, tick.signal(row, builtin::CPU_USAGE), "cpu_usage")
                );
                (row, reason)
            })
            .collect();
        correct(tick, &pending, victims);
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;

    // A detector-free pipeline: the overload detector stands in for a
    // contention source.
    const PIPE: &str = "kind = \"qos\"
[[stage]]
type = \"overload\"
threshold = 0.1
[[stage]]
type = \"cache_occupancy\"
";

    fn run(llc: &[Option<f64>], misses: &[Option<f64>]) -> (Vec<String>, bool) {
        let mut p = pipeline(PIPE);
        let snap = snapshot(
            &[pr("p", 1.0), be("b1", 1.0), be("b2", 1.0), be("b3", 1.0)],
            Some(4.0),
            10.0,
        );
        let out = p.tick_injecting(&snap, |t, n| {
            set(t, n, 1, "cpu_usage", 1.0);
            for (i, v) in llc.iter().enumerate() {
                if let Some(v) = v {
                    set(t, n, i + 1, "llc_occupancy", *v);
                }
            }
            for (i, v) in misses.iter().enumerate() {
                if let Some(v) = v {
                    set(t, n, i + 1, "cache_misses_per_sec", *v);
                }
            }
        });
        let v = out
            .corrections
            .iter()
            .map(|c| snap.executors[c.row].key.executor_id.clone())
            .collect();
        (v, out.contentions.iter().all(|c| c.handled))
    }

    #[test]
    fn aggressors_occupy_at_least_the_mean_and_more_than_the_minimum() {
        // mean = 3e6: b2 (4e6) and b3 (5e6) are at or above it and above 1e6.
        let (v, handled) = run(&[Some(0.0), Some(4e6), Some(5e6)], &[]);
        assert_eq!(v, vec!["b2", "b3"]);
        assert!(handled);
        // Above the mean but not above 1e6: no aggressor, still pending.
        let (v, handled) = run(&[Some(0.0), Some(9e5), None], &[]);
        assert!(v.is_empty());
        assert!(!handled);
    }

    #[test]
    fn without_llc_occupancy_cache_misses_decide() {
        let (v, _) = run(&[], &[Some(10.0), Some(1000.0), Some(20.0)]);
        assert_eq!(v, vec!["b2"]);
        // llc_occupancy reported by anyone wins over the fallback.
        let (v, _) = run(&[None, None, Some(2e6)], &[Some(10.0), Some(1000.0), None]);
        assert_eq!(v, vec!["b3"]);
    }

    #[test]
    fn nothing_reported_means_no_correction_and_pending_contentions() {
        let (v, handled) = run(&[], &[]);
        assert!(v.is_empty());
        assert!(!handled);
    }

    #[test]
    fn the_fallback_can_be_switched_off() {
        let mut p = pipeline(&format!("{PIPE}fallback_to_cache_misses = false\n"));
        let snap = snapshot(&[pr("p", 1.0), be("b1", 1.0)], Some(4.0), 10.0);
        let out = p.tick_injecting(&snap, |t, n| {
            set(t, n, 1, "cpu_usage", 1.0);
            set(t, n, 1, "cache_misses_per_sec", 1e9);
        });
        assert!(out.corrections.is_empty());
    }
}
