//! The validated view of one usage snapshot that stages read.

use super::proto::{Executor, Resource, ResourceStatistics, ResourceUsage};
use std::fmt;

/// Bytes in one MiB: Mesos `mem` resources are scalars in MiB.
pub const MIB: f64 = 1024.0 * 1024.0;

/// An executor's identity on an agent: the pair (framework id, executor id),
/// as Mesos and the original Serenity key executors.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExecutorKey {
    /// `executor_info.framework_id.value`.
    pub framework_id: String,
    /// `executor_info.executor_id.value`.
    pub executor_id: String,
}

impl fmt::Display for ExecutorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (framework {})", self.executor_id, self.framework_id)
    }
}

/// One usable executor of a snapshot, with what the stages need precomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorView {
    /// Index into `Snapshot::usage.executors`.
    pub index: usize,
    /// The executor's identity.
    pub key: ExecutorKey,
    /// `container_id.value` when the agent sent one.
    pub container_id: Option<String>,
    /// True when any allocated resource carries `revocable` (best-effort work).
    pub revocable: bool,
    /// Σ allocated `cpus` (revocable or not), if any were allocated.
    pub allocated_cpus: Option<f64>,
    /// Σ allocated `mem` in bytes (Mesos `mem` is in MiB), if any.
    pub allocated_mem_bytes: Option<f64>,
    /// Σ allocated revocable `cpus`.
    pub revocable_cpus: f64,
    /// Σ allocated revocable `mem` in bytes.
    pub revocable_mem_bytes: f64,
}

/// An executor left out of a snapshot, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Index into `Snapshot::usage.executors`.
    pub index: usize,
    /// A sentence saying why the executor cannot be used.
    pub reason: String,
}

/// A decoded ResourceUsage with its usable executors identified.
///
/// Executors without an executor id or framework id cannot be keyed and are
/// rejected; a second executor with an already-seen key is rejected (the first
/// wins). Rejections are kept so that callers can log them; nothing is lost
/// silently.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The snapshot as decoded.
    pub usage: ResourceUsage,
    /// Usable executors, in the order of `usage.executors`.
    pub executors: Vec<ExecutorView>,
    /// Executors that could not be used, with the reason.
    pub rejected: Vec<Rejection>,
    /// Σ `cpus` in the agent's `total`, when present and positive.
    pub total_cpus: Option<f64>,
    /// Σ `mem` in the agent's `total`, in bytes, when present and positive.
    pub total_mem_bytes: Option<f64>,
    /// The latest finite `statistics.timestamp` among the usable executors:
    /// the snapshot's time. Time inside the core comes only from here.
    pub timestamp: Option<f64>,
}

/// Σ of the positive, finite scalar values named `name` (Mesos drops zero,
/// negative and invalid scalars when it adds a Resource to Resources).
fn scalar_sum<'a>(resources: impl Iterator<Item = &'a Resource>, name: &str) -> Option<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for r in resources {
        if r.name.as_deref() != Some(name) {
            continue;
        }
        if let Some(v) = r.scalar.as_ref().and_then(|s| s.value) {
            if v.is_finite() && v > 0.0 {
                sum += v;
                found = true;
            }
        }
    }
    found.then_some(sum)
}

/// The (framework id, executor id) strings of an executor that has both.
fn key_refs(e: &Executor) -> (&str, &str) {
    let info = e.executor_info.as_ref();
    let fw = info
        .and_then(|i| i.framework_id.as_ref())
        .and_then(|f| f.value.as_deref());
    let ex = info
        .and_then(|i| i.executor_id.as_ref())
        .and_then(|x| x.value.as_deref());
    (fw.unwrap_or(""), ex.unwrap_or(""))
}

impl Snapshot {
    /// Builds the view of a decoded ResourceUsage.
    pub fn new(usage: ResourceUsage) -> Snapshot {
        let mut executors = Vec::with_capacity(usage.executors.len());
        let mut rejected = Vec::new();
        let mut seen = hashbrown::HashSet::with_capacity(usage.executors.len());
        let mut timestamp: Option<f64> = None;
        for (index, e) in usage.executors.iter().enumerate() {
            match Self::view(index, e) {
                Err(reason) => rejected.push(Rejection { index, reason }),
                Ok(view) => {
                    if !seen.insert(key_refs(e)) {
                        rejected.push(Rejection {
                            index,
                            reason: format!(
                                "executor {} appears more than once in the snapshot; the first entry is used",
                                view.key
                            ),
                        });
                        continue;
                    }
                    if let Some(ts) = e.statistics.as_ref().and_then(|s| s.timestamp) {
                        if ts.is_finite() {
                            timestamp = Some(timestamp.map_or(ts, |t: f64| t.max(ts)));
                        }
                    }
                    executors.push(view);
                }
            }
        }
        let total_cpus = scalar_sum(usage.total.iter(), "cpus");
        let total_mem_bytes = scalar_sum(usage.total.iter(), "mem").map(|m| m * MIB);
        drop(seen);
        Snapshot {
            usage,
            executors,
            rejected,
            total_cpus,
            total_mem_bytes,
            timestamp,
        }
    }

    fn view(index: usize, e: &Executor) -> Result<ExecutorView, String> {
        let info = e.executor_info.as_ref().ok_or_else(|| {
            format!("executor #{index} has no executor_info, so it cannot be identified")
        })?;
        let executor_id = info
            .executor_id
            .as_ref()
            .and_then(|id| id.value.clone())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                format!("executor #{index} has no executor_id, so it cannot be identified")
            })?;
        let framework_id = info
            .framework_id
            .as_ref()
            .and_then(|id| id.value.clone())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                format!("executor {executor_id} (#{index}) has no framework_id, so it cannot be identified")
            })?;
        let revocable = e.allocated.iter().any(|r| r.revocable.is_some());
        let revocable_iter = || e.allocated.iter().filter(|r| r.revocable.is_some());
        Ok(ExecutorView {
            index,
            key: ExecutorKey {
                framework_id,
                executor_id,
            },
            container_id: e.container_id.as_ref().and_then(|c| c.value.clone()),
            revocable,
            allocated_cpus: scalar_sum(e.allocated.iter(), "cpus"),
            allocated_mem_bytes: scalar_sum(e.allocated.iter(), "mem").map(|m| m * MIB),
            revocable_cpus: scalar_sum(revocable_iter(), "cpus").unwrap_or(0.0),
            revocable_mem_bytes: scalar_sum(revocable_iter(), "mem").map_or(0.0, |m| m * MIB),
        })
    }

    /// The statistics of usable executor `row` (an index into `executors`), if the agent sent them.
    pub fn statistics(&self, row: usize) -> Option<&ResourceStatistics> {
        self.usage.executors[self.executors[row].index]
            .statistics
            .as_ref()
    }

    /// Σ allocated revocable cpus and memory bytes over all usable executors.
    pub fn allocated_revocable(&self) -> (f64, f64) {
        self.executors.iter().fold((0.0, 0.0), |(c, m), e| {
            (c + e.revocable_cpus, m + e.revocable_mem_bytes)
        })
    }

    /// Whether any usable executor is best-effort (revocable).
    pub fn has_revocable(&self) -> bool {
        self.executors.iter().any(|e| e.revocable)
    }
}
