//! `serenity record`: poll a live Mesos agent and write a replayable trace.
//!
//! Each poll reads two endpoints of the agent and rebuilds from them the
//! `mesos.ResourceUsage` that the agent's `Slave::usage()` hands the
//! resource estimator and the QoS controller (protobuf-JSON, snake_case),
//! written as one line. What follows is what a Mesos 1.11.0 agent
//! (`--isolation=cgroups/cpu,cgroups/mem`, running the Serenity modules)
//! really served, polled once a second
//! (`tests/data/mesos-1.11.0-agent-polls.jsonl` keeps a few of those polls).
//!
//! - `GET /state` is the authority on which executors exist, as `usage()`
//!   walks the agent's live executors: `frameworks[].executors[]`, each with
//!   `id`, `name`, `source`, `role`, `container` (the container id as a bare
//!   string), `resources`, `tasks[]` (launched tasks, each with `resources`
//!   and `statuses[].container_status.container_id`), `queued_tasks[]` and
//!   `completed_tasks[]`. The executor's `resources` is
//!   `Executor::allocatedResources()`, the `allocated` of `usage()`: for a
//!   command task of cpus 1.5 / mem 128 it reads cpus 1.6 / mem 160, the
//!   task plus the command executor's own 0.1 cpus and 32 MiB. It is taken
//!   as reported, never added to its tasks. Resources are objects keyed by
//!   name: scalars as numbers (`mem`, `disk` in MiB; absent `cpus`, `mem`,
//!   `disk`, `gpus` are written as `0.0`, which Mesos would drop), ranges
//!   as strings (`"ports": "[31000-32000]"`), revocable ones under
//!   `<name>_revocable`. The best-effort executor of 0.5 revocable cpus read
//!   `{"cpus": 0.1, "cpus_revocable": 0.5, "mem": 96.0}`: the executor's
//!   allowance stays non-revocable. The agent's `resources` is its total
//!   (`cpus 2, mem 2048, disk 252899, gpus 0, ports [31000-32000]`), the
//!   `total` of `usage()`. A framework that has registered but whose
//!   executor is still launching is listed with `executors: []` (its
//!   allocation already shows in `unreserved_resources_allocated`, which
//!   `usage()` does not report). A killed executor moves to
//!   `completed_executors`, and a framework that left to
//!   `completed_frameworks`; `usage()` lists neither, so neither is read.
//! - `GET /monitor/statistics` is built from `usage()` itself: an array of
//!   `{executor_id, executor_name, framework_id, source, statistics}`, only
//!   for executors that have statistics, without `container_id`, allocation
//!   or tasks. `statistics` is the container's `ResourceStatistics` as
//!   protobuf-JSON: cumulative `cpus_*_time_secs` in steps of 0.01 s
//!   (`cpuacct` ticks), `cpus_soft_limit` but no `cpus_limit` (and no
//!   `cpus_nr_*`) when the agent runs without `--cgroups_enable_cfs`,
//!   `mem_*_bytes` as integers, no `perf` without the perf isolator.
//!   Statistics are matched to `/state` executors by (framework id,
//!   executor id). `GET /containers` serves the same statistics plus the
//!   `container_id` (a string, equal to `/state`'s `container`) and a
//!   `status` (`executor_pid`, absent while the container is destroyed); it
//!   adds nothing `/state` lacks, so it is not polled (each of these
//!   endpoints makes the containerizer sample every container).
//!
//! `/state` is read first: an executor that ends between the two requests
//! is then recorded without `statistics`, as `usage()` reports a container
//! whose statistics fail while it is destroyed, and statistics of an
//! executor that `/state` does not list (it started after `/state` was read,
//! or is not an executor's container) are left out, as `usage()` would not
//! list it either. `/metrics/snapshot` holds nothing of `ResourceUsage`.

use crate::cli::RecordArgs;
use anyhow::Context;
use serde_json::{json, Map, Value};
use serenity_core::model::json_kind;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The resources of one `/state` resources object, keyed by
/// (name, revocable), with Mesos's 3-decimal fixed-point scalars.
#[derive(Debug, Default, Clone, PartialEq)]
struct Resources {
    scalars: BTreeMap<(String, bool), f64>,
    ranges: BTreeMap<(String, bool), Vec<(u64, u64)>>,
    sets: BTreeMap<(String, bool), Vec<String>>,
}

