//! The C ABI end to end: creation and configuration errors, updates,
//! corrections, counters, NULL handling, panics and poisoning, logging.
//! (The process-wide estimator valve is exercised in tests/valve.rs, a
//! separate process, because closing it affects every estimator.)

mod common;

use common::*;
use serenity_ffi::estimator::*;
use serenity_ffi::qos::*;
use serenity_ffi::*;
use std::ffi::CString;

fn two_ticks() -> (Vec<u8>, Vec<u8>) {
    let first = usage(
        100.0,
        8.0,
        &[
            Exec::new("pr1", false, 4.0, 10.0),
            Exec::new("be1", true, 1.0, 5.0),
        ],
    );
    let second = usage(
        101.0,
        8.0,
        &[
            Exec::new("pr1", false, 4.0, 12.0),
            Exec::new("be1", true, 1.0, 5.5),
        ],
    );
    (bytes(&first), bytes(&second))
}

#[test]
fn estimator_answers_slack_net_of_allocated_revocable_cpus() {
    let est = Est::from_text("est-slack.toml", ESTIMATOR_TOML, &[]).expect("valid pipeline");
    let (a, b) = two_ticks();
    let (r, s) = est.update(&a);
    assert_eq!(r, serenity_result::Ok);
    assert_eq!(s.cpus, 0.0, "no usage sample yet on the first tick");
    let (r, s) = est.update(&b);
    assert_eq!(r, serenity_result::Ok);
    // pr1 uses 2 of its 4 cpus: slack 2, minus be1's 1 revocable cpu.
    assert!((s.cpus - 1.0).abs() < 1e-9, "{s:?}");
    assert_eq!(s.mem_mib, s.mem_bytes / 1048576.0);
    assert!(!s.stopped);
    let m = est.metrics();
    assert_eq!(m.ticks, 2);
    assert_eq!(m.errors, 0);
    assert!((m.last_slack_cpus - 1.0).abs() < 1e-9);
    assert!(m.valve_open);
}

#[test]
fn a_probe_table_whose_cgroups_cannot_be_read_changes_no_answer() {
    // `[probe]` asks the handle to fill missing perf statistics from the
    // containers' perf_event groups. When those cannot be opened (here a root
    // that does not exist), the answer must be exactly the one without it.
    let with_probe =
        format!("{ESTIMATOR_TOML}\n[probe]\ncgroup_root = \"/nonexistent/serenity-test\"\n");
    let plain = Est::from_text("est-plain.toml", ESTIMATOR_TOML, &[]).expect("valid pipeline");
    let probed = Est::from_text("est-probe.toml", &with_probe, &[]).expect("valid pipeline");
    let (a, b) = two_ticks();
    for bytes in [&a, &b] {
        let (r1, s1) = plain.update(bytes);
        let (r2, s2) = probed.update(bytes);
        assert_eq!(r1, serenity_result::Ok);
        assert_eq!(r2, serenity_result::Ok);
        assert_eq!(s1.cpus, s2.cpus);
        assert_eq!(s1.mem_bytes, s2.mem_bytes);
    }
    assert_eq!(probed.metrics().errors, 0);
}

#[test]
fn overrides_are_applied_and_bad_ones_are_reported() {
    let est = Est::from_text("est-over.toml", ESTIMATOR_TOML, &["slack.fraction=0.3"])
        .expect("valid override");
    let (a, b) = two_ticks();
    est.update(&a);
    let (_, s) = est.update(&b);
    // cap = 0.3 × 8 − 2 = 0.4, minus be1's 1 cpu: nothing left.
    assert_eq!(s.cpus, 0.0);

    let e = Est::from_text(
        "est-bad.toml",
        ESTIMATOR_TOML,
        &["slack.fraction=7", "nokey"],
    )
    .err()
    .expect("bad overrides fail");
    assert_eq!(e.code, serenity_result::InvalidConfig);
    assert_eq!(e.messages.len(), 2, "{:#?}", e.messages);
    assert!(e.text.contains("nokey"), "{}", e.text);
    assert!(
        e.messages.iter().any(|m| m.contains("fraction")),
        "{:#?}",
        e.messages
    );
}

