//! `serenity simulate`: synthetic, labelled usage traces from a scenario.
//!
//! The model, per tick of `interval_secs`:
//! - every executor present (between `arrive` and `depart`) has a CPU
//!   demand from its load model (constant or sine) plus bounded uniform
//!   noise, clamped to its allocation; scripted CPU surges add demand;
//! - when the node's total demand exceeds its CPUs, every executor gets the
//!   same share of what is there (usage = demand × cpus / Σ demand);
//! - interference is causal: an `ipc_drop` event hurts its victims only
//!   while at least one of its aggressors (best-effort executors) is
//!   present, and its IPC returns to the baseline the tick the last one
//!   leaves. A victim may also need more CPU while hurt (`cpu_rise`);
//! - counters are what Mesos reports: cumulative user/system CPU seconds
//!   (which a `counter_reset` event sets back to zero), and perf cycles,
//!   instructions and cache misses over the last interval, so IPC =
//!   instructions / cycles and cache misses per second are defined.
//!
//! Each record is a ResourceUsage plus a `truth` key ([`crate::truth::Truth`]).
//! Noise comes from a seeded generator (one stream per executor), so the
//! same scenario and seed always give the same trace.

use crate::cli::SimulateArgs;
use crate::truth::Truth;
use anyhow::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

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