/// Rounds to Mesos's fixed point (three decimals, `llround(v * 1000)`).
fn fixed(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Parses a stout ranges string, `[31000-32000, 33000-33005]`.
fn parse_ranges(s: &str) -> Option<Vec<(u64, u64)>> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (b, e) = part.split_once('-')?;
        let (b, e) = (b.trim().parse().ok()?, e.trim().parse().ok()?);
        if b > e {
            return None;
        }
        out.push((b, e));
    }
    Some(out)
}

/// Parses a stout set string, `{a,b}`.
fn parse_set(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    Some(
        inner
            .split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

impl Resources {
    /// Reads a `/state` resources object. `what` names it in warnings
    /// (endpoint, executor, key). Zero scalars are dropped silently (the
    /// agent writes `0.0` for absent cpus, mem, disk and gpus; Mesos drops
    /// zero resources); negative, non-finite or unreadable values are
    /// dropped with a warning.
    fn parse(v: &Value, what: &dyn Fn() -> String) -> Resources {
        let mut out = Resources::default();
        let Value::Object(m) = v else {
            log::warn!(
                "{}: expected an object of resources, got {}; no resources read",
                what(),
                json_kind(v)
            );
            return out;
        };
        for (k, v) in m {
            let (name, revocable) = match k.strip_suffix("_revocable") {
                Some(n) => (n.to_owned(), true),
                None => (k.clone(), false),
            };
            if name.is_empty() {
                continue;
            }
            let key = (name, revocable);
            match v {
                Value::Number(n) => match n.as_f64().map(fixed) {
                    Some(x) if x.is_finite() && x > 0.0 => {
                        let e = out.scalars.entry(key).or_default();
                        *e = fixed(*e + x);
                    }
                    Some(0.0) => {}
                    _ => log::warn!("{}: `{k}` = {n} is not a usable quantity; left out", what()),
                },
                Value::String(s) => {
                    if let Some(r) = parse_ranges(s) {
                        if !r.is_empty() {
                            out.ranges.entry(key).or_default().extend(r);
                        }
                    } else if let Some(items) = parse_set(s) {
                        if !items.is_empty() {
                            out.sets.entry(key).or_default().extend(items);
                        }
                    } else {
                        log::warn!(
                            "{}: `{k}` = {s:?} is neither a ranges (`[b-e, ...]`) nor a set (`{{a,b}}`) string; left out",
                            what()
                        );
                    }
                }
                other => log::warn!(
                    "{}: `{k}` is {}, not a resource value; left out",
                    what(),
                    json_kind(other)
                ),
            }
        }
        out
    }

    /// Adds `other` (scalars summed in fixed point, ranges and sets joined).
    fn add(&mut self, other: &Resources) {
        for (k, v) in &other.scalars {
            let e = self.scalars.entry(k.clone()).or_default();
            *e = fixed(*e + v);
        }
        for (k, v) in &other.ranges {
            self.ranges.entry(k.clone()).or_default().extend(v);
        }
        for (k, v) in &other.sets {
            self.sets
                .entry(k.clone())
                .or_default()
                .extend(v.iter().cloned());
        }
    }

    /// As a list of `mesos.Resource` protobuf-JSON: revocable ones carry
    /// `"revocable": {}`, and each carries `allocation_info` when `role` is
    /// given (allocated resources do, the agent's total does not).
    fn to_json(&self, role: Option<&str>) -> Value {
        let mut out = Vec::new();
        let mut push = |(name, revocable): &(String, bool), mut r: Value| {
            r["name"] = json!(name);
            if *revocable {
                r["revocable"] = json!({});
            }
            if let Some(role) = role {
                r["allocation_info"] = json!({ "role": role });
            }
            out.push(r);
        };
        for (k, v) in &self.scalars {
            push(k, json!({"type": "SCALAR", "scalar": {"value": v}}));
        }
        for (k, v) in &self.ranges {
            let range: Vec<Value> = v
                .iter()
                .map(|(b, e)| json!({"begin": b, "end": e}))
                .collect();
            push(k, json!({"type": "RANGES", "ranges": {"range": range}}));
        }
        for (k, v) in &self.sets {
            push(k, json!({"type": "SET", "set": {"item": v}}));
        }
        Value::Array(out)
    }
}

/// A non-empty string at `key`.
fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The elements of the array at `key`; an absent key is an empty list, any
/// other non-array is an error naming `what`.
fn array_at<'a>(v: &'a Value, key: &str, what: &dyn Fn() -> String) -> Result<&'a [Value], String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(format!(
            "{}: `{key}` is {}, expected an array",
            what(),
            json_kind(other)
        )),
    }
}

