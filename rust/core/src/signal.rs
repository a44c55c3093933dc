//! Named per-executor signals and the table stages read and write each tick.
//!
//! Signal names are resolved to [`SignalId`]s when a pipeline is built, so a
//! stage that reads a signal no earlier stage writes is a configuration
//! error, and reading or writing a value at run time is an index operation.

use std::fmt;

/// A resolved signal name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalId(pub(crate) u16);

impl SignalId {
    /// The column of this signal in a [`SignalTable`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The signals the runtime derives for every executor before the first stage
/// runs, with their units. Each is absent for an executor whose statistics do
/// not support it (see docs/pipelines.md, "Signals").
pub const BUILTIN_SIGNALS: &[(&str, &str)] = &[
    (
        "cpu_usage",
        "CPUs busy over the last interval, from Δ(user+system time)/Δtimestamp",
    ),
    ("cpus_limit", "statistics.cpus_limit (CPUs)"),
    ("cpus_allocated", "Σ allocated cpus (CPUs)"),
    ("mem_rss_bytes", "statistics.mem_rss_bytes"),
    ("mem_limit_bytes", "statistics.mem_limit_bytes"),
    ("mem_allocated_bytes", "Σ allocated mem (bytes)"),
    (
        "cpu_throttle_ratio",
        "Δnr_throttled / Δnr_periods over the last interval (0..1)",
    ),
    (
        "ipc",
        "perf instructions / cycles of the latest perf sample",
    ),
    (
        "cpi",
        "perf cycles / instructions of the latest perf sample",
    ),
    (
        "ips",
        "perf instructions / duration of the latest perf sample (per second)",
    ),
    (
        "llc_occupancy",
        "perf llc_occupancy if a patched agent reports it",
    ),
    (
        "cache_misses_per_sec",
        "perf cache_misses / duration of the latest perf sample",
    ),
    (
        "age_secs",
        "seconds since the executor was first seen (sample time)",
    ),
    (
        "runqueue_delay",
        "Δserenity_runqueue_delay_secs / Δtimestamp: seconds its tasks waited on a run queue per second (CPUs of runnable work not running)",
    ),
    (
        "cpu_pressure",
        "Δserenity_cpu_pressure_some_secs / Δtimestamp: share of time some task stalled waiting for CPU (PSI some, 0..1)",
    ),
    (
        "mem_pressure",
        "Δserenity_mem_pressure_some_secs / Δtimestamp: share of time some task stalled on memory (PSI some, 0..1)",
    ),
    (
        "io_pressure",
        "Δserenity_io_pressure_some_secs / Δtimestamp: share of time some task stalled on IO (PSI some, 0..1)",
    ),
];

/// Ids of the built-in signals, in the order of [`BUILTIN_SIGNALS`].
pub mod builtin {
    use super::SignalId;
    /// CPUs busy over the last interval.
    pub const CPU_USAGE: SignalId = SignalId(0);
    /// statistics.cpus_limit.
    pub const CPUS_LIMIT: SignalId = SignalId(1);
    /// Σ allocated cpus.
    pub const CPUS_ALLOCATED: SignalId = SignalId(2);
    /// statistics.mem_rss_bytes.
    pub const MEM_RSS_BYTES: SignalId = SignalId(3);
    /// statistics.mem_limit_bytes.
    pub const MEM_LIMIT_BYTES: SignalId = SignalId(4);
    /// Σ allocated mem in bytes.
    pub const MEM_ALLOCATED_BYTES: SignalId = SignalId(5);
    /// Δnr_throttled / Δnr_periods.
    pub const CPU_THROTTLE_RATIO: SignalId = SignalId(6);
    /// instructions / cycles.
    pub const IPC: SignalId = SignalId(7);
    /// cycles / instructions.
    pub const CPI: SignalId = SignalId(8);
    /// instructions per second.
    pub const IPS: SignalId = SignalId(9);
    /// LLC occupancy (bytes), patched agents only.
    pub const LLC_OCCUPANCY: SignalId = SignalId(10);
    /// cache misses per second.
    pub const CACHE_MISSES_PER_SEC: SignalId = SignalId(11);
    /// seconds since first seen.
    pub const AGE_SECS: SignalId = SignalId(12);
    /// run-queue wait, seconds per second.
    pub const RUNQUEUE_DELAY: SignalId = SignalId(13);
    /// PSI cpu `some`, share of time.
    pub const CPU_PRESSURE: SignalId = SignalId(14);
    /// PSI memory `some`, share of time.
    pub const MEM_PRESSURE: SignalId = SignalId(15);
    /// PSI io `some`, share of time.
    pub const IO_PRESSURE: SignalId = SignalId(16);
}

/// The built-in signals derived from perf counters (`statistics.perf`): an
/// embedder need not open perf counters for a pipeline that reads none.
pub const PERF_SIGNALS: &[&str] = &["ipc", "cpi", "ips", "llc_occupancy", "cache_misses_per_sec"];

/// The names known to a pipeline: the built-ins, then every signal a stage
/// declares it writes, in stage order; and which of them some stage reads.
#[derive(Debug, Clone)]
pub struct SignalNames {
    names: Vec<String>,
    read: Vec<bool>,
}

impl Default for SignalNames {
    fn default() -> Self {
        SignalNames {
            names: BUILTIN_SIGNALS.iter().map(|(n, _)| n.to_string()).collect(),
            read: vec![false; BUILTIN_SIGNALS.len()],
        }
    }
}

impl SignalNames {
    /// The id of `name`, if some built-in or earlier stage provides it.
    pub fn lookup(&self, name: &str) -> Option<SignalId> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| SignalId(i as u16))
    }

    /// Declares that a stage writes `name`, returning its id (existing names
    /// are reused: a later stage may overwrite an earlier signal).
    pub fn declare(&mut self, name: &str) -> SignalId {
        match self.lookup(name) {
            Some(id) => id,
            None => {
                self.names.push(name.to_owned());
                self.read.push(false);
                SignalId((self.names.len() - 1) as u16)
            }
        }
    }

    /// Records that a stage reads `id` (done while the pipeline is built).
    pub fn mark_read(&mut self, id: SignalId) {
        if let Some(r) = self.read.get_mut(id.index()) {
            *r = true;
        }
    }

    /// Whether some stage of the pipeline reads `name`.
    pub fn is_read(&self, name: &str) -> bool {
        self.lookup(name)
            .is_some_and(|id| self.read.get(id.index()).copied().unwrap_or(false))
    }

    /// The name of a signal.
    pub fn name(&self, id: SignalId) -> &str {
        &self.names[id.index()]
    }

    /// Every known name, in id order.
    pub fn all(&self) -> &[String] {
        &self.names
    }

    /// How many signals there are.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are none (never true: the built-ins are always there).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Values of every signal for every executor of one tick (rows follow
/// `Snapshot::executors`). Absent values are stored as NaN and read as `None`;
/// a non-finite value can therefore never be read back as present.
#[derive(Debug, Clone, Default)]
pub struct SignalTable {
    width: usize,
    rows: usize,
    values: Vec<f64>,
}

impl SignalTable {
    /// Clears the table for a tick of `rows` executors and `width` signals,
    /// reusing its memory.
    pub fn reset(&mut self, rows: usize, width: usize) {
        self.rows = rows;
        self.width = width;
        self.values.clear();
        self.values.resize(rows * width, f64::NAN);
    }

    /// The value of `signal` for executor `row`, if present and finite.
    pub fn get(&self, row: usize, signal: SignalId) -> Option<f64> {
        let v = self.values[row * self.width + signal.index()];
        v.is_finite().then_some(v)
    }

    /// Sets (or, with `None` or a non-finite value, clears) a value.
    pub fn set(&mut self, row: usize, signal: SignalId, value: Option<f64>) {
        self.values[row * self.width + signal.index()] = value.unwrap_or(f64::NAN);
    }

    /// Number of executor rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

impl fmt::Display for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signal#{}", self.0)
    }
}
