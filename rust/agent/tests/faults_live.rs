//! Faults on a live node, against real cgroup v1 groups and processes: a
//! group removed between discovery and reading (and between the decision and
//! the action), a cgroup file that cannot be parsed (a file bind-mounted over
//! it), a removed perf_event group, processes that exit while a kill collects
//! them, and samples going back in time. In each case: no panic, no action
//! outside the best-effort prefix, the safe answer (no usage, no kill on
//! missing data, zero slack), a bounded number of log lines saying why, and
//! recovery once the fault is gone. (SIGHUP with an invalid configuration is
//! tested on a real agent process in rust/cli/tests/agent_live.rs.)

mod support;

use serenity_agent::config::{Action, CgroupVersion, EnforcementConfig};
use serenity_agent::groups::{discover, Layout};
use serenity_agent::sampling::{Sampled, Sampler};
use serenity_agent::{Agent, AgentConfig, Enforcer, Outcome, TickReport};
use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;
use support::*;

/// Corrects every best-effort group once the node uses more than 5 % of its
/// CPUs: any busy best-effort process is a target.
const ALWAYS_CORRECT: &str =
    "kind = \"qos\"\n[[stage]]\ntype = \"overload\"\nthreshold = 0.05\n[[stage]]\ntype = \"kill_all\"\n";
/// Lends what production's CFS limits leave unused.
const ESTIMATOR: &str =
    "kind = \"estimator\"\n[[stage]]\ntype = \"pr_only\"\n[[stage]]\ntype = \"slack\"\nfraction = 1.0\n";

/// `<name>/{prod/web, be/job}` in the v1 cpu, cpuacct, memory and freezer
/// hierarchies: an idle production process capped at 1 CPU, a busy
/// best-effort one with 0.1 CPUs' worth of shares.
struct Scene {
    tree: Tree,
    web: Proc,
    job: Proc,
}

impl Scene {
    fn new(extra: &[&str]) -> Scene {
        let mut tree = Tree::v1();
        for rel in ["prod", "prod/web", "be", "be/job"].iter().chain(extra) {
            tree.mkdir(rel);
        }
        write(
            &tree.dir("cpu", "prod/web").join("cpu.cfs_quota_us"),
            "100000",
        );
        // The core subtracts best-effort allocations (shares / 1024 CPUs)
        // from the slack: 0.1 CPUs here.
        write(&tree.dir("cpu", "be/job").join("cpu.shares"), "102");
        let web = Proc::idle();
        let mut job = Proc::busy();
        tree.attach("prod/web", web.pid());
        tree.attach("be/job", job.pid());
        job.release();
        Scene { tree, web, job }
    }

    fn agent(&self, dir: &TempDir, enforce: bool, enforcement: &str) -> Agent {
        dir.file("q.toml", ALWAYS_CORRECT);
        dir.file("e.toml", ESTIMATOR);
        let text = format!(
            "qos = \"q.toml\"\nestimator = \"e.toml\"\ninterval_secs = 0.2\n[cgroups]\nversion = \"v1\"\n\
             perf = false\nproduction = [\"{}\"]\nbest_effort = \"{}\"\n[total]\ncpus = 2\nmem_mib = 4096\n\
             [metrics]\nenabled = false\n[enforcement]\nstate_file = \"state.json\"\n{enforcement}",
            self.tree.rel("prod"),
            self.tree.rel("be"),
        );
        let config = AgentConfig::load(&dir.file("agent.toml", &text)).unwrap();
        Agent::new(config, enforce).unwrap()
    }

    fn rel(&self, rel: &str) -> String {
        self.tree.rel(rel)
    }
}

fn layout() -> Layout {
    Layout::resolve(CgroupVersion::V1, Path::new(ROOT)).unwrap()
}

/// Removes an empty group from every v1 hierarchy of the tree.
fn remove_group(tree: &Tree, rel: &str) {
    for c in V1_CONTROLLERS {
        let dir = tree.dir(c, rel);
        fs::remove_dir(&dir).unwrap_or_else(|e| panic!("rmdir {}: {e}", dir.display()));
    }
}

