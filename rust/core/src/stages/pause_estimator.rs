//! `pause_estimator`: hold the estimator's valve closed while the QoS
//! controller is dealing with contention.
//!
//! Original: QoSCorrectionObserver's bus messages (spec/serenity.md §1.6,
//! §2.14; issue #70): when an observer starts handling contentions it
//! publishes "disable oversubscription", and when a tick has no contention
//! (or no best-effort executor) it publishes "enable". The estimator's valve
//! counted them (§2.1) in the same counter as the operator's opens.
//!
//! Here: while this tick has contentions and best-effort executors exist,
//! the stage takes one **hold** on the estimator's valve
//! ([`super::BuildContext::estimator_valve`], [`ValveControl::hold`]); on
//! the first tick without, it releases it. A hold is not the operator's
//! switch: an operator's open (or many) cannot cancel it, so the estimator
//! answers zero slack for as long as the controller corrects. Two pausing
//! pipelines take two holds. The stage also releases its hold when it is
//! dropped (the pipeline is replaced or the module unloaded), so a hold is
//! never leaked. With no estimator linked the stage still tracks the state
//! and says once, when built, that nothing is linked.
//!
//! Differences: the original's flag was uninitialised (defect §7.1.4) and
//! each observer published separately; here one stage, one hold at most.
//! A tick stopped before this stage (the QoS valve closed) leaves the
//! estimator as it was, as in the original, where the observer did not run.

use super::BuildContext;
use crate::config::ParamReader;
use crate::stage::Stage;
use crate::tick::{Flow, Tick};
use crate::valve::ValveControl;
use std::sync::Arc;

struct PauseEstimator {
    valve: Option<Arc<ValveControl>>,
    closed: bool,
    name: Arc<str>,
}

pub(super) fn build(_r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    if ctx.estimator_valve.is_none() {
        log::info!(target: "serenity",
            "stage {}: no estimator is linked to this QoS pipeline, so pausing it does nothing",
            ctx.stage_name);
    }
    Box::new(PauseEstimator {
        valve: ctx.estimator_valve.clone(),
        closed: false,
        name: ctx.stage_name.clone(),
    })
}

impl Stage for PauseEstimator {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let active = !tick.state.contentions.is_empty() && tick.snapshot.has_revocable();
        if active && !self.closed {
            self.closed = true;
            if let Some(v) = &self.valve {
                v.hold();
                log::info!(target: "serenity",
                    "stage {}: contention with best-effort work present; the estimator is paused (its valve is {})",
                    self.name, v.describe());
            }
        } else if !active && self.closed {
            self.closed = false;
            if let Some(v) = &self.valve {
                v.release();
                log::info!(target: "serenity",
                    "stage {}: contention is over; the estimator's hold is released (its valve is {})",
                    self.name, v.describe());
            }
        }
        Flow::Continue
    }
}

impl Drop for PauseEstimator {
    fn drop(&mut self) {
        if self.closed {
            if let Some(v) = &self.valve {
                v.release();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::config::BuildOptions;
    use crate::valve::ValveControl;
    use std::sync::Arc;

    const PIPE: &str = "kind = \"qos\"
[[stage]]
type = \"overload\"
threshold = 0.5
[[stage]]
type = \"pause_estimator\"
";

    fn tick(p: &mut crate::pipeline::Pipeline, overloaded: bool, with_be: bool) {
        let execs = if with_be {
            vec![pr("p", 2.0), be("b", 1.0)]
        } else {
            vec![pr("p", 2.0)]
        };
        let snap = snapshot(&execs, Some(4.0), 1.0);
        p.tick_injecting(&snap, |t, n| {
            set(t, n, 0, "cpu_usage", if overloaded { 3.0 } else { 0.5 });
            if with_be {
                set(t, n, 1, "cpu_usage", 0.5);
            }
        });
    }

    fn linked(valve: &Arc<ValveControl>) -> crate::pipeline::Pipeline {
        pipeline_with(
            PIPE,
            BuildOptions {
                valve: None,
                estimator_valve: Some(valve.clone()),
            },
        )
    }

    #[test]
    fn the_estimator_is_held_once_while_contention_lasts() {
        let valve = Arc::new(ValveControl::new(true));
        let mut p = linked(&valve);
        tick(&mut p, false, true);
        assert_eq!(valve.holds(), 0);
        tick(&mut p, true, true);
        assert_eq!(valve.holds(), 1);
        tick(&mut p, true, true);
        tick(&mut p, true, true);
        assert_eq!(valve.holds(), 1, "one hold, however long it lasts");
        tick(&mut p, false, true);
        assert_eq!(valve.holds(), 0);
        assert!(valve.is_open());
        tick(&mut p, false, true);
        assert_eq!(valve.holds(), 0);
    }

    #[test]
    fn an_operator_open_during_contention_does_not_resume_the_estimator() {
        let valve = Arc::new(ValveControl::new(true));
        let mut p = linked(&valve);
        // Opens before the contention (as a stray `?enabled=true` did on a
        // real agent) must not be banked against the pause.
        valve.set(true);
        valve.set(true);
        tick(&mut p, true, true);
        assert!(!valve.is_open());
        valve.set(true);
        assert!(!valve.is_open(), "the hold outlives an operator's open");
        tick(&mut p, false, true);
        assert!(valve.is_open());
    }

    #[test]
    fn no_best_effort_work_reopens_the_estimator() {
        let valve = Arc::new(ValveControl::new(true));
        let mut p = linked(&valve);
        tick(&mut p, true, true);
        assert!(!valve.is_open());
        // Production alone overloaded: no contention, no best-effort work.
        tick(&mut p, true, false);
        assert!(valve.is_open());
    }

    #[test]
    fn two_pausing_pipelines_take_two_holds() {
        let valve = Arc::new(ValveControl::new(true));
        let mut a = linked(&valve);
        let mut b = linked(&valve);
        tick(&mut a, true, true);
        tick(&mut b, true, true);
        assert_eq!(valve.holds(), 2);
        tick(&mut a, false, true);
        assert!(!valve.is_open(), "b still holds the valve");
        tick(&mut b, false, true);
        assert!(valve.is_open());
    }

    #[test]
    fn dropping_the_pipeline_gives_the_closing_back() {
        let valve = Arc::new(ValveControl::new(true));
        let mut p = linked(&valve);
        tick(&mut p, true, true);
        assert!(!valve.is_open());
        drop(p);
        assert_eq!(valve.holds(), 0);
        assert!(valve.is_open());
    }

    #[test]
    fn without_a_linked_estimator_the_own_valve_is_left_alone() {
        let mut p = pipeline(PIPE);
        tick(&mut p, true, true);
        assert!(p.valve().is_open() && p.valve().holds() == 0);
        tick(&mut p, false, true);
        assert!(p.valve().is_open() && p.valve().holds() == 0);
    }
}
