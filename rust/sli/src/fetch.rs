//! One fetch of one SLI, synchronous.

use crate::prometheus::{self, quote, Buckets, Increase};
use crate::{Reading, SliError, SliErrorKind, MAX_BODY_BYTES};
use serenity_core::sli::{SliSource, SliSpec};
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a source keeps between fetches: the histogram scrapes of the last
/// `window_secs` (the oldest of them is the base of the increase), the HTTP
/// agent (connections are reused), and what the last fetch noticed.
#[derive(Default)]
pub struct SourceState {
    previous: std::collections::VecDeque<(std::time::Instant, Buckets)>,
    agent: Option<(Duration, ureq::Agent)>,
    note: Option<String>,
}

impl std::fmt::Debug for SourceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceState")
            .field("previous", &self.previous)
            .field("note", &self.note)
            .finish_non_exhaustive()
    }
}

impl SourceState {
    /// A fresh state (no previous scrape).
    pub fn new() -> Self {
        Self::default()
    }

    /// What the last fetch noticed without failing: lines of the exposition
    /// it skipped, or a histogram that restarted (a counter reset).
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }
}

/// A duration from seconds, `fallback` when not a usable number.
pub(crate) fn secs(value: f64, fallback: Duration) -> Duration {
    if value.is_finite() && value > 0.0 {
        Duration::try_from_secs_f64(value.min(86_400.0)).unwrap_or(fallback)
    } else {
        fallback
    }
}

/// Seconds since the Unix epoch of `t`.
pub(crate) fn unix_secs(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

struct Failure {
    kind: SliErrorKind,
    problem: String,
}

fn fail(kind: SliErrorKind, problem: impl Into<String>) -> Failure {
    Failure {
        kind,
        problem: problem.into(),
    }
}

/// Fetches `spec` once: `Ok(None)` when the source answered but has no value
/// yet (a histogram's first scrape, or no observation since the previous
/// one).
pub fn fetch_once(spec: &SliSpec, state: &mut SourceState) -> Result<Option<Reading>, SliError> {
    state.note = None;
    let fetched = match &spec.source {
        SliSource::Prometheus {
            url,
            metric,
            labels,
            quantile,
        } => http_get(spec, state, url).and_then(|(body, at)| {
            prometheus_value(state, &body, metric, labels, *quantile, spec.window_secs)
                .map(|v| v.map(|value| (value, at)))
        }),
        SliSource::Json { url, pointer } => http_get(spec, state, url)
            .and_then(|(body, at)| json_number(&body, pointer).map(|value| Some((value, at)))),
        SliSource::File { path, pointer } => read_file(path, pointer.as_deref()).map(Some),
    };
    let error = |f: Failure| SliError {
        sli: spec.name.clone(),
        source_kind: spec.source.kind(),
        location: spec.source.location().to_owned(),
        kind: f.kind,
        problem: f.problem,
    };
    match fetched {
        Ok(None) => Ok(None),
        Ok(Some((raw, timestamp))) => {
            let value = raw * spec.scale;
            if value.is_finite() {
                Ok(Some(Reading { value, timestamp }))
            } else {
                Err(error(fail(
                    SliErrorKind::NotANumber,
                    format!(
                        "the value {raw} (× scale {}) is not a finite number",
                        spec.scale
                    ),
                )))
            }
        }
        Err(f) => Err(error(f)),
    }
}

fn agent(state: &mut SourceState, timeout: Duration) -> ureq::Agent {
    match &state.agent {
        Some((t, a)) if *t == timeout => a.clone(),
        _ => {
            let config = ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .http_status_as_error(false)
                .max_redirects(0)
                .proxy(None)
                .build();
            let a: ureq::Agent = config.into();
            state.agent = Some((timeout, a.clone()));
            a
        }
    }
}

/// GETs `url`: the body and the wall-clock time it arrived.
fn http_get(spec: &SliSpec, state: &mut SourceState, url: &str) -> Result<(Vec<u8>, f64), Failure> {
    match url.strip_prefix("http://") {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {}
        _ => return Err(fail(
            SliErrorKind::Unsupported,
            "the URL must be http://host[:port]/path (https and other schemes are not supported)",
        )),
    }
    let timeout = secs(spec.timeout_secs, Duration::from_millis(500));
    let agent = agent(state, timeout);
    let transport = |e: ureq::Error, doing: &str| match e {
        ureq::Error::Timeout(_) => fail(
            SliErrorKind::Timeout,
            format!(
                "no complete answer within timeout_secs = {} ({doing})",
                spec.timeout_secs
            ),
        ),
        ureq::Error::BodyExceedsLimit(n) => fail(
            SliErrorKind::TooLarge,
            format!("the body is larger than {n} bytes"),
        ),
        e => fail(SliErrorKind::Transport, format!("{doing}: {e}")),
    };
    let mut response = agent.get(url).call().map_err(|e| transport(e, "GET"))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(fail(
            SliErrorKind::Status,
            format!("the server answered HTTP {status}, not 200"),
        ));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_vec()
        .map_err(|e| transport(e, "reading the body"))?;
    Ok((body, unix_secs(SystemTime::now())))
}

fn content(problem: impl Into<String>) -> Failure {
    fail(SliErrorKind::Content, problem)
}

fn prometheus_value(
    state: &mut SourceState,
    body: &[u8],
    metric: &str,
    labels: &[(String, String)],
    quantile: Option<f64>,
    window_secs: f64,
) -> Result<Option<f64>, Failure> {
    let text = String::from_utf8_lossy(body);
    let exposition = prometheus::parse(&text);
    let skipped = exposition.skipped_note();
    let value = match quantile {
        None => {
            let sample =
                prometheus::select_one(&exposition, metric, labels).map_err(|e| content(e.0))?;
            if !sample.value.is_finite() {
                return Err(fail(
                    SliErrorKind::NotANumber,
                    format!(
                        "{sample} on line {} is {}, not a finite number",
                        sample.line, sample.value
                    ),
                ));
            }
            Some(sample.value)
        }
        Some(q) => {
            let current = prometheus::select_buckets(&exposition, metric, labels)
                .map_err(|e| content(e.0))?;
            let now = std::time::Instant::now();
            let window = secs(window_secs, Duration::ZERO);
            // Keep the newest scrape at least `window` old (the base) and
            // those since; with no window, the previous scrape.
            while state.previous.len() >= 2 && state.previous[1].0 + window <= now {
                state.previous.pop_front();
            }
            let base = state.previous.front().map(|(_, b)| b.clone());
            state.previous.push_back((now, current.clone()));
            match base {
                None => None,
                Some(previous) => match prometheus::quantile_of_increase(q, &previous, &current) {
                    Increase::Quantile(v) => Some(v),
                    Increase::Nothing => None,
                    Increase::Restarted(why) => {
                        state.previous.clear();
                        state.previous.push_back((now, current));
                        state.note = Some(format!(
                            "the histogram {metric} restarted ({why}); this scrape is the new base"
                        ));
                        None
                    }
                },
            }
        }
    };
    if let Some(s) = skipped {
        state.note = Some(match state.note.take() {
            Some(n) => format!("{n}; {s}"),
            None => s,
        });
    }
    Ok(value)
}

/// A short description of a JSON value for messages.
fn describe(v: &serde_json::Value) -> String {
    let kind = serenity_core::model::json_kind(v);
    let text = serde_json::to_string(v).unwrap_or_default();
    format!("{kind}, {}", quote(&text))
}

fn json_number(body: &[u8], pointer: &str) -> Result<f64, Failure> {
    let doc: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| content(format!("the document is not JSON: {e}")))?;
    let Some(found) = doc.pointer(pointer) else {
        return Err(content(format!(
            "the document has nothing at pointer {pointer:?}"
        )));
    };
    found.as_f64().ok_or_else(|| {
        fail(
            SliErrorKind::NotANumber,
            format!(
                "pointer {pointer:?} finds {}, not a number",
                describe(found)
            ),
        )
    })
}

