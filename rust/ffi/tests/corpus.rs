//! Replays the committed fuzz corpus (fuzz/corpus/update) through the C ABI
//! update path with the same invariants as the fuzz target: never a panic or
//! a poisoned handle, refused input answers zero slack and no corrections,
//! slack is finite and non-negative; and, checked here only, corrections
//! name best-effort executors of the snapshot.
//!
//! `cargo test -p serenity-ffi --test corpus -- --ignored write_corpus_seeds`
//! rewrites the hand-made seeds (the fuzzer's own finds are added by hand).

mod common;

use common::*;
use prost::Message;
use serenity_core::decode_usage;
use serenity_core::model::{proto, Snapshot};
use serenity_ffi::*;
use std::path::PathBuf;

/// The fuzz target's pipelines (fuzz/pipelines/), so the replay checks what
/// the fuzzer ran.
const ESTIMATOR: &str = include_str!("../../../fuzz/pipelines/estimator.toml");

const QOS: &str = include_str!("../../../fuzz/pipelines/qos.toml");

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/update")
}

#[test]
fn every_corpus_input_is_answered_without_panic() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("fuzz/corpus/update exists")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 24,
        "the committed corpus has {} files",
        files.len()
    );
    let est = Est::from_text("corpus-est.toml", ESTIMATOR, &[]).expect("valid");
    let qos = Qos::from_text("corpus-qos.toml", QOS, &[]).expect("valid");
    let (mut accepted, mut refused, mut killed) = (0, 0, 0);
    for f in &files {
        let data = std::fs::read(f).expect("readable");
        let name = f.file_name().unwrap().to_string_lossy();
        let (r, s) = est.update(&data);
        assert!(
            matches!(r, serenity_result::Ok | serenity_result::InvalidUsage),
            "{name}: {r:?}"
        );
        assert!(s.cpus.is_finite() && s.cpus >= 0.0, "{name}: {s:?}");
        assert!(
            s.mem_bytes.is_finite() && s.mem_bytes >= 0.0,
            "{name}: {s:?}"
        );
        let (q, kills) = qos.update(&data);
        assert_eq!(q, r, "{name}: both decode the same bytes");
        if r == serenity_result::Ok {
            accepted += 1;
        } else {
            refused += 1;
            assert_eq!((s.cpus, s.mem_bytes, s.mem_mib), (0.0, 0.0, 0.0), "{name}");
            assert!(kills.is_empty(), "{name}");
        }
        if !kills.is_empty() {
            // Corrections name only best-effort (revocable) executors.
            let snapshot = Snapshot::new(decode_usage(&data).expect("accepted input decodes"));
            for k in &kills {
                let view = snapshot
                    .executors
                    .iter()
                    .find(|v| v.index == k.executor_index)
                    .unwrap_or_else(|| panic!("{name}: {k:?} names a snapshot executor"));
                assert!(view.revocable, "{name}: {k:?} is not best-effort work");
                assert_eq!(view.key.executor_id, k.executor_id, "{name}");
            }
        }
        killed += kills.len();
    }
    assert!(
        accepted >= 5 && refused >= 10,
        "accepted {accepted}, refused {refused}"
    );
    assert!(
        killed > 0,
        "some seed drives the QoS pipeline to a correction"
    );
    println!("corpus: {accepted} accepted, {refused} refused, {killed} correction(s)");
    assert_eq!(est.metrics().errors, refused as u64);
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The hand-made seeds: valid snapshots, their truncations, garbage, and
/// lengths and varints that lie.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let one = usage(1.0, 4.0, &[Exec::new("pr", false, 2.0, 1.0)]);
    let two_a = usage(
        1.0,
        8.0,
        &[
            Exec::new("pr", false, 4.0, 1.0),
            Exec::new("be", true, 1.0, 1.0),
        ],
    );
    let two_b = usage(
        2.0,
        8.0,
        &[
            Exec::new("pr", false, 4.0, 3.0),
            Exec::new("be", true, 1.0, 1.5),
        ],
    );
    let two_c = usage(
        3.0,
        8.0,
        &[
            Exec::new("pr", false, 4.0, 5.0),
            Exec::new("be", true, 1.0, 2.0),
        ],
    );
    out.push(("valid-empty".into(), vec![]));
    out.push(("valid-one-executor".into(), bytes(&one)));
    out.push(("valid-tick-a".into(), bytes(&two_a)));
    out.push(("valid-tick-b".into(), bytes(&two_b)));
    out.push(("valid-tick-c".into(), bytes(&two_c)));
    let b = bytes(&two_b);
    for cut in [1, 2, 7, b.len() / 3, b.len() / 2, b.len() - 1] {
        out.push((format!("truncated-{cut:04}"), b[..cut].to_vec()));
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..5 {
        let g: Vec<u8> = (0..(16 + i * 23))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        out.push((format!("garbage-{i}"), g));
    }
    for (name, field, len) in [
        ("oversized-length-executors", 1u64, 1u64 << 62),
        ("oversized-length-total", 2, u32::MAX as u64),
        ("oversized-length-max", 1, u64::MAX),
    ] {
        let mut v = Vec::new();
        varint(field << 3 | 2, &mut v);
        varint(len, &mut v);
        v.extend_from_slice(&[0x0a, 0x00]);
        out.push((name.into(), v));
    }
    // A valid executor whose statistics length lies.
    let mut v = Vec::new();
    varint(1 << 3 | 2, &mut v);
    varint(4, &mut v);
    v.extend_from_slice(&[3 << 3 | 2, 0xff, 0xff, 0x7f]);
    out.push(("oversized-length-nested-statistics".into(), v));
    out.push((
        "overlong-varint".into(),
        vec![
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ],
    ));
    out.push(("wire-type-group-start".into(), vec![0x0b, 0x0c]));
    out.push(("wire-type-7".into(), vec![0x0f, 0x00]));
    out.push(("huge-field-number".into(), {
        let mut v = Vec::new();
        varint((1u64 << 35) << 3, &mut v);
        v.push(1);
        v
    }));
    // Container parents nested deeper than any decoder should follow.
    let mut c = proto::ContainerId {
        value: Some("leaf".into()),
        parent: None,
    };
    for i in 0..150 {
        c = proto::ContainerId {
            value: Some(format!("c{i}")),
            parent: Some(Box::new(c)),
        };
    }
    let mut deep = two_a.clone();
    deep.executors[0].container_id = Some(c);
    out.push(("deep-container-parents".into(), deep.encode_to_vec()));
    // Non-finite and negative numbers where numbers are expected.
    let mut odd = two_b.clone();
    if let Some(s) = odd.executors[0].statistics.as_mut() {
        s.timestamp = Some(f64::NAN);
        s.cpus_user_time_secs = Some(f64::INFINITY);
    }
    if let Some(s) = odd.executors[1].statistics.as_mut() {
        s.cpus_limit = Some(f64::NEG_INFINITY);
    }
    odd.total[0].scalar = Some(proto::Scalar { value: Some(-8.0) });
    out.push(("non-finite-values".into(), odd.encode_to_vec()));
    // Executors that cannot be keyed, and a duplicate.
    let mut unkeyed = two_b.clone();
    unkeyed.executors[0].executor_info = None;
    unkeyed.executors.push(two_b.executors[1].clone());
    out.push(("unkeyed-and-duplicate".into(), unkeyed.encode_to_vec()));
    // A string field that is not UTF-8.
    let mut bad = Vec::new();
    let exec_id = [0x0a, 0x02, 0xc3, 0x28]; // ExecutorID.value = invalid UTF-8
    let info = [&[0x0a, exec_id.len() as u8][..], &exec_id[..]].concat();
    let executor = [&[0x0a, info.len() as u8][..], &info[..]].concat();
    bad.extend_from_slice(&[0x0a, executor.len() as u8]);
    bad.extend_from_slice(&executor);
    out.push(("invalid-utf8-id".into(), bad));
    // Unknown fields are skipped.
    let mut unknown = bytes(&one);
    unknown.extend_from_slice(&[0xf8, 0x06, 0x01, 0xfa, 0x06, 0x01, 0x00]);
    out.push(("unknown-fields".into(), unknown));
    out
}

#[test]
#[ignore = "rewrites the committed seeds; run by hand"]
fn write_corpus_seeds() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).expect("corpus dir");
    for (name, data) in seeds() {
        std::fs::write(dir.join(format!("seed-{name}")), data).expect("write seed");
    }
}
