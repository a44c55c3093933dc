//! A pipeline in steady state does not grow its memory.

use serenity_core::model::build::{usage, ExecutorSpec};
use serenity_core::{build_pipeline, BuildOptions, Snapshot};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

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

#[test]
fn live_heap_does_not_grow_across_steady_state_ticks() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/steady.toml"
    ))
    .unwrap();
    let mut p = build_pipeline("steady.toml", &text, &[], BuildOptions::default()).unwrap();
    let snaps: Vec<Snapshot> = (0..400)
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
        .collect();
    for s in &snaps[..100] {
        p.tick(s);
    }
    let before = LIVE.load(Ordering::SeqCst);
    for s in &snaps[100..] {
        p.tick(s);
    }
    let after = LIVE.load(Ordering::SeqCst);
    assert!(
        after - before <= 0,
        "live heap grew by {} bytes over 300 steady ticks",
        after - before
    );
}
