//! The best-effort allowance: how much CPU (and, optionally, memory) the
//! best-effort parent group may use, moved in bounded steps by the QoS
//! pipeline's SLO controller (`slo_guard`, docs/slo.md).
//!
//! ```toml
//! [allowance]
//! cpus_floor = 0.1          # never below (revoke goes here at once)
//! cpus_ceiling = 1.5        # never above (default: the agent's total cpus)
//! cpus_initial = 0.1        # where it starts (default: the floor)
//! cpus_grow_step = 0.1      # per tick the controller allows growth
//! cpus_shrink_step = 0.5    # per tick the controller asks to shrink
//! mem_floor_mib = 512       # memory is managed only when both bounds are set
//! mem_ceiling_mib = 8192
//! mem_grow_step_mib = 256
//! mem_shrink_step_mib = 1024
//! cpu_idle = true           # best-effort runs as SCHED_IDLE (cpu.idle = 1)
//! ```
//!
//! Steps are asymmetric on purpose: shrink fast, grow slowly (Heracles,
//! Hyperpilot and Koordinator all do; spec/anchors.md §8). The CPU
//! allowance is the best-effort parent's CFS quota (v1 `cpu.cfs_quota_us`
//! against its `cpu.cfs_period_us`, v2 `cpu.max`), which caps every
//! best-effort group below it together; memory is its `memory.limit_in_bytes`
//! (v1) or `memory.max` (v2). The memory allowance starts at its ceiling
//! (a memory limit below what a task holds is an OOM kill, not a slowdown)
//! unless `mem_initial_mib` says otherwise. With `cpu_idle`, the parent's
//! `cpu.idle` is set to 1 at the first tick (Linux ≥ 5.15, v1 and v2): its
//! tasks then run as SCHED_IDLE against the rest of the node, so a
//! production task that wakes up preempts them at once instead of queueing
//! behind them for a slice — the scheduling delay a CPU antagonist adds to
//! a latency-critical service; the quota still bounds how much CPU they get.
//! The original values are recorded
//! in the enforcement state file before the first write and restored on
//! shutdown, like freezes and throttles ([`crate::enforce`]). In dry run the
//! allowance is tracked and logged but never written. Without `slo_guard`
//! in the QoS pipeline (or when its tick stops) the allowance holds.

use crate::config::{positive, Checker};
use crate::enforce::{AllowanceResource, Enforcer, Outcome};
use serde::Deserialize;
use serenity_core::tick::{Allowance, AllowanceStep};
use toml::Spanned;

/// `[allowance]` as validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowanceConfig {
    /// CPUs at the lowest (`cpus_floor`, default 0.1).
    pub cpus_floor: f64,
    /// CPUs at the highest (`cpus_ceiling`; default: the agent's total cpus).
    pub cpus_ceiling: Option<f64>,
    /// CPUs at start (`cpus_initial`; default: the floor).
    pub cpus_initial: Option<f64>,
    /// CPUs added per grow step (`cpus_grow_step`, default 0.1).
    pub cpus_grow_step: f64,
    /// CPUs removed per shrink step (`cpus_shrink_step`, default 0.5).
    pub cpus_shrink_step: f64,
    /// The memory allowance, when both `mem_floor_mib` and `mem_ceiling_mib`
    /// are given.
    pub mem: Option<MemAllowance>,
    /// `cpu_idle`: set the parent's `cpu.idle` to 1 (default false).
    pub cpu_idle: bool,
}

/// The memory part of `[allowance]`, in MiB.
#[derive(Debug, Clone, PartialEq)]
pub struct MemAllowance {
    /// `mem_floor_mib`.
    pub floor_mib: f64,
    /// `mem_ceiling_mib`.
    pub ceiling_mib: f64,
    /// `mem_initial_mib` (default: the ceiling).
    pub initial_mib: f64,
    /// `mem_grow_step_mib` (default 256).
    pub grow_step_mib: f64,
    /// `mem_shrink_step_mib` (default 1024).
    pub shrink_step_mib: f64,
}

