//! A deterministic node simulator for QoS tests: executors whose CPU usage,
//! IPC and cache misses follow scripted series (constants, lines, sines,
//! bounded seeded noise, steps, ramps), sampled every `interval_secs` into
//! `ResourceUsage` snapshots with cumulative CPU counters and per-window perf
//! counters, as a Mesos agent reports them. The simulated agent obeys kills:
//! a killed executor is gone from the next snapshot, and the slowdown it
//! caused (`slowed_by`) ends with it. Time is tick × interval, never a clock.
#![allow(dead_code)]

use serenity_core::model::build::{usage, ExecutorSpec};
use serenity_core::{Pipeline, Snapshot};
use std::collections::{HashMap, HashSet};

/// A stateless seeded noise source: SplitMix64 of (seed, tick), uniform in
/// [−1, 1].
pub fn noise(seed: u64, tick: u64) -> f64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(tick.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(0x94D0_49BB_1331_11EB);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// One component of a series; a series is the sum of its components.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A constant.
    Constant(f64),
    /// `per_tick` × tick.
    Linear { per_tick: f64 },
    /// amplitude × sin(2π·tick/period).
    Sine { amplitude: f64, period_ticks: f64 },
    /// Bounded noise: amplitude × uniform[−1, 1], seeded.
    Noise { amplitude: f64, seed: u64 },
    /// Adds `by` from tick `at` on.
    Step { at: u64, by: f64 },
    /// Adds 0 before `from`, `by` after `to`, linearly in between.
    Ramp { from: u64, to: u64, by: f64 },
}

/// A scripted signal: a sum of shapes, evaluated per tick.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series(pub Vec<Shape>);

impl Series {
    /// A constant series.
    pub fn constant(v: f64) -> Self {
        Series(vec![Shape::Constant(v)])
    }

    /// Adds a shape.
    pub fn plus(mut self, shape: Shape) -> Self {
        self.0.push(shape);
        self
    }

    /// Adds bounded noise of `amplitude` with `seed`.
    pub fn noisy(self, amplitude: f64, seed: u64) -> Self {
        self.plus(Shape::Noise { amplitude, seed })
    }

    /// The value at `tick`.
    pub fn at(&self, tick: u64) -> f64 {
        let t = tick as f64;
        self.0
            .iter()
            .map(|s| match *s {
                Shape::Constant(v) => v,
                Shape::Linear { per_tick } => per_tick * t,
                Shape::Sine {
                    amplitude,
                    period_ticks,
                } => amplitude * (2.0 * std::f64::consts::PI * t / period_ticks).sin(),
                Shape::Noise { amplitude, seed } => amplitude * noise(seed, tick),
                Shape::Step { at, by } => {
                    if tick >= at {
                        by
                    } else {
                        0.0
                    }
                }
                Shape::Ramp { from, to, by } => {
                    if tick <= from {
                        0.0
                    } else if tick >= to {
                        by
                    } else {
                        by * (t - from as f64) / (to - from) as f64
                    }
                }
            })
            .sum()
    }
}

/// One simulated executor.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Executor id (framework "fw").
    pub id: String,
    /// Best-effort (revocable) or production.
    pub revocable: bool,
    /// Allocated cpus.
    pub cpus: f64,
    /// CPUs busy per tick.
    pub usage: Series,
    /// Instructions per cycle, when perf counters are reported.
    pub ipc: Option<Series>,
    /// Cache misses per second, when perf counters are reported.
    pub cache_misses_per_sec: Option<Series>,
    /// First tick it appears in (1-based).
    pub from: u64,
    /// Last tick it appears in, if it ends by itself.
    pub until: Option<u64>,
    /// While one of these executors runs, this one's IPC is multiplied by
    /// the factor (interference).
    pub slowed_by: Vec<(String, f64)>,
}

/// A production executor with `cpus` allocated, busy `usage` CPUs, no perf.
pub fn production(id: &str, cpus: f64, usage: Series) -> Workload {
    Workload {
        id: id.to_owned(),
        revocable: false,
        cpus,
        usage,
        ipc: None,
        cache_misses_per_sec: None,
        from: 1,
        until: None,
        slowed_by: Vec::new(),
    }
}

/// A best-effort executor with `cpus` revocable cpus, busy `usage` CPUs.
pub fn best_effort(id: &str, cpus: f64, usage: Series) -> Workload {
    Workload {
        revocable: true,
        ..production(id, cpus, usage)
    }
}

impl Workload {
    /// Reports perf counters with this IPC.
    pub fn ipc(mut self, ipc: Series) -> Self {
        self.ipc = Some(ipc);
        self
    }

    /// Reports perf cache misses at this rate (needs `ipc` too: perf
    /// statistics carry both).
    pub fn cache_misses(mut self, per_sec: Series) -> Self {
        self.cache_misses_per_sec = Some(per_sec);
        self
    }

    /// Appears from tick `from` (1-based).
    pub fn from(mut self, from: u64) -> Self {
        self.from = from;
        self
    }

    /// Its IPC is multiplied by `factor` while `aggressor` runs.
    pub fn slowed_by(mut self, aggressor: &str, factor: f64) -> Self {
        self.slowed_by.push((aggressor.to_owned(), factor));
        self
    }
}

/// Nominal clock of the simulated CPUs, for perf cycles.
const HZ: f64 = 2.5e9;
/// Cumulative CPU seconds an executor has already used when first seen, so
/// that rates come from differences of absolute counters.
const CPU_SECS_AT_START: f64 = 1000.0;

