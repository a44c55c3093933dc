//! `hysteresis`: quantisation, hysteresis and slow growth of the published
//! slack.
//!
//! New. Every change of the estimate, at Mesos's 3-decimal granularity,
//! makes the agent send an UpdateSlaveMessage and the master rescind every
//! outstanding revocable offer of the agent (spec/mesos-module-api.md §3,
//! pitfall 7). A raw estimate that wiggles by a few milli-CPUs every period
//! therefore means offer churn. Koordinator republishes only on a > 10 %
//! change and grows slowly; Katalyst and Heracles use dead bands and
//! asymmetric steps (spec/anchors.md §6, "hysteresis"). This stage does the
//! same with a deterministic rule, for CPUs and memory independently:
//!
//! 1. quantise: the tick's slack is floored to a multiple of the step
//!    (`cpus_step`, `mem_step_bytes`);
//! 2. decrease at once: a level below the published one is published
//!    immediately (lending too much is the unsafe direction);
//! 3. grow late: a level above the published one is published only once the
//!    last `grow_after_ticks` levels were all above it, and then the
//!    smallest of them (so a momentary dip in usage is never lent);
//! 4. grow slowly: each increase is at most `max_grow_cpus_per_tick` /
//!    `max_grow_mem_bytes_per_tick` (when set); growth then continues one
//!    capped step per tick while the condition of 3 holds;
//! 5. dead band: growth is judged on the raw value less a margin
//!    (`cpus_grow_margin`, `mem_grow_margin_bytes`), decreases on the raw
//!    value itself. The published value then sits at least the margin below
//!    the raw value it grew to, so noise smaller than the margin changes
//!    nothing in either direction, and nothing above the raw value is ever
//!    published. Without it, a steady raw value near a step boundary flips
//!    the estimate down and up every few ticks (seen on a real agent).
//!
//! It works on the tick's slack as computed so far: the total before the
//! pipeline subtracts allocated revocable resources, which is what the
//! master ends up seeing (the agent adds the allocated revocable resources
//! back). Place it last. The published value starts at zero, so a fresh
//! pipeline lends after `grow_after_ticks` ticks. A tick on which this stage
//! did not run (an earlier stage stopped it, the answer was zero) or had no
//! slack resets the published value to zero: growth starts over.

use super::BuildContext;
use crate::config::reader::{at_least_one, non_negative, positive};
use crate::config::ParamReader;
use crate::model::MIB;
use crate::stage::Stage;
use crate::tick::{Flow, Slack, Tick};
use std::collections::VecDeque;
use std::sync::Arc;

/// Parameters of `hysteresis`.
#[derive(Debug, Clone, PartialEq)]
pub struct HysteresisParams {
    /// CPU slack is floored to a multiple of this; default 0.1.
    pub cpus_step: f64,
    /// Memory slack is floored to a multiple of this many bytes; default
    /// 67108864 (64 MiB).
    pub mem_step_bytes: f64,
    /// A higher value is published only after it has been higher for this
    /// many consecutive ticks (then the smallest of them); default 3. With 1,
    /// increases are published at once (quantisation only).
    pub grow_after_ticks: u64,
    /// Largest increase of the published CPUs per tick (at least
    /// `cpus_step`); default: no limit.
    pub max_grow_cpus_per_tick: Option<f64>,
    /// Largest increase of the published memory per tick in bytes (at least
    /// `mem_step_bytes`); default: no limit.
    pub max_grow_mem_bytes_per_tick: Option<f64>,
    /// Growth is judged on the raw CPUs less this margin (the dead band);
    /// default 0.
    pub cpus_grow_margin: f64,
    /// Growth is judged on the raw memory less this many bytes; default 0.
    pub mem_grow_margin_bytes: f64,
}

/// Tolerance when flooring to a step, so that 0.3 / 0.1 is level 3, not 2.
const LEVEL_TOLERANCE: f64 = 1e-9;

/// The rule for one resource, usable alone: feed raw values, read the
/// published one. Levels are whole numbers of steps, so comparisons are
/// exact whatever the floating-point step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hysteresis {
    step: f64,
    margin: f64,
    grow_after: usize,
    max_grow_levels: Option<u64>,
    published: u64,
    recent: VecDeque<u64>,
}

