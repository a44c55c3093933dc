//! Scenario files: the executors of a simulated node, their load, and the
//! scripted events (interference, surges, counter resets), plus what a
//! closed-loop run needs (recovery lag, admission of best-effort work,
//! relaunch after a kill) and the background of the starvation signals.
//! docs/replay.md documents every key.

use serde::Deserialize;
use std::collections::HashMap;

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario exercises.
    #[serde(default)]
    pub description: String,
    /// Seed of the noise generators.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Number of records.
    pub ticks: usize,
    /// Seconds between records (default 1).
    #[serde(default = "one")]
    pub interval_secs: f64,
    /// Time of the first record, seconds since the epoch.
    #[serde(default = "default_start")]
    pub start_time: f64,
    /// The agent's CPUs (its `total`).
    pub agent_cpus: f64,
    /// The agent's memory in MiB.
    #[serde(default = "default_agent_mem")]
    pub agent_mem_mib: f64,
    /// Core clock for perf cycles (GHz; default 2.5).
    #[serde(default = "default_ghz")]
    pub clock_ghz: f64,
    /// The executors.
    #[serde(rename = "executor")]
    pub executors: Vec<ExecutorSpec>,
    /// Scripted events.
    #[serde(default, rename = "event")]
    pub events: Vec<Event>,
    /// Closed loop: ticks an aggressor's interference outlives its departure
    /// or kill (the victim's caches and queues take time to recover;
    /// default 0: it ends on the first tick the aggressor is gone).
    #[serde(default)]
    pub recovery_ticks: usize,
    /// Closed loop: how best-effort executors start (default `scripted`).
    #[serde(default)]
    pub admission: Admission,
    /// Starvation model: CPU-time share of waiting on the run queue and
    /// of CPU/memory/IO stall every executor has without any contention.
    #[serde(default)]
    pub starvation: StarvationModel,
}

/// How best-effort executors start in a closed-loop simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    /// On their `arrive` tick, whatever was lent (the open-loop schedule).
    #[default]
    Scripted,
    /// From their `arrive` tick on, as soon as the slack advertised by the
    /// linked estimator on the previous tick (less what executors admitted
    /// on the same tick took) covers their `cpus`, first come first served;
    /// without an estimator in the run, as scripted.
    Slack,
}

/// The background of the starvation signals (each a fraction, 0..1).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StarvationModel {
    /// Run-queue wait per busy CPU-second without contention.
    pub runqueue_base: f64,
    /// Share of time with some task stalled on CPU without contention.
    pub cpu_pressure_base: f64,
    /// Share of time with some task stalled on memory without contention.
    pub mem_pressure_base: f64,
    /// Share of time with some task stalled on IO without contention.
    pub io_pressure_base: f64,
    /// Memory stall added to a victim per unit of IPC drop (a 50 % drop
    /// with the default 0.6 adds 30 % of time stalled on memory).
    pub mem_pressure_per_drop: f64,
    /// Run-queue wait added to a victim per unit of IPC drop, per busy
    /// CPU-second (the slowed victim queues behind its own work).
    pub runqueue_per_drop: f64,
}

impl Default for StarvationModel {
    fn default() -> Self {
        StarvationModel {
            runqueue_base: 0.01,
            cpu_pressure_base: 0.005,
            mem_pressure_base: 0.002,
            io_pressure_base: 0.001,
            mem_pressure_per_drop: 0.6,
            runqueue_per_drop: 0.1,
        }
    }
}

fn default_seed() -> u64 {
    1
}
fn one() -> f64 {
    1.0
}
fn default_start() -> f64 {
    1_700_000_000.0
}
fn default_agent_mem() -> f64 {
    65536.0
}
fn default_ghz() -> f64 {
    2.5
}

/// Production or best-effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorKind {
    /// Non-revocable resources.
    Production,
    /// Revocable resources.
    BestEffort,
}

