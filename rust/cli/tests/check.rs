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
