//! `subtract_best_effort_usage`: takes what best-effort work really uses
//! out of the slack, instead of what it was allocated.
//!
//! New: the original's open issue #99 (spec/serenity.md §7.3, §7.1 item 10).
//! The original ignored best-effort usage in its slack and the module then
//! subtracted the *allocated* revocable resources (§1.7). This stage instead
//! subtracts, over every best-effort executor of the snapshot (selected or
//! not):
//!
//! ```text
//! cpus      −= Σ cpu_usage of best-effort executors
//! mem_bytes −= Σ mem_usage of best-effort executors
//! ```
//!
//! where a best-effort executor without a measurement (first sample, no
//! statistics) counts its allocated revocable amount, floors both at zero,
//! and marks the slack as already accounting for best-effort work
//! (`best_effort_accounted`), so the pipeline's final step does not subtract
//! allocated revocable resources as well. Place it after `slack` (and
//! `memory_slack`); with no slack computed yet it changes nothing.
//!
//! The trade-off, precisely. The agent reports to the master
//! "revocable resources already allocated + our estimate" (spec
//! mesos-module-api.md §3). With S the slack before this stage, A the
//! allocated revocable resources and U the measured best-effort usage:
//! - without this stage the estimate is max(0, S − A), so the master sees
//!   max(S, A): an idle best-effort allocation is never offered twice;
//! - with it the estimate is max(0, S − U), so the master sees A + S − U
//!   (when S ≥ U): the idle part of the best-effort allocations, A − U, is
//!   lent again. Revocable capacity is overcommitted by exactly that amount;
//!   if the best-effort executors then grow into their allocations, the node
//!   runs short and the QoS controller is the guard that revokes work
//!   (kill strategies, overload detection). In exchange, allocations that
//!   best-effort frameworks hold but do not use no longer block lending.
//!
//! Use it with a QoS pipeline that corrects on overload; without one, keep
//! the default accounting (leave this stage out).

use super::BuildContext;
use crate::config::ParamReader;
use crate::signal::SignalId;
use crate::stage::Stage;
use crate::tick::{Flow, Slack, Tick};

/// Parameters of `subtract_best_effort_usage`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtractBestEffortUsageParams {
    /// CPU usage signal of best-effort executors (default `cpu_usage`).
    pub cpu_usage: SignalId,
    /// Memory usage signal in bytes (default `mem_rss_bytes`).
    pub mem_usage: SignalId,
}

struct SubtractBestEffortUsage {
    params: SubtractBestEffortUsageParams,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, _ctx: &mut BuildContext) -> Box<dyn Stage> {
    Box::new(SubtractBestEffortUsage {
        params: SubtractBestEffortUsageParams {
            cpu_usage: r.signal_in("cpu_usage", "cpu_usage"),
            mem_usage: r.signal_in("mem_usage", "mem_rss_bytes"),
        },
    })
}

/// Σ measured usage of best-effort executors, (cpus, bytes); an executor
/// without a measurement counts its allocated revocable amount.
fn best_effort_usage(tick: &Tick<'_>, cpu: SignalId, mem: SignalId) -> (f64, f64) {
    let mut cpus = 0.0;
    let mut bytes = 0.0;
    for (row, view) in tick.snapshot.executors.iter().enumerate() {
        if !view.revocable {
            continue;
        }
        cpus += tick.signal(row, cpu).unwrap_or(view.revocable_cpus);
        bytes += tick.signal(row, mem).unwrap_or(view.revocable_mem_bytes);
    }
    (cpus, bytes)
}

impl Stage for SubtractBestEffortUsage {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        tick.state.best_effort_accounted = true;
        let Some(slack) = tick.state.slack else {
            return Flow::Continue;
        };
        let (cpus, bytes) = best_effort_usage(tick, self.params.cpu_usage, self.params.mem_usage);
        tick.state.slack = Some(Slack {
            cpus: (slack.cpus - cpus).max(0.0),
            mem_bytes: (slack.mem_bytes - bytes).max(0.0),
        });
        Flow::Continue
    }
}
