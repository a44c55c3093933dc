//! `memory_slack`: memory slack of the selected (production) executors.
//!
//! New (the original estimated CPU only, spec/serenity.md §2.13 and §3:
//! memory fields were never read). Built like the CPU `slack` stage (the
//! original's SlackResourceObserver with the cap of PR #106), with a safety
//! margin because memory is not compressible:
//!
//! ```text
//! per selected executor with a usage sample:
//!     limit  = mem_limit_bytes, else allocated mem
//!     slack += limit − usage − margin_fraction × limit
//! cap   = fraction × total mem − Σ usage
//! slack = min(slack, cap); below epsilon_bytes → 0
//! ```
//!
//! The result goes into the tick's slack as `mem_bytes`, keeping the CPUs an
//! earlier `slack` stage computed (zero CPUs if none did).
//!
//! Memory is not compressible: CPU that production work reclaims is taken
//! from best-effort work within a scheduling period, but memory lent to
//! best-effort work can only be recovered by killing it (the QoS controller)
//! or by the kernel reclaiming cache and swapping, which hurts production
//! latency meanwhile. Hence the conservative defaults: lend at most 80 % of
//! the node (`fraction`), keep 10 % of every executor's limit as headroom
//! for growth (`margin_fraction`), and measure resident memory (RSS), not the
//! page cache. Pair it with a QoS pipeline that watches memory pressure.
//!
//! An executor without a usage sample lends nothing (as in `slack`); one
//! without a limit or allocation lends nothing but its usage still
//! counts against the cap. An agent total
//! without memory yields zero memory slack with a log line; the CPU estimate
//! is unaffected.

use super::BuildContext;
use crate::config::reader::{fraction, non_negative, open_fraction};
use crate::config::ParamReader;
use crate::model::MIB;
use crate::signal::{builtin, SignalId};
use crate::stage::Stage;
use crate::tick::{Flow, Slack, Tick};
use std::sync::Arc;

/// Parameters of `memory_slack`.
#[derive(Debug, Clone, PartialEq)]
pub struct MemorySlackParams {
    /// Share of the agent's total memory that production plus lent work may
    /// use, in (0, 1]; default 0.8.
    pub fraction: f64,
    /// Share of each executor's limit kept free for its own growth, in
    /// [0, 1]; default 0.1.
    pub margin_fraction: f64,
    /// Memory slack below this many bytes is reported as zero; default
    /// 1048576 (1 MiB).
    pub epsilon_bytes: f64,
    /// The memory usage signal in bytes (default `mem_rss_bytes`).
    pub usage: SignalId,
}

struct MemorySlack {
    params: MemorySlackParams,
    name: Arc<str>,
    warned_no_total: bool,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    r.reads_builtin(builtin::MEM_LIMIT_BYTES);
    r.reads_builtin(builtin::MEM_ALLOCATED_BYTES);
    Box::new(MemorySlack {
        params: MemorySlackParams {
            fraction: r.f64("fraction", 0.8, open_fraction),
            margin_fraction: r.f64("margin_fraction", 0.1, fraction),
            epsilon_bytes: r.f64("epsilon_bytes", MIB, non_negative),
            usage: r.signal_in("usage", "mem_rss_bytes"),
        },
        name: ctx.stage_name.clone(),
        warned_no_total: false,
    })
}

impl MemorySlack {
    fn set(tick: &mut Tick<'_>, mem_bytes: f64) {
        let cpus = tick.state.slack.map_or(0.0, |s| s.cpus);
        tick.state.slack = Some(Slack { cpus, mem_bytes });
    }
}

impl Stage for MemorySlack {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let Some(total) = tick.snapshot.total_mem_bytes else {
            if !self.warned_no_total {
                log::warn!(
                    target: "serenity",
                    "stage {}: the agent's total resources have no memory, so no memory slack is lent",
                    self.name
                );
                self.warned_no_total = true;
            }
            Self::set(tick, 0.0);
            return Flow::Continue;
        };
        self.warned_no_total = false;
        let p = &self.params;
        let mut slack = 0.0;
        let mut usage_sum = 0.0;
        for row in 0..tick.rows() {
            if !tick.state.selected[row] {
                continue;
            }
            let Some(usage) = tick.signal(row, p.usage) else {
                continue;
            };
            // Memory in use counts against the cap even when the executor
            // cannot lend (no limit known).
            usage_sum += usage;
            let limit = tick
                .signal(row, builtin::MEM_LIMIT_BYTES)
                .or_else(|| tick.signal(row, builtin::MEM_ALLOCATED_BYTES));
            let Some(limit) = limit else {
                log::debug!(
                    target: "serenity",
                    "stage {}: executor {} has neither mem_limit_bytes nor allocated memory; it lends no memory",
                    self.name,
                    tick.snapshot.executors[row].key
                );
                continue;
            };
            slack += limit - usage - p.margin_fraction * limit;
        }
        let cap = p.fraction * total - usage_sum;
        let mut slack = slack.min(cap);
        if slack < p.epsilon_bytes {
            slack = 0.0;
        }
        Self::set(tick, slack);
        Flow::Continue
    }
}
