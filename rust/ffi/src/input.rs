//! Borrowed views of what C hands in: strings, byte buffers, string arrays.
//! Each checks for NULL and size before it builds a Rust view, and the view
//! lives only for the call.

use crate::result::serenity_result;
use std::ffi::{c_char, CStr};

/// A NUL-terminated UTF-8 string borrowed for the call.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub(crate) unsafe fn c_str<'a>(p: *const c_char) -> Result<&'a str, serenity_result> {
    if p.is_null() {
        return Err(serenity_result::NullParameter);
    }
    // SAFETY: `p` is non-NULL and, by this function's contract, NUL-terminated
    // and valid for `'a`.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|_| serenity_result::InvalidUtf8)
}

/// `len` bytes at `p`, borrowed for the call. NULL with `len == 0` is the
/// empty buffer. The length is checked against `max` before any byte is
/// touched.
///
/// # Safety
/// Unless NULL, `p` points to at least `len` readable bytes (when
/// `len <= max`) that stay valid and unchanged for `'a`.
pub(crate) unsafe fn bytes<'a>(
    p: *const u8,
    len: usize,
    max: usize,
) -> Result<&'a [u8], serenity_result> {
    if len > max {
        return Err(serenity_result::TooLarge);
    }
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(serenity_result::NullParameter);
    }
    // SAFETY: `p` is non-NULL and points to `len` readable bytes by this
    // function's contract; `len <= max <= isize::MAX`.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// An array of `len` NUL-terminated strings (the `key=value` overrides),
/// copied. NULL with `len == 0` is the empty list.
///
/// # Safety
/// Unless NULL, `p` points to `len` pointers, each a valid NUL-terminated
/// string for the duration of the call.
pub(crate) unsafe fn strings(
    p: *const *const c_char,
    len: usize,
) -> Result<Vec<String>, serenity_result> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() {
        return Err(serenity_result::NullParameter);
    }
    // SAFETY: `p` is non-NULL and points to `len` pointers by this function's
    // contract.
    let items = unsafe { std::slice::from_raw_parts(p, len) };
    items
        .iter()
        // SAFETY: each element is a valid NUL-terminated string (or NULL,
        // which `c_str` refuses) for the call, by this function's contract.
        .map(|&item| unsafe { c_str(item) }.map(str::to_owned))
        .collect()
}

/// Writes `value` through `out` when `out` is not NULL.
///
/// # Safety
/// Unless NULL, `out` is valid for a write of `T` and properly aligned.
pub(crate) unsafe fn write_opt<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-NULL, valid and aligned by this function's contract.
        unsafe { out.write(value) };
    }
}

/// Copies `text` into `buf` NUL-terminated, truncated to `len` bytes (the
/// NUL included), unless `buf` is NULL or `len` is 0; returns the text's
/// full length without the NUL.
///
/// # Safety
/// `buf` is NULL or valid for `len` bytes of writes, not overlapping `text`.
pub(crate) unsafe fn copy_text(text: &str, buf: *mut c_char, len: usize) -> usize {
    let text = text.as_bytes();
    if !buf.is_null() && len > 0 {
        let n = text.len().min(len - 1);
        // SAFETY: `buf` is valid for `len` bytes (contract) and `n + 1 <=
        // len`; the regions do not overlap (contract).
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
            buf.add(n).write(0);
        }
    }
    text.len()
}
