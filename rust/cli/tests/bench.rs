//! `serenity bench` with tiny sizes.

mod common;
use common::*;

#[test]
fn bench_reports_decode_pipelines_ratio_and_memory_as_json() {
    let o = serenity(&[
        "bench",
        "--executors",
        "5",
        "--ticks",
        "20",
        "--output",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["executors"], 5);
    assert_eq!(r["ticks"], 20);
    assert_eq!(
        r["pipelines"],
        serde_json::json!(["bench-estimator", "bench-qos"])
    );
    assert!(r["snapshot_bytes"].as_u64().unwrap() > 5 * 100);
    for k in ["decode", "pipelines_only", "decode_and_pipelines"] {
        assert!(r[k]["mean_us"].as_f64().unwrap() > 0.0, "{k}");
        assert!(
            r[k]["p99_us"].as_f64().unwrap() >= r[k]["p50_us"].as_f64().unwrap(),
            "{k}"
        );
    }
    assert!(r["ratio"].as_f64().unwrap() > 1.0);
    // Each tick's total includes its decode, so every order statistic does too.
    assert!(r["ratio_p50"].as_f64().unwrap() >= 1.0);
    assert!(r["peak_rss_kib"].as_u64().unwrap() > 0);
    assert!(r["rss_growth_second_half_kib"].is_i64());
}

#[test]
fn bench_runs_given_pipelines_and_prints_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let est = write(dir.path(), "my-estimator.toml", ESTIMATOR);
    let o = serenity(&[
        "bench",
        "--executors",
        "3",
        "--ticks",
        "4",
        "--pipeline",
        &est,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("executors × ticks"), "{out}");
    assert!(out.contains("3 × 4"));
    assert!(out.contains("my-estimator"));
    assert!(out.contains("ratio (decode + pipelines) / decode"));
}

#[test]
fn zero_executors_is_refused() {
    let o = serenity(&["bench", "--executors", "0", "--ticks", "4"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: --executors and --ticks must be at least 1\n"
    );
}
