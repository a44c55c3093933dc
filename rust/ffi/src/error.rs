//! `serenity_config_error`: every problem found while creating an estimator
//! or a QoS controller, each with its location, stage, key and value.
//!
//! The object is created by a failed `*_new_*` call, owned by the caller,
//! and freed with `serenity_config_error_free`. Every string it hands out is
//! NUL-terminated and lives as long as the object.

use crate::panic::boundary;
use serenity_core::config::Origin;
use serenity_core::ConfigErrors;
use std::ffi::{c_char, CString};

/// A NUL-terminated copy of `s` (an interior NUL is written as `\0`).
pub(crate) fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

struct Problem {
    message: CString,
    detail: CString,
    origin: CString,
    file: Option<CString>,
    line: usize,
    column: usize,
    stage_index: usize,
    stage_type: Option<CString>,
    key: Option<CString>,
    value: Option<CString>,
}

/// The problems of a configuration that could not be built (opaque).
pub struct serenity_config_error {
    problems: Vec<Problem>,
    text: CString,
}

impl serenity_config_error {
    /// From the pipeline builder's collected problems.
    pub(crate) fn from_config(errors: &ConfigErrors) -> Box<Self> {
        let problems = errors
            .0
            .iter()
            .map(|e| {
                let (file, line, column) = match &e.origin {
                    Origin::File { file, line, column } => (Some(cstring(file)), *line, *column),
                    Origin::Override(_) => (None, 0, 0),
                };
                Problem {
                    message: cstring(&e.to_string()),
                    detail: cstring(&e.message),
                    origin: cstring(&e.origin.to_string()),
                    file,
                    line,
                    column,
                    stage_index: e.stage.as_ref().map_or(0, |(i, _)| *i),
                    stage_type: e.stage.as_ref().map(|(_, t)| cstring(t)),
                    key: e.key.as_deref().map(cstring),
                    value: e.value.as_deref().map(cstring),
                }
            })
            .collect();
        Self::assemble(problems)
    }

    /// One problem that is not about a particular key: `where_: what`.
    pub(crate) fn single(where_: &str, what: &str) -> Box<Self> {
        Self::assemble(vec![Problem {
            message: cstring(&format!("{where_}: {what}")),
            detail: cstring(what),
            origin: cstring(where_),
            file: Some(cstring(where_)),
            line: 0,
            column: 0,
            stage_index: 0,
            stage_type: None,
            key: None,
            value: None,
        }])
    }

    fn assemble(problems: Vec<Problem>) -> Box<Self> {
        let text = problems
            .iter()
            .map(|p| p.message.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        Box::new(serenity_config_error {
            problems,
            text: cstring(&text),
        })
    }

    /// Every problem's full text, one per line.
    pub fn text(&self) -> &str {
        self.text.to_str().unwrap_or("")
    }

    /// The number of problems.
    pub fn count(&self) -> usize {
        self.problems.len()
    }
}

/// Applies `f` to problem `index` of `error`, or NULL when either is missing.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
unsafe fn field(
    function: &'static str,
    error: *const serenity_config_error,
    index: usize,
    f: impl FnOnce(&Problem) -> Option<&CString>,
) -> *const c_char {
    boundary(function, || {
        // SAFETY: NULL or live, by this function's contract.
        let Some(error) = (unsafe { error.as_ref() }) else {
            return std::ptr::null();
        };
        error
            .problems
            .get(index)
            .and_then(f)
            .map_or(std::ptr::null(), |s| s.as_ptr())
    })
}

/// Applies `f` to problem `index` of `error`; 0 when either is missing.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
unsafe fn number(
    function: &'static str,
    error: *const serenity_config_error,
    index: usize,
    f: impl FnOnce(&Problem) -> usize,
) -> usize {
    boundary(function, || {
        // SAFETY: NULL or live, by this function's contract.
        unsafe { error.as_ref() }
            .and_then(|e| e.problems.get(index))
            .map_or(0, f)
    })
}

/// The number of problems; 0 for NULL.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_count(error: *const serenity_config_error) -> usize {
    boundary("serenity_config_error_count", || {
        // SAFETY: NULL or live, by this function's contract.
        unsafe { error.as_ref() }.map_or(0, |e| e.problems.len())
    })
}

