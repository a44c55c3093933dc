//! The simulated node, one tick at a time.
//!
//! The model, per tick of `interval_secs`:
//! - which executors are present: production ones on their schedule
//!   (`arrive`..`depart`); best-effort ones on their schedule too, but only
//!   once admitted (at once, or into lent slack with `admission = "slack"`)
//!   and not after a kill, until their framework relaunches them
//!   (`relaunch_after_ticks`, a new container with fresh counters);
//! - every executor present has a CPU demand from its load model (constant
//!   or sine) plus bounded uniform noise, clamped to its allocation; scripted
//!   CPU surges add demand; when the node's total demand exceeds its CPUs,
//!   every executor gets the same share (usage = demand × cpus / Σ demand);
//! - interference is causal: an `ipc_drop` hurts its victims only while at
//!   least one of its aggressors is present (or gone for less than
//!   `recovery_ticks`), and a `cpu_surge` is interference only on ticks
//!   where best-effort work is present and the node's demand exceeds its
//!   CPUs (production is short of CPU); a surge that fits is a harmless
//!   load peak;
//! - starvation: each executor waits on the run queue for the demand the
//!   node could not serve (demand − usage CPU-seconds per second) plus a
//!   small background, and stalls on CPU for the share of its demand left
//!   unserved; an IPC drop adds memory stall and queueing to its victims.
//!   These are written as cumulative seconds (`serenity_runqueue_delay_secs`,
//!   `serenity_{cpu,mem,io}_pressure_some_secs`), as the probe reads them;
//! - counters are what Mesos reports: cumulative user/system CPU seconds
//!   (which a `counter_reset` event sets back to zero), and perf cycles,
//!   instructions and cache misses over the last interval.
//!
//! Noise comes from seeded generators (one stream per executor), drawn on
//! every tick whether the executor is present or not, so the same scenario
//! and seed give the same trace and one executor's schedule does not move
//! another's noise.

use crate::record::{
    ExecutorInfoRecord, ExecutorRecord, Id, PerfRecord, Record, ResourceRecord, StatisticsRecord,
};
use crate::rng::Rng;
use crate::scenario::{Admission, Event, ExecutorKind, ExecutorSpec, Load, Scenario, Shape};
use crate::truth::Truth;
use serde_json::{json, Value};
use std::collections::HashMap;

/// What the world remembers of one executor between ticks.
#[derive(Debug, Clone)]
struct Life {
    rng: Rng,
    starvation_rng: Rng,
    cpu_seconds: f64,
    runqueue_secs: f64,
    cpu_stall_secs: f64,
    mem_stall_secs: f64,
    io_stall_secs: f64,
    present: bool,
    admitted: bool,
    killed_at: Option<usize>,
    incarnation: u32,
    gone_since: Option<usize>,
}

impl Life {
    fn restart_counters(&mut self) {
        self.cpu_seconds = 0.0;
        self.runqueue_secs = 0.0;
        self.cpu_stall_secs = 0.0;
        self.mem_stall_secs = 0.0;
        self.io_stall_secs = 0.0;
    }
}

/// The simulated node of a scenario.
#[derive(Debug, Clone)]
pub struct World<'s> {
    s: &'s Scenario,
    index: HashMap<&'s str, usize>,
    lives: Vec<Life>,
    episode_start: Vec<Option<usize>>,
    tick: usize,
}

