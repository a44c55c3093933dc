//! The Prometheus text endpoint (exposition format 0.0.4).
//!
//! | metric | type | labels | meaning |
//! | --- | --- | --- | --- |
//! | `serenity_loadgen_request_duration_seconds` | histogram | `le` | latency from the scheduled send time, since the start (timeouts at the timeout) |
//! | `serenity_loadgen_requests_sent_total` | counter | | requests written to a connection |
//! | `serenity_loadgen_requests_total` | counter | `outcome` | requests finished: `completed`, `error`, `timeout` |
//! | `serenity_loadgen_window_latency_seconds` | summary | `quantile` | p50, p95, p99 of the last complete window (NaN if it had no samples), with that window's `_sum` and `_count` (a summary over one window, so each series is a gauge) |
//! | `serenity_loadgen_window_max_latency_seconds` | gauge | | the last complete window's largest latency |
//! | `serenity_loadgen_window_end_timestamp_seconds` | gauge | | unix time the last complete window ended (absent before the first) |
//! | `serenity_loadgen_target_rate` | gauge | | the configured request rate, per second |
//!
//! The listener is one thread serving one connection at a time: each
//! request head is read with a 2 s timeout and at most 8 KiB, answered,
//! and the connection closed, so a slow or hostile client delays scrapes
//! by at most 2 s and holds no memory.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::window::Stats;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const MAX_HEAD: usize = 8192;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

fn gauge(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

fn number(v: Option<f64>) -> String {
    match v {
        // Rounded to nanoseconds: milliseconds / 1000 leaves float noise.
        Some(v) if v.is_finite() => format!("{}", (v * 1e9).round() / 1e9),
        _ => "NaN".into(),
    }
}

/// Renders `stats` as exposition text.
pub fn render(stats: &Stats) -> String {
    let mut out = String::new();
    stats.prom.render(
        &mut out,
        "serenity_loadgen_request_duration_seconds",
        "Request latency from the scheduled send time (timeouts counted at the timeout).",
    );
    let _ = writeln!(
        out,
        "# HELP serenity_loadgen_requests_sent_total Requests written to a connection.\n\
         # TYPE serenity_loadgen_requests_sent_total counter\n\
         serenity_loadgen_requests_sent_total {}",
        stats.total.sent
    );
    let _ = writeln!(
        out,
        "# HELP serenity_loadgen_requests_total Requests finished, by outcome.\n\
         # TYPE serenity_loadgen_requests_total counter"
    );
    for (outcome, n) in [
        ("completed", stats.total.completed),
        ("error", stats.total.errors),
        ("timeout", stats.total.timeouts),
    ] {
        let _ = writeln!(
            out,
            "serenity_loadgen_requests_total{{outcome=\"{outcome}\"}} {n}"
        );
    }
    // A summary (not a gauge: promtool refuses a `quantile` label on
    // anything else) whose quantiles, sum and count cover the last window.
    let name = "serenity_loadgen_window_latency_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Latency quantiles (nearest rank), sum and count of the last complete window.\n\
         # TYPE {name} summary"
    );
    if let Some(w) = &stats.last_window {
        for (q, v) in [("0.5", w.p50_ms), ("0.95", w.p95_ms), ("0.99", w.p99_ms)] {
            let _ = writeln!(
                out,
                "{name}{{quantile=\"{q}\"}} {}",
                number(v.map(|ms| ms / 1e3))
            );
        }
        let _ = writeln!(out, "{name}_sum {}", number(Some(w.sum_ms / 1e3)));
        let _ = writeln!(out, "{name}_count {}", w.samples);
    }
    gauge(
        &mut out,
        "serenity_loadgen_window_max_latency_seconds",
        "Largest latency of the last complete window.",
    );
    if let Some(w) = &stats.last_window {
        let _ = writeln!(
            out,
            "serenity_loadgen_window_max_latency_seconds {}",
            number(w.max_ms.map(|ms| ms / 1e3))
        );
    }
    gauge(
        &mut out,
        "serenity_loadgen_window_end_timestamp_seconds",
        "Unix time the last complete window ended.",
    );
    if let Some(w) = &stats.last_window {
        let _ = writeln!(
            out,
            "serenity_loadgen_window_end_timestamp_seconds {}",
            w.end
        );
    }
    gauge(
        &mut out,
        "serenity_loadgen_target_rate",
        "The configured request rate, requests per second.",
    );
    let _ = writeln!(out, "serenity_loadgen_target_rate {}", stats.target_rate);
    out
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

fn serve_one(mut stream: TcpStream, stats: &Mutex<Stats>) {
    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_HEAD {
            respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            );
            return;
        }
    }
    let first = String::from_utf8_lossy(&head);
    let mut parts = first.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => {
            // A copy, rendered outside the lock: the receivers record every
            // answer under it, and formatting must not delay them (that
            // would be latency the bench adds to what it measures).
            let copy = stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let body = render(&copy);
            respond(&mut stream, "200 OK", CONTENT_TYPE, &body);
        }
        ("GET", _) => respond(&mut stream, "404 Not Found", "text/plain", "try /metrics\n"),
        _ => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n",
        ),
    }
}

/// Serves `/metrics` from `listener` on one thread until `stop` is set.
pub fn spawn(
    listener: TcpListener,
    stats: Arc<Mutex<Stats>>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<thread::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        serve_one(stream, &stats);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_gauges_appear_after_the_first_window() {
        let mut s = Stats::new(3000.0);
        let before = render(&s);
        assert!(!before.contains("serenity_loadgen_window_latency_seconds{"));
        assert!(before.contains("serenity_loadgen_target_rate 3000\n"));
        s.completed(200_000, false);
        s.completed(400_000, false);
        s.sent(3);
        s.timeout(1_000_000_000);
        s.last_window = Some(s.window.close(100.0, 101.0));
        let text = render(&s);
        assert!(text.contains("serenity_loadgen_window_latency_seconds{quantile=\"0.5\"} 0.0004\n"));
        assert!(text.contains("serenity_loadgen_window_latency_seconds{quantile=\"0.99\"} 1\n"));
        assert!(text.contains("serenity_loadgen_window_end_timestamp_seconds 101\n"));
        assert!(text.contains("# TYPE serenity_loadgen_window_latency_seconds summary\n"));
        assert!(text.contains("serenity_loadgen_window_latency_seconds_sum 1.0006\n"));
        assert!(text.contains("serenity_loadgen_window_latency_seconds_count 3\n"));
        assert!(text.contains("serenity_loadgen_requests_sent_total 3\n"));
        assert!(text.contains("serenity_loadgen_requests_total{outcome=\"timeout\"} 1\n"));
        assert!(
            text.contains("serenity_loadgen_request_duration_seconds_bucket{le=\"0.0002\"} 1\n")
        );
        assert!(text.contains("serenity_loadgen_request_duration_seconds_count 3\n"));
    }

    #[test]
    fn the_listener_answers_metrics_404_and_405() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(Stats::new(10.0)));
        let h = spawn(listener, stats, stop.clone()).unwrap();
        let get = |req: &str| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let ok = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("serenity_loadgen_target_rate 10\n"));
        assert!(get("GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get("POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    }
}
