//! The process-wide node summary (`serenity_node_summary`), fed by every
//! estimator and QoS controller of the process. Its own test binary
//! (process), because every handle of a process feeds the one summary; the
//! tests here run one at a time.

mod common;

use common::*;
use serenity_core::summary::SUMMARY_SCHEMA;
use serenity_core::NodeSummary;
use serenity_ffi::estimator::*;
use serenity_ffi::node::serenity_node_summary;
use serenity_ffi::*;
use std::ffi::{c_char, CStr};
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

/// The summary as the shim reads it: the length first, then a buffer with
/// room to spare, again if the text grew in between (its age is new at
/// every call).
fn summary() -> NodeSummary {
    let mut len = usize::MAX;
    // SAFETY: NULL buffer (length only), valid out-pointer.
    let r = unsafe { serenity_node_summary(std::ptr::null_mut(), 0, &mut len) };
    assert_eq!((r, len > 2), (serenity_result::Ok, true), "{len}");
    for _ in 0..3 {
        let mut buf = vec![0 as c_char; len + 64];
        // SAFETY: a buffer of buf.len() bytes, valid out-pointer.
        let r = unsafe { serenity_node_summary(buf.as_mut_ptr(), buf.len(), &mut len) };
        assert_eq!(r, serenity_result::Ok);
        if len < buf.len() {
            // SAFETY: NUL-terminated by the call.
            let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
            assert_eq!(text.len(), len, "the whole summary, NUL-terminated");
            return serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        }
    }
    panic!("the summary grew by more than 64 bytes three times in a row");
}

fn at(ts: f64, pr_secs: f64, be_secs: f64) -> Vec<u8> {
    bytes(&usage(
        ts,
        8.0,
        &[
            Exec::new("pr1", false, 4.0, pr_secs),
            Exec::new("be1", true, 1.0, be_secs),
        ],
    ))
}

#[test]
fn the_node_summary_follows_the_estimator_and_the_qos_controller() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = summary();
    assert_eq!(before.schema, SUMMARY_SCHEMA);
    assert_eq!((before.ticks, before.age_secs), (0, None), "{before:?}");

    // An estimator alone records the ticks: its slack and its valve.
    let est = Est::from_text("est.toml", ESTIMATOR_TOML, &[]).expect("valid");
    est.update(&at(100.0, 10.0, 5.0));
    let (_, slack) = est.update(&at(101.0, 11.0, 5.5));
    let s = summary();
    assert_eq!(s.ticks, 2);
    let lent = s.slack.expect("an estimator ticked");
    assert_eq!((lent.cpus, lent.mem_bytes), (slack.cpus, slack.mem_bytes));
    assert!(lent.cpus > 0.0, "{lent:?}");
    assert_eq!(s.valves.len(), 1, "{:?}", s.valves);
    assert!(s.valve_open && s.age_secs.is_some_and(|a| a >= 0.0));
    assert_eq!(s.best_effort_executors, 1);

    // A refused update answered zero slack: so does the summary, and no
    // tick is recorded for it.
    assert_eq!(
        est.update(b"\xff\xff garbage").0,
        serenity_result::InvalidUsage
    );
    let s = summary();
    assert_eq!(s.ticks, 2);
    let lent = s.slack.expect("still an estimator");
    assert_eq!((lent.cpus, lent.mem_bytes), (0.0, 0.0));

    // With a QoS controller, its ticks are the summary's: an overload raises
    // a contention on the signal it watches and one kill, counted per reason.
    let qos = Qos::from_text("qos.toml", QOS_TOML, &[]).expect("valid");
    est.update(&at(102.0, 12.0, 6.0));
    assert_eq!(summary().ticks, 2, "estimator ticks no longer record");
    qos.update(&at(102.0, 12.0, 6.0));
    let (_, kills) = qos.update(&at(103.0, 14.0, 6.5));
    assert_eq!(kills.len(), 1);
    let s = summary();
    assert_eq!(s.ticks, 4);
    assert!(s.contention.active);
    assert_eq!(s.contention.signals.len(), 1, "{:?}", s.contention);
    assert_eq!(s.contention.signals[0].detectors, vec!["overload"]);
    assert_eq!(s.corrections[0].total, 1);
    assert_eq!(
        s.corrections[0].reasons.get("overload"),
        Some(&1),
        "{:?}",
        s.corrections[0]
    );
    assert!(
        s.slack.is_some_and(|l| l.cpus > 0.0),
        "the estimator's last slack"
    );
    assert_eq!(
        s.valves.len(),
        2,
        "both pipelines have a valve: {:?}",
        s.valves
    );
    assert!(s.interference.score > 0.0, "{:?}", s.interference);

    // A closed valve shows at the next tick.
    // SAFETY: live handle.
    unsafe { serenity_estimator_valve_close(est.0) };
    qos.update(&at(104.0, 14.5, 7.0));
    let s = summary();
    assert!(!s.valve_open && !s.contention.active, "{s:?}");
    assert_eq!(s.valves.values().filter(|open| !**open).count(), 1);
    // SAFETY: live handle.
    unsafe { serenity_estimator_valve_open(est.0) };

    // A freed QoS controller leaves: the estimator records ticks again,
    // and only its valve is reported.
    drop(qos);
    est.update(&at(105.0, 15.0, 7.5));
    let s = summary();
    assert_eq!((s.ticks, s.valves.len()), (6, 1), "{s:?}");
    assert!(s.valve_open);
}

#[test]
fn a_short_buffer_gets_a_truncated_terminated_text_and_the_full_length() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut buf = [0x55 as c_char; 8];
    let mut len = 0usize;
    // SAFETY: a buffer of 8 bytes, valid out-pointer.
    let r = unsafe { serenity_node_summary(buf.as_mut_ptr(), buf.len(), &mut len) };
    assert_eq!(r, serenity_result::Ok);
    assert!(len > buf.len(), "{len}");
    // SAFETY: NUL-terminated by the call.
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
    assert_eq!(text, "{\"schem", "7 bytes and the NUL");
    // A NULL length pointer is allowed.
    // SAFETY: as above.
    let r = unsafe { serenity_node_summary(buf.as_mut_ptr(), buf.len(), std::ptr::null_mut()) };
    assert_eq!(r, serenity_result::Ok);
}
