//! Test helpers for stage unit tests: pipelines from TOML text, hand-made
//! snapshots, and signal injection by name.

use crate::config::{build_pipeline, BuildOptions};
use crate::model::build::{usage, ExecutorSpec as Spec};
use crate::model::proto::ResourceStatistics;
use crate::model::Snapshot;
use crate::pipeline::Pipeline;
use crate::signal::{SignalNames, SignalTable};

/// An executor of a hand-made snapshot.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub id: &'static str,
    pub revocable: bool,
    pub cpus: f64,
    pub stats: bool,
}

/// A production executor with `cpus` allocated.
pub fn pr(id: &'static str, cpus: f64) -> ExecSpec {
    ExecSpec {
        id,
        revocable: false,
        cpus,
        stats: true,
    }
}

/// A best-effort executor with `cpus` revocable cpus allocated.
pub fn be(id: &'static str, cpus: f64) -> ExecSpec {
    ExecSpec {
        id,
        revocable: true,
        cpus,
        stats: true,
    }
}

/// A pipeline from TOML text; panics with every configuration problem.
pub fn pipeline(text: &str) -> Pipeline {
    pipeline_with(text, BuildOptions::default())
}

/// A pipeline from TOML text with build options.
pub fn pipeline_with(text: &str, options: BuildOptions) -> Pipeline {
    match build_pipeline("test.toml", text, &[], options) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// The configuration errors of a TOML text, as strings.
pub fn config_errors(text: &str) -> Vec<String> {
    match build_pipeline("test.toml", text, &[], BuildOptions::default()) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

/// A snapshot of `execs` (framework "fw", 1 GiB each), statistics (only a
/// timestamp) stamped `ts`; without `total_cpus` the agent reports no total.
pub fn snapshot(execs: &[ExecSpec], total_cpus: Option<f64>, ts: f64) -> Snapshot {
    let specs: Vec<Spec> = execs
        .iter()
        .map(|e| {
            let mut s = Spec::new("fw", e.id, e.revocable, e.cpus, 1024.0);
            s.container_id = None;
            s.statistics = e.stats.then(|| ResourceStatistics {
                timestamp: Some(ts),
                ..Default::default()
            });
            s
        })
        .collect();
    let mut u = usage(total_cpus.unwrap_or(1.0), 65536.0, &specs);
    if total_cpus.is_none() {
        u.total.clear();
    }
    Snapshot::new(u)
}

/// Sets signal `name` of `row`; panics if the pipeline does not know it.
pub fn set(t: &mut SignalTable, n: &SignalNames, row: usize, name: &str, v: f64) {
    let id = n.lookup(name).unwrap_or_else(|| panic!("no signal {name}"));
    t.set(row, id, Some(v));
}

/// Clears signal `name` of `row`.
pub fn clear(t: &mut SignalTable, n: &SignalNames, row: usize, name: &str) {
    let id = n.lookup(name).unwrap_or_else(|| panic!("no signal {name}"));
    t.set(row, id, None);
}

/// `snap` with an SLI sample (name, value, timestamp) added to executor `row`.
pub fn with_sli(mut snap: Snapshot, row: usize, name: &str, value: f64, ts: f64) -> Snapshot {
    let index = snap.executors[row].index;
    let mut usage = snap.usage;
    if let Some(st) = usage.executors[index].statistics.as_mut() {
        st.serenity_slis.push(crate::model::proto::SliSample {
            name: Some(name.into()),
            value: Some(value),
            timestamp: Some(ts),
        });
    }
    snap = Snapshot::new(usage);
    snap
}
