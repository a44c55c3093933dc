//! Fuzzes the C ABI update path: arbitrary bytes as a serialized
//! `mesos.ResourceUsage`, through an estimator and a QoS controller that
//! live across inputs (so pipeline state accumulates as in an agent).
//! Invariants: no panic reaches the boundary (never PANIC or POISONED),
//! refused input answers zero slack and no corrections, slack is finite and
//! non-negative, every correction's strings are readable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serenity_ffi::estimator::*;
use serenity_ffi::qos::*;
use serenity_ffi::*;
use std::ffi::{CStr, CString};
use std::sync::OnceLock;

const ESTIMATOR: &str = include_str!("../pipelines/estimator.toml");

/// Shared with rust/ffi/tests/corpus.rs, which replays the corpus.
const QOS: &str = include_str!("../pipelines/qos.toml");

struct Handles {
    est: usize,
    qos: usize,
}

fn handles() -> &'static Handles {
    static H: OnceLock<Handles> = OnceLock::new();
    H.get_or_init(|| {
        let mut est = std::ptr::null_mut();
        let mut qos = std::ptr::null_mut();
        let n1 = CString::new("fuzz-estimator.toml").unwrap();
        let t1 = CString::new(ESTIMATOR).unwrap();
        let n2 = CString::new("fuzz-qos.toml").unwrap();
        let t2 = CString::new(QOS).unwrap();
        // SAFETY: valid strings and out-pointers for the calls.
        unsafe {
            assert_eq!(
                serenity_estimator_new_from_text(
                    n1.as_ptr(),
                    t1.as_ptr(),
                    std::ptr::null(),
                    0,
                    &mut est,
                    std::ptr::null_mut()
                ),
                serenity_result::Ok
            );
            assert_eq!(
                serenity_qos_new_from_text(
                    n2.as_ptr(),
                    t2.as_ptr(),
                    std::ptr::null(),
                    0,
                    &mut qos,
                    std::ptr::null_mut()
                ),
                serenity_result::Ok
            );
        }
        Handles {
            est: est as usize,
            qos: qos as usize,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let h = handles();
    let est = h.est as *const serenity_estimator;
    let qos = h.qos as *const serenity_qos;
    let mut slack = serenity_slack::default();
    // SAFETY: live handles; `data` is readable for its length.
    let r = unsafe { serenity_estimator_update(est, data.as_ptr(), data.len(), &mut slack) };
    assert!(
        matches!(r, serenity_result::Ok | serenity_result::InvalidUsage),
        "{r:?}"
    );
    assert!(slack.cpus.is_finite() && slack.cpus >= 0.0, "{slack:?}");
    assert!(
        slack.mem_bytes.is_finite() && slack.mem_bytes >= 0.0,
        "{slack:?}"
    );
    if r != serenity_result::Ok {
        assert_eq!((slack.cpus, slack.mem_bytes), (0.0, 0.0));
    }
    let mut list = std::ptr::null();
    let mut n = 0usize;
    // SAFETY: as above.
    let r = unsafe { serenity_qos_update(qos, data.as_ptr(), data.len(), &mut list, &mut n) };
    assert!(
        matches!(r, serenity_result::Ok | serenity_result::InvalidUsage),
        "{r:?}"
    );
    if r != serenity_result::Ok {
        assert_eq!(n, 0);
    }
    if n > 0 {
        // SAFETY: `n` entries owned by the handle until its next update.
        for c in unsafe { std::slice::from_raw_parts(list, n) } {
            // SAFETY: NUL-terminated strings owned by the handle.
            unsafe {
                let _ = CStr::from_ptr(c.framework_id).to_bytes().len();
                let _ = CStr::from_ptr(c.executor_id).to_bytes().len();
                let _ = CStr::from_ptr(c.container_id).to_bytes().len();
                let _ = CStr::from_ptr(c.reason).to_bytes().len();
            }
        }
    }
});
