//! End to end: a production group doing steady, measured work; a
//! best-effort group pinned to the same CPU; `stress-ng` started in the
//! best-effort group. The enforcing agent, running the shipped
//! `pipelines/qos-agent.toml` at 0.5 s, must kill the best-effort work within
//! a bounded number of ticks, production throughput must recover, and
//! nothing outside the best-effort group may be touched.
//!
//! Needs root, the cgroup v1 cpu, cpuacct, memory, freezer and cpuset
//! hierarchies, `stress-ng`, and the QoS stages of the catalogue (`overload`,
//! `cusum`, `ranked_victims`, `cooldown`, `pause_estimator`); without any of
//! them it prints a SKIP line.

mod support;

use serenity_agent::{Agent, AgentConfig, Outcome};
use serenity_core::{build_pipeline, BuildOptions};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

const TEST: &str = "stress_in_best_effort_group_is_killed_and_production_recovers";
/// Seconds between ticks.
const INTERVAL: f64 = 0.5;
/// Ticks before the stress starts: the first has no CPU usage yet, then the
/// CUSUM's 10 warm-up samples, then a few more to measure.
const QUIET_TICKS: usize = 18;
/// The throughput "before" is measured over this many last quiet ticks.
const MEASURE_TICKS: usize = 6;
/// Measurement windows of MEASURE_TICKS after the kill in which production
/// may recover (other load on a shared host can slow one window).
const RECOVERY_WINDOWS: usize = 4;
/// The agent must act within this many ticks of the stress starting.
const MAX_REACTION_TICKS: usize = 12;

fn shipped_pipeline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/qos-agent.toml")
}

/// The production workload: a shell counting loop iterations and printing
/// the count every 1000 iterations to a pipe; a reader thread keeps the last
/// count. (A file rewritten in place would make the loop wait on the disk
/// and hide CPU interference.)
struct Counter {
    proc: Proc,
    last: Arc<AtomicU64>,
}

impl Counter {
    fn start() -> Counter {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("read go; i=0; while :; do i=$((i+1)); if [ $((i % 1000)) -eq 0 ]; then echo $i; fi; done")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        let stdout = child.stdout.take().unwrap();
        let last = Arc::new(AtomicU64::new(0));
        let sink = last.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(n) = line.trim().parse::<u64>() {
                    sink.store(n, Ordering::SeqCst);
                }
            }
        });
        Counter {
            proc: Proc::from_child(child),
            last,
        }
    }

    fn count(&self) -> u64 {
        self.last.load(Ordering::SeqCst)
    }
}

