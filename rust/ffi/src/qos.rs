//! `serenity_qos`: the QoS controller. Each update takes the agent's
//! serialized `ResourceUsage` and answers the best-effort executors to kill.
//!
//! Every QoS controller is linked to the process-wide estimator valve, so a
//! pipeline's `pause_estimator` stage stops the estimator of the same process
//! while it corrects.

use crate::error::{cstring, serenity_config_error};
use crate::handle::object;
use crate::input::{self, write_opt};
use crate::panic::boundary_result;
use crate::pipeline::{self, serenity_metrics, serenity_valve_state, Object};
use crate::result::serenity_result;
use serenity_core::model::Snapshot;
use serenity_core::{Correction, PipelineKind};
use std::ffi::{c_char, CString};

/// A QoS controller (opaque). Create with `serenity_qos_new_from_file` or
/// `serenity_qos_new_from_text`, free with `serenity_qos_free`.
pub struct serenity_qos {
    object: Object,
}

/// One kill correction. Every string is NUL-terminated and owned by the
/// QoS handle: valid until the next `serenity_qos_update` on that handle or
/// `serenity_qos_free`, whichever comes first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct serenity_correction {
    /// `executor_info.framework_id.value` of the executor to kill.
    pub framework_id: *const c_char,
    /// `executor_info.executor_id.value` of the executor to kill.
    pub executor_id: *const c_char,
    /// `container_id.value` of its container; "" when the usage had none.
    pub container_id: *const c_char,
    /// Why, in a sentence naming the stage (for the log).
    pub reason: *const c_char,
    /// Index of the executor in the `executors` of the usage bytes passed
    /// to the update: the adapter copies the exact ids (and the container's
    /// parent chain) from there.
    pub executor_index: usize,
}

/// The corrections of the last update and the strings they point into.
#[derive(Default)]
pub(crate) struct CorrectionList {
    strings: Vec<[CString; 4]>,
    views: Vec<serenity_correction>,
}

// SAFETY: the raw pointers in `views` point into `strings`, owned by the
// same value and moved with it (CString data lives on the heap, so moving
// the Vec does not move it); nothing else shares them.
unsafe impl Send for CorrectionList {}

impl CorrectionList {
    fn clear(&mut self) {
        self.views.clear();
        self.strings.clear();
    }

    fn fill(&mut self, snapshot: &Snapshot, corrections: &[Correction]) {
        self.clear();
        let mut indices = Vec::with_capacity(corrections.len());
        for c in corrections {
            let Some(view) = snapshot.executors.get(c.row) else {
                continue;
            };
            self.strings.push([
                cstring(&view.key.framework_id),
                cstring(&view.key.executor_id),
                cstring(view.container_id.as_deref().unwrap_or("")),
                cstring(&c.reason),
            ]);
            indices.push(view.index);
        }
        self.views = self
            .strings
            .iter()
            .zip(indices)
            .map(|(s, executor_index)| serenity_correction {
                framework_id: s[0].as_ptr(),
                executor_id: s[1].as_ptr(),
                container_id: s[2].as_ptr(),
                reason: s[3].as_ptr(),
                executor_index,
            })
            .collect();
    }
}

/// Creates a QoS controller from a pipeline file (`kind = "qos"`), with
/// overrides. Results and ownership as `serenity_estimator_new_from_file`.
///
/// # Safety
/// `path` is a NUL-terminated string; `overrides` points to
/// `overrides_len` NUL-terminated strings; `qos_out` and, unless NULL,
/// `error_out` are valid for writes. All are borrowed for the call only.
#[no_mangle]
pub unsafe extern "C" fn serenity_qos_new_from_file(
    path: *const c_char,
    overrides: *const *const c_char,
    overrides_len: usize,
    qos_out: *mut *mut serenity_qos,
    error_out: *mut *mut serenity_config_error,
) -> serenity_result {
    boundary_result("serenity_qos_new_from_file", || {
        // SAFETY: `error_out` is NULL or valid for writes (contract).
        unsafe { write_opt(error_out, std::ptr::null_mut()) };
        if qos_out.is_null() {
            return Err(serenity_result::NullParameter);
        }
        // SAFETY: NUL-terminated for the call (contract).
        let path = unsafe { input::c_str(path) }?;
        // SAFETY: `overrides_len` strings (contract).
        let overrides = unsafe { input::strings(overrides, overrides_len) }?;
        let built = pipeline::build_from_file(PipelineKind::Qos, path, &overrides);
        // SAFETY: both out-pointers are valid for writes (contract).
        match unsafe { pipeline::finish_new(built, wrap, qos_out, error_out) } {
            serenity_result::Ok => Ok(()),
            code => Err(code),
        }
    })
}

