//! Helpers shared by stages: which contentions a strategy acts on, and
//! which executors a strategy may choose from.

use crate::config::ParamReader;
use crate::tick::Tick;

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
