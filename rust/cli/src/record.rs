//! `serenity record`: poll a live Mesos agent and write a replayable trace.
//!
//! Each poll reads two endpoints of the agent and merges them into one
//! `mesos.ResourceUsage` (protobuf-JSON, snake_case), written as one line:
//! - `/monitor/statistics`: a JSON array of `{executor_id, executor_name,
//!   framework_id, source, statistics}`, where `statistics` is the
//!   container's `ResourceStatistics` as protobuf-JSON (Mesos
//!   `src/slave/http.cpp`, `Http::_statistics`; only executors that have
//!   statistics are listed);
//! - `/state`: `frameworks[].executors[]` with `id`, `name`, `source`,
//!   `container`, `resources` and `tasks[]` (each with `resources`), and the
//!   agent's `resources` (its total). Resources are objects of scalars keyed
//!   by name, revocable ones under `<name>_revocable` (e.g.
//!   `cpus_revocable`; `json(JSON::ObjectWriter*, const Resources&)` in
//!   `src/common/http.cpp`). `completed_frameworks` and
//!   `completed_executors` are ignored.
//!
//! The executor's `resources` in `/state` is `Executor::allocatedResources()`
//! (`ExecutorWriter` in `src/slave/http.cpp`): its own resources plus those
//! of its queued and launched tasks, which is what the agent passes to the
//! modules as `allocated`. Adding the tasks' resources again would count
//! them twice, so each resource is the larger of the executor's figure and
//! the Σ over its tasks (the latter covers agents that report only the
//! executor's own resources).

use crate::cli::RecordArgs;
use anyhow::Context;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Scalar resources keyed by (name, revocable).
type Scalars = BTreeMap<(String, bool), f64>;

/// Reads a `/state` resources object: numeric entries only (ports and other
/// ranges are strings), `_revocable` suffixes marking revocable ones.
fn scalars(v: Option<&Value>) -> Scalars {
    let mut out = Scalars::new();
    if let Some(Value::Object(m)) = v {
        for (k, v) in m {
            let Some(x) = v.as_f64().filter(|x| x.is_finite() && *x > 0.0) else {
                continue;
            };
            let (name, revocable) = match k.strip_suffix("_revocable") {
                Some(n) => (n.to_owned(), true),
                None => (k.clone(), false),
            };
            *out.entry((name, revocable)).or_default() += x;
        }
    }
    out
}