/// Creates a QoS controller from pipeline TOML text; `name` stands for the
/// file in messages. Results and ownership as
/// `serenity_estimator_new_from_file`.
///
/// # Safety
/// `name` and `toml` are NUL-terminated strings; `overrides` points to
/// `overrides_len` NUL-terminated strings; `qos_out` and, unless NULL,
/// `error_out` are valid for writes. All are borrowed for the call only.
#[no_mangle]
pub unsafe extern "C" fn serenity_qos_new_from_text(
    name: *const c_char,
    toml: *const c_char,
    overrides: *const *const c_char,
    overrides_len: usize,
    qos_out: *mut *mut serenity_qos,
    error_out: *mut *mut serenity_config_error,
) -> serenity_result {
    boundary_result("serenity_qos_new_from_text", || {
        // SAFETY: `error_out` is NULL or valid for writes (contract).
        unsafe { write_opt(error_out, std::ptr::null_mut()) };
        if qos_out.is_null() {
            return Err(serenity_result::NullParameter);
        }
        // SAFETY: NUL-terminated for the call (contract).
        let name = unsafe { input::c_str(name) }?;
        // SAFETY: NUL-terminated for the call (contract).
        let toml = unsafe { input::c_str(toml) }?;
        // SAFETY: `overrides_len` strings (contract).
        let overrides = unsafe { input::strings(overrides, overrides_len) }?;
        let built = pipeline::build(PipelineKind::Qos, name, toml, &overrides);
        // SAFETY: both out-pointers are valid for writes (contract).
        match unsafe { pipeline::finish_new(built, wrap, qos_out, error_out) } {
            serenity_result::Ok => Ok(()),
            code => Err(code),
        }
    })
}

fn wrap(object: Object) -> serenity_qos {
    serenity_qos { object }
}

/// Runs one tick on a serialized `mesos.ResourceUsage` and writes the
/// corrections: `*corrections_out` points to `*count_out` entries (NULL when
/// there are none), owned by the handle and valid until the next update on
/// it or its free. Only best-effort (revocable) executors are ever named,
/// each at most once.
///
/// Bad input (truncated, garbage, more than `SERENITY_MAX_USAGE_BYTES`) is
/// refused: `SERENITY_RESULT_INVALID_USAGE` or `SERENITY_RESULT_TOO_LARGE`,
/// an ERROR log line, the error counter rises, and no corrections
/// (`*count_out` = 0). Both out-pointers are written on every result except
/// `SERENITY_RESULT_NULL_PARAMETER` for a NULL out-pointer.
///
/// # Safety
/// `qos` is a live handle; `usage` points to `usage_len` readable bytes for
/// the call (NULL is accepted when `usage_len` is 0); both out-pointers are
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn serenity_qos_update(
    qos: *const serenity_qos,
    usage: *const u8,
    usage_len: usize,
    corrections_out: *mut *const serenity_correction,
    count_out: *mut usize,
) -> serenity_result {
    boundary_result("serenity_qos_update", || {
        if corrections_out.is_null() || count_out.is_null() {
            return Err(serenity_result::NullParameter);
        }
        // SAFETY: both are non-NULL and valid for writes (contract).
        unsafe {
            corrections_out.write(std::ptr::null());
            count_out.write(0);
        }
        // SAFETY: a live handle or NULL (contract).
        let qos = unsafe { object(qos) }?;
        let mut guard = qos.object.runner.lock()?;
        let runner = &mut *guard;
        runner.answer.clear();
        // SAFETY: `usage_len` readable bytes (contract).
        unsafe { runner.decode(usage, usage_len, "no corrections") }?;
        let snapshot = &runner.snapshot;
        let outcome = runner.pipeline.tick(snapshot);
        let stopped = outcome.stopped.is_some();
        let contentions = outcome.contentions.len();
        let raised = serenity_core::summary::Raised::of(outcome.contentions);
        runner.answer.fill(snapshot, outcome.corrections);
        let n = runner.answer.views.len();
        crate::node::qos_ticked(&runner.pipeline, snapshot, raised, n);
        runner.count_tick(stopped, contentions);
        runner.counters.last_corrections = n as u64;
        runner.counters.corrections_total += n as u64;
        for c in &runner.answer.strings {
            log::info!(
                target: "serenity",
                "[{}] correction: kill executor {} (framework {}, container {}): {}",
                runner.pipeline.name(),
                c[1].to_string_lossy(),
                c[0].to_string_lossy(),
                c[2].to_string_lossy(),
                c[3].to_string_lossy()
            );
        }
        if n > 0 {
            // SAFETY: as above; the entries live in the handle until the
            // next update or free.
            unsafe {
                corrections_out.write(runner.answer.views.as_ptr());
                count_out.write(n);
            }
        }
        Ok(())
    })
}

