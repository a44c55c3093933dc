//! The v1 reader against real groups this test creates, under real load.
//! Needs root and the cpu, cpuacct and memory v1 hierarchies under
//! /sys/fs/cgroup; otherwise each test prints `SKIP:` and returns.

mod support;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use serenity_probe::{discover_v1, CgroupV1};
use support::{attach, serial, skip, spawn_busy, write, Groups};

const ROOT: &str = "/sys/fs/cgroup";

/// The hierarchies of `controllers`, or a SKIP line naming the missing one.
fn hierarchies(test: &str, reader: &CgroupV1, controllers: &[&str]) -> Option<Vec<PathBuf>> {
    let mut out = Vec::new();
    for controller in controllers {
        match reader.hierarchy(controller) {
            Some(h) => out.push(h),
            None => {
                skip(
                    test,
                    &format!("no cgroup v1 `{controller}` hierarchy under {ROOT}"),
                );
                return None;
            }
        }
    }
    Some(out)
}

#[test]
fn v1_reader_measures_half_a_cpu_under_a_half_cpu_quota() {
    let test = "v1_reader_measures_half_a_cpu_under_a_half_cpu_quota";
    if !support::root_or_skip(test) {
        return;
    }
    let _serial = serial();
    let prefix = support::unique_name();
    let reader = CgroupV1::new(ROOT, &prefix);
    let Some(hier) = hierarchies(test, &reader, &["cpu", "cpuacct", "memory"]) else {
        return;
    };
    let blkio = reader.hierarchy("blkio");

    let mut groups = Groups::new();
    let mut leaves = Vec::new();
    for h in hier.iter().chain(blkio.iter()) {
        let parent = h.join(&prefix);
        // cpu and cpuacct may be one co-mounted hierarchy.
        if parent.is_dir() {
            continue;
        }
        groups.make(&parent);
        groups.make(&parent.join("c1"));
        leaves.push(parent.join("c1"));
    }
    let cpu_parent = hier[0].join(&prefix);
    // Win against other load on the host so the quota is what limits us.
    write(&cpu_parent.join("cpu.shares"), "8192");
    write(&cpu_parent.join("c1/cpu.shares"), "512");
    write(&cpu_parent.join("c1/cpu.cfs_period_us"), "100000");
    write(&cpu_parent.join("c1/cpu.cfs_quota_us"), "50000");
    write(
        &hier[2].join(&prefix).join("c1/memory.limit_in_bytes"),
        "268435456",
    );

    let mut busy = spawn_busy();
    for leaf in &leaves {
        attach(leaf, busy.pid());
    }
    busy.release();
    thread::sleep(Duration::from_millis(600));

    let a = reader.read("c1").expect("first read");
    thread::sleep(Duration::from_secs(2));
    let b = reader.read("c1").expect("second read");

    let dt = b.timestamp - a.timestamp;
    let cpu = |s: &serenity_probe::CgroupSample| {
        s.cpu_user_secs.expect("user") + s.cpu_system_secs.expect("system")
    };
    let usage = (cpu(&b) - cpu(&a)) / dt;
    let precise = (b.cpu_usage_secs.unwrap() - a.cpu_usage_secs.unwrap()) / dt;
    eprintln!(
        "measured CPU usage over {dt:.3} s: {usage:.4} CPUs from cpuacct.stat, \
         {precise:.4} CPUs from cpuacct.usage (quota 0.5)"
    );
    assert!(
        (usage - 0.5).abs() / 0.5 <= 0.05,
        "usage {usage:.4} is not within 5% of 0.5"
    );
    assert!(
        (precise - 0.5).abs() / 0.5 <= 0.05,
        "cpuacct.usage rate {precise:.4} is not within 5% of 0.5"
    );

    assert!(b.cpu_nr_periods > a.cpu_nr_periods, "periods must advance");
    assert!(
        b.cpu_nr_throttled > a.cpu_nr_throttled,
        "a spinning task under a 0.5 quota must be throttled: {:?} -> {:?}",
        a.cpu_nr_throttled,
        b.cpu_nr_throttled
    );
    assert!(b.cpu_throttled_secs > a.cpu_throttled_secs);
    assert_eq!(b.cpus_limit, Some(0.5));
    assert_eq!(b.cpus_soft_limit, Some(0.5));

    eprintln!(
        "memory: usage {:?} B, rss {:?} B, cache {:?} B, limit {:?} B",
        b.mem_total_bytes, b.mem_rss_bytes, b.mem_cache_bytes, b.mem_limit_bytes
    );
    assert_eq!(b.mem_limit_bytes, Some(268_435_456));
    assert!(
        b.mem_total_bytes.unwrap() >= 6_000_000,
        "the child holds 8 MB"
    );
    assert!(
        b.mem_rss_bytes.unwrap() >= 6_000_000,
        "the 8 MB string is anonymous memory"
    );
    assert_eq!(b.processes, Some(1));
    assert_eq!(b.threads, Some(1));
    if blkio.is_some() {
        let io = b.blkio.as_ref().expect("blkio mounted, so blkio is read");
        assert!(
            io.iter().any(|d| d.device.is_none()),
            "the grand total line"
        );
    }

    let stats = b.to_statistics();
    assert_eq!(stats.timestamp, Some(b.timestamp));
    assert_eq!(stats.cpus_limit, Some(0.5));
    assert!(stats.cpus_user_time_secs.is_some() && stats.cpus_system_time_secs.is_some());
    assert!(stats.cpus_nr_throttled.unwrap() > 0);
    assert!(stats.mem_rss_bytes.unwrap() >= 6_000_000);

    let found = discover_v1(&reader).expect("discovery");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "c1");
    drop(busy);
}