/// Scalars as `mesos.Resource` protobuf-JSON.
fn resource_list(s: &Scalars) -> Value {
    Value::Array(
        s.iter()
            .map(|((name, revocable), v)| {
                let mut r = json!({"name": name, "type": "SCALAR", "scalar": {"value": v}});
                if *revocable {
                    r["revocable"] = json!({});
                }
                r
            })
            .collect(),
    )
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Merges one `/monitor/statistics` answer and one `/state` answer into a
/// ResourceUsage (JSON). Executors with statistics come first, in the
/// statistics' order; executors `/state` lists without statistics follow
/// (the agent's `usage()` includes them too, without `statistics`).
pub fn merge(statistics: &Value, state: &Value) -> Result<Value, String> {
    let stats = statistics
        .as_array()
        .ok_or("/monitor/statistics did not return a JSON array")?;
    if !state.is_object() {
        return Err("/state did not return a JSON object".into());
    }
    // (framework id, executor id) -> the /state executor.
    let mut known: Vec<((String, String), &Value)> = Vec::new();
    for fw in state
        .get("frameworks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(fid) = str_of(fw, "id") else {
            continue;
        };
        for ex in fw
            .get("executors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(eid) = str_of(ex, "id") {
                known.push(((fid.to_owned(), eid.to_owned()), ex));
            }
        }
    }
    let build = |fid: &str, eid: &str, entry: Option<&Value>, ex: Option<&Value>| -> Value {
        let mut info = Map::new();
        info.insert("executor_id".into(), json!({"value": eid}));
        info.insert("framework_id".into(), json!({"value": fid}));
        let name = entry
            .and_then(|e| str_of(e, "executor_name"))
            .or_else(|| ex.and_then(|e| str_of(e, "name")));
        if let Some(n) = name {
            info.insert("name".into(), json!(n));
        }
        let source = entry
            .and_then(|e| str_of(e, "source"))
            .or_else(|| ex.and_then(|e| str_of(e, "source")));
        if let Some(s) = source {
            info.insert("source".into(), json!(s));
        }
        let mut out = Map::new();
        out.insert("executor_info".into(), Value::Object(info));
        if let Some(ex) = ex {
            let own = scalars(ex.get("resources"));
            let mut tasks_sum = Scalars::new();
            let mut tasks = Vec::new();
            for t in ex
                .get("tasks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ts = scalars(t.get("resources"));
                for (k, v) in &ts {
                    *tasks_sum.entry(k.clone()).or_default() += v;
                }
                let mut task = json!({"resources": resource_list(&ts)});
                if let Some(id) = str_of(t, "id") {
                    task["id"] = json!({"value": id});
                }
                if let Some(n) = str_of(t, "name") {
                    task["name"] = json!(n);
                }
                tasks.push(task);
            }
            let mut allocated = own;
            for (k, v) in tasks_sum {
                let e = allocated.entry(k).or_default();
                *e = e.max(v);
            }
            out.insert("allocated".into(), resource_list(&allocated));
            out.insert("tasks".into(), Value::Array(tasks));
            if let Some(c) = str_of(ex, "container") {
                out.insert("container_id".into(), json!({"value": c}));
            }
        }
        if let Some(s) = entry.and_then(|e| e.get("statistics")) {
            out.insert("statistics".into(), s.clone());
        }
        Value::Object(out)
    };
    let mut executors = Vec::new();
    let mut listed = Vec::new();
    for entry in stats {
        let (Some(fid), Some(eid)) = (str_of(entry, "framework_id"), str_of(entry, "executor_id"))
        else {
            log::warn!("a /monitor/statistics entry has no framework_id or executor_id; skipped");
            continue;
        };
        let key = (fid.to_owned(), eid.to_owned());
        let ex = known.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        if ex.is_none() {
            log::debug!("executor {eid} (framework {fid}) has statistics but is not in /state; recorded without allocation");
        }
        executors.push(build(fid, eid, Some(entry), ex));
        listed.push(key);
    }
    for (key, ex) in &known {
        if !listed.contains(key) {
            executors.push(build(&key.0, &key.1, None, Some(ex)));
        }
    }
    let total = resource_list(
        &scalars(state.get("resources"))
            .into_iter()
            .filter(|((_, revocable), _)| !revocable)
            .collect(),
    );
    Ok(json!({"executors": executors, "total": total}))
}

/// The wait before the next poll after `failures` consecutive failures:
/// the interval, doubled per failure, capped at 8 × the interval.
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.min(3));
    interval.saturating_mul(factor.min(8))
}

fn get_json(agent: &ureq::Agent, url: &str) -> Result<Value, String> {
    let mut resp = agent
        .get(url)
        .call()
        .map_err(|e| format!("GET {url}: {e}"))?;
    let body = resp
        .body_mut()
        .with_config()
        .limit(256 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| format!("GET {url}: reading the body: {e}"))?;
    serde_json::from_str(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))
}

/// One poll: both endpoints, merged.
pub fn poll(agent: &ureq::Agent, base: &str) -> Result<Value, String> {
    let base = base.trim_end_matches('/');
    let statistics = get_json(agent, &format!("{base}/monitor/statistics"))?;
    let state = get_json(agent, &format!("{base}/state"))?;
    merge(&statistics, &state)
}

