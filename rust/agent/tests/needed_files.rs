//! Reading only the cgroup files the pipelines need decides exactly as
//! reading every file: two agents on one recorded v1 tree (no root
//! needed), one with `all_statistics = true`, one with the default, tick
//! through the same changing files for every shipped QoS pipeline with the
//! shipped estimators; every decision, slack, contention, stop reason and
//! every signal a stage reads is the same. Statistics timestamps are set to
//! the same synthetic clock in both, so rates do not depend on when each
//! agent happened to read.

mod support;

use serenity_agent::{Agent, AgentConfig};
use std::fs;
use std::path::{Path, PathBuf};
use support::TempDir;

const GROUPS: [&str; 4] = ["prod/web", "prod/db", "be/batch", "be/job"];
const HIERARCHIES: [&str; 4] = ["cpuacct", "cpu", "memory", "blkio"];

fn pipelines_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines")
}

/// Writes every file the probe reads for group `rel` at tick `t`.
fn write_group(root: &Path, rel: &str, index: u64, t: u64) {
    let dir = |h: &str| root.join(h).join(rel);
    for h in HIERARCHIES {
        fs::create_dir_all(dir(h)).unwrap();
    }
    // CPU: a steady load per group, web's dropping after tick 20 (a CUSUM
    // drop), batch's load rising (node overload) after tick 30.
    let load = match (rel, t) {
        ("prod/web", t) if t > 20 => 0.2,
        ("prod/web", _) => 1.5,
        ("be/batch", t) if t > 30 => 2.5,
        _ => 0.3 + 0.1 * index as f64,
    };
    let busy = |tick: u64| -> f64 {
        (0..tick)
            .map(|k| match (rel, k) {
                ("prod/web", k) if k > 20 => 0.2,
                ("prod/web", _) => 1.5,
                ("be/batch", k) if k > 30 => 2.5,
                _ => load,
            })
            .sum::<f64>()
    };
    // 10 s between ticks, USER_HZ 100: CPUs × 1000 ticks per interval.
    let ticks = (busy(t) * 1000.0) as u64;
    let write = |h: &str, file: &str, text: String| fs::write(dir(h).join(file), text).unwrap();
    write(
        "cpuacct",
        "cpuacct.stat",
        format!("user {}\nsystem {}\n", ticks * 3 / 4, ticks / 4),
    );
    write(
        "cpuacct",
        "cpuacct.usage",
        format!("{}\n", ticks * 10_000_000),
    );
    write("cpuacct", "cgroup.procs", String::new());
    write("cpuacct", "tasks", String::new());
    write(
        "cpu",
        "cpu.stat",
        format!(
            "nr_periods {}\nnr_throttled {}\nthrottled_time {}\n",
            t * 100,
            t * t,
            t * 1_000_000
        ),
    );
    // db's quota changes mid-run (as a throttle would).
    let quota: i64 = match (rel, t) {
        ("prod/web", _) => 200_000,
        ("prod/db", t) if t > 25 => 50_000,
        ("prod/db", _) => 100_000,
        _ => -1,
    };
    write("cpu", "cpu.cfs_quota_us", format!("{quota}\n"));
    write("cpu", "cpu.cfs_period_us", "100000\n".into());
    // Best-effort groups get few shares: their allocation is revocable
    // and subtracted from the slack.
    let shares = if rel.starts_with("be") {
        16
    } else {
        512 * (index + 1)
    };
    write("cpu", "cpu.shares", format!("{shares}\n"));
    write(
        "memory",
        "memory.usage_in_bytes",
        format!("{}\n", (100 + t) << 20),
    );
    write(
        "memory",
        "memory.memsw.usage_in_bytes",
        format!("{}\n", (110 + t) << 20),
    );
    let limit = if rel.starts_with("prod") {
        1u64 << 30
    } else {
        9_223_372_036_854_771_712
    };
    write("memory", "memory.limit_in_bytes", format!("{limit}\n"));
    write(
        "memory",
        "memory.soft_limit_in_bytes",
        format!("{}\n", 256u64 << 20),
    );
    write(
        "memory",
        "memory.stat",
        format!(
            "total_rss {}\ntotal_cache {}\ntotal_mapped_file 1\ntotal_swap 0\ntotal_unevictable 0\n",
            ((50 + t * (index + 1)) << 20),
            10u64 << 20
        ),
    );
    write(
        "blkio",
        "blkio.throttle.io_serviced",
        format!("8:0 Read {t}\n8:0 Total {t}\nTotal {t}\n"),
    );
    write(
        "blkio",
        "blkio.throttle.io_service_bytes",
        format!("8:0 Read {}\nTotal {}\n", t * 4096, t * 4096),
    );
}

fn config(dir: &TempDir, qos: &Path, estimator: &Path, all: bool) -> AgentConfig {
    let text = format!(
        "qos = {qos:?}\nestimator = {estimator:?}\ninterval_secs = 10\n[cgroups]\nversion = \"v1\"\n\
         root = {root:?}\nproduction = [\"prod\"]\nbest_effort = \"be\"\nperf = false\n\
         all_statistics = {all}\n[total]\ncpus = 4\nmem_mib = 8192\n[metrics]\nenabled = false\n",
        root = dir.0.join("cg").display().to_string(),
    );
    let name = if all { "all.toml" } else { "needed.toml" };
    AgentConfig::load(&dir.file(name, &text)).unwrap()
}

