//! `seniority`: kill a share of the best-effort executors, youngest first,
//! sized by the worst contention.
//!
//! Original: SeniorityStrategy (spec/serenity.md §2.15; issue #70: "kill
//! youngest first, in groups sized by interference strength"):
//! n = ⌈#best-effort × max(`starting_severity`, largest severity among the
//! pending contentions that have one)⌉; the best-effort executors with a
//! known age are stably sorted by age, youngest first, and the first n are
//! killed (all of them when fewer). Unknown age → skipped; n = 0 → nothing.
//!
//! As in the original, severities are used as fractions whatever their unit
//! (a CPU severity of 2 kills every best-effort executor); route only
//! fraction-valued contentions here (`contentions = [...]`) to keep the
//! "share of executors" meaning. The original was not wired into its
//! pipeline; here it is one strategy among others.

use super::common::{
    best_effort_rows, correct, describe_contention, describe_executor, known_signals,
    ContentionFilter,
};
use super::BuildContext;
use crate::config::reader::non_negative;
use crate::config::ParamReader;
use crate::signal::{builtin, SignalNames};
use crate::stage::Stage;
use crate::tick::{Flow, Tick};
use std::sync::Arc;

/// Parameters of `seniority`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeniorityParams {
    /// The smallest share of best-effort executors killed per decision
    /// (`starting_severity`, default 0.1, the original's STARTING_SEVERITY).
    pub starting_severity: f64,
}

struct Seniority {
    params: SeniorityParams,
    filter: ContentionFilter,
    names: SignalNames,
    name: Arc<str>,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    r.reads_builtin(builtin::CPU_USAGE);
    let params = SeniorityParams {
        starting_severity: r.f64("starting_severity", 0.1, non_negative),
    };
    Box::new(Seniority {
        params,
        filter: ContentionFilter::read(r),
        names: known_signals(r),
        name: ctx.stage_name.clone(),
    })
}

impl Stage for Seniority {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let pending = self.filter.pending(tick);
        if pending.is_empty() {
            return Flow::Continue;
        }
        let best_effort = best_effort_rows(tick);
        let mut share = self.params.starting_severity;
        let mut main = pending[0];
        for &i in &pending {
            if let Some(s) = tick.state.contentions[i].severity {
                if s > share {
                    share = s;
                    main = i;
                }
            }
        }
        let n = (best_effort.len() as f64 * share).ceil();
        let n = if n.is_finite() && n > 0.0 {
            (n as usize).min(best_effort.len())
        } else {
            0
        };
        let mut aged: Vec<(f64, usize)> = best_effort
            .iter()
            .filter_map(|&row| tick.age_secs(row).map(|a| (a, row)))
            .collect();
        aged.sort_by(|a, b| a.0.total_cmp(&b.0));
        aged.truncate(n);
        if aged.is_empty() {
            return Flow::Continue;
        }
        let why = format!(
            "{}: killing the {n} youngest of {} best-effort executors (share {share:.3}) for {}",
            self.name,
            best_effort.len(),
            describe_contention(&tick.state.contentions[main], &self.names, tick)
        );
        let victims: Vec<(usize, String)> = aged
            .into_iter()
            .map(|(_, row)| {
                let u = tick.signal(row, builtin::CPU_USAGE);
                (
                    row,
                    format!("{why}; {}", describe_executor(tick, row, u, "cpu_usage")),
                )
            })
            .collect();
        correct(tick, &pending, victims);
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
type = \"seniority\"
";

    /// Executors b1..b(k) first seen at t = 0, 10, 20, …; ticked at t = 100
    /// with an overload of `excess` cpus.
    fn victims(k: usize, excess: f64) -> Vec<String> {
        let ids = [
            "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9", "b10", "b11",
        ];
        let mut p = pipeline(PIPE);
        for i in 0..k {
            let execs: Vec<_> = ids[..=i].iter().map(|id| be(id, 1.0)).collect();
            p.tick(&snapshot(&execs, Some(100.0), 10.0 * i as f64));
        }
        let execs: Vec<_> = ids[..k].iter().map(|id| be(id, 1.0)).collect();
        let snap = snapshot(&execs, Some(100.0), 100.0);
        let out = p.tick_injecting(&snap, |t, n| {
            set(t, n, 0, "cpu_usage", 50.0 + excess);
        });
        out.corrections
            .iter()
            .map(|c| snap.executors[c.row].key.executor_id.clone())
            .collect()
    }

    #[test]
    fn the_share_killed_follows_the_severity_youngest_first() {
        // Severity 0.05 < starting 0.1: ⌈10 × 0.1⌉ = 1, the youngest.
        assert_eq!(victims(10, 0.05), vec!["b10"]);
        // Severity 0.25: ⌈10 × 0.25⌉ = 3.
        assert_eq!(victims(10, 0.25), vec!["b10", "b9", "b8"]);
        // Severity above 1: everyone.
        assert_eq!(victims(3, 2.0).len(), 3);
        // ⌈1 × 0.1⌉ = 1.
        assert_eq!(victims(1, 0.01), vec!["b1"]);
    }

    #[test]
    fn executors_of_unknown_age_are_counted_but_never_chosen() {
        let mut p = pipeline(PIPE);
        let mut ghost = be("ghost", 1.0);
        ghost.stats = false;
        let snap = snapshot(&[be("b1", 1.0), ghost], Some(100.0), 0.0);
        // ⌈2 × 0.6⌉ = 2, but only b1 has an age.
        let out = p.tick_injecting(&snap, |t, n| set(t, n, 0, "cpu_usage", 50.6));
        let v: Vec<&str> = out
            .corrections
            .iter()
            .map(|c| snap.executors[c.row].key.executor_id.as_str())
            .collect();
        assert_eq!(v, vec!["b1"]);
        assert!(out.corrections[0]
            .reason
            .contains("killing the 2 youngest of 2"));
    }
}
