//! Replay, simulate and score read and write traces one record at a time:
//! their peak live heap does not grow with the number of ticks. A counting
//! global allocator measures the peak live heap of each run, on seeded,
//! deterministic data, for N and 10×N ticks of a node wide enough that one
//! record dominates.

mod common;
use common::synthetic::{scenario_toml, write_trace, Layout};
use common::*;
use serenity_cli::cli::{ReplayArgs, ReplayFormat, SimulateArgs};
use serenity_sim::score::ScoreOptions;
use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        // SAFETY: forwarded as given.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: AllocLayout) {
        // SAFETY: forwarded as given.
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: AllocLayout, size: usize) -> *mut u8 {
        // SAFETY: forwarded as given.
        let q = unsafe { System.realloc(p, layout, size) };
        if !q.is_null() {
            if size >= layout.size() {
                grew(size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - size, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One measurement at a time (the counters are global).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The peak live heap while `f` runs, above what was live before.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (PEAK.load(Ordering::Relaxed).saturating_sub(base), out)
}

/// Executors of the synthetic node: one record is about 1 MB of heap.
const WIDE: usize = 1000;
/// Ticks of the short run; the long one has ten times as many.
const SHORT: u64 = 6;

fn pipelines() -> Vec<PathBuf> {
    vec![
        root().join("pipelines/estimator.toml"),
        root().join("pipelines/qos.toml"),
    ]
}

fn trace(dir: &Path, ticks: u64, layout: Layout) -> PathBuf {
    let p = dir.join(format!("wide-{ticks}-{layout:?}.json"));
    let f = std::fs::File::create(&p).unwrap();
    write_trace(&mut std::io::BufWriter::new(f), WIDE, ticks, layout).unwrap();
    p
}

/// The heap one record takes once decoded and viewed (what the old replay
/// held per record).
fn one_record_heap(dir: &Path) -> usize {
    let one = trace(dir, 1, Layout::JsonLines);
    let text = std::fs::read_to_string(one).unwrap();
    let (heap, _) = peak_heap(|| {
        let (_, mut usages) = serenity_core::load_trace(&text).unwrap();
        serenity_core::Snapshot::new(usages.remove(0))
    });
    heap
}

fn replay_peak(trace: PathBuf, output: ReplayFormat) -> usize {
    let args = ReplayArgs {
        pipelines: pipelines(),
        sets: Vec::new(),
        output,
        plot: None,
        trace,
    };
    let (heap, done) = peak_heap(|| serenity_cli::replay::replay_to(&args, std::io::sink()));
    done.expect("the replay runs");
    heap
}

fn assert_flat(what: &str, short: usize, long: usize, record: usize, slack: usize) {
    eprintln!(
        "{what}: peak heap {short} B at {SHORT} ticks, {long} B at {} ticks (one record: {record} B)",
        SHORT * 10
    );
    assert!(
        long <= short + slack,
        "{what}: the peak heap grew from {short} B to {long} B with ten times the ticks (one record is {record} B)"
    );
}

#[test]
fn replay_of_json_lines_does_not_hold_the_trace() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let record = one_record_heap(dir.path());
    let short = replay_peak(
        trace(dir.path(), SHORT, Layout::JsonLines),
        ReplayFormat::Jsonl,
    );
    let long = replay_peak(
        trace(dir.path(), SHORT * 10, Layout::JsonLines),
        ReplayFormat::Jsonl,
    );
    assert_flat("replay, JSON Lines", short, long, record, record / 10);
    // A few records' worth at most: the line, its decoded usage, the
    // snapshot and the pipelines' per-executor state.
    assert!(short < 4 * record, "{short} B for records of {record} B");
}

#[test]
fn replay_of_a_fixture_file_streams_its_array() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let record = one_record_heap(dir.path());
    let short = replay_peak(
        trace(dir.path(), SHORT, Layout::Fixture),
        ReplayFormat::Table,
    );
    let long = replay_peak(
        trace(dir.path(), SHORT * 10, Layout::Fixture),
        ReplayFormat::Table,
    );
    // The table keeps one short row per tick.
    assert_flat("replay, fixture file", short, long, record, record / 10);
}

fn simulate_peak(dir: &Path, ticks: usize) -> (usize, PathBuf) {
    let scenario = dir.join(format!("wide-{ticks}.toml"));
    std::fs::write(&scenario, scenario_toml(WIDE / 4, ticks)).unwrap();
    let out = dir.join(format!("wide-{ticks}.jsonl"));
    let args = SimulateArgs {
        scenario,
        pipelines: pipelines(),
        sets: Vec::new(),
        out: out.clone(),
        seed: None,
    };
    let (heap, done) = peak_heap(|| serenity_cli::simulate::run(&args));
    done.expect("the simulation runs");
    (heap, out)
}

#[test]
fn simulate_writes_each_record_and_score_keeps_only_truth_and_actions() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (sim_short, short_trace) = simulate_peak(dir.path(), SHORT as usize);
    let (sim_long, long_trace) = simulate_peak(dir.path(), SHORT as usize * 10);
    // One simulated record, decoded: what holding the records costs per tick.
    let text = std::fs::read_to_string(&short_trace).unwrap();
    let first = text.lines().next().unwrap();
    let (record, _) = peak_heap(|| serde_json::from_str::<serde_json::Value>(first).unwrap());
    assert_flat(
        "simulate, closed loop",
        sim_short,
        sim_long,
        record,
        record / 10,
    );

    let opts = ScoreOptions {
        grace_fraction: 0.25,
        max_grace_ticks: 10,
        period_ticks: 1,
    };
    let score = |trace: &Path| {
        let (heap, scores) = peak_heap(|| serenity_cli::score::score_file(trace, None, &opts));
        assert!(!scores.expect("the trace scores").is_empty());
        heap
    };
    let (short, long) = (score(&short_trace), score(&long_trace));
    // Score keeps each tick's truth (with the best-effort executors lent
    // to) and actions: small beside a record, but they do grow.
    assert_flat("score, closed loop", short, long, record, record / 2);
}
