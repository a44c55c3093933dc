//! Prometheus metrics: the last tick's state in text exposition format 0.0.4,
//! served by the agent's HTTP listener ([`crate::http`]: concurrent clients,
//! bounded connections, head and body limits, timeouts) on a loopback address
//! by default.
//!
//! | metric | type | labels | meaning |
//! | --- | --- | --- | --- |
//! | `serenity_slack_cpus` | gauge | | the estimator's last slack (revocable CPUs to lend) |
//! | `serenity_slack_mem_bytes` | gauge | | the estimator's last memory slack |
//! | `serenity_signal` | gauge | `pipeline`, `group`, `signal` | every built-in and derived signal of every group, last tick |
//! | `serenity_contentions` | gauge | `pipeline` | contentions raised in the last tick |
//! | `serenity_corrections_total` | counter | `action`, `mode` | corrections acted on (`mode` = `enforce` or `dry_run`); the agent starts the configured action's series at 0 |
//! | `serenity_refused_corrections_total` | counter | | corrections refused because the group is not strictly below the best-effort prefix |
//! | `serenity_valve_open` | gauge | `pipeline` | 1 while the pipeline's valve is open (pipelines with a `valve` stage) |
//! | `serenity_groups` | gauge | `kind` | groups sampled in the last tick (`production`, `best-effort`) |
//! | `serenity_tick_seconds` | gauge | | cost of the last tick (monotonic clock) |
//! | `serenity_ticks_total` | counter | | ticks run |
//! | `serenity_errors_total` | counter | | errors (unreadable groups, failed or refused actions) |
//! | `serenity_restored_groups_total` | counter | | changes undone at start from the enforcement state file (left by an agent that did not stop cleanly) |
//! | `serenity_config_reload_failures_total` | counter | | SIGHUP reloads refused (the running configuration was kept) |
//! | `serenity_allowance_cpus` | gauge | | CPUs the best-effort parent may use (with `[allowance]`) |
//! | `serenity_allowance_mem_bytes` | gauge | | memory the best-effort parent may use (with memory in `[allowance]`) |
//! | `serenity_allowance_steps_total` | counter | `step` | the SLO controller's steps (`revoke`, `shrink`, `hold`, `grow`), one per tick |
//! | `serenity_sli` | gauge | `sli` | the latest value of each `[[sli]]`, in its unit (after `scale`) |
//! | `serenity_sli_age_seconds` | gauge | `sli` | seconds since that value was measured, at the last tick |
//! | `serenity_sli_fetch_failures_total` | counter | `sli` | fetches of the SLI that failed (timeout, refused, unparsable) |
//!
//! The same listener serves `GET /summary`: the node summary of
//! `serenity_core::summary` as JSON (slack, contention per signal,
//! corrections per window, interference score, valves, age), what
//! `serenity hints` polls (docs/hints.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serenity_core::{NodeSummary, SummaryBuilder, TickRecord};

use crate::http::{Handler, HttpServer, Limits, Request, Response};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One signal value of one group. The names are shared (`Arc<str>`): a tick
/// records one value per group and signal, thousands at a few hundred
/// groups, and each name once.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalValue {
    /// The pipeline's name.
    pub pipeline: Arc<str>,
    /// The group's path (the executor's container id).
    pub group: Arc<str>,
    /// The signal's name.
    pub signal: Arc<str>,
    /// Its value.
    pub value: f64,
}

/// The state the metrics report, updated after every tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsState {
    /// The estimator's last slack in CPUs (absent without an estimator).
    pub slack_cpus: Option<f64>,
    /// The estimator's last memory slack in bytes.
    pub slack_mem_bytes: Option<f64>,
    /// Every signal of every group, last tick.
    pub signals: Vec<SignalValue>,
    /// Contentions of the last tick, per pipeline.
    pub contentions: BTreeMap<String, usize>,
    /// Corrections acted on, per (action, mode).
    pub corrections_total: BTreeMap<(String, String), u64>,
    /// Corrections refused by the prefix check.
    pub refused_total: u64,
    /// Valve state per pipeline.
    pub valve_open: BTreeMap<String, bool>,
    /// Groups sampled last tick, per kind.
    pub groups: BTreeMap<String, usize>,
    /// Cost of the last tick, seconds.
    pub tick_seconds: f64,
    /// Ticks run.
    pub ticks_total: u64,
    /// Errors counted.
    pub errors_total: u64,
    /// Changes undone at start from the enforcement state file.
    pub restored_total: u64,
    /// Configuration reloads refused.
    pub reload_failures_total: u64,
    /// The best-effort CPU allowance (with `[allowance]`).
    pub allowance_cpus: Option<f64>,
    /// The best-effort memory allowance, bytes.
    pub allowance_mem_bytes: Option<f64>,
    /// The SLO controller's steps, per step.
    pub allowance_steps_total: BTreeMap<String, u64>,
    /// Per `[[sli]]`: latest value, its age at the last tick, failed fetches.
    pub slis: BTreeMap<String, SliMetric>,
}

