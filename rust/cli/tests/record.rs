//! `serenity record` against what a real Mesos 1.11.0 agent serves.
//!
//! `tests/data/mesos-1.11.0-agent-polls.jsonl` holds six polls of a real
//! agent (`/state`, `/monitor/statistics` and `/containers`, with
//! `/metrics/snapshot` and most of `/state`'s `flags` left out), taken from a
//! 45 s recording: a production command task (cpus 1.5, mem 128) ran
//! throughout; a best-effort task on 0.5 revocable cpus (mem 64) arrived at
//! poll 12 and was killed by the QoS controller after poll 20.
//! - poll 5: the production executor only;
//! - poll 12: the best-effort framework has registered, its executor is not
//!   launched yet (`executors: []`);
//! - polls 13, 16, 20: both executors (in poll 20 the best-effort container
//!   is being destroyed: `/containers` has no `executor_pid` for it);
//! - poll 21: after the kill, the best-effort framework is in
//!   `completed_frameworks`.
//!
//! The merge is tested on these answers directly, then end to end through
//! a local HTTP server that serves them and goes down for a while.

mod common;
use common::*;
use serde_json::{json, Value};
use serenity_cli::record::merge;
use serenity_core::{load_trace, Snapshot};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PROD_FW: &str = "cf893e32-0ea6-4e16-a71e-424ea2f1cdb6-0000";
const BE_FW: &str = "cf893e32-0ea6-4e16-a71e-424ea2f1cdb6-0001";
const PROD_CONTAINER: &str = "414211d2-81e7-461d-a37f-ae761b76b50f";
const BE_CONTAINER: &str = "3faf8c31-5557-4e1c-99c0-196775d13f0d";
const MIB: f64 = 1024.0 * 1024.0;

/// The committed polls, in order.
fn polls() -> Vec<Value> {
    let path = root().join("tests/data/mesos-1.11.0-agent-polls.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a poll is JSON"))
        .collect()
}

/// The committed poll numbered `n` (the `poll` key of the raw recording).
fn poll(n: u64) -> Value {
    polls()
        .into_iter()
        .find(|p| p["poll"] == n)
        .unwrap_or_else(|| panic!("poll {n} is not in the test data"))
}

/// What `record` writes for one poll.
fn merged(p: &Value) -> Value {
    merge(&p["monitor/statistics"], &p["state"]).expect("a real agent's answers merge")
}

/// The merged record as replay sees it: through serenity-core's loader.
fn snapshot(usage: &Value) -> Snapshot {
    let (_, mut records) = load_trace(&format!("{usage}\n")).expect("the record decodes");
    assert_eq!(records.len(), 1);
    Snapshot::new(records.remove(0))
}

/// The merged executor `executor_id`, raw JSON.
fn executor<'a>(usage: &'a Value, executor_id: &str) -> &'a Value {
    usage["executors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["executor_info"]["executor_id"]["value"] == executor_id)
        .unwrap_or_else(|| panic!("no executor {executor_id} in {usage}"))
}

