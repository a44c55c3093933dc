//! `executor_age`: publishes each executor's age as a signal.
//!
//! Original: ExecutorAgeFilter (spec/serenity.md §2.5, feature table row 11),
//! a pass-through placed first in the QoS pipeline that recorded the wall
//! clock at which each executor was first seen, so that strategies could
//! rank best-effort executors by seniority.
//!
//! Mapping: here the runtime's executor registry records, for every
//! executor, the sample time at which it was first seen, in every pipeline
//! and before stage 1 (so ages accrue while the valve is closed, as the
//! original got by placing the filter before its valve). This stage only
//! publishes the age at tick time, `tick.now − first seen`, into the signal
//! `output` (default `executor_age_secs`) for every executor of the snapshot,
//! selected or not, for later stages, plots and thresholds. An executor whose
//! statistics never carried a timestamp has no age (the signal is absent).
//!
//! Deliberate differences: ages are in sample time, not wall-clock seconds;
//! an executor's first-seen time is forgotten once it has been absent for the
//! pipeline's `executor_grace_ticks` (the original never forgot, §7.1 item 7),
//! and a new container under a reused executor id is a new executor.
//!
//! The built-in signal `age_secs` measures the same age at the executor's own
//! sample time; this stage's value uses the one tick time shared by all
//! executors, like the original's single `now` per iteration.

use super::BuildContext;
use crate::config::ParamReader;
use crate::signal::SignalId;
use crate::stage::Stage;
use crate::tick::{Flow, Tick};

/// Parameters of `executor_age`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorAgeParams {
    /// Signal to write, in seconds (default `executor_age_secs`).
    pub output: SignalId,
}

struct ExecutorAge {
    params: ExecutorAgeParams,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, _ctx: &mut BuildContext) -> Box<dyn Stage> {
    Box::new(ExecutorAge {
        params: ExecutorAgeParams {
            output: r.signal_out("output", "executor_age_secs"),
        },
    })
}

impl Stage for ExecutorAge {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        for row in 0..tick.rows() {
            // Timestamps that went backwards must not yield a negative age.
            let age = tick.age_secs(row).map(|a| a.max(0.0));
            tick.state.signals.set(row, self.params.output, age);
        }
        Flow::Continue
    }
}
