//! `serenity_valve_request_parse`: the modules' `/valve` routes hand the
//! request's query string and body to the one parser of valve requests
//! (`serenity_core::parse_valve_request`), so the rules (and the fuzzing of
//! them) live in Rust.

use crate::input::{copy_text, write_opt};
use crate::panic::boundary_result;
use crate::result::serenity_result;
use std::ffi::c_char;

/// Bytes of `(ptr, len)`; an empty slice for `len` 0 (whatever `ptr` is).
///
/// # Safety
/// `ptr` is valid for `len` bytes of reads when `len > 0`.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], serenity_result> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(serenity_result::NullParameter);
    }
    // SAFETY: non-NULL and valid for `len` bytes (contract).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Reads what a `/valve` request asks: the switch position of
/// `enabled=true` / `enabled=false`, form-urlencoded in the query string
/// (`query`, without `?`) or, when the query has no parameters, in the body.
/// On success writes `true` (open) or `false` (close) to `*open_out` and
/// answers `SERENITY_RESULT_OK`. A refused request (unknown or repeated
/// parameter, missing `enabled`, a value other than true/false, bad
/// percent-encoding, not UTF-8) answers `SERENITY_RESULT_INVALID_REQUEST`
/// and leaves `*open_out` alone. Either way the sentence saying why (empty
/// on success) is copied into `message_buf`, NUL-terminated and truncated to
/// `message_buf_len` bytes, and its full length is written to
/// `*message_len_out` when not NULL.
///
/// # Safety
/// `query` and `body` are valid for `query_len` and `body_len` bytes of
/// reads (either may be NULL when its length is 0); `open_out` is valid for
/// a write; `message_buf` is NULL or valid for `message_buf_len` bytes of
/// writes; `message_len_out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn serenity_valve_request_parse(
    query: *const u8,
    query_len: usize,
    body: *const u8,
    body_len: usize,
    open_out: *mut bool,
    message_buf: *mut c_char,
    message_buf_len: usize,
    message_len_out: *mut usize,
) -> serenity_result {
    boundary_result("serenity_valve_request_parse", || {
        if open_out.is_null() {
            return Err(serenity_result::NullParameter);
        }
        // SAFETY: valid for their lengths (contract).
        let (query, body) = unsafe { (bytes(query, query_len)?, bytes(body, body_len)?) };
        let (result, message) = match serenity_core::parse_valve_request(query, body) {
            Ok(open) => {
                // SAFETY: non-NULL and valid for a write (contract).
                unsafe { open_out.write(open) };
                (Ok(()), String::new())
            }
            Err(e) => (Err(serenity_result::InvalidRequest), e.to_string()),
        };
        // SAFETY: NULL or valid for `message_buf_len` bytes; the message is
        // ours, so the regions cannot overlap (contract).
        let n = unsafe { copy_text(&message, message_buf, message_buf_len) };
        // SAFETY: NULL or valid for a write (contract).
        unsafe { write_opt(message_len_out, n) };
        result
    })
}
