//! Loading the original fixtures and decoding protobuf bytes.

use prost::Message;
use serenity_core::model::{
    decode_usage, load_trace, load_trace_bytes, proto, Snapshot, TraceFormat, TRACE_SHAPES,
};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../../shared/data/serenity-fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let local = format!("{}/../../tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&local)
        .or_else(|_| std::fs::read_to_string(&path))
        .unwrap_or_else(|e| panic!("cannot read fixture {name}: {e}"))
}

#[test]
fn original_fixtures_load_with_their_quirks() {
    for name in [
        "baseline_smoke_test_resource_usage.json",
        "ema_insufficient_metrics_test.json",
        "pr_executor_pass_test.json",
    ] {
        let (format, usages) = load_trace(&fixture(name)).expect(name);
        assert_eq!(format, TraceFormat::Fixture, "{name}");
        assert!(!usages.is_empty(), "{name}");
    }
    let (_, usages) = load_trace(&fixture("baseline_smoke_test_resource_usage.json")).unwrap();
    let first = Snapshot::new(usages[0].clone());
    assert_eq!(first.total_cpus, Some(200.0));
    assert_eq!(first.executors[0].key.executor_id, "serenity2");
    assert!(!first.executors[0].revocable);
    // Later snapshots carry a misplaced `total` inside an executor: skipped, not fatal.
    let later = Snapshot::new(usages[1].clone());
    assert_eq!(later.total_cpus, None);
}

#[test]
fn revocable_marker_makes_an_executor_best_effort() {
    let (_, usages) = load_trace(&fixture("pr_executor_pass_test.json")).unwrap();
    let snap = Snapshot::new(usages[0].clone());
    let be = &snap.executors[0];
    assert!(be.revocable);
    assert!((be.revocable_cpus - 1.1).abs() < 1e-12);
    let perf = snap.statistics(0).unwrap().perf.as_ref().unwrap();
    assert_eq!(perf.cycles, Some(48717706));
}

#[test]
fn json_lines_and_single_objects_are_recognised() {
    let line = r#"{"executors":[{"executor_info":{"executor_id":{"value":"e"},"framework_id":{"value":"f"}},"allocated":[{"name":"cpus","type":"SCALAR","scalar":{"value":2}}],"statistics":{"timestamp":"10.5","mem_rss_bytes":"1024","cpus_user_time_secs":1}}],"total":{"name":"cpus","type":0,"scalar":{"value":4}}}"#;
    let two = format!("{line}\n\n{line}\n");
    let (format, usages) = load_trace(&two).unwrap();
    assert_eq!(format, TraceFormat::JsonLines);
    assert_eq!(usages.len(), 2);
    let stats = usages[0].executors[0].statistics.as_ref().unwrap();
    assert_eq!(stats.timestamp, Some(10.5));
    assert_eq!(stats.mem_rss_bytes, Some(1024));
    // A single object where a list is expected is a one-element list (stout does the same).
    assert_eq!(usages[0].total.len(), 1);
    let pretty = line.replace(",", ",\n  ");
    let (format, usages) = load_trace(&pretty).unwrap();
    assert_eq!(format, TraceFormat::Single);
    assert_eq!(usages.len(), 1);
}

#[test]
fn a_bad_field_is_named_by_record_line_and_path() {
    let good = r#"{"executors":[]}"#;
    let bad = r#"{"executors":[{"statistics":{"timestamp":"soon"}}]}"#;
    let err = load_trace(&format!("{good}\n{bad}\n")).unwrap_err();
    assert_eq!(err.record, Some(1));
    assert_eq!(err.line, Some(2));
    assert_eq!(err.path, "executors[0].statistics.timestamp");
    let text = err.to_string();
    assert!(
        text.starts_with("record 1 (line 2, column 48): at `executors[0].statistics.timestamp`"),
        "{text}"
    );

    let fixture =
        r#"{"resource_usage": [{"executors": []}, {"total": [{"scalar": {"value": true}}]}]}"#;
    let err = load_trace(fixture).unwrap_err();
    assert_eq!(err.record, Some(1));
    assert_eq!(err.path, "resource_usage[1].total[0].scalar.value");
}

#[test]
fn protobuf_bytes_round_trip_and_garbage_is_an_error() {
    let (_, usages) = load_trace(&fixture("pr_executor_pass_test.json")).unwrap();
    let bytes = usages[0].encode_to_vec();
    assert_eq!(decode_usage(&bytes).unwrap(), usages[0]);
    let err = decode_usage(&bytes[..bytes.len() - 3]).unwrap_err();
    assert!(!err.message.is_empty());
    assert!(decode_usage(&[0xff, 0xff, 0xff, 0xff]).is_err());
    // Unknown fields (tag 99) are skipped.
    let mut extra = bytes.clone();
    extra.extend_from_slice(&[0x98, 0x06, 0x01]);
    assert_eq!(decode_usage(&extra).unwrap(), usages[0]);
    let _ = proto::ResourceUsage::default();
}

