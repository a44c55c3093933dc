//! `serenity check`: exit codes and exact messages.

mod common;
use common::*;

#[test]
fn a_good_file_prints_ok_with_kind_and_stage_count_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "est.toml", ESTIMATOR);
    let o = serenity(&["check", &f]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("ok: {f} (estimator, 4 stages)\n"));
}

#[test]
fn every_problem_of_every_file_is_printed_and_the_exit_code_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.toml", QOS_NO_DETECTOR);
    let bad = write(
        dir.path(),
        "bad.toml",
        "kind = \"estimator\"\n\n[[stage]]\ntype = \"ema\"\nalpha = 1.5\n\n[[stage]]\ntype = \"slack\"\nfraction = \"most\"\n",
    );
    let no_kind = write(dir.path(), "nokind.toml", "[[stage]]\ntype = \"valve\"\n");
    let o = serenity(&["check", &good, &bad, &no_kind]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        format!(
            "ok: {good} (qos, 2 stages)\n\
             {bad}:5:9: stage 1 (ema): `alpha` = 1.5: must be greater than 0 and at most 1\n\
             {bad}:9:12: stage 2 (slack): `fraction` = \"most\": must be a number, found a string\n\
             {no_kind}:1:1: missing `kind`: say kind = \"estimator\" or kind = \"qos\"\n"
        )
    );
}

#[test]
fn an_unreadable_file_is_a_problem_not_a_crash() {
    let o = serenity(&["check", "/nonexistent/p.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("/nonexistent/p.toml: cannot read: "),
        "{}",
        stdout(&o)
    );
}

#[test]
fn overrides_are_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "est.toml", ESTIMATOR);
    let o = serenity(&["check", "--set", "slack.fraction=2", &f]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "override `slack.fraction=2`: stage 4 (slack): `fraction` = 2: must be greater than 0 and at most 1\n"
    );
}

#[test]
fn every_shipped_pipeline_passes_check() {
    let dir = common::root().join("pipelines");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let p = path.display().to_string();
        let o = serenity(&["check", &p]);
        assert!(o.status.success(), "{}", stdout(&o));
        checked += 1;
    }
    assert!(
        checked >= 9,
        "only {checked} shipped pipelines were checked"
    );
}

#[test]
fn misspelt_keys_stage_types_and_signals_get_a_did_you_mean_in_the_located_message() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "typos.toml",
        "kind = \"estimator\"\n[[stage]]\ntype = \"ema\"\ninptu = \"cpu_usage\"\n[[stage]]\ntype = \"slak\"\n[[stage]]\ntype = \"slack\"\nusage = \"cpu_usage_eam\"\n",
    );
    let o = serenity(&["check", &f]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with(&format!(
            "{f}:4:1: stage 1 (ema): `inptu` = \"cpu_usage\": unknown key; did you mean `input`? (this stage takes: "
        )),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!(
            "{f}:6:8: stage 2 (slak): `type` = \"slak\": unknown stage type; did you mean `slack`? (known: valve, "
        )),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with(&format!(
            "{f}:9:9: stage 3 (slack): `usage` = \"cpu_usage_eam\": reads signal `cpu_usage_eam`, which no built-in signal or earlier stage provides; did you mean `cpu_usage_ema`? (known here: "
        )),
        "{}",
        lines[2]
    );
}

#[test]
fn a_stage_of_the_wrong_kind_is_named_with_the_right_articles() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "est.toml",
        "kind = \"estimator\"\n[[stage]]\ntype = \"overload\"\n",
    );
    let o = serenity(&["check", &f]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        format!("{f}:3:8: stage 1 (overload): `type` = \"overload\": an overload stage cannot run in an estimator pipeline (it belongs in: qos)\n")
    );
}

#[test]
fn a_stage_key_given_to_check_as_a_pipeline_override_says_which_stage_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "est.toml", ESTIMATOR);
    let o = serenity(&["check", "--set", "fraction=0.5", &f]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        format!("override `fraction=0.5`: `fraction`: a key of stages (slack, memory_slack), not of the pipeline; in {f}, stage 4 (slack) takes it: write `slack.fraction=0.5`\n")
    );
}
