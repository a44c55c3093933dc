//! The process-wide estimator valve: shared by every estimator, linked to
//! every QoS controller. Its own test binary (process), because closing it
//! affects every estimator of the process; the tests here run one at a time.

mod common;

use common::*;
use serenity_ffi::estimator::*;
use serenity_ffi::*;
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

fn state(est: &Est) -> serenity_valve_state {
    let mut st = serenity_valve_state::default();
    // SAFETY: live handle, valid out-pointer.
    assert_eq!(
        unsafe { serenity_estimator_valve_state(est.0, &mut st) },
        serenity_result::Ok
    );
    st
}

fn ticks() -> (Vec<u8>, Vec<u8>) {
    let a = usage(10.0, 8.0, &[Exec::new("pr", false, 4.0, 1.0)]);
    let b = usage(11.0, 8.0, &[Exec::new("pr", false, 4.0, 2.0)]);
    (bytes(&a), bytes(&b))
}

#[test]
fn every_estimator_shares_one_valve_whose_switch_does_not_count() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let one = Est::from_text("one.toml", ESTIMATOR_TOML, &[]).expect("valid");
    let two = Est::from_text("two.toml", ESTIMATOR_TOML, &[]).expect("valid");
    let (a, b) = ticks();
    one.update(&a);
    two.update(&a);
    // SAFETY: live handles.
    unsafe {
        assert_eq!(serenity_estimator_valve_close(one.0), serenity_result::Ok);
        assert_eq!(serenity_estimator_valve_close(one.0), serenity_result::Ok);
    }
    let st = state(&two);
    assert_eq!((st.open, st.switch_open, st.holds), (false, false, 0));
    let (r, s) = two.update(&b);
    assert_eq!(r, serenity_result::Ok);
    assert!(s.stopped && s.cpus == 0.0, "{s:?}");
    // One open opens the switch, however many closes came before.
    // SAFETY: live handle.
    unsafe { serenity_estimator_valve_open(two.0) };
    assert!(state(&one).open && state(&one).has_valve_stage);
    let (_, s) = one.update(&b);
    assert!(!s.stopped && s.cpus > 0.0, "{s:?}");
    // Opens of an open valve do not pile up: one close still closes it.
    // SAFETY: live handles.
    unsafe {
        serenity_estimator_valve_open(one.0);
        serenity_estimator_valve_open(one.0);
        serenity_estimator_valve_close(two.0);
    }
    assert!(
        !state(&one).open,
        "one close after many opens closes the valve"
    );
    // SAFETY: live handle.
    unsafe { serenity_estimator_valve_open(one.0) };
}

/// Node overload above a quarter of the agent's cpus pauses the estimator.
const PAUSING_QOS_TOML: &str = r#"
kind = "qos"
[[stage]]
type = "overload"
threshold = 0.25
[[stage]]
type = "pause_estimator"
"#;

/// Production work on 4 of 8 cpus and best-effort work on 1, with the
/// cumulative CPU seconds of each at sample time `ts`.
fn mixed(ts: f64, pr_secs: f64, be_secs: f64) -> Vec<u8> {
    bytes(&usage(
        ts,
        8.0,
        &[
            Exec::new("pr", false, 4.0, pr_secs),
            Exec::new("be", true, 1.0, be_secs),
        ],
    ))
}

