//! `kill_all`: on contention, kill every best-effort executor.
//!
//! Original: KillAllStrategy (spec/serenity.md §2.15); also what Mesos's
//! built-in load controller does on any breach.

use super::common::{best_effort_rows, correct, ContentionFilter};
use super::BuildContext;
use crate::config::ParamReader;
use crate::stage::Stage;
use crate::tick::{Flow, Tick};

struct KillAll {
    filter: ContentionFilter,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, _ctx: &mut BuildContext) -> Box<dyn Stage> {
    Box::new(KillAll {
        filter: ContentionFilter::read(r),
    })
}

impl Stage for KillAll {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let pending = self.filter.pending(tick);
        let victims = best_effort_rows(tick);
        if pending.is_empty() || victims.is_empty() {
            return Flow::Continue;
        }
        let first = &tick.state.contentions[pending[0]];
        let why = format!(
            "kill_all: {} contention(s), first from {}",
            pending.len(),
            first.detector
        );
        correct(
            tick,
            &pending,
            victims.into_iter().map(|row| (row, why.clone())),
        );
        Flow::Continue
    }
}
