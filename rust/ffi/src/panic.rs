//! The panic boundary: every exported function runs its body through
//! [`boundary`], so no panic unwinds into C or C++.
//!
//! A caught panic is logged and turned into the function's "failed" value
//! ([`OnPanic`]). A panic while a handle is locked also poisons that handle
//! (see `handle::Locked`): its state may be half-updated, so every later call
//! on it answers `SERENITY_RESULT_POISONED` until it is freed.

use crate::result::serenity_result;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The value an export returns when its body panicked.
pub trait OnPanic {
    /// The "failed" value.
    fn on_panic() -> Self;
}

impl OnPanic for serenity_result {
    fn on_panic() -> Self {
        serenity_result::Panic
    }
}

impl OnPanic for *const c_char {
    fn on_panic() -> Self {
        std::ptr::null()
    }
}

impl OnPanic for usize {
    fn on_panic() -> Self {
        0
    }
}

impl OnPanic for u32 {
    fn on_panic() -> Self {
        0
    }
}

impl OnPanic for () {
    fn on_panic() -> Self {}
}

/// Runs `body`, catching any panic: the panic is logged (naming `function`)
/// and the function's [`OnPanic`] value is returned instead.
pub fn boundary<T: OnPanic>(function: &'static str, body: impl FnOnce() -> T) -> T {
    // The state a panicking body may leave half-updated is a handle's, and
    // handles poison themselves when a panic unwinds through their lock, so
    // asserting unwind safety here is sound.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            // Reporting runs under its own catch: nothing may unwind out of
            // here, not even a panic while formatting or logging.
            let reported = catch_unwind(AssertUnwindSafe(move || {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-text panic payload".to_owned());
                log::error!(
                    target: "serenity",
                    "internal error in {function}: {what}; the call failed and the handle it used (if any) is poisoned"
                );
            }));
            if let Err(second) = reported {
                // Dropping a payload can itself panic; leak it instead.
                std::mem::forget(second);
            }
            T::on_panic()
        }
    }
}

/// [`boundary`] for bodies written with `?`: `Err(code)` becomes `code`,
/// `Ok(())` becomes `SERENITY_RESULT_OK`.
pub(crate) fn boundary_result(
    function: &'static str,
    body: impl FnOnce() -> Result<(), serenity_result>,
) -> serenity_result {
    boundary(function, || match body() {
        Ok(()) => serenity_result::Ok,
        Err(code) => code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_failed_value() {
        let r: serenity_result = boundary("test", || panic!("boom"));
        assert_eq!(r, serenity_result::Panic);
        let p: *const c_char = boundary("test", || panic!("boom"));
        assert!(p.is_null());
        let ok = boundary_result("test", || Err(serenity_result::InvalidUsage));
        assert_eq!(ok, serenity_result::InvalidUsage);
    }
}
