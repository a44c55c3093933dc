//! Helpers shared by stages: which contentions a strategy acts on, and
//! which executors a strategy may choose from.

use crate::config::ParamReader;
use crate::signal::SignalNames;
use crate::tick::{Contention, Correction, Tick};

/// Which contentions a strategy acts on: those raised by the named detector
/// stages (their `name`, default their type), or, when no list is given,
/// every contention that no earlier strategy has handled.
#[derive(Debug, Clone, Default)]
pub struct ContentionFilter {
    detectors: Option<Vec<String>>,
}

impl ContentionFilter {
    /// Reads the optional `contentions` key (a list of detector stage names).
    pub fn read(r: &mut ParamReader<'_, '_>) -> Self {
        ContentionFilter {
            detectors: r.strings("contentions"),
        }
    }

    /// Indices (into `tick.state.contentions`) of the unhandled contentions
    /// this filter accepts.
    pub fn pending(&self, tick: &Tick<'_>) -> Vec<usize> {
        tick.state
            .contentions
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                !c.handled
                    && self
                        .detectors
                        .as_ref()
                        .is_none_or(|list| list.iter().any(|d| **d == *c.detector))
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// Rows of every best-effort (revocable) executor in the snapshot: the only
/// executors a strategy may name. Strategies choose among all of them, not
/// only the rows selected for measurement.
pub fn best_effort_rows(tick: &Tick<'_>) -> Vec<usize> {
    (0..tick.rows()).filter(|&r| tick.is_revocable(r)).collect()
}

/// The signal names a stage can see when it is built (built-ins and every
/// signal an earlier stage writes), for naming a contention's signal in
/// log lines and reasons.
pub(crate) fn known_signals(r: &ParamReader<'_, '_>) -> SignalNames {
    r.signals.clone()
}

/// Describes a contention for reasons and log lines: which detector, on
/// which signal, which production executor, how severe.
pub(crate) fn describe_contention(c: &Contention, names: &SignalNames, tick: &Tick<'_>) -> String {
    let signal = if c.signal.index() < names.len() {
        names.name(c.signal).to_owned()
    } else {
        c.signal.to_string()
    };
    let victim = match c.victim.and_then(|row| tick.snapshot.executors.get(row)) {
        Some(view) => format!("production executor {}", view.key),
        None => "node-wide".to_owned(),
    };
    let severity = match c.severity {
        Some(s) => format!("severity {s:.3} {}", c.unit.as_str()),
        None => "severity unknown".to_owned(),
    };
    format!("{} on {signal} ({victim}, {severity})", c.detector)
}

/// Describes a best-effort executor for a reason: its key, its usage of the
/// given signal, its allocated cpus and its age.
pub(crate) fn describe_executor(
    tick: &Tick<'_>,
    row: usize,
    usage: Option<f64>,
    usage_name: &str,
) -> String {
    let view = &tick.snapshot.executors[row];
    let usage = match usage {
        Some(u) => format!("{usage_name} {u:.3}"),
        None => format!("{usage_name} unknown"),
    };
    let allocated = match view.allocated_cpus {
        Some(a) => format!("{a:.3} cpus allocated"),
        None => "no cpus allocated".to_owned(),
    };
    let age = match tick.age_secs(row) {
        Some(a) => format!("age {a:.0} s"),
        None => "age unknown".to_owned(),
    };
    format!("executor {} ({usage}, {allocated}, {age})", view.key)
}

/// A strategy's decision: appends one correction per (row, reason) and, when
/// at least one victim was named, marks the `pending` contentions handled
/// (otherwise they stay pending for the next strategy). Returns how many
/// corrections were added.
pub(crate) fn correct(
    tick: &mut Tick<'_>,
    pending: &[usize],
    victims: impl IntoIterator<Item = (usize, String)>,
) -> usize {
    let stage = tick.stage;
    let before = tick.state.corrections.len();
    tick.state
        .corrections
        .extend(
            victims
                .into_iter()
                .map(|(row, reason)| Correction { row, stage, reason }),
        );
    let added = tick.state.corrections.len() - before;
    if added > 0 {
        for &i in pending {
            tick.state.contentions[i].handled = true;
        }
    }
    added
}
