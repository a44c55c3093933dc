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
fn every_estimator_shares_one_valve_with_counter_semantics() {
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
    assert_eq!((state(&two).open, state(&two).counter), (false, -1));
    let (r, s) = two.update(&b);
    assert_eq!(r, serenity_result::Ok);
    assert!(s.stopped && s.cpus == 0.0, "{s:?}");
    // Two closes need two opens.
    // SAFETY: live handle.
    unsafe { serenity_estimator_valve_open(two.0) };
    assert!(!state(&one).open);
    // SAFETY: live handle.
    unsafe { serenity_estimator_valve_open(two.0) };
    assert!(state(&one).open && state(&one).has_valve_stage);
    let (_, s) = one.update(&b);
    assert!(!s.stopped && s.cpus > 0.0, "{s:?}");
}

#[test]
fn a_qos_pipeline_closes_the_estimator_valve_of_its_process() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let est = Est::from_text("paused.toml", ESTIMATOR_TOML, &[]).expect("valid");
    let toml = "kind = \"qos\"\n[[stage]]\ntype = \"test_close_estimator_valve\"\n";
    let qos = Qos::from_text("pauser.toml", toml, &[]).expect("valid");
    let (a, b) = ticks();
    est.update(&a);
    assert!(state(&est).open);
    assert_eq!(qos.update(&a).0, serenity_result::Ok);
    assert!(
        !state(&est).open,
        "the QoS pipeline closed the estimator's valve"
    );
    let (_, s) = est.update(&b);
    assert!(s.stopped && s.cpus == 0.0);
    assert!(!est.metrics().valve_open);
    // SAFETY: live handle.
    unsafe { serenity_estimator_valve_open(est.0) };
    assert!(state(&est).open);
}