/// What one tick produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based tick.
    pub tick: u64,
    /// Executor ids killed this tick, in correction order.
    pub victims: Vec<String>,
    /// (detector, production victim id or "node") of each contention.
    pub contentions: Vec<(String, String)>,
    /// The corrections' reasons.
    pub reasons: Vec<String>,
    /// Whether each victim is best-effort.
    pub victims_revocable: Vec<bool>,
}

/// A simulated agent.
#[derive(Debug, Clone)]
pub struct Node {
    /// Agent total cpus.
    pub total_cpus: f64,
    /// Seconds between samples.
    pub interval_secs: f64,
    /// The executors.
    pub workloads: Vec<Workload>,
    /// Whether kills take effect (a real agent's) or are ignored.
    pub obey_kills: bool,
    killed: HashSet<String>,
    cpu_secs: HashMap<String, f64>,
}

impl Node {
    /// A node of `total_cpus` sampled every `interval_secs`.
    pub fn new(total_cpus: f64, interval_secs: f64, workloads: Vec<Workload>) -> Self {
        Node {
            total_cpus,
            interval_secs,
            workloads,
            obey_kills: true,
            killed: HashSet::new(),
            cpu_secs: HashMap::new(),
        }
    }

    fn running(&self, w: &Workload, tick: u64) -> bool {
        tick >= w.from && w.until.is_none_or(|u| tick <= u) && !self.killed.contains(&w.id)
    }

    /// The snapshot of `tick` (1-based); advances the CPU counters.
    pub fn snapshot(&mut self, tick: u64) -> Snapshot {
        let now = tick as f64 * self.interval_secs;
        let mut specs = Vec::new();
        for w in &self.workloads {
            if !self.running(w, tick) {
                continue;
            }
            let busy = w.usage.at(tick).max(0.0);
            let secs = match self.cpu_secs.get(&w.id) {
                Some(s) => s + busy * self.interval_secs,
                None => CPU_SECS_AT_START,
            };
            self.cpu_secs.insert(w.id.clone(), secs);
            let mut spec =
                ExecutorSpec::new("fw", &w.id, w.revocable, w.cpus, 1024.0).cpu(now, secs);
            if let Some(ipc) = &w.ipc {
                let slow: f64 = w
                    .slowed_by
                    .iter()
                    .filter(|(a, _)| {
                        self.workloads
                            .iter()
                            .any(|o| &o.id == a && self.running(o, tick))
                    })
                    .map(|(_, f)| f)
                    .product();
                let ipc = (ipc.at(tick) * slow).max(0.01);
                let cycles = (HZ * busy.max(0.05) * self.interval_secs).round();
                let instructions = (ipc * cycles).round();
                spec = spec.perf(
                    now - self.interval_secs,
                    self.interval_secs,
                    cycles as u64,
                    instructions as u64,
                );
                if let (Some(stats), Some(misses)) =
                    (spec.statistics.as_mut(), &w.cache_misses_per_sec)
                {
                    if let Some(perf) = stats.perf.as_mut() {
                        perf.cache_misses =
                            Some((misses.at(tick).max(0.0) * self.interval_secs).round() as u64);
                    }
                }
            }
            specs.push(spec);
        }
        Snapshot::new(usage(self.total_cpus, 65536.0, &specs))
    }

    /// Runs `ticks` ticks through `pipeline`, applying kills (when obeyed)
    /// before the next snapshot.
    pub fn run(&mut self, pipeline: &mut Pipeline, ticks: u64) -> Vec<Record> {
        self.run_observing(pipeline, ticks, |_| {})
    }

    /// As [`Node::run`], calling `observe` after each tick.
    pub fn run_observing(
        &mut self,
        pipeline: &mut Pipeline,
        ticks: u64,
        mut observe: impl FnMut(&Record),
    ) -> Vec<Record> {
        let mut records = Vec::new();
        for tick in 1..=ticks {
            let snap = self.snapshot(tick);
            let out = pipeline.tick(&snap);
            let id = |row: usize| snap.executors[row].key.executor_id.clone();
            let record = Record {
                tick,
                victims: out.corrections.iter().map(|c| id(c.row)).collect(),
                victims_revocable: out
                    .corrections
                    .iter()
                    .map(|c| snap.executors[c.row].revocable)
                    .collect(),
                contentions: out
                    .contentions
                    .iter()
                    .map(|c| {
                        (
                            c.detector.to_string(),
                            c.victim.map_or_else(|| "node".to_owned(), id),
                        )
                    })
                    .collect(),
                reasons: out.corrections.iter().map(|c| c.reason.clone()).collect(),
            };
            if self.obey_kills {
                self.killed.extend(record.victims.iter().cloned());
            }
            observe(&record);
            records.push(record);
        }
        records
    }
}

/// (tick, victims) of the ticks with corrections.
pub fn kills(records: &[Record]) -> Vec<(u64, Vec<String>)> {
    records
        .iter()
        .filter(|r| !r.victims.is_empty())
        .map(|r| (r.tick, r.victims.clone()))
        .collect()
}

/// Ticks with at least one contention from `detector`.
pub fn contention_ticks(records: &[Record], detector: &str) -> Vec<u64> {
    records
        .iter()
        .filter(|r| r.contentions.iter().any(|(d, _)| d == detector))
        .map(|r| r.tick)
        .collect()
}
