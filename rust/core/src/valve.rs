//! The valve that stops a pipeline: an operator's switch plus the holds of
//! controllers that pause it.
//!
//! The original counted opens and closes in one counter (open while ≥ 1).
//! In a real agent that let an operator's repeated opens (or any `GET
//! ?enabled=true`) pile up, after which the QoS controller's pause no longer
//! closed the estimator. Here the two closers are kept apart:
//! - the **operator's switch** (the module's `/valve` route, the C ABI's
//!   `*_valve_open`/`*_valve_close`, the agent's HTTP API) is open or
//!   closed: opening an open valve changes nothing, one close closes it;
//! - **holds** are taken by controllers that pause the pipeline
//!   (`pause_estimator`), each released by its taker: the valve stays
//!   closed while any hold is taken, whatever the operator does.
//!
//! The valve is open when the switch is open and no hold is taken.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// An operator's switch and a count of holds; open when the switch is open
/// and nothing holds it closed. Shared between threads and between
/// pipelines (the QoS controller holds the estimator's valve).
#[derive(Debug)]
pub struct ValveControl {
    switch_open: AtomicBool,
    holds: AtomicU32,
}

impl Default for ValveControl {
    fn default() -> Self {
        ValveControl::new(true)
    }
}

impl ValveControl {
    /// A valve whose operator's switch starts open or closed, with no hold.
    pub fn new(open: bool) -> Self {
        ValveControl {
            switch_open: AtomicBool::new(open),
            holds: AtomicU32::new(0),
        }
    }

    /// Whether the valve is open: the switch is open and no hold is taken.
    pub fn is_open(&self) -> bool {
        self.switch_open() && self.holds() == 0
    }

    /// Sets the operator's switch; returns whether it changed. Idempotent:
    /// opening an open valve does nothing, and cannot cancel a hold.
    pub fn set(&self, open: bool) -> bool {
        self.switch_open.swap(open, Ordering::SeqCst) != open
    }

    /// The operator's switch.
    pub fn switch_open(&self) -> bool {
        self.switch_open.load(Ordering::SeqCst)
    }

    /// Takes one hold: the valve is closed until it is released.
    pub fn hold(&self) {
        self.holds.fetch_add(1, Ordering::SeqCst);
    }

    /// Releases one hold taken with [`ValveControl::hold`]. A release without
    /// a hold changes nothing (the count never goes below zero).
    pub fn release(&self) {
        // An Err only means there was nothing to release.
        let _ = self
            .holds
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| h.checked_sub(1));
    }

    /// Holds currently taken.
    pub fn holds(&self) -> u32 {
        self.holds.load(Ordering::SeqCst)
    }

    /// Sets the operator's switch to its configured start (a `valve`
    /// stage's `open`); holds taken by running controllers stay.
    pub fn reset(&self, open: bool) {
        self.switch_open.store(open, Ordering::SeqCst);
    }

    /// A sentence for logs and HTTP answers:
    /// `open (switch open, 0 holds)`.
    pub fn describe(&self) -> String {
        format!(
            "{} (switch {}, {} hold{})",
            if self.is_open() { "open" } else { "closed" },
            if self.switch_open() { "open" } else { "closed" },
            self.holds(),
            if self.holds() == 1 { "" } else { "s" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_do_not_accumulate_one_close_closes() {
        let v = ValveControl::new(true);
        assert!(!v.set(true), "opening an open valve changes nothing");
        assert!(!v.set(true));
        assert!(v.set(false));
        assert!(
            !v.is_open(),
            "one close closes, however many opens came before"
        );
        assert!(v.set(true));
        assert!(v.is_open());
    }

    #[test]
    fn an_operator_open_cannot_cancel_a_hold() {
        let v = ValveControl::new(true);
        v.hold();
        v.set(true);
        assert!(!v.is_open());
        v.release();
        assert!(v.is_open());
    }

    #[test]
    fn holds_count_and_never_go_negative() {
        let v = ValveControl::new(true);
        v.hold();
        v.hold();
        v.release();
        assert!(!v.is_open(), "the second hold is still taken");
        v.release();
        v.release();
        assert_eq!(v.holds(), 0);
        assert!(v.is_open());
        v.hold();
        assert!(!v.is_open(), "a spurious release did not bank an extra one");
    }

    #[test]
    fn a_closed_switch_stays_closed_when_holds_end() {
        let v = ValveControl::new(true);
        v.hold();
        v.set(false);
        v.release();
        assert!(!v.is_open());
        assert_eq!(v.describe(), "closed (switch closed, 0 holds)");
    }

    #[test]
    fn reset_keeps_the_holds() {
        let v = ValveControl::new(false);
        v.hold();
        v.reset(true);
        assert!(v.switch_open() && !v.is_open());
    }
}
