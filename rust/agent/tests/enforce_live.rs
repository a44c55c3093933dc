//! Enforcement against real best-effort groups running real processes:
//! kill, freeze and throttle, restore on shutdown and on drop, dry run, and
//! refusal of everything not strictly below the best-effort prefix.

mod support;

use serenity_agent::config::{Action, CgroupVersion, EnforcementConfig};
use serenity_agent::groups::Layout;
use serenity_agent::{Enforcer, Outcome};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

/// `<name>/{prod/web, be/job}` in the v1 cpu, cpuacct, memory and freezer
/// hierarchies, with a process in each group.
struct Scene {
    tree: Tree,
    web: Proc,
    job: Proc,
}

impl Scene {
    fn new(job_script: &str) -> Scene {
        let mut tree = Tree::v1();
        for rel in ["prod", "prod/web", "be", "be/job"] {
            tree.mkdir(rel);
        }
        let web = Proc::idle();
        let mut job = Proc::sh(job_script);
        tree.attach("prod/web", web.pid());
        tree.attach("be/job", job.pid());
        job.release();
        Scene { tree, web, job }
    }

    fn enforcer(&self, action: Action, dry_run: bool, restore_on_exit: bool) -> Enforcer {
        Enforcer::new(
            Layout::resolve(CgroupVersion::V1, Path::new(ROOT)).unwrap(),
            PathBuf::from(self.tree.rel("be")),
            EnforcementConfig {
                action,
                throttle_cpus: 0.1,
                restore_on_exit,
                state_file: None,
            },
            dry_run,
        )
    }

    fn job(&self) -> PathBuf {
        PathBuf::from(self.tree.rel("be/job"))
    }
}

#[test]
fn kill_ends_every_process_of_the_group_and_nothing_else() {
    if !v1_root_or_skip("kill_ends_every_process_of_the_group_and_nothing_else") {
        return;
    }
    let _serial = serial();
    // The job forks: a shell with two background children.
    let mut scene = Scene::new("read go; sleep 1000 & sleep 1000 & wait");
    let job_cpu = scene.tree.dir("cpu", "be/job");
    assert!(
        wait_until(Duration::from_secs(2), || pids(&job_cpu).len() == 3),
        "the job should have 3 processes: {:?}",
        pids(&job_cpu)
    );
    let mut enforcer = scene.enforcer(Action::Kill, false, true);
    let decision = enforcer.apply(&scene.job(), "test: contention on web");
    assert_eq!(
        decision.outcome,
        Outcome::Applied("3 processes".into()),
        "{decision}"
    );
    assert_eq!(
        decision.to_string(),
        format!(
            "killed best-effort group {} (3 processes): test: contention on web",
            scene.tree.rel("be/job")
        )
    );
    assert!(wait_until(Duration::from_secs(3), || scene.job.exited()));
    assert!(
        wait_until(Duration::from_secs(3), || pids(&job_cpu).is_empty()),
        "processes left: {:?}",
        pids(&job_cpu)
    );
    assert_eq!(
        read(&scene.tree.dir("freezer", "be/job").join("freezer.state")),
        "THAWED",
        "the kill's own freeze is undone"
    );
    assert!(!scene.web.exited(), "production is untouched");
    assert_eq!(
        pids(&scene.tree.dir("cpu", "prod/web")),
        [scene.web.pid() as i32]
    );
    let again = enforcer.apply(&scene.job(), "test");
    assert_eq!(
        again.outcome,
        Outcome::Unchanged("the group has no processes".into())
    );
    assert!(
        enforcer.changed_groups().is_empty(),
        "a kill has nothing to restore"
    );
}

