//! Check shared by the `pipeline` fuzz target and the corpus replay test:
//! any bytes as a pipeline TOML file are parsed, validated and built; a
//! pipeline that builds is ticked over a few real snapshots and keeps the
//! safety rules (finite, non-negative slack; corrections only of revocable
//! executors, each at most once).

use serenity_core::config::{build_pipeline, BuildOptions};
use serenity_core::load_trace;
use serenity_core::model::Snapshot;
use std::sync::OnceLock;

/// Ten ticks of the demo trace: production and best-effort executors under
/// changing load.
fn snapshots() -> &'static [Snapshot] {
    static S: OnceLock<Vec<Snapshot>> = OnceLock::new();
    S.get_or_init(|| {
        let text: String = include_str!("../../tests/data/demo-trace.jsonl")
            .lines()
            .step_by(12)
            .take(10)
            .map(|l| format!("{l}\n"))
            .collect();
        load_trace(&text)
            .expect("the demo trace loads")
            .1
            .into_iter()
            .map(Snapshot::new)
            .collect()
    })
}

/// Panics when an invariant breaks.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut pipeline = match build_pipeline("fuzz.toml", text, &[], BuildOptions::default()) {
        Ok(p) => p,
        Err(errors) => {
            assert!(!errors.0.is_empty(), "a refused file names a problem");
            return;
        }
    };
    for snapshot in snapshots() {
        let outcome = pipeline.tick(snapshot);
        if let Some(slack) = outcome.slack {
            assert!(slack.cpus.is_finite() && slack.cpus >= 0.0, "{slack:?}");
            assert!(
                slack.mem_bytes.is_finite() && slack.mem_bytes >= 0.0,
                "{slack:?}"
            );
        }
        let mut rows: Vec<usize> = outcome.corrections.iter().map(|c| c.row).collect();
        for &row in &rows {
            assert!(
                snapshot.executors[row].revocable,
                "a correction names production work"
            );
        }
        rows.sort_unstable();
        rows.dedup();
        assert_eq!(
            rows.len(),
            outcome.corrections.len(),
            "an executor named twice"
        );
    }
}
