//! `serenity_estimator`: the resource estimator. Each update takes the
//! agent's serialized `ResourceUsage` and answers the revocable slack to
//! advertise (CPUs and memory), already net of the revocable resources that
//! are allocated (the agent adds those back).
//!
//! Every estimator in a process shares one valve, the "estimator valve",
//! which QoS controllers of the same process may close while they correct.

use crate::error::serenity_config_error;
use crate::handle::object;
use crate::input::{self, write_opt};
use crate::panic::boundary_result;
use crate::pipeline::{self, serenity_metrics, serenity_valve_state, Object};
use crate::result::serenity_result;
use serenity_core::PipelineKind;
use std::ffi::c_char;

/// A resource estimator (opaque). Create with `serenity_estimator_new_from_file`
/// or `serenity_estimator_new_from_text`, free with `serenity_estimator_free`.
pub struct serenity_estimator {
    object: Object,
}

/// The answer of one estimator update.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct serenity_slack {
    /// Revocable CPUs to advertise (≥ 0, finite).
    pub cpus: f64,
    /// Revocable memory to advertise, in bytes (≥ 0, finite).
    pub mem_bytes: f64,
    /// The same memory in MiB, the unit of Mesos `mem` resources.
    pub mem_mib: f64,
    /// True when a stage stopped the tick (e.g. a closed valve): the slack
    /// is zero on purpose.
    pub stopped: bool,
}

/// Creates an estimator from a pipeline file (`kind = "estimator"`), with
/// `key=value` / `stage.key=value` overrides applied on top.
///
/// On success writes the new handle to `*estimator_out` and returns
/// `SERENITY_RESULT_OK`. On failure returns `SERENITY_RESULT_IO` (unreadable
/// file) or `SERENITY_RESULT_INVALID_CONFIG` (every problem found) and, when
/// `error_out` is not NULL, writes an error object to `*error_out` (free it
/// with `serenity_config_error_free`); `*estimator_out` is left untouched.
/// `overrides` may be NULL when `overrides_len` is 0.
///
/// # Safety
/// `path` is a NUL-terminated string; `overrides` points to
/// `overrides_len` NUL-terminated strings; `estimator_out` and, unless NULL,
/// `error_out` are valid for writes. All are borrowed for the call only.
#[no_mangle]
pub unsafe extern "C" fn serenity_estimator_new_from_file(
    path: *const c_char,
    overrides: *const *const c_char,
    overrides_len: usize,
    estimator_out: *mut *mut serenity_estimator,
    error_out: *mut *mut serenity_config_error,
) -> serenity_result {
    boundary_result("serenity_estimator_new_from_file", || {
        // SAFETY: `error_out` is NULL or valid for writes (contract).
        unsafe { write_opt(error_out, std::ptr::null_mut()) };
        if estimator_out.is_null() {
            return Err(serenity_result::NullParameter);
        }
        // SAFETY: NUL-terminated for the call (contract).
        let path = unsafe { input::c_str(path) }?;
        // SAFETY: `overrides_len` strings (contract).
        let overrides = unsafe { input::strings(overrides, overrides_len) }?;
        let built = pipeline::build_from_file(PipelineKind::Estimator, path, &overrides);
        // SAFETY: both out-pointers are valid for writes (contract).
        match unsafe { pipeline::finish_new(built, wrap, estimator_out, error_out) } {
            serenity_result::Ok => Ok(()),
            code => Err(code),
        }
    })
}

