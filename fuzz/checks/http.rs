//! Check shared by the `http` fuzz target and the corpus replay test: any
//! bytes as a client's side of one connection to the agent's metrics
//! listener (hyper's parser, the limits, the route). The server answers
//! with an HTTP/1.x status line or closes; it never panics, and only `GET`
//! or `HEAD` of `/metrics` is answered with the metrics.

use serenity_agent::http::{serve_bytes, Handler, Limits, Request};
use serenity_agent::metrics::{route, Metrics};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

fn handler() -> Handler {
    static M: OnceLock<Arc<Metrics>> = OnceLock::new();
    let metrics = M
        .get_or_init(|| {
            let m = Arc::new(Metrics::default());
            m.lock().ticks_total = 1;
            m
        })
        .clone();
    Arc::new(move |request: &Request| {
        let response = route(&metrics, request);
        if response.status == 200 && request.path == "/metrics" {
            assert!(
                matches!(request.method.as_str(), "GET" | "HEAD"),
                "{request:?}"
            );
        }
        response
    })
}

/// Panics when an invariant breaks.
pub fn check(data: &[u8]) {
    let limits = Limits {
        head_timeout: Duration::from_millis(200),
        exchange_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let out = serve_bytes(data, limits, handler());
    assert!(
        out.is_empty() || out.starts_with(b"HTTP/1.1 ") || out.starts_with(b"HTTP/1.0 "),
        "not an HTTP answer: {:?}",
        String::from_utf8_lossy(&out[..out.len().min(80)])
    );
}
