//! What one tick carries through a pipeline: the snapshot, the signal table,
//! the executors still under consideration, and what stages have concluded.

use crate::executors::{ExecutorRef, ExecutorRegistry};
use crate::model::Snapshot;
use crate::signal::{SignalId, SignalTable};

/// The unit of a contention's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeverityUnit {
    /// CPUs to recover (the overload detector).
    Cpus,
    /// A fraction of the signal's level (the drop detector: relative drop).
    Fraction,
    /// Standard deviations of the signal's own noise (changepoint detectors).
    Sigmas,
}

impl SeverityUnit {
    /// Lower-case name for output.
    pub fn as_str(self) -> &'static str {
        match self {
            SeverityUnit::Cpus => "cpus",
            SeverityUnit::Fraction => "fraction",
            SeverityUnit::Sigmas => "sigmas",
        }
    }
}

/// A detector's finding: production work is (or may be) being hurt.
#[derive(Debug, Clone, PartialEq)]
pub struct Contention {
    /// Index (0-based) of the stage that raised it.
    pub stage: usize,
    /// The `name` of the detector stage that raised it.
    pub detector: std::sync::Arc<str>,
    /// The signal the detector watched.
    pub signal: SignalId,
    /// The production executor that suffers (row), when the detector is per
    /// executor; `None` for node-wide contentions (overload).
    pub victim: Option<usize>,
    /// How bad it is, in `unit`; `None` when the detector cannot say.
    pub severity: Option<f64>,
    /// The unit of `severity`.
    pub unit: SeverityUnit,
    /// Set by the strategy that acted on it.
    pub handled: bool,
}

/// A decision to kill a best-effort executor.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    /// Row of the executor in `Snapshot::executors`.
    pub row: usize,
    /// Index of the stage that decided it.
    pub stage: usize,
    /// A sentence saying why.
    pub reason: String,
}

/// Keeps the first correction of each executor (by row) and drops later
/// ones, preserving order; returns how many were dropped. The one place where
/// corrections are merged: the `merge_corrections` stage (the original's
/// CorrectionMerger, spec/serenity.md §2.9) and the pipeline's final check.
pub fn dedupe_corrections(corrections: &mut Vec<Correction>) -> usize {
    let before = corrections.len();
    let mut seen = std::collections::HashSet::with_capacity(before);
    corrections.retain(|c| seen.insert(c.row));
    before - corrections.len()
}

/// Revocable capacity this node can lend.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Slack {
    /// CPUs.
    pub cpus: f64,
    /// Memory in bytes.
    pub mem_bytes: f64,
}

/// What an SLO controller asks of the best-effort allowance (the CPU and
/// memory the node agent lets best-effort work use), after Heracles's
/// top-level controller (docs/slo.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AllowanceStep {
    /// Take best-effort work down to its floor now (an objective is violated).
    Revoke,
    /// Take a step down (the slack to an objective is below the shrink margin).
    Shrink,
    /// Keep it where it is.
    Hold,
    /// A step up is allowed (every objective has slack above the grow margin
    /// and the node is below its load cap).
    Grow,
}

impl AllowanceStep {
    /// Lower-case name for output and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AllowanceStep::Revoke => "revoke",
            AllowanceStep::Shrink => "shrink",
            AllowanceStep::Hold => "hold",
            AllowanceStep::Grow => "grow",
        }
    }
}

/// An SLO controller's decision for this tick, with the sentence saying why.
#[derive(Debug, Clone, PartialEq)]
pub struct Allowance {
    /// The step.
    pub step: AllowanceStep,
    /// Why (which SLI, its value and slack, or the load cap).
    pub reason: String,
}

/// The mutable results of a tick, owned by the pipeline and reused across
/// ticks so that a steady state allocates nothing.
#[derive(Debug, Default)]
pub struct TickState {
    /// Per-executor signals.
    pub signals: SignalTable,
    /// Executors later stages still consider (by row).
    pub selected: Vec<bool>,
    /// Contentions raised so far.
    pub contentions: Vec<Contention>,
    /// Corrections decided so far.
    pub corrections: Vec<Correction>,
    /// The slack computed so far (estimator pipelines).
    pub slack: Option<Slack>,
    /// Set by `subtract_best_effort_usage`: the slack already accounts for
    /// best-effort work, so the final step must not subtract allocated
    /// revocable resources again.
    pub best_effort_accounted: bool,
    /// Set by `slo_guard`: what the best-effort allowance should do.
    pub allowance: Option<Allowance>,
}

/// Everything a stage sees while it runs.
pub struct Tick<'a> {
    /// The snapshot.
    pub snapshot: &'a Snapshot,
    /// Executor identities and history.
    pub registry: &'a ExecutorRegistry,
    /// Results so far.
    pub state: &'a mut TickState,
    /// Sequence number of this tick in the pipeline (1-based).
    pub index: u64,
    /// The snapshot's time (latest statistics timestamp), if any.
    pub now: Option<f64>,
    /// Index of the running stage (set by the pipeline).
    pub stage: usize,
}

impl Tick<'_> {
    /// The executor handle of `row`.
    pub fn executor(&self, row: usize) -> ExecutorRef {
        self.registry.refs()[row]
    }

    /// Number of executors in the snapshot.
    pub fn rows(&self) -> usize {
        self.snapshot.executors.len()
    }

    /// Rows still selected.
    pub fn selected_rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.state
            .selected
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.then_some(i))
    }

    /// A signal of an executor.
    pub fn signal(&self, row: usize, id: SignalId) -> Option<f64> {
        self.state.signals.get(row, id)
    }

    /// Whether executor `row` is best-effort.
    pub fn is_revocable(&self, row: usize) -> bool {
        self.snapshot.executors[row].revocable
    }

    /// Seconds since executor `row` was first seen, at this tick's time.
    pub fn age_secs(&self, row: usize) -> Option<f64> {
        let first = self.registry.first_seen(self.executor(row))?;
        Some(self.now? - first)
    }
}

/// What a stage tells the pipeline after it ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Flow {
    /// Go on with the next stage.
    Continue,
    /// Stop this tick here: the estimator answers zero slack, the QoS
    /// controller no corrections. The reason is a sentence for the log.
    Stop(String),
}
