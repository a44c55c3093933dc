//! `ignore_new_executors`: later stages leave out executors still warming up.
//!
//! Original: IgnoreNewExecutorsFilter (spec/serenity.md §2.4, feature table
//! row 9). An executor passes when its age, tick time − the sample time at
//! which it was first seen, is at least `threshold_secs`; younger ones, and
//! those whose statistics carry no timestamp, are deselected. The tick time
//! is `tick.now` (the snapshot's latest statistics timestamp) and the
//! first-seen time comes from the executor registry: time comes from the
//! samples, never from a clock.
//!
//! When no selected executor remains the tick stops, because the original
//! then produced nothing and the estimator answered empty slack. In a QoS
//! pipeline stopping would also silence every later detector, so there the
//! default is to go on with nobody selected (`stop_when_none_left`).
//!
//! Default threshold 300 s, the original's INTENDED value; its shipped module
//! effectively ran with 0 s (spec §1.7, §7.1 item 1).
//!
//! Deliberate differences:
//! - "now" is the snapshot's sample time, not the wall clock (`GetTime()`),
//!   and first-seen is not truncated to whole seconds;
//! - an executor missing from a snapshot keeps its first-seen time for the
//!   pipeline's `executor_grace_ticks` (the original forgot it after one
//!   missing iteration and restarted its warm-up);
//! - a new container under a reused executor id starts a new warm-up.

use super::BuildContext;
use crate::config::reader::non_negative;
use crate::config::ParamReader;
use crate::pipeline::PipelineKind;
use crate::stage::Stage;
use crate::tick::{Flow, Tick};
use std::sync::Arc;

/// Parameters of `ignore_new_executors`.
#[derive(Debug, Clone, PartialEq)]
pub struct IgnoreNewExecutorsParams {
    /// Minimum age in seconds of sample time for an executor to stay
    /// selected; default 300 (the original's intended value).
    pub threshold_secs: f64,
    /// Stop the tick when no selected executor remains; default true in
    /// estimator pipelines (the original's behaviour: no slack) and false in
    /// QoS pipelines (later detectors still run).
    pub stop_when_none_left: bool,
}

struct IgnoreNewExecutors {
    params: IgnoreNewExecutorsParams,
    name: Arc<str>,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    Box::new(IgnoreNewExecutors {
        params: IgnoreNewExecutorsParams {
            threshold_secs: r.f64("threshold_secs", 300.0, non_negative),
            stop_when_none_left: r.bool("stop_when_none_left", ctx.kind == PipelineKind::Estimator),
        },
        name: ctx.stage_name.clone(),
    })
}

impl Stage for IgnoreNewExecutors {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let threshold = self.params.threshold_secs;
        let mut candidates = 0usize;
        let mut kept = 0usize;
        for row in 0..tick.rows() {
            if !tick.state.selected[row] {
                continue;
            }
            candidates += 1;
            let has_timestamp = tick
                .snapshot
                .statistics(row)
                .and_then(|s| s.timestamp)
                .is_some_and(f64::is_finite);
            let age = if has_timestamp {
                tick.age_secs(row)
            } else {
                None
            };
            match age {
                Some(age) if age >= threshold => kept += 1,
                Some(age) => {
                    log::debug!(
                        target: "serenity",
                        "stage {}: executor {} is {age:.0} s old, younger than {threshold} s; left out",
                        self.name,
                        tick.snapshot.executors[row].key
                    );
                    tick.state.selected[row] = false;
                }
                None => {
                    log::debug!(
                        target: "serenity",
                        "stage {}: executor {} has no statistics timestamp, so its age is unknown; left out",
                        self.name,
                        tick.snapshot.executors[row].key
                    );
                    tick.state.selected[row] = false;
                }
            }
        }
        if kept == 0 && self.params.stop_when_none_left {
            return Flow::Stop(if candidates == 0 {
                "no executor was selected before this stage".into()
            } else {
                format!(
                    "every executor is younger than {threshold} s (or has no statistics timestamp)"
                )
            });
        }
        Flow::Continue
    }
}