fn executor_ids(usage: &Value) -> Vec<String> {
    usage["executors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["executor_info"]["executor_id"]["value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The `/state` executor `executor_id` of a poll.
fn state_executor<'a>(p: &'a Value, executor_id: &str) -> &'a Value {
    p["state"]["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["executors"].as_array().unwrap())
        .find(|e| e["id"] == executor_id)
        .unwrap_or_else(|| panic!("no executor {executor_id} in /state"))
}

/// Σ of scalar `name` over a Resource list, split (non-revocable, revocable).
fn scalar(resources: &Value, name: &str) -> (f64, f64) {
    let mut out = (0.0, 0.0);
    for r in resources.as_array().unwrap() {
        if r["name"] == name {
            let v = r["scalar"]["value"].as_f64().unwrap();
            if r.get("revocable").is_some() {
                out.1 += v;
            } else {
                out.0 += v;
            }
        }
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn the_best_effort_executors_cpus_are_revocable_in_the_merged_usage() {
    for n in [13, 16, 20] {
        let p = poll(n);
        let usage = merged(&p);
        let be = executor(&usage, "be-1");
        // The task's 0.5 cpus carry the marker; the command executor's own
        // 0.1 cpus and 32 MiB stay non-revocable, as the agent reports them.
        assert_eq!(scalar(&be["allocated"], "cpus"), (0.1, 0.5), "poll {n}");
        assert_eq!(scalar(&be["allocated"], "mem"), (96.0, 0.0), "poll {n}");
        let marked: Vec<&Value> = be["allocated"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r.get("revocable").is_some())
            .collect();
        assert_eq!(marked.len(), 1, "poll {n}: {be}");
        assert_eq!(marked[0]["revocable"], json!({}));

        let snap = snapshot(&usage);
        let view = snap
            .executors
            .iter()
            .find(|e| e.key.executor_id == "be-1")
            .unwrap();
        assert!(view.revocable, "poll {n}");
        assert_eq!(view.key.framework_id, BE_FW);
        assert!(close(view.revocable_cpus, 0.5), "poll {n}");
        assert!(close(view.allocated_cpus.unwrap(), 0.6), "poll {n}");
        assert_eq!(view.revocable_mem_bytes, 0.0);
        assert_eq!(view.allocated_mem_bytes, Some(96.0 * MIB));
        let prod = snap
            .executors
            .iter()
            .find(|e| e.key.executor_id == "prod")
            .unwrap();
        assert!(!prod.revocable, "poll {n}");
        assert!(snap.has_revocable());
        let (cpus, mem) = snap.allocated_revocable();
        assert!(close(cpus, 0.5) && mem == 0.0, "poll {n}: {cpus} {mem}");
    }
}

#[test]
fn the_production_executors_allocation_is_its_tasks_resources_plus_the_command_executor_allowance()
{
    for p in polls() {
        let n = &p["poll"];
        let usage = merged(&p);
        let prod = executor(&usage, "prod");
        let task = &state_executor(&p, "prod")["tasks"][0]["resources"];
        assert_eq!(
            (task["cpus"].as_f64(), task["mem"].as_f64()),
            (Some(1.5), Some(128.0))
        );
        // allocatedResources(): the task plus the command executor's 0.1
        // cpus and 32 MiB, counted once (not 3.1 cpus, not 1.5).
        assert_eq!(scalar(&prod["allocated"], "cpus"), (1.6, 0.0), "poll {n}");
        assert_eq!(scalar(&prod["allocated"], "mem"), (160.0, 0.0), "poll {n}");
        // The agent writes disk and gpus as 0.0; Mesos drops zero resources.
        let names: Vec<&str> = prod["allocated"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["cpus", "mem"], "poll {n}");
        for r in prod["allocated"].as_array().unwrap() {
            assert_eq!(r["allocation_info"], json!({"role": "*"}), "poll {n}");
            assert_eq!(r["type"], "SCALAR");
        }
        // The launched task, with its own resources.
        let tasks = prod["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0]["id"]["value"], "prod");
        assert_eq!(tasks[0]["name"], "prod");
        assert_eq!(scalar(&tasks[0]["resources"], "cpus"), (1.5, 0.0));

        let snap = snapshot(&usage);
        let view = snap
            .executors
            .iter()
            .find(|e| e.key.executor_id == "prod")
            .unwrap();
        assert_eq!(view.allocated_cpus, Some(1.6), "poll {n}");
        assert_eq!(view.allocated_mem_bytes, Some(160.0 * MIB));
        assert_eq!(view.key.framework_id, PROD_FW);
        assert_eq!(snap.usage.executors[view.index].tasks.len(), 1);
    }
}

#[test]
fn container_ids_come_through_and_match_the_containers_endpoint() {
    let mut seen = 0;
    for p in polls() {
        let usage = merged(&p);
        for e in usage["executors"].as_array().unwrap() {
            let id = e["executor_info"]["executor_id"]["value"].as_str().unwrap();
            let fw = e["executor_info"]["framework_id"]["value"]
                .as_str()
                .unwrap();
            let from_containers = p["containers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["executor_id"] == id && c["framework_id"] == fw)
                .map(|c| c["container_id"].clone())
                .unwrap();
            assert_eq!(e["container_id"], json!({"value": from_containers}));
            assert_eq!(
                e["container_id"]["value"],
                state_executor(&p, id)["container"]
            );
            assert!(e["container_id"].get("parent").is_none(), "top-level only");
            seen += 1;
        }
        let snap = snapshot(&usage);
        for v in &snap.executors {
            let want = if v.key.executor_id == "prod" {
                PROD_CONTAINER
            } else {
                BE_CONTAINER
            };
            assert_eq!(v.container_id.as_deref(), Some(want));
        }
    }
    assert_eq!(seen, 9, "six polls, three of them with two executors");
}

#[test]
fn the_agents_total_is_its_non_revocable_resources_including_ports() {
    for p in polls() {
        let usage = merged(&p);
        let total = usage["total"].as_array().unwrap();
        let names: Vec<&str> = total.iter().map(|r| r["name"].as_str().unwrap()).collect();
        // gpus 0.0 in /state is dropped, as Mesos drops zero resources.
        assert_eq!(names, ["cpus", "disk", "mem", "ports"]);
        assert_eq!(scalar(&usage["total"], "cpus"), (2.0, 0.0));
        assert_eq!(scalar(&usage["total"], "mem"), (2048.0, 0.0));
        assert_eq!(scalar(&usage["total"], "disk"), (252899.0, 0.0));
        let ports = total.iter().find(|r| r["name"] == "ports").unwrap();
        assert_eq!(ports["type"], "RANGES");
        assert_eq!(
            ports["ranges"],
            json!({"range": [{"begin": 31000, "end": 32000}]})
        );
        for r in total {
            assert!(r.get("revocable").is_none(), "{r}");
            assert!(r.get("allocation_info").is_none(), "{r}");
        }
        let snap = snapshot(&usage);
        assert_eq!(snap.total_cpus, Some(2.0));
        assert_eq!(snap.total_mem_bytes, Some(2048.0 * MIB));
    }
}

#[test]
fn executors_come_and_go_with_the_agents_live_executors() {
    assert_eq!(executor_ids(&merged(&poll(5))), ["prod"]);
    // Poll 12: the best-effort framework is registered and its allocation
    // already counts on the agent, but its executor is not launched: the
    // agent's usage() does not list it, nor does the merge.
    let p12 = poll(12);
    assert_eq!(
        p12["state"]["unreserved_resources_allocated"]["cpus_revocable"],
        0.5
    );
    assert!(p12["state"]["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == BE_FW && f["executors"] == json!([])));
    let u12 = merged(&p12);
    assert_eq!(executor_ids(&u12), ["prod"]);
    assert!(!snapshot(&u12).has_revocable());
    // While it runs: both, in /state's order (that of the agent's usage()).
    for n in [13, 16, 20] {
        assert_eq!(
            executor_ids(&merged(&poll(n))),
            ["be-1", "prod"],
            "poll {n}"
        );
    }
    // Poll 21: killed; /state lists it under completed_frameworks only.
    let p21 = poll(21);
    assert_eq!(
        p21["state"]["completed_frameworks"][0]["completed_executors"][0]["id"],
        "be-1"
    );
    let u21 = merged(&p21);
    assert_eq!(executor_ids(&u21), ["prod"]);
    assert!(!snapshot(&u21).has_revocable());
}

#[test]
fn an_executor_listed_in_state_without_statistics_is_kept_with_its_allocation() {
    // The agent's usage() keeps an executor whose container could not
    // report (e.g. while it is destroyed), without `statistics`;
    // /monitor/statistics then leaves it out.
    let p = poll(20);
    let stats: Vec<Value> = p["monitor/statistics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["executor_id"] != "be-1")
        .cloned()
        .collect();
    let usage = merge(&Value::Array(stats), &p["state"]).unwrap();
    let be = executor(&usage, "be-1");
    assert!(be.get("statistics").is_none(), "{be}");
    assert_eq!(scalar(&be["allocated"], "cpus"), (0.1, 0.5));
    assert_eq!(be["container_id"]["value"], BE_CONTAINER);
    assert!(executor(&usage, "prod").get("statistics").is_some());
    let snap = snapshot(&usage);
    assert_eq!(snap.executors.len(), 2);
    let row = snap
        .executors
        .iter()
        .position(|e| e.key.executor_id == "be-1")
        .unwrap();
    assert!(snap.statistics(row).is_none());
    assert!(snap.executors[row].revocable);
}

#[test]
fn statistics_of_an_executor_that_state_no_longer_lists_are_left_out() {
    // The kill lands between the two requests: the statistics still list
    // the best-effort executor, /state has moved it to completed_frameworks.
    let usage = merge(&poll(20)["monitor/statistics"], &poll(21)["state"]).unwrap();
    assert_eq!(executor_ids(&usage), ["prod"]);
    let snap = snapshot(&usage);
    assert!(snap.rejected.is_empty());
    assert!(!snap.has_revocable());
}

#[test]
fn the_merged_polls_decode_through_the_core_loader_and_replay_the_estimator_pipeline() {
    let polls = polls();
    let mut text = String::new();
    for p in &polls {
        text.push_str(&serde_json::to_string(&merged(p)).unwrap());
        text.push('\n');
    }
    let (_, usages) = load_trace(&text).expect("the recording decodes");
    assert_eq!(usages.len(), polls.len());
    for (p, u) in polls.iter().zip(&usages) {
        let snap = Snapshot::new(u.clone());
        assert!(snap.rejected.is_empty(), "{:?}", snap.rejected);
        // The statistics arrive untouched: what the agent sampled.
        for entry in p["monitor/statistics"].as_array().unwrap() {
            let row = snap
                .executors
                .iter()
                .position(|e| e.key.executor_id == entry["executor_id"])
                .unwrap();
            let s = snap.statistics(row).unwrap();
            let want = &entry["statistics"];
            assert_eq!(s.timestamp, want["timestamp"].as_f64());
            assert_eq!(s.cpus_user_time_secs, want["cpus_user_time_secs"].as_f64());
            assert_eq!(s.cpus_soft_limit, want["cpus_soft_limit"].as_f64());
            assert_eq!(s.mem_rss_bytes, want["mem_rss_bytes"].as_u64());
            // Without --cgroups_enable_cfs the agent sends no hard limit.
            assert_eq!(s.cpus_limit, None);
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let trace = write(dir.path(), "agent.jsonl", &text);
    let o = serenity(&[
        "replay",
        "-p",
        "pipelines/estimator.toml",
        "--output",
        "jsonl",
        &trace,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), polls.len(), "{out}");
    for (i, (l, p)) in lines.iter().zip(&polls).enumerate() {
        assert_eq!(l["tick"], i);
        assert_eq!(l["pipeline"], "estimator");
        let latest = p["monitor/statistics"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["statistics"]["timestamp"].as_f64())
            .fold(f64::MIN, f64::max);
        assert_eq!(l["timestamp"].as_f64(), Some(latest), "tick {i}");
        assert!(l["slack"]["cpus"].as_f64().is_some(), "{l}");
    }
}

#[test]
fn answers_of_the_wrong_shape_are_errors_naming_the_endpoint_and_key() {
    let p = poll(13);
    let stats = &p["monitor/statistics"];
    let e = merge(&json!({}), &p["state"]).unwrap_err();
    assert!(
        e.contains("/monitor/statistics") && e.contains("array"),
        "{e}"
    );
    let e = merge(stats, &json!([])).unwrap_err();
    assert!(e.starts_with("/state ") && e.contains("object"), "{e}");
    let mut state = p["state"].clone();
    state.as_object_mut().unwrap().remove("resources");
    let e = merge(stats, &state).unwrap_err();
    assert!(e.contains("/state") && e.contains("`resources`"), "{e}");
    let mut state = p["state"].clone();
    state["resources"] = json!("cpus:2");
    let e = merge(stats, &state).unwrap_err();
    assert!(e.contains("`resources`") && e.contains("a string"), "{e}");
    let mut state = p["state"].clone();
    state["frameworks"] = json!(7);
    let e = merge(stats, &state).unwrap_err();
    assert!(e.contains("/state") && e.contains("`frameworks`"), "{e}");
}

#[test]
fn odd_entries_are_left_out_and_the_record_still_decodes() {
    let p = poll(13);
    let mut state = p["state"].clone();
    let be = state["frameworks"][0]["executors"][0]
        .as_object_mut()
        .unwrap();
    assert_eq!(be["id"], "be-1");
    be.insert(
        "resources".into(),
        json!({"cpus": "lots", "cpus_revocable": 0.5, "mem": -5.0, "disk": true, "ports": "[9-1]", "gpus": null}),
    );
    be.insert("tasks".into(), json!({"not": "a list"}));
    state["frameworks"][1]["executors"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "no id", "resources": {"cpus": 1.0}}));
    state["frameworks"]
        .as_array_mut()
        .unwrap()
        .push(json!({"executors": [{"id": "orphan"}]}));
    let mut stats = p["monitor/statistics"].clone();
    stats[1]["statistics"] = json!(42);
    stats
        .as_array_mut()
        .unwrap()
        .push(json!({"statistics": {"timestamp": 1.0}}));
    stats.as_array_mut().unwrap().push(json!("junk"));
    let usage = merge(&stats, &state).unwrap();
    assert_eq!(executor_ids(&usage), ["be-1", "prod"]);
    let be = executor(&usage, "be-1");
    // Only the one usable value is left.
    assert_eq!(be["allocated"].as_array().unwrap().len(), 1, "{be}");
    assert_eq!(scalar(&be["allocated"], "cpus"), (0.0, 0.5));
    assert_eq!(be["tasks"], json!([]));
    // prod's statistics were not an object: recorded without them.
    assert!(executor(&usage, "prod").get("statistics").is_none());
    let snap = snapshot(&usage);
    assert_eq!(snap.executors.len(), 2);
    assert!(snap.executors[0].revocable);
}

// --- End to end: `serenity record` against a local agent serving the polls.

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Serves the committed polls in turn: each `/state` request moves on to
/// the next poll; `/monitor/statistics` answers the current poll's, with
/// timestamps of now (so the test can tell records before and after the
/// outage apart).
struct FakeAgent {
    polls: Vec<Value>,
    states: AtomicU64,
}

impl FakeAgent {
    fn answer(&self, mut stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let request = String::from_utf8_lossy(&buf);
        let path = request.split_whitespace().nth(1).unwrap_or("");
        let current = |advance: bool| {
            let n = if advance {
                self.states.fetch_add(1, Ordering::SeqCst)
            } else {
                self.states.load(Ordering::SeqCst).saturating_sub(1)
            };
            &self.polls[n as usize % self.polls.len()]
        };
        let (status, body) = match path {
            "/state" => ("200 OK", current(true)["state"].to_string()),
            "/monitor/statistics" => {
                let mut s = current(false)["monitor/statistics"].clone();
                let t = now();
                for e in s.as_array_mut().unwrap() {
                    e["statistics"]["timestamp"] = json!(t);
                }
                ("200 OK", s.to_string())
            }
            _ => ("404 Not Found", String::new()),
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    /// Serves on `listener` until `until`, then closes it (the agent is down).
    fn serve(&self, listener: TcpListener, until: Instant) {
        listener.set_nonblocking(true).unwrap();
        while Instant::now() < until {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    self.answer(stream);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

fn fake_agent() -> Arc<FakeAgent> {
    Arc::new(FakeAgent {
        polls: polls(),
        states: AtomicU64::new(0),
    })
}

#[test]
fn recording_a_real_agents_answers_survives_an_agent_restart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("agent.jsonl");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = fake_agent();
    let start = Instant::now();
    let down_at = start + Duration::from_millis(900);
    let up_at = start + Duration::from_millis(1600);
    let end = start + Duration::from_millis(4200);
    let server = {
        let fake = fake.clone();
        std::thread::spawn(move || {
            fake.serve(listener, down_at);
            let down_wall = now();
            std::thread::sleep(up_at.saturating_duration_since(Instant::now()));
            // The agent restarts on the same port.
            let listener = TcpListener::bind(addr).unwrap();
            let up_wall = now();
            fake.serve(listener, end);
            (down_wall, up_wall)
        })
    };
    let agent = format!("http://{addr}");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_serenity"))
        .args([
            "record",
            "--agent",
            &agent,
            "--interval",
            "100ms",
            "--duration",
            "3600ms",
            "--timeout",
            "1s",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let (down_wall, up_wall) = server.join().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("warning: poll failed (GET "), "{err}");
    assert!(
        err.contains("warning: the agent answers again after"),
        "{err}"
    );

    let text = std::fs::read_to_string(&out).unwrap();
    let (_, usages) = load_trace(&text).expect("the recording replays");
    let stamp = |s: &Snapshot| s.timestamp.expect("every record has statistics");
    let snaps: Vec<Snapshot> = usages.into_iter().map(Snapshot::new).collect();
    let before = snaps.iter().filter(|s| stamp(s) < down_wall).count();
    let after = snaps.iter().filter(|s| stamp(s) > up_wall).count();
    assert!(before >= 4, "{before} records before the restart");
    assert!(after >= 4, "{after} records after the restart");
    assert_eq!(
        before + after,
        snaps.len(),
        "no record while the agent was down"
    );

    let mut with_best_effort = 0;
    for snap in &snaps {
        assert!(snap.rejected.is_empty(), "{:?}", snap.rejected);
        assert_eq!(snap.total_cpus, Some(2.0));
        assert_eq!(snap.total_mem_bytes, Some(2048.0 * MIB));
        let prod = snap
            .executors
            .iter()
            .find(|e| e.key.executor_id == "prod")
            .expect("the production executor is in every record");
        assert!(!prod.revocable);
        assert_eq!(prod.allocated_cpus, Some(1.6));
        assert_eq!(prod.container_id.as_deref(), Some(PROD_CONTAINER));
        if let Some(be) = snap.executors.iter().find(|e| e.key.executor_id == "be-1") {
            assert!(be.revocable);
            assert!(close(be.revocable_cpus, 0.5));
            assert_eq!(be.container_id.as_deref(), Some(BE_CONTAINER));
            with_best_effort += 1;
        }
        assert!(snap.executors.len() <= 2);
    }
    assert!(
        with_best_effort > 0,
        "no record with the best-effort executor"
    );
    assert!(with_best_effort < snaps.len(), "every record has it");
}

#[test]
fn an_agent_that_never_answers_is_an_error() {
    // Bind then drop: nothing listens on this port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("none.jsonl").display().to_string();
    let agent = format!("http://127.0.0.1:{port}");
    let o = serenity(&[
        "record",
        "--agent",
        &agent,
        "--interval",
        "50ms",
        "--duration",
        "300ms",
        "--out",
        &out,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "error: no record was written: the agent at {agent} never answered"
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_request_that_times_out_is_retried_and_recording_goes_on() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = fake_agent();
    let end = Instant::now() + Duration::from_millis(2000);
    let server = std::thread::spawn(move || {
        // The first connection is accepted and never answered (a hung agent).
        let (hung, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(700));
        drop(hung);
        fake.serve(listener, end);
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.jsonl").display().to_string();
    let agent = format!("http://{addr}");
    let o = serenity(&[
        "record",
        "--agent",
        &agent,
        "--interval",
        "100ms",
        "--timeout",
        "300ms",
        "--duration",
        "1600ms",
        "--out",
        &out,
    ]);
    server.join().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("warning: poll failed (GET "), "{err}");
    assert!(err.to_lowercase().contains("timeout"), "{err}");
    let (_, usages) = load_trace(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(
        usages.len() >= 3,
        "{} records after the timeout",
        usages.len()
    );
}
