//! The v2 reader and v2 discovery against groups this test creates in the
//! unified hierarchy (/sys/fs/cgroup/unified on hybrid hosts, /sys/fs/cgroup
//! on pure-v2 hosts). Needs root and a writable unified hierarchy; otherwise
//! each test prints `SKIP:` and returns.

mod support;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use serenity_probe::{
    cgroup_mounts, discover_v2, perf_event_mount, CgroupPerfCounters, CgroupV2, EventSupport,
    PerfEvent,
};
use support::{attach, outside_by, serial, skip, spawn_busy, BeyondRunTime, Groups};

/// The unified hierarchy's mount point, or a SKIP line.
fn unified_root(test: &str) -> Option<PathBuf> {
    let mounts = match cgroup_mounts() {
        Ok(mounts) => mounts,
        Err(e) => {
            skip(test, &format!("cannot list cgroup mounts: {e}"));
            return None;
        }
    };
    let Some(mount) = mounts.into_iter().find(|m| m.unified) else {
        skip(test, "no cgroup2 (unified) hierarchy is mounted");
        return None;
    };
    Some(mount.mount_point)
}

/// A fresh top-level test group, or a SKIP line if the hierarchy is not
/// writable.
fn test_parent(test: &str, root: &Path, groups: &mut Groups) -> Option<PathBuf> {
    let parent = root.join(support::unique_name());
    if let Err(e) = groups.create(&parent) {
        skip(
            test,
            &format!("cannot create a group under {}: {e}", root.display()),
        );
        return None;
    }
    Some(parent)
}

#[test]
fn v2_reader_sees_usage_grow_under_load() {
    let test = "v2_reader_sees_usage_grow_under_load";
    if !support::root_or_skip(test) {
        return;
    }
    let _serial = serial();
    let Some(root) = unified_root(test) else {
        return;
    };
    let mut groups = Groups::new();
    let Some(group) = test_parent(test, &root, &mut groups) else {
        return;
    };
    let reader = CgroupV2::new(&root);
    let mut busy = spawn_busy();
    attach(&group, busy.pid());
    busy.release();
    thread::sleep(Duration::from_millis(300));

    let a = reader.read(group.file_name().unwrap()).expect("first read");
    thread::sleep(Duration::from_secs(1));
    let b = reader.read(&group).expect("second read");

    let dt = b.timestamp - a.timestamp;
    let usage = b.cpu_usage_secs.unwrap() - a.cpu_usage_secs.unwrap();
    let split = (b.cpu_user_secs.unwrap() + b.cpu_system_secs.unwrap())
        - (a.cpu_user_secs.unwrap() + a.cpu_system_secs.unwrap());
    eprintln!(
        "usage_usec grew by {usage:.4} s over {dt:.3} s ({:.3} CPUs)",
        usage / dt
    );
    // An unthrottled spinning task: ~1 CPU, at least 0.2 even on a busy host.
    assert!(usage >= 0.2 * dt, "usage grew by only {usage} s in {dt} s");
    assert!(
        (split - usage).abs() <= 0.02 * usage + 0.005,
        "user + system ({split}) must add up to usage ({usage})"
    );
    assert_eq!(b.processes, Some(1));
    assert_eq!(b.threads, Some(1));

    let controllers = std::fs::read_to_string(group.join("cgroup.controllers")).unwrap_or_default();
    let enabled = |c: &str| controllers.split_whitespace().any(|x| x == c);
    eprintln!("controllers enabled in the test group: {controllers:?}");
    assert_eq!(
        b.mem_total_bytes.is_some(),
        enabled("memory"),
        "memory fields exist exactly when the memory controller is enabled"
    );
    assert_eq!(b.cpu_weight.is_some(), enabled("cpu"));
    assert_eq!(b.blkio.is_some(), enabled("io"));

    let stats = b.to_statistics();
    assert_eq!(stats.cpus_user_time_secs, b.cpu_user_secs);
    assert_eq!(stats.processes, Some(1));
    drop(busy);
}

