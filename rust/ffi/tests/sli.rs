//! An estimator built through the C ABI from a pipeline with an `[[sli]]`
//! table fetches it from a real HTTP server off the update path: slack is
//! lent while the SLI has room, and withheld once the server is gone and
//! the latest reading is older than `max_age_secs`.
//!
//! The fetched readings are stamped with the wall clock, so the usage
//! snapshots here are too (`now`); every wait is a bounded poll.

mod common;

#[path = "../../sli/tests/common/server.rs"]
mod server;

use common::*;
use serenity_ffi::serenity_result;
use server::{Behaviour, TestServer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

fn pipeline(url: &str) -> String {
    format!(
        r#"
kind = "estimator"

[[sli]]
name = "api_latency"
executors = ["memcached"]
objective = 2.0
unit = "ms"
source = "json"
url = "{url}"
pointer = "/latency/p99"
interval_secs = 0.05
timeout_secs = 0.5
max_age_secs = 1.0

[[stage]]
type = "pr_only"

[[stage]]
type = "slack"
fraction = 0.8

[[stage]]
type = "slo_scale"
"#
    )
}

/// Production memcached (2 cpus, busy 0.5 CPU) and best-effort batch, at
/// wall-clock time.
fn tick(est: &Est, t0: f64) -> serenity_ffi::serenity_slack {
    let ts = now();
    let busy = 0.5 * (ts - t0);
    let u = usage(
        ts,
        8.0,
        &[
            Exec::new("memcached", false, 2.0, busy),
            Exec::new("batch", true, 1.0, busy),
        ],
    );
    let (code, slack) = est.update(&bytes(&u));
    assert_eq!(code, serenity_result::Ok);
    slack
}

/// Ticks every 10 ms, at most `tries` times, until `f` holds.
fn tick_until(
    est: &Est,
    t0: f64,
    tries: usize,
    f: impl Fn(&serenity_ffi::serenity_slack) -> bool,
) -> serenity_ffi::serenity_slack {
    for _ in 0..tries {
        let slack = tick(est, t0);
        if f(&slack) {
            return slack;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the slack did not come to the expected state within {tries} ticks");
}

#[test]
fn slack_is_lent_while_the_sli_has_room_and_withheld_once_it_is_stale() {
    capture_logs();
    let mut server = TestServer::start(Behaviour::ok(r#"{"latency": {"p99": 1.0}}"#), 10_000);
    let url = server.url("/stats.json");
    let est = Est::from_text("sli-estimator.toml", &pipeline(&url), &[])
        .unwrap_or_else(|e| panic!("{e:?}"));
    let t0 = now();
    // While the SLI (1 ms of 2 ms: 50 % to spare) is fresh, the slack is
    // lent in full: memcached's 2 cpus less its 0.5 CPU of usage, less the
    // 1 revocable cpu batch already holds.
    let lent = tick_until(&est, t0, 500, |s| s.cpus > 0.0);
    assert!(!lent.stopped);
    assert!((lent.cpus - 0.5).abs() < 0.05, "{lent:?}");
    assert!(!logged(&["SLI api_latency: first value from json", &url]).is_empty());

    // The service goes away: the latest reading stays, ages past
    // max_age_secs, and then nothing is lent.
    server.stop();
    let withheld = tick_until(&est, t0, 1000, |s| s.stopped);
    assert_eq!(withheld.cpus, 0.0);
    assert!(!logged(&["api_latency", "is missing", "stale"]).is_empty());
    // Many fetches failed by now (one per 50 ms for over a second), but the
    // failure is logged once: its message did not change.
    let failures = logged(&["SLI api_latency: json", &url, "GET: "]);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        failures[0].contains("keeps its latest value"),
        "{}",
        failures[0]
    );

    // It comes back on the same port: fresh readings, slack again, and the
    // recovery is logged once. (std's listeners set SO_REUSEADDR: the port
    // binds again although the old connections linger in TIME_WAIT.)
    let _back = TestServer::start_on(
        &url_addr(&url),
        Behaviour::ok(r#"{"latency": {"p99": 1.0}}"#),
        10_000,
    )
    .expect("the stopped server's port binds again");
    let lent = tick_until(&est, t0, 500, |s| s.cpus > 0.0);
    assert!(!lent.stopped);
    assert_eq!(
        logged(&["SLI api_latency: json", &url, "answers again"]).len(),
        1
    );
    let m = est.metrics();
    assert_eq!(m.errors, 0);
}

fn url_addr(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    rest.split('/').next().unwrap_or(rest).to_owned()
}

#[test]
fn a_qos_controller_kills_best_effort_work_while_the_fetched_sli_is_violated() {
    let server = TestServer::start(Behaviour::ok(r#"{"latency": {"p99": 3.0}}"#), 10_000);
    let url = server.url("/stats.json");
    let toml = pipeline(&url)
        .replace("kind = \"estimator\"", "kind = \"qos\"")
        .replace("name = \"api_latency\"", "name = \"qos_latency\"");
    let stages = toml.find("[[stage]]").expect("stages");
    let toml = format!(
        "{}[[stage]]\ntype = \"slo_guard\"\n\n[[stage]]\ntype = \"kill_all\"\n",
        &toml[..stages]
    );
    let qos = Qos::from_text("sli-qos.toml", &toml, &[]).unwrap_or_else(|e| panic!("{e:?}"));
    let t0 = now();
    let mut kills = Vec::new();
    for _ in 0..500 {
        let ts = now();
        let u = usage(
            ts,
            8.0,
            &[
                Exec::new("memcached", false, 2.0, 0.5 * (ts - t0)),
                Exec::new("batch", true, 1.0, 0.5 * (ts - t0)),
            ],
        );
        let (code, k) = qos.update(&bytes(&u));
        assert_eq!(code, serenity_result::Ok);
        if !k.is_empty() {
            kills = k;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // 3 ms against an objective of at most 2 ms: slo_guard raises a
    // contention on memcached and kill_all kills the best-effort executor.
    let killed: Vec<&str> = kills.iter().map(|k| k.executor_id.as_str()).collect();
    assert_eq!(killed, ["batch"]);
}
