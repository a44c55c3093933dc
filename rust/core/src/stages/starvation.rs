//! `starvation`: one node-wide contention when production work itself is
//! starved of CPU (it waits on the run queue, or stalls under CPU
//! pressure) while best-effort work runs.
//!
//! New. The original's overload rule (`overload`) judges the node by its
//! usage alone: Σ usage > 72 % of the CPUs kills best-effort work on load
//! peaks that hurt nothing. Koordinator and Heracles judge interference by
//! what production suffers instead: CPU scheduling latency and PSI
//! (spec/anchors.md). This stage reads a per-executor starvation signal —
//! by default `runqueue_delay` (seconds its tasks waited on a run queue per
//! second, from `/proc/<pid>/schedstat`), or `cpu_pressure` (PSI `some`
//! share) — of each selected production executor:
//! - an executor is *starved* on a tick when its value exceeds `threshold`;
//! - after `ticks` consecutive ticks with some production executor starved
//!   and best-effort work present, one contention is raised per tick: no
//!   victim; severity = Σ over the starved executors of their value, in CPUs
//!   for `runqueue_delay` (the runnable work that could not run: CPUs to
//!   recover, what `ranked_victims` and `cpu_contention` need), else the
//!   largest value as a fraction;
//! - without best-effort work nothing is raised (killing cannot help), and
//!   executors without the signal (no probe, first sample) are skipped.

use super::BuildContext;
use crate::config::reader::{at_least_one, positive};
use crate::config::ParamReader;
use crate::signal::{builtin, SignalId};
use crate::stage::Stage;
use crate::tick::{Contention, Flow, SeverityUnit, Tick};
use std::sync::Arc;

/// Parameters of `starvation`.
#[derive(Debug, Clone, PartialEq)]
pub struct StarvationParams {
    /// The per-executor starvation signal (`input`, default `runqueue_delay`).
    pub input: SignalId,
    /// Value above which a production executor is starved (`threshold`,
    /// default 0.1: a tenth of a CPU's worth of runnable work waiting, or
    /// 10 % of the time stalled for `cpu_pressure`).
    pub threshold: f64,
    /// Consecutive starved ticks before the contention (`ticks`, default 2).
    pub ticks: u64,
}

struct Starvation {
    params: StarvationParams,
    input_name: String,
    name: Arc<str>,
    streak: u64,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    let input = r.signal_in("input", "runqueue_delay");
    let params = StarvationParams {
        input,
        threshold: r.f64("threshold", 0.1, positive),
        ticks: r.u64("ticks", 2, at_least_one),
    };
    Box::new(Starvation {
        input_name: r.signal_name(input),
        params,
        name: ctx.stage_name.clone(),
        streak: 0,
    })
}

impl Stage for Starvation {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let mut sum = 0.0;
        let mut worst = 0.0f64;
        let mut starved = 0usize;
        for row in tick.selected_rows() {
            if tick.is_revocable(row) {
                continue;
            }
            if let Some(v) = tick.signal(row, self.params.input) {
                if v > self.params.threshold {
                    sum += v;
                    worst = worst.max(v);
                    starved += 1;
                }
            }
        }
        if starved == 0 {
            self.streak = 0;
            return Flow::Continue;
        }
        self.streak += 1;
        let best_effort = (0..tick.rows()).any(|r| tick.is_revocable(r));
        if self.streak < self.params.ticks || !best_effort {
            if !best_effort {
                log::debug!(target: "serenity",
                    "stage {}: {starved} production executor(s) starved ({} up to {worst:.3}) with no best-effort work to revoke",
                    self.name, self.input_name);
            }
            return Flow::Continue;
        }
        let in_cpus = self.params.input == builtin::RUNQUEUE_DELAY;
        log::debug!(target: "serenity",
            "stage {}: {starved} production executor(s) starved for {} ticks ({} Σ {sum:.3}, worst {worst:.3})",
            self.name, self.streak, self.input_name);
        tick.state.contentions.push(Contention {
            stage: tick.stage,
            detector: self.name.clone(),
            signal: self.params.input,
            victim: None,
            severity: Some(if in_cpus { sum } else { worst }),
            unit: if in_cpus {
                SeverityUnit::Cpus
            } else {
                SeverityUnit::Fraction
            },
            handled: false,
        });
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::tick::SeverityUnit;

    const PIPE: &str =
        "kind = \"qos\"\n[[stage]]\ntype = \"starvation\"\nthreshold = 0.1\nticks = 2\n";

    fn run(p: &mut crate::pipeline::Pipeline, web: f64, with_be: bool) -> usize {
        let execs = if with_be {
            vec![pr("web", 4.0), be("batch", 2.0)]
        } else {
            vec![pr("web", 4.0)]
        };
        let snap = snapshot(&execs, Some(8.0), 10.0);
        let out = p.tick_injecting(&snap, |t, n| {
            set(t, n, 0, "runqueue_delay", web);
            if with_be {
                // A best-effort executor's own queueing is not production's.
                set(t, n, 1, "runqueue_delay", 5.0);
            }
        });
        if let Some(c) = out.contentions.first() {
            assert_eq!(c.unit, SeverityUnit::Cpus);
            assert!((c.severity.unwrap() - web).abs() < 1e-12);
            assert_eq!(c.victim, None);
        }
        out.contentions.len()
    }

    #[test]
    fn production_starved_for_the_set_ticks_raises_one_node_wide_contention_in_cpus() {
        let mut p = pipeline(PIPE);
        assert_eq!(run(&mut p, 0.4, true), 0, "one tick is not enough");
        assert_eq!(run(&mut p, 0.4, true), 1);
        assert_eq!(run(&mut p, 0.4, true), 1);
        assert_eq!(
            run(&mut p, 0.05, true),
            0,
            "below the threshold the streak ends"
        );
        assert_eq!(run(&mut p, 0.4, true), 0);
    }

    #[test]
    fn best_effort_queueing_alone_is_not_production_starvation() {
        let mut p = pipeline(PIPE);
        for _ in 0..4 {
            assert_eq!(run(&mut p, 0.0, true), 0);
        }
    }

    #[test]
    fn without_best_effort_work_nothing_is_raised() {
        let mut p = pipeline(PIPE);
        for _ in 0..4 {
            assert_eq!(run(&mut p, 0.9, false), 0);
        }
    }

    #[test]
    fn pressure_input_reports_the_worst_share_as_a_fraction() {
        let mut p = pipeline(
            "kind = \"qos\"\n[[stage]]\ntype = \"starvation\"\ninput = \"cpu_pressure\"\nthreshold = 0.2\nticks = 1\n",
        );
        let snap = snapshot(&[pr("a", 2.0), pr("b", 2.0), be("c", 1.0)], Some(8.0), 10.0);
        let out = p.tick_injecting(&snap, |t, n| {
            set(t, n, 0, "cpu_pressure", 0.3);
            set(t, n, 1, "cpu_pressure", 0.5);
        });
        assert_eq!(out.contentions.len(), 1);
        assert_eq!(out.contentions[0].unit, SeverityUnit::Fraction);
        assert_eq!(out.contentions[0].severity, Some(0.5));
    }
}