#[test]
fn freeze_then_restore_thaws_the_group() {
    if !v1_root_or_skip("freeze_then_restore_thaws_the_group") {
        return;
    }
    let _serial = serial();
    let mut scene = Scene::new("read go; while :; do :; done");
    let state = scene.tree.dir("freezer", "be/job").join("freezer.state");
    let mut enforcer = scene.enforcer(Action::Freeze, false, true);
    let decision = enforcer.apply(&scene.job(), "test: freeze it");
    assert_eq!(
        decision.outcome,
        Outcome::Applied(String::new()),
        "{decision}"
    );
    assert_eq!(
        decision.to_string(),
        format!(
            "froze best-effort group {}: test: freeze it",
            scene.tree.rel("be/job")
        )
    );
    assert!(
        wait_until(Duration::from_secs(2), || read(&state) == "FROZEN"),
        "state {}",
        read(&state)
    );
    // Frozen: its CPU time stops growing.
    let usage = scene.tree.dir("cpuacct", "be/job").join("cpuacct.usage");
    let before = read(&usage);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(&usage), before, "a frozen group uses no CPU");
    assert_eq!(
        enforcer.apply(&scene.job(), "again").outcome,
        Outcome::Unchanged("already frozen".into())
    );
    assert_eq!(enforcer.changed_groups(), [scene.job()]);
    assert!(enforcer.restore().is_empty());
    assert!(
        wait_until(Duration::from_secs(2), || read(&state) == "THAWED"),
        "state {}",
        read(&state)
    );
    assert!(enforcer.changed_groups().is_empty());
    assert!(!scene.job.exited(), "freezing kills nothing");
    assert_eq!(
        read(&scene.tree.dir("freezer", "prod/web").join("freezer.state")),
        "THAWED"
    );
}

#[test]
fn throttle_writes_the_quota_and_drop_restores_it() {
    if !v1_root_or_skip("throttle_writes_the_quota_and_drop_restores_it") {
        return;
    }
    let _serial = serial();
    let scene = Scene::new("read go; while :; do :; done");
    let quota = scene.tree.dir("cpu", "be/job").join("cpu.cfs_quota_us");
    let web_quota = scene.tree.dir("cpu", "prod/web").join("cpu.cfs_quota_us");
    assert_eq!(read(&quota), "-1");
    {
        let mut enforcer = scene.enforcer(Action::Throttle, false, true);
        let decision = enforcer.apply(&scene.job(), "test: throttle it");
        assert_eq!(
            decision.outcome,
            Outcome::Applied("to 0.1 CPUs: quota 10000 µs per 100000 µs".into()),
            "{decision}"
        );
        assert_eq!(
            decision.to_string(),
            format!(
                "throttled best-effort group {} (to 0.1 CPUs: quota 10000 µs per 100000 µs): test: throttle it",
                scene.tree.rel("be/job")
            )
        );
        assert_eq!(read(&quota), "10000");
        assert_eq!(
            enforcer.apply(&scene.job(), "again").outcome,
            Outcome::Unchanged("its quota is already 0.1 CPUs or less".into())
        );
        // Dropped here: restore_on_exit.
    }
    assert_eq!(read(&quota), "-1", "the original quota is back");
    assert_eq!(read(&web_quota), "-1");

    // Without restore_on_exit the quota stays (the operator asked for it).
    {
        let mut enforcer = scene.enforcer(Action::Throttle, false, false);
        enforcer.apply(&scene.job(), "test");
    }
    assert_eq!(read(&quota), "10000");
    write(&quota, "-1");
}

#[test]
fn dry_run_touches_nothing() {
    if !v1_root_or_skip("dry_run_touches_nothing") {
        return;
    }
    let _serial = serial();
    let mut scene = Scene::new("read go; while :; do :; done");
    for action in [Action::Kill, Action::Freeze, Action::Throttle] {
        let mut enforcer = scene.enforcer(action, true, true);
        let decision = enforcer.apply(&scene.job(), "test: would act");
        assert_eq!(decision.outcome, Outcome::DryRun);
        assert_eq!(
            decision.to_string(),
            format!(
                "dry run: would {action} {}: test: would act",
                scene.tree.rel("be/job")
            )
        );
    }
    assert!(!scene.job.exited());
    assert_eq!(
        read(&scene.tree.dir("cpu", "be/job").join("cpu.cfs_quota_us")),
        "-1"
    );
    assert_eq!(
        read(&scene.tree.dir("freezer", "be/job").join("freezer.state")),
        "THAWED"
    );
}