#[test]
fn v1_reader_reports_a_removed_group_as_vanished() {
    let test = "v1_reader_reports_a_removed_group_as_vanished";
    if !support::root_or_skip(test) {
        return;
    }
    let _serial = serial();
    let prefix = support::unique_name();
    let reader = CgroupV1::new(ROOT, &prefix);
    let Some(hier) = hierarchies(test, &reader, &["cpuacct"]) else {
        return;
    };
    let mut groups = Groups::new();
    let parent = hier[0].join(&prefix);
    groups.make(&parent);
    let leaf = parent.join("short-lived");
    std::fs::create_dir(&leaf).expect("mkdir leaf");
    let sample = reader.read("short-lived").expect("read existing group");
    assert_eq!(sample.processes, Some(0));
    std::fs::remove_dir(&leaf).expect("rmdir leaf");
    let err = reader.read("short-lived").expect_err("group is gone");
    assert!(err.is_vanished(), "expected Vanished, got {err}");
    assert!(discover_v1(&reader).expect("discovery").is_empty());
}

#[test]
fn v1_discovery_lists_every_container_under_the_prefix() {
    let test = "v1_discovery_lists_every_container_under_the_prefix";
    if !support::root_or_skip(test) {
        return;
    }
    let _serial = serial();
    let prefix = support::unique_name();
    let reader = CgroupV1::new(ROOT, Path::new(&prefix).join("mesos"));
    let Some(hier) = hierarchies(test, &reader, &["cpuacct"]) else {
        return;
    };
    let mut groups = Groups::new();
    let mesos = hier[0].join(&prefix).join("mesos");
    groups.make(&hier[0].join(&prefix));
    groups.make(&mesos);
    for id in ["a1", "b2", "c3"] {
        groups.make(&mesos.join(id));
    }
    let ids: Vec<String> = discover_v1(&reader)
        .expect("discovery")
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(ids, ["a1", "b2", "c3"]);
    for id in &ids {
        let sample = reader.read(id).expect("idle group reads");
        assert_eq!(sample.processes, Some(0));
        assert!(sample.cpu_usage_secs.is_some());
    }
}
