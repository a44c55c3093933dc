//! The ResourceUsage record the simulated node writes each tick, as typed
//! values that serialize straight to JSON text.
//!
//! A wide node's record built as a `serde_json::Value` costs about 8 KiB per
//! executor (82 MiB at 10 000 executors) before it is written; these structs
//! borrow the scenario's ids and cost a few hundred bytes. The text is the
//! one the `Value` would have serialized to, byte for byte: every struct
//! declares its fields in the sorted order in which serde_json writes an
//! object's keys (its map is ordered by key), and numbers are the same `f64`
//! and `u64` values, formatted by the same writer. A test in
//! `tests/world.rs` holds the order against a `Value` round trip.

use serde::Serialize;

/// One tick of the node: its executors and its total resources.
#[derive(Debug, Clone, Serialize)]
pub struct Record<'s> {
    /// The executors present this tick, in scenario order.
    pub executors: Vec<ExecutorRecord<'s>>,
    /// The node's CPUs and memory.
    pub total: [ResourceRecord; 2],
}

impl Record<'_> {
    /// The record as one line of compact JSON (no newline).
    pub fn text(&self) -> String {
        // Only strings, finite or non-finite floats (written `null`, as a
        // `Value` writes them) and integers: serializing cannot fail.
        serde_json::to_string(self).expect("a simulated record serializes")
    }
}

/// One executor's `ResourceUsage.Executor`.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutorRecord<'s> {
    /// Its allocated CPUs and memory (revocable for best-effort work).
    pub allocated: [ResourceRecord; 2],
    /// The container of this incarnation.
    pub container_id: Id<String>,
    /// Executor and framework ids.
    pub executor_info: ExecutorInfoRecord<'s>,
    /// The counters and limits.
    pub statistics: StatisticsRecord,
}

/// `{"value": …}`, Mesos's id messages.
#[derive(Debug, Clone, Serialize)]
pub struct Id<T> {
    /// The id.
    pub value: T,
}

/// The `ExecutorInfo` fields the simulator sets.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutorInfoRecord<'s> {
    /// The executor id.
    pub executor_id: Id<&'s str>,
    /// The framework id.
    pub framework_id: Id<&'s str>,
    /// The executor's name (its id).
    pub name: &'s str,
}

/// A scalar resource (`cpus` or `mem`).
#[derive(Debug, Clone, Serialize)]
pub struct ResourceRecord {
    /// `cpus` or `mem`.
    pub name: &'static str,
    /// Present (`{}`) on revocable resources only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocable: Option<Revocable>,
    /// The amount.
    pub scalar: Scalar,
    /// Always `SCALAR`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The empty `Resource.RevocableInfo` message, written `{}`.
#[derive(Debug, Clone, Serialize)]
pub struct Revocable {}

/// `Value.Scalar`.
#[derive(Debug, Clone, Serialize)]
pub struct Scalar {
    /// The amount (CPUs, or MiB).
    pub value: f64,
}

impl ResourceRecord {
    /// `cpus` and `mem` (MiB), revocable or not.
    pub fn pair(cpus: f64, mem_mib: f64, revocable: bool) -> [ResourceRecord; 2] {
        let r = |name, value| ResourceRecord {
            name,
            revocable: revocable.then_some(Revocable {}),
            scalar: Scalar { value },
            kind: "SCALAR",
        };
        [r("cpus", cpus), r("mem", mem_mib)]
    }
}

/// The `ResourceStatistics` fields the simulator sets.
#[derive(Debug, Clone, Serialize)]
pub struct StatisticsRecord {
    /// The CPU limit.
    pub cpus_limit: f64,
    /// Cumulative system CPU seconds.
    pub cpus_system_time_secs: f64,
    /// Cumulative user CPU seconds.
    pub cpus_user_time_secs: f64,
    /// The memory limit, bytes.
    pub mem_limit_bytes: u64,
    /// Resident memory, bytes.
    pub mem_rss_bytes: u64,
    /// The hardware counters over the last interval.
    pub perf: PerfRecord,
    /// Cumulative CPU pressure (some), seconds.
    pub serenity_cpu_pressure_some_secs: f64,
    /// Cumulative IO pressure (some), seconds.
    pub serenity_io_pressure_some_secs: f64,
    /// Cumulative memory pressure (some), seconds.
    pub serenity_mem_pressure_some_secs: f64,
    /// Cumulative run-queue delay, seconds.
    pub serenity_runqueue_delay_secs: f64,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
}

/// The `PerfStatistics` fields the simulator sets.
#[derive(Debug, Clone, Serialize)]
pub struct PerfRecord {
    /// Cache misses over the interval.
    pub cache_misses: u64,
    /// Cycles over the interval.
    pub cycles: u64,
    /// The interval, seconds.
    pub duration: f64,
    /// Instructions over the interval.
    pub instructions: u64,
    /// Start of the interval.
    pub timestamp: f64,
}
