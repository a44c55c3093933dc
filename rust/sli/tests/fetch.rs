//! The SLI sources against a real HTTP server on 127.0.0.1 and real files,
//! and the hand-over into a real pipeline.

#[path = "common/server.rs"]
mod server;

use serenity_core::model::build::{self, ExecutorSpec};
use serenity_core::model::proto::ResourceUsage;
use serenity_core::sli::SliSpec;
use serenity_core::{build_pipeline, BuildOptions, Pipeline, Snapshot};
use serenity_sli::{fetch_once, Reading, SliErrorKind, SliFetchers, SourceState, MAX_BODY_BYTES};
use server::{Behaviour, TestServer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// An estimator pipeline over `sli` tables, ending in `slo_scale`.
fn estimator(sli: &str) -> Pipeline {
    let text = format!(
        "kind = \"estimator\"\n{sli}\n[[stage]]\ntype = \"pr_only\"\n\n[[stage]]\ntype = \"slack\"\nfraction = 0.8\n\n[[stage]]\ntype = \"slo_scale\"\n"
    );
    build_pipeline("sli-test.toml", &text, &[], BuildOptions::default())
        .unwrap_or_else(|e| panic!("the test pipeline does not build:\n{e}\n{text}"))
}

fn spec(sli: &str) -> SliSpec {
    estimator(sli).slis()[0].clone()
}

fn prometheus_sli(url: &str, extra: &str) -> String {
    format!(
        "[[sli]]\nname = \"memcached_p99\"\nexecutors = [\"memcached\"]\nobjective = 2.0\nunit = \"ms\"\nsource = \"prometheus\"\nurl = \"{url}\"\nmetric = \"request_duration_seconds\"\n{extra}\n"
    )
}

fn json_sli(url: &str, extra: &str) -> String {
    format!(
        "[[sli]]\nname = \"api_latency\"\nexecutors = [\"memcached\"]\nobjective = 2.0\nunit = \"ms\"\nsource = \"json\"\nurl = \"{url}\"\npointer = \"/latency/p99\"\n{extra}\n"
    )
}

/// A histogram exposition with cumulative bucket counts (le 0.001, 0.002,
/// 0.005, +Inf), beside another job's histogram and a bad line.
fn histogram(counts: [u64; 4]) -> String {
    format!(
        "# HELP request_duration_seconds Request latency.\n\
# TYPE request_duration_seconds histogram\n\
request_duration_seconds_bucket{{job=\"memcached\",le=\"0.001\"}} {}\n\
request_duration_seconds_bucket{{job=\"memcached\",le=\"0.002\"}} {}\n\
request_duration_seconds_bucket{{job=\"memcached\",le=\"0.005\"}} {}\n\
request_duration_seconds_bucket{{job=\"memcached\",le=\"+Inf\"}} {}\n\
request_duration_seconds_sum{{job=\"memcached\"}} 12.5\n\
request_duration_seconds_count{{job=\"memcached\"}} {}\n\
this line is garbage\n\
request_duration_seconds_bucket{{job=\"other\",le=\"0.001\"}} 7\n\
request_duration_seconds_bucket{{job=\"other\",le=\"+Inf\"}} 9\n",
        counts[0], counts[1], counts[2], counts[3], counts[3]
    )
}

/// Polls `f` every 10 ms, at most `tries` times, until it answers `Some`.
fn poll<T>(tries: usize, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..tries {
        if let Some(t) = f() {
            return t;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the condition did not come true within {tries} polls");
}

#[test]
fn histogram_p99_is_the_quantile_of_the_increase_between_scrapes() {
    let server = TestServer::start(Behaviour::ok(histogram([100, 200, 300, 300])), 10);
    let spec = spec(&prometheus_sli(
        &server.url("/metrics"),
        "quantile = 0.99\nlabels = { job = \"memcached\" }\nscale = 1000.0",
    ));
    let mut state = SourceState::new();
    // The first scrape is the base: no value yet.
    assert_eq!(fetch_once(&spec, &mut state).unwrap(), None);
    assert_eq!(
        state.note(),
        Some("1 line(s) could not be read and were skipped (first: line 9: this has an invalid value \"line\" in \"this line is garbage\")")
    );
    // 100 new observations: 10 ≤ 1 ms, 80 in (1, 2] ms, 10 in (2, 5] ms.
    server.set(Behaviour::ok(histogram([110, 290, 400, 400])));
    let before = now();
    let r = fetch_once(&spec, &mut state).unwrap().expect("a value");
    let after = now();
    // rank 99 in (2, 5] ms: 2 + 3 × (99 − 90) / 10 = 4.7 ms.
    assert!((r.value - 4.7).abs() < 1e-9, "{r:?}");
    assert!(before <= r.timestamp && r.timestamp <= after, "{r:?}");
    // No new observation: no value.
    assert_eq!(fetch_once(&spec, &mut state).unwrap(), None);
    // A counter reset (the service restarted): no value, a new base.
    server.set(Behaviour::ok(histogram([1, 2, 3, 3])));
    assert_eq!(fetch_once(&spec, &mut state).unwrap(), None);
    assert!(state
        .note()
        .unwrap()
        .starts_with("the histogram request_duration_seconds restarted (the bucket le=0.001 went down from 110 to 1 (a counter reset))"));
    // 10 observations since the restart, all in the +Inf bucket → 5 ms.
    server.set(Behaviour::ok(histogram([1, 2, 3, 13])));
    assert_eq!(fetch_once(&spec, &mut state).unwrap().unwrap().value, 5.0);
}

#[test]
fn a_window_takes_the_quantile_over_every_scrape_of_the_last_window_secs() {
    let server = TestServer::start(Behaviour::ok(histogram([0, 0, 0, 0])), 10);
    let url = server.url("/metrics");
    let windowed = spec(&prometheus_sli(
        &url,
        "quantile = 0.5\nlabels = { job = \"memcached\" }\nscale = 1000.0\ninterval_secs = 0.05\nwindow_secs = 60",
    ));
    let plain = spec(&prometheus_sli(
        &url,
        "quantile = 0.5\nlabels = { job = \"memcached\" }\nscale = 1000.0\ninterval_secs = 0.05",
    ));
    let (mut w, mut p) = (SourceState::new(), SourceState::new());
    assert_eq!(fetch_once(&windowed, &mut w).unwrap(), None);
    assert_eq!(fetch_once(&plain, &mut p).unwrap(), None);
    // 100 slow observations (2..5 ms), then 100 fast ones (≤ 1 ms).
    server.set(Behaviour::ok(histogram([0, 0, 100, 100])));
    assert!(fetch_once(&windowed, &mut w).unwrap().unwrap().value > 2.0);
    assert!(fetch_once(&plain, &mut p).unwrap().unwrap().value > 2.0);
    server.set(Behaviour::ok(histogram([100, 100, 200, 200])));
    let since_previous = fetch_once(&plain, &mut p).unwrap().unwrap().value;
    let over_window = fetch_once(&windowed, &mut w).unwrap().unwrap().value;
    // Since the previous scrape: only the fast ones; over the window, the
    // median of all 200 is at the edge of the fast bucket.
    assert!(since_previous <= 1.0, "{since_previous}");
    assert!((over_window - 1.0).abs() < 1e-9, "{over_window}");
    // A window shorter than the fetch period is refused.
    let errors = match build_pipeline(
        "w.toml",
        &format!(
            "kind = \"qos\"\n{}[[stage]]\ntype = \"slo_guard\"\n",
            prometheus_sli(&url, "quantile = 0.5\ninterval_secs = 2\nwindow_secs = 1")
        ),
        &[],
        BuildOptions::default(),
    ) {
        Ok(_) => panic!("a window shorter than interval_secs builds"),
        Err(e) => e.to_string(),
    };
    assert!(
        errors.contains("sli.window_secs") && errors.contains("at least interval_secs"),
        "{errors}"
    );
}

#[test]
fn an_ambiguous_histogram_is_an_error_naming_the_sli_and_url() {
    let server = TestServer::start(Behaviour::ok(histogram([1, 2, 3, 4])), 10);
    let url = server.url("/metrics");
    let spec = spec(&prometheus_sli(&url, "quantile = 0.99"));
    let e = fetch_once(&spec, &mut SourceState::new()).unwrap_err();
    assert_eq!(e.kind, SliErrorKind::Content);
    assert_eq!(
        e.to_string(),
        format!("SLI memcached_p99: prometheus {url}: request_duration_seconds_bucket selects more than one histogram (request_duration_seconds_bucket{{job=\"memcached\",le=\"0.001\"}} on line 3 and request_duration_seconds_bucket{{job=\"other\",le=\"0.001\"}} on line 10): add label matchers")
    );
}

#[test]
fn a_gauge_reads_as_it_is_and_a_missing_one_is_an_error() {
    let server = TestServer::start(
        Behaviour::ok("latency_ms{job=\"a\"} 1.25\nlatency_ms{job=\"b\"} NaN\n"),
        10,
    );
    let url = server.url("/metrics");
    let gauge = |labels: &str| {
        spec(&format!(
            "[[sli]]\nname = \"lat\"\nexecutors = [\"memcached\"]\nobjective = 2.0\nsource = \"prometheus\"\nurl = \"{url}\"\nmetric = \"latency_ms\"\nlabels = {labels}\n"
        ))
    };
    let r = fetch_once(&gauge("{ job = \"a\" }"), &mut SourceState::new())
        .unwrap()
        .unwrap();
    assert_eq!(r.value, 1.25);
    let e = fetch_once(&gauge("{ job = \"b\" }"), &mut SourceState::new()).unwrap_err();
    assert_eq!(e.kind, SliErrorKind::NotANumber);
    assert_eq!(
        e.to_string(),
        format!("SLI lat: prometheus {url}: latency_ms{{job=\"b\"}} on line 2 is NaN, not a finite number")
    );
    let e = fetch_once(&gauge("{ job = \"c\" }"), &mut SourceState::new()).unwrap_err();
    assert_eq!(
        e.problem,
        "no series matches latency_ms{job=\"c\"}; series named latency_ms: latency_ms{job=\"a\"} (line 1), latency_ms{job=\"b\"} (line 2)"
    );
}

#[test]
fn a_json_pointer_reads_a_number_and_names_what_it_found_otherwise() {
    let server = TestServer::start(
        Behaviour::ok(r#"{"latency": {"p99": 0.0015, "p50": "n/a"}}"#),
        10,
    );
    let url = server.url("/stats.json");
    let r = fetch_once(
        &spec(&json_sli(&url, "scale = 1000.0")),
        &mut SourceState::new(),
    )
    .unwrap()
    .unwrap();
    assert!((r.value - 1.5).abs() < 1e-12, "{r:?}");
    let p50 = spec(&json_sli(&url, "").replace("/latency/p99", "/latency/p50"));
    let e = fetch_once(&p50, &mut SourceState::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("SLI api_latency: json {url}: pointer \"/latency/p50\" finds a string, \"\\\"n/a\\\"\", not a number")
    );
}

#[test]
fn another_status_than_200_is_an_error() {
    let server = TestServer::start(
        Behaviour::Answer {
            status: 503,
            body: b"busy".to_vec(),
        },
        10,
    );
    let url = server.url("/stats.json");
    let e = fetch_once(&spec(&json_sli(&url, "")), &mut SourceState::new()).unwrap_err();
    assert_eq!(e.kind, SliErrorKind::Status);
    assert_eq!(
        e.to_string(),
        format!("SLI api_latency: json {url}: the server answered HTTP 503, not 200")
    );
}

#[test]
fn a_body_beyond_the_limit_is_an_error() {
    let big = vec![b' '; MAX_BODY_BYTES as usize + 1];
    let server = TestServer::start(Behaviour::ok(big), 10);
    let url = server.url("/stats.json");
    let e = fetch_once(
        &spec(&json_sli(&url, "timeout_secs = 10.0")),
        &mut SourceState::new(),
    )
    .unwrap_err();
    assert_eq!(e.kind, SliErrorKind::TooLarge, "{e}");
}

#[test]
fn a_server_that_never_answers_times_out() {
    let server = TestServer::start(Behaviour::Silent, 10);
    let url = server.url("/stats.json");
    let e = fetch_once(
        &spec(&json_sli(&url, "timeout_secs = 0.2")),
        &mut SourceState::new(),
    )
    .unwrap_err();
    assert_eq!(e.kind, SliErrorKind::Timeout, "{e}");
    assert_eq!(
        e.to_string(),
        format!("SLI api_latency: json {url}: no complete answer within timeout_secs = 0.2 (GET)")
    );
}

#[test]
fn a_refused_connection_is_a_transport_error() {
    let mut server = TestServer::start(Behaviour::ok("{}"), 10);
    let url = server.url("/stats.json");
    server.stop();
    let e = fetch_once(&spec(&json_sli(&url, "")), &mut SourceState::new()).unwrap_err();
    assert_eq!(e.kind, SliErrorKind::Transport, "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("SLI api_latency: json {url}: GET: ")),
        "{e}"
    );
}

fn file_sli(path: &std::path::Path, pointer: Option<&str>) -> SliSpec {
    let pointer = pointer.map_or(String::new(), |p| format!("pointer = \"{p}\"\n"));
    spec(&format!(
        "[[sli]]\nname = \"from_file\"\nexecutors = [\"memcached\"]\nobjective = 2.0\nsource = \"file\"\npath = \"{}\"\n{pointer}",
        path.display()
    ))
}

#[test]
fn a_file_value_is_stamped_with_the_files_modification_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p99");
    std::fs::write(&path, " 1.75\n").unwrap();
    let mtime = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let r = fetch_once(&file_sli(&path, None), &mut SourceState::new())
        .unwrap()
        .unwrap();
    assert_eq!(
        r,
        Reading {
            value: 1.75,
            timestamp: 1_700_000_000.0
        }
    );

    let json = dir.path().join("stats.json");
    std::fs::write(&json, r#"{"p99": 0.5}"#).unwrap();
    let r = fetch_once(&file_sli(&json, Some("/p99")), &mut SourceState::new())
        .unwrap()
        .unwrap();
    assert_eq!(r.value, 0.5);

    std::fs::write(&path, "fast\n").unwrap();
    let e = fetch_once(&file_sli(&path, None), &mut SourceState::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "SLI from_file: file {}: the file holds \"fast\", not a number",
            path.display()
        )
    );
    let gone = dir.path().join("gone");
    let e = fetch_once(&file_sli(&gone, None), &mut SourceState::new()).unwrap_err();
    assert_eq!(e.kind, SliErrorKind::Io);
    assert!(e.to_string().starts_with(&format!(
        "SLI from_file: file {}: cannot open the file: ",
        gone.display()
    )));
}

/// A node: production `memcached` (2 cpus), best-effort `batch`, and
/// production `cache` without statistics; samples at `ts`.
fn node(ts: f64, cpu_secs: f64) -> ResourceUsage {
    let mut cache = ExecutorSpec::new("fw", "cache", false, 1.0, 256.0);
    cache.statistics = None;
    build::usage(
        8.0,
        16384.0,
        &[
            ExecutorSpec::new("fw", "memcached", false, 2.0, 1024.0).cpu(ts, cpu_secs),
            ExecutorSpec::new("fw", "batch", true, 1.0, 512.0).cpu(ts, cpu_secs),
            cache,
        ],
    )
}

fn slack_signal(p: &Pipeline, snapshot: &Snapshot, executor: &str, sli: &str) -> Option<f64> {
    let id = p.signals().lookup(&format!("slo_slack.{sli}"))?;
    let row = snapshot
        .executors
        .iter()
        .position(|v| v.key.executor_id == executor)?;
    p.last_signals().get(row, id)
}

#[test]
fn injected_readings_reach_a_real_pipeline_as_slo_slack() {
    let server = TestServer::start(Behaviour::ok(r#"{"latency": {"p99": 1.5}}"#), 1000);
    let sli = json_sli(
        &server.url("/stats.json"),
        "interval_secs = 0.05\ntimeout_secs = 1.0\nmax_age_secs = 30.0",
    );
    let mut pipeline = estimator(&sli);
    let fetchers = SliFetchers::start(pipeline.slis());
    let reading = poll(500, || fetchers.status()[0].latest);
    assert_eq!(reading.value, 1.5);

    let ts = reading.timestamp;
    let mut usage = node(ts, 10.0);
    fetchers.inject(&mut usage);
    fetchers.inject(&mut usage); // twice: still one sample
    let samples = |u: &ResourceUsage, i: usize| {
        u.executors[i]
            .statistics
            .as_ref()
            .map(|s| s.serenity_slis.clone())
    };
    let memcached = samples(&usage, 0).unwrap();
    assert_eq!(memcached.len(), 1, "{memcached:?}");
    assert_eq!(memcached[0].name.as_deref(), Some("api_latency"));
    assert_eq!(memcached[0].value, Some(1.5));
    assert!(
        samples(&usage, 1).unwrap().is_empty(),
        "batch is not watched"
    );
    assert_eq!(samples(&usage, 2), None, "no statistics, nothing added");

    let snapshot = Snapshot::new(usage);
    pipeline.tick(&snapshot);
    // (2 − 1.5) / 2 = 0.25 of the objective to spare.
    let s = slack_signal(&pipeline, &snapshot, "memcached", "api_latency").unwrap();
    assert!((s - 0.25).abs() < 1e-12, "{s}");

    // A QoS pipeline's slo_guard steers by it too: slack 0.25 > 0.10, node
    // load low → grow.
    let qos_text = format!("kind = \"qos\"\n{sli}\n[[stage]]\ntype = \"slo_guard\"\n");
    let mut qos = build_pipeline("qos.toml", &qos_text, &[], BuildOptions::default()).unwrap();
    let mut usage = node(ts, 10.0);
    fetchers.inject(&mut usage);
    qos.tick(&Snapshot::new(usage.clone()));
    let mut later = node(ts + 1.0, 10.5);
    fetchers.inject(&mut later);
    let outcome = qos.tick(&Snapshot::new(later));
    let allowance = outcome.allowance.expect("slo_guard decides an allowance");
    assert_eq!(
        allowance.step,
        serenity_core::tick::AllowanceStep::Grow,
        "{}",
        allowance.reason
    );
}

#[test]
fn a_stopped_server_leaves_the_latest_reading_which_goes_stale() {
    let mut server = TestServer::start(Behaviour::ok(r#"{"latency": {"p99": 1.0}}"#), 1000);
    let sli = json_sli(
        &server.url("/stats.json"),
        "interval_secs = 0.02\ntimeout_secs = 0.5\nmax_age_secs = 5.0",
    );
    let mut pipeline = estimator(&sli);
    let fetchers = SliFetchers::start(pipeline.slis());
    let first = poll(500, || fetchers.status()[0].latest);
    server.stop();
    let failed = poll(500, || {
        let s = fetchers.status().remove(0);
        (s.fetches_failed > 0).then_some(s)
    });
    assert!(
        failed.last_error.as_deref().unwrap().contains("GET"),
        "{failed:?}"
    );
    let kept = failed.latest.expect("the latest reading stays");
    assert!(kept.timestamp >= first.timestamp);
    // It no longer changes.
    let again = poll(500, || {
        let s = fetchers.status().remove(0);
        (s.fetches_failed > failed.fetches_failed).then_some(s)
    });
    assert_eq!(again.latest, Some(kept));

    // Within max_age_secs of the reading, the pipeline sees it ...
    let mut usage = node(kept.timestamp + 1.0, 1.0);
    fetchers.inject(&mut usage);
    let snapshot = Snapshot::new(usage);
    pipeline.tick(&snapshot);
    assert_eq!(
        slack_signal(&pipeline, &snapshot, "memcached", "api_latency"),
        Some(0.5)
    );
    // ... beyond it, the same reading is stale: the signal is missing and
    // slo_scale stops the tick.
    let mut usage = node(kept.timestamp + 6.0, 2.0);
    fetchers.inject(&mut usage);
    let snapshot = Snapshot::new(usage);
    let outcome = pipeline.tick(&snapshot);
    let stopped = outcome.stopped.as_ref().expect("slo_scale stops");
    assert_eq!(stopped.type_name, "slo_scale");
    assert_eq!(
        slack_signal(&pipeline, &snapshot, "memcached", "api_latency"),
        None
    );
}

#[test]
fn inject_does_not_wait_for_a_fetch_in_flight() {
    let mut server = TestServer::start(Behaviour::ok(r#"{"latency": {"p99": 1.0}}"#), 1000);
    let sli = json_sli(
        &server.url("/stats.json"),
        "interval_secs = 0.02\ntimeout_secs = 30.0\nmax_age_secs = 60.0",
    );
    let pipeline = estimator(&sli);
    let fetchers = SliFetchers::start(pipeline.slis());
    let reading = poll(500, || fetchers.status()[0].latest);
    server.set(Behaviour::Silent);
    // Wait until a request reached the silent server: the fetch thread is
    // now inside a fetch that can only end in 30 s (timeout) or at stop().
    let asked = server.requests();
    poll(500, || (server.requests() > asked).then_some(()));
    let in_flight = fetchers.status().remove(0);
    let mut usage = node(reading.timestamp, 1.0);
    fetchers.inject(&mut usage);
    let status = fetchers.status().remove(0);
    // inject() answered with the latest reading while that fetch is still
    // open: no fetch finished in between.
    assert_eq!(
        usage.executors[0]
            .statistics
            .as_ref()
            .unwrap()
            .serenity_slis[0]
            .value,
        Some(reading.value)
    );
    assert_eq!(
        status.fetches_ok + status.fetches_failed,
        in_flight.fetches_ok + in_flight.fetches_failed
    );
    // Closing the held connection ends the fetch, as a failure.
    server.stop();
    let s = poll(500, || {
        let s = fetchers.status().remove(0);
        (s.fetches_failed > status.fetches_failed).then_some(s)
    });
    assert!(s.last_error.is_some());
    drop(fetchers);
}

#[test]
fn dropping_the_fetchers_stops_their_threads() {
    let server = TestServer::start(Behaviour::ok(r#"{"latency": {"p99": 1.0}}"#), 1000);
    let sli = json_sli(&server.url("/stats.json"), "interval_secs = 0.01");
    let pipeline = estimator(&sli);
    let fetchers = SliFetchers::start(pipeline.slis());
    poll(500, || fetchers.status()[0].latest);
    drop(fetchers);
    // No thread fetches any more: the request count settles.
    let settled = server.requests();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.requests(), settled);
}