#[test]
fn groups_outside_the_best_effort_prefix_are_refused() {
    if !v1_root_or_skip("groups_outside_the_best_effort_prefix_are_refused") {
        return;
    }
    let _serial = serial();
    let mut scene = Scene::new("read go; read never");
    let be = scene.tree.rel("be");
    for action in [Action::Kill, Action::Freeze, Action::Throttle] {
        for dry_run in [false, true] {
            let mut enforcer = scene.enforcer(action, dry_run, true);
            for target in [
                scene.tree.rel("prod/web"),
                be.clone(),
                format!("{be}/../prod/web"),
                format!("{be}/job/../../prod/web"),
            ] {
                let decision = enforcer.apply(Path::new(&target), "test: wrong target");
                assert!(
                    matches!(decision.outcome, Outcome::Refused(_)),
                    "{action} {target} (dry run {dry_run}): {decision}"
                );
            }
            assert!(enforcer.changed_groups().is_empty());
        }
    }
    let lexical = scene
        .enforcer(Action::Kill, false, true)
        .apply(Path::new(&scene.tree.rel("prod/web")), "r");
    assert_eq!(
        lexical.to_string(),
        format!(
            "refused to kill {}: it is not below the best-effort prefix {be}; the correction said: r",
            scene.tree.rel("prod/web")
        )
    );
    let resolved = scene
        .enforcer(Action::Kill, false, true)
        .apply(Path::new(&format!("{be}/../prod/web")), "r");
    let Outcome::Refused(why) = &resolved.outcome else {
        panic!("{resolved}");
    };
    assert!(
        why.contains("does not resolve to a group strictly below"),
        "{why}"
    );
    assert!(!scene.web.exited(), "production survived every attempt");
    assert!(!scene.job.exited());
    assert_eq!(
        read(&scene.tree.dir("freezer", "prod/web").join("freezer.state")),
        "THAWED"
    );
    assert_eq!(
        read(&scene.tree.dir("cpu", "prod/web").join("cpu.cfs_quota_us")),
        "-1"
    );
}

/// cgroup v2: kill through `cgroup.kill`, freeze through `cgroup.freeze`
/// (core files, present without any controller enabled).
#[test]
fn v2_kill_and_freeze_use_the_core_files() {
    let test = "v2_kill_and_freeze_use_the_core_files";
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip(test, "needs root to create cgroups");
        return;
    }
    let mounts = serenity_probe::cgroup_mounts().unwrap_or_default();
    let Some(root) = mounts
        .iter()
        .find(|m| m.unified)
        .map(|m| m.mount_point.clone())
    else {
        skip(test, "no cgroup2 hierarchy is mounted");
        return;
    };
    if !root.join("cgroup.procs").exists() {
        skip(test, "the cgroup2 root has no cgroup.procs");
        return;
    }
    let _serial = serial();
    let mut tree = Tree::new(std::slice::from_ref(&root));
    for rel in ["prod", "prod/web", "be", "be/job"] {
        tree.mkdir(rel);
    }
    if !tree.dir("", "be/job").join("cgroup.freeze").exists() {
        skip(test, "this kernel has no cgroup.freeze");
        return;
    }
    let mut web = Proc::idle();
    let mut job = Proc::sh("read go; while :; do :; done");
    tree.attach("prod/web", web.pid());
    tree.attach("be/job", job.pid());
    job.release();
    let layout = Layout::resolve(CgroupVersion::V2, &root).unwrap();
    let enforcer = |action| {
        Enforcer::new(
            layout.clone(),
            PathBuf::from(tree.rel("be")),
            EnforcementConfig {
                action,
                throttle_cpus: 0.1,
                restore_on_exit: true,
                state_file: None,
            },
            false,
        )
    };
    let job_path = PathBuf::from(tree.rel("be/job"));
    let events = tree.dir("", "be/job").join("cgroup.events");
    let frozen = || read(&events).lines().any(|l| l == "frozen 1");

    let mut freezer = enforcer(Action::Freeze);
    assert_eq!(
        freezer.apply(&job_path, "t").outcome,
        Outcome::Applied(String::new())
    );
    assert!(
        wait_until(Duration::from_secs(2), frozen),
        "{}",
        read(&events)
    );
    assert!(freezer.restore().is_empty());
    assert!(wait_until(Duration::from_secs(2), || !frozen()));
    assert_eq!(read(&tree.dir("", "be/job").join("cgroup.freeze")), "0");

    let mut killer = enforcer(Action::Kill);
    let refused = killer.apply(Path::new(&tree.rel("prod/web")), "t");
    assert!(matches!(refused.outcome, Outcome::Refused(_)), "{refused}");
    let decision = killer.apply(&job_path, "t");
    assert!(
        matches!(decision.outcome, Outcome::Applied(_)),
        "{decision}"
    );
    assert!(wait_until(Duration::from_secs(3), || job.exited()));
    assert!(!web.exited(), "production untouched");
}