fn paths(groups: &[serenity_agent::groups::Group]) -> Vec<String> {
    groups.iter().map(|g| g.path_str()).collect()
}

/// Every decision names a group strictly below the best-effort prefix.
fn only_best_effort(report: &TickReport, be: &str) {
    for d in &report.decisions {
        let group = d.group.to_string_lossy();
        assert!(
            group.starts_with(&format!("{be}/")),
            "a decision outside the best-effort prefix: {d}"
        );
    }
}

#[test]
fn groups_removed_mid_tick_are_left_out_quietly_and_never_acted_on() {
    let test = "groups_removed_mid_tick_are_left_out_quietly_and_never_acted_on";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    capture_logs();
    let mut scene = Scene::new(&["prod/db", "be/gone"]);
    let dir = TempDir::new();
    let mut agent = scene.agent(&dir, true, "action = \"freeze\"\n");
    let be = scene.rel("be");
    let first = agent.tick();
    assert_eq!(first.errors, 0);
    thread::sleep(Duration::from_millis(300));

    // Discovery lists the groups; two are removed before they are read.
    let found = discover(&layout(), &[scene.rel("prod")], Path::new(&be)).unwrap();
    assert_eq!(
        paths(&found.groups),
        [
            scene.rel("prod/db"),
            scene.rel("prod/web"),
            scene.rel("be/gone"),
            scene.rel("be/job")
        ]
    );
    remove_group(&scene.tree, "prod/db");
    remove_group(&scene.tree, "be/gone");
    let mut sampler = Sampler::new(layout(), false);
    let sampled = sampler.sample(&found.groups, 2.0, 4096.0);
    assert_eq!(
        paths(&sampled.groups),
        [scene.rel("prod/web"), scene.rel("be/job")]
    );
    assert_eq!(sampled.errors, 0, "a vanished group is no error");
    assert!(sampled.unreadable.is_empty());
    for gone in ["prod/db", "be/gone"] {
        let lines = logged(&scene.rel(gone));
        assert_eq!(
            lines,
            [(
                log::Level::Debug,
                format!(
                    "group {} vanished while it was read: left out of this tick",
                    scene.rel(gone)
                )
            )],
            "one quiet line"
        );
    }

    // The decision named a group that is gone by the time it is acted on.
    let state = dir.0.join("mid-tick-state.json");
    for action in [Action::Kill, Action::Freeze, Action::Throttle] {
        let mut enforcer = Enforcer::new(
            layout(),
            PathBuf::from(&be),
            EnforcementConfig {
                action,
                throttle_cpus: 0.1,
                restore_on_exit: true,
                state_file: Some(state.clone()),
            },
            false,
        );
        let decision = enforcer.apply(Path::new(&scene.rel("be/gone")), "test");
        assert_eq!(
            decision.outcome,
            Outcome::Unchanged("the group no longer exists".into()),
            "{decision}"
        );
        assert!(enforcer.changed_groups().is_empty());
        assert!(!state.exists(), "nothing to record");
    }

    // The agent's next tick sees neither; it only ever acts on be/job.
    let second = agent.tick();
    assert_eq!(second.errors, 0);
    assert_eq!(
        paths(&second.groups),
        [scene.rel("prod/web"), scene.rel("be/job")]
    );
    only_best_effort(&second, &be);
    assert!(second
        .decisions
        .iter()
        .all(|d| d.group == Path::new(&scene.rel("be/job"))));
    assert!(second
        .slack
        .is_some_and(|s| s.cpus.is_finite() && s.cpus >= 0.0));

    // Recovery: the group is back, and found again.
    scene.tree.mkdir("be/gone");
    let third = agent.tick();
    assert!(paths(&third.groups).contains(&scene.rel("be/gone")));
    assert_eq!(third.errors, 0);
    for gone in ["prod/db", "be/gone"] {
        let unreadable = format!("cannot read group {}", scene.rel(gone));
        assert!(
            logged(&unreadable).is_empty(),
            "a vanished group is not unreadable"
        );
    }
    agent.shutdown();
    assert_eq!(
        read(&scene.tree.dir("freezer", "be/job").join("freezer.state")),
        "THAWED"
    );
    assert!(!scene.web.exited() && !scene.job.exited());
}

