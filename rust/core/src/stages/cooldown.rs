//! `cooldown`: after a correction, let it take effect before deciding again.
//!
//! Original: the cooldown of QoSCorrectionObserver (spec/serenity.md §2.14),
//! placed after the strategies:
//!
//! - a tick with no contention at all, or with no best-effort executor,
//!   clears the cooldown (the original's "empty" case);
//! - otherwise, while cooling down, this tick's corrections are dropped (the
//!   first drop of a cooldown is said at INFO with how many ticks are left,
//!   later ones at DEBUG, so a long contention does not log every tick) and
//!   the counter decrements, ending at zero;
//! - otherwise, a tick with corrections starts a cooldown of `ticks`.
//!
//! Timeline with a persistent contention and `ticks = 10`: correction at
//! tick t, nothing at t+1 … t+10, a new decision at t+11.
//!
//! Deliberate difference: one cooldown for the whole pipeline instead of one
//! per observer. The original's two observers cooled down independently, so
//! an IPC correction did not stop a CPU correction on the next tick; here a
//! correction of any kind waits for the previous one to show its effect,
//! which is the point of a cooldown. The strategies still run during a
//! cooldown (their contentions are marked handled and their corrections
//! dropped); the original did not call them.

use super::BuildContext;
use crate::config::reader::any_u64;
use crate::config::ParamReader;
use crate::stage::Stage;
use crate::tick::{Flow, Tick};
use std::sync::Arc;

/// Parameters of `cooldown`.
#[derive(Debug, Clone, PartialEq)]
pub struct CooldownParams {
    /// Ticks during which corrections are dropped after a correction
    /// (`ticks`, default 10, the original's CONTENTION_COOLDOWN; 0 disables).
    pub ticks: u64,
}

struct Cooldown {
    params: CooldownParams,
    left: Option<u64>,
    /// Whether this cooldown's first drop was said.
    said: bool,
    name: Arc<str>,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    Box::new(Cooldown {
        params: CooldownParams {
            ticks: r.u64("ticks", 10, any_u64),
        },
        left: None,
        said: false,
        name: ctx.stage_name.clone(),
    })
}

impl Stage for Cooldown {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        if tick.state.contentions.is_empty() || !tick.snapshot.has_revocable() {
            if self.left.take().is_some() {
                log::debug!(target: "serenity",
                    "stage {}: contention is over (or no best-effort work is left); cooldown cleared",
                    self.name);
            }
            return Flow::Continue;
        }
        if let Some(left) = self.left {
            if !tick.state.corrections.is_empty() {
                let level = if self.said {
                    log::Level::Debug
                } else {
                    log::Level::Info
                };
                self.said = true;
                log::log!(target: "serenity", level,
                    "stage {}: dropping {} correction(s): cooling down after the last correction, {left} tick(s) left",
                    self.name, tick.state.corrections.len());
                tick.state.corrections.clear();
            }
            self.left = left.checked_sub(1).filter(|l| *l > 0);
            return Flow::Continue;
        }
        if !tick.state.corrections.is_empty() && self.params.ticks > 0 {
            self.left = Some(self.params.ticks);
            self.said = false;
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;

    fn pipe(ticks: u64) -> crate::pipeline::Pipeline {
        pipeline(&format!(
            "kind = \"qos\"
[[stage]]
type = \"overload\"
threshold = 0.5
[[stage]]
type = \"kill_all\"
[[stage]]
type = \"cooldown\"
ticks = {ticks}
"
        ))
    }

    /// Runs ticks 1..=n; `overloaded(i)` says whether tick i is overloaded.
    /// Returns the ticks with corrections.
    fn corrected(ticks: u64, n: u64, overloaded: impl Fn(u64) -> bool) -> Vec<u64> {
        let mut p = pipe(ticks);
        let mut out = Vec::new();
        for i in 1..=n {
            let snap = snapshot(&[pr("p", 2.0), be("b", 1.0)], Some(4.0), i as f64);
            let u = if overloaded(i) { 3.0 } else { 0.5 };
            let o = p.tick_injecting(&snap, |t, n| {
                set(t, n, 0, "cpu_usage", u);
                set(t, n, 1, "cpu_usage", 0.5);
            });
            if !o.corrections.is_empty() {
                out.push(i);
            }
        }
        out
    }

    #[test]
    fn a_persistent_contention_is_corrected_every_eleventh_tick() {
        // Correction at t, nothing at t+1 … t+10, a new decision at t+11.
        assert_eq!(corrected(10, 30, |_| true), vec![1, 12, 23]);
        assert_eq!(corrected(3, 10, |_| true), vec![1, 5, 9]);
        assert_eq!(corrected(0, 3, |_| true), vec![1, 2, 3]);
    }

    #[test]
    fn a_tick_without_contention_clears_the_cooldown() {
        // Overloaded except at tick 4: the cooldown started at 1 ends there.
        assert_eq!(corrected(10, 8, |i| i != 4), vec![1, 5]);
    }
}