/// CPU seconds as the agent reports them: to the millisecond.
fn millis(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn default_ramp() -> usize {
    30
}

/// SplitMix64: a tiny, seedable, portable generator (Steele et al. 2014).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn symmetric(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
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

    fn validate(&self) -> Vec<String> {
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

struct ExecState {
    rng: Rng,
    cpu_seconds: f64,
}

fn resources(cpus: f64, mem_mib: f64, revocable: bool) -> Value {
    let r = |name: &str, v: f64| {
        let mut o = json!({"name": name, "type": "SCALAR", "scalar": {"value": v}});
        if revocable {
            o["revocable"] = json!({});
        }
        o
    };
    json!([r("cpus", cpus), r("mem", mem_mib)])
}

/// Generates the trace: one JSON value (ResourceUsage + `truth`) per tick.
pub fn generate(s: &Scenario) -> Vec<Value> {
    let index: HashMap<&str, usize> = s
        .executors
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.as_str(), i))
        .collect();
    let mut states: Vec<ExecState> = s
        .executors
        .iter()
        .enumerate()
        .map(|(i, _)| ExecState {
            rng: Rng::new(s.seed ^ (0xA076_1D64_78BD_642F_u64.wrapping_mul(i as u64 + 1))),
            cpu_seconds: 0.0,
        })
        .collect();
    let mut episode_start: Vec<Option<usize>> = vec![None; s.events.len()];
    let present = |e: &ExecutorSpec, t: usize| t >= e.arrive && e.depart.is_none_or(|d| t < d);
    let mut out = Vec::with_capacity(s.ticks);
    let n = s.executors.len();
    for t in 0..s.ticks {
        let time = s.start_time + t as f64 * s.interval_secs;
        let alive: Vec<bool> = s.executors.iter().map(|e| present(e, t)).collect();
        // Which events are on, with their active aggressors.
        let mut ipc_factor = vec![1.0f64; n];
        let mut demand_factor = vec![1.0f64; n];
        let mut extra = vec![0.0f64; n];
        let mut truth = Truth::default();
        for (ei, ev) in s.events.iter().enumerate() {
            let (on, aggressors, victims): (bool, Vec<String>, Vec<String>) = match ev {
                Event::IpcDrop {
                    victims,
                    aggressors,
                    start,
                    end,
                    ..
                } => {
                    let active: Vec<String> = aggressors
                        .iter()
                        .filter(|a| index.get(a.as_str()).is_some_and(|&i| alive[i]))
                        .cloned()
                        .collect();
                    let on = t >= *start && t < *end && !active.is_empty();
                    (on, active, victims.clone())
                }
                Event::CpuSurge {
                    executors,
                    aggressors,
                    start,
                    end,
                    extra_cpus,
                } => {
                    let in_window = t >= *start && t < *end;
                    if in_window {
                        for x in executors {
                            if let Some(&i) = index.get(x.as_str()) {
                                extra[i] += extra_cpus;
                            }
                        }
                    }
                    let active: Vec<String> = s
                        .executors
                        .iter()
                        .enumerate()
                        .filter(|(i, e)| {
                            alive[*i]
                                && e.kind == ExecutorKind::BestEffort
                                && (aggressors.is_empty() || aggressors.contains(&e.id))
                        })
                        .map(|(_, e)| e.id.clone())
                        .collect();
                    (in_window && !active.is_empty(), active, executors.clone())
                }
                Event::CounterReset { .. } => (false, Vec::new(), Vec::new()),
            };
            if on {
                let began = *episode_start[ei].get_or_insert(t);
                if began == t {
                    truth.onset = true;
                }
                if let Event::IpcDrop {
                    drop,
                    shape,
                    ramp_ticks,
                    cpu_rise,
                    ..
                } = ev
                {
                    let progress = match shape {
                        Shape::Step => 1.0,
                        Shape::Ramp => {
                            ((t - began + 1) as f64 / (*ramp_ticks).max(1) as f64).min(1.0)
                        }
                    };
                    for v in &victims {
                        if let Some(&i) = index.get(v.as_str()) {
                            ipc_factor[i] *= 1.0 - drop * progress;
                            demand_factor[i] *= 1.0 + cpu_rise * progress;
                        }
                    }
                }
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
            } else {
                episode_start[ei] = None;
            }
        }
        truth.interference = !truth.events.is_empty();
        for ev in &s.events {
            if let Event::CounterReset { executors, at } = ev {
                if *at == t {
                    for x in executors {
                        if let Some(&i) = index.get(x.as_str()) {
                            states[i].cpu_seconds = 0.0;
                        }
                    }
                }
            }
        }
        // Demands, then the node's share when over capacity.
        let mut demand = vec![0.0f64; n];
        for (i, e) in s.executors.iter().enumerate() {
            // Draw noise every tick so streams do not depend on presence.
            let noise_draw = states[i].rng.symmetric();
            let ipc_draw = states[i].rng.symmetric();
            if !alive[i] {
                continue;
            }
            let secs = t as f64 * s.interval_secs;
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
                        * (2.0 * std::f64::consts::PI * (secs + phase_secs)
                            / period_secs.max(1e-9))
                        .sin(),
                    *noise,
                ),
            };
            let d = (base + noise * noise_draw) * demand_factor[i] + extra[i];
            demand[i] = d.clamp(0.0, e.cpus);
            ipc_factor[i] *= 1.0 + e.ipc_noise * ipc_draw;
        }
        let total_demand: f64 = demand.iter().sum();
        let share = if total_demand > s.agent_cpus {
            s.agent_cpus / total_demand
        } else {
            1.0
        };
        let mut executors = Vec::new();
        let mut prod_unused = 0.0;
        let mut lent = 0.0;
        for (i, e) in s.executors.iter().enumerate() {
            if !alive[i] {
                continue;
            }
            let usage = demand[i] * share;
            let st = &mut states[i];
            st.cpu_seconds += usage * s.interval_secs;
            let revocable = e.kind == ExecutorKind::BestEffort;
            if revocable {
                lent += e.cpus;
            } else {
                prod_unused += e.cpus - usage;
            }
            let cycles = (usage * s.clock_ghz * 1e9 * s.interval_secs).round();
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
            let framework = e.framework.clone().unwrap_or_else(|| {
                if revocable {
                    "best-effort-framework".into()
                } else {
                    "production-framework".into()
                }
            });
            executors.push(json!({
                "executor_info": {
                    "executor_id": {"value": e.id},
                    "framework_id": {"value": framework},
                    "name": e.id,
                },
                "container_id": {"value": format!("ctr-{}", e.id)},
                "allocated": resources(e.cpus, e.mem_mib, revocable),
                "statistics": {
                    "timestamp": time,
                    "cpus_user_time_secs": millis(st.cpu_seconds * 0.8),
                    "cpus_system_time_secs": millis(st.cpu_seconds * 0.2),
                    "cpus_limit": e.cpus,
                    "mem_rss_bytes": (e.mem_mib * 0.5 * mib) as u64,
                    "mem_limit_bytes": (e.mem_mib * mib) as u64,
                    "perf": {
                        "timestamp": time - s.interval_secs,
                        "duration": s.interval_secs,
                        "cycles": cycles as u64,
                        "instructions": instructions as u64,
                        "cache_misses": cache_misses as u64,
                    },
                },
            }));
        }
        truth.idle_cpus = ((prod_unused - lent).max(0.0) * 1e4).round() / 1e4;
        out.push(json!({
            "executors": executors,
            "total": resources(s.agent_cpus, s.agent_mem_mib, false),
            "truth": truth,
        }));
    }
    out
}

