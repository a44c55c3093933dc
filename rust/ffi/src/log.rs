//! Forwarding the `log` crate's records to a C callback.
//!
//! One callback per process (the `log` crate has one logger). Until a
//! callback is installed the library is silent. The callback may be called
//! from any thread that calls into the library, so it must be thread-safe;
//! it must not call back into the library, and must not unwind (throw).
//! Replacing or removing the callback waits until calls to the old one have
//! returned, so its `user_data` may be released as soon as
//! `serenity_set_log_callback` returns.

use crate::panic::boundary_result;
use crate::result::serenity_result;
use std::ffi::{c_char, c_void};
use std::sync::{Once, RwLock};

/// Severity of a log record. Values are fixed and never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum serenity_log_level {
    /// Something failed: refused input, configuration errors, panics.
    Error = 1,
    /// Something is off but the answer is still defined.
    Warn = 2,
    /// State changes worth an operator's attention (pipeline loaded, valve).
    Info = 3,
    /// Per-tick detail.
    Debug = 4,
    /// Everything.
    Trace = 5,
}

impl From<log::Level> for serenity_log_level {
    fn from(level: log::Level) -> Self {
        match level {
            log::Level::Error => serenity_log_level::Error,
            log::Level::Warn => serenity_log_level::Warn,
            log::Level::Info => serenity_log_level::Info,
            log::Level::Debug => serenity_log_level::Debug,
            log::Level::Trace => serenity_log_level::Trace,
        }
    }
}

/// Receives one log record. `target` (e.g. "serenity") and `message` are
/// NUL-terminated and valid only during the call. `user_data` is the pointer
/// given to `serenity_set_log_callback`.
pub type serenity_log_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: serenity_log_level,
        target: *const c_char,
        message: *const c_char,
    ),
>;

#[derive(Clone, Copy)]
struct Sink {
    callback: unsafe extern "C" fn(*mut c_void, serenity_log_level, *const c_char, *const c_char),
    user_data: *mut c_void,
}

// SAFETY: `serenity_set_log_callback` documents that the callback and its
// `user_data` must be usable from any thread; the pointer is only handed
// back to that callback.
unsafe impl Send for Sink {}
// SAFETY: as above; the sink is never mutated through a shared reference.
unsafe impl Sync for Sink {}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

struct Forwarder;

static FORWARDER: Forwarder = Forwarder;

impl log::Log for Forwarder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // Held for the call, so that replacing the sink waits for it.
        let guard = match SINK.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(sink) = *guard else {
            return;
        };
        let target = crate::error::cstring(record.target());
        let message = crate::error::cstring(&record.args().to_string());
        // SAFETY: the callback was given to `serenity_set_log_callback` with
        // the contract that it accepts these arguments from any thread; both
        // strings are NUL-terminated and outlive the call.
        unsafe {
            (sink.callback)(
                sink.user_data,
                record.level().into(),
                target.as_ptr(),
                message.as_ptr(),
            )
        };
    }

    fn flush(&self) {}
}

fn level_filter(max_level: u32) -> log::LevelFilter {
    match max_level {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// Installs (or, with a NULL `callback`, removes) the process-wide log
/// callback. Records up to `max_level` (a `serenity_log_level` value; 0
/// means none, values above TRACE mean TRACE) are forwarded. Waits until
/// calls to the previous callback have returned, so the previous
/// `user_data` may be released afterwards. Thread-safe.
///
/// # Safety
/// `callback`, if not NULL, must be safe to call from any thread with
/// `user_data` until it is replaced or removed, must not call back into
/// this library, and must not unwind.
#[no_mangle]
pub unsafe extern "C" fn serenity_set_log_callback(
    callback: serenity_log_callback,
    user_data: *mut c_void,
    max_level: u32,
) -> serenity_result {
    boundary_result("serenity_set_log_callback", || {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            // Another logger may already own the process (a host program);
            // then the callback simply never fires.
            let _ = log::set_logger(&FORWARDER);
        });
        let sink = callback.map(|callback| Sink {
            callback,
            user_data,
        });
        let mut guard = match SINK.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = sink;
        log::set_max_level(if sink.is_some() {
            level_filter(max_level)
        } else {
            log::LevelFilter::Off
        });
        Ok(())
    })
}