/// Creates an estimator from pipeline TOML text. `name` stands for the file
/// in messages and names the pipeline (its stem), e.g. "estimator.toml".
/// Results and ownership as `serenity_estimator_new_from_file`.
///
/// # Safety
/// `name` and `toml` are NUL-terminated strings; `overrides` points to
/// `overrides_len` NUL-terminated strings; `estimator_out` and, unless NULL,
/// `error_out` are valid for writes. All are borrowed for the call only.
#[no_mangle]
pub unsafe extern "C" fn serenity_estimator_new_from_text(
    name: *const c_char,
    toml: *const c_char,
    overrides: *const *const c_char,
    overrides_len: usize,
    estimator_out: *mut *mut serenity_estimator,
    error_out: *mut *mut serenity_config_error,
) -> serenity_result {
    boundary_result("serenity_estimator_new_from_text", || {
        // SAFETY: `error_out` is NULL or valid for writes (contract).
        unsafe { write_opt(error_out, std::ptr::null_mut()) };
        if estimator_out.is_null() {
            return Err(serenity_result::NullParameter);
        }
        // SAFETY: NUL-terminated for the call (contract).
        let name = unsafe { input::c_str(name) }?;
        // SAFETY: NUL-terminated for the call (contract).
        let toml = unsafe { input::c_str(toml) }?;
        // SAFETY: `overrides_len` strings (contract).
        let overrides = unsafe { input::strings(overrides, overrides_len) }?;
        let built = pipeline::build(PipelineKind::Estimator, name, toml, &overrides);
        // SAFETY: both out-pointers are valid for writes (contract).
        match unsafe { pipeline::finish_new(built, wrap, estimator_out, error_out) } {
            serenity_result::Ok => Ok(()),
            code => Err(code),
        }
    })
}

fn wrap(object: Object) -> serenity_estimator {
    serenity_estimator { object }
}

/// Runs one tick on a serialized `mesos.ResourceUsage` (`usage_len` bytes at
/// `usage`; NULL is accepted when `usage_len` is 0) and writes the slack to
/// `*slack_out`.
///
/// Bad input (truncated, garbage, more than `SERENITY_MAX_USAGE_BYTES`) is
/// refused: the result is `SERENITY_RESULT_INVALID_USAGE` or
/// `SERENITY_RESULT_TOO_LARGE`, an ERROR line is logged, the error counter
/// rises, and `*slack_out` is zero. `*slack_out` is written on every result
/// except `SERENITY_RESULT_NULL_PARAMETER` for a NULL `slack_out`.
///
/// # Safety
/// `estimator` is a live handle; `usage` points to `usage_len` readable bytes
/// for the call; `slack_out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn serenity_estimator_update(
    estimator: *const serenity_estimator,
    usage: *const u8,
    usage_len: usize,
    slack_out: *mut serenity_slack,
) -> serenity_result {
    boundary_result("serenity_estimator_update", || {
        if slack_out.is_null() {
            return Err(serenity_result::NullParameter);
        }
        // SAFETY: `slack_out` is non-NULL and valid for writes (contract).
        unsafe { slack_out.write(serenity_slack::default()) };
        // SAFETY: a live handle or NULL (contract).
        let estimator = unsafe { object(estimator) }?;
        let mut runner = estimator.object.runner.lock()?;
        // SAFETY: `usage_len` readable bytes (contract).
        if let Err(code) = unsafe { runner.decode(usage, usage_len, "zero slack") } {
            crate::node::estimator_refused();
            return Err(code);
        }
        let runner = &mut *runner;
        let snapshot = &runner.snapshot;
        let outcome = runner.pipeline.tick(snapshot);
        let slack = outcome.slack.unwrap_or_default();
        let stopped = outcome.stopped.is_some();
        let contentions = outcome.contentions.len();
        let raised = serenity_core::summary::Raised::of(outcome.contentions);
        crate::node::estimator_ticked(&runner.pipeline, snapshot, raised, slack);
        runner.count_tick(stopped, contentions);
        runner.record_slack(slack);
        let answer = serenity_slack {
            cpus: slack.cpus,
            mem_bytes: slack.mem_bytes,
            mem_mib: slack.mem_bytes / serenity_core::model::MIB,
            stopped,
        };
        // SAFETY: as above.
        unsafe { slack_out.write(answer) };
        Ok(())
    })
}

