//! What a fetch thread logs: a failure once per change of its message
//! (naming the SLI, the URL and the error), the recovery once.

#[path = "common/server.rs"]
mod server;

use serenity_core::{build_pipeline, BuildOptions};
use serenity_sli::SliFetchers;
use server::{Behaviour, TestServer};
use std::sync::Mutex;
use std::time::Duration;

static LINES: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.target() == "serenity" {
            LINES
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((record.level(), record.args().to_string()));
        }
    }
    fn flush(&self) {}
}

fn lines(needle: &str) -> Vec<(log::Level, String)> {
    LINES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(_, l)| l.contains(needle))
        .cloned()
        .collect()
}

/// Polls every 10 ms, at most 500 times, until `f` holds.
fn poll(f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the condition did not come true within 500 polls");
}

#[test]
fn a_failure_is_logged_once_per_message_and_the_recovery_once() {
    log::set_logger(&Capture).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Debug);
    let server = TestServer::start(
        Behaviour::Answer {
            status: 503,
            body: b"busy".to_vec(),
        },
        10_000,
    );
    let url = server.url("/stats.json");
    let text = format!(
        "kind = \"estimator\"\n[[sli]]\nname = \"flaky\"\nexecutors = [\"memcached\"]\nobjective = 2.0\nsource = \"json\"\nurl = \"{url}\"\npointer = \"/p99\"\ninterval_secs = 0.01\n\n[[stage]]\ntype = \"slack\"\n\n[[stage]]\ntype = \"slo_scale\"\n"
    );
    let pipeline = build_pipeline("flaky.toml", &text, &[], BuildOptions::default()).unwrap();
    let fetchers = SliFetchers::start(pipeline.slis());
    let failed = |n: u64| fetchers.status()[0].fetches_failed >= n;
    poll(|| failed(5));
    let busy = lines("the server answered HTTP 503");
    assert_eq!(busy.len(), 1, "{busy:#?}");
    assert_eq!(busy[0].0, log::Level::Warn);
    assert_eq!(
        busy[0].1,
        format!("SLI flaky: json {url}: the server answered HTTP 503, not 200; the SLI keeps its latest value, which is judged stale after max_age_secs = 0.03")
    );
    // Another error: one more line.
    server.set(Behaviour::ok(r#"{"p99": "soon"}"#));
    poll(|| !lines("not a number").is_empty());
    let before = fetchers.status()[0].fetches_failed;
    poll(|| failed(before + 5));
    assert_eq!(lines("not a number").len(), 1);
    // It reads again: the recovery is said once, with the first value.
    server.set(Behaviour::ok(r#"{"p99": 1.5}"#));
    poll(|| fetchers.status()[0].latest.is_some());
    let ok = fetchers.status()[0].fetches_ok;
    poll(|| fetchers.status()[0].fetches_ok >= ok + 5);
    let back = lines("answers again");
    assert_eq!(back.len(), 1, "{back:#?}");
    assert!(back[0]
        .1
        .starts_with(&format!("SLI flaky: json {url} answers again after ")));
    assert_eq!(
        lines("first value").last().map(|l| l.1.clone()),
        Some(format!("SLI flaky: first value from json {url}: 1.5000"))
    );
    assert_eq!(fetchers.status()[0].last_error, None);
}
