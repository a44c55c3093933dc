//! A pipeline in steady state does not grow its memory: every shipped
//! pipeline runs 300 ticks over the same executors after a warm-up, and the
//! live heap (counted by a wrapping global allocator) must not grow.

mod support;

use serenity_core::model::build::{usage, ExecutorSpec};
use serenity_core::{build_pipeline, BuildOptions, Pipeline, Snapshot, ValveControl};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use support::shipped_pipelines;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// 400 ticks of a 50-executor node (one in four best-effort) with CPU, perf
/// and memory statistics; usage varies so smoothing and detectors work.
fn snapshots() -> Vec<Snapshot> {
    (0..400)
        .map(|t| {
            let specs: Vec<ExecutorSpec> = (0..50)
                .map(|i| {
                    ExecutorSpec::new("fw", &format!("e{i}"), i % 4 == 0, 2.0, 256.0)
                        .cpu(t as f64, t as f64 * (0.2 + (i % 5) as f64 * 0.1))
                        .perf(t as f64, 1.0, 1_000_000, 800_000 + (t % 7) * 1000)
                        .rss(100 << 20)
                })
                .collect();
            Snapshot::new(usage(64.0, 65536.0, &specs))
        })
        .collect()
}

fn heap_growth(mut p: Pipeline, snaps: &[Snapshot]) -> isize {
    for s in &snaps[..100] {
        p.tick(s);
    }
    let before = LIVE.load(Ordering::SeqCst);
    for s in &snaps[100..] {
        p.tick(s);
    }
    LIVE.load(Ordering::SeqCst) - before
}

#[test]
fn live_heap_does_not_grow_across_steady_state_ticks() {
    let pipelines = shipped_pipelines();
    assert!(pipelines.len() >= 2, "expected the shipped pipelines");
    let snaps = snapshots();
    for (name, text) in pipelines {
        let options = BuildOptions {
            estimator_valve: Some(Arc::new(ValveControl::new(true))),
            ..Default::default()
        };
        let p = build_pipeline(&name, &text, &[], options).unwrap_or_else(|e| panic!("{e}"));
        let growth = heap_growth(p, &snaps);
        assert!(
            growth <= 0,
            "{name}: live heap grew by {growth} bytes over 300 steady ticks"
        );
    }
}