#[test]
fn v2_discovery_finds_the_containers_of_both_kubernetes_layouts() {
    let test = "v2_discovery_finds_the_containers_of_both_kubernetes_layouts";
    if !support::root_or_skip(test) {
        return;
    }
    let _serial = serial();
    let Some(root) = unified_root(test) else {
        return;
    };
    let mut groups = Groups::new();
    let Some(parent) = test_parent(test, &root, &mut groups) else {
        return;
    };
    let systemd = [
        "kubepods.slice",
        "kubepods-burstable.slice",
        "kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice",
    ];
    let mut dir = parent.clone();
    for part in systemd {
        dir = dir.join(part);
        groups.make(&dir);
    }
    groups.make(&dir.join("cri-containerd-1111aaaa.scope"));
    groups.make(&dir.join("cri-containerd-2222bbbb.scope"));
    let mut dir = parent.clone();
    for part in [
        "kubepods",
        "burstable",
        "pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    ] {
        dir = dir.join(part);
        groups.make(&dir);
    }
    groups.make(&dir.join("3333cccc"));

    let found = discover_v2(&parent).expect("discovery");
    let mut ids: Vec<&str> = found.iter().map(|g| g.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["1111aaaa", "2222bbbb", "3333cccc"]);
    let reader = CgroupV2::new(&root);
    for group in &found {
        let sample = reader.read(&group.path).expect("read discovered group");
        assert_eq!(sample.processes, Some(0), "{}", group.path.display());
        assert_eq!(sample.cpu_usage_secs, Some(0.0));
    }
}

#[test]
fn perf_task_clock_of_a_v2_group_matches_its_usage() {
    let test = "perf_task_clock_of_a_v2_group_matches_its_usage";
    if !support::root_or_skip(test) {
        return;
    }
    let _serial = serial();
    let Some(root) = unified_root(test) else {
        return;
    };
    if let Some(v1) = cgroup_mounts().ok().as_deref().and_then(perf_event_mount) {
        skip(
            test,
            &format!(
                "perf_event is bound to the v1 hierarchy at {}, so v2 groups have no \
                 perf_event controller (the perf_live tests cover that layout)",
                v1.display()
            ),
        );
        return;
    }
    let mut groups = Groups::new();
    let Some(group) = test_parent(test, &root, &mut groups) else {
        return;
    };
    let mut counters = CgroupPerfCounters::open(&group).expect("open counters on a v2 group");
    assert_eq!(
        counters.support_of(PerfEvent::TaskClock),
        Some(&EventSupport::Counting)
    );
    let reader = CgroupV2::new(&root);
    let mut busy = spawn_busy();
    attach(&group, busy.pid());
    busy.release();
    thread::sleep(Duration::from_millis(300));
    let beyond = BeyondRunTime::start();
    let r0 = counters.read().expect("read perf");
    let u0 = reader.read(&group).expect("read").cpu_usage_secs.unwrap();
    thread::sleep(Duration::from_secs(1));
    let r1 = counters.read().expect("read perf");
    let u1 = reader.read(&group).expect("read").cpu_usage_secs.unwrap();
    let (outside, extra) = beyond.secs();
    let task_clock = r1.interval_since(&r0).task_clock_secs().unwrap();
    let usage = u1 - u0;
    // As in perf_live: task-clock also counts the interrupts and the host's
    // steal while the task ran, at most the node's over the span (plus a
    // tick per CPU of /proc/stat rounding), which usage_usec leaves out.
    let relative = outside_by(task_clock, usage, usage + extra);
    eprintln!(
        "v2 group: task-clock {task_clock:.6} s, usage_usec {usage:.6} s, node interrupt + \
         steal {outside:.3} s, outside by {:.3}%",
        relative * 100.0
    );
    assert!(usage > 0.2, "the spinning child ran, got {usage} s");
    // Same reasoning as perf_live: two accountings of the same run time,
    // read a few microseconds apart.
    assert!(relative <= 0.02);
    drop(busy);
}