/// Sleeps up to `d`, waking early when `stop` is set.
fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Runs `serenity record`.
pub fn run(args: &RecordArgs) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    let timeout = args
        .timeout
        .unwrap_or(args.interval.max(Duration::from_secs(1)));
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(true)
        .build();
    let agent: ureq::Agent = config.into();
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let started = Instant::now();
    let deadline = args.duration.map(|d| started + d);
    let mut records = 0u64;
    let mut failures = 0u32;
    log::info!(
        "recording {} every {:?} to {}",
        args.agent,
        args.interval,
        args.out.display()
    );
    loop {
        if stop.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let polled_at = Instant::now();
        let wait = match poll(&agent, &args.agent) {
            Ok(usage) => {
                if failures > 0 {
                    log::warn!("the agent answers again after {failures} failed poll(s)");
                }
                failures = 0;
                serde_json::to_writer(&mut out, &usage)?;
                out.write_all(b"\n")?;
                out.flush()
                    .with_context(|| format!("cannot write {}", args.out.display()))?;
                records += 1;
                args.interval.saturating_sub(polled_at.elapsed())
            }
            Err(e) => {
                failures += 1;
                let wait = backoff(args.interval, failures);
                log::warn!("poll failed ({e}); retrying in {wait:?}");
                wait
            }
        };
        let wait = match deadline {
            Some(d) => wait.min(d.saturating_duration_since(Instant::now())),
            None => wait,
        };
        sleep_unless(&stop, wait);
    }
    out.flush()?;
    if records == 0 {
        anyhow::bail!(
            "no record was written: the agent at {} never answered",
            args.agent
        );
    }
    log::info!("wrote {records} records to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serenity_core::{load_trace, Snapshot};

    fn state() -> Value {
        json!({
            "resources": {"cpus": 8.0, "mem": 16384.0, "disk": 1000.0, "ports": "[31000-32000]"},
            "frameworks": [{
                "id": "fw-prod",
                "executors": [{
                    "id": "web", "name": "web server", "source": "web", "container": "c-web",
                    "resources": {"cpus": 2.1, "mem": 1056.0, "disk": 0, "gpus": 0},
                    "tasks": [{"id": "web-task", "name": "web", "state": "TASK_RUNNING", "resources": {"cpus": 2.0, "mem": 1024.0}}],
                    "completed_tasks": [{"id": "old", "resources": {"cpus": 9.0}}]
                }],
                "completed_executors": [{"id": "gone", "resources": {"cpus": 4.0}}]
            }, {
                "id": "fw-be",
                "executors": [{
                    "id": "batch", "container": "c-batch",
                    "resources": {"cpus": 0.1, "mem": 32.0},
                    "tasks": [{"id": "b1", "resources": {"cpus_revocable": 1.5, "mem_revocable": 512.0}}]
                }, {
                    "id": "idle", "container": "c-idle",
                    "resources": {"cpus": 0.5, "mem": 64.0}, "tasks": []
                }]
            }],
            "completed_frameworks": [{"id": "fw-old", "executors": [{"id": "x"}]}]
        })
    }

    fn statistics() -> Value {
        json!([
            {"executor_id": "web", "executor_name": "web server", "framework_id": "fw-prod", "source": "web",
             "statistics": {"timestamp": 100.0, "cpus_user_time_secs": 10.0, "cpus_system_time_secs": 2.0, "cpus_limit": 2.1, "mem_rss_bytes": 1000}},
            {"executor_id": "batch", "executor_name": "", "framework_id": "fw-be", "source": "",
             "statistics": {"timestamp": 100.0, "cpus_user_time_secs": 5.0, "cpus_limit": 1.6}}
        ])
    }

    #[test]
    fn merged_record_replays_with_allocations_and_revocable_flags() {
        let usage = merge(&statistics(), &state()).unwrap();
        let (_, records) = load_trace(&format!("{usage}\n")).unwrap();
        let snap = Snapshot::new(records.into_iter().next().unwrap());
        assert_eq!(snap.total_cpus, Some(8.0));
        let by_id = |id: &str| {
            snap.executors
                .iter()
                .find(|e| e.key.executor_id == id)
                .unwrap()
        };
        let web = by_id("web");
        assert!(!web.revocable);
        // The executor's figure already includes its task: not counted twice.
        assert_eq!(web.allocated_cpus, Some(2.1));
        assert_eq!(web.container_id.as_deref(), Some("c-web"));
        let batch = by_id("batch");
        assert!(batch.revocable);
        assert_eq!(batch.revocable_cpus, 1.5);
        assert!((batch.allocated_cpus.unwrap() - 1.6).abs() < 1e-9);
        // Listed in /state without statistics: present, no statistics.
        let idle = by_id("idle");
        assert!(snap
            .statistics(
                snap.executors
                    .iter()
                    .position(|e| e.key.executor_id == "idle")
                    .unwrap()
            )
            .is_none());
        assert_eq!(idle.allocated_cpus, Some(0.5));
        assert_eq!(snap.executors.len(), 3);
    }

    #[test]
    fn bad_answers_are_errors_not_panics() {
        assert!(merge(&json!({}), &state()).is_err());
        assert!(merge(&statistics(), &json!([])).is_err());
        let u = merge(&json!([{"statistics": {}}]), &json!({})).unwrap();
        assert_eq!(u["executors"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn backoff_doubles_and_caps_at_eight_intervals() {
        let i = Duration::from_millis(100);
        assert_eq!(backoff(i, 1), Duration::from_millis(200));
        assert_eq!(backoff(i, 2), Duration::from_millis(400));
        assert_eq!(backoff(i, 3), Duration::from_millis(800));
        assert_eq!(backoff(i, 30), Duration::from_millis(800));
    }
}
