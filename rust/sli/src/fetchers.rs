//! The fetch threads of a pipeline's SLIs and the hand-over of their latest
//! readings into usage snapshots.

use crate::fetch::{fetch_once, secs, SourceState};
use crate::Reading;
use serenity_core::model::proto::{ResourceUsage, SliSample};
use serenity_core::sli::SliSpec;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One SLI's fetcher as seen from outside, for metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct SliStatus {
    /// The SLI's name.
    pub name: String,
    /// The latest good reading (`None` until the first).
    pub latest: Option<Reading>,
    /// Fetches that answered (with or without a value).
    pub fetches_ok: u64,
    /// Fetches that failed.
    pub fetches_failed: u64,
    /// The error of the most recent fetch when it failed; `None` once a
    /// fetch answers again.
    pub last_error: Option<String>,
}

/// The stop flag the threads wait on.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A fetch thread never panics while holding the lock; should one, the
    // status it left is still a status.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Stop {
    fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Sleeps until `deadline` or the stop; true when stopped.
    fn wait_until(&self, deadline: Instant) -> bool {
        let mut stopped = lock(&self.stopped);
        loop {
            if *stopped {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopped = match self.wake.wait_timeout(stopped, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    fn stop(&self) {
        *lock(&self.stopped) = true;
        self.wake.notify_all();
    }
}

struct Worker {
    spec: SliSpec,
    status: Arc<Mutex<SliStatus>>,
    thread: Option<JoinHandle<()>>,
}

/// Fetchers for a pipeline's `[[sli]]` tables: one thread each
/// (`sli-<name>`), fetching every `interval_secs` with `timeout_secs`, and
/// keeping the latest good reading. Dropping it stops and joins the threads
/// (waiting at most the longest `timeout_secs` plus one second; a thread
/// stuck beyond that, e.g. on a hung file system, is left to finish alone).
pub struct SliFetchers {
    workers: Vec<Worker>,
    stop: Arc<Stop>,
}

impl std::fmt::Debug for SliFetchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SliFetchers")
            .field("status", &self.status())
            .finish()
    }
}

impl SliFetchers {
    /// Starts one thread per SLI (none for no SLI). A thread that cannot be
    /// started is logged and shows in [`SliFetchers::status`] as the error.
    pub fn start(specs: &[SliSpec]) -> SliFetchers {
        let stop = Arc::new(Stop::default());
        let workers = specs
            .iter()
            .map(|spec| {
                let status = Arc::new(Mutex::new(SliStatus {
                    name: spec.name.clone(),
                    latest: None,
                    fetches_ok: 0,
                    fetches_failed: 0,
                    last_error: None,
                }));
                let spawned = {
                    let spec = spec.clone();
                    let status = status.clone();
                    let stop = stop.clone();
                    std::thread::Builder::new()
                        .name(format!("sli-{}", spec.name.replace('\0', "")))
                        .spawn(move || run(&spec, &status, &stop))
                };
                let thread = match spawned {
                    Ok(t) => Some(t),
                    Err(e) => {
                        let m = format!(
                            "SLI {}: cannot start its fetch thread: {e}; it will have no value",
                            spec.name
                        );
                        log::error!(target: "serenity", "{m}");
                        lock(&status).last_error = Some(m);
                        None
                    }
                };
                Worker {
                    spec: spec.clone(),
                    status,
                    thread,
                }
            })
            .collect();
        SliFetchers { workers, stop }
    }

    /// Adds the latest reading of every SLI to the statistics of each
    /// executor it watches (executors without statistics are left alone), as
    /// a `serenity_slis` sample replacing any of the same name. An SLI
    /// without a reading yet adds nothing. Never waits for a fetch.
    pub fn inject(&self, usage: &mut ResourceUsage) {
        if self.workers.is_empty() {
            return;
        }
        let latest: Vec<Option<Reading>> = self
            .workers
            .iter()
            .map(|w| lock(&w.status).latest)
            .collect();
        for executor in &mut usage.executors {
            let Some(id) = executor
                .executor_info
                .as_ref()
                .and_then(|i| i.executor_id.as_ref())
                .and_then(|i| i.value.as_deref())
            else {
                continue;
            };
            let Some(statistics) = executor.statistics.as_mut() else {
                continue;
            };
            for (worker, reading) in self.workers.iter().zip(&latest) {
                let Some(reading) = reading else { continue };
                if !worker.spec.watches(id) {
                    continue;
                }
                let name = worker.spec.name.as_str();
                statistics
                    .serenity_slis
                    .retain(|s| s.name.as_deref() != Some(name));
                statistics.serenity_slis.push(SliSample {
                    name: Some(name.to_owned()),
                    value: Some(reading.value),
                    timestamp: Some(reading.timestamp),
                });
            }
        }
    }

    /// Each SLI's latest reading and counters, in the order of the specs.
    pub fn status(&self) -> Vec<SliStatus> {
        self.workers
            .iter()
            .map(|w| lock(&w.status).clone())
            .collect()
    }
}

impl Drop for SliFetchers {
    fn drop(&mut self) {
        if self.workers.is_empty() {
            return;
        }
        self.stop.stop();
        let longest = self
            .workers
            .iter()
            .map(|w| secs(w.spec.timeout_secs, Duration::from_millis(500)))
            .max()
            .unwrap_or_default();
        let deadline = Instant::now() + longest + Duration::from_secs(1);
        for w in &mut self.workers {
            let Some(thread) = w.thread.take() else {
                continue;
            };
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                // A panic in the thread was already reported by the panic
                // hook; nothing more to do with it here.
                let _ = thread.join();
            } else {
                log::warn!(
                    target: "serenity",
                    "SLI {}: its fetch of {} did not stop within {:.1} s; it is left to finish alone",
                    w.spec.name,
                    w.spec.source.location(),
                    (longest + Duration::from_secs(1)).as_secs_f64()
                );
            }
        }
    }
}

