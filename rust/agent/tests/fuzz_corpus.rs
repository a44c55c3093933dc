//! Replays the committed fuzz corpora of the targets in fuzz/ (trace,
//! pipeline, agent_config, http, valve) through the very checks the fuzz targets
//! run (fuzz/checks/*.rs), so every input the fuzzer kept, and every crash
//! it ever found, stays a regression test under `cargo test`.

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/checks/agent_config.rs"]
mod agent_config;
#[path = "../../../fuzz/checks/http.rs"]
mod http;
#[path = "../../../fuzz/checks/pipeline.rs"]
mod pipeline;
#[path = "../../../fuzz/checks/trace.rs"]
mod trace;
#[path = "../../../fuzz/checks/valve.rs"]
mod valve;

/// Every file of fuzz/corpus/<target>, sorted; at least `min` of them.
fn corpus(target: &str, min: usize) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= min,
        "{} holds {} inputs, expected at least {min}",
        dir.display(),
        files.len()
    );
    files
        .into_iter()
        .map(|f| {
            let name = format!("{target}/{}", f.file_name().unwrap().to_string_lossy());
            (name, std::fs::read(&f).expect("readable"))
        })
        .collect()
}

/// Runs `check` on every input, naming the one that panics.
fn replay(target: &str, min: usize, check: fn(&[u8])) {
    for (name, data) in corpus(target, min) {
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{name}: {why}");
        }
    }
}

#[test]
fn every_trace_corpus_input_loads_or_is_refused_with_a_reason() {
    replay("trace", 12, trace::check);
}

#[test]
fn every_pipeline_corpus_input_builds_and_ticks_safely_or_is_refused() {
    replay("pipeline", 12, pipeline::check);
}

#[test]
fn every_agent_config_corpus_input_is_validated_without_panic() {
    replay("agent_config", 5, agent_config::check);
}

#[test]
fn every_http_corpus_input_is_answered_or_closed_without_panic() {
    replay("http", 7, http::check);
}

#[test]
fn every_valve_corpus_input_is_parsed_or_refused_with_a_sentence() {
    replay("valve", 10, valve::check);
}