#[test]
fn every_configuration_problem_is_listed_with_its_location() {
    let toml = "kind = \"estimator\"\n\n[[stage]]\ntype = \"slack\"\nfraction = \"most\"\n\n[[stage]]\ntype = \"no_such\"\n";
    let e = Est::from_text("broken.toml", toml, &[])
        .err()
        .expect("invalid");
    assert_eq!(e.code, serenity_result::InvalidConfig);
    assert_eq!(e.messages.len(), 2, "{:#?}", e.messages);
    assert_eq!(e.text, e.messages.join("\n"));
    assert_eq!(e.origins[0], "broken.toml:5:12");
    assert_eq!((e.lines[0], e.columns[0]), (5, 12));
    assert_eq!(e.keys[0].as_deref(), Some("fraction"));
    assert_eq!(e.values[0].as_deref(), Some("\"most\""));
    assert_eq!(e.stages[0], (1, Some("slack".to_string())));
    assert_eq!(e.stages[1].0, 2);
    assert!(
        e.messages[1].contains("unknown stage type"),
        "{}",
        e.messages[1]
    );
}

#[test]
fn a_pipeline_of_the_other_kind_is_refused() {
    let e = Est::from_text("qos.toml", QOS_TOML, &[])
        .err()
        .expect("wrong kind");
    assert_eq!(e.code, serenity_result::InvalidConfig);
    assert!(e.text.contains("kind = \"estimator\""), "{}", e.text);
    let e = Qos::from_text("est.toml", ESTIMATOR_TOML, &[])
        .err()
        .expect("wrong kind");
    assert_eq!(e.code, serenity_result::InvalidConfig);
    // The articles follow the nouns' sound.
    assert!(
        e.text.contains("this is an estimator pipeline (kind = \"estimator\"), but a QoS controller needs kind = \"qos\""),
        "{}",
        e.text
    );
}

#[test]
fn an_unreadable_pipeline_file_is_an_io_error_naming_the_path() {
    let path = CString::new("/nonexistent/serenity/estimator.toml").unwrap();
    let mut out = std::ptr::null_mut();
    let mut err = std::ptr::null_mut();
    // SAFETY: valid strings and out-pointers.
    let r = unsafe {
        serenity_estimator_new_from_file(path.as_ptr(), std::ptr::null(), 0, &mut out, &mut err)
    };
    assert_eq!(r, serenity_result::Io);
    assert!(out.is_null());
    let e = ConfigErr::take(r, err);
    assert_eq!(e.messages.len(), 1);
    assert!(
        e.text
            .starts_with("/nonexistent/serenity/estimator.toml: cannot read"),
        "{}",
        e.text
    );
}

