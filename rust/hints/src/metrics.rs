//! The hints service's own Prometheus metrics (text exposition 0.0.4 at
//! `GET /metrics`).
//!
//! | metric | type | labels | meaning |
//! | --- | --- | --- | --- |
//! | `serenity_hints_nodes` | gauge | | nodes in the configuration |
//! | `serenity_hints_nodes_seen` | gauge | | nodes with at least one summary |
//! | `serenity_hints_stale_nodes` | gauge | | nodes whose data is stale (or missing) now |
//! | `serenity_hints_polls_total` | counter | `result` | polls of a node (`ok`, `error`) |
//! | `serenity_hints_requests_total` | counter | `endpoint`, `code` | requests answered |
//! | `serenity_hints_request_seconds` | histogram | `endpoint` | time to answer a request (monotonic clock) |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds of the latency histogram's buckets, seconds.
pub const LATENCY_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Counters {
    polls: BTreeMap<&'static str, u64>,
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// The service's counters.
#[derive(Debug, Default)]
pub struct HintsMetrics {
    counters: Mutex<Counters>,
}

impl HintsMetrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one poll (`ok` or not).
    pub fn poll(&self, ok: bool) {
        *self
            .lock()
            .polls
            .entry(if ok { "ok" } else { "error" })
            .or_default() += 1;
    }

    /// Counts one request of `endpoint` answered with `code` in `seconds`.
    pub fn request(&self, endpoint: &str, code: u16, seconds: f64) {
        let mut c = self.lock();
        *c.requests.entry((endpoint.to_owned(), code)).or_default() += 1;
        let h = c.latency.entry(endpoint.to_owned()).or_default();
        for (bound, n) in LATENCY_BUCKETS.iter().zip(h.counts.iter_mut()) {
            if seconds <= *bound {
                *n += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The exposition, with the node gauges given by the caller.
    pub fn render(&self, nodes: usize, seen: usize, stale: usize) -> String {
        let c = self.lock();
        let mut out = String::new();
        let header = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        header(
            &mut out,
            "serenity_hints_nodes",
            "gauge",
            "Nodes in the configuration.",
        );
        let _ = writeln!(out, "serenity_hints_nodes {nodes}");
        header(
            &mut out,
            "serenity_hints_nodes_seen",
            "gauge",
            "Nodes with at least one summary.",
        );
        let _ = writeln!(out, "serenity_hints_nodes_seen {seen}");
        header(
            &mut out,
            "serenity_hints_stale_nodes",
            "gauge",
            "Nodes whose data is stale or missing.",
        );
        let _ = writeln!(out, "serenity_hints_stale_nodes {stale}");
        header(
            &mut out,
            "serenity_hints_polls_total",
            "counter",
            "Polls of a node's summary, by result.",
        );
        for result in ["ok", "error"] {
            let n = c.polls.get(result).copied().unwrap_or(0);
            let _ = writeln!(out, "serenity_hints_polls_total{{result=\"{result}\"}} {n}");
        }
        header(
            &mut out,
            "serenity_hints_requests_total",
            "counter",
            "Requests answered, by endpoint and status code.",
        );
        for ((endpoint, code), n) in &c.requests {
            let _ = writeln!(
                out,
                "serenity_hints_requests_total{{endpoint=\"{endpoint}\",code=\"{code}\"}} {n}"
            );
        }
        header(
            &mut out,
            "serenity_hints_request_seconds",
            "histogram",
            "Time to answer a request, seconds.",
        );
        for (endpoint, h) in &c.latency {
            for (bound, n) in LATENCY_BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "serenity_hints_request_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "serenity_hints_request_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {}\n\
                 serenity_hints_request_seconds_sum{{endpoint=\"{endpoint}\"}} {}\n\
                 serenity_hints_request_seconds_count{{endpoint=\"{endpoint}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_the_documented_families_and_cumulative_buckets() {
        let m = HintsMetrics::default();
        m.poll(true);
        m.poll(false);
        m.poll(false);
        m.request("filter", 200, 0.002);
        m.request("filter", 400, 0.3);
        let text = m.render(3, 2, 1);
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        let documented: Vec<String> = include_str!("metrics.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! | `"))
            .filter_map(|l| {
                let (name, rest) = l.split_once("` | ")?;
                Some(format!("{name} {}", rest.split(" |").next()?))
            })
            .collect();
        assert_eq!(families, documented);
        assert!(text.contains("serenity_hints_stale_nodes 1\n"));
        assert!(text.contains("serenity_hints_polls_total{result=\"error\"} 2\n"));
        assert!(
            text.contains("serenity_hints_requests_total{endpoint=\"filter\",code=\"400\"} 1\n")
        );
        assert!(text.contains(
            "serenity_hints_request_seconds_bucket{endpoint=\"filter\",le=\"0.001\"} 0\n"
        ));
        assert!(text.contains(
            "serenity_hints_request_seconds_bucket{endpoint=\"filter\",le=\"0.0025\"} 1\n"
        ));
        assert!(text.contains(
            "serenity_hints_request_seconds_bucket{endpoint=\"filter\",le=\"+Inf\"} 2\n"
        ));
        assert!(text.contains("serenity_hints_request_seconds_count{endpoint=\"filter\"} 2\n"));
    }
}