impl Hysteresis {
    /// A rule with `step` > 0, `grow_after` ≥ 1 ticks and an optional cap on
    /// each increase (in the resource's unit; rounded down to whole steps,
    /// at least one). Growth is judged on the raw value less `margin` (≥ 0).
    pub(crate) fn new(step: f64, grow_after: u64, max_grow: Option<f64>, margin: f64) -> Self {
        let grow_after = usize::try_from(grow_after.max(1)).unwrap_or(usize::MAX);
        Hysteresis {
            step,
            margin: if margin.is_finite() {
                margin.max(0.0)
            } else {
                0.0
            },
            grow_after,
            max_grow_levels: max_grow.map(|m| Self::level_of(m, step).max(1)),
            published: 0,
            recent: VecDeque::with_capacity(grow_after.min(64)),
        }
    }

    fn level_of(x: f64, step: f64) -> u64 {
        if x.is_finite() && x > 0.0 && step > 0.0 {
            // `as` saturates for values beyond u64.
            (x / step + LEVEL_TOLERANCE).floor() as u64
        } else {
            0
        }
    }

    /// Feeds this tick's raw value; returns the value to publish.
    pub(crate) fn update(&mut self, raw: f64) -> f64 {
        let level = Self::level_of(raw, self.step);
        if level < self.published {
            self.published = level;
        }
        if self.recent.len() == self.grow_after {
            self.recent.pop_front();
        }
        self.recent
            .push_back(Self::level_of(raw - self.margin, self.step).min(level));
        if self.recent.len() == self.grow_after && self.recent.iter().all(|&l| l > self.published) {
            let lowest = self.recent.iter().copied().min().unwrap_or(self.published);
            let ceiling = self
                .max_grow_levels
                .map_or(u64::MAX, |m| self.published.saturating_add(m));
            self.published = lowest.min(ceiling);
        }
        self.value()
    }

    /// The published value.
    pub(crate) fn value(&self) -> f64 {
        self.published as f64 * self.step
    }

    /// Back to publishing zero, with no history.
    pub(crate) fn reset(&mut self) {
        self.published = 0;
        self.recent.clear();
    }
}

struct HysteresisStage {
    cpus: Hysteresis,
    mem: Hysteresis,
    last_tick: Option<u64>,
    name: Arc<str>,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    let cpus_step = r.f64("cpus_step", 0.1, positive);
    let mem_step_bytes = r.f64("mem_step_bytes", 64.0 * MIB, positive);
    let grow_after_ticks = r.u64("grow_after_ticks", 3, at_least_one);
    let max_grow_cpus_per_tick = r.opt_f64("max_grow_cpus_per_tick", positive);
    let max_grow_mem_bytes_per_tick = r.opt_f64("max_grow_mem_bytes_per_tick", positive);
    let cpus_grow_margin = r.f64("cpus_grow_margin", 0.0, non_negative);
    let mem_grow_margin_bytes = r.f64("mem_grow_margin_bytes", 0.0, non_negative);
    if max_grow_cpus_per_tick.is_some_and(|m| m < cpus_step) {
        r.problem(
            Some("max_grow_cpus_per_tick"),
            format!("must be at least cpus_step ({cpus_step}), or the estimate could never grow"),
        );
    }
    if max_grow_mem_bytes_per_tick.is_some_and(|m| m < mem_step_bytes) {
        r.problem(
            Some("max_grow_mem_bytes_per_tick"),
            format!(
                "must be at least mem_step_bytes ({mem_step_bytes}), or the estimate could never grow"
            ),
        );
    }
    let p = HysteresisParams {
        cpus_step,
        mem_step_bytes,
        grow_after_ticks,
        max_grow_cpus_per_tick,
        max_grow_mem_bytes_per_tick,
        cpus_grow_margin,
        mem_grow_margin_bytes,
    };
    Box::new(HysteresisStage {
        cpus: Hysteresis::new(
            p.cpus_step,
            p.grow_after_ticks,
            p.max_grow_cpus_per_tick,
            p.cpus_grow_margin,
        ),
        mem: Hysteresis::new(
            p.mem_step_bytes,
            p.grow_after_ticks,
            p.max_grow_mem_bytes_per_tick,
            p.mem_grow_margin_bytes,
        ),
        last_tick: None,
        name: ctx.stage_name.clone(),
    })
}

