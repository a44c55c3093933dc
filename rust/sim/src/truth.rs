//! Ground truth carried by simulated traces: an extra top-level `truth` key
//! on each ResourceUsage record (and, in closed loop, an `actions` key with
//! what each pipeline did). `load_trace` skips unknown keys, so the trace
//! stays replayable; the scorer and the plot read them here.

use crate::actions::TickLine;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What was really happening on one tick of a simulated trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Truth {
    /// Some production executor is being hurt by best-effort work this tick.
    pub interference: bool,
    /// An interference episode starts on this tick.
    pub onset: bool,
    /// CPUs that could still be lent without hurting production this tick:
    /// `prod_idle_cpus` − `revocable_cpus`, floored at zero.
    pub idle_cpus: f64,
    /// Σ over production executors of (allocated − demand): what production
    /// leaves idle by its own need (not its usage, which contention lowers).
    pub prod_idle_cpus: f64,
    /// Σ allocated CPUs of the best-effort (revocable) executors present:
    /// capacity already lent.
    pub revocable_cpus: f64,
    /// Best-effort executors present and their allocated CPUs.
    pub lent: BTreeMap<String, f64>,
    /// Seconds between records.
    pub interval_secs: f64,
    /// Best-effort executors causing the interference (executor ids).
    pub aggressors: Vec<String>,
    /// Production executors being hurt (executor ids).
    pub victims: Vec<String>,
    /// Indexes of the scenario's `[[event]]`s active on this tick.
    pub events: Vec<usize>,
}

#[derive(Deserialize)]
struct WithTruth {
    truth: Option<Truth>,
    #[serde(default)]
    actions: Option<Vec<TickLine>>,
}

/// Reads the `truth` of every record of a JSON Lines trace, in the order
/// `load_trace` returns records (empty lines skipped). Records without
/// truth, and traces in the other layouts, give `None`.
pub fn load_truth(text: &str) -> Result<Vec<Option<Truth>>, String> {
    Ok(load_labelled(text)?.0)
}

/// Reads the truth and, for closed-loop traces, every pipeline's actions
/// (all records' `actions`, in tick order; empty for open-loop traces).
pub fn load_labelled(text: &str) -> Result<(Vec<Option<Truth>>, Vec<TickLine>), String> {
    let first = text.lines().find(|l| !l.trim().is_empty());
    let is_lines = first.is_some_and(|l| {
        matches!(serde_json::from_str::<serde_json::Value>(l),
            Ok(serde_json::Value::Object(m)) if !m.contains_key("resource_usage"))
    });
    if !is_lines {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut labels = Labels::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        labels.push_line(i + 1, line)?;
    }
    Ok((labels.truth, labels.actions))
}

/// The truth and actions of a JSON Lines trace, collected one record (line)
/// at a time as a streaming reader hands them over: what [`load_labelled`]
/// returns, without holding the trace.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    /// Every record's truth, in order (`None` for a record without one).
    pub truth: Vec<Option<Truth>>,
    /// Every record's actions, in tick order.
    pub actions: Vec<TickLine>,
    keep: KeepLent,
}

/// Which entries of each record's [`Truth::lent`] a [`Labels`] keeps.
#[derive(Debug, Clone, Default)]
enum KeepLent {
    /// Every entry.
    #[default]
    All,
    /// Those of executors a correction of the record's own `actions` names.
    Corrected,
    /// Those of executors a correction names at that tick (record index).
    Named(HashMap<usize, HashSet<String>>),
    /// None.
    Nothing,
}

impl Labels {
    /// Collects for the scorer of a closed-loop trace: each truth keeps the
    /// lent CPUs only of the executors that record's actions correct (all
    /// the scorer reads of `lent`: what a kill revoked). A wide node's
    /// `lent` names every best-effort executor on every tick, so keeping it
    /// whole would grow with the trace's length.
    pub fn for_closed_loop_score() -> Labels {
        Labels {
            keep: KeepLent::Corrected,
            ..Labels::default()
        }
    }

    /// Collects for the scorer of an open-loop trace and its replay
    /// `result`: each truth keeps the lent CPUs only of the executors a
    /// result line corrects on that tick.
    pub fn for_open_loop_score(result: &[TickLine]) -> Labels {
        let mut named: HashMap<usize, HashSet<String>> = HashMap::new();
        for l in result {
            for c in &l.corrections {
                named
                    .entry(l.tick as usize)
                    .or_default()
                    .insert(c.executor_id.clone());
            }
        }
        Labels {
            keep: KeepLent::Named(named),
            ..Labels::default()
        }
    }

    /// Collects for a plot, which reads no `lent`: every truth drops it.
    pub fn for_plot() -> Labels {
        Labels {
            keep: KeepLent::Nothing,
            ..Labels::default()
        }
    }

    /// Reads the `truth` and `actions` of one record, the non-empty line
    /// `line` (1-based) of the trace; only those keys are decoded.
    pub fn push_line(&mut self, line: usize, text: &str) -> Result<(), String> {
        let mut w: WithTruth = serde_json::from_str(text)
            .map_err(|e| format!("line {line}: `truth` or `actions`: {e}"))?;
        let tick = self.truth.len();
        let actions = w.actions.unwrap_or_default();
        if let Some(truth) = &mut w.truth {
            match &self.keep {
                KeepLent::All => {}
                KeepLent::Nothing => truth.lent.clear(),
                KeepLent::Corrected => truth.lent.retain(|x, _| {
                    actions
                        .iter()
                        .any(|a| a.corrections.iter().any(|c| &c.executor_id == x))
                }),
                KeepLent::Named(named) => {
                    let here = named.get(&tick);
                    truth
                        .lent
                        .retain(|x, _| here.is_some_and(|h| h.contains(x)));
                }
            }
        }
        self.truth.push(w.truth);
        self.actions.extend(actions);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_is_read_per_record_and_missing_truth_is_none() {
        let text = "{\"executors\":[],\"truth\":{\"interference\":true,\"onset\":true,\"idle_cpus\":1.5,\"aggressors\":[\"be\"]}}\n\n{\"executors\":[]}\n";
        let t = load_truth(text).unwrap();
        assert_eq!(t.len(), 2);
        let first = t[0].as_ref().unwrap();
        assert!(first.interference && first.onset);
        assert_eq!(first.aggressors, vec!["be".to_string()]);
        assert!(t[1].is_none());
    }

    #[test]
    fn fixture_files_have_no_truth() {
        assert!(load_truth("{\n\"resource_usage\": []\n}")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn closed_loop_actions_are_read_in_tick_order() {
        let line = |t: u64| {
            format!(
                "{{\"executors\":[],\"truth\":{{}},\"actions\":[{{\"tick\":{t},\"timestamp\":null,\"pipeline\":\"q\",\"slack\":null,\"contentions\":[],\"corrections\":[],\"stopped_by\":null}}]}}\n"
            )
        };
        let (truth, actions) = load_labelled(&format!("{}{}", line(0), line(1))).unwrap();
        assert_eq!(truth.len(), 2);
        assert_eq!(
            actions.iter().map(|a| a.tick).collect::<Vec<_>>(),
            vec![0, 1]
        );
    }
}