/// A file bind-mounted over another (a cgroup file), unmounted on drop.
struct BindMount {
    target: PathBuf,
}

impl BindMount {
    fn new(source: &Path, target: &Path) -> BindMount {
        let src = CString::new(source.as_os_str().as_encoded_bytes()).unwrap();
        let dst = CString::new(target.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: both paths are valid NUL-terminated strings that outlive the
        // call; a bind mount takes no filesystem type or data.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        assert_eq!(
            rc,
            0,
            "bind-mount {} over {}: {}",
            source.display(),
            target.display(),
            std::io::Error::last_os_error()
        );
        BindMount {
            target: target.to_path_buf(),
        }
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        if let Ok(dst) = CString::new(self.target.as_os_str().as_encoded_bytes()) {
            // SAFETY: a valid NUL-terminated path that outlives the call.
            unsafe { libc::umount(dst.as_ptr()) };
        }
    }
}

#[test]
fn an_unparseable_cgroup_file_is_said_once_zeroes_the_slack_and_recovers() {
    let test = "an_unparseable_cgroup_file_is_said_once_zeroes_the_slack_and_recovers";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    capture_logs();
    let scene = Scene::new(&[]);
    let dir = TempDir::new();
    let web = scene.rel("prod/web");
    let be = scene.rel("be");
    // cpuacct.stat of the production group reads as garbage from the start
    // (the agent keeps its cgroup files open, so a file covered later would
    // go unseen through the descriptor opened before).
    let stat = scene.tree.dir("cpuacct", "prod/web").join("cpuacct.stat");
    let garbage = dir.file("garbage", "user lots\nsystem 1\n");
    let mount = BindMount::new(&garbage, &stat);
    let mut agent = scene.agent(&dir, false, "");
    let errors_before = agent.metrics().lock().errors_total;
    for _ in 0..4 {
        thread::sleep(Duration::from_millis(100));
        let report = agent.tick();
        assert!(!paths(&report.groups).contains(&web), "left out");
        assert_eq!(
            report.slack.map(|s| (s.cpus, s.mem_bytes)),
            Some((0.0, 0.0)),
            "no slack while production's usage is unknown"
        );
        assert_eq!(report.errors, 1, "counted every tick");
        only_best_effort(&report, &be);
    }
    assert_eq!(agent.metrics().lock().errors_total, errors_before + 4);
    let said = logged_at(log::Level::Warn, &format!("cannot read group {web}"));
    assert_eq!(said.len(), 1, "said once, not per tick: {said:?}");
    assert!(
        said[0].contains(&stat.display().to_string()) && said[0].contains("cannot parse"),
        "{}",
        said[0]
    );
    assert_eq!(
        logged_at(
            log::Level::Warn,
            &format!("slack is 0 while production group(s) {web} cannot be read")
        )
        .len(),
        1
    );

    // The fault clears: the group is read again and the slack comes back.
    drop(mount);
    let mut recovered = false;
    for _ in 0..5 {
        thread::sleep(Duration::from_millis(250));
        let report = agent.tick();
        assert_eq!(report.errors, 0);
        if report.slack.is_some_and(|s| s.cpus > 0.5) {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "slack is lent again once the group reads");
    assert_eq!(logged(&format!("group {web} can be read again")).len(), 1);
    assert_eq!(
        logged(&format!("production group(s) {web} can be read again")).len(),
        1
    );
    assert_eq!(
        logged_at(log::Level::Warn, &format!("cannot read group {web}")).len(),
        1
    );
}

/// The perf statistics of the executor of `group` in a sample.
fn perf_of(sampled: &Sampled, group: &str) -> Option<serenity_core::model::proto::PerfStatistics> {
    sampled
        .usage
        .executors
        .iter()
        .find(|e| e.container_id.as_ref().and_then(|c| c.value.as_deref()) == Some(group))
        .and_then(|e| e.statistics.as_ref())
        .and_then(|s| s.perf.clone())
}

#[test]
fn a_removed_perf_event_group_closes_its_counters_once_and_they_reopen_when_it_is_back() {
    let test =
        "a_removed_perf_event_group_closes_its_counters_once_and_they_reopen_when_it_is_back";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    capture_logs();
    let perf = match PerfMount::ensure(Path::new(ROOT)) {
        Ok(m) => m,
        Err(e) => {
            skip(test, &format!("no perf_event hierarchy: {e}"));
            return;
        }
    };
    let mut scene = Scene::new(&[]);
    let job = scene.rel("be/job");
    let perf_dir = scene.tree.mkdir_in(&perf.path, "be/job");
    let attach = |dir: &Path| write(&dir.join("cgroup.procs"), &scene.job.pid().to_string());
    attach(&perf_dir);
    let groups = discover(&layout(), &[scene.rel("prod")], Path::new(&scene.rel("be")))
        .unwrap()
        .groups;
    let mut sampler = Sampler::new(layout(), true);
    let opening = sampler.sample(&groups, 2.0, 4096.0);
    assert!(
        perf_of(&opening, &job).is_none(),
        "the opening tick has none"
    );
    thread::sleep(Duration::from_millis(300));
    let counted = sampler.sample(&groups, 2.0, 4096.0);
    let task_clock = perf_of(&counted, &job).and_then(|p| p.task_clock);
    assert!(task_clock.is_some_and(|t| t > 0.0), "{task_clock:?}");

    // The perf_event group goes away (its process moved out first).
    attach(&perf.path);
    assert!(
        wait_until(Duration::from_secs(3), || fs::remove_dir(&perf_dir).is_ok()),
        "rmdir {}",
        perf_dir.display()
    );
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(100));
        let s = sampler.sample(&groups, 2.0, 4096.0);
        assert_eq!(s.errors, 0);
        assert_eq!(perf_of(&s, &job), None, "no perf statistics, not zeros");
    }
    let closed = logged_at(
        log::Level::Warn,
        &format!("perf counters of group {job} closed"),
    );
    assert_eq!(
        closed,
        [format!(
            "perf counters of group {job} closed: its perf_event group {} was removed; no perf \
             statistics for it until that group exists again",
            perf_dir.display()
        )]
    );

    // Back: reopened (that tick has none), then counting again.
    fs::create_dir(&perf_dir).unwrap();
    attach(&perf_dir);
    let reopening = sampler.sample(&groups, 2.0, 4096.0);
    assert_eq!(perf_of(&reopening, &job), None);
    thread::sleep(Duration::from_millis(300));
    let again = sampler.sample(&groups, 2.0, 4096.0);
    let task_clock = perf_of(&again, &job).and_then(|p| p.task_clock);
    assert!(task_clock.is_some_and(|t| t > 0.0), "{task_clock:?}");
    assert_eq!(
        logged(&format!("perf counters of group {job} reopened")).len(),
        1
    );
    assert_eq!(closed.len(), 1);
    drop(sampler);
    attach(&perf.path);
}

