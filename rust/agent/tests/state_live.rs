//! The enforcement state file at start, against real cgroup v1 groups: every
//! entry is checked before anything is written (never outside the
//! best-effort prefix, never another file than the change's own, never a
//! value that does not undo it), groups that are gone are dropped, a corrupt
//! file is set aside, and a dry run only reports. (A real SIGKILLed agent
//! process restarted is in rust/cli/tests/agent_live.rs.)

mod support;

use serenity_agent::{Agent, AgentConfig};
use std::fs;
use std::path::Path;
use support::*;

/// An agent configuration over `tree` (`<name>/prod`, `<name>/be`) with the
/// state file `state.json` of `dir`.
fn config(dir: &TempDir, root: &Path, prod: &str, be: &str, action: &str) -> AgentConfig {
    dir.file("q.toml", "kind = \"qos\"\n[[stage]]\ntype = \"ema\"\n");
    let text = format!(
        "qos = \"q.toml\"\n[cgroups]\nversion = \"v1\"\nroot = \"{}\"\nperf = false\n\
         production = [\"{prod}\"]\nbest_effort = \"{be}\"\n[total]\ncpus = 2\nmem_mib = 1024\n\
         [metrics]\nenabled = false\n[enforcement]\naction = \"{action}\"\nstate_file = \"state.json\"\n",
        root.display()
    );
    AgentConfig::load(&dir.file("agent.toml", &text)).unwrap()
}

fn entry(group: &str, change: &str, file: &Path, restore: &str) -> String {
    format!(
        "{{\"group\": \"{group}\", \"change\": \"{change}\", \"file\": \"{}\", \"restore\": \"{restore}\"}}",
        file.display()
    )
}

#[test]
fn state_entries_are_checked_and_only_the_best_effort_groups_own_files_are_restored() {
    let test = "state_entries_are_checked_and_only_the_best_effort_groups_own_files_are_restored";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    capture_logs();
    // Processes first, so that the tree (dropped first) thaws and kills
    // them before their own drop waits for them.
    let web = Proc::idle();
    let mut job = Proc::busy();
    let mut tree = Tree::v1();
    for rel in ["prod", "prod/web", "be", "be/job"] {
        tree.mkdir(rel);
    }
    tree.attach("prod/web", web.pid());
    tree.attach("be/job", job.pid());
    job.release();
    let freezer = |rel: &str| tree.dir("freezer", rel).join("freezer.state");
    let quota = |rel: &str| tree.dir("cpu", rel).join("cpu.cfs_quota_us");
    // What a previous agent (or something else) left: the job frozen and
    // throttled, and production frozen and throttled by someone else.
    for rel in ["be/job", "prod/web"] {
        write(&freezer(rel), "FROZEN");
        write(&quota(rel), "20000");
    }
    let (be, job_g, web_g) = (tree.rel("be"), tree.rel("be/job"), tree.rel("prod/web"));
    let gone = tree.rel("be/gone");
    let dir = TempDir::new();
    let entries = [
        // Production: outside the prefix.
        entry(&web_g, "freeze", &freezer("prod/web"), "THAWED"),
        // `..` out of the prefix.
        entry(
            &format!("{be}/../prod/web"),
            "throttle",
            &quota("prod/web"),
            "-1",
        ),
        // The prefix itself.
        entry(&be, "freeze", &freezer("be"), "THAWED"),
        // A best-effort group, but production's file.
        entry(&job_g, "throttle", &quota("prod/web"), "-1"),
        // Not a value that undoes a freeze.
        entry(&job_g, "freeze", &freezer("be/job"), "FROZEN"),
        // Gone.
        entry(
            &gone,
            "freeze",
            &tree.dir("freezer", "be/gone").join("freezer.state"),
            "THAWED",
        ),
        // The two real ones.
        entry(&job_g, "throttle", &quota("be/job"), "-1"),
        entry(&job_g, "freeze", &freezer("be/job"), "THAWED"),
    ];
    let state = dir.file(
        "state.json",
        &format!(
            "{{\"version\": 1, \"changes\": [\n{}\n]}}\n",
            entries.join(",\n")
        ),
    );
    let agent = Agent::new(
        config(&dir, Path::new(ROOT), &tree.rel("prod"), &be, "freeze"),
        true,
    )
    .expect("the agent starts");

    assert_eq!(read(&freezer("be/job")), "THAWED", "the job is thawed");
    assert_eq!(read(&quota("be/job")), "-1", "and its quota restored");
    assert_eq!(
        read(&freezer("prod/web")),
        "FROZEN",
        "production is never written"
    );
    assert_eq!(read(&quota("prod/web")), "20000");
    assert!(!state.exists(), "nothing left to undo: the file is removed");
    assert_eq!(agent.metrics().lock().restored_total, 2);

    let refused = logged_at(log::Level::Error, "refused to restore");
    let refusal = |needle: &str| refused.iter().filter(|m| m.contains(needle)).count();
    assert_eq!(refused.len(), 5, "{refused:#?}");
    let state_name = state.display().to_string();
    assert!(refused
        .iter()
        .all(|m| m.contains(&state_name) && m.ends_with("nothing was written")));
    assert_eq!(
        refusal(&format!("it is not below the best-effort prefix {be}")),
        3
    );
    assert_eq!(
        refusal(&format!(
            "the file is not the group's cpu.cfs_quota_us ({})",
            quota("be/job").display()
        )),
        1
    );
    assert_eq!(refusal("\"FROZEN\" does not undo a freeze"), 1);
    assert_eq!(
        logged(&format!("best-effort group {gone} of the enforcement state file")),
        [(
            log::Level::Info,
            format!(
                "best-effort group {gone} of the enforcement state file {state_name} no longer exists: \
                 nothing to thaw (entry dropped)"
            )
        )]
    );
    let restored = logged_at(
        log::Level::Warn,
        "left by an agent that did not stop cleanly",
    );
    let restored: Vec<&String> = restored.iter().filter(|m| m.contains(&job_g)).collect();
    assert_eq!(
        restored.len(),
        2,
        "one line per restored change: {restored:?}"
    );
    assert!(restored[0].starts_with(&format!(
        "restored the CPU quota of best-effort group {job_g} "
    )));
    assert!(restored[1].starts_with(&format!("thawed best-effort group {job_g} ")));
    drop(agent);
    assert!(!job.exited() && !web_exited(&web));
}