/// What the metrics say about one SLI.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SliMetric {
    /// The latest value (absent before the first good fetch).
    pub value: Option<f64>,
    /// Seconds since it was measured, at the last tick.
    pub age_secs: Option<f64>,
    /// Failed fetches.
    pub failures_total: u64,
}

/// Shared, lockable metrics state, and the node summary's recent ticks.
#[derive(Debug)]
pub struct Metrics {
    state: Mutex<MetricsState>,
    summary: Mutex<SummaryBuilder>,
    /// The summary's time origin (monotonic).
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            state: Mutex::default(),
            summary: Mutex::default(),
            started: Instant::now(),
        }
    }
}

impl Metrics {
    /// Records one tick for the node summary, now.
    pub fn record_tick(&self, tick: TickRecord) {
        let at = self.started.elapsed().as_secs_f64();
        self.summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(at, tick);
    }

    /// The node summary now (its `age_secs` is the time since the last
    /// tick).
    pub fn summary(&self) -> NodeSummary {
        let now = self.started.elapsed().as_secs_f64();
        self.summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .summary(now)
    }

    /// The state, for updating (a poisoned lock is recovered: metrics are
    /// never worth a panic).
    pub fn lock(&self) -> MutexGuard<'_, MetricsState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The exposition text of the current state.
    pub fn render(&self) -> String {
        render(&self.lock())
    }
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Renders the state in the text exposition format 0.0.4.
pub fn render(state: &MetricsState) -> String {
    let mut out = String::new();
    let gauge = |out: &mut String, name: &str, help: &str, value: Option<f64>| {
        header(out, name, "gauge", help);
        if let Some(v) = value {
            let _ = writeln!(out, "{name} {}", number(v));
        }
    };
    gauge(
        &mut out,
        "serenity_slack_cpus",
        "Revocable CPUs the estimator would lend (last tick).",
        state.slack_cpus,
    );
    gauge(
        &mut out,
        "serenity_slack_mem_bytes",
        "Revocable memory the estimator would lend, bytes (last tick).",
        state.slack_mem_bytes,
    );

    header(
        &mut out,
        "serenity_signal",
        "gauge",
        "Value of a built-in or derived signal of one group (last tick).",
    );
    for s in &state.signals {
        let l = labels(&[
            ("pipeline", &*s.pipeline),
            ("group", &*s.group),
            ("signal", &*s.signal),
        ]);
        let _ = writeln!(out, "serenity_signal{l} {}", number(s.value));
    }

    header(
        &mut out,
        "serenity_contentions",
        "gauge",
        "Contentions raised in the last tick.",
    );
    for (pipeline, n) in &state.contentions {
        let _ = writeln!(
            out,
            "serenity_contentions{} {n}",
            labels(&[("pipeline", pipeline)])
        );
    }

    header(
        &mut out,
        "serenity_corrections_total",
        "counter",
        "Corrections acted on (mode enforce) or logged only (mode dry_run).",
    );
    for ((action, mode), n) in &state.corrections_total {
        let l = labels(&[("action", action), ("mode", mode)]);
        let _ = writeln!(out, "serenity_corrections_total{l} {n}");
    }

    header(
        &mut out,
        "serenity_refused_corrections_total",
        "counter",
        "Corrections refused because the group is not strictly below the best-effort prefix.",
    );
    let _ = writeln!(
        out,
        "serenity_refused_corrections_total {}",
        state.refused_total
    );

    header(
        &mut out,
        "serenity_valve_open",
        "gauge",
        "1 while the pipeline's valve is open.",
    );
    for (pipeline, open) in &state.valve_open {
        let l = labels(&[("pipeline", pipeline)]);
        let _ = writeln!(out, "serenity_valve_open{l} {}", u8::from(*open));
    }

    header(
        &mut out,
        "serenity_groups",
        "gauge",
        "Groups sampled in the last tick.",
    );
    for (kind, n) in &state.groups {
        let _ = writeln!(out, "serenity_groups{} {n}", labels(&[("kind", kind)]));
    }

    header(
        &mut out,
        "serenity_tick_seconds",
        "gauge",
        "Cost of the last tick in seconds (sampling, pipelines, enforcement).",
    );
    let _ = writeln!(out, "serenity_tick_seconds {}", number(state.tick_seconds));
    header(&mut out, "serenity_ticks_total", "counter", "Ticks run.");
    let _ = writeln!(out, "serenity_ticks_total {}", state.ticks_total);
    header(
        &mut out,
        "serenity_errors_total",
        "counter",
        "Errors: unreadable groups, failed or refused actions.",
    );
    let _ = writeln!(out, "serenity_errors_total {}", state.errors_total);
    header(
        &mut out,
        "serenity_restored_groups_total",
        "counter",
        "Freezes and throttles undone at start from the enforcement state file (left by an agent that did not stop cleanly).",
    );
    let _ = writeln!(
        out,
        "serenity_restored_groups_total {}",
        state.restored_total
    );
    header(
        &mut out,
        "serenity_config_reload_failures_total",
        "counter",
        "Configuration reloads (SIGHUP) refused; the running configuration was kept.",
    );
    let _ = writeln!(
        out,
        "serenity_config_reload_failures_total {}",
        state.reload_failures_total
    );
    gauge(
        &mut out,
        "serenity_allowance_cpus",
        "CPUs the best-effort parent group may use (the SLO controller's allowance).",
        state.allowance_cpus,
    );
    gauge(
        &mut out,
        "serenity_allowance_mem_bytes",
        "Memory the best-effort parent group may use, bytes.",
        state.allowance_mem_bytes,
    );
    header(
        &mut out,
        "serenity_allowance_steps_total",
        "counter",
        "Steps of the SLO controller (revoke, shrink, hold, grow), one per tick.",
    );
    for (step, n) in &state.allowance_steps_total {
        let _ = writeln!(
            out,
            "serenity_allowance_steps_total{} {n}",
            labels(&[("step", step)])
        );
    }
    header(
        &mut out,
        "serenity_sli",
        "gauge",
        "Latest value of a service-level indicator, in its unit.",
    );
    for (name, m) in &state.slis {
        if let Some(v) = m.value {
            let _ = writeln!(
                out,
                "serenity_sli{} {}",
                labels(&[("sli", name)]),
                number(v)
            );
        }
    }
    header(
        &mut out,
        "serenity_sli_age_seconds",
        "gauge",
        "Seconds since the SLI's latest value was measured, at the last tick.",
    );
    for (name, m) in &state.slis {
        if let Some(v) = m.age_secs {
            let _ = writeln!(
                out,
                "serenity_sli_age_seconds{} {}",
                labels(&[("sli", name)]),
                number(v)
            );
        }
    }
    header(
        &mut out,
        "serenity_sli_fetch_failures_total",
        "counter",
        "Failed fetches of the SLI (timeout, refused, unparsable).",
    );
    for (name, m) in &state.slis {
        let _ = writeln!(
            out,
            "serenity_sli_fetch_failures_total{} {}",
            labels(&[("sli", name)]),
            m.failures_total
        );
    }
    out
}

/// The content type of `/summary`.
pub const JSON: &str = "application/json";

/// Answers the metrics listener's requests: `GET /metrics` (and `HEAD`)
/// renders the last tick; `GET /summary` the node summary as JSON; `/`
/// says where they are; other paths are 404, other methods 405.
pub fn route(metrics: &Metrics, request: &Request) -> Response {
    let read = matches!(request.method.as_str(), "GET" | "HEAD");
    match (read, request.path.as_str()) {
        (true, "/metrics") => Response {
            content_type: CONTENT_TYPE,
            ..Response::text(200, metrics.render())
        },
        (true, "/summary") => match serde_json::to_vec(&metrics.summary()) {
            Ok(body) => Response {
                status: 200,
                content_type: JSON,
                headers: Vec::new(),
                body,
            },
            Err(e) => Response::text(500, format!("cannot encode the node summary: {e}\n")),
        },
        (true, "/") => Response::text(
            200,
            "serenity agent: metrics at /metrics, the node summary at /summary\n",
        ),
        (true, _) => Response::text(404, "not found\n"),
        (false, _) => Response::text(405, "only GET and HEAD\n").with_header("Allow", "GET, HEAD"),
    }
}

/// The metrics listener on `addr` (port 0 picks a free port), serving
/// [`route`] within the default [`Limits`]; it stops when dropped.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> io::Result<HttpServer> {
    let handler: Handler = Arc::new(move |request: &Request| route(&metrics, request));
    HttpServer::start("serenity-metrics", addr, Limits::default(), handler)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_help_type_and_escaped_labels() {
        let mut state = MetricsState {
            slack_cpus: Some(1.5),
            ticks_total: 3,
            tick_seconds: 0.002,
            ..Default::default()
        };
        state.signals.push(SignalValue {
            pipeline: "agent-qos".into(),
            group: "be/we\"ird\\name".into(),
            signal: "cpu_usage".into(),
            value: 0.25,
        });
        state
            .corrections_total
            .insert(("kill".into(), "enforce".into()), 2);
        state.valve_open.insert("estimator".into(), false);
        let text = render(&state);
        assert!(text.contains("# HELP serenity_slack_cpus "));
        assert!(text.contains("# TYPE serenity_slack_cpus gauge\nserenity_slack_cpus 1.5\n"));
        assert!(text.contains("# TYPE serenity_slack_mem_bytes gauge\n# HELP"));
        assert!(text.contains(
            "serenity_signal{pipeline=\"agent-qos\",group=\"be/we\\\"ird\\\\name\",signal=\"cpu_usage\"} 0.25\n"
        ));
        assert!(text.contains("serenity_corrections_total{action=\"kill\",mode=\"enforce\"} 2\n"));
        assert!(text.contains("serenity_valve_open{pipeline=\"estimator\"} 0\n"));
        assert!(text.contains("serenity_ticks_total 3\n"));
        assert!(text.contains("serenity_tick_seconds 0.002\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok() || value == "NaN", "{line}");
        }
    }

    fn request(method: &str, path: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn routes_answer_metrics_root_404_and_405() {
        let metrics = Metrics::default();
        metrics.lock().ticks_total = 7;
        let scrape = route(&metrics, &request("GET", "/metrics"));
        assert_eq!((scrape.status, scrape.content_type), (200, CONTENT_TYPE));
        assert!(String::from_utf8_lossy(&scrape.body).contains("serenity_ticks_total 7\n"));
        assert_eq!(route(&metrics, &request("HEAD", "/metrics")).status, 200);
        assert_eq!(route(&metrics, &request("GET", "/")).status, 200);
        metrics.record_tick(TickRecord {
            corrections: 2,
            contentions: vec![("cpu_usage".into(), "overload".into())],
            ..TickRecord::default()
        });
        let summary = route(&metrics, &request("GET", "/summary"));
        assert_eq!((summary.status, summary.content_type), (200, JSON));
        let parsed: NodeSummary = serde_json::from_slice(&summary.body).unwrap();
        assert_eq!((parsed.ticks, parsed.corrections[0].total), (1, 2));
        assert!(parsed.contention.active);
        assert_eq!(route(&metrics, &request("GET", "/nope")).status, 404);
        let post = route(&metrics, &request("POST", "/metrics"));
        assert_eq!(post.status, 405);
        assert_eq!(post.headers, vec![("Allow", "GET, HEAD".to_owned())]);
    }

    /// The promtool lints (`promtool check metrics`, which
    /// tests/prometheus/run.sh runs on a live scrape) that a change here
    /// could break: HELP and TYPE for every family, `_total` on counters
    /// and only on them, no abbreviated units.
    #[test]
    fn exposition_follows_the_promtool_naming_lints() {
        let mut state = MetricsState {
            slack_cpus: Some(0.0),
            slack_mem_bytes: Some(0.0),
            ..Default::default()
        };
        state
            .corrections_total
            .insert(("freeze".into(), "dry_run".into()), 0);
        let text = render(&state);
        let types: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' '))
            .collect();
        // Exactly the families of the table at the top of this file, with
        // their types: the docs and the exposition agree.
        let documented: Vec<(&str, &str)> = include_str!("metrics.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! | `serenity_"))
            .filter_map(|l| {
                let (name, rest) = l.split_once("` | ")?;
                let kind = rest.split(" |").next()?;
                Some((name, kind))
            })
            .collect();
        let mut exposed: Vec<(String, &str)> = types
            .iter()
            .map(|(n, k)| (n.trim_start_matches("serenity_").to_owned(), *k))
            .collect();
        exposed.sort();
        let mut documented: Vec<(String, &str)> = documented
            .into_iter()
            .map(|(n, k)| (n.to_owned(), k))
            .collect();
        documented.sort();
        assert_eq!(
            exposed, documented,
            "the exposition and the table above differ"
        );
        for (name, kind) in types {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}: no HELP");
            assert!(name.starts_with("serenity_"), "{name}");
            assert_eq!(
                name.ends_with("_total"),
                kind == "counter",
                "{name} is a {kind}: `_total` goes on counters only"
            );
            for abbreviation in ["_ms", "_sec", "_secs", "_mb", "_mib", "_kb", "_pct"] {
                assert!(
                    !name.contains(&format!("{abbreviation}_")) && !name.ends_with(abbreviation),
                    "{name}: abbreviated unit {abbreviation}"
                );
            }
        }
    }

    #[test]
    fn odd_numbers_use_prometheus_spellings() {
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(-f64::INFINITY), "-Inf");
        assert_eq!(number(1e-9), "0.000000001");
    }
}