/// Writes the seconds the controller should wait between ticks (the
/// pipeline's `interval_secs`, > 0) to `*secs_out`: the Mesos adapter's poll
/// delay.
///
/// # Safety
/// `qos` is a live handle; `secs_out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn serenity_qos_interval_secs(
    qos: *const serenity_qos,
    secs_out: *mut f64,
) -> serenity_result {
    boundary_result("serenity_qos_interval_secs", || {
        // SAFETY: a live handle or NULL (contract).
        let qos = unsafe { object(qos) }?;
        if secs_out.is_null() {
            return Err(serenity_result::NullParameter);
        }
        let secs = qos.object.runner.lock()?.pipeline.interval_secs();
        // SAFETY: non-NULL and valid for writes (contract).
        unsafe { secs_out.write(secs) };
        Ok(())
    })
}

/// Writes the controller's counters to `*metrics_out`.
///
/// # Safety
/// `qos` is a live handle; `metrics_out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn serenity_qos_metrics(
    qos: *const serenity_qos,
    metrics_out: *mut serenity_metrics,
) -> serenity_result {
    boundary_result("serenity_qos_metrics", || {
        // SAFETY: a live handle or NULL (contract).
        let qos = unsafe { object(qos) }?;
        if metrics_out.is_null() {
            return Err(serenity_result::NullParameter);
        }
        let m = qos.object.metrics()?;
        // SAFETY: non-NULL and valid for writes (contract).
        unsafe { metrics_out.write(m) };
        Ok(())
    })
}

/// As `serenity_estimator_last_error`, for a QoS controller.
///
/// # Safety
/// `qos` is a live handle; `buf` is NULL or valid for `buf_len` bytes of
/// writes; `len_out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn serenity_qos_last_error(
    qos: *const serenity_qos,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> serenity_result {
    boundary_result("serenity_qos_last_error", || {
        // SAFETY: a live handle or NULL (contract).
        let qos = unsafe { object(qos) }?;
        // SAFETY: `buf` valid for `buf_len` bytes or NULL (contract).
        let n = unsafe { qos.object.last_error(buf, buf_len) }?;
        // SAFETY: NULL or valid for a write (contract).
        unsafe { write_opt(len_out, n) };
        Ok(())
    })
}

/// Opens the controller's own valve (its operator switch; idempotent, see
/// `serenity_estimator_valve_open`).
///
/// # Safety
/// `qos` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn serenity_qos_valve_open(qos: *const serenity_qos) -> serenity_result {
    boundary_result("serenity_qos_valve_open", || {
        // SAFETY: a live handle or NULL (contract).
        unsafe { object(qos) }?.object.set_valve(true)
    })
}

/// Closes the controller's own valve (idempotent). While it is closed, a pipeline
/// with a `valve` stage answers no corrections: best-effort work is then
/// no longer revoked when it hurts production work.
///
/// # Safety
/// `qos` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn serenity_qos_valve_close(qos: *const serenity_qos) -> serenity_result {
    boundary_result("serenity_qos_valve_close", || {
        // SAFETY: a live handle or NULL (contract).
        unsafe { object(qos) }?.object.set_valve(false)
    })
}

/// Writes the controller valve's state to `*state_out`.
///
/// # Safety
/// `qos` is a live handle; `state_out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn serenity_qos_valve_state(
    qos: *const serenity_qos,
    state_out: *mut serenity_valve_state,
) -> serenity_result {
    boundary_result("serenity_qos_valve_state", || {
        // SAFETY: a live handle or NULL (contract).
        let qos = unsafe { object(qos) }?;
        if state_out.is_null() {
            return Err(serenity_result::NullParameter);
        }
        let state = qos.object.valve_state()?;
        // SAFETY: non-NULL and valid for writes (contract).
        unsafe { state_out.write(state) };
        Ok(())
    })
}

/// Frees a QoS controller and the corrections it owns. NULL is accepted and
/// ignored. A poisoned handle is freed too.
///
/// # Safety
/// `qos` is NULL or a handle from `serenity_qos_new_*`, not yet freed, and
/// not in use by another thread; it must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn serenity_qos_free(qos: *mut serenity_qos) {
    crate::panic::boundary("serenity_qos_free", || {
        if !qos.is_null() {
            // SAFETY: from `Box::into_raw` in `finish_new`, freed once
            // (contract).
            drop(unsafe { Box::from_raw(qos) });
        }
    })
}