/// One executor of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSpec {
    /// Executor id (unique).
    pub id: String,
    /// Framework id (default `production-framework` / `best-effort-framework`).
    pub framework: Option<String>,
    /// Production or best-effort.
    pub kind: ExecutorKind,
    /// Allocated CPUs (also its `cpus_limit`).
    pub cpus: f64,
    /// Allocated memory, MiB (default 1024).
    #[serde(default = "default_mem")]
    pub mem_mib: f64,
    /// First tick present (default 0).
    #[serde(default)]
    pub arrive: usize,
    /// First tick absent again (default: stays).
    pub depart: Option<usize>,
    /// Baseline IPC (default 1.5).
    #[serde(default = "default_ipc")]
    pub ipc: f64,
    /// Relative bounded noise on IPC (half-width, default 0.02).
    #[serde(default = "default_ipc_noise")]
    pub ipc_noise: f64,
    /// Last-level-cache misses per 1000 instructions (default 1). Cache
    /// thrashers have high values; a victim's rate rises as its IPC falls.
    #[serde(default = "one")]
    pub cache_mpki: f64,
    /// CPU demand model.
    pub load: Load,
    /// Closed loop, best-effort executors: ticks after a kill before its
    /// framework launches it again in a new container (default: never).
    pub relaunch_after_ticks: Option<usize>,
}

fn default_mem() -> f64 {
    1024.0
}
fn default_ipc() -> f64 {
    1.5
}
fn default_ipc_noise() -> f64 {
    0.02
}

/// CPU demand over time, in CPUs, plus bounded uniform noise.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum Load {
    /// A constant demand.
    Constant {
        /// CPUs.
        value: f64,
        /// Half-width of the uniform noise, CPUs.
        #[serde(default)]
        noise: f64,
    },
    /// mean + amplitude × sin(2π (t + phase) / period).
    Sine {
        /// Mean CPUs.
        mean: f64,
        /// Amplitude, CPUs.
        amplitude: f64,
        /// Period, seconds.
        period_secs: f64,
        /// Phase, seconds.
        #[serde(default)]
        phase_secs: f64,
        /// Half-width of the uniform noise, CPUs.
        #[serde(default)]
        noise: f64,
    },
}

/// How an IPC drop develops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Full drop on the first tick.
    #[default]
    Step,
    /// Linear over `ramp_ticks`.
    Ramp,
}

/// A scripted event.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// Best-effort aggressors cut the IPC of production victims.
    IpcDrop {
        /// Production executors hurt.
        victims: Vec<String>,
        /// Best-effort executors causing it (it applies only while one is present).
        aggressors: Vec<String>,
        /// First tick.
        start: usize,
        /// First tick after.
        end: usize,
        /// Relative drop of IPC, in (0, 1).
        drop: f64,
        /// Step or ramp.
        #[serde(default)]
        shape: Shape,
        /// Ticks to reach the full drop (ramp).
        #[serde(default = "default_ramp")]
        ramp_ticks: usize,
        /// Relative rise of the victims' CPU demand while hurt (default 0).
        #[serde(default)]
        cpu_rise: f64,
        /// Recurring bursts: a burst starts every `every` ticks from
        /// `start` (default: one window).
        every: Option<usize>,
        /// Length of each burst, ticks (with `every`).
        burst_ticks: Option<usize>,
    },
    /// Production executors need more CPU; best-effort work competes.
    CpuSurge {
        /// Production executors whose demand rises.
        executors: Vec<String>,
        /// CPUs added to each one's demand.
        extra_cpus: f64,
        /// First tick.
        start: usize,
        /// First tick after.
        end: usize,
        /// Best-effort executors held responsible (default: every one present).
        #[serde(default)]
        aggressors: Vec<String>,
    },
    /// Cumulative CPU counters of the executors restart from zero.
    CounterReset {
        /// Executors whose counters reset.
        executors: Vec<String>,
        /// The tick.
        at: usize,
    },
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn default_ramp() -> usize {
    30
}

impl Scenario {
    /// Parses and validates a scenario; every problem is reported.
    pub fn parse(name: &str, text: &str) -> Result<Scenario, Vec<String>> {
        let s: Scenario = toml::from_str(text).map_err(|e| vec![format!("{name}: {e}")])?;
        let problems = s.validate();
        if problems.is_empty() {
            Ok(s)
        } else {
            Err(problems
                .into_iter()
                .map(|p| format!("{name}: {p}"))
                .collect())
        }
    }

