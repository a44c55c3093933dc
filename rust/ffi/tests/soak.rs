//! Soak: many ticks of executor churn through both shipped pipelines via
//! the C ABI, as the Mesos modules run them. Resident memory, the core's
//! per-executor state and the log stay flat: over the second half, RSS grows
//! by at most 1 MiB (allocator noise), the state holds no more slots than in the first half, and no
//! window logs more than the busiest window of the first half
//! plus 10 % (every window sees the same load).
//!
//! `SERENITY_SOAK_TICKS` sets the length (default 30 000, a CI-sized run);
//! the figures of docs/benchmarks.md come from
//! `SERENITY_SOAK_TICKS=1000000 cargo test --release -p serenity-ffi --test soak -- --nocapture`.

mod common;

use common::*;
use prost::Message;
use serenity_core::model::build::{usage, ExecutorSpec};
use serenity_core::{build_pipeline, BuildOptions, Snapshot};
use serenity_ffi::log::*;
use serenity_ffi::serenity_result;
use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

const ESTIMATOR: &str = include_str!("../../../pipelines/estimator.toml");
const QOS: &str = include_str!("../../../pipelines/qos.toml");

/// Log records the library emitted (any level up to info).
static LOG_LINES: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" fn count_line(
    _: *mut c_void,
    _: serenity_log_level,
    _: *const c_char,
    _: *const c_char,
) {
    LOG_LINES.fetch_add(1, Ordering::Relaxed);
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// The node at tick `t`: 6 production executors, one replaced every 50
/// ticks; 4 best-effort executors, one replaced every tick; every 25th tick
/// one executor's statistics are missing; the last 20 of every 1000 ticks
/// are an overload (production at its full 3 CPUs each: 88 % of the node),
/// which the QoS pipeline answers with corrections; otherwise production's
/// load follows a sine of period 1000 ticks, so every window of a multiple
/// of 1000 ticks sees the same load. Counters grow with the load.
struct Node {
    production: Vec<(u64, f64)>,
    best_effort: Vec<(u64, f64)>,
    next_id: u64,
}

impl Node {
    fn new() -> Node {
        let mut node = Node {
            production: Vec::new(),
            best_effort: Vec::new(),
            next_id: 0,
        };
        for _ in 0..6 {
            let id = node.fresh();
            node.production.push((id, 0.0));
        }
        for _ in 0..4 {
            let id = node.fresh();
            node.best_effort.push((id, 0.0));
        }
        node
    }

    fn fresh(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn tick(&mut self, t: u64) -> Vec<u8> {
        if t > 0 {
            let id = self.fresh();
            self.best_effort[(t % 4) as usize] = (id, 0.0);
            if t.is_multiple_of(50) {
                let id = self.fresh();
                self.production[(t / 50 % 6) as usize] = (id, 0.0);
            }
        }
        let time = 1_700_000_000.0 + t as f64;
        let rate = if t % 1000 >= 980 {
            3.0
        } else {
            2.0 * (0.5 + 0.4 * (t as f64 * std::f64::consts::TAU / 1000.0).sin())
        };
        let mut specs = Vec::with_capacity(10);
        for (i, (id, cpu)) in self.production.iter_mut().enumerate() {
            *cpu += rate;
            let spec = ExecutorSpec::new("fw-pr", &format!("pr-{id}"), false, 3.0, 1024.0);
            specs.push(if (t + i as u64).is_multiple_of(25) {
                spec
            } else {
                spec.cpu(time, *cpu)
                    .perf(time, 1.0, 2_000_000_000, 3_000_000_000)
            });
        }
        for (id, cpu) in self.best_effort.iter_mut() {
            *cpu += 0.8;
            specs.push(
                ExecutorSpec::new("fw-be", &format!("be-{id}"), true, 1.0, 512.0)
                    .cpu(time, *cpu)
                    .perf(time, 1.0, 1_000_000_000, 900_000_000),
            );
        }
        usage(24.0, 32768.0, &specs).encode_to_vec()
    }
}

/// One window of the run.
#[derive(Debug)]
struct Window {
    end_tick: u64,
    rss_kib: u64,
    max_slots: usize,
    log_lines: u64,
}

#[test]
fn memory_state_and_log_stay_flat_under_long_executor_churn_through_the_c_abi() {
    let ticks: u64 = std::env::var("SERENITY_SOAK_TICKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    const WINDOWS: u64 = 10;
    assert!(
        ticks >= WINDOWS * 1000 && ticks.is_multiple_of(WINDOWS * 1000),
        "a soak is a multiple of {} ticks (whole load periods per window)",
        WINDOWS * 1000
    );
    // SAFETY: a callback that only counts, safe from any thread.
    unsafe {
        serenity_set_log_callback(
            Some(count_line),
            std::ptr::null_mut(),
            serenity_log_level::Info as u32,
        );
    }
    let est = Est::from_text("estimator.toml", ESTIMATOR, &[]).expect("shipped estimator");
    let qos = Qos::from_text("qos.toml", QOS, &[]).expect("shipped QoS");
    // The same pipelines through the core, to read their per-executor state.
    let mut core_est = build_pipeline("estimator.toml", ESTIMATOR, &[], BuildOptions::default())
        .expect("shipped estimator");
    let mut core_qos =
        build_pipeline("qos.toml", QOS, &[], BuildOptions::default()).expect("shipped QoS");
    let mut node = Node::new();
    let mut windows = Vec::new();
    let (mut max_slots, mut logged_before, mut kills) = (0usize, 0u64, 0usize);
    for t in 0..ticks {
        let bytes = node.tick(t);
        let (r, slack) = est.update(&bytes);
        assert_eq!(r, serenity_result::Ok, "tick {t}");
        assert!(
            slack.cpus.is_finite() && slack.cpus >= 0.0,
            "tick {t}: {slack:?}"
        );
        let (r, corrections) = qos.update(&bytes);
        assert_eq!(r, serenity_result::Ok, "tick {t}");
        assert!(
            corrections.iter().all(|k| k.executor_id.starts_with("be-")),
            "tick {t}: a correction of production work: {corrections:?}"
        );
        kills += corrections.len();
        let snapshot = Snapshot::new(serenity_core::decode_usage(&bytes).expect("decodes"));
        core_est.tick(&snapshot);
        core_qos.tick(&snapshot);
        max_slots = max_slots
            .max(core_est.registry().slot_count())
            .max(core_qos.registry().slot_count());
        if (t + 1).is_multiple_of(ticks / WINDOWS) {
            let logged = LOG_LINES.load(Ordering::Relaxed);
            windows.push(Window {
                end_tick: t + 1,
                rss_kib: rss_kib(),
                max_slots,
                log_lines: logged - logged_before,
            });
            logged_before = logged;
            max_slots = 0;
        }
    }
    // SAFETY: removing the callback.
    unsafe { serenity_set_log_callback(None, std::ptr::null_mut(), 0) };
    eprintln!(
        "soak: {ticks} ticks, {} executors seen, {kills} corrections",
        node.next_id
    );
    eprintln!(
        "soak: {:>10} {:>10} {:>10} {:>10}",
        "tick", "rss KiB", "max slots", "log lines"
    );
    for w in &windows {
        eprintln!(
            "soak: {:>10} {:>10} {:>10} {:>10}",
            w.end_tick, w.rss_kib, w.max_slots, w.log_lines
        );
    }
    assert!(
        kills > 0,
        "the overloads were never corrected: the soak missed the QoS path"
    );
    let half = windows.len() / 2;
    let (first, second) = windows.split_at(half);
    let rss_half = first.last().unwrap().rss_kib;
    let rss_end = second.last().unwrap().rss_kib;
    assert!(
        rss_end <= rss_half + 1024,
        "resident memory grew over the second half: {rss_half} -> {rss_end} KiB"
    );
    let slots_first = first.iter().map(|w| w.max_slots).max().unwrap();
    let slots_second = second.iter().map(|w| w.max_slots).max().unwrap();
    assert!(
        slots_second <= slots_first,
        "per-executor state grew: {slots_first} -> {slots_second} slots"
    );
    assert!(
        slots_first <= 10 + 8,
        "{slots_first} slots for 10 live executors"
    );
    let logs_first = first.iter().map(|w| w.log_lines).max().unwrap();
    let logs_second = second.iter().map(|w| w.log_lines).max().unwrap();
    // The same load every window: the log may vary by a few lines (ids,
    // window edges), never grow.
    assert!(
        logs_second <= logs_first + logs_first / 10 + 2,
        "the log grows with time: {logs_first} -> {logs_second} lines per window"
    );
}
