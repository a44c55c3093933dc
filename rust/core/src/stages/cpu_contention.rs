//! `cpu_contention`: recover the CPUs a contention asks for, killing
//! allocation violators first, then the youngest best-effort executors.
//!
//! Original: CpuContentionStrategy (spec/serenity.md §2.15), with the
//! intended defaults:
//!
//! 1. cpus to recover = the largest severity among the pending contentions
//!    this strategy accepts; a contention without severity counts
//!    `default_severity` (the original's DEFAULT_CPU_SEVERITY 1.0, which it
//!    never actually read).
//! 2. Pass 1, best-effort executors in snapshot order, stopping as soon as
//!    nothing is left to recover: an executor whose `usage` exceeds its
//!    allocated cpus is killed (a limit violator) and its usage subtracted;
//!    the others with a known age become candidates; unknown age → skipped.
//! 3. Pass 2, while CPUs remain to recover: candidates youngest first
//!    (stable by snapshot order), each killed and its usage subtracted.
//!
//! Corrections: violators first, then the age-ordered victims. The
//! contentions are marked handled when at least one executor was chosen;
//! otherwise they stay pending for a later strategy.
//!
//! Deliberate differences:
//! - A best-effort executor without a usage value yet (its first ticks) is a
//!   candidate, counted at its allocated cpus. The original skipped it in
//!   pass 1, which made its own "allocated cpus when usage is unknown"
//!   fallback unreachable; the newest executor is the likeliest cause of a
//!   fresh overload.
//! - A contention whose severity is not in CPUs (an IPC drop routed here)
//!   counts `default_severity`; the original subtracted its fraction as if it
//!   were CPUs (and logged an error).

use super::common::{
    best_effort_rows, correct, describe_contention, describe_executor, known_signals,
    ContentionFilter,
};
use super::BuildContext;
use crate::config::reader::positive;
use crate::config::ParamReader;
use crate::signal::{SignalId, SignalNames};
use crate::stage::Stage;
use crate::tick::{Flow, SeverityUnit, Tick};
use std::sync::Arc;

/// Parameters of `cpu_contention`.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuContentionParams {
    /// Each executor's CPU usage (`usage`, default `cpu_usage`; the shipped
    /// pipeline uses the smoothed `cpu_usage_ema`, as the original).
    pub usage: SignalId,
    /// CPUs to recover for a contention without a CPU severity
    /// (`default_severity`, default 1.0).
    pub default_severity: f64,
}

struct CpuContention {
    params: CpuContentionParams,
    filter: ContentionFilter,
    names: SignalNames,
    name: Arc<str>,
    said_unit: bool,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    let params = CpuContentionParams {
        usage: r.signal_in("usage", "cpu_usage"),
        default_severity: r.f64("default_severity", 1.0, positive),
    };
    Box::new(CpuContention {
        params,
        filter: ContentionFilter::read(r),
        names: known_signals(r),
        name: ctx.stage_name.clone(),
        said_unit: false,
    })
}

impl Stage for CpuContention {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let pending = self.filter.pending(tick);
        if pending.is_empty() {
            return Flow::Continue;
        }
        let best_effort = best_effort_rows(tick);
        if best_effort.is_empty() {
            return Flow::Continue;
        }
        // The contention that sets the amount (the most severe).
        let mut amount = f64::NEG_INFINITY;
        let mut main = pending[0];
        for &i in &pending {
            let c = &tick.state.contentions[i];
            let s = match (c.unit, c.severity) {
                (SeverityUnit::Cpus, Some(s)) => s,
                (SeverityUnit::Cpus, None) => self.params.default_severity,
                _ => {
                    if !self.said_unit {
                        log::warn!(target: "serenity",
                            "stage {}: contention from {} is measured in {}, not cpus; counting {} cpus for it",
                            self.name, c.detector, c.unit.as_str(), self.params.default_severity);
                        self.said_unit = true;
                    }
                    self.params.default_severity
                }
            };
            if s > amount {
                amount = s;
                main = i;
            }
        }
        let why = format!(
            "{}: recovering {amount:.3} cpus for {}{}",
            self.name,
            describe_contention(&tick.state.contentions[main], &self.names, tick),
            if pending.len() > 1 {
                format!(" (and {} more)", pending.len() - 1)
            } else {
                String::new()
            }
        );
        let usage_name = self.names.name(self.params.usage).to_owned();
        let mut left = amount;
        let mut chosen: Vec<(usize, String)> = Vec::new();
        let mut candidates: Vec<(f64, usize, Option<f64>)> = Vec::new();
        for &row in &best_effort {
            if left <= 0.0 {
                break;
            }
            let u = tick.signal(row, self.params.usage);
            let allocated = tick.snapshot.executors[row].allocated_cpus;
            match (u, allocated) {
                (Some(u), Some(a)) if u > a => {
                    left -= u;
                    chosen.push((
                        row,
                        format!(
                            "{why}; {} uses more than its allocation",
                            describe_executor(tick, row, Some(u), &usage_name)
                        ),
                    ));
                }
                _ => {
                    if let Some(age) = tick.age_secs(row) {
                        candidates.push((age, row, u));
                    }
                }
            }
        }
        if left > 0.0 {
            candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (_, row, u) in candidates {
                if left <= 0.0 {
                    break;
                }
                let worth = u
                    .or(tick.snapshot.executors[row].allocated_cpus)
                    .unwrap_or(0.0);
                left -= worth;
                chosen.push((
                    row,
                    format!(
                        "{why}; {} is the youngest remaining best-effort executor",
                        describe_executor(tick, row, u, &usage_name)
                    ),
                ));
            }
        }
        if chosen.is_empty() {
            log::debug!(target: "serenity",
                "stage {}: no best-effort executor with a known age or usage to kill; contentions left for the next strategy",
                self.name);
            return Flow::Continue;
        }
        correct(tick, &pending, chosen);
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;