/// CPU seconds as the agent reports them: to the millisecond.
fn millis(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

/// Stall and delay totals: to the microsecond, as the kernel counts PSI.
fn micros(secs: f64) -> f64 {
    (secs * 1e6).round() / 1e6
}

fn scheduled(e: &ExecutorSpec, t: usize) -> bool {
    t >= e.arrive && e.depart.is_none_or(|d| t < d)
}

fn base_demand(e: &ExecutorSpec, secs: f64, draw: f64) -> f64 {
    let (base, noise) = match &e.load {
        Load::Constant { value, noise } => (*value, *noise),
        Load::Sine {
            mean,
            amplitude,
            period_secs,
            phase_secs,
            noise,
        } => (
            mean + amplitude
                * (2.0 * std::f64::consts::PI * (secs + phase_secs) / period_secs.max(1e-9)).sin(),
            *noise,
        ),
    };
    base + noise * draw
}

impl<'s> World<'s> {
    /// The node of `s` before its first tick.
    pub fn new(s: &'s Scenario) -> World<'s> {
        let index = s
            .executors
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.as_str(), i))
            .collect();
        let lives = (0..s.executors.len())
            .map(|i| {
                let stream = 0xA076_1D64_78BD_642F_u64.wrapping_mul(i as u64 + 1);
                Life {
                    rng: Rng::new(s.seed ^ stream),
                    starvation_rng: Rng::new(s.seed.wrapping_add(0x5EED) ^ stream.rotate_left(17)),
                    cpu_seconds: 0.0,
                    runqueue_secs: 0.0,
                    cpu_stall_secs: 0.0,
                    mem_stall_secs: 0.0,
                    io_stall_secs: 0.0,
                    present: false,
                    admitted: false,
                    killed_at: None,
                    incarnation: 0,
                    gone_since: None,
                }
            })
            .collect();
        World {
            s,
            index,
            lives,
            episode_start: vec![None; s.events.len()],
            tick: 0,
        }
    }

    /// Kills a best-effort executor on tick `tick` (after that tick's
    /// sample): it is absent from the next tick on. Returns whether it was
    /// present; production executors and absent ones are left alone.
    pub fn kill(&mut self, executor_id: &str, tick: usize) -> bool {
        let Some(&i) = self.index.get(executor_id) else {
            return false;
        };
        let life = &mut self.lives[i];
        if !life.present || self.s.executors[i].kind != ExecutorKind::BestEffort {
            return false;
        }
        life.killed_at = Some(tick);
        true
    }

    /// Decides who is present on tick `t`. `lendable` is the slack the
    /// linked estimator advertised on the previous tick (`None`: no
    /// estimator, admission as scripted).
    fn update_presence(&mut self, t: usize, lendable: Option<f64>) {
        let mut budget = lendable;
        for (i, e) in self.s.executors.iter().enumerate() {
            let life = &mut self.lives[i];
            let was = life.present;
            if let Some(k) = life.killed_at {
                match e.relaunch_after_ticks {
                    Some(r) if t > k + r => {
                        life.killed_at = None;
                        life.incarnation += 1;
                        life.admitted = false;
                        life.restart_counters();
                    }
                    _ => {}
                }
            }
            let mut now = scheduled(e, t) && life.killed_at.is_none();
            if e.kind == ExecutorKind::BestEffort {
                if !now {
                    life.admitted = false;
                } else if !life.admitted {
                    let admit = match (self.s.admission, budget.as_mut()) {
                        (Admission::Scripted, _) | (Admission::Slack, None) => true,
                        (Admission::Slack, Some(b)) if *b + 1e-9 >= e.cpus => {
                            *b -= e.cpus;
                            true
                        }
                        _ => false,
                    };
                    life.admitted = admit;
                }
                now = now && life.admitted;
            }
            life.present = now;
            if now {
                life.gone_since = None;
            } else if was {
                life.gone_since = Some(t);
            }
        }
    }

    /// Whether an aggressor counts on tick `t` for an episode that was on
    /// at `t − 1` (`ongoing`): present, or gone for less than the recovery lag.
    fn active(&self, i: usize, t: usize, ongoing: bool) -> bool {
        let life = &self.lives[i];
        life.present
            || (ongoing
                && life
                    .gone_since
                    .is_some_and(|g| t < g + self.s.recovery_ticks))
    }

    /// Generates tick `t` (ticks must be stepped in order from 0): the
    /// ResourceUsage record (without `truth`) and its truth.
    pub fn step(&mut self, lendable: Option<f64>) -> (Record<'s>, Truth) {
        let s = self.s;
        let t = self.tick;
        self.tick += 1;
        self.update_presence(t, lendable);
        let n = s.executors.len();
        let time = s.start_time + t as f64 * s.interval_secs;
        let mut ipc_factor = vec![1.0f64; n];
        let mut demand_factor = vec![1.0f64; n];
        let mut drop_share = vec![0.0f64; n];
        let mut extra = vec![0.0f64; n];
        let mut truth = Truth {
            interval_secs: s.interval_secs,
            ..Truth::default()
        };
        let mut on_events: Vec<(usize, Vec<String>, Vec<String>)> = Vec::new();
        // IPC drops first: they change the victims' demand.
        for (ei, ev) in s.events.iter().enumerate() {
            if let Event::IpcDrop {
                victims,
                aggressors,
                start,
                end,
                drop,
                shape,
                ramp_ticks,
                cpu_rise,
                every,
                burst_ticks,
            } = ev
            {
                let in_window = t >= *start
                    && t < *end
                    && match (every, burst_ticks) {
                        (Some(e), Some(b)) => (t - start) % e.max(&1) < *b,
                        _ => true,
                    };
                let ongoing = self.episode_start[ei].is_some();
                let active: Vec<String> = aggressors
                    .iter()
                    .filter(|a| {
                        self.index
                            .get(a.as_str())
                            .is_some_and(|&i| self.active(i, t, ongoing))
                    })
                    .cloned()
                    .collect();
                if !in_window || active.is_empty() {
                    self.episode_start[ei] = None;
                    continue;
                }
                let began = *self.episode_start[ei].get_or_insert(t);
                let progress = match shape {
                    Shape::Step => 1.0,
                    Shape::Ramp => ((t - began + 1) as f64 / (*ramp_ticks).max(1) as f64).min(1.0),
                };
                for v in victims {
                    if let Some(&i) = self.index.get(v.as_str()) {
                        ipc_factor[i] *= 1.0 - drop * progress;
                        demand_factor[i] *= 1.0 + cpu_rise * progress;
                        drop_share[i] = (drop_share[i] + drop * progress).min(1.0);
                    }
                }
                if began == t {
                    truth.onset = true;
                }
                on_events.push((ei, active, victims.clone()));
            }
        }
        for ev in &s.events {
            match ev {
                Event::CpuSurge {
                    executors,
                    extra_cpus,
                    start,
                    end,
                    ..
                } if t >= *start && t < *end => {
                    for x in executors {
                        if let Some(&i) = self.index.get(x.as_str()) {
                            extra[i] += extra_cpus;
                        }
                    }
                }
                Event::CounterReset { executors, at } if *at == t => {
                    for x in executors {
                        if let Some(&i) = self.index.get(x.as_str()) {
                            self.lives[i].cpu_seconds = 0.0;
                        }
                    }
                }
                _ => {}
            }
        }
        // Demands, then the node's share when over capacity.
        let mut demand = vec![0.0f64; n];
        for (i, e) in s.executors.iter().enumerate() {
            let noise_draw = self.lives[i].rng.symmetric();
            let ipc_draw = self.lives[i].rng.symmetric();
            if !self.lives[i].present {
                continue;
            }
            let d = base_demand(e, t as f64 * s.interval_secs, noise_draw) * demand_factor[i]
                + extra[i];
            demand[i] = d.clamp(0.0, e.cpus);
            ipc_factor[i] *= 1.0 + e.ipc_noise * ipc_draw;
        }
        let total_demand: f64 = demand.iter().sum();
        let overloaded = total_demand > s.agent_cpus;
        let share = if overloaded {
            s.agent_cpus / total_demand
        } else {
            1.0
        };
        // CPU surges are interference only while the node cannot serve
        // production's demand and best-effort work takes part of it.
        for (ei, ev) in s.events.iter().enumerate() {
            if let Event::CpuSurge {
                executors,
                aggressors,
                start,
                end,
                ..
            } = ev
            {
                let active: Vec<String> = s
                    .executors
                    .iter()
                    .enumerate()
                    .filter(|(i, e)| {
                        self.lives[*i].present
                            && e.kind == ExecutorKind::BestEffort
                            && (aggressors.is_empty() || aggressors.contains(&e.id))
                    })
                    .map(|(_, e)| e.id.clone())
                    .collect();
                let on = t >= *start && t < *end && overloaded && !active.is_empty();
                if !on {
                    self.episode_start[ei] = None;
                    continue;
                }
                if self.episode_start[ei].get_or_insert(t) == &t {
                    truth.onset = true;
                }
                on_events.push((ei, active, executors.clone()));
            }
        }
        on_events.sort_by_key(|(ei, _, _)| *ei);
        for (ei, aggressors, victims) in on_events {
            truth.events.push(ei);
            for a in aggressors {
                if !truth.aggressors.contains(&a) {
                    truth.aggressors.push(a);
                }
            }
            for v in victims {
                if !truth.victims.contains(&v) {
                    truth.victims.push(v);
                }
            }
        }
        truth.interference = !truth.events.is_empty();

        let mut executors = Vec::new();
        let mut prod_idle = 0.0;
        let mut lent = 0.0;
        let st = s.starvation;
        for (i, e) in s.executors.iter().enumerate() {
            let jitter = 1.0 + 0.2 * self.lives[i].starvation_rng.symmetric();
            if !self.lives[i].present {
                continue;
            }
            let usage = demand[i] * share;
            let unserved = demand[i] - usage;
            let dt = s.interval_secs;
            let life = &mut self.lives[i];
            life.cpu_seconds += usage * dt;
            let queue_rate = unserved
                + (st.runqueue_base * jitter + st.runqueue_per_drop * drop_share[i]) * usage;
            life.runqueue_secs += queue_rate * dt;
            let cpu_stall = (st.cpu_pressure_base * jitter
                + if demand[i] > 0.0 {
                    unserved / demand[i]
                } else {
                    0.0
                })
            .min(1.0);
            life.cpu_stall_secs += cpu_stall * dt;
            life.mem_stall_secs +=
                (st.mem_pressure_base * jitter + st.mem_pressure_per_drop * drop_share[i]).min(1.0)
                    * dt;
            life.io_stall_secs += (st.io_pressure_base * jitter).min(1.0) * dt;
            let revocable = e.kind == ExecutorKind::BestEffort;
            if revocable {
                lent += e.cpus;
                truth.lent.insert(e.id.clone(), e.cpus);
            } else {
                prod_idle += (e.cpus - demand[i]).max(0.0);
            }
            let cycles = (usage * s.clock_ghz * 1e9 * dt).round();
            let ipc = (e.ipc * ipc_factor[i]).max(0.0);
            let instructions = (ipc * cycles).round();
            // Misses per instruction rise as IPC falls (the same misses cost
            // more cycles when the cache is contended).
            let slowdown = if ipc_factor[i] > 0.0 {
                1.0 / ipc_factor[i]
            } else {
                1.0
            };
            let cache_misses = (instructions * e.cache_mpki / 1000.0 * slowdown).round();
            let mib = 1024.0 * 1024.0;
            let framework = e.framework.as_deref().unwrap_or(if revocable {
                "best-effort-framework"
            } else {
                "production-framework"
            });
            let container = if life.incarnation == 0 {
                format!("ctr-{}", e.id)
            } else {
                format!("ctr-{}-{}", e.id, life.incarnation)
            };
            executors.push(ExecutorRecord {
                allocated: ResourceRecord::pair(e.cpus, e.mem_mib, revocable),
                container_id: Id { value: container },
                executor_info: ExecutorInfoRecord {
                    executor_id: Id { value: &e.id },
                    framework_id: Id { value: framework },
                    name: &e.id,
                },
                statistics: StatisticsRecord {
                    cpus_limit: e.cpus,
                    cpus_system_time_secs: millis(life.cpu_seconds * 0.2),
                    cpus_user_time_secs: millis(life.cpu_seconds * 0.8),
                    mem_limit_bytes: (e.mem_mib * mib) as u64,
                    mem_rss_bytes: (e.mem_mib * 0.5 * mib) as u64,
                    perf: PerfRecord {
                        cache_misses: cache_misses as u64,
                        cycles: cycles as u64,
                        duration: dt,
                        instructions: instructions as u64,
                        timestamp: time - dt,
                    },
                    serenity_cpu_pressure_some_secs: micros(life.cpu_stall_secs),
                    serenity_io_pressure_some_secs: micros(life.io_stall_secs),
                    serenity_mem_pressure_some_secs: micros(life.mem_stall_secs),
                    serenity_runqueue_delay_secs: micros(life.runqueue_secs),
                    timestamp: time,
                },
            });
        }
        let round = |x: f64| (x * 1e4).round() / 1e4;
        truth.prod_idle_cpus = round(prod_idle);
        truth.revocable_cpus = round(lent);
        truth.idle_cpus = round((prod_idle - lent).max(0.0));
        let record = Record {
            executors,
            total: ResourceRecord::pair(s.agent_cpus, s.agent_mem_mib, false),
        };
        (record, truth)
    }
}

