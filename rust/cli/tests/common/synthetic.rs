//! Wide synthetic traces for memory tests and benchmarks: tick `t` of
//! `serenity_core::model::build::synthetic_node(n, t)` written as the
//! protobuf-JSON that `serenity replay` reads (a test checks that it decodes
//! back to exactly that snapshot).
#![allow(dead_code)]

use serde_json::{json, Value};
use serenity_core::model::build::synthetic_node;
use serenity_core::model::proto::{Resource, ResourceUsage};
use std::io::Write;

fn resource(r: &Resource) -> Value {
    let mut v = json!({
        "name": r.name,
        "type": "SCALAR",
        "scalar": {"value": r.scalar.as_ref().and_then(|s| s.value)},
    });
    if r.revocable.is_some() {
        v["revocable"] = json!({});
    }
    v
}

/// The protobuf-JSON of `u`, for the fields `synthetic_node` sets.
pub fn usage_json(u: &ResourceUsage) -> Value {
    let executors: Vec<Value> = u
        .executors
        .iter()
        .map(|e| {
            let info = e.executor_info.as_ref().expect("synthetic executors have info");
            let mut v = json!({
                "executor_info": {
                    "executor_id": {"value": info.executor_id.as_ref().and_then(|i| i.value.clone())},
                    "framework_id": {"value": info.framework_id.as_ref().and_then(|i| i.value.clone())},
                    "name": info.name,
                },
                "allocated": e.allocated.iter().map(resource).collect::<Vec<_>>(),
            });
            if let Some(c) = &e.container_id {
                v["container_id"] = json!({"value": c.value});
            }
            if let Some(s) = &e.statistics {
                let mut st = json!({
                    "timestamp": s.timestamp,
                    "cpus_user_time_secs": s.cpus_user_time_secs,
                    "cpus_system_time_secs": s.cpus_system_time_secs,
                    "cpus_limit": s.cpus_limit,
                    "mem_limit_bytes": s.mem_limit_bytes,
                    "mem_rss_bytes": s.mem_rss_bytes,
                });
                if let Some(p) = &s.perf {
                    st["perf"] = json!({
                        "timestamp": p.timestamp,
                        "duration": p.duration,
                        "cycles": p.cycles,
                        "instructions": p.instructions,
                    });
                }
                v["statistics"] = st;
            }
            v
        })
        .collect();
    json!({
        "executors": executors,
        "total": u.total.iter().map(resource).collect::<Vec<_>>(),
    })
}

/// The layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One record per line, as `serenity record` writes.
    JsonLines,
    /// `{"resource_usage": [...]}`, one record per line inside the array.
    Fixture,
}

/// Writes `ticks` ticks of the synthetic node of `executors` executors to `w`.
pub fn write_trace(
    w: &mut impl Write,
    executors: usize,
    ticks: u64,
    layout: Layout,
) -> std::io::Result<()> {
    if layout == Layout::Fixture {
        w.write_all(b"{\"resource_usage\": [\n")?;
    }
    for t in 0..ticks {
        if layout == Layout::Fixture && t > 0 {
            w.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut *w, &usage_json(&synthetic_node(executors, t)))?;
        if layout == Layout::JsonLines {
            w.write_all(b"\n")?;
        }
    }
    if layout == Layout::Fixture {
        w.write_all(b"\n]}\n")?;
    }
    w.flush()
}

/// A scenario of `executors` executors (one in four best-effort) over
/// `ticks` ticks, with one interference episode (the first best-effort
/// executor cuts the first production executor's IPC from tick `ticks / 4`
/// to `ticks / 2`): a wide node for `serenity simulate`.
pub fn scenario_toml(executors: usize, ticks: usize) -> String {
    let mut s = format!(
        "description = \"wide synthetic node\"\nseed = 7\nticks = {ticks}\ninterval_secs = 15.0\nagent_cpus = {}\nagent_mem_mib = {}\n",
        executors as f64 * 0.8,
        executors * 512
    );
    for i in 0..executors {
        let (id, kind, cpus, load) = if i % 4 == 0 {
            (format!("be-{i:05}"), "best_effort", 0.25, 0.2)
        } else {
            (
                format!("prod-{i:05}"),
                "production",
                1.0,
                0.1 + (i % 10) as f64 * 0.08,
            )
        };
        s.push_str(&format!(
            "\n[[executor]]\nid = \"{id}\"\nkind = \"{kind}\"\ncpus = {cpus}\nmem_mib = 512\nload = {{ model = \"constant\", value = {load:.2}, noise = 0.02 }}\n"
        ));
    }
    if executors >= 2 {
        s.push_str(&format!(
            "\n[[event]]\ntype = \"ipc_drop\"\nvictims = [\"prod-00001\"]\naggressors = [\"be-00000\"]\nstart = {}\nend = {}\ndrop = 0.4\n",
            ticks / 4,
            (ticks / 2).max(ticks / 4 + 1)
        ));
    }
    s
}