    const PIPE: &str = "kind = \"qos\"
[[stage]]
type = \"overload\"
threshold = 0.5
[[stage]]
type = \"cpu_contention\"
";

    fn names(out: &crate::pipeline::Outcome<'_>, snap: &crate::model::Snapshot) -> Vec<String> {
        out.corrections
            .iter()
            .map(|c| snap.executors[c.row].key.executor_id.clone())
            .collect()
    }

    /// Ticks twice (ages: b1 first seen at t=0, b2 and b3 at t=10), then
    /// injects usages on the second tick.
    fn run(usage: &[(usize, f64)], total: f64) -> (Vec<String>, bool) {
        let mut p = pipeline(PIPE);
        let first = snapshot(&[pr("p", 4.0), be("b1", 1.0)], Some(total), 0.0);
        p.tick(&first);
        let snap = snapshot(
            &[pr("p", 4.0), be("b1", 1.0), be("b2", 1.0), be("b3", 1.0)],
            Some(total),
            10.0,
        );
        let out = p.tick_injecting(&snap, |t, n| {
            for &(row, u) in usage {
                set(t, n, row, "cpu_usage", u);
            }
        });
        let handled = out.contentions.iter().all(|c| c.handled);
        (names(&out, &snap), handled)
    }

    #[test]
    fn violators_go_first_then_the_youngest_until_recovered() {
        // total 8, threshold 4; sum = 3 + 0.5 + 1.5 + 0.5 = 5.5 → recover 1.5.
        // b2 violates (1.5 > 1.0): killed, 0 left → done.
        let (v, handled) = run(&[(0, 3.0), (1, 0.5), (2, 1.5), (3, 0.5)], 8.0);
        assert_eq!(v, vec!["b2"]);
        assert!(handled);
        // sum = 3 + 0.9 + 0.9 + 0.9 = 5.7 → recover 1.7: no violator; the
        // youngest are b2 and b3 (age 0, snapshot order), 0.9 each.
        let (v, _) = run(&[(0, 3.0), (1, 0.9), (2, 0.9), (3, 0.9)], 8.0);
        assert_eq!(v, vec!["b2", "b3"]);
        // recover 2.1: then b1 (age 10) too.
        let (v, _) = run(&[(0, 3.4), (1, 0.9), (2, 0.9), (3, 0.9)], 8.0);
        assert_eq!(v, vec!["b2", "b3", "b1"]);
    }

    #[test]
    fn the_first_pass_stops_once_recovered() {
        // recover 0.5; b1 (1.2 > 1) covers it; b3 (1.3 > 1) is not needed.
        let (v, _) = run(&[(0, 2.0), (1, 1.2), (2, 0.0), (3, 1.3)], 8.0);
        assert_eq!(v, vec!["b1"]);
    }

    #[test]
    fn without_victims_the_contentions_stay_pending() {
        let mut p = pipeline(PIPE);
        // No statistics: no age, no usage of best-effort work.
        let mut b = be("b", 1.0);
        b.stats = false;
        let snap = snapshot(&[pr("p", 4.0), b], Some(4.0), 10.0);
        let out = p.tick_injecting(&snap, |t, n| set(t, n, 0, "cpu_usage", 3.9));
        // Production alone: no contention at all.
        assert!(out.contentions.is_empty());
        let mut b = be("b", 1.0);
        b.stats = false;
        let snap = snapshot(&[pr("p", 4.0), b], Some(4.0), 10.0);
        let out = p.tick_injecting(&snap, |t, n| {
            set(t, n, 0, "cpu_usage", 3.0);
            set(t, n, 1, "cpu_usage", 0.5);
        });
        // Usage 0.5 ≤ 1 allocated and no age: nothing to kill, still pending.
        assert_eq!(out.contentions.len(), 1);
        assert!(!out.contentions[0].handled);
        assert!(out.corrections.is_empty());
    }

    #[test]
    fn reasons_name_the_contention_and_the_executor() {
        let mut p = pipeline(PIPE);
        let snap = snapshot(&[pr("p", 4.0), be("b", 1.0)], Some(4.0), 10.0);
        let out = p.tick_injecting(&snap, |t, n| {
            set(t, n, 0, "cpu_usage", 2.0);
            set(t, n, 1, "cpu_usage", 1.5);
        });
        let r = &out.corrections[0].reason;
        assert!(r.contains("recovering 1.500 cpus"), "{r}");
        assert!(
            r.contains("overload on cpu_usage (node-wide, severity 1.500 cpus)"),
            "{r}"
        );
        assert!(
            r.contains("executor b (framework fw) (cpu_usage 1.500"),
            "{r}"
        );
        assert!(r.contains("age 0 s"), "{r}");
    }

    #[test]
    fn an_executor_without_usage_is_a_candidate_at_its_allocation() {
        let mut p = pipeline(PIPE);
        let snap = snapshot(&[pr("p", 4.0), be("old", 1.0)], Some(4.0), 0.0);
        p.tick(&snap);
        let snap = snapshot(
            &[pr("p", 4.0), be("old", 1.0), be("new", 2.0)],
            Some(4.0),
            10.0,
        );
        let out = p.tick_injecting(&snap, |t, n| {
            set(t, n, 0, "cpu_usage", 2.5);
            set(t, n, 1, "cpu_usage", 0.5);
        });
        // recover 1.0; "new" (no usage, age 0) counts 2.0 allocated.
        assert_eq!(names(&out, &snap), vec!["new"]);
    }
}