impl Default for AllowanceConfig {
    fn default() -> Self {
        AllowanceConfig {
            cpus_floor: 0.1,
            cpus_ceiling: None,
            cpus_initial: None,
            cpus_grow_step: 0.1,
            cpus_shrink_step: 0.5,
            mem: None,
            cpu_idle: false,
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// What one tick did to the allowance.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowanceChange {
    /// The controller's step (hold when it said nothing).
    pub step: AllowanceStep,
    /// CPUs allowed after the step.
    pub cpus: f64,
    /// Memory allowed after the step, bytes (when managed).
    pub mem_bytes: Option<f64>,
    /// The controller's reason.
    pub reason: String,
}

/// Moves the best-effort parent's allowance by the controller's steps.
#[derive(Debug)]
pub struct AllowanceActuator {
    config: AllowanceConfig,
    ceiling: f64,
    cpus: Option<f64>,
    mem_bytes: Option<f64>,
    /// The last write error, said once at ERROR until it changes.
    last_error: Option<String>,
}

impl AllowanceActuator {
    /// An actuator for a node of `total_cpus` (the default ceiling).
    pub fn new(config: AllowanceConfig, total_cpus: f64) -> AllowanceActuator {
        let ceiling = config
            .cpus_ceiling
            .unwrap_or(total_cpus)
            .max(config.cpus_floor);
        AllowanceActuator {
            config,
            ceiling,
            cpus: None,
            mem_bytes: None,
            last_error: None,
        }
    }

    /// The CPUs allowed now (`None` before the first tick).
    pub fn cpus(&self) -> Option<f64> {
        self.cpus
    }

    /// The memory allowed now, bytes.
    pub fn mem_bytes(&self) -> Option<f64> {
        self.mem_bytes
    }

    /// Applies this tick's step (hold without one), writing the parent's
    /// files through `enforcer` when a value changes. Every change is logged
    /// with the controller's reason.
    pub fn tick(
        &mut self,
        enforcer: &mut Enforcer,
        allowance: Option<&Allowance>,
    ) -> AllowanceChange {
        let (step, reason) = match allowance {
            Some(a) => (a.step, a.reason.clone()),
            None => (
                AllowanceStep::Hold,
                "the QoS pipeline gave no SLO decision this tick".to_owned(),
            ),
        };
        let c = &self.config;
        let first = self.cpus.is_none();
        let cpus = match (self.cpus, step) {
            (None, _) => c.cpus_initial.unwrap_or(c.cpus_floor),
            (Some(_), AllowanceStep::Revoke) => c.cpus_floor,
            (Some(x), AllowanceStep::Shrink) => x - c.cpus_shrink_step,
            (Some(x), AllowanceStep::Hold) => x,
            (Some(x), AllowanceStep::Grow) => x + c.cpus_grow_step,
        }
        .clamp(c.cpus_floor, self.ceiling);
        let mem_bytes = c.mem.as_ref().map(|m| {
            let (floor, ceiling) = (m.floor_mib * MIB, m.ceiling_mib * MIB);
            match (self.mem_bytes, step) {
                (None, _) => m.initial_mib * MIB,
                (Some(_), AllowanceStep::Revoke) => floor,
                (Some(x), AllowanceStep::Shrink) => x - m.shrink_step_mib * MIB,
                (Some(x), AllowanceStep::Hold) => x,
                (Some(x), AllowanceStep::Grow) => x + m.grow_step_mib * MIB,
            }
            .clamp(floor, ceiling)
        });
        let why = if first {
            format!("initial allowance ({reason})")
        } else {
            format!("{}: {reason}", step.as_str())
        };
        if first && c.cpu_idle {
            self.write(enforcer, AllowanceResource::Idle, 1.0, &why);
        }
        if self.cpus != Some(cpus) && self.write(enforcer, AllowanceResource::Cpu, cpus, &why) {
            self.cpus = Some(cpus);
        }
        if let Some(m) = mem_bytes {
            if self.mem_bytes != Some(m) && self.write(enforcer, AllowanceResource::Memory, m, &why)
            {
                self.mem_bytes = Some(m);
            }
        }
        AllowanceChange {
            step,
            cpus: self.cpus.unwrap_or(cpus),
            mem_bytes: self.mem_bytes,
            reason,
        }
    }

    /// Writes one value; true when it is in force (or dry run tracks it).
    fn write(
        &mut self,
        enforcer: &mut Enforcer,
        resource: AllowanceResource,
        value: f64,
        why: &str,
    ) -> bool {
        let shown = match resource {
            AllowanceResource::Cpu => format!("{value:.3} CPUs"),
            AllowanceResource::Memory => format!("{:.0} MiB", value / MIB),
            AllowanceResource::Idle => "SCHED_IDLE (cpu.idle = 1)".to_owned(),
        };
        let before = match resource {
            AllowanceResource::Cpu => self.cpus.map(|v| format!("{v:.3} CPUs")),
            AllowanceResource::Memory => self.mem_bytes.map(|v| format!("{:.0} MiB", v / MIB)),
            AllowanceResource::Idle => None,
        }
        .map_or(String::new(), |b| format!(" (was {b})"));
        let what = resource.as_str();
        match enforcer.set_allowance(resource, value) {
            Outcome::DryRun => log::info!(target: "serenity",
                "dry run: would set the best-effort {what} allowance to {shown}{before}: {why}"),
            Outcome::Applied(detail) => log::info!(target: "serenity",
                "best-effort {what} allowance set to {shown}{before} ({detail}): {why}"),
            Outcome::Unchanged(detail) => log::debug!(target: "serenity",
                "best-effort {what} allowance stays at {shown}: {detail}"),
            Outcome::Refused(e) | Outcome::Failed(e) => {
                let m = format!("could not set the best-effort {what} allowance to {shown}: {e}");
                if self.last_error.as_deref() != Some(m.as_str()) {
                    log::error!(target: "serenity", "{m}; wanted because {why}");
                } else {
                    log::debug!(target: "serenity", "(still) {m}");
                }
                self.last_error = Some(m);
                return false;
            }
        }
        self.last_error = None;
        true
    }
}

/// `[allowance]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAllowance {
    cpus_floor: Option<Spanned<f64>>,
    cpus_ceiling: Option<Spanned<f64>>,
    cpus_initial: Option<Spanned<f64>>,
    cpus_grow_step: Option<Spanned<f64>>,
    cpus_shrink_step: Option<Spanned<f64>>,
    mem_floor_mib: Option<Spanned<f64>>,
    mem_ceiling_mib: Option<Spanned<f64>>,
    mem_initial_mib: Option<Spanned<f64>>,
    mem_grow_step_mib: Option<Spanned<f64>>,
    mem_shrink_step_mib: Option<Spanned<f64>>,
    cpu_idle: Option<bool>,
}

/// Validates `[allowance]`: positive numbers, floor ≤ initial ≤ ceiling,
/// memory bounds given together.
pub(crate) fn check_allowance(c: &mut Checker<'_>, raw: RawAllowance) -> AllowanceConfig {
    let d = AllowanceConfig::default();
    let floor = positive(c, "allowance.cpus_floor", &raw.cpus_floor).unwrap_or(d.cpus_floor);
    if floor < 0.001 {
        if let Some(v) = &raw.cpus_floor {
            c.bad(
                "allowance.cpus_floor",
                v,
                floor.to_string(),
                "must be at least 0.001 CPUs (the kernel's smallest CFS quota is 1 ms per period)",
            );
        }
    }
    let ceiling = positive(c, "allowance.cpus_ceiling", &raw.cpus_ceiling);
    let initial = positive(c, "allowance.cpus_initial", &raw.cpus_initial);
    let in_bounds = |c: &mut Checker<'_>,
                     key: &str,
                     v: &Option<Spanned<f64>>,
                     x: Option<f64>,
                     lo: f64,
                     hi: Option<f64>| {
        if let (Some(s), Some(x)) = (v, x) {
            if x < lo || hi.is_some_and(|h| x > h) {
                let hi = hi.map_or("the total cpus".to_owned(), |h| h.to_string());
                c.bad(
                    key,
                    s,
                    x.to_string(),
                    format!("must lie between the floor ({lo}) and the ceiling ({hi})"),
                );
            }
        }
    };
    in_bounds(
        c,
        "allowance.cpus_ceiling",
        &raw.cpus_ceiling,
        ceiling,
        floor,
        None,
    );
    in_bounds(
        c,
        "allowance.cpus_initial",
        &raw.cpus_initial,
        initial,
        floor,
        ceiling,
    );
    let grow =
        positive(c, "allowance.cpus_grow_step", &raw.cpus_grow_step).unwrap_or(d.cpus_grow_step);
    let shrink = positive(c, "allowance.cpus_shrink_step", &raw.cpus_shrink_step)
        .unwrap_or(d.cpus_shrink_step);
    let mem_floor = positive(c, "allowance.mem_floor_mib", &raw.mem_floor_mib);
    let mem_ceiling = positive(c, "allowance.mem_ceiling_mib", &raw.mem_ceiling_mib);
    let mem_initial = positive(c, "allowance.mem_initial_mib", &raw.mem_initial_mib);
    let mem_grow = positive(c, "allowance.mem_grow_step_mib", &raw.mem_grow_step_mib);
    let mem_shrink = positive(c, "allowance.mem_shrink_step_mib", &raw.mem_shrink_step_mib);
    let mem = match (mem_floor, mem_ceiling) {
        (Some(lo), Some(hi)) => {
            in_bounds(
                c,
                "allowance.mem_ceiling_mib",
                &raw.mem_ceiling_mib,
                Some(hi),
                lo,
                None,
            );
            in_bounds(
                c,
                "allowance.mem_initial_mib",
                &raw.mem_initial_mib,
                mem_initial,
                lo,
                Some(hi),
            );
            Some(MemAllowance {
                floor_mib: lo,
                ceiling_mib: hi,
                initial_mib: mem_initial.unwrap_or(hi),
                grow_step_mib: mem_grow.unwrap_or(256.0),
                shrink_step_mib: mem_shrink.unwrap_or(1024.0),
            })
        }
        (None, None) => {
            for (key, v) in [
                ("allowance.mem_initial_mib", &raw.mem_initial_mib),
                ("allowance.mem_grow_step_mib", &raw.mem_grow_step_mib),
                ("allowance.mem_shrink_step_mib", &raw.mem_shrink_step_mib),
            ] {
                if let Some(s) = v {
                    c.bad(
                        key,
                        s,
                        s.get_ref().to_string(),
                        "has no effect without mem_floor_mib and mem_ceiling_mib",
                    );
                }
            }
            None
        }
        (Some(_), None) | (None, Some(_)) => {
            let (key, v) = match (&raw.mem_floor_mib, &raw.mem_ceiling_mib) {
                (Some(v), _) => ("allowance.mem_floor_mib", v),
                (_, Some(v)) => ("allowance.mem_ceiling_mib", v),
                _ => unreachable!("one of the two is set"),
            };
            c.bad(
                key,
                v,
                v.get_ref().to_string(),
                "memory is managed only with both mem_floor_mib and mem_ceiling_mib",
            );
            None
        }
    };
    AllowanceConfig {
        cpus_floor: floor,
        cpus_ceiling: ceiling,
        cpus_initial: initial,
        cpus_grow_step: grow,
        cpus_shrink_step: shrink,
        mem,
        cpu_idle: raw.cpu_idle.unwrap_or(false),
    }
}
