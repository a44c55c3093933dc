//! `slack`: CPU slack of the selected (production) executors.
//!
//! Original: SlackResourceObserver (spec/serenity.md §2.13, PR #106):
//! slack = Σ over selected executors with a usage sample of
//! (cpus_limit − usage), capped at `fraction` × total cpus − Σ usage;
//! a value below `epsilon_cpus` is zero. Executors without a usage sample yet
//! (first tick) are left out, as in the original.
//!
//! Changed on purpose: an executor without `cpus_limit` falls back to its
//! allocated cpus (the original dropped the whole estimate); without either,
//! the tick stops (zero slack) naming the executor.

use super::BuildContext;
use crate::config::reader::{non_negative, open_fraction};
use crate::config::ParamReader;
use crate::signal::{builtin, SignalId};
use crate::stage::Stage;
use crate::tick::{Flow, Slack, Tick};

/// Parameters of `slack`.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackParams {
    /// Share of the agent's total cpus that production plus lent work may
    /// use, in (0, 1]; default 0.8 (the original's class default; its
    /// shipped pipeline uses 0.7).
    pub fraction: f64,
    /// Slack below this many CPUs is reported as zero; default 0.001.
    pub epsilon_cpus: f64,
    /// The usage signal (default `cpu_usage`; an `ema` output smooths it).
    pub usage: SignalId,
}

struct SlackStage {
    params: SlackParams,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, _ctx: &mut BuildContext) -> Box<dyn Stage> {
    r.reads_builtin(builtin::CPUS_LIMIT);
    r.reads_builtin(builtin::CPUS_ALLOCATED);
    Box::new(SlackStage {
        params: SlackParams {
            fraction: r.f64("fraction", 0.8, open_fraction),
            epsilon_cpus: r.f64("epsilon_cpus", 0.001, non_negative),
            usage: r.signal_in("usage", "cpu_usage"),
        },
    })
}

impl Stage for SlackStage {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let Some(total) = tick.snapshot.total_cpus else {
            return Flow::Stop(
                "the agent's total resources have no cpus, so slack cannot be capped".into(),
            );
        };
        let mut slack = 0.0;
        let mut usage_sum = 0.0;
        for row in tick.selected_rows().collect::<Vec<_>>() {
            let Some(u) = tick.signal(row, self.params.usage) else {
                continue;
            };
            let limit = tick
                .signal(row, builtin::CPUS_LIMIT)
                .or_else(|| tick.signal(row, builtin::CPUS_ALLOCATED));
            let Some(limit) = limit else {
                return Flow::Stop(format!(
                    "executor {} has neither cpus_limit nor allocated cpus",
                    tick.snapshot.executors[row].key
                ));
            };
            usage_sum += u;
            slack += limit - u;
        }
        let cap = self.params.fraction * total - usage_sum;
        if cap < slack {
            slack = cap;
        } else if slack < self.params.epsilon_cpus {
            slack = 0.0;
        }
        let mem_bytes = tick.state.slack.map_or(0.0, |s| s.mem_bytes);
        tick.state.slack = Some(Slack {
            cpus: slack.max(0.0),
            mem_bytes,
        });
        Flow::Continue
    }
}
