//! `valve`: stops the tick while the pipeline's valve is closed.
//!
//! Original: ValveFilter (spec/serenity.md §2.1), an open counter. Here
//! ([`crate::valve`]): the operator's switch (the module's HTTP route, the C
//! ABI) and the holds of controllers that pause the pipeline
//! (`pause_estimator`) are kept apart, so an operator's open cannot cancel
//! a pause and repeated opens do not pile up.

use super::BuildContext;
use crate::config::ParamReader;
use crate::stage::Stage;
use crate::tick::{Flow, Tick};
use crate::valve::ValveControl;
use std::sync::Arc;

/// Parameters of `valve`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValveParams {
    /// Whether the valve starts open (default true, the original's VALVE_OPENED).
    pub open: bool,
}

struct Valve {
    control: Arc<ValveControl>,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    let params = ValveParams {
        open: r.bool("open", true),
    };
    if ctx.has_valve {
        r.problem(
            None,
            "a pipeline has one valve; remove the second `valve` stage",
        );
    }
    ctx.has_valve = true;
    ctx.valve.reset(params.open);
    Box::new(Valve {
        control: ctx.valve.clone(),
    })
}

impl Stage for Valve {
    fn run(&mut self, _tick: &mut Tick<'_>) -> Flow {
        if self.control.is_open() {
            Flow::Continue
        } else {
            Flow::Stop(format!("the valve is {}", self.control.describe()))
        }
    }
}
