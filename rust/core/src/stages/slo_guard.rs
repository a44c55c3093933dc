//! `slo_guard`: steer best-effort work by the slack to the production
//! service's own objectives, after Heracles's top-level controller.
//!
//! Source: D. Lo, L. Cheng, R. Govindaraju, P. Ranganathan, C. Kozyrakis,
//! "Heracles: Improving Resource Efficiency at Scale", ISCA 2015, §4.2 and
//! Algorithm 1: every period the controller reads the latency-critical
//! service's tail latency, computes slack = (target − latency) / target,
//! disables best-effort work on a violation (and enters a cooldown), forbids
//! best-effort growth when slack is under 10 % or load is over 80 %, and
//! takes cores away from best-effort work when slack is under 5 %.
//!
//! Here, on every tick, over the watched SLIs (`sli`, default all) of the
//! production executors they name:
//! - some slack < 0 (violated): step **revoke**, and after
//!   `contention_ticks` consecutive violated ticks with best-effort work
//!   present and using at least `kill_min_cpus` (Σ `load` of the
//!   best-effort executors; default 0: any), one contention per violated
//!   executor (severity: the violation as a fraction of the objective) for
//!   the strategy stages and `pause_estimator`; growth stays forbidden for
//!   `regrow_ticks` ticks after the last violation (Heracles's cooldown).
//!   `kill_min_cpus` is for the node agent, whose revoke already throttles
//!   best-effort work to its floor: killing work that uses next to nothing
//!   cannot give the service its latency back (a violation that outlasts
//!   the revoke comes from elsewhere: the service's own load, the host);
//! - else the smallest slack < `shrink_margin` (0.05): step **shrink**;
//! - else some watched SLI missing or stale, or slack < `grow_margin`
//!   (0.10), or the node's load (Σ `load` of all executors / total cpus) ≥
//!   `grow_load_cap` (0.80), or the cooldown running: step **hold**;
//! - else step **grow**.
//!
//! A missing SLI never raises a contention: nothing is killed on missing
//! data alone. The step is the pipeline's [`crate::tick::Allowance`]: the
//! node agent moves the best-effort group's CPU and memory allowance by it;
//! inside Mesos, which can only kill, the contentions and the estimator's
//! `slo_scale` act. Difference from Heracles: its load is the service's
//! request rate relative to its peak, which a node module does not know; the
//! node's CPU load stands in, and it only stops growth (it never revokes:
//! killing best-effort work because the node is busy is the fault of the
//! usage-threshold rules this stage replaces).

use super::slo_watch::{margins, Watched};
use super::BuildContext;
use crate::config::reader::{any_u64, at_least_one, non_negative, open_fraction};
use crate::config::ParamReader;
use crate::signal::SignalId;
use crate::stage::Stage;
use crate::tick::{Allowance, AllowanceStep, Contention, Flow, SeverityUnit, Tick};
use std::sync::Arc;

struct SloGuard {
    watched: Watched,
    shrink_margin: f64,
    grow_margin: f64,
    grow_load_cap: f64,
    load: SignalId,
    contention_ticks: u64,
    kill_min_cpus: f64,
    regrow_ticks: u64,
    name: Arc<str>,
    violated_streak: u64,
    cooldown: u64,
    last_step: Option<AllowanceStep>,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    let watched = Watched::read(r, &ctx.slis, "slo_guard");
    let (shrink_margin, grow_margin) = margins(r);
    Box::new(SloGuard {
        watched,
        shrink_margin,
        grow_margin,
        grow_load_cap: r.f64("grow_load_cap", 0.80, open_fraction),
        load: r.signal_in("load", "cpu_usage"),
        contention_ticks: r.u64("contention_ticks", 1, at_least_one),
        kill_min_cpus: r.f64("kill_min_cpus", 0.0, non_negative),
        regrow_ticks: r.u64("regrow_ticks", 5, any_u64),
        name: ctx.stage_name.clone(),
        violated_streak: 0,
        cooldown: 0,
        last_step: None,
    })
}