/// The outermost container of a `ContainerID` object (`{value, parent?}`):
/// a task's container in a default executor is nested in the executor's.
fn root_container(mut c: &Value) -> Option<&str> {
    // serde_json limits nesting to 128 levels, so this ends.
    while let Some(p) = c.get("parent").filter(|p| p.is_object()) {
        c = p;
    }
    str_of(c, "value")
}

/// The executor's container id: `/state`'s `container`, else the newest
/// container id its launched tasks' statuses carry (top-level).
fn container_of(ex: &Value) -> Option<&str> {
    if let Some(c) = str_of(ex, "container") {
        return Some(c);
    }
    let tasks = ex.get("tasks").and_then(Value::as_array)?;
    tasks.iter().find_map(|t| {
        let statuses = t.get("statuses").and_then(Value::as_array)?;
        statuses.iter().rev().find_map(|s| {
            s.pointer("/container_status/container_id")
                .and_then(root_container)
        })
    })
}

/// Merges one `/monitor/statistics` answer and one `/state` answer into the
/// ResourceUsage (JSON) that the agent's `usage()` would have given the
/// modules: one executor per live `/state` executor, in `/state`'s order,
/// with `executor_info` (`executor_id`, `framework_id`, `name`, `source`),
/// `allocated` (revocable ones marked, each with `allocation_info` when the
/// role is known), `container_id`, `tasks` and, when `/monitor/statistics`
/// has them, `statistics`; and the agent's non-revocable `total`.
///
/// An answer of the wrong shape (not an array, not an object, no
/// `resources` total, `frameworks` not an array) is an error naming the
/// endpoint and key. Odd entries inside a good answer (no id, statistics
/// that are not an object, unreadable resource values) are left out with a
/// warning naming the endpoint, the entry and the key.
pub fn merge(statistics: &Value, state: &Value) -> Result<Value, String> {
    let stats = statistics.as_array().ok_or_else(|| {
        format!(
            "/monitor/statistics returned {}, expected a JSON array of executors",
            json_kind(statistics)
        )
    })?;
    if !state.is_object() {
        return Err(format!(
            "/state returned {}, expected a JSON object",
            json_kind(state)
        ));
    }
    let total = state.get("resources").ok_or(
        "/state has no `resources` (the agent's total resources); is this a Mesos agent's /state?",
    )?;
    if !total.is_object() {
        return Err(format!(
            "/state: `resources` (the agent's total) is {}, expected an object",
            json_kind(total)
        ));
    }
    let total = Resources::parse(total, &|| "/state: `resources` (the agent's total)".into());

    // (framework id, executor id) -> the /monitor/statistics entry.
    let mut sampled: BTreeMap<(&str, &str), &Value> = BTreeMap::new();
    for (i, entry) in stats.iter().enumerate() {
        let (Some(fid), Some(eid)) = (str_of(entry, "framework_id"), str_of(entry, "executor_id"))
        else {
            log::warn!("/monitor/statistics: entry [{i}] has no `framework_id` or `executor_id` string; its statistics are left out");
            continue;
        };
        match entry.get("statistics") {
            Some(Value::Object(_)) => {}
            Some(other) => {
                log::warn!("/monitor/statistics: executor {eid} (framework {fid}): `statistics` is {}, expected an object; recorded without statistics", json_kind(other));
                continue;
            }
            None => {
                log::warn!("/monitor/statistics: executor {eid} (framework {fid}) has no `statistics`; recorded without statistics");
                continue;
            }
        }
        if sampled.insert((fid, eid), entry).is_some() {
            log::warn!("/monitor/statistics: executor {eid} (framework {fid}) is listed twice; the last entry is used");
        }
    }

    let mut executors = Vec::new();
    let mut listed: BTreeMap<(&str, &str), ()> = BTreeMap::new();
    let frameworks = array_at(state, "frameworks", &|| "/state".into())?;
    for (fi, fw) in frameworks.iter().enumerate() {
        let Some(fid) = str_of(fw, "id") else {
            log::warn!("/state: frameworks[{fi}] has no `id` string; its executors are left out");
            continue;
        };
        let fw_role = str_of(fw, "role");
        let in_fw = || format!("/state: framework {fid}");
        let live = match array_at(fw, "executors", &in_fw) {
            Ok(l) => l,
            Err(e) => {
                log::warn!("{e}; its executors are left out");
                &[]
            }
        };
        for (ei, ex) in live.iter().enumerate() {
            let Some(eid) = str_of(ex, "id") else {
                log::warn!("/state: framework {fid}: executors[{ei}] has no `id` string; left out");
                continue;
            };
            if listed.insert((fid, eid), ()).is_some() {
                log::warn!("/state: executor {eid} (framework {fid}) is listed twice; the first entry is used");
                continue;
            }
            let what = |key: &str| format!("/state: executor {eid} (framework {fid}): `{key}`");
            let entry = sampled.get(&(fid, eid)).copied();

            let mut info = Map::new();
            info.insert("executor_id".into(), json!({ "value": eid }));
            info.insert("framework_id".into(), json!({ "value": fid }));
            let name =
                str_of(ex, "name").or_else(|| entry.and_then(|e| str_of(e, "executor_name")));
            if let Some(n) = name {
                info.insert("name".into(), json!(n));
            }
            let source = str_of(ex, "source").or_else(|| entry.and_then(|e| str_of(e, "source")));
            if let Some(s) = source {
                info.insert("source".into(), json!(s));
            }

            let role = str_of(ex, "role").or(fw_role);
            let launched = match array_at(ex, "tasks", &|| what("tasks")) {
                Ok(t) => t,
                Err(e) => {
                    log::warn!("{e}; its tasks are left out");
                    &[]
                }
            };
            let mut tasks = Vec::new();
            let mut tasks_sum = Resources::default();
            for (ti, t) in launched.iter().enumerate() {
                let tid = str_of(t, "id");
                let task_what = || match tid {
                    Some(id) => format!("{} task {id}: `resources`", what("tasks")),
                    None => format!("{}[{ti}]: `resources`", what("tasks")),
                };
                let res = t
                    .get("resources")
                    .map(|r| Resources::parse(r, &task_what))
                    .unwrap_or_default();
                tasks_sum.add(&res);
                let mut task = Map::new();
                if let Some(n) = t.get("name").and_then(Value::as_str) {
                    task.insert("name".into(), json!(n));
                }
                if let Some(id) = tid {
                    task.insert("id".into(), json!({ "value": id }));
                }
                task.insert("resources".into(), res.to_json(role));
                tasks.push(Value::Object(task));
            }
            // `resources` is allocatedResources(): the executor's own plus
            // its queued and launched tasks'. Without it, Σ of the tasks.
            let allocated = match ex.get("resources") {
                Some(r) => Resources::parse(r, &|| what("resources")),
                None => {
                    log::warn!("/state: executor {eid} (framework {fid}) has no `resources`; its allocation is the sum of its tasks and queued tasks");
                    for t in array_at(ex, "queued_tasks", &|| what("queued_tasks")).unwrap_or(&[]) {
                        if let Some(r) = t.get("resources") {
                            tasks_sum.add(&Resources::parse(r, &|| what("queued_tasks")));
                        }
                    }
                    tasks_sum
                }
            };

            let mut out = Map::new();
            out.insert("executor_info".into(), Value::Object(info));
            out.insert("allocated".into(), allocated.to_json(role));
            if let Some(s) = entry.and_then(|e| e.get("statistics")) {
                out.insert("statistics".into(), s.clone());
            }
            match container_of(ex) {
                Some(c) => {
                    out.insert("container_id".into(), json!({ "value": c }));
                }
                None => log::warn!("/state: executor {eid} (framework {fid}) has no `container` nor a container id in its tasks' statuses; recorded without container_id"),
            }
            out.insert("tasks".into(), Value::Array(tasks));
            executors.push(Value::Object(out));
        }
    }
    for (fid, eid) in sampled.keys() {
        if !listed.contains_key(&(*fid, *eid)) {
            log::debug!("/monitor/statistics: executor {eid} (framework {fid}) is not a live executor in /state (it started after /state was read, or ended); left out, as the agent's usage() would");
        }
    }
    Ok(json!({"executors": executors, "total": total.to_json(None)}))
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

/// One poll: `/state` first, then `/monitor/statistics`, merged (see the
/// module documentation for why in this order).
pub fn poll(agent: &ureq::Agent, base: &str) -> Result<Value, String> {
    let base = base.trim_end_matches('/');
    let state = get_json(agent, &format!("{base}/state"))?;
    let statistics = get_json(agent, &format!("{base}/monitor/statistics"))?;
    merge(&statistics, &state).map_err(|e| format!("{base}: {e}"))
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

    fn no_warn() -> String {
        "test".into()
    }

    #[test]
    fn ranges_and_sets_parse_as_stout_writes_them() {
        assert_eq!(parse_ranges("[31000-32000]"), Some(vec![(31000, 32000)]));
        assert_eq!(
            parse_ranges("[1-2, 5-5,7-9]"),
            Some(vec![(1, 2), (5, 5), (7, 9)])
        );
        assert_eq!(parse_ranges("[]"), Some(vec![]));
        assert_eq!(parse_ranges("[9-1]"), None);
        assert_eq!(parse_ranges("31000-32000"), None);
        assert_eq!(parse_ranges("[a-b]"), None);
        assert_eq!(parse_set("{a,b}"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(parse_set("[a]"), None);
    }

    #[test]
    fn resources_drop_zeros_and_junk_and_mark_revocable_ones() {
        let r = Resources::parse(
            &json!({"cpus": 0.1, "cpus_revocable": 0.5, "gpus": 0.0, "mem": -1.0,
                    "disk": "x", "ports": "[31000-31001]", "_revocable": 3.0, "odd": [1]}),
            &no_warn,
        );
        let json = r.to_json(Some("*"));
        assert_eq!(
            json,
            json!([
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}, "allocation_info": {"role": "*"}},
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "revocable": {}, "allocation_info": {"role": "*"}},
                {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31001}]}, "allocation_info": {"role": "*"}}
            ])
        );
        assert_eq!(Resources::parse(&json!(5), &no_warn), Resources::default());
    }

    #[test]
    fn sums_use_mesos_fixed_point() {
        let mut a = Resources::parse(&json!({"cpus": 0.1}), &no_warn);
        a.add(&Resources::parse(&json!({"cpus": 0.2}), &no_warn));
        assert_eq!(a.scalars[&("cpus".to_owned(), false)], 0.3);
        assert_ne!(1.6 - 1.5, 0.1);
        assert_eq!(fixed(1.6 - 1.5), 0.1);
    }

    #[test]
    fn without_resources_the_allocation_is_the_sum_of_launched_and_queued_tasks() {
        let state = json!({"resources": {"cpus": 4.0}, "frameworks": [{"id": "f", "role": "web", "executors": [{
            "id": "e", "container": "c",
            "tasks": [{"id": "t1", "name": "t1", "resources": {"cpus": 1.0, "mem_revocable": 64.0}}],
            "queued_tasks": [{"id": "t2", "resources": {"cpus": 0.5}}]
        }]}]});
        let u = merge(&json!([]), &state).unwrap();
        let e = &u["executors"][0];
        assert_eq!(e["allocated"][0]["scalar"]["value"], 1.5);
        assert_eq!(e["allocated"][1]["revocable"], json!({}));
        assert_eq!(e["allocated"][1]["allocation_info"]["role"], "web");
        // Only launched tasks are the usage's tasks.
        assert_eq!(e["tasks"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_missing_container_falls_back_to_the_top_level_container_of_a_task_status() {
        let state = json!({"resources": {"cpus": 4.0}, "frameworks": [{"id": "f", "executors": [{
            "id": "e", "container": "", "resources": {"cpus": 1.0},
            "tasks": [{"id": "t", "statuses": [
                {"state": "TASK_STARTING", "container_status": {"container_id": {"value": "old"}}},
                {"state": "TASK_RUNNING", "container_status": {"container_id": {"value": "task", "parent": {"value": "exec"}}}}
            ]}]
        }, {"id": "bare", "resources": {"cpus": 1.0}}]}]});
        let u = merge(&json!([]), &state).unwrap();
        assert_eq!(u["executors"][0]["container_id"], json!({"value": "exec"}));
        assert!(u["executors"][1].get("container_id").is_none());
    }

    #[test]
    fn empty_names_are_absent_and_state_names_win() {
        let state = json!({"resources": {}, "frameworks": [{"id": "f", "executors": [
            {"id": "a", "name": "", "source": "", "container": "c1", "resources": {}},
            {"id": "b", "name": "from state", "container": "c2", "resources": {}}
        ]}]});
        let stats = json!([
            {"framework_id": "f", "executor_id": "a", "executor_name": "", "source": "src", "statistics": {"timestamp": 1.0}},
            {"framework_id": "f", "executor_id": "b", "executor_name": "from stats", "statistics": {"timestamp": 1.0}}
        ]);
        let u = merge(&stats, &state).unwrap();
        let a = &u["executors"][0]["executor_info"];
        assert!(a.get("name").is_none(), "{a}");
        assert_eq!(a["source"], "src");
        assert_eq!(u["executors"][1]["executor_info"]["name"], "from state");
        assert_eq!(u["total"], json!([]));
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
