//! `serenity replay --plot`: the files are real pictures.

mod common;
use common::*;

#[test]
fn the_svg_parses_and_shows_every_panel_and_legend() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "ipc-step-drop");
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let qos = write(dir.path(), "qos.toml", QOS_NO_DETECTOR);
    let svg = dir.path().join("out.svg");
    let o = serenity(&[
        "replay",
        "-p",
        &est,
        "-p",
        &qos,
        &trace,
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&svg).unwrap();
    let tree =
        resvg::usvg::Tree::from_str(&text, &resvg::usvg::Options::default()).expect("valid SVG");
    assert_eq!(tree.size().width(), 1280.0);
    for needle in [
        "serenity replay of ipc-step-drop.jsonl (450 ticks)",
        "CPU usage per executor",
        "IPC per executor",
        "Slack (revocable CPUs the estimator advertises)",
        "web-1 (production)",
        "batch-1 (best-effort)",
        "thick: cpu_usage_ema (est)",
        "thick: ipc_ema (qos)",
        "dots: raw samples",
        "true idle capacity",
        "true interference",
        "time since the first sample (s)",
        "were not applied",
    ] {
        assert!(text.contains(needle), "missing {needle:?}");
    }
    // Raw: 5 executors in the CPU and the IPC panel; smoothed: 3 production
    // CPU EMAs (pr_only) and 5 IPC EMAs; slack and idle.
    assert_eq!(text.matches(r#"<path class="raw""#).count(), 5 + 5);
    assert_eq!(text.matches(r#"<path class="derived""#).count(), 3 + 5);
    assert_eq!(text.matches(r#"<path class="slack""#).count(), 1);
    assert_eq!(text.matches(r#"<path class="idle""#).count(), 1);
    // Nothing raised a contention: no kill, no kill lane.
    assert!(!text.contains(r#"class="kill""#));
}

#[test]
fn every_correction_of_the_replay_is_marked_and_said_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("out.svg");
    let args = [
        "replay",
        "-p",
        "pipelines/estimator.toml",
        "-p",
        "pipelines/qos.toml",
        "tests/data/demo-trace.jsonl",
    ];
    let o = serenity(&[&args[..], &["--output", "jsonl"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let mut corrections = 0;
    let mut executors = std::collections::BTreeSet::new();
    for line in stdout(&o).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for c in v["corrections"].as_array().unwrap() {
            corrections += 1;
            executors.insert(c["executor_id"].as_str().unwrap().to_string());
        }
    }
    // The open-loop replay names the same executors again and again.
    assert!(corrections > executors.len(), "{corrections} {executors:?}");
    let o = serenity(&[&args[..], &["--plot", svg.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(text.matches(r#"<path class="kill""#).count(), corrections);
    assert!(text.contains("Open-loop replay: the kills marked ▼ were not applied."));
}

#[test]
fn the_png_decodes_at_full_size_with_ink_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let trace = simulate(dir.path(), "steady-no-interference");
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let png = dir.path().join("out.png");
    let o = serenity(&[
        "replay",
        "-p",
        &est,
        &trace,
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.len() > 20_000, "{} bytes", bytes.len());
    let pixmap = resvg::tiny_skia::Pixmap::decode_png(&bytes).expect("a PNG");
    assert_eq!(pixmap.width(), 1280);
    assert!(pixmap.height() > 600);
    // Not a blank page: a good share of the pixels are not white.
    let inked = pixmap
        .pixels()
        .iter()
        .filter(|p| p.red() < 200 || p.green() < 200 || p.blue() < 200)
        .count();
    assert!(inked > 10_000, "{inked} inked pixels");
}

#[test]
fn an_unknown_plot_extension_is_refused_before_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let est = write(dir.path(), "est.toml", ESTIMATOR);
    let o = serenity(&[
        "replay",
        "-p",
        &est,
        "tests/data/baseline_smoke_test_resource_usage.json",
        "--plot",
        "x.pdf",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: --plot x.pdf: the file name must end in .svg or .png\n"
    );
    assert_eq!(stdout(&o), "");
}