    /// Every problem of the scenario, in declaration order.
    pub fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.ticks == 0 {
            p.push("`ticks` must be at least 1".to_string());
        }
        if !positive(self.interval_secs) {
            p.push("`interval_secs` must be positive".to_string());
        }
        if !positive(self.agent_cpus) {
            p.push("`agent_cpus` must be positive".to_string());
        }
        let fractions = [
            self.starvation.runqueue_base,
            self.starvation.cpu_pressure_base,
            self.starvation.mem_pressure_base,
            self.starvation.io_pressure_base,
            self.starvation.mem_pressure_per_drop,
            self.starvation.runqueue_per_drop,
        ];
        if fractions.iter().any(|f| !(0.0..=1.0).contains(f)) {
            p.push("`starvation` values must be fractions between 0 and 1".to_string());
        }
        if self.executors.is_empty() {
            p.push("no executors: add at least one [[executor]]".to_string());
        }
        let mut kinds: HashMap<&str, ExecutorKind> = HashMap::new();
        for e in &self.executors {
            if kinds.insert(e.id.as_str(), e.kind).is_some() {
                p.push(format!("executor `{}` is declared twice", e.id));
            }
            if !positive(e.cpus) {
                p.push(format!("executor `{}`: `cpus` must be positive", e.id));
            }
            if e.relaunch_after_ticks.is_some() && e.kind == ExecutorKind::Production {
                p.push(format!(
                    "executor `{}`: `relaunch_after_ticks` is for best_effort executors",
                    e.id
                ));
            }
            if e.depart.is_some_and(|d| d <= e.arrive) {
                p.push(format!(
                    "executor `{}`: `depart` must come after `arrive`",
                    e.id
                ));
            }
        }
        let mut need = |ids: &[String], kind: Option<ExecutorKind>, what: &str, i: usize| {
            for id in ids {
                match (kinds.get(id.as_str()), kind) {
                    (None, _) => {
                        p.push(format!("event {}: {what} `{id}` is not an executor", i + 1))
                    }
                    (Some(k), Some(want)) if *k != want => p.push(format!(
                        "event {}: {what} `{id}` must be a {} executor",
                        i + 1,
                        if want == ExecutorKind::Production {
                            "production"
                        } else {
                            "best_effort"
                        }
                    )),
                    _ => {}
                }
            }
        };
        let mut windows = Vec::new();
        for (i, ev) in self.events.iter().enumerate() {
            match ev {
                Event::IpcDrop {
                    victims,
                    aggressors,
                    start,
                    end,
                    drop,
                    every,
                    burst_ticks,
                    ..
                } => {
                    need(victims, Some(ExecutorKind::Production), "victim", i);
                    need(aggressors, Some(ExecutorKind::BestEffort), "aggressor", i);
                    if aggressors.is_empty() {
                        windows.push(format!(
                            "event {}: an ipc_drop needs at least one aggressor",
                            i + 1
                        ));
                    }
                    if !(*drop > 0.0 && *drop < 1.0) {
                        windows.push(format!("event {}: `drop` must be between 0 and 1", i + 1));
                    }
                    if end <= start {
                        windows.push(format!("event {}: `end` must come after `start`", i + 1));
                    }
                    match (every, burst_ticks) {
                        (None, None) => {}
                        (Some(e), Some(b)) if *b >= 1 && b < e => {}
                        _ => windows.push(format!(
                            "event {}: `every` and `burst_ticks` go together, with 1 <= burst_ticks < every",
                            i + 1
                        )),
                    }
                }
                Event::CpuSurge {
                    executors,
                    aggressors,
                    start,
                    end,
                    ..
                } => {
                    need(
                        executors,
                        Some(ExecutorKind::Production),
                        "surging executor",
                        i,
                    );
                    need(aggressors, Some(ExecutorKind::BestEffort), "aggressor", i);
                    if end <= start {
                        windows.push(format!("event {}: `end` must come after `start`", i + 1));
                    }
                }
                Event::CounterReset { executors, .. } => need(executors, None, "executor", i),
            }
        }
        p.extend(windows);
        p
    }
}