/// Every problem's full text, one per line (no trailing newline): what to
/// put in a log. NULL for NULL. Lives as long as `error`.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_text(
    error: *const serenity_config_error,
) -> *const c_char {
    boundary("serenity_config_error_text", || {
        // SAFETY: NULL or live, by this function's contract.
        unsafe { error.as_ref() }.map_or(std::ptr::null(), |e| e.text.as_ptr())
    })
}

/// Problem `index` (0-based) in full: `file:line:column: stage N (type):
/// `key` = value: message`. NULL when `error` is NULL or `index` is out of
/// range. Lives as long as `error`.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_message(
    error: *const serenity_config_error,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe {
        field("serenity_config_error_message", error, index, |p| {
            Some(&p.message)
        })
    }
}

/// Problem `index`'s message alone, without location, stage or key. NULL
/// when out of range. Lives as long as `error`.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_detail(
    error: *const serenity_config_error,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe {
        field("serenity_config_error_detail", error, index, |p| {
            Some(&p.detail)
        })
    }
}

/// Where problem `index` is: `file:line:column`, or ``override `text` ``
/// for an operator override. NULL when out of range. Lives as long as
/// `error`.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_origin(
    error: *const serenity_config_error,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe {
        field("serenity_config_error_origin", error, index, |p| {
            Some(&p.origin)
        })
    }
}

/// The file of problem `index`; NULL for an override or out of range.
/// Lives as long as `error`.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_file(
    error: *const serenity_config_error,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe {
        field("serenity_config_error_file", error, index, |p| {
            p.file.as_ref()
        })
    }
}

/// The 1-based line of problem `index` in its file; 0 when unknown (an
/// override, an unreadable file) or out of range.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_line(
    error: *const serenity_config_error,
    index: usize,
) -> usize {
    // SAFETY: forwarded contract.
    unsafe { number("serenity_config_error_line", error, index, |p| p.line) }
}

/// The 1-based column of problem `index`; 0 when unknown or out of range.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_column(
    error: *const serenity_config_error,
    index: usize,
) -> usize {
    // SAFETY: forwarded contract.
    unsafe { number("serenity_config_error_column", error, index, |p| p.column) }
}

/// The 1-based index of the stage problem `index` concerns; 0 for a
/// top-level problem or out of range.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_stage_index(
    error: *const serenity_config_error,
    index: usize,
) -> usize {
    // SAFETY: forwarded contract.
    unsafe {
        number("serenity_config_error_stage_index", error, index, |p| {
            p.stage_index
        })
    }
}

/// The `type` of the stage problem `index` concerns; NULL for a top-level
/// problem or out of range. Lives as long as `error`.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_stage_type(
    error: *const serenity_config_error,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe {
        field("serenity_config_error_stage_type", error, index, |p| {
            p.stage_type.as_ref()
        })
    }
}

/// The key problem `index` concerns; NULL when none or out of range.
/// Lives as long as `error`.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_key(
    error: *const serenity_config_error,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe {
        field("serenity_config_error_key", error, index, |p| {
            p.key.as_ref()
        })
    }
}

/// The offending value as written; NULL when none or out of range. Lives
/// as long as `error`.
///
/// # Safety
/// `error` is NULL or a live `serenity_config_error`.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_value(
    error: *const serenity_config_error,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe {
        field("serenity_config_error_value", error, index, |p| {
            p.value.as_ref()
        })
    }
}

/// Frees an error object. NULL is accepted and ignored.
///
/// # Safety
/// `error` is NULL or a `serenity_config_error` from a `*_new_*` call, not
/// yet freed; it must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn serenity_config_error_free(error: *mut serenity_config_error) {
    boundary("serenity_config_error_free", || {
        if !error.is_null() {
            // SAFETY: by this function's contract `error` came from
            // `Box::into_raw` and is freed exactly once.
            drop(unsafe { Box::from_raw(error) });
        }
    })
}
