//! Test helpers: usage snapshots from concise executor descriptions, and
//! pipelines from TOML text.
//!
//! ```ignore
//! mod support;
//! use support::*;
//! let snap = node(8.0, 16384.0, &[
//!     pr("web").alloc(4.0, 2048.0).busy(1.5).at(100.0),
//!     be("batch").alloc(2.0, 1024.0).cpu_secs(30.0).at(100.0),
//! ]);
//! ```
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use serenity_core::model::proto::{
    ContainerId, Executor, ExecutorId, ExecutorInfo, FrameworkId, PerfStatistics, Resource,
    ResourceStatistics, ResourceUsage, RevocableInfo, Scalar,
};
use serenity_core::model::MIB;
use serenity_core::{build_pipeline, BuildOptions, Pipeline, Snapshot};

/// Bytes in one GiB.
pub const GIB: f64 = 1024.0 * MIB;

/// The framework production executors run in unless told otherwise.
pub const PR_FRAMEWORK: &str = "fw-production";
/// The framework best-effort executors run in unless told otherwise.
pub const BE_FRAMEWORK: &str = "fw-best-effort";

/// A concise description of one executor in one snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Exec {
    /// executor_info.executor_id.
    pub id: String,
    /// executor_info.framework_id.
    pub framework: String,
    /// Whether the allocation is revocable (best-effort).
    pub revocable: bool,
    /// Allocated cpus (none when `None`).
    pub cpus: Option<f64>,
    /// Allocated memory in MiB (none when `None`).
    pub mem_mib: Option<f64>,
    /// container_id.value.
    pub container: Option<String>,
    /// Whether the snapshot carries statistics for it.
    pub stats: bool,
    /// statistics.timestamp.
    pub timestamp: Option<f64>,
    /// Cumulative cpus_user_time_secs (system time is reported as 0).
    pub cpu_secs: Option<f64>,
    /// CPUs busy since time 0: cumulative CPU seconds = rate × timestamp.
    pub busy: Option<f64>,
    /// statistics.cpus_limit; `None` means "the allocated cpus".
    pub cpus_limit: Option<Option<f64>>,
    /// statistics.mem_rss_bytes.
    pub rss_bytes: Option<u64>,
    /// statistics.mem_limit_bytes; `None` means "the allocated memory".
    pub mem_limit_bytes: Option<Option<u64>>,
    /// perf (cycles, instructions), sampled over one second at the timestamp.
    pub perf: Option<(u64, u64)>,
}

/// A production executor `id` in [`PR_FRAMEWORK`], with statistics and no
/// allocation yet.
pub fn pr(id: &str) -> Exec {
    Exec {
        id: id.to_owned(),
        framework: PR_FRAMEWORK.to_owned(),
        revocable: false,
        cpus: None,
        mem_mib: None,
        container: None,
        stats: true,
        timestamp: None,
        cpu_secs: None,
        busy: None,
        cpus_limit: None,
        rss_bytes: None,
        mem_limit_bytes: None,
        perf: None,
    }
}

/// A best-effort executor `id` in [`BE_FRAMEWORK`]: its allocation is
/// revocable.
pub fn be(id: &str) -> Exec {
    Exec {
        framework: BE_FRAMEWORK.to_owned(),
        revocable: true,
        ..pr(id)
    }
}

impl Exec {
    /// Runs in framework `fw`.
    pub fn framework(mut self, fw: &str) -> Self {
        self.framework = fw.to_owned();
        self
    }

    /// Allocated cpus and memory (MiB; Mesos units). Zero leaves a resource out.
    pub fn alloc(mut self, cpus: f64, mem_mib: f64) -> Self {
        self.cpus = (cpus != 0.0).then_some(cpus);
        self.mem_mib = (mem_mib != 0.0).then_some(mem_mib);
        self
    }

    /// Runs in container `id`.
    pub fn container(mut self, id: &str) -> Self {
        self.container = Some(id.to_owned());
        self
    }

    /// The agent sends no statistics for it.
    pub fn no_stats(mut self) -> Self {
        self.stats = false;
        self
    }