/// A fetch thread: fetch, record, log changes, sleep to the next period.
fn run(spec: &SliSpec, status: &Mutex<SliStatus>, stop: &Stop) {
    let period = secs(spec.interval_secs, Duration::from_secs(1)).max(Duration::from_millis(10));
    let mut state = SourceState::new();
    let mut failing: Option<String> = None;
    let mut failures_in_row = 0u64;
    let mut said_note: Option<String> = None;
    let mut had_value = false;
    let mut next = Instant::now();
    while !stop.is_stopped() {
        let result = fetch_once(spec, &mut state);
        match result {
            Ok(reading) => {
                {
                    let mut s = lock(status);
                    s.fetches_ok += 1;
                    s.last_error = None;
                    if reading.is_some() {
                        s.latest = reading;
                    }
                }
                if let Some(was) = failing.take() {
                    log::info!(
                        target: "serenity",
                        "SLI {}: {} {} answers again after {failures_in_row} failed fetch(es) (the last: {was})",
                        spec.name,
                        spec.source.kind(),
                        spec.source.location()
                    );
                }
                failures_in_row = 0;
                if let (Some(r), false) = (reading, had_value) {
                    had_value = true;
                    log::info!(
                        target: "serenity",
                        "SLI {}: first value from {} {}: {}",
                        spec.name,
                        spec.source.kind(),
                        spec.source.location(),
                        spec.show(r.value)
                    );
                }
                let note = state.note().map(str::to_owned);
                if note != said_note {
                    if let Some(n) = &note {
                        log::warn!(
                            target: "serenity",
                            "SLI {}: {} {}: {n}",
                            spec.name,
                            spec.source.kind(),
                            spec.source.location()
                        );
                    }
                    said_note = note;
                }
            }
            Err(e) => {
                let message = e.to_string();
                {
                    let mut s = lock(status);
                    s.fetches_failed += 1;
                    s.last_error = Some(message.clone());
                }
                failures_in_row += 1;
                if failing.as_deref() != Some(message.as_str()) {
                    log::warn!(
                        target: "serenity",
                        "{message}; the SLI keeps its latest value, which is judged stale after max_age_secs = {}",
                        spec.max_age_secs
                    );
                    failing = Some(message);
                }
            }
        }
        next += period;
        let now = Instant::now();
        if next < now {
            // A fetch overran its period: start the next one now, not a burst.
            next = now;
        }
        if stop.wait_until(next) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_specs_start_no_thread_and_inject_nothing() {
        let f = SliFetchers::start(&[]);
        assert!(f.status().is_empty());
        let mut usage = serenity_core::model::build::usage(
            4.0,
            1024.0,
            &[
                serenity_core::model::build::ExecutorSpec::new("fw", "a", false, 1.0, 64.0)
                    .cpu(1.0, 0.0),
            ],
        );
        let before = usage.clone();
        f.inject(&mut usage);
        assert_eq!(usage, before);
    }

    #[test]
    fn the_fetchers_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<SliFetchers>();
        shared::<SliStatus>();
    }

    #[test]
    fn a_stop_wakes_a_waiting_thread() {
        let stop = Stop::default();
        stop.stop();
        assert!(stop.wait_until(Instant::now() + Duration::from_secs(3600)));
    }
}