#[test]
fn a_pipeline_file_is_read_with_overrides() {
    let dir = std::env::temp_dir().join(format!("serenity-ffi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("from-file.toml");
    std::fs::write(&file, QOS_TOML).unwrap();
    let path = CString::new(file.to_str().unwrap()).unwrap();
    let o = CString::new("interval_secs=7").unwrap();
    let overrides = [o.as_ptr()];
    let mut out = std::ptr::null_mut();
    // SAFETY: valid strings and out-pointers; NULL error_out is allowed.
    let r = unsafe {
        serenity_qos_new_from_file(
            path.as_ptr(),
            overrides.as_ptr(),
            1,
            &mut out,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, serenity_result::Ok);
    let qos = Qos(out);
    let mut secs = 0.0;
    // SAFETY: live handle, valid out-pointer.
    assert_eq!(
        unsafe { serenity_qos_interval_secs(qos.0, &mut secs) },
        serenity_result::Ok
    );
    assert_eq!(secs, 7.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn qos_kills_every_best_effort_executor_on_node_overload() {
    let qos = Qos::from_text("qos-kill.toml", QOS_TOML, &[]).expect("valid pipeline");
    let mut secs = 0.0;
    // SAFETY: live handle, valid out-pointer.
    assert_eq!(
        unsafe { serenity_qos_interval_secs(qos.0, &mut secs) },
        serenity_result::Ok
    );
    assert_eq!(secs, 2.5);
    let (a, b) = two_ticks();
    // No usage rate on the first sample: nothing is summed, no overload.
    let (r, kills) = qos.update(&a);
    assert_eq!((r, kills.len()), (serenity_result::Ok, 0));
    // pr1 uses 2 cpus and be1 0.5: 2.5 > 0.25 × 8 with best-effort work
    // among them, one contention of 0.5 cpus; kill_all kills be1, never pr1.
    let (r, kills) = qos.update(&b);
    assert_eq!(r, serenity_result::Ok);
    assert_eq!(kills.len(), 1, "{kills:?}");
    let k = &kills[0];
    assert_eq!(
        (
            k.framework_id.as_str(),
            k.executor_id.as_str(),
            k.container_id.as_str(),
            k.executor_index
        ),
        ("fw-1", "be1", "be1", 1)
    );
    assert_eq!(
        k.reason, "kill_all: 1 contention(s), first from overload",
        "{}",
        k.reason
    );
    let m = qos.metrics();
    assert_eq!(
        (m.ticks, m.last_corrections, m.corrections_total),
        (2, 1, 1)
    );
    assert_eq!(m.last_contentions, 1);
    // The next update replaces the list: 0.5 + 0.5 cpus is no overload.
    let calm = usage(
        102.0,
        8.0,
        &[
            Exec::new("pr1", false, 4.0, 12.5),
            Exec::new("be1", true, 1.0, 6.0),
        ],
    );
    let (r, kills) = qos.update(&bytes(&calm));
    assert_eq!((r, kills.len()), (serenity_result::Ok, 0));
    let m = qos.metrics();
    assert_eq!((m.last_corrections, m.corrections_total), (0, 1));
}

#[test]
fn a_closed_qos_valve_stops_corrections() {
    let qos = Qos::from_text("qos-valve.toml", QOS_TOML, &[]).expect("valid pipeline");
    let (a, b) = two_ticks();
    qos.update(&a);
    // SAFETY: live handle.
    assert_eq!(
        unsafe { serenity_qos_valve_close(qos.0) },
        serenity_result::Ok
    );
    let mut st = serenity_valve_state::default();
    // SAFETY: live handle, valid out-pointer.
    assert_eq!(
        unsafe { serenity_qos_valve_state(qos.0, &mut st) },
        serenity_result::Ok
    );
    assert_eq!(
        (st.open, st.switch_open, st.holds, st.has_valve_stage),
        (false, false, 0, true)
    );
    let (r, kills) = qos.update(&b);
    assert_eq!((r, kills.len()), (serenity_result::Ok, 0));
    assert_eq!(qos.metrics().stopped_ticks, 1);
    // SAFETY: live handle.
    assert_eq!(
        unsafe { serenity_qos_valve_open(qos.0) },
        serenity_result::Ok
    );
    assert!(qos.metrics().valve_open);
}

#[test]
fn ranked_victims_kills_the_fewest_best_effort_executors_that_cover_the_overload() {
    let toml = "kind = \"qos\"\n[[stage]]\ntype = \"overload\"\nthreshold = 0.5\n\
                [[stage]]\ntype = \"ranked_victims\"\n";
    let qos = Qos::from_text("qos-ranked.toml", toml, &[]).expect("valid pipeline");
    let tick = |ts: f64, busy: [f64; 4]| {
        usage(
            ts,
            8.0,
            &[
                Exec::new("pr1", false, 4.0, busy[0]),
                Exec::new("be-small", true, 1.0, busy[1]),
                Exec::new("be-large", true, 2.0, busy[2]),
                Exec::new("be-mid", true, 1.0, busy[3]),
            ],
        )
    };
    let (r, kills) = qos.update(&bytes(&tick(100.0, [0.0; 4])));
    assert_eq!((r, kills.len()), (serenity_result::Ok, 0));
    // Usage over the second: 2.9 + 0.25 + 1.8 + 0.75 = 5.7 cpus, 1.7 above
    // 0.5 × 8. All are the same age, so the rank is by usage: be-large
    // (1.8) alone covers it; be-mid and be-small are spared.
    let (r, kills) = qos.update(&bytes(&tick(101.0, [2.9, 0.25, 1.8, 0.75])));
    assert_eq!(r, serenity_result::Ok);
    let names: Vec<&str> = kills.iter().map(|k| k.executor_id.as_str()).collect();
    assert_eq!(names, ["be-large"], "{kills:?}");
    assert_eq!(kills[0].executor_index, 2);
    assert!(
        kills[0]
            .reason
            .starts_with("ranked_victims: recover 1.700 cpus with 1 victim(s) freeing 1.800"),
        "{}",
        kills[0].reason
    );
    // 3.5 + 0.25 + 1 + 0.75 = 5.5, 1.5 above: be-large (1) alone does not
    // cover it, be-large and be-mid (1.75) do; be-small is not needed.
    let (r, kills) = qos.update(&bytes(&tick(102.0, [6.4, 0.5, 2.8, 1.5])));
    assert_eq!(r, serenity_result::Ok);
    let names: Vec<&str> = kills.iter().map(|k| k.executor_id.as_str()).collect();
    assert_eq!(names, ["be-large", "be-mid"], "{kills:?}");
    assert_eq!(qos.metrics().corrections_total, 3);
}

#[test]
fn hostile_bytes_are_refused_with_a_log_line_and_zero_answers() {
    capture_logs();
    let est = Est::from_text("hostile-est.toml", ESTIMATOR_TOML, &[]).expect("valid");
    let qos = Qos::from_text("hostile-qos.toml", QOS_TOML, &[]).expect("valid");
    let (a, b) = two_ticks();
    est.update(&a);
    qos.update(&a);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", b[..b.len() / 2].to_vec()),
        ("garbage", vec![0xff; 64]),
        // Field 1 (executors), length-delimited, length 2^62: far past the end.
        (
            "oversized length",
            vec![0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40],
        ),
        // An 11-byte varint: longer than any varint may be.
        (
            "overlong varint",
            vec![
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ),
        ("wrong wire type", vec![0x0d, 0, 0, 0, 0]),
    ];
    for (i, (what, input)) in cases.iter().enumerate() {
        let (r, s) = est.update(input);
        assert_eq!(r, serenity_result::InvalidUsage, "{what}");
        assert_eq!((s.cpus, s.mem_bytes, s.mem_mib), (0.0, 0.0, 0.0), "{what}");
        let (r, kills) = qos.update(input);
        assert_eq!(r, serenity_result::InvalidUsage, "{what}");
        assert!(kills.is_empty(), "{what}");
        assert_eq!(est.metrics().errors, i as u64 + 1);
        assert_eq!(qos.metrics().errors, i as u64 + 1);
        assert!(
            est.last_error().contains("not a valid mesos.ResourceUsage"),
            "{}",
            est.last_error()
        );
    }
    assert_eq!(
        logged(&["Error", "[hostile-est] refused", "zero slack"]).len(),
        cases.len()
    );
    assert_eq!(
        logged(&["Error", "[hostile-qos] refused", "no corrections"]).len(),
        cases.len()
    );

    // More than the maximum is refused before a byte is read.
    let huge = vec![0u8; SERENITY_MAX_USAGE_BYTES + 1];
    let (r, s) = est.update(&huge);
    assert_eq!((r, s.cpus), (serenity_result::TooLarge, 0.0));
    assert_eq!(logged(&["[hostile-est] refused", "accepted"]).len(), 1);

    // Refused input does not disturb the pipeline: the next good snapshot
    // is answered as if nothing had happened.
    let (r, s) = est.update(&b);
    assert_eq!(r, serenity_result::Ok);
    assert!((s.cpus - 1.0).abs() < 1e-9);
    let (r, kills) = qos.update(&b);
    assert_eq!((r, kills.len()), (serenity_result::Ok, 1));
}

#[test]
fn empty_usage_is_a_valid_snapshot_with_no_executors() {
    let est = Est::from_text("empty.toml", ESTIMATOR_TOML, &[]).expect("valid");
    let mut slack = serenity_slack::default();
    // SAFETY: NULL with length 0 is the empty buffer.
    let r = unsafe { serenity_estimator_update(est.0, std::ptr::null(), 0, &mut slack) };
    assert_eq!(r, serenity_result::Ok);
    assert_eq!(slack.cpus, 0.0);
}

#[test]
fn null_pointers_are_refused_and_null_frees_are_ignored() {
    let est = Est::from_text("nulls.toml", ESTIMATOR_TOML, &[]).expect("valid");
    let mut slack = serenity_slack::default();
    // SAFETY: every call below passes NULL where the API checks for it.
    unsafe {
        assert_eq!(
            serenity_estimator_update(std::ptr::null(), std::ptr::null(), 0, &mut slack),
            serenity_result::NullParameter
        );
        assert_eq!(
            serenity_estimator_update(est.0, std::ptr::null(), 0, std::ptr::null_mut()),
            serenity_result::NullParameter
        );
        assert_eq!(
            serenity_estimator_update(est.0, std::ptr::null(), 10, &mut slack),
            serenity_result::NullParameter
        );
        let mut out = std::ptr::null_mut();
        assert_eq!(
            serenity_estimator_new_from_text(
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                0,
                &mut out,
                std::ptr::null_mut()
            ),
            serenity_result::NullParameter
        );
        let name = CString::new("x.toml").unwrap();
        let toml = CString::new(ESTIMATOR_TOML).unwrap();
        assert_eq!(
            serenity_estimator_new_from_text(
                name.as_ptr(),
                toml.as_ptr(),
                std::ptr::null(),
                2,
                &mut out,
                std::ptr::null_mut()
            ),
            serenity_result::NullParameter
        );
        assert_eq!(
            serenity_estimator_new_from_text(
                name.as_ptr(),
                toml.as_ptr(),
                std::ptr::null(),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut()
            ),
            serenity_result::NullParameter
        );
        assert!(out.is_null());
        assert_eq!(
            serenity_estimator_valve_close(std::ptr::null()),
            serenity_result::NullParameter
        );
        assert_eq!(
            serenity_qos_valve_open(std::ptr::null()),
            serenity_result::NullParameter
        );
        let mut list = std::ptr::null();
        let mut n = 0;
        assert_eq!(
            serenity_qos_update(std::ptr::null(), std::ptr::null(), 0, &mut list, &mut n),
            serenity_result::NullParameter
        );
        assert_eq!(
            serenity_estimator_metrics(est.0, std::ptr::null_mut()),
            serenity_result::NullParameter
        );
        assert_eq!(
            serenity_ffi::error::serenity_config_error_count(std::ptr::null()),
            0
        );
        assert!(serenity_ffi::error::serenity_config_error_text(std::ptr::null()).is_null());
        serenity_estimator_free(std::ptr::null_mut());
        serenity_qos_free(std::ptr::null_mut());
        serenity_ffi::error::serenity_config_error_free(std::ptr::null_mut());
    }
}

#[test]
fn invalid_utf8_in_a_string_is_refused() {
    let name = CString::new(vec![0xff, 0xfe]).unwrap();
    let toml = CString::new(ESTIMATOR_TOML).unwrap();
    let mut out = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated strings and out-pointer.
    let r = unsafe {
        serenity_estimator_new_from_text(
            name.as_ptr(),
            toml.as_ptr(),
            std::ptr::null(),
            0,
            &mut out,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, serenity_result::InvalidUtf8);
}

#[test]
fn a_panic_in_a_stage_poisons_the_handle_and_never_unwinds() {
    capture_logs();
    let toml = "kind = \"qos\"\n[[stage]]\ntype = \"test_panic\"\non_tick = 2\n";
    let qos = Qos::from_text("panicky.toml", toml, &[]).expect("valid");
    let (a, b) = two_ticks();
    assert_eq!(qos.update(&a).0, serenity_result::Ok);
    let (r, kills) = qos.update(&b);
    assert_eq!(r, serenity_result::Panic);
    assert!(kills.is_empty());
    assert_eq!(qos.update(&a).0, serenity_result::Poisoned);
    let mut m = serenity_metrics::default();
    // SAFETY: live (poisoned) handle, valid out-pointer.
    assert_eq!(
        unsafe { serenity_qos_metrics(qos.0, &mut m) },
        serenity_result::Poisoned
    );
    // SAFETY: live (poisoned) handle.
    assert_eq!(
        unsafe { serenity_qos_valve_close(qos.0) },
        serenity_result::Poisoned
    );
    assert_eq!(
        logged(&[
            "Error",
            "internal error in serenity_qos_update",
            "tick 2 panics on purpose"
        ])
        .len(),
        1
    );
    // Freeing a poisoned handle is fine (Drop of `qos`).
}

#[test]
fn log_lines_reach_the_callback_with_their_level() {
    capture_logs();
    let _est = Est::from_text("logged.toml", ESTIMATOR_TOML, &[]).expect("valid");
    let lines = logged(&["Info serenity: [logged] resource estimator pipeline ready from logged.toml: 3 stage(s): valve, pr_only, slack"]);
    assert_eq!(lines.len(), 1, "{lines:?}");
}

#[test]
fn result_codes_have_static_texts() {
    for code in 0..=8u32 {
        // SAFETY: serenity_result_text returns a static string.
        let t =
            unsafe { std::ffi::CStr::from_ptr(serenity_ffi::result::serenity_result_text(code)) };
        assert!(!t.to_bytes().is_empty());
    }
    // SAFETY: as above.
    let t = unsafe { std::ffi::CStr::from_ptr(serenity_ffi::result::serenity_result_text(99)) };
    assert_eq!(t.to_str().unwrap(), "unknown result");
}