    /// statistics.timestamp (sample time, seconds).
    pub fn at(mut self, timestamp: f64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Cumulative CPU seconds (user time; system time 0).
    pub fn cpu_secs(mut self, secs: f64) -> Self {
        self.cpu_secs = Some(secs);
        self.busy = None;
        self
    }

    /// Busy `cpus` CPUs ever since time 0: cumulative CPU seconds are
    /// `cpus × timestamp`, so the derived usage between two samples is `cpus`.
    pub fn busy(mut self, cpus: f64) -> Self {
        self.busy = Some(cpus);
        self.cpu_secs = None;
        self
    }

    /// statistics.cpus_limit (default: the allocated cpus).
    pub fn cpus_limit(mut self, cpus: f64) -> Self {
        self.cpus_limit = Some(Some(cpus));
        self
    }

    /// No statistics.cpus_limit.
    pub fn no_cpus_limit(mut self) -> Self {
        self.cpus_limit = Some(None);
        self
    }

    /// statistics.mem_rss_bytes.
    pub fn rss(mut self, bytes: f64) -> Self {
        self.rss_bytes = Some(bytes as u64);
        self
    }

    /// statistics.mem_limit_bytes (default: the allocated memory).
    pub fn mem_limit(mut self, bytes: f64) -> Self {
        self.mem_limit_bytes = Some(Some(bytes as u64));
        self
    }

    /// No statistics.mem_limit_bytes.
    pub fn no_mem_limit(mut self) -> Self {
        self.mem_limit_bytes = Some(None);
        self
    }

    /// perf cycles and instructions.
    pub fn perf(mut self, cycles: u64, instructions: u64) -> Self {
        self.perf = Some((cycles, instructions));
        self
    }

    /// The protobuf executor this describes.
    pub fn to_proto(&self) -> Executor {
        let mut allocated = Vec::new();
        if let Some(c) = self.cpus {
            allocated.push(scalar("cpus", c, self.revocable));
        }
        if let Some(m) = self.mem_mib {
            allocated.push(scalar("mem", m, self.revocable));
        }
        let statistics = self.stats.then(|| {
            let cpu = self.cpu_secs.or_else(|| Some(self.busy? * self.timestamp?));
            ResourceStatistics {
                timestamp: self.timestamp,
                cpus_user_time_secs: cpu,
                cpus_system_time_secs: cpu.map(|_| 0.0),
                cpus_limit: self.cpus_limit.unwrap_or(self.cpus),
                mem_rss_bytes: self.rss_bytes,
                mem_limit_bytes: self
                    .mem_limit_bytes
                    .unwrap_or(self.mem_mib.map(|m| (m * MIB) as u64)),
                perf: self.perf.map(|(cycles, instructions)| PerfStatistics {
                    timestamp: self.timestamp,
                    duration: Some(1.0),
                    cycles: Some(cycles),
                    instructions: Some(instructions),
                    ..Default::default()
                }),
                ..Default::default()
            }
        });
        Executor {
            executor_info: Some(ExecutorInfo {
                executor_id: Some(ExecutorId {
                    value: Some(self.id.clone()),
                }),
                framework_id: Some(FrameworkId {
                    value: Some(self.framework.clone()),
                }),
                ..Default::default()
            }),
            allocated,
            statistics,
            container_id: self.container.as_ref().map(|c| ContainerId {
                value: Some(c.clone()),
                parent: None,
            }),
            ..Default::default()
        }
    }
}

/// A scalar resource, revocable or not (no role, as the agent reports it).
pub fn scalar(name: &str, value: f64, revocable: bool) -> Resource {
    Resource {
        name: Some(name.to_owned()),
        r#type: Some(0),
        scalar: Some(Scalar { value: Some(value) }),
        revocable: revocable.then_some(RevocableInfo {}),
        ..Default::default()
    }
}

/// A ResourceUsage with the agent's total cpus and memory (MiB; either may
/// be absent) and the given executors.
pub fn usage(total_cpus: Option<f64>, total_mem_mib: Option<f64>, execs: &[Exec]) -> ResourceUsage {
    let mut total = Vec::new();
    if let Some(c) = total_cpus {
        total.push(scalar("cpus", c, false));
    }
    if let Some(m) = total_mem_mib {
        total.push(scalar("mem", m, false));
    }
    ResourceUsage {
        executors: execs.iter().map(Exec::to_proto).collect(),
        total,
    }
}

/// A snapshot of a node with `total_cpus` and `total_mem_mib` and the given
/// executors.
pub fn node(total_cpus: f64, total_mem_mib: f64, execs: &[Exec]) -> Snapshot {
    Snapshot::new(usage(Some(total_cpus), Some(total_mem_mib), execs))
}

/// A snapshot whose agent total may lack cpus or memory.
pub fn node_with(total_cpus: Option<f64>, total_mem_mib: Option<f64>, execs: &[Exec]) -> Snapshot {
    Snapshot::new(usage(total_cpus, total_mem_mib, execs))
}

/// Builds a pipeline from TOML text; panics with every configuration error.
pub fn pipeline(text: &str) -> Pipeline {
    pipeline_with(text, &[])
}

/// Builds a pipeline from TOML text with operator overrides.
pub fn pipeline_with(text: &str, overrides: &[&str]) -> Pipeline {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    match build_pipeline("test.toml", text, &overrides, BuildOptions::default()) {
        Ok(p) => p,
        Err(e) => panic!("pipeline does not build:\n{e}"),
    }
}

/// The configuration errors of a pipeline text, one string each.
pub fn config_errors(text: &str) -> Vec<String> {
    match build_pipeline("test.toml", text, &[], BuildOptions::default()) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

/// The snapshots of a JSON trace (any layout `load_trace` recognises).
pub fn from_json(text: &str) -> Vec<Snapshot> {
    match serenity_core::load_trace(text) {
        Ok((_, usages)) => usages.into_iter().map(Snapshot::new).collect(),
        Err(e) => panic!("trace does not load: {e}"),
    }
}

/// Asserts that two numbers agree within `tolerance`.
#[track_caller]
pub fn assert_close(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "expected {expected} ± {tolerance}, got {actual}"
    );
}

/// Every shipped pipeline file, sorted by path: (path, text).
pub fn shipped_pipelines() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../pipelines");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}
