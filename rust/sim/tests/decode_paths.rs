//! The Mesos modules' decode path (each usage decoded over the previous
//! tick's message and view, `decode_usage_into` + `Snapshot::rebuild`) and
//! a fresh decode (`decode_usage` + `Snapshot::new`) lead every shipped
//! pipeline to the same decisions, tick for tick, on every shipped scenario
//! (recorded once in the closed loop, then replayed as protobuf bytes).

use prost::Message;
use serenity_core::model::proto::ResourceUsage;
use serenity_core::{
    build_pipeline, decode_usage, decode_usage_into, BuildOptions, Pipeline, Snapshot,
};
use serenity_sim::{closed_loop, Scenario};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    out.sort();
    out
}

/// Every shipped pipeline that needs nothing outside the process (the
/// `[[sli]]` ones fetch from a service).
fn shipped() -> Vec<(String, String)> {
    files("pipelines")
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .filter(|(_, text)| !text.contains("[[sli]]"))
        .collect()
}

fn build(name: &str, text: &str) -> Pipeline {
    build_pipeline(name, text, &[], BuildOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// The scenario's usage records, as the closed loop with the shipped
/// estimator and QoS controller produced them, encoded as the agent sends them.
fn recorded(path: &Path) -> Vec<Vec<u8>> {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let scenario = Scenario::parse(&name, &std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let read = |f: &str| std::fs::read_to_string(root().join("pipelines").join(f)).unwrap();
    let mut pipelines = vec![
        build("estimator.toml", &read("estimator.toml")),
        build("qos-cusum.toml", &read("qos-cusum.toml")),
    ];
    closed_loop::run(&scenario, &mut pipelines)
        .unwrap()
        .into_iter()
        .map(|record| {
            let usage: ResourceUsage = serde_json::from_value(record).unwrap();
            usage.encode_to_vec()
        })
        .collect()
}

#[test]
fn every_shipped_pipeline_decides_the_same_on_both_decode_paths_over_every_scenario() {
    let pipelines = shipped();
    assert!(
        pipelines.len() >= 8,
        "{} shipped pipelines",
        pipelines.len()
    );
    let scenarios = files("tests/scenarios");
    assert!(scenarios.len() >= 10, "{} scenarios", scenarios.len());
    let mut compared = 0usize;
    let mut decisions = 0usize;
    for path in &scenarios {
        let ticks = recorded(path);
        for (name, text) in &pipelines {
            let (mut fresh_path, mut reuse_path) = (build(name, text), build(name, text));
            let mut snapshot = Snapshot::new(ResourceUsage::default());
            for (t, bytes) in ticks.iter().enumerate() {
                let fresh = Snapshot::new(decode_usage(bytes).unwrap());
                decode_usage_into(bytes, &mut snapshot.usage).unwrap();
                snapshot.rebuild();
                let a = fresh_path.tick(&fresh);
                decisions +=
                    a.corrections.len() + usize::from(a.slack.is_some_and(|s| s.cpus > 0.0));
                let a = format!("{a:?}");
                let b = format!("{:?}", reuse_path.tick(&snapshot));
                assert_eq!(
                    a,
                    b,
                    "{} with {name}, tick {t}: the decisions differ",
                    path.display()
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 10_000, "{compared} ticks compared");
    // Not a comparison of idle pipelines: they lent and killed.
    assert!(decisions > 100, "{decisions} decisions");
}
