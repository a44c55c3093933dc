//! `utilization_threshold`: stops estimating while the node is already busy.
//!
//! Original: UtilizationThresholdFilter (spec/serenity.md §2.2, feature table
//! row 7). Over ALL executors of the snapshot, production and best-effort,
//! whatever earlier stages selected:
//! - an executor with a usage sample counts its usage (the `usage` signal);
//! - an executor without one (new, or without statistics, or whose counters
//!   went backwards) counts its allocated cpus, i.e. it is assumed fully busy;
//! - an executor with an empty allocation is left out.
//!
//! utilization = Σ / total cpus. At or above `threshold` the tick stops (the
//! estimator answers zero slack); below, it goes on unchanged. No executor
//! with an allocation, or an agent total without cpus, also stops the tick
//! (the original produced nothing in both cases).
//!
//! Default threshold 0.95, the original's INTENDED value; its shipped module
//! effectively ran with 1.0 because of a positional-argument bug (§1.7,
//! §7.1 item 1).
//!
//! Deliberate differences: usage is the runtime's two-sample rate (the same
//! Δ(user+system)/Δt as the original's CountCpuUsage) or any smoothed signal
//! named by `usage`; the previous samples live in the executor registry,
//! which keeps an executor missing from one snapshot for the pipeline's
//! grace instead of forgetting it at once.

use super::BuildContext;
use crate::config::reader::open_fraction;
use crate::config::ParamReader;
use crate::signal::SignalId;
use crate::stage::Stage;
use crate::tick::{Flow, Tick};
use std::sync::Arc;

/// Parameters of `utilization_threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct UtilizationThresholdParams {
    /// Stop when Σ usage / total cpus is at or above this, in (0, 1];
    /// default 0.95 (the original's intended value).
    pub threshold: f64,
    /// The per-executor CPU usage signal (default `cpu_usage`).
    pub usage: SignalId,
}

struct UtilizationThreshold {
    params: UtilizationThresholdParams,
    name: Arc<str>,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    Box::new(UtilizationThreshold {
        params: UtilizationThresholdParams {
            threshold: r.f64("threshold", 0.95, open_fraction),
            usage: r.signal_in("usage", "cpu_usage"),
        },
        name: ctx.stage_name.clone(),
    })
}

/// A fraction as a percentage with at most one decimal ("95", "87.5").
pub(super) fn percent(fraction: f64) -> String {
    let p = (fraction * 1000.0).round() / 10.0;
    format!("{p}")
}

impl Stage for UtilizationThreshold {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let Some(total) = tick.snapshot.total_cpus else {
            return Flow::Stop(
                "the agent's total resources have no cpus, so utilization is unknown".into(),
            );
        };
        let mut used = 0.0;
        let mut counted = 0usize;
        for (row, view) in tick.snapshot.executors.iter().enumerate() {
            if tick.snapshot.usage.executors[view.index]
                .allocated
                .is_empty()
            {
                log::debug!(
                    target: "serenity",
                    "stage {}: executor {} has no allocated resources and is left out of the utilization",
                    self.name,
                    view.key
                );
                continue;
            }
            counted += 1;
            match tick.signal(row, self.params.usage) {
                Some(u) => used += u,
                None => used += view.allocated_cpus.unwrap_or(0.0),
            }
        }
        if counted == 0 {
            return Flow::Stop("no executor with allocated resources runs on this node".into());
        }
        let utilization = used / total;
        if utilization >= self.params.threshold {
            return Flow::Stop(format!(
                "node CPU utilization {}% is at or above the {}% threshold",
                percent(utilization),
                percent(self.params.threshold)
            ));
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn percentages_keep_one_decimal_and_drop_a_trailing_zero() {
        assert_eq!(percent(0.95), "95");
        assert_eq!(percent(0.85), "85");
        assert_eq!(percent(0.875), "87.5");
        assert_eq!(percent(1.2), "120");
    }
}
