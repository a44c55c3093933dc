//! What a pipeline did on one tick: the stable JSON Lines record that
//! `serenity replay --output jsonl` prints (docs/replay.md) and that a
//! closed-loop simulation stores beside the truth of each tick (`actions`).

use serde::{Deserialize, Serialize};
use serenity_core::signal::SignalNames;
use serenity_core::{Outcome, Snapshot};
use std::fmt::Write as _;

/// Slack advertised by an estimator on one tick.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SlackLine {
    /// Revocable CPUs.
    pub cpus: f64,
    /// Revocable memory, bytes (rounded down).
    pub mem_bytes: u64,
}

/// A contention raised on one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentionLine {
    /// The victim's framework, `null` for node-wide contentions.
    pub framework_id: Option<String>,
    /// The victim's executor, `null` for node-wide contentions.
    pub executor_id: Option<String>,
    /// The signal the detector watched (its name in the pipeline).
    pub signal: String,
    /// How bad, in the detector's unit; `null` when it cannot say.
    pub severity: Option<f64>,
}

/// A correction (kill of a best-effort executor) decided on one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrectionLine {
    /// The executor's framework.
    pub framework_id: String,
    /// The executor.
    pub executor_id: String,
    /// Its container, when the trace names one.
    pub container_id: Option<String>,
    /// Why, as the strategy stage wrote it.
    pub reason: String,
}

/// One JSON Lines record of `serenity replay --output jsonl`: one per tick
/// and pipeline, ticks 0-based in trace order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickLine {
    /// 0-based index of the trace record.
    pub tick: u64,
    /// The snapshot's time (latest statistics timestamp), seconds since the epoch.
    pub timestamp: Option<f64>,
    /// The pipeline's name (its file stem).
    pub pipeline: String,
    /// Estimators: the slack advertised; QoS pipelines: `null`.
    pub slack: Option<SlackLine>,
    /// Contentions raised this tick.
    pub contentions: Vec<ContentionLine>,
    /// Corrections decided this tick.
    pub corrections: Vec<CorrectionLine>,
    /// The type of the stage that stopped the tick, if one did.
    pub stopped_by: Option<String>,
}

impl TickLine {
    /// Builds the record of one pipeline's tick.
    pub fn new(
        tick: u64,
        snapshot: &Snapshot,
        pipeline: &str,
        signals: &SignalNames,
        outcome: &Outcome<'_>,
    ) -> Self {
        let key = |row: usize| snapshot.executors.get(row).map(|e| &e.key);
        TickLine {
            tick,
            timestamp: snapshot.timestamp,
            pipeline: pipeline.to_owned(),
            slack: outcome.slack.map(|s| SlackLine {
                cpus: s.cpus,
                mem_bytes: if s.mem_bytes.is_finite() && s.mem_bytes > 0.0 {
                    s.mem_bytes as u64
                } else {
                    0
                },
            }),
            contentions: outcome
                .contentions
                .iter()
                .map(|c| {
                    let victim = c.victim.and_then(key);
                    ContentionLine {
                        framework_id: victim.map(|k| k.framework_id.clone()),
                        executor_id: victim.map(|k| k.executor_id.clone()),
                        signal: signals.name(c.signal).to_owned(),
                        severity: c.severity.filter(|s| s.is_finite()),
                    }
                })
                .collect(),
            corrections: outcome
                .corrections
                .iter()
                .filter_map(|c| {
                    let view = snapshot.executors.get(c.row)?;
                    Some(CorrectionLine {
                        framework_id: view.key.framework_id.clone(),
                        executor_id: view.key.executor_id.clone(),
                        container_id: view.container_id.clone(),
                        reason: c.reason.clone(),
                    })
                })
                .collect(),
            stopped_by: outcome.stopped.as_ref().map(|s| s.type_name.to_owned()),
        }
    }

    /// The table cell for this pipeline on this tick.
    pub fn cell(&self) -> String {
        let mut s = String::new();
        if let Some(slack) = &self.slack {
            let _ = write!(
                s,
                "slack {:.3} cpus {:.0} MiB",
                slack.cpus,
                slack.mem_bytes as f64 / (1024.0 * 1024.0)
            );
        }
        if !self.contentions.is_empty() {
            if !s.is_empty() {
                s.push_str("; ");
            }
            let _ = write!(
                s,
                "{} contention{} ({})",
                self.contentions.len(),
                plural(self.contentions.len()),
                self.contentions
                    .iter()
                    .map(|c| c.signal.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        if !self.corrections.is_empty() {
            if !s.is_empty() {
                s.push_str("; ");
            }
            let _ = write!(
                s,
                "kill {}",
                self.corrections
                    .iter()
                    .map(|c| c.executor_id.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        if let Some(stage) = &self.stopped_by {
            if !s.is_empty() {
                s.push_str("; ");
            }
            let _ = write!(s, "stopped by {stage}");
        }
        if s.is_empty() {
            s.push('-');
        }
        s
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
