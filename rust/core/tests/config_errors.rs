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
            "p.toml:2:1: `colour` = \"blue\": unknown key (the pipeline takes: description, executor_grace_ticks, interval_secs, kind, probe, sli, stage)".to_string(),
            "p.toml:6:9: stage 1 (ema): `alpha` = 1.5: must be greater than 0 and at most 1".to_string(),
            "p.toml:7:1: stage 1 (ema): `inptu` = \"cpu_usage\": unknown key; did you mean `input`? (this stage takes: alpha, input, mode, name, output, skip_first_sample, time_constant_secs)".to_string(),
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
            "override `slak.fraction=0.5`: no stage is named `slak`; did you mean `slack`? (stages: smooth, slack); use a stage name or a 1-based index",
            "override `smooth.alpha=3`: stage 1 (ema): `alpha` = 3: must be greater than 0 and at most 1",
            "override `2.colour=1`: stage 2 (slack): `colour`: unknown key (this stage takes: epsilon_cpus, fraction, name, usage)",
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
            "p.toml:6:1: `probe.root` = \"/x\": unknown key ([probe] takes: cgroup_root, perf, perf_interval_secs, prefix, starvation)",
        ]
    );
}

#[test]
fn a_stage_key_given_as_a_pipeline_override_names_the_stages_that_take_it() {
    let text = "kind = \"estimator\"\n[[stage]]\ntype = \"ema\"\nname = \"smooth\"\n[[stage]]\ntype = \"ema\"\ninput = \"mem_rss_bytes\"\n[[stage]]\ntype = \"slack\"\n";
    assert_eq!(
        errors(text, &["alpha=0.5", "fraction=0.7"]),
        vec![
            "override `alpha=0.5`: `alpha`: a key of stages (ema), not of the pipeline; in p.toml, stages 1 (ema), 2 (ema) take it: write `smooth.alpha=0.5` or `ema.alpha=0.5`",
            "override `fraction=0.7`: `fraction`: a key of stages (slack, memory_slack), not of the pipeline; in p.toml, stage 3 (slack) takes it: write `slack.fraction=0.7`",
        ]
    );
    // A stage key of a stage this pipeline lacks says so.
    let text = "kind = \"estimator\"\n[[stage]]\ntype = \"slack\"\n";
    assert_eq!(
        errors(text, &["alpha=0.5"]),
        vec!["override `alpha=0.5`: `alpha`: a key of stages (ema), not of the pipeline; no stage of p.toml takes it"]
    );
}

#[test]
fn a_stage_key_written_at_the_top_level_names_the_stage_table_to_move_it_to() {
    let text =
        "kind = \"estimator\"\nfraction = 0.7\n[[stage]]\ntype = \"slack\"\nfraction = 0.3\n";
    assert_eq!(
        errors(text, &[]),
        vec!["p.toml:2:1: `fraction` = 0.7: a key of stages (slack, memory_slack), not of the pipeline; stage 1 (slack) takes it: move it into that [[stage]] table"]
    );
}

#[test]
fn misspelt_keys_stage_types_signals_and_stage_names_get_a_suggestion_only_when_close() {
    let text = "kind = \"estimator\"\nintreval_secs = 2\n[[stage]]\ntype = \"ema\"\nalpah = 0.5\nmode = \"regluar\"\n[[stage]]\ntype = \"slak\"\n[[stage]]\ntype = \"slack\"\nusage = \"cpu_usage_eam\"\n";
    let e = errors(text, &["emma.alpha=0.1", "colour=1", "alhpa=0.3"]);
    let hints: Vec<&str> = e
        .iter()
        .map(|m| {
            m.split_once("did you mean ")
                .map_or("-", |(_, h)| h.split_once('?').map_or(h, |(h, _)| h))
        })
        .collect();
    assert_eq!(
        hints,
        vec![
            "`interval_secs`", // a top-level key in the file
            "-",               // colour: nothing is close
            "`ema.alpha`",     // a misspelt stage key as a pipeline override
            "`ema`",           // emma.alpha: the stage selector
            "`regular`",       // a choice
            "`alpha`",         // a stage key in the file
            "`slack`",         // a stage type
            "`cpu_usage_ema`", // a signal
        ],
        "{e:#?}"
    );
}

#[test]
fn the_article_before_a_stage_type_or_pipeline_kind_follows_its_sound() {
    let e = errors(
        "kind = \"estimator\"\n[[stage]]\ntype = \"overload\"\n",
        &[],
    );
    assert_eq!(e, vec!["p.toml:3:8: stage 1 (overload): `type` = \"overload\": an overload stage cannot run in an estimator pipeline (it belongs in: qos)"]);
}