impl SloGuard {
    fn node_load(&self, tick: &Tick<'_>) -> Option<f64> {
        let total = tick.snapshot.total_cpus?;
        let used: f64 = (0..tick.rows())
            .filter_map(|r| tick.signal(r, self.load))
            .sum();
        Some(used / total)
    }

    /// CPUs the best-effort executors use (Σ `load`; unknown rows count 0).
    fn best_effort_cpus(&self, tick: &Tick<'_>) -> f64 {
        (0..tick.rows())
            .filter(|&r| tick.is_revocable(r))
            .filter_map(|r| tick.signal(r, self.load))
            .sum()
    }

    fn decide(&mut self, tick: &mut Tick<'_>) -> Allowance {
        let reading = self.watched.read_tick(tick);
        if !reading.violated.is_empty() {
            self.violated_streak += 1;
            self.cooldown = self.regrow_ticks;
            let best_effort = tick.snapshot.has_revocable();
            let mut spared = None;
            if best_effort && self.kill_min_cpus > 0.0 {
                let used = self.best_effort_cpus(tick);
                if used < self.kill_min_cpus {
                    spared = Some(used);
                }
            }
            if best_effort && spared.is_none() && self.violated_streak >= self.contention_ticks {
                for &(i, row, slack) in &reading.violated {
                    tick.state.contentions.push(Contention {
                        stage: tick.stage,
                        detector: self.name.clone(),
                        signal: self.watched.spec(i).slack_signal,
                        victim: Some(row),
                        severity: Some(-slack),
                        unit: SeverityUnit::Fraction,
                        handled: false,
                    });
                }
            }
            let (i, row, _) = reading.violated[0];
            return Allowance {
                step: AllowanceStep::Revoke,
                reason: format!(
                    "{} violates its objective{}{}",
                    self.watched.describe(tick, i, row),
                    if reading.violated.len() > 1 {
                        format!(" (and {} more)", reading.violated.len() - 1)
                    } else {
                        String::new()
                    },
                    match spared {
                        Some(used) => format!(
                            "; best-effort work uses {used:.3} cpus, under kill_min_cpus \
                             ({}): revoked, not killed",
                            self.kill_min_cpus
                        ),
                        None => String::new(),
                    }
                ),
            };
        }
        self.violated_streak = 0;
        let cooling = self.cooldown > 0;
        self.cooldown = self.cooldown.saturating_sub(1);
        if let Some((w, i, row)) = reading.worst {
            if w < self.shrink_margin {
                return Allowance {
                    step: AllowanceStep::Shrink,
                    reason: format!(
                        "{}: below the shrink margin of {:.1} %",
                        self.watched.describe(tick, i, row),
                        100.0 * self.shrink_margin
                    ),
                };
            }
        }
        let hold = |reason: String| Allowance {
            step: AllowanceStep::Hold,
            reason,
        };
        if let Some(&(i, row)) = reading.missing.first() {
            return hold(format!(
                "{} (or stale): best-effort growth stops until it is back",
                self.watched.describe(tick, i, row)
            ));
        }
        if let Some((w, i, row)) = reading.worst {
            if w < self.grow_margin {
                return hold(format!(
                    "{}: below the grow margin of {:.1} %",
                    self.watched.describe(tick, i, row),
                    100.0 * self.grow_margin
                ));
            }
        }
        match self.node_load(tick) {
            None => {
                return hold(
                    "the agent reports no total cpus, so the node's load is unknown".into(),
                )
            }
            Some(load) if load >= self.grow_load_cap => {
                return hold(format!(
                    "the node's load is {:.1} % of its cpus, at or above grow_load_cap ({:.1} %)",
                    100.0 * load,
                    100.0 * self.grow_load_cap
                ))
            }
            Some(_) => {}
        }
        if cooling {
            return hold(format!(
                "cooling down after a violation ({} tick(s) left)",
                self.cooldown + 1
            ));
        }
        let reason = match reading.worst {
            Some((_, i, row)) => format!(
                "{}: above the grow margin",
                self.watched.describe(tick, i, row)
            ),
            None => "no executor of the watched SLIs is running".into(),
        };
        Allowance {
            step: AllowanceStep::Grow,
            reason,
        }
    }
}

