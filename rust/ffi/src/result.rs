//! The result codes every function returns.

use std::ffi::c_char;

/// What a call did. Values are fixed and never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum serenity_result {
    /// Success.
    Ok = 0,
    /// A required pointer was NULL.
    NullParameter = 1,
    /// A string was not valid UTF-8.
    InvalidUtf8 = 2,
    /// The pipeline file could not be read.
    Io = 3,
    /// The pipeline configuration has problems (see the error object).
    InvalidConfig = 4,
    /// The usage bytes are not a valid serialized `mesos.ResourceUsage`.
    InvalidUsage = 5,
    /// The usage bytes exceed `SERENITY_MAX_USAGE_BYTES`.
    TooLarge = 6,
    /// A panic was caught; the handle in use (if any) is now poisoned.
    Panic = 7,
    /// The handle was poisoned by an earlier panic; free it.
    Poisoned = 8,
    /// A request (a `/valve` request's query or body) is refused; the
    /// function's message says why.
    InvalidRequest = 9,
}

impl serenity_result {
    /// A short English description.
    pub fn text(self) -> &'static str {
        self.text_c().to_str().unwrap_or("unknown result")
    }

    fn text_c(self) -> &'static std::ffi::CStr {
        match self {
            serenity_result::Ok => c"ok",
            serenity_result::NullParameter => c"a required pointer was NULL",
            serenity_result::InvalidUtf8 => c"a string was not valid UTF-8",
            serenity_result::Io => c"the pipeline file could not be read",
            serenity_result::InvalidConfig => c"the pipeline configuration is invalid",
            serenity_result::InvalidUsage => {
                c"the usage bytes are not a valid serialized mesos.ResourceUsage"
            }
            serenity_result::TooLarge => c"the usage bytes are larger than the accepted maximum",
            serenity_result::Panic => {
                c"an internal error (panic) was caught; the handle is poisoned"
            }
            serenity_result::Poisoned => c"the handle was poisoned by an earlier internal error",
            serenity_result::InvalidRequest => c"the request is refused (see its message)",
        }
    }

    fn from_u32(value: u32) -> Option<serenity_result> {
        Some(match value {
            0 => serenity_result::Ok,
            1 => serenity_result::NullParameter,
            2 => serenity_result::InvalidUtf8,
            3 => serenity_result::Io,
            4 => serenity_result::InvalidConfig,
            5 => serenity_result::InvalidUsage,
            6 => serenity_result::TooLarge,
            7 => serenity_result::Panic,
            8 => serenity_result::Poisoned,
            9 => serenity_result::InvalidRequest,
            _ => return None,
        })
    }
}

/// A static, NUL-terminated English description of a result code (a
/// `serenity_result` value); "unknown result" for other numbers. Never NULL;
/// lives for the whole process.
#[no_mangle]
pub extern "C" fn serenity_result_text(result: u32) -> *const c_char {
    crate::panic::boundary("serenity_result_text", || {
        serenity_result::from_u32(result)
            .map_or(c"unknown result", serenity_result::text_c)
            .as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_has_a_text() {
        for v in 0..=9u32 {
            let r = serenity_result::from_u32(v).expect("known code");
            assert_eq!(r as u32, v);
            assert!(!r.text().is_empty());
        }
        assert_eq!(serenity_result::from_u32(10), None);
    }
}
