//! `overload`: one node-wide contention when the executors together use more
//! than a share of the agent's CPUs and best-effort work is among them.
//!
//! Original: OverloadDetector (spec/serenity.md §2.10; issue #114, after
//! Heracles' observation that more than ~85 % host CPU utilisation hurts
//! latency-critical work). sum = Σ `input` over the selected executors that
//! have it; when sum > `threshold` × total cpus and at least one best-effort
//! executor is among the summed ones, one contention is raised: no victim,
//! severity = sum − threshold × total cpus (the CPUs to recover), unit `cpus`.
//! When only production work is summed, the overload is logged and no
//! contention is raised (killing best-effort work cannot help).
//!
//! Default threshold 0.85 is the class default, which the original module
//! actually ran with (its 0.72 was written where nobody read it, §1.8); the
//! shipped `pipelines/qos.toml` sets the intended 0.72.
//!
//! Changed on purpose: without total cpus the original returned an error and
//! produced nothing, which de-phased its joins; here the tick goes on without
//! a contention and the condition is logged once.

use super::BuildContext;
use crate::config::reader::open_fraction;
use crate::config::ParamReader;
use crate::signal::SignalId;
use crate::stage::Stage;
use crate::tick::{Contention, Flow, SeverityUnit, Tick};
use std::sync::Arc;

/// Parameters of `overload`.
#[derive(Debug, Clone, PartialEq)]
pub struct OverloadParams {
    /// The CPU usage signal summed (`input`, default `cpu_usage`; the shipped
    /// pipeline sums an `ema` of it).
    pub input: SignalId,
    /// Share of the agent's total cpus above which the node is overloaded,
    /// in (0, 1] (`threshold`, default 0.85).
    pub threshold: f64,
}

struct Overload {
    params: OverloadParams,
    input_name: String,
    name: Arc<str>,
    said_no_total: bool,
    said_production_only: bool,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    let input = r.signal_in("input", "cpu_usage");
    let params = OverloadParams {
        input,
        threshold: r.f64("threshold", 0.85, open_fraction),
    };
    Box::new(Overload {
        input_name: r.signal_name(input),
        params,
        name: ctx.stage_name.clone(),
        said_no_total: false,
        said_production_only: false,
    })
}

impl Stage for Overload {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let Some(total) = tick.snapshot.total_cpus else {
            if !self.said_no_total {
                log::warn!(target: "serenity",
                    "stage {}: the agent's total resources have no cpus, so overload cannot be judged; no contention",
                    self.name);
                self.said_no_total = true;
            }
            return Flow::Continue;
        };
        self.said_no_total = false;
        let mut sum = 0.0;
        let mut best_effort = 0usize;
        for row in tick.selected_rows() {
            if let Some(u) = tick.signal(row, self.params.input) {
                sum += u;
                best_effort += usize::from(tick.is_revocable(row));
            }
        }
        let limit = self.params.threshold * total;
        if sum <= limit {
            self.said_production_only = false;
            return Flow::Continue;
        }
        if best_effort == 0 {
            if !self.said_production_only {
                log::info!(target: "serenity",
                    "stage {}: production work alone uses {sum:.2} of {total} cpus (above {limit:.2}); no best-effort work to revoke",
                    self.name);
                self.said_production_only = true;
            }
            return Flow::Continue;
        }
        self.said_production_only = false;
        log::debug!(target: "serenity",
            "stage {}: {} sums to {sum:.2} of {total} cpus, {:.2} above the threshold {limit:.2}",
            self.name, self.input_name, sum - limit);
        tick.state.contentions.push(Contention {
            stage: tick.stage,
            detector: self.name.clone(),
            signal: self.params.input,
            victim: None,
            severity: Some(sum - limit),
            unit: SeverityUnit::Cpus,
            handled: false,
        });
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::tick::SeverityUnit;

    const PIPE: &str = "kind = \"qos\"\n[[stage]]\ntype = \"overload\"\nthreshold = 0.5\n";

    #[test]
    fn overload_with_best_effort_work_raises_one_node_wide_contention() {
        let mut p = pipeline(PIPE);
        let snap = snapshot(&[pr("a", 2.0), be("b", 1.0)], Some(4.0), 10.0);
        let out = p.tick_injecting(&snap, |t, n| {
            set(t, n, 0, "cpu_usage", 1.5);
            set(t, n, 1, "cpu_usage", 1.0);
        });
        assert_eq!(out.contentions.len(), 1);
        let c = &out.contentions[0];
        assert_eq!(c.victim, None);
        assert_eq!(c.unit, SeverityUnit::Cpus);
        assert!((c.severity.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(&*c.detector, "overload");
    }

    #[test]
    fn exactly_at_the_threshold_is_not_overload() {
        let mut p = pipeline(PIPE);
        let snap = snapshot(&[pr("a", 2.0), be("b", 1.0)], Some(4.0), 10.0);
        let out = p.tick_injecting(&snap, |t, n| {
            set(t, n, 0, "cpu_usage", 1.0);
            set(t, n, 1, "cpu_usage", 1.0);
        });
        assert!(out.contentions.is_empty());
    }

    #[test]
    fn production_only_overload_raises_nothing() {
        let mut p = pipeline(PIPE);
        // The best-effort executor has no usage value, so it is not summed.
        let snap = snapshot(&[pr("a", 4.0), be("b", 1.0)], Some(4.0), 10.0);
        let out = p.tick_injecting(&snap, |t, n| set(t, n, 0, "cpu_usage", 3.9));
        assert!(out.contentions.is_empty());
    }

    #[test]
    fn without_total_cpus_there_is_no_contention() {
        let mut p = pipeline(PIPE);
        let snap = snapshot(&[pr("a", 4.0), be("b", 1.0)], None, 10.0);
        let out = p.tick_injecting(&snap, |t, n| {
            set(t, n, 0, "cpu_usage", 30.0);
            set(t, n, 1, "cpu_usage", 30.0);
        });
        assert!(out.contentions.is_empty());
        assert!(out.stopped.is_none());
    }

    #[test]
    fn default_threshold_is_the_class_default() {
        let mut p = pipeline("kind = \"qos\"\n[[stage]]\ntype = \"overload\"\n");
        let snap = snapshot(&[pr("a", 4.0), be("b", 1.0)], Some(10.0), 10.0);
        let at = |p: &mut crate::pipeline::Pipeline, v: f64| {
            p.tick_injecting(&snap, |t, n| {
                set(t, n, 0, "cpu_usage", v);
                set(t, n, 1, "cpu_usage", 0.0);
            })
            .contentions
            .len()
        };
        assert_eq!(at(&mut p, 8.5), 0);
        assert_eq!(at(&mut p, 8.6), 1);
    }
}