impl Stage for SloGuard {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let allowance = self.decide(tick);
        if self.last_step != Some(allowance.step) {
            log::info!(target: "serenity",
                "stage {}: best-effort allowance: {}: {}", self.name, allowance.step.as_str(), allowance.reason);
        } else {
            log::debug!(target: "serenity",
                "stage {}: best-effort allowance: {}: {}", self.name, allowance.step.as_str(), allowance.reason);
        }
        self.last_step = Some(allowance.step);
        tick.state.allowance = Some(allowance);
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::pipeline::Pipeline;
    use crate::tick::{AllowanceStep, SeverityUnit};

    /// One SLI on executor "web": p99 at most 2 ms, stale after 3 s.
    const SLI: &str = "[[sli]]
name = \"p99\"
executors = [\"web\"]
objective = 2.0
unit = \"ms\"
source = \"json\"
url = \"http://127.0.0.1:1/stats\"
pointer = \"/p99\"
max_age_secs = 3.0
";

    fn guard(extra: &str) -> Pipeline {
        pipeline(&format!(
            "kind = \"qos\"\n{SLI}[[stage]]\ntype = \"slo_guard\"\n{extra}"
        ))
    }

    /// One tick at time `ts` with web's p99 at `p99` ms measured at `sli_ts`
    /// (no sample when `None`), web using `web_cpu` of 4 cpus.
    fn tick(
        p: &mut Pipeline,
        ts: f64,
        p99: Option<(f64, f64)>,
        web_cpu: f64,
    ) -> (AllowanceStep, usize, String) {
        let mut snap = snapshot(&[pr("web", 2.0), be("batch", 2.0)], Some(4.0), ts);
        if let Some((v, at)) = p99 {
            snap = with_sli(snap, 0, "p99", v, at);
        }
        let out = p.tick_injecting(&snap, |t, n| set(t, n, 0, "cpu_usage", web_cpu));
        for c in out.contentions {
            assert_eq!(
                c.victim,
                Some(0),
                "the contention names the suffering executor"
            );
            assert_eq!(c.unit, SeverityUnit::Fraction);
        }
        let a = out.allowance.expect("slo_guard always decides");
        (a.step, out.contentions.len(), a.reason.clone())
    }

    #[test]
    fn each_band_of_slack_to_the_objective_gives_heracles_step() {
        let mut p = guard("regrow_ticks = 0\n");
        // slack = (2 − v) / 2.
        assert_eq!(
            tick(&mut p, 10.0, Some((1.0, 10.0)), 0.5).0,
            AllowanceStep::Grow
        );
        assert_eq!(
            tick(&mut p, 11.0, Some((1.85, 11.0)), 0.5).0,
            AllowanceStep::Hold,
            "7.5 % is inside the hold band"
        );
        assert_eq!(
            tick(&mut p, 12.0, Some((1.95, 12.0)), 0.5).0,
            AllowanceStep::Shrink,
            "2.5 % is under the shrink margin"
        );
        let (step, contentions, reason) = tick(&mut p, 13.0, Some((2.6, 13.0)), 0.5);
        assert_eq!(step, AllowanceStep::Revoke);
        assert_eq!(contentions, 1, "a violation is a contention on web");
        assert!(
            reason.contains("2.6000 ms") && reason.contains("-30.0 %"),
            "{reason}"
        );
    }

    #[test]
    fn the_node_load_cap_stops_growth_but_never_revokes() {
        let mut p = guard("");
        let (step, contentions, reason) = tick(&mut p, 10.0, Some((0.5, 10.0)), 3.5);
        assert_eq!((step, contentions), (AllowanceStep::Hold, 0));
        assert!(reason.contains("grow_load_cap"), "{reason}");
    }

    #[test]
    fn a_stale_or_missing_sli_holds_and_raises_no_contention() {
        let mut p = guard("");
        let (step, contentions, _) = tick(&mut p, 10.0, None, 0.5);
        assert_eq!((step, contentions), (AllowanceStep::Hold, 0), "missing");
        // Measured 5 s before the snapshot, max_age_secs = 3: stale, even
        // though the stale value itself is a violation.
        let (step, contentions, reason) = tick(&mut p, 20.0, Some((9.0, 15.0)), 0.5);
        assert_eq!(
            (step, contentions),
            (AllowanceStep::Hold, 0),
            "stale: {reason}"
        );
        assert!(reason.contains("missing"), "{reason}");
    }

    #[test]
    fn after_a_violation_growth_waits_for_the_cooldown() {
        let mut p = guard("regrow_ticks = 2\n");
        assert_eq!(
            tick(&mut p, 10.0, Some((3.0, 10.0)), 0.5).0,
            AllowanceStep::Revoke
        );
        assert_eq!(
            tick(&mut p, 11.0, Some((0.5, 11.0)), 0.5).0,
            AllowanceStep::Hold
        );
        assert_eq!(
            tick(&mut p, 12.0, Some((0.5, 12.0)), 0.5).0,
            AllowanceStep::Hold
        );
        assert_eq!(
            tick(&mut p, 13.0, Some((0.5, 13.0)), 0.5).0,
            AllowanceStep::Grow
        );
    }

    #[test]
    fn contention_ticks_delays_the_contention_not_the_revoke() {
        let mut p = guard("contention_ticks = 3\n");
        for (i, want) in [0, 0, 1, 1].into_iter().enumerate() {
            let (step, contentions, _) =
                tick(&mut p, 10.0 + i as f64, Some((2.2, 10.0 + i as f64)), 0.5);
            assert_eq!(step, AllowanceStep::Revoke);
            assert_eq!(contentions, want, "tick {i}");
        }
    }

    #[test]
    fn best_effort_work_under_kill_min_cpus_is_revoked_but_not_killed() {
        let mut p = guard("kill_min_cpus = 0.1\nload = \"cpu_usage\"\n");
        let mut at = |ts: f64, batch_cpu: f64| {
            let snap = with_sli(
                snapshot(&[pr("web", 2.0), be("batch", 2.0)], Some(4.0), ts),
                0,
                "p99",
                3.0,
                ts,
            );
            let out = p.tick_injecting(&snap, |t, n| {
                set(t, n, 0, "cpu_usage", 0.5);
                set(t, n, 1, "cpu_usage", batch_cpu);
            });
            let a = out.allowance.expect("decided");
            (a.step, out.contentions.len(), a.reason.clone())
        };
        let (step, contentions, reason) = at(10.0, 0.05);
        assert_eq!((step, contentions), (AllowanceStep::Revoke, 0));
        assert!(
            reason.contains("0.050 cpus") && reason.contains("not killed"),
            "{reason}"
        );
        // The same violation with best-effort work using 0.6 cpus kills.
        let (step, contentions, reason) = at(11.0, 0.6);
        assert_eq!((step, contentions), (AllowanceStep::Revoke, 1), "{reason}");
        assert!(!reason.contains("not killed"), "{reason}");
    }

    #[test]
    fn a_violation_followed_by_a_strategy_kills_best_effort_only() {
        let mut p = pipeline(&format!(
            "kind = \"qos\"\n{SLI}[[stage]]\ntype = \"slo_guard\"\n[[stage]]\ntype = \"kill_all\"\n"
        ));
        let snap = with_sli(
            snapshot(&[pr("web", 2.0), be("batch", 2.0)], Some(4.0), 10.0),
            0,
            "p99",
            4.0,
            10.0,
        );
        let out = p.tick(&snap);
        assert_eq!(out.corrections.len(), 1);
        assert_eq!(out.corrections[0].row, 1, "only the best-effort executor");
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let errs = config_errors("kind = \"qos\"\n[[stage]]\ntype = \"slo_guard\"\n");
        assert!(
            errs.iter()
                .any(|e| e.contains("needs at least one [[sli]]")),
            "{errs:?}"
        );
        let errs = config_errors(&format!(
            "kind = \"qos\"\n{SLI}[[stage]]\ntype = \"slo_guard\"\nsli = [\"p95\"]\nshrink_margin = 0.2\n"
        ));
        assert!(
            errs.iter()
                .any(|e| e.contains("\"p95\"") && e.contains("declared: p99")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("grow_margin") && e.contains("at least shrink_margin")),
            "{errs:?}"
        );
    }
}
