//! The streaming open-loop generator writes exactly the records the
//! in-memory one returns, for every shipped scenario.

use serenity_sim::{generate, generate_each, Scenario};
use std::path::Path;

#[test]
fn generate_each_writes_the_lines_generate_serializes_to_for_every_shipped_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files: Vec<_> = std::fs::read_dir(root.join("tests/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(root.join("tests/data/demo-scenario.toml"));
    let mut seen = 0;
    for path in files {
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = path.display().to_string();
        let s = Scenario::parse(&name, &std::fs::read_to_string(&path).unwrap()).unwrap();
        let held: Vec<String> = generate(&s).iter().map(|v| v.to_string()).collect();
        let mut streamed = Vec::new();
        let mut onsets = 0;
        generate_each(&s, |r| {
            onsets += usize::from(r.truth.onset);
            streamed.push(r.json.to_owned());
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(streamed, held, "{name}");
        let held_onsets = generate(&s)
            .iter()
            .filter(|r| r["truth"]["onset"].as_bool() == Some(true))
            .count();
        assert_eq!(onsets, held_onsets, "{name}");
        seen += 1;
    }
    assert!(seen >= 10, "{seen} scenarios");
}
