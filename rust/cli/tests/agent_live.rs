//! `serenity agent` as a real process: a SIGKILLed enforcing agent leaves
//! its freezes and throttles recorded in the state file, and the next agent
//! undoes them before its first tick (real cgroup v1 groups and processes,
//! root only); SIGHUP reloads the configuration, and an invalid file keeps
//! the running one with one error line naming file:line:column.
#![cfg(target_os = "linux")]

#[path = "../../agent/tests/support/mod.rs"]
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// A `serenity agent` child process whose stderr (the log) goes to a file;
/// killed (SIGKILL, by pid) and reaped on drop.
struct AgentProc {
    child: Child,
    log: PathBuf,
}

impl AgentProc {
    fn start(config: &Path, log: &Path, enforce: bool) -> AgentProc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_serenity"));
        cmd.args(["-vv", "agent", "--config"]).arg(config);
        if enforce {
            cmd.arg("--enforce");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(log).expect("create the agent's log file"))
            .spawn()
            .expect("the serenity binary starts");
        AgentProc {
            child,
            log: log.to_path_buf(),
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the log containing `needle`.
    fn lines(&self, needle: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// Waits (bounded) until the log has a line containing `needle`.
    fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle))
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid, plain integers.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.child.id());
    }

    /// Waits (bounded) for the process to exit.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A QoS pipeline that corrects every best-effort group as soon as the
/// node uses more than 5 % of its one configured CPU.
const ALWAYS_CORRECT: &str = "kind = \"qos\"\n[[stage]]\ntype = \"overload\"\nthreshold = 0.05\n[[stage]]\ntype = \"kill_all\"\n";

fn agent_config(tree: &Tree, action: &str) -> String {
    format!(
        "qos = \"q.toml\"\ninterval_secs = 0.5\n[cgroups]\nversion = \"v1\"\nroot = \"{ROOT}\"\n\
         production = [\"{prod}\"]\nbest_effort = \"{be}\"\nperf = false\n[total]\ncpus = 1\n\
         mem_mib = 1024\n[metrics]\nenabled = false\n[enforcement]\naction = \"{action}\"\n\
         throttle_cpus = 0.1\nstate_file = \"state/agent-state.json\"\n",
        prod = tree.rel("prod"),
        be = tree.rel("be"),
    )
}