/// The median of the per-tick rates of consecutive points (the host's own
/// load makes single intervals noisy).
fn median_rate(points: &[(Instant, u64)]) -> f64 {
    let mut rates: Vec<f64> = points.windows(2).map(|w| rate(w[0], w[1])).collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// Iterations per second between two (time, count) points.
fn rate(a: (Instant, u64), b: (Instant, u64)) -> f64 {
    (b.1.saturating_sub(a.1)) as f64 / (b.0 - a.0).as_secs_f64()
}

#[test]
fn stress_in_best_effort_group_is_killed_and_production_recovers() {
    if !v1_root_or_skip(TEST) {
        return;
    }
    let cpuset_root = Path::new(ROOT).join("cpuset");
    if !cpuset_root.join("cpuset.cpus").exists() {
        skip(TEST, "needs the cgroup v1 cpuset hierarchy");
        return;
    }
    if Command::new("stress-ng").arg("--version").output().is_err() {
        skip(TEST, "needs stress-ng (apt-get install stress-ng)");
        return;
    }
    let pipeline_text = fs::read_to_string(shipped_pipeline()).unwrap();
    if let Err(e) = build_pipeline(
        "qos-agent.toml",
        &pipeline_text,
        &[],
        BuildOptions::default(),
    ) {
        panic!("pipelines/qos-agent.toml does not build:\n{e}");
    }
    let _serial = serial();

    // Pin everything to the last online CPU, shared by both groups.
    let cpus = serenity_probe::host::online_cpus().unwrap();
    let cpu = *cpus.last().unwrap();
    let mems = read(&cpuset_root.join("cpuset.mems"));
    let mem = mems.split([',', '-']).next().unwrap().to_owned();

    let mut tree = Tree::v1();
    for rel in ["prod", "prod/web", "be", "be/batch"] {
        tree.mkdir(rel);
    }
    // The tree outweighs other work on the host, so that the interference
    // measured is the best-effort group's; inside the tree both groups have
    // the same weight.
    write(&tree.dir("cpu", "").join("cpu.shares"), "8192");
    // The best-effort job was lent 2 CPUs (2048 shares, as Mesos sets them),
    // the production group has 1: on the shared CPU production gets a third.
    write(&tree.dir("cpu", "be/batch").join("cpu.shares"), "2048");
    for rel in ["", "prod", "prod/web", "be", "be/batch"] {
        let dir = tree.mkdir_in(&cpuset_root, rel);
        write(&dir.join("cpuset.cpus"), &cpu.to_string());
        write(&dir.join("cpuset.mems"), &mem);
    }
    let attach = |rel: &str, pid: u32| {
        tree.attach(rel, pid);
        write(
            &tree.dir_in(&cpuset_root, rel).join("cgroup.procs"),
            &pid.to_string(),
        );
    };

    let files = TempDir::new();
    let mut counter = Counter::start();
    attach("prod/web", counter.proc.pid());
    counter.proc.release();

    files.file(
        "estimator.toml",
        "kind = \"estimator\"\n[[stage]]\ntype = \"valve\"\n[[stage]]\ntype = \"pr_only\"\n[[stage]]\ntype = \"slack\"\n",
    );
    let config = files.file(
        "agent.toml",
        &format!(
            r#"qos = "{pipeline}"
estimator = "estimator.toml"
interval_secs = {INTERVAL}
[cgroups]
version = "v1"
perf = false
production = ["{prod}"]
best_effort = "{be}"
[total]
cpus = {ncpus}
[metrics]
enabled = false
[enforcement]
action = "kill"
"#,
            pipeline = shipped_pipeline().display(),
            prod = tree.rel("prod"),
            be = tree.rel("be"),
            ncpus = cpus.len(),
        ),
    );
    let mut agent = Agent::new(AgentConfig::load(&config).unwrap(), true).unwrap();
    assert_eq!(agent.interval(), Duration::from_secs_f64(INTERVAL));

    let interval = Duration::from_secs_f64(INTERVAL);
    let mut next = Instant::now();
    let mut points: Vec<(Instant, u64)> = Vec::new();
    let mut decisions = Vec::new();
    let mut tick = |agent: &mut Agent, points: &mut Vec<(Instant, u64)>| {
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        }
        next += interval;
        let report = agent.tick();
        points.push((Instant::now(), counter.count()));
        report
    };

    // Quiet: production alone.
    for _ in 0..QUIET_TICKS {
        let report = tick(&mut agent, &mut points);
        assert_eq!(report.errors, 0, "{report:?}");
        decisions.extend(report.decisions);
    }
    let before = median_rate(&points[QUIET_TICKS - 1 - MEASURE_TICKS..]);

    // Stress in the best-effort group (gated so that its workers are forked
    // inside the groups).
    let mut stress = Proc::sh("read go; exec stress-ng --cpu 2 --timeout 120s --quiet");
    attach("be/batch", stress.pid());
    stress.release();
    let batch = tree.dir("cpu", "be/batch");
    assert!(
        wait_until(Duration::from_secs(3), || pids(&batch).len() >= 3),
        "stress-ng and its 2 workers in the best-effort group: {:?}",
        pids(&batch)
    );
    let stress_started = (Instant::now(), counter.count());

    let mut reaction = None;
    for n in 1..=MAX_REACTION_TICKS {
        let report = tick(&mut agent, &mut points);
        let kill = report
            .decisions
            .iter()
            .find(|d| matches!(d.outcome, Outcome::Applied(_)))
            .cloned();
        decisions.extend(report.decisions);
        if let Some(kill) = kill {
            eprintln!("e2e: {kill}");
            assert!(
                !agent.estimator().unwrap().valve().is_open(),
                "pause_estimator holds the estimator's valve closed while it corrects"
            );
            assert_eq!(report.slack.map(|s| s.cpus), Some(0.0));
            reaction = Some(n);
            break;
        }
    }
    let killed_at = *points.last().unwrap();
    let during = rate(stress_started, killed_at);
    let Some(reaction) = reaction else {
        panic!(
            "the agent did not act within {MAX_REACTION_TICKS} ticks of the stress; \
             throughput before {before:.0}/s, during {during:.0}/s; decisions {decisions:?}"
        );
    };
    assert!(
        wait_until(Duration::from_secs(3), || pids(&batch).is_empty()),
        "best-effort processes left: {:?}",
        pids(&batch)
    );
    assert!(wait_until(Duration::from_secs(3), || stress.exited()));

    // After: skip the tick in which the kill happened, then measure, window
    // after window until production is back (at most RECOVERY_WINDOWS).
    tick(&mut agent, &mut points);
    let after_start = *points.last().unwrap();
    let recovered = |after: f64| after > 0.7 * before && after > 1.4 * during;
    let mut afters = Vec::new();
    for _ in 0..RECOVERY_WINDOWS {
        let from = points.len() - 1;
        for _ in 0..MEASURE_TICKS {
            let report = tick(&mut agent, &mut points);
            decisions.extend(report.decisions);
        }
        afters.push(median_rate(&points[from..]));
        if recovered(*afters.last().unwrap()) {
            break;
        }
    }
    let after = afters.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "e2e: reaction {reaction} tick(s) of {INTERVAL} s; production throughput before {before:.0}/s, \
         during {during:.0}/s ({:.0}%), after {after:.0}/s ({:.0}%)",
        100.0 * during / before,
        100.0 * after / before
    );

    // The interference was real, and production recovered. The bounds are
    // generous: other load on the host moves single figures by up to ±30 %
    // (the vCPUs' speed varies), while the interference halves throughput
    // or worse.
    assert!(
        during < 0.75 * before,
        "no real interference: before {before}, during {during}"
    );
    assert!(
        recovered(after),
        "no recovery in {RECOVERY_WINDOWS} windows of {MEASURE_TICKS} ticks: before {before}, \
         during {during}, after {afters:?}"
    );
    assert!(
        agent.estimator().unwrap().valve().is_open(),
        "the estimator's valve is open again once the contention is gone"
    );
    // Nothing outside the best-effort group was touched.
    for d in &decisions {
        assert_eq!(d.group, PathBuf::from(tree.rel("be/batch")), "{d}");
        assert!(
            !matches!(d.outcome, Outcome::Refused(_) | Outcome::Failed(_)),
            "{d}"
        );
    }
    assert!(!counter.proc.exited(), "the production workload survived");
    assert_eq!(
        pids(&tree.dir("cpu", "prod/web")),
        [counter.proc.pid() as i32]
    );
    assert_eq!(
        read(&tree.dir("cpu", "prod/web").join("cpu.cfs_quota_us")),
        "-1"
    );
    assert_eq!(
        read(&tree.dir("freezer", "prod/web").join("freezer.state")),
        "THAWED"
    );
    thread::sleep(Duration::from_millis(100));
    assert!(counter.count() > after_start.1, "production still counts");
    drop(agent);
}