#[test]
fn a_kill_racing_processes_that_exit_by_themselves_never_fails() {
    let test = "a_kill_racing_processes_that_exit_by_themselves_never_fails";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    capture_logs();
    // No freezer group: the kill cannot stop the job first, so its
    // short-lived children exit between the listing and the signal.
    let dirs: Vec<PathBuf> = ["cpu", "cpuacct", "memory"]
        .iter()
        .map(|c| Path::new(ROOT).join(c))
        .collect();
    let mut tree = Tree::new(&dirs);
    for rel in ["prod", "prod/web", "be", "be/job"] {
        tree.mkdir(rel);
    }
    let mut web = Proc::idle();
    tree.attach("prod/web", web.pid());
    let job_path = PathBuf::from(tree.rel("be/job"));
    let mut enforcer = Enforcer::new(
        layout(),
        PathBuf::from(tree.rel("be")),
        EnforcementConfig {
            action: Action::Kill,
            throttle_cpus: 0.1,
            restore_on_exit: true,
            state_file: None,
        },
        false,
    );
    let job_dir = tree.dir("cpu", "be/job");
    for round in 0..8u64 {
        let mut job = Proc::sh("read go; while :; do sleep 0.003 & sleep 0.001; done");
        tree.attach("be/job", job.pid());
        job.release();
        thread::sleep(Duration::from_millis(40 + 15 * round));
        let decision = enforcer.apply(&job_path, "test: churn");
        assert!(
            matches!(
                decision.outcome,
                Outcome::Applied(_) | Outcome::Unchanged(_)
            ),
            "round {round}: {decision}"
        );
        assert!(
            wait_until(Duration::from_secs(3), || pids(&job_dir).is_empty()),
            "round {round}: left {:?}",
            pids(&job_dir)
        );
        assert!(wait_until(Duration::from_secs(3), || job.exited()));
    }
    assert!(
        logged_at(log::Level::Error, &tree.rel("be/job")).is_empty(),
        "{:?}",
        logged_at(log::Level::Error, &tree.rel("be/job"))
    );
    assert!(!web.exited(), "production untouched");
    assert_eq!(pids(&tree.dir("cpu", "prod/web")), [web.pid() as i32]);
}

