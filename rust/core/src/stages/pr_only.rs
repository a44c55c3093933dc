//! `pr_only`: later stages consider production executors only.
//!
//! Original: PrExecutorPassFilter (spec/serenity.md §2.3): an executor is
//! production when it has a non-empty allocation and no revocable resource.

use super::BuildContext;
use crate::config::ParamReader;
use crate::stage::Stage;
use crate::tick::{Flow, Tick};

struct PrOnly;

pub(super) fn build(_r: &mut ParamReader<'_, '_>, _ctx: &mut BuildContext) -> Box<dyn Stage> {
    Box::new(PrOnly)
}

impl Stage for PrOnly {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        for (row, view) in tick.snapshot.executors.iter().enumerate() {
            let allocated = !tick.snapshot.usage.executors[view.index]
                .allocated
                .is_empty();
            if view.revocable || !allocated {
                tick.state.selected[row] = false;
            }
        }
        Flow::Continue
    }
}