impl Stage for HysteresisStage {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let missed = self.last_tick.is_some_and(|t| t + 1 != tick.index);
        self.last_tick = Some(tick.index);
        if missed {
            log::debug!(
                target: "serenity",
                "stage {}: the previous tick answered zero slack; growth starts over",
                self.name
            );
            self.cpus.reset();
            self.mem.reset();
        }
        let Some(raw) = tick.state.slack else {
            self.cpus.reset();
            self.mem.reset();
            return Flow::Continue;
        };
        let before = (self.cpus.value(), self.mem.value());
        let published = Slack {
            cpus: self.cpus.update(raw.cpus),
            mem_bytes: self.mem.update(raw.mem_bytes),
        };
        if (published.cpus, published.mem_bytes) != before {
            log::debug!(
                target: "serenity",
                "stage {}: publishing {:.3} CPUs and {:.0} MiB (raw {:.3} CPUs, {:.0} MiB)",
                self.name,
                published.cpus,
                published.mem_bytes / MIB,
                raw.cpus,
                raw.mem_bytes / MIB
            );
        }
        tick.state.slack = Some(published);
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(h: &mut Hysteresis, raws: &[f64]) -> Vec<f64> {
        raws.iter().map(|&r| h.update(r)).collect()
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    }

    #[test]
    fn values_are_floored_to_whole_steps_even_when_the_step_is_not_exact() {
        let mut h = Hysteresis::new(0.1, 1, None, 0.0);
        assert!(close(&feed(&mut h, &[0.3, 0.29, 2.06]), &[0.3, 0.2, 2.0]));
        assert_eq!(h.update(f64::NAN), 0.0);
        assert_eq!(h.update(-1.0), 0.0);
    }

    #[test]
    fn growth_waits_for_consecutive_higher_ticks_and_takes_the_smallest() {
        let mut h = Hysteresis::new(0.1, 3, None, 0.0);
        let out = feed(&mut h, &[2.0, 2.5, 2.2, 3.0, 3.0, 3.0, 3.0]);
        // Published starts at 0: three ticks above it, then the smallest (2.0).
        assert!(close(&out, &[0.0, 0.0, 2.0, 2.2, 2.2, 3.0, 3.0]), "{out:?}");
    }

    #[test]
    fn a_tick_at_the_published_level_restarts_the_wait() {
        let mut h = Hysteresis::new(1.0, 3, None, 0.0);
        feed(&mut h, &[5.0, 5.0, 5.0]);
        assert_eq!(h.value(), 5.0);
        let out = feed(&mut h, &[6.0, 6.0, 5.0, 6.0, 6.0, 6.0]);
        assert!(close(&out, &[5.0, 5.0, 5.0, 5.0, 5.0, 6.0]), "{out:?}");
    }

    #[test]
    fn decreases_are_published_at_once() {
        let mut h = Hysteresis::new(0.5, 3, None, 0.0);
        feed(&mut h, &[4.0, 4.0, 4.0]);
        assert_eq!(h.value(), 4.0);
        assert_eq!(h.update(1.2), 1.0);
        assert_eq!(h.update(4.0), 1.0);
    }

    #[test]
    fn capped_growth_climbs_one_cap_per_tick() {
        let mut h = Hysteresis::new(0.1, 2, Some(0.5), 0.0);
        let out = feed(&mut h, &[2.0, 2.0, 2.0, 2.0, 2.0, 2.0]);
        assert!(close(&out, &[0.0, 0.5, 1.0, 1.5, 2.0, 2.0]), "{out:?}");
    }

    #[test]
    fn noise_inside_the_margin_never_changes_the_estimate() {
        // A steady raw value of 0.70 ± 0.04, right on a step boundary:
        // without a margin the estimate flips between 0.6 and 0.7.
        let raws: Vec<f64> = (0..200)
            .map(|i| 0.70 + if i % 5 == 0 { -0.04 } else { 0.03 })
            .collect();
        let changes = |h: &mut Hysteresis| {
            let out = feed(h, &raws);
            out.windows(2).filter(|w| w[0] != w[1]).count()
        };
        assert!(changes(&mut Hysteresis::new(0.1, 3, None, 0.0)) > 20);
        let mut banded = Hysteresis::new(0.1, 3, None, 0.1);
        assert_eq!(
            changes(&mut banded),
            2,
            "growth from zero in two steps, then stable"
        );
        assert!(
            banded.value() <= 0.66 + 1e-9,
            "never above the lowest raw value"
        );
    }

    #[test]
    fn the_margin_never_delays_a_decrease() {
        let mut h = Hysteresis::new(0.1, 1, None, 0.2);
        assert!(close(&feed(&mut h, &[1.0, 0.75, 0.79]), &[0.8, 0.7, 0.7]));
    }

    #[test]
    fn reset_publishes_zero_and_forgets_the_streak() {
        let mut h = Hysteresis::new(1.0, 2, None, 0.0);
        feed(&mut h, &[3.0, 3.0]);
        assert_eq!(h.value(), 3.0);
        h.reset();
        assert_eq!(h.value(), 0.0);
        assert_eq!(h.update(3.0), 0.0);
        assert_eq!(h.update(3.0), 3.0);
    }
}