/// The open-loop trace of a scenario: every tick as scripted, nothing
/// killed, best-effort work admitted on schedule. One JSON value
/// (ResourceUsage + `truth`) per tick.
pub fn generate(s: &Scenario) -> Vec<Value> {
    let mut world = World::new(s);
    (0..s.ticks)
        .map(|_| {
            let (record, truth) = world.step(None);
            let mut record = json!(record);
            record["truth"] = json!(truth);
            record
        })
        .collect()
}

/// One record of a simulated trace as written: its JSON (one line, no
/// newline) and its truth.
#[derive(Debug, Clone, Copy)]
pub struct Written<'a> {
    /// The record: the ResourceUsage with `truth` (and, closed loop, `actions`).
    pub json: &'a str,
    /// The record's truth.
    pub truth: &'a Truth,
}

/// `record` (the compact JSON of an object whose keys sort between
/// `actions` and `truth`) with `actions` and `truth` added, in the key order
/// serde_json writes a [`Value`] in: the text of the value with both keys
/// inserted, without building it.
pub(crate) fn with_labels(record: &str, actions: Option<&Value>, truth: &Truth) -> String {
    let inner = record
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(record);
    let truth = json!(truth).to_string();
    let actions = actions.map(Value::to_string);
    let mut out = String::with_capacity(
        record.len() + truth.len() + actions.as_ref().map_or(0, String::len) + 24,
    );
    out.push('{');
    if let Some(a) = &actions {
        out.push_str("\"actions\":");
        out.push_str(a);
        out.push(',');
    }
    if !inner.is_empty() {
        out.push_str(inner);
        out.push(',');
    }
    out.push_str("\"truth\":");
    out.push_str(&truth);
    out.push('}');
    out
}

/// [`generate`], handing each record to `each` as soon as it is made, as
/// the line [`generate`]'s value serializes to (so that a long or wide trace
/// is written without being held, and without a second copy of a record as
/// a [`Value`]); stops at the first error of `each`.
pub fn generate_each<E>(
    s: &Scenario,
    mut each: impl FnMut(Written<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let mut world = World::new(s);
    for _ in 0..s.ticks {
        let (record, truth) = world.step(None);
        let text = record.text();
        drop(record);
        let json = with_labels(&text, None, &truth);
        each(Written {
            json: &json,
            truth: &truth,
        })?;
    }
    Ok(())
}
