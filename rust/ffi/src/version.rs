//! Library and ABI versions.

use crate::panic::boundary;
use std::ffi::{c_char, CStr};

/// The ABI version this header describes. It changes whenever a function,
/// struct layout or enum value changes incompatibly; compare it with
/// `serenity_abi_version()` before using the library.
pub const SERENITY_ABI_VERSION: u32 = 2;

const VERSION: &CStr = match CStr::from_bytes_with_nul(
    concat!("serenity-ffi ", env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(v) => v,
    Err(_) => panic!("the version string has an interior NUL"),
};

/// The library's version, e.g. "serenity-ffi 0.1.0". Static; never NULL.
#[no_mangle]
pub extern "C" fn serenity_version() -> *const c_char {
    boundary("serenity_version", || VERSION.as_ptr())
}

/// The library's ABI version; equals `SERENITY_ABI_VERSION` of the header it
/// was built with.
#[no_mangle]
pub extern "C" fn serenity_abi_version() -> u32 {
    boundary("serenity_abi_version", || SERENITY_ABI_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_names_the_crate_and_its_version() {
        // SAFETY: serenity_version returns a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(serenity_version()) };
        assert_eq!(
            v.to_str().expect("utf-8"),
            format!("serenity-ffi {}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(serenity_abi_version(), SERENITY_ABI_VERSION);
    }
}