#[test]
fn a_sigkilled_agents_freeze_and_throttle_are_undone_by_the_next_agent_before_its_first_tick() {
    let test =
        "a_sigkilled_agents_freeze_and_throttle_are_undone_by_the_next_agent_before_its_first_tick";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
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
    let state = tree.dir("freezer", "be/job").join("freezer.state");
    let quota = tree.dir("cpu", "be/job").join("cpu.cfs_quota_us");
    let web_state = tree.dir("freezer", "prod/web").join("freezer.state");
    let web_quota = tree.dir("cpu", "prod/web").join("cpu.cfs_quota_us");
    assert_eq!(read(&quota), "-1");

    let dir = TempDir::new();
    dir.file("q.toml", ALWAYS_CORRECT);
    let config = dir.file("agent.toml", &agent_config(&tree, "throttle"));
    let state_file = dir.0.join("state/agent-state.json");
    let job_group = tree.rel("be/job");

    // 1. The first agent throttles the job, then (after a reload to
    //    `action = "freeze"`) freezes it too.
    let mut first = AgentProc::start(&config, &dir.0.join("first.log"), true);
    assert!(
        wait_until(Duration::from_secs(20), || read(&quota) == "10000"),
        "the first agent did not throttle {job_group} (quota {}); its log:\n{}",
        read(&quota),
        first.log()
    );
    let recorded = fs::read_to_string(&state_file).expect("the throttle is recorded");
    assert!(recorded.contains("\"change\": \"throttle\""), "{recorded}");
    assert!(recorded.contains("\"restore\": \"-1\""), "{recorded}");
    dir.file("agent.toml", &agent_config(&tree, "freeze"));
    first.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(20), || read(&state) == "FROZEN"),
        "the reloaded agent did not freeze {job_group} ({}); its log:\n{}",
        read(&state),
        first.log()
    );
    assert_eq!(first.lines("reloaded the configuration").len(), 1);
    let recorded = fs::read_to_string(&state_file).unwrap();
    assert!(recorded.contains("\"change\": \"freeze\""), "{recorded}");
    assert!(recorded.contains("\"restore\": \"THAWED\""), "{recorded}");
    assert!(recorded.contains("\"change\": \"throttle\""), "{recorded}");

    // 2. SIGKILL: no chance to restore. The group stays frozen and throttled.
    first.signal(libc::SIGKILL);
    assert!(first.wait_exit(Duration::from_secs(5)).is_some());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(&state), "FROZEN", "a SIGKILLed agent restores nothing");
    assert_eq!(read(&quota), "10000");
    assert!(state_file.exists(), "the state file outlives the agent");

    // 3. The next agent, same configuration: restored before its first tick.
    let mut second = AgentProc::start(&config, &dir.0.join("second.log"), true);
    let mut seen_thawed = false;
    let mut seen_quota = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !(seen_thawed && seen_quota) {
        seen_thawed |= read(&state) == "THAWED";
        seen_quota |= read(&quota) == "-1";
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        seen_thawed && seen_quota,
        "the second agent did not restore {job_group} (thawed {seen_thawed}, quota restored \
         {seen_quota}); its log:\n{}",
        second.log()
    );
    assert!(second.wait_for("tick 1:", Duration::from_secs(10)));
    let log = second.log();
    let thaw = format!(
        "warning: thawed best-effort group {job_group} left by an agent that did not stop cleanly ({} <- THAWED, from the enforcement state file {})",
        state.display(),
        state_file.display()
    );
    let unthrottle = format!(
        "warning: restored the CPU quota of best-effort group {job_group} left by an agent that did not stop cleanly ({} <- -1, from the enforcement state file {})",
        quota.display(),
        state_file.display()
    );
    let position = |line: &str| {
        log.lines()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("no line {line:?} in the log:\n{log}"))
    };
    let first_tick = log
        .lines()
        .position(|l| l.contains("tick 1:"))
        .expect("a first tick");
    let started = log
        .lines()
        .position(|l| l.contains("node agent started"))
        .expect("a start line");
    assert!(
        position(&unthrottle) < position(&thaw)
            && position(&thaw) < started
            && started < first_tick,
        "the quota, then the freezer, are restored before the agent starts ticking:\n{log}"
    );
    assert_eq!(
        log.matches("left by an agent that did not stop cleanly")
            .count(),
        2
    );

    // 4. The new agent acts again (its pipeline still sees an overload) and
    //    records the true original, so a clean stop leaves the job as it was
    //    before any agent ran and clears the state file.
    assert!(
        wait_until(Duration::from_secs(20), || read(&state) == "FROZEN"),
        "the second agent freezes again: {}",
        second.log()
    );
    assert_eq!(read(&quota), "-1", "the freeze config does not throttle");
    second.signal(libc::SIGTERM);
    let status = second.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{status}: {}", second.log());
    assert_eq!(read(&state), "THAWED");
    assert_eq!(read(&quota), "-1");
    assert!(
        !state_file.exists(),
        "a clean stop with everything restored removes the state file"
    );
    assert!(!job.exited(), "freezing and throttling kill nothing");
    assert_eq!(read(&web_state), "THAWED", "production never touched");
    assert_eq!(read(&web_quota), "-1");
    for log in [first.log(), second.log()] {
        assert!(
            !log.contains(&tree.rel("prod/web")),
            "no decision names production"
        );
        assert!(!log.contains("refused"), "{log}");
    }
}

/// A recorded v1 tree of plain files (no root needed): one production
/// group, an empty best-effort parent.
fn fake_tree(dir: &TempDir) -> PathBuf {
    let web = dir.0.join("cg/cpuacct/prod/web");
    fs::create_dir_all(&web).unwrap();
    fs::write(web.join("cpuacct.stat"), "user 100\nsystem 50\n").unwrap();
    fs::write(web.join("cpuacct.usage"), "1500000000\n").unwrap();
    fs::write(web.join("cgroup.procs"), "").unwrap();
    fs::create_dir_all(dir.0.join("cg/cpuacct/be")).unwrap();
    dir.0.join("cg")
}