/// One tick of `agent` with every statistics timestamp set to `at`.
fn tick(agent: &mut Agent, at: f64) -> serenity_agent::TickReport {
    let mut sampled = agent.sample();
    for e in &mut sampled.usage.executors {
        if let Some(s) = e.statistics.as_mut() {
            s.timestamp = Some(at);
        }
    }
    agent.tick_sampled(sampled)
}

/// Every (row, signal, value) of the signals some stage of `p` reads.
fn read_signals(p: &serenity_core::Pipeline) -> Vec<(usize, String, Option<u64>)> {
    let names = p.signals();
    let table = p.last_signals();
    let mut out = Vec::new();
    for name in names.all() {
        if !names.is_read(name) {
            continue;
        }
        let Some(id) = names.lookup(name) else {
            continue;
        };
        for row in 0..table.rows() {
            out.push((row, name.clone(), table.get(row, id).map(f64::to_bits)));
        }
    }
    out
}

#[test]
fn only_the_needed_files_give_the_same_decisions_as_every_file() {
    let shipped = pipelines_dir();
    let mut qos_files: Vec<PathBuf> = fs::read_dir(&shipped)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("qos") && n.ends_with(".toml"))
        })
        .collect();
    qos_files.sort();
    assert!(qos_files.len() >= 4, "{qos_files:?}");
    let mut corrections = 0;
    let mut slack_ticks = 0;
    for qos in &qos_files {
        for estimator in ["estimator.toml", "estimator-reclaim.toml"] {
            let estimator = shipped.join(estimator);
            let dir = TempDir::new();
            let root = dir.0.join("cg");
            for (i, g) in GROUPS.iter().enumerate() {
                write_group(&root, g, i as u64, 0);
            }
            let mut all = Agent::new(config(&dir, qos, &estimator, true), false).unwrap();
            let mut needed = Agent::new(config(&dir, qos, &estimator, false), false).unwrap();
            assert_eq!(all.sampler().needs(), serenity_agent::needs::Needs::ALL);
            for t in 0..45u64 {
                for (i, g) in GROUPS.iter().enumerate() {
                    // job leaves at tick 10 and comes back at tick 15.
                    if *g == "be/job" && (10..15).contains(&t) {
                        for h in HIERARCHIES {
                            let _ = fs::remove_dir_all(root.join(h).join(g));
                        }
                        continue;
                    }
                    write_group(&root, g, i as u64, t);
                }
                let at = 1_000_000.0 + 10.0 * t as f64;
                let a = tick(&mut all, at);
                let b = tick(&mut needed, at);
                let what = format!("{} + {}, tick {t}", qos.display(), estimator.display());
                assert_eq!(a.groups, b.groups, "{what}");
                assert_eq!(a.decisions, b.decisions, "{what}");
                assert_eq!(a.slack, b.slack, "{what}");
                assert_eq!(a.contentions, b.contentions, "{what}");
                assert_eq!(a.qos_stopped, b.qos_stopped, "{what}");
                assert_eq!(a.errors, b.errors, "{what}");
                for (pa, pb) in [
                    (all.qos(), needed.qos()),
                    (all.estimator(), needed.estimator()),
                ] {
                    let (pa, pb) = (pa.unwrap(), pb.unwrap());
                    assert_eq!(read_signals(pa), read_signals(pb), "{what}: {}", pa.name());
                }
                corrections += a.decisions.len();
                slack_ticks += usize::from(a.slack.is_some_and(|s| s.cpus > 0.0));
            }
        }
    }
    // The scenario did exercise the pipelines.
    assert!(corrections > 0, "no correction in any run");
    assert!(slack_ticks > 0, "no positive slack in any run");
}

#[test]
fn the_default_reads_fewer_statistics_than_all_statistics() {
    let shipped = pipelines_dir();
    let dir = TempDir::new();
    let root = dir.0.join("cg");
    for (i, g) in GROUPS.iter().enumerate() {
        write_group(&root, g, i as u64, 1);
    }
    let qos = shipped.join("qos-agent.toml");
    let estimator = shipped.join("estimator.toml");
    let mut needed = Agent::new(config(&dir, &qos, &estimator, false), false).unwrap();
    let report = needed.tick();
    let stats = report.snapshot.usage.executors[0]
        .statistics
        .clone()
        .unwrap();
    assert!(stats.cpus_user_time_secs.is_some() && stats.cpus_limit.is_some());
    assert!(stats.mem_limit_bytes.is_some());
    assert_eq!(stats.mem_rss_bytes, None, "no stage reads mem_rss_bytes");
    assert_eq!(
        stats.cpus_nr_periods, None,
        "no stage reads cpu_throttle_ratio"
    );
    assert_eq!(stats.processes, None);
    assert!(stats.blkio_statistics.is_none());

    let mut all = Agent::new(config(&dir, &qos, &estimator, true), false).unwrap();
    let report = all.tick();
    let stats = report.snapshot.usage.executors[0]
        .statistics
        .clone()
        .unwrap();
    assert!(stats.mem_rss_bytes.is_some() && stats.cpus_nr_periods.is_some());
    assert!(stats.processes.is_some() && stats.blkio_statistics.is_some());
}
