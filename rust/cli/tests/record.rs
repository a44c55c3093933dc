//! `serenity record` against a local HTTP server shaped like a Mesos agent
//! (/monitor/statistics and /state as in src/slave/http.cpp), which goes
//! down for a while in the middle of the recording.

mod common;
use common::*;
use serenity_core::{load_trace, Snapshot};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn statistics(n: u64) -> String {
    let t = now();
    let web = n as f64 * 0.15;
    let batch = n as f64 * 0.12;
    serde_json::json!([
        {"executor_id": "web", "executor_name": "web server", "framework_id": "fw-prod", "source": "web",
         "statistics": {"timestamp": t, "cpus_user_time_secs": web * 0.8, "cpus_system_time_secs": web * 0.2,
                        "cpus_limit": 2.1, "mem_rss_bytes": 734003200u64, "mem_limit_bytes": 1107296256u64,
                        "cpus_nr_periods": n * 10, "cpus_nr_throttled": n}},
        {"executor_id": "batch", "executor_name": "batch job", "framework_id": "fw-be", "source": "batch",
         "statistics": {"timestamp": t, "cpus_user_time_secs": batch, "cpus_system_time_secs": 0.0,
                        "cpus_limit": 1.6, "mem_rss_bytes": 268435456u64,
                        "perf": {"timestamp": t - 1.0, "duration": 1.0, "cycles": 2000000000u64, "instructions": 1800000000u64}}}
    ])
    .to_string()
}

fn state() -> String {
    serde_json::json!({
        "version": "1.7.2",
        "id": "agent-1",
        "resources": {"cpus": 8.0, "mem": 15360.0, "disk": 100000.0, "gpus": 0.0, "ports": "[31000-32000]"},
        "frameworks": [
            {"id": "fw-prod", "name": "marathon", "role": "prod",
             "executors": [{
                "id": "web", "name": "web server", "source": "web", "container": "ctr-web",
                "directory": "/var/lib/mesos/slaves/x",
                // allocatedResources(): the executor's own 0.1 cpu + 32 MiB plus its task.
                "resources": {"cpus": 2.1, "mem": 1056.0, "disk": 0.0, "gpus": 0.0},
                "tasks": [{"id": "web.1", "name": "web", "framework_id": "fw-prod", "executor_id": "web",
                           "state": "TASK_RUNNING", "resources": {"cpus": 2.0, "mem": 1024.0, "disk": 0.0, "gpus": 0.0}}],
                "queued_tasks": [], "completed_tasks": []
             }],
             "completed_executors": [{"id": "old-web", "resources": {"cpus": 4.0}, "tasks": []}]},
            {"id": "fw-be", "name": "batch", "role": "*",
             "executors": [{
                "id": "batch", "name": "batch job", "source": "batch", "container": "ctr-batch",
                "resources": {"cpus": 0.1, "mem": 32.0, "cpus_revocable": 1.5, "mem_revocable": 512.0},
                "tasks": [{"id": "batch.1", "name": "batch", "state": "TASK_RUNNING",
                           "resources": {"cpus_revocable": 1.5, "mem_revocable": 512.0}}],
                "queued_tasks": [], "completed_tasks": []
             }],
             "completed_executors": []}
        ],
        "completed_frameworks": [{"id": "fw-old", "executors": [{"id": "gone", "resources": {"cpus": 1.0}}]}]
    })
    .to_string()
}

fn answer(mut stream: TcpStream, polls: &AtomicU64) {
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
    let (status, body) = match path {
        "/monitor/statistics" => (
            "200 OK",
            statistics(polls.fetch_add(1, Ordering::SeqCst) + 1),
        ),
        "/state" => ("200 OK", state()),
        _ => ("404 Not Found", String::new()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Serves on `listener` until `until`, then closes it (the agent is down).
fn serve(listener: TcpListener, until: Instant, polls: Arc<AtomicU64>) {
    listener.set_nonblocking(true).unwrap();
    while Instant::now() < until {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                answer(stream, &polls);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

#[test]
fn records_merge_allocations_and_revocable_flags_and_survive_an_agent_restart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("agent.jsonl");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let polls = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let down_at = start + Duration::from_millis(900);
    let up_at = start + Duration::from_millis(1600);
    let end = start + Duration::from_millis(4200);
    let server = {
        let polls = polls.clone();
        std::thread::spawn(move || {
            serve(listener, down_at, polls.clone());
            let down_wall = now();
            std::thread::sleep(up_at.saturating_duration_since(Instant::now()));
            // The agent restarts on the same port.
            let listener = TcpListener::bind(addr).unwrap();
            let up_wall = now();
            serve(listener, end, polls);
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
    let before = usages
        .iter()
        .filter(|u| {
            u.executors[0]
                .statistics
                .as_ref()
                .unwrap()
                .timestamp
                .unwrap()
                < down_wall
        })
        .count();
    let after = usages
        .iter()
        .filter(|u| {
            u.executors[0]
                .statistics
                .as_ref()
                .unwrap()
                .timestamp
                .unwrap()
                > up_wall
        })
        .count();
    assert!(before >= 4, "{before} records before the restart");
    assert!(after >= 4, "{after} records after the restart");
    assert_eq!(
        before + after,
        usages.len(),
        "no record while the agent was down"
    );

    for usage in usages {
        let snap = Snapshot::new(usage);
        assert_eq!(snap.total_cpus, Some(8.0));
        assert_eq!(snap.total_mem_bytes, Some(15360.0 * 1024.0 * 1024.0));
        assert_eq!(
            snap.executors.len(),
            2,
            "completed executors and frameworks are left out"
        );
        let web = &snap.executors[0];
        assert_eq!(web.key.executor_id, "web");
        assert!(!web.revocable);
        assert_eq!(web.allocated_cpus, Some(2.1), "tasks are not counted twice");
        assert_eq!(web.container_id.as_deref(), Some("ctr-web"));
        let batch = &snap.executors[1];
        assert_eq!(batch.key.framework_id, "fw-be");
        assert!(batch.revocable);
        assert_eq!(batch.revocable_cpus, 1.5);
        assert_eq!(batch.revocable_mem_bytes, 512.0 * 1024.0 * 1024.0);
        assert!((batch.allocated_cpus.unwrap() - 1.6).abs() < 1e-9);
        let perf = snap.statistics(1).unwrap().perf.as_ref().unwrap();
        assert_eq!(perf.instructions, Some(1_800_000_000));
        assert_eq!(snap.usage.executors[0].tasks.len(), 1);
    }
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
    let polls = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_millis(2000);
    let server = {
        let polls = polls.clone();
        std::thread::spawn(move || {
            // The first connection is accepted and never answered (a hung agent).
            let (hung, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(700));
            drop(hung);
            serve(listener, end, polls);
        })
    };
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