#[test]
fn samples_going_back_in_time_give_no_usage_no_kill_and_zero_slack_then_recover() {
    let test = "samples_going_back_in_time_give_no_usage_no_kill_and_zero_slack_then_recover";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    capture_logs();
    let mut scene = Scene::new(&[]);
    let dir = TempDir::new();
    let mut agent = scene.agent(&dir, false, "action = \"kill\"\n");
    let be = scene.rel("be");
    let job = PathBuf::from(scene.rel("be/job"));

    // The agent's own sampling clock never goes back (monotonic).
    let stamps = |s: &Sampled| -> Vec<f64> {
        s.usage
            .executors
            .iter()
            .map(|e| e.statistics.as_ref().and_then(|s| s.timestamp).unwrap())
            .collect()
    };
    let one = agent.sample();
    let t1 = stamps(&one);
    agent.tick_sampled(one);
    thread::sleep(Duration::from_millis(300));
    let two = agent.sample();
    assert!(stamps(&two).iter().zip(&t1).all(|(b, a)| b - a > 0.25));
    let calm = agent.tick_sampled(two);
    assert_eq!(calm.decisions.len(), 1, "a dry-run kill of the busy job");
    assert_eq!(calm.decisions[0].group, job);
    assert_eq!(calm.decisions[0].outcome, Outcome::DryRun);
    assert!(calm.slack.is_some_and(|s| s.cpus > 0.5));
    let backwards_before = logged("statistics timestamp went backwards").len();

    // The clock steps back 100 s (as a wall-clock-stamped source would see
    // it) and keeps running from there.
    let shifted = |mut s: Sampled| {
        for e in &mut s.usage.executors {
            if let Some(st) = e.statistics.as_mut() {
                st.timestamp = st.timestamp.map(|t| t - 100.0);
            }
        }
        s
    };
    thread::sleep(Duration::from_millis(300));
    let sampled = shifted(agent.sample());
    let jump = agent.tick_sampled(sampled);
    assert!(
        jump.decisions.is_empty(),
        "no kill on missing usage: {:?}",
        jump.decisions
    );
    assert_eq!(
        jump.slack.map(|s| s.cpus),
        Some(0.0),
        "zero slack without usage"
    );
    assert!(
        jump.snapshot.executors.len() == 2,
        "both groups still sampled"
    );
    let said = logged("statistics timestamp went backwards").len() - backwards_before;
    assert_eq!(said, 4, "one line per group and pipeline (2 × 2)");

    let mut resumed = None;
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(300));
        let sampled = shifted(agent.sample());
        let report = agent.tick_sampled(sampled);
        only_best_effort(&report, &be);
        if !report.decisions.is_empty() {
            resumed = Some(report);
            break;
        }
    }
    let resumed = resumed.expect("decisions resume once time runs forwards again");
    assert_eq!(resumed.decisions[0].group, job);
    assert!(resumed.slack.is_some_and(|s| s.cpus > 0.5));
    assert_eq!(
        logged("statistics timestamp went backwards").len() - backwards_before,
        4,
        "nothing more is said once time runs forwards"
    );
    assert!(!scene.job.exited(), "dry run kills nothing");
}