fn read_file(path: &str, pointer: Option<&str>) -> Result<(f64, f64), Failure> {
    let io = |e: std::io::Error, doing: &str| fail(SliErrorKind::Io, format!("{doing}: {e}"));
    let file = std::fs::File::open(path).map_err(|e| io(e, "cannot open the file"))?;
    let mut bytes = Vec::new();
    (&file)
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io(e, "cannot read the file"))?;
    if bytes.len() as u64 > MAX_BODY_BYTES {
        return Err(fail(
            SliErrorKind::TooLarge,
            format!("the file is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    let modified = file
        .metadata()
        .and_then(|m| m.modified())
        .map_err(|e| io(e, "cannot read the file's modification time"))?;
    let timestamp = unix_secs(modified);
    let value = match pointer {
        Some(p) => json_number(&bytes, p)?,
        None => {
            let text = String::from_utf8_lossy(&bytes);
            let word = text.trim();
            if word.is_empty() {
                return Err(content("the file is empty (a number was expected)"));
            }
            prometheus::parse_value(word).ok_or_else(|| {
                fail(
                    SliErrorKind::NotANumber,
                    format!("the file holds {}, not a number", quote(word)),
                )
            })?
        }
    };
    Ok((value, timestamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_pointer_and_what_was_found() {
        let body = br#"{"latency": {"p99": "fast", "p50": 0.4}}"#;
        assert_eq!(json_number(body, "/latency/p50").ok(), Some(0.4));
        let e = json_number(body, "/latency/p99").err().unwrap();
        assert_eq!(e.kind, SliErrorKind::NotANumber);
        assert_eq!(
            e.problem,
            "pointer \"/latency/p99\" finds a string, \"\\\"fast\\\"\", not a number"
        );
        let e = json_number(body, "/latency/p999").err().unwrap();
        assert_eq!(
            e.problem,
            "the document has nothing at pointer \"/latency/p999\""
        );
        let e = json_number(b"{", "/a").err().unwrap();
        assert!(
            e.problem.starts_with("the document is not JSON: "),
            "{}",
            e.problem
        );
    }

    #[test]
    fn unusable_seconds_fall_back() {
        let d = Duration::from_millis(7);
        assert_eq!(secs(f64::NAN, d), d);
        assert_eq!(secs(-1.0, d), d);
        assert_eq!(secs(0.0, d), d);
        assert_eq!(secs(f64::INFINITY, d), d);
        assert_eq!(secs(1e300, d), Duration::from_secs(86_400));
        assert_eq!(secs(0.25, d), Duration::from_millis(250));
    }
}
