//! Ground truth carried by simulated traces: an extra top-level `truth` key
//! on each ResourceUsage record. `load_trace` skips unknown keys, so the
//! trace stays replayable; `serenity score` and the plot read it here.

use serde::{Deserialize, Serialize};

/// What was really happening on one tick of a simulated trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Truth {
    /// Some production executor is being hurt by best-effort work this tick.
    pub interference: bool,
    /// An interference episode starts on this tick.
    pub onset: bool,
    /// CPUs that could be lent without hurting production: Σ over production
    /// executors of (allocated − used), minus the revocable CPUs already lent,
    /// floored at zero.
    pub idle_cpus: f64,
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
}

/// Reads the `truth` of every record of a JSON Lines trace, in the order
/// `load_trace` returns records (empty lines skipped). Records without
/// truth, and traces in the other layouts, give `None`.
pub fn load_truth(text: &str) -> Result<Vec<Option<Truth>>, String> {
    let first = text.lines().find(|l| !l.trim().is_empty());
    let is_lines = first.is_some_and(|l| {
        matches!(serde_json::from_str::<serde_json::Value>(l),
            Ok(serde_json::Value::Object(m)) if !m.contains_key("resource_usage"))
    });
    if !is_lines {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let w: WithTruth =
            serde_json::from_str(line).map_err(|e| format!("line {}: `truth`: {e}", i + 1))?;
        out.push(w.truth);
    }
    Ok(out)
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
}