#[test]
fn a_qos_pipeline_pauses_the_estimator_of_its_process_while_overloaded() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let est = Est::from_text("paused.toml", ESTIMATOR_TOML, &[]).expect("valid");
    let qos = Qos::from_text("pauser.toml", PAUSING_QOS_TOML, &[]).expect("valid");
    // First sample: no usage rate yet, so no overload and no pause.
    let a = mixed(10.0, 1.0, 1.0);
    est.update(&a);
    assert_eq!(qos.update(&a).0, serenity_result::Ok);
    assert_eq!((state(&est).open, state(&est).holds), (true, 0));
    // An operator opens the already open valve twice (on a real agent, a
    // stray `GET ?enabled=true` did): nothing is banked against the pause.
    // SAFETY: live handle.
    unsafe {
        serenity_estimator_valve_open(est.0);
        serenity_estimator_valve_open(est.0);
    }
    // pr uses 2 cpus and be 0.5: 2.5 > 0.25 × 8 with best-effort work
    // among them, so the QoS pipeline takes a hold on the valve.
    let b = mixed(11.0, 3.0, 1.5);
    assert_eq!(qos.update(&b).0, serenity_result::Ok);
    assert_eq!(
        (state(&est).open, state(&est).holds),
        (false, 1),
        "the QoS pipeline closed the estimator's valve"
    );
    let (_, s) = est.update(&b);
    assert!(s.stopped && s.cpus == 0.0, "{s:?}");
    assert!(!est.metrics().valve_open);
    assert_eq!(est.metrics().valve_holds, 1);
    // An operator's open while the controller corrects cannot cancel it.
    // SAFETY: live handle.
    unsafe { serenity_estimator_valve_open(est.0) };
    assert!(!state(&est).open);
    // Still overloaded (2 + 0.5 again): one hold however long it lasts.
    let c = mixed(12.0, 5.0, 2.0);
    qos.update(&c);
    assert_eq!(state(&est).holds, 1);
    assert!(est.update(&c).1.stopped);
    // 0.5 + 0.5 cpus: the overload is over and the hold is released.
    let d = mixed(13.0, 5.5, 2.5);
    qos.update(&d);
    assert_eq!((state(&est).open, state(&est).holds), (true, 0));
    let (_, s) = est.update(&d);
    // pr uses 0.5 of its 4 cpus: slack 3.5, minus be's 1 revocable cpu.
    assert!(!s.stopped && (s.cpus - 2.5).abs() < 1e-9, "{s:?}");
    // Overloaded again, then the QoS handle is freed while it holds the
    // closing: freeing gives it back.
    qos.update(&mixed(14.0, 7.5, 3.0));
    assert!(!state(&est).open);
    drop(qos);
    assert_eq!((state(&est).open, state(&est).holds), (true, 0));
}

/// Calls `serenity_valve_request_parse` with a message buffer of `buf_len`.
fn parse(
    query: &[u8],
    body: &[u8],
    buf_len: usize,
) -> (serenity_result, Option<bool>, String, usize) {
    let mut open = None::<bool>;
    let mut value = false;
    let mut buf = vec![0x55 as std::ffi::c_char; buf_len];
    let mut len = usize::MAX;
    // SAFETY: slices valid for their lengths; out-pointers valid.
    let r = unsafe {
        serenity_ffi::valve_request::serenity_valve_request_parse(
            query.as_ptr(),
            query.len(),
            body.as_ptr(),
            body.len(),
            &mut value,
            if buf_len == 0 {
                std::ptr::null_mut()
            } else {
                buf.as_mut_ptr()
            },
            buf_len,
            &mut len,
        )
    };
    if r == serenity_result::Ok {
        open = Some(value);
    }
    let text = if buf_len == 0 {
        String::new()
    } else {
        // SAFETY: the function NUL-terminates within `buf_len`.
        unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    (r, open, text, len)
}

#[test]
fn valve_requests_are_parsed_by_the_library_with_reasons_for_refusals() {
    let (r, open, text, len) = parse(b"enabled=false", b"", 64);
    assert_eq!(
        (r, open, text.as_str(), len),
        (serenity_result::Ok, Some(false), "", 0)
    );
    let (r, open, _, _) = parse(b"", b"enabled=true", 64);
    assert_eq!((r, open), (serenity_result::Ok, Some(true)));
    let (r, open, text, len) = parse(b"", b"enabled=maybe", 256);
    assert_eq!((r, open), (serenity_result::InvalidRequest, None));
    assert_eq!(
        text,
        "Unknown value 'maybe' of 'enabled'. Possible values: true / false."
    );
    assert_eq!(len, text.len());
    // A short buffer gets a truncated, NUL-terminated prefix and the full length.
    let (_, _, short, full) = parse(b"", b"enabled=maybe", 8);
    assert_eq!((short.as_str(), full), ("Unknown", len));
    // No buffer: only the length.
    let (r, _, _, n) = parse(b"", b"enabled=maybe", 0);
    assert_eq!((r, n), (serenity_result::InvalidRequest, len));
}

#[test]
fn a_valve_request_with_null_pointers_is_refused_not_read() {
    let mut open = false;
    // SAFETY: NULL pointers with non-zero lengths must be caught.
    let r = unsafe {
        serenity_ffi::valve_request::serenity_valve_request_parse(
            std::ptr::null(),
            5,
            std::ptr::null(),
            0,
            &mut open,
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, serenity_result::NullParameter);
    // SAFETY: a NULL out-pointer must be caught.
    let r = unsafe {
        serenity_ffi::valve_request::serenity_valve_request_parse(
            b"enabled=true".as_ptr(),
            12,
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, serenity_result::NullParameter);
}