/// Writes the estimator's counters to `*metrics_out`.
///
/// # Safety
/// `estimator` is a live handle; `metrics_out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn serenity_estimator_metrics(
    estimator: *const serenity_estimator,
    metrics_out: *mut serenity_metrics,
) -> serenity_result {
    boundary_result("serenity_estimator_metrics", || {
        // SAFETY: a live handle or NULL (contract).
        let estimator = unsafe { object(estimator) }?;
        if metrics_out.is_null() {
            return Err(serenity_result::NullParameter);
        }
        let m = estimator.object.metrics()?;
        // SAFETY: non-NULL and valid for writes (contract).
        unsafe { metrics_out.write(m) };
        Ok(())
    })
}

/// Copies the last refused update's message (empty if none) into `buf`,
/// NUL-terminated and truncated to `buf_len` bytes, and writes its full
/// length (without the NUL) to `*len_out` when not NULL. With a NULL `buf`
/// (or `buf_len` 0) only the length is reported.
///
/// # Safety
/// `estimator` is a live handle; `buf` is NULL or valid for `buf_len` bytes
/// of writes; `len_out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn serenity_estimator_last_error(
    estimator: *const serenity_estimator,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> serenity_result {
    boundary_result("serenity_estimator_last_error", || {
        // SAFETY: a live handle or NULL (contract).
        let estimator = unsafe { object(estimator) }?;
        // SAFETY: `buf` valid for `buf_len` bytes or NULL (contract).
        let n = unsafe { estimator.object.last_error(buf, buf_len) }?;
        // SAFETY: NULL or valid for a write (contract).
        unsafe { write_opt(len_out, n) };
        Ok(())
    })
}

/// Opens the estimator valve's operator switch. Idempotent: opening an open
/// switch changes nothing, and no open cancels a hold taken by a QoS
/// controller's `pause_estimator` (the valve stays closed until the hold is
/// released). The valve is shared by every estimator in the process.
///
/// # Safety
/// `estimator` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn serenity_estimator_valve_open(
    estimator: *const serenity_estimator,
) -> serenity_result {
    boundary_result("serenity_estimator_valve_open", || {
        // SAFETY: a live handle or NULL (contract).
        unsafe { object(estimator) }?.object.set_valve(true)
    })
}

/// Closes the estimator valve's operator switch (idempotent; see
/// `serenity_estimator_valve_open`). While the valve is closed, a pipeline
/// with a `valve` stage answers zero slack.
///
/// # Safety
/// `estimator` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn serenity_estimator_valve_close(
    estimator: *const serenity_estimator,
) -> serenity_result {
    boundary_result("serenity_estimator_valve_close", || {
        // SAFETY: a live handle or NULL (contract).
        unsafe { object(estimator) }?.object.set_valve(false)
    })
}

/// Writes the estimator valve's state to `*state_out`.
///
/// # Safety
/// `estimator` is a live handle; `state_out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn serenity_estimator_valve_state(
    estimator: *const serenity_estimator,
    state_out: *mut serenity_valve_state,
) -> serenity_result {
    boundary_result("serenity_estimator_valve_state", || {
        // SAFETY: a live handle or NULL (contract).
        let estimator = unsafe { object(estimator) }?;
        if state_out.is_null() {
            return Err(serenity_result::NullParameter);
        }
        let state = estimator.object.valve_state()?;
        // SAFETY: non-NULL and valid for writes (contract).
        unsafe { state_out.write(state) };
        Ok(())
    })
}

/// Frees an estimator. NULL is accepted and ignored. A poisoned handle is
/// freed too.
///
/// # Safety
/// `estimator` is NULL or a handle from `serenity_estimator_new_*`, not yet
/// freed, and not in use by another thread; it must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn serenity_estimator_free(estimator: *mut serenity_estimator) {
    crate::panic::boundary("serenity_estimator_free", || {
        if !estimator.is_null() {
            // SAFETY: from `Box::into_raw` in `finish_new`, freed once
            // (contract).
            drop(unsafe { Box::from_raw(estimator) });
        }
    })
}
