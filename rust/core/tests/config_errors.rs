//! Configuration errors are exact and complete.

use serenity_core::{build_pipeline, BuildOptions};

fn errors(text: &str, overrides: &[&str]) -> Vec<String> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    match build_pipeline("p.toml", text, &overrides, BuildOptions::default()) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn every_problem_is_reported_with_file_line_column_stage_key_and_value() {
    let text = r#"kind = "estimator"
colour = "blue"

[[stage]]
type = "ema"
alpha = 1.5
inptu = "cpu_usage"

[[stage]]
type = "slack"
fraction = "most"

[[stage]]
type = "no_such_stage"
"#;
    // The catalogue grows; the message lists it in table order.
    let known = serenity_core::stages::STAGE_TYPES
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ");
    assert!(known.starts_with("valve, pr_only, ema, slack, "), "{known}");
    assert_eq!(
        errors(text, &[]),
        vec![
            "p.toml:2:1: `colour` = \"blue\": unknown key (this stage takes: description, executor_grace_ticks, interval_secs, kind, probe, stage)".to_string(),
            "p.toml:6:9: stage 1 (ema): `alpha` = 1.5: must be greater than 0 and at most 1".to_string(),
            "p.toml:7:1: stage 1 (ema): `inptu` = \"cpu_usage\": unknown key (this stage takes: alpha, input, mode, name, output, skip_first_sample, time_constant_secs)".to_string(),
            "p.toml:11:12: stage 2 (slack): `fraction` = \"most\": must be a number, found a string".to_string(),
            format!("p.toml:14:8: stage 3 (no_such_stage): `type` = \"no_such_stage\": unknown stage type (known: {known})"),
        ]
    );
}

#[test]
fn a_signal_nobody_provides_is_an_error_naming_what_is_known() {
    let text = "kind = \"qos\"\n[[stage]]\ntype = \"ema\"\ninput = \"ipc_ema\"\n";
    let e = errors(text, &[]);
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("p.toml:4:9: stage 1 (ema): `input` = \"ipc_ema\": reads signal `ipc_ema`, which no built-in signal or earlier stage provides"), "{}", e[0]);
}

#[test]
fn stages_in_the_wrong_pipeline_kind_and_missing_kind_are_errors() {
    let e = errors("kind = \"qos\"\n[[stage]]\ntype = \"slack\"\n", &[]);
    assert_eq!(e, vec!["p.toml:3:8: stage 1 (slack): `type` = \"slack\": a slack stage cannot run in a qos pipeline (it belongs in: estimator)"]);
    let e = errors("[[stage]]\ntype = \"valve\"\n", &[]);
    assert_eq!(
        e,
        vec!["p.toml:1:1: missing `kind`: say kind = \"estimator\" or kind = \"qos\""]
    );
    let e = errors("kind = \"estimator\"\n", &[]);
    assert_eq!(
        e,
        vec!["p.toml:1:1: no stages: add at least one [[stage]] table"]
    );
}

#[test]
fn syntax_errors_are_located() {
    let e = errors("kind = \"estimator\"\n[[stage]\n", &[]);
    assert!(!e.is_empty());
    assert!(e[0].starts_with("p.toml:2:"), "{}", e[0]);
    assert!(e[0].contains("TOML syntax"), "{}", e[0]);
}

#[test]
fn overrides_apply_by_stage_name_or_index_and_are_validated() {
    let text = "kind = \"estimator\"\n[[stage]]\ntype = \"ema\"\nname = \"smooth\"\n[[stage]]\ntype = \"slack\"\n";
    assert!(errors(
        text,
        &[
            "smooth.alpha=0.5",
            "2.fraction=0.7",
            "executor_grace_ticks=4"
        ]
    )
    .is_empty());
    assert_eq!(
        errors(text, &["smooth.alpha=3", "slak.fraction=0.5", "2.colour=1", "nonsense"]),
        vec![
            "override `nonsense`: an override must read `key=value` or `stage.key=value`",
            "override `slak.fraction=0.5`: no stage is named `slak` (stages: smooth, slack); use a stage name or a 1-based index",
            "override `smooth.alpha=3`: stage 1 (ema): `alpha` = 3: must be greater than 0 and at most 1",
            "override `2.colour=1`: stage 2 (slack): `colour`: unknown key",
        ]
    );
}

#[test]
fn probe_table_is_read_and_its_keys_are_checked() {
    let ok = "kind = \"qos\"\n[[stage]]\ntype = \"valve\"\n[probe]\nprefix = \"mesos\"\n";
    let p = build_pipeline("p.toml", ok, &[], BuildOptions::default()).unwrap();
    let probe = p.probe().unwrap();
    assert!(probe.perf);
    assert!(probe.starvation, "starvation totals are on by default");
    assert_eq!(probe.cgroup_root, "/sys/fs/cgroup");
    let bad = "kind = \"qos\"\n[[stage]]\ntype = \"valve\"\n[probe]\nperf = 1\nroot = \"/x\"\n";
    assert_eq!(
        errors(bad, &[]),
        vec![
            "p.toml:5:8: `probe.perf` = 1: must be true or false, found an integer",
            "p.toml:6:1: `probe.root` = \"/x\": unknown key (this stage takes: cgroup_root, perf, perf_interval_secs, prefix, starvation)",
        ]
    );
}