fn fake_config(root: &Path, top: &str) -> String {
    format!(
        "{top}qos = \"q.toml\"\n[cgroups]\nversion = \"v1\"\nroot = \"{}\"\nproduction = [\"prod\"]\n\
         best_effort = \"be\"\nperf = false\n[total]\ncpus = 4\nmem_mib = 1024\n[metrics]\nenabled = false\n",
        root.display()
    )
}

fn ticks(agent: &AgentProc) -> usize {
    agent.lines("debug: tick ").len()
}

#[test]
fn sighup_with_an_invalid_configuration_keeps_the_running_one_and_says_why_once() {
    let dir = TempDir::new();
    let root = fake_tree(&dir);
    dir.file("q.toml", "kind = \"qos\"\n[[stage]]\ntype = \"ema\"\n");
    let config = dir.file("agent.toml", &fake_config(&root, "interval_secs = 0.05\n"));
    let mut agent = AgentProc::start(&config, &dir.0.join("agent.log"), false);
    assert!(
        wait_until(Duration::from_secs(10), || ticks(&agent) >= 3),
        "{}",
        agent.log()
    );

    // An invalid agent configuration: refused, one error line with
    // file:line:column, and the agent keeps ticking at its old pace.
    dir.file("agent.toml", &fake_config(&root, "interval_secs = -1\n"));
    agent.signal(libc::SIGHUP);
    assert!(agent.wait_for("configuration reload from", Duration::from_secs(10)));
    let before = ticks(&agent);
    assert!(
        wait_until(Duration::from_secs(10), || ticks(&agent) >= before + 10),
        "the agent keeps running on its old configuration: {}",
        agent.log()
    );
    let errors = agent.lines("configuration reload from");
    assert_eq!(
        errors,
        [format!(
            "error: configuration reload from {0} failed; the running configuration is kept: \
             {0}:1:17: `interval_secs` = -1: must be a positive number of seconds",
            config.display()
        )],
        "one line, not one per tick"
    );

    // A broken pipeline file behind a valid agent configuration: refused too,
    // naming the pipeline file's line and column.
    dir.file("bad.toml", "kind = \"qos\"\n[[stage]]\ntype = \"nope\"\n");
    dir.file(
        "agent.toml",
        &fake_config(&root, "interval_secs = 0.05\n").replace("q.toml", "bad.toml"),
    );
    agent.signal(libc::SIGHUP);
    assert!(wait_until(Duration::from_secs(10), || agent
        .lines("configuration reload from")
        .len()
        == 2));
    let second = &agent.lines("configuration reload from")[1];
    assert!(
        second.contains(&format!(
            "{}:3:8: stage 1 (nope): `type` = \"nope\": unknown stage type",
            dir.0.join("bad.toml").display()
        )),
        "{second}"
    );
    // [cgroups] changes need a restart.
    dir.file(
        "agent.toml",
        &fake_config(&root, "").replace("best_effort = \"be\"", "best_effort = \"other\""),
    );
    agent.signal(libc::SIGHUP);
    assert!(wait_until(Duration::from_secs(10), || agent
        .lines("configuration reload from")
        .len()
        == 3));
    assert!(
        agent.lines("configuration reload from")[2].ends_with(&format!(
            "{}: `[cgroups]` differs from the running configuration; it changes only when the agent restarts",
            config.display()
        )),
        "{}",
        agent.log()
    );
    assert!(agent.running(), "no reload failure stops the agent");

    // A valid one takes effect: the new interval.
    dir.file("agent.toml", &fake_config(&root, "interval_secs = 0.25\n"));
    agent.signal(libc::SIGHUP);
    assert!(agent.wait_for("reloaded the configuration", Duration::from_secs(10)));
    assert_eq!(
        agent.lines("reloaded the configuration"),
        [format!(
            "info: reloaded the configuration {}: qos q, estimator none, every 250ms, action kill; \
             the pipelines start afresh",
            config.display()
        )]
    );
    let at_reload = ticks(&agent);
    std::thread::sleep(Duration::from_millis(1000));
    let after = ticks(&agent) - at_reload;
    assert!(
        (2..=6).contains(&after),
        "about 4 ticks a second after the reload, not 20: {after}"
    );
    agent.signal(libc::SIGTERM);
    let status = agent.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{status}: {}", agent.log());
    assert_eq!(agent.lines("configuration reload from").len(), 3);
}