#[test]
fn unkeyable_and_duplicate_executors_are_rejected_with_a_reason() {
    let text = r#"{"executors":[
      {"executor_info":{"executor_id":{"value":"a"},"framework_id":{"value":"f"}}},
      {"executor_info":{"executor_id":{"value":"a"},"framework_id":{"value":"f"}}},
      {"executor_info":{"executor_id":{"value":"b"}}},
      {"allocated":[]}]}"#;
    let (_, usages) = load_trace(text).unwrap();
    let snap = Snapshot::new(usages[0].clone());
    assert_eq!(snap.executors.len(), 1);
    assert_eq!(snap.rejected.len(), 3);
    assert!(snap.rejected[0].reason.contains("more than once"));
    assert!(snap.rejected[1].reason.contains("no framework_id"));
    assert!(snap.rejected[2].reason.contains("no executor_info"));
}

#[test]
fn a_bad_field_in_a_multi_line_fixture_is_named_with_its_line() {
    let fixture = "{\n  \"resource_usage\": [\n    {\"executors\": []},\n    {\"executors\": [{\"statistics\": {\"timestamp\": \"soon\"}}]}\n  ]\n}\n";
    let err = load_trace(fixture).unwrap_err();
    assert_eq!((err.record, err.line), (Some(1), Some(4)));
    assert_eq!(
        err.to_string(),
        "record 1 (line 4, column 55): at `resource_usage[1].executors[0].statistics.timestamp`: expected a number, found the string \"soon\""
    );
}

#[test]
fn a_record_that_is_json_but_not_a_usage_is_an_error_naming_the_record() {
    // A replay output line given as a trace: valid JSON, no usage keys.
    let lines = "{\"executors\": []}\n{\"tick\": 0, \"pipeline\": \"qos\", \"slack\": null}\n";
    let err = load_trace(lines).unwrap_err();
    assert_eq!((err.record, err.line), (Some(1), Some(2)));
    assert!(
        err.message.starts_with(
            "not a ResourceUsage: the object has none of the keys `executors` and `total` (its keys: `tick`, `pipeline`, `slack`); "
        ),
        "{err}"
    );
    assert!(err.message.ends_with(TRACE_SHAPES), "{err}");

    let fixture = r#"{"resource_usage": [{"executors": []}, {"foo": 1}]}"#;
    let err = load_trace(fixture).unwrap_err();
    assert_eq!(err.record, Some(1));
    assert_eq!(err.path, "resource_usage[1]");
    assert!(err.message.starts_with("not a ResourceUsage"), "{err}");

    let err = load_trace("{\n  \"foo\": 1\n}\n").unwrap_err();
    assert!(err.message.starts_with("not a ResourceUsage"), "{err}");
}

#[test]
fn an_empty_usage_and_an_executor_without_statistics_still_load() {
    // `{}` is the protobuf JSON of an empty ResourceUsage; an executor may
    // lack statistics (the snapshot treats that as a missing signal).
    let text = "{}\n{\"executors\": [{\"executor_info\": {\"executor_id\": {\"value\": \"e\"}, \"framework_id\": {\"value\": \"f\"}}}], \"truth\": {}}\n{\"total\": [], \"actions\": []}\n";
    let (format, usages) = load_trace(text).unwrap();
    assert_eq!(format, TraceFormat::JsonLines);
    assert_eq!(usages.len(), 3);
    assert!(usages[0].executors.is_empty());
    assert!(usages[1].executors[0].statistics.is_none());
    let (format, usages) = load_trace("{}").unwrap();
    assert_eq!((format, usages.len()), (TraceFormat::JsonLines, 1));
}

#[test]
fn json_of_the_wrong_shape_says_what_a_trace_record_must_look_like() {
    for (text, what, line) in [
        ("[1, 2, 3]\n", "a JSON array", 1),
        ("{\"executors\": []}\n[1, 2, 3]\n", "a JSON array", 2),
        ("42\n", "a JSON number", 1),
        ("\"executors\"\n", "a JSON string", 1),
        ("{\"executors\": []}\nnull\n", "`null`", 2),
    ] {
        let err = load_trace(text).unwrap_err();
        assert_eq!(err.line, Some(line), "{text:?}: {err}");
        assert_eq!(
            err.message,
            format!("this is {what}, not a trace record: {TRACE_SHAPES}"),
            "{text:?}"
        );
    }
    // The sentence names all three layouts.
    for layout in [
        "JSON Lines",
        "single ResourceUsage object",
        "fixture file",
        "serenity record",
    ] {
        assert!(TRACE_SHAPES.contains(layout), "{layout}");
    }
}

#[test]
fn bytes_that_are_not_utf8_are_reported_with_their_offset_and_line() {
    let mut bytes = b"{\"executors\": []}\n{\"executors\": [".to_vec();
    bytes.push(0xff);
    bytes.extend_from_slice(b"]}\n");
    let err = load_trace_bytes(&bytes).unwrap_err();
    assert_eq!(err.offset, Some(33));
    assert_eq!((err.line, err.column), (Some(2), Some(16)));
    assert_eq!(
        err.to_string(),
        "line 2, column 16, byte offset 33: byte 0xff is not UTF-8: a trace is JSON text (is this a binary or compressed file?)"
    );
    assert_eq!(
        load_trace_bytes(b"{\"executors\": []}\n").unwrap().1.len(),
        1
    );
}
