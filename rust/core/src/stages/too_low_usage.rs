//! `too_low_usage`: later stages leave out nearly idle production executors.
//!
//! Original: TooLowUsageFilter (spec/serenity.md §2.7, issue #116): the IPC
//! of a production task that barely runs is noise, so a drop detector must
//! not watch it. A selected production executor whose `usage` signal is at
//! most `min_cpu` (inclusive), or absent (first sample, no statistics), is
//! deselected. Best-effort executors always pass.
//!
//! Default 0.25 CPUs (CPU·s per s), the original's `MINIMAL_CPU_USAGE`.
//!
//! Deliberate differences: a best-effort executor without statistics is kept
//! (the original dropped every executor without statistics; best-effort
//! executors are never analysed as victims, and strategies choose among all
//! of them anyway); usage is the runtime's two-sample rate, so the
//! original's first-iteration artefact (raw counters divided by an absolute
//! timestamp ≈ 0) becomes an absent value with the same effect.

use super::BuildContext;
use crate::config::reader::non_negative;
use crate::config::ParamReader;
use crate::signal::SignalId;
use crate::stage::Stage;
use crate::tick::{Flow, Tick};
use std::sync::Arc;

/// Parameters of `too_low_usage`.
#[derive(Debug, Clone, PartialEq)]
pub struct TooLowUsageParams {
    /// A production executor using at most this many CPUs is left out
    /// (inclusive); default 0.25.
    pub min_cpu: f64,
    /// The CPU usage signal (default `cpu_usage`).
    pub usage: SignalId,
}

struct TooLowUsage {
    params: TooLowUsageParams,
    name: Arc<str>,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    Box::new(TooLowUsage {
        params: TooLowUsageParams {
            min_cpu: r.f64("min_cpu", 0.25, non_negative),
            usage: r.signal_in("usage", "cpu_usage"),
        },
        name: ctx.stage_name.clone(),
    })
}

impl Stage for TooLowUsage {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        for row in 0..tick.rows() {
            if !tick.state.selected[row] || tick.is_revocable(row) {
                continue;
            }
            let usage = tick.signal(row, self.params.usage);
            if usage.is_some_and(|u| u > self.params.min_cpu) {
                continue;
            }
            // Formatting only happens when debug logging is on.
            log::debug!(
                target: "serenity",
                "stage {}: production executor {} {}; left out",
                self.name,
                tick.snapshot.executors[row].key,
                match usage {
                    Some(u) => format!("uses {u:.3} CPUs, at most {}", self.params.min_cpu),
                    None => "has no CPU usage sample yet".to_owned(),
                }
            );
            tick.state.selected[row] = false;
        }
        Flow::Continue
    }
}
