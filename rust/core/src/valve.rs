//! The valve that stops a pipeline, with the original's counter semantics.

use std::sync::atomic::{AtomicI64, Ordering};

/// An open counter: open while ≥ 1. Each close must be matched by an open,
/// so several independent closers (the operator, the QoS controller) must
/// all reopen before the pipeline runs again. Shared between threads and
/// between pipelines (the QoS controller closes the estimator's valve).
#[derive(Debug)]
pub struct ValveControl {
    counter: AtomicI64,
}

impl Default for ValveControl {
    fn default() -> Self {
        ValveControl::new(true)
    }
}

impl ValveControl {
    /// A valve, initially open or closed.
    pub fn new(open: bool) -> Self {
        ValveControl {
            counter: AtomicI64::new(i64::from(open)),
        }
    }

    /// Whether the valve is open (counter ≥ 1).
    pub fn is_open(&self) -> bool {
        self.counter.load(Ordering::SeqCst) >= 1
    }

    /// Adds one opening (`true`) or one closing (`false`).
    pub fn set(&self, open: bool) {
        self.counter
            .fetch_add(if open { 1 } else { -1 }, Ordering::SeqCst);
    }

    /// The raw counter (for metrics).
    pub fn counter(&self) -> i64 {
        self.counter.load(Ordering::SeqCst)
    }

    /// Resets the counter to open (1) or closed (0).
    pub fn reset(&self, open: bool) {
        self.counter.store(i64::from(open), Ordering::SeqCst);
    }
}