/// Runs `serenity simulate`.
pub fn run(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let name = args.scenario.display().to_string();
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("cannot read scenario {name}"))?;
    let mut scenario = Scenario::parse(&name, &text).map_err(crate::Problems)?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let records = generate(&scenario);
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    for r in &records {
        serde_json::to_writer(&mut w, r)?;
        w.write_all(b"\n")?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let episodes = records
        .iter()
        .filter(|r| r["truth"]["onset"].as_bool() == Some(true))
        .count();
    log::info!(
        "wrote {} records ({} interference episode{}) to {}",
        records.len(),
        episodes,
        if episodes == 1 { "" } else { "s" },
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serenity_core::load_trace;

    const BASE: &str = r#"
ticks = 40
agent_cpus = 8.0
[[executor]]
id = "web"
kind = "production"
cpus = 4.0
ipc = 2.0
ipc_noise = 0.0
load = { model = "constant", value = 2.0 }
[[executor]]
id = "batch"
kind = "best_effort"
cpus = 2.0
arrive = 10
depart = 30
load = { model = "constant", value = 1.5, noise = 0.2 }
"#;

    fn scenario(extra: &str) -> Scenario {
        Scenario::parse("s.toml", &format!("{BASE}{extra}")).unwrap()
    }

    fn ipc_of(v: &Value, id: &str) -> Option<f64> {
        v["executors"]
            .as_array()?
            .iter()
            .find(|e| e["executor_info"]["executor_id"]["value"] == id)
            .map(|e| {
                let p = &e["statistics"]["perf"];
                p["instructions"].as_f64().unwrap() / p["cycles"].as_f64().unwrap()
            })
    }

    #[test]
    fn interference_only_while_an_aggressor_is_present() {
        let s = scenario(
            r#"
[[event]]
type = "ipc_drop"
victims = ["web"]
aggressors = ["batch"]
start = 5
end = 35
drop = 0.5
"#,
        );
        let trace = generate(&s);
        let truth =
            |t: usize| -> Truth { serde_json::from_value(trace[t]["truth"].clone()).unwrap() };
        // Window opens at 5 but the aggressor arrives at 10 and leaves at 30.
        assert!(!truth(9).interference);
        assert!(truth(10).interference && truth(10).onset);
        assert!(truth(29).interference && !truth(29).onset);
        assert!(!truth(30).interference);
        assert!((ipc_of(&trace[9], "web").unwrap() - 2.0).abs() < 1e-6);
        assert!((ipc_of(&trace[15], "web").unwrap() - 1.0).abs() < 1e-6);
        assert!((ipc_of(&trace[30], "web").unwrap() - 2.0).abs() < 1e-6);
        assert_eq!(truth(15).aggressors, vec!["batch".to_string()]);
    }

    #[test]
    fn ramp_reaches_the_full_drop_after_ramp_ticks() {
        let s = scenario(
            r#"
[[event]]
type = "ipc_drop"
victims = ["web"]
aggressors = ["batch"]
start = 10
end = 30
drop = 0.5
shape = "ramp"
ramp_ticks = 10
"#,
        );
        let trace = generate(&s);
        let first = ipc_of(&trace[10], "web").unwrap();
        let mid = ipc_of(&trace[14], "web").unwrap();
        let full = ipc_of(&trace[19], "web").unwrap();
        assert!((first - 2.0 * (1.0 - 0.05)).abs() < 1e-6, "{first}");
        assert!((mid - 2.0 * (1.0 - 0.25)).abs() < 1e-6, "{mid}");
        assert!((full - 1.0).abs() < 1e-6, "{full}");
    }

    #[test]
    fn counter_reset_sets_cumulative_cpu_back_and_the_trace_replays() {
        let s = scenario(
            r#"
[[event]]
type = "counter_reset"
executors = ["web"]
at = 20
"#,
        );
        let trace = generate(&s);
        let user = |t: usize| {
            trace[t]["executors"][0]["statistics"]["cpus_user_time_secs"]
                .as_f64()
                .unwrap()
        };
        assert!(user(19) > 30.0);
        assert!(user(20) < 2.0);
        let text: String = trace.iter().map(|v| format!("{v}\n")).collect();
        let (_, usages) = load_trace(&text).unwrap();
        assert_eq!(usages.len(), 40);
    }

    #[test]
    fn same_seed_same_trace_and_noise_stays_within_bounds() {
        let s = scenario("");
        assert_eq!(generate(&s), generate(&s));
        for r in generate(&s).iter().skip(11).take(18) {
            let be = r["executors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["executor_info"]["executor_id"]["value"] == "batch")
                .unwrap();
            let cycles = be["statistics"]["perf"]["cycles"].as_f64().unwrap();
            let usage = cycles / 2.5e9;
            assert!((1.3 - 1e-6..=1.7 + 1e-6).contains(&usage), "{usage}");
        }
    }

    #[test]
    fn demand_over_capacity_is_shared_and_idle_truth_subtracts_lent_cpus() {
        let s = scenario(
            r#"
[[event]]
type = "cpu_surge"
executors = ["web"]
extra_cpus = 10.0
start = 12
end = 20
"#,
        );
        let trace = generate(&s);
        let truth: Truth = serde_json::from_value(trace[15]["truth"].clone()).unwrap();
        assert!(truth.interference);
        assert_eq!(truth.aggressors, vec!["batch".to_string()]);
        // Before batch arrives, web leaves 2 of its 4 CPUs idle; once batch
        // holds 2 revocable CPUs, nothing more can be lent.
        let before: Truth = serde_json::from_value(trace[5]["truth"].clone()).unwrap();
        assert!(
            (before.idle_cpus - 2.0).abs() < 1e-9,
            "{}",
            before.idle_cpus
        );
        let lent: Truth = serde_json::from_value(trace[25]["truth"].clone()).unwrap();
        assert!(lent.idle_cpus.abs() < 1e-9, "{}", lent.idle_cpus);
    }

    #[test]
    fn every_problem_is_reported() {
        let text = format!(
            "{BASE}{}",
            r#"
[[event]]
type = "ipc_drop"
victims = ["batch", "ghost"]
aggressors = []
start = 9
end = 3
drop = 1.5
"#
        );
        let errs = Scenario::parse("s.toml", &text).unwrap_err();
        assert_eq!(
            errs,
            vec![
                "s.toml: event 1: victim `batch` must be a production executor",
                "s.toml: event 1: victim `ghost` is not an executor",
                "s.toml: event 1: an ipc_drop needs at least one aggressor",
                "s.toml: event 1: `drop` must be between 0 and 1",
                "s.toml: event 1: `end` must come after `start`",
            ]
        );
    }
}
