//! Polls every node's `GET /summary` concurrently, each within a timeout,
//! and keeps the results in the [`NodeTable`].
//!
//! A round hands the nodes to at most [`MAX_WORKERS`] threads (a node at a
//! time each), so a round over N nodes takes about
//! `ceil(N / MAX_WORKERS) × timeout` at worst and one slow node holds up
//! only its worker. Rounds start every `poll_interval` (a round that
//! overruns delays the next one). A failed poll keeps the node's previous
//! summary, which ages until it is stale.

use crate::nodes::{parse_summary, Health, NodeTable};
use crate::HintsMetrics;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Poller threads of one round, at most.
pub const MAX_WORKERS: usize = 16;

/// A summary body larger than this is refused.
pub const MAX_SUMMARY_BYTES: u64 = 1024 * 1024;

/// The HTTP client of the polls: `timeout` for the whole exchange, statuses
/// reported by [`fetch`] itself.
pub fn client(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// One poll of `base`'s summary; the error names the URL and what failed.
pub fn fetch(agent: &ureq::Agent, base: &str) -> Result<serenity_core::NodeSummary, String> {
    let url = format!("{base}/summary");
    let mut response = agent
        .get(&url)
        .call()
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(format!(
            "GET {url}: status {status} (a serenity agent answers 200)"
        ));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_SUMMARY_BYTES)
        .read_to_string()
        .map_err(|e| format!("GET {url}: reading the body: {e}"))?;
    parse_summary(&url, &body)
}

/// Polls every node of `table` once, concurrently; returns when all are
/// done.
pub fn poll_round(agent: &ureq::Agent, table: &NodeTable, metrics: &HintsMetrics) {
    let nodes = table.urls();
    let next = AtomicUsize::new(0);
    let workers = nodes.len().clamp(1, MAX_WORKERS);
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((name, url)) = nodes.get(i) else {
                    return;
                };
                let result = fetch(agent, url);
                metrics.poll(result.is_ok());
                if let Err(e) = &result {
                    log::debug!(target: "serenity", "node {name}: {e}");
                }
                match table.update(name, result, Instant::now()) {
                    Some(Health::Answering) => {
                        log::info!(target: "serenity", "node {name} answers at {url}")
                    }
                    Some(Health::Failing(e)) => log::warn!(
                        target: "serenity",
                        "node {name} does not answer: {e}; its data ages until it is stale \
                         (neutral: never preferred, never failed)"
                    ),
                    None => {}
                }
            });
        }
    });
}

/// The polling thread; stopped and joined on drop.
#[derive(Debug)]
pub struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    /// Starts polling every `interval`, each poll within `timeout`.
    pub fn start(
        table: Arc<NodeTable>,
        metrics: Arc<HintsMetrics>,
        interval: Duration,
        timeout: Duration,
    ) -> std::io::Result<Poller> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::Builder::new()
            .name("serenity-hints-poll".into())
            .spawn(move || {
                let agent = client(timeout);
                let mut next = Instant::now();
                while !flag.load(Ordering::SeqCst) {
                    poll_round(&agent, &table, &metrics);
                    next += interval;
                    let now = Instant::now();
                    if next < now {
                        next = now;
                    }
                    while !flag.load(Ordering::SeqCst) {
                        let now = Instant::now();
                        if now >= next {
                            break;
                        }
                        thread::sleep((next - now).min(Duration::from_millis(50)));
                    }
                }
            })?;
        Ok(Poller {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