fn web_exited(p: &Proc) -> bool {
    // SAFETY: kill(pid, 0) only checks that the process exists.
    unsafe { libc::kill(p.pid() as i32, 0) != 0 }
}

#[test]
fn a_dry_run_reports_the_state_file_and_writes_nothing() {
    let test = "a_dry_run_reports_the_state_file_and_writes_nothing";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    capture_logs();
    let mut tree = Tree::v1();
    for rel in ["prod", "be", "be/job"] {
        tree.mkdir(rel);
    }
    let state_file = tree.dir("freezer", "be/job").join("freezer.state");
    write(&state_file, "FROZEN");
    let dir = TempDir::new();
    let text = format!(
        "{{\"version\": 1, \"changes\": [{}]}}\n",
        entry(&tree.rel("be/job"), "freeze", &state_file, "THAWED")
    );
    let state = dir.file("state.json", &text);
    let agent = Agent::new(
        config(
            &dir,
            Path::new(ROOT),
            &tree.rel("prod"),
            &tree.rel("be"),
            "freeze",
        ),
        false,
    )
    .unwrap();
    assert_eq!(read(&state_file), "FROZEN", "a dry run writes no cgroup");
    assert_eq!(
        fs::read_to_string(&state).unwrap(),
        text,
        "nor the state file"
    );
    let said = logged_at(log::Level::Warn, &state.display().to_string());
    assert_eq!(
        said,
        [format!(
            "the enforcement state file {} lists 1 change(s) a previous enforcing run left in force: \
             {} (freeze); dry run leaves them: start with --enforce to restore them",
            state.display(),
            tree.rel("be/job")
        )]
    );
    drop(agent);
    assert_eq!(read(&state_file), "FROZEN");
}

#[test]
fn a_corrupt_state_file_is_set_aside_and_the_agent_starts_with_nothing_to_restore() {
    // A recorded tree of plain directories: no root needed.
    capture_logs();
    let dir = TempDir::new();
    let root = dir.0.join("cg");
    fs::create_dir_all(root.join("cpuacct/prod")).unwrap();
    fs::create_dir_all(root.join("cpuacct/be")).unwrap();
    let garbage = "{\"version\": 1, \"changes\": [{\"group\": \"be/x\",\n  truncated";
    let state = dir.file("state.json", garbage);
    let mut agent = Agent::new(config(&dir, &root, "prod", "be", "kill"), true)
        .expect("a corrupt state file never stops the agent");
    let aside = dir.0.join("state.json.corrupt");
    assert!(!state.exists());
    assert_eq!(
        fs::read_to_string(&aside).unwrap(),
        garbage,
        "kept for the operator"
    );
    let said = logged_at(log::Level::Error, &state.display().to_string());
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with(&format!(
            "the enforcement state file is unreadable ({}:2:",
            state.display()
        )) && said[0].contains(&format!("moved it aside to {}", aside.display()))
            && said[0].contains("nothing is restored from it"),
        "{}",
        said[0]
    );
    assert_eq!(agent.tick().errors, 0, "and it runs");
    assert_eq!(agent.metrics().lock().restored_total, 0);
}
