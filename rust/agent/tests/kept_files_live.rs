//! Kept descriptors on real cgroups (root): a file re-read through its kept
//! descriptor shows the new value without being opened again, and a group
//! removed and created again under the same path is read afresh (no
//! panic, no error), on cgroup v1 and on the unified (v2) hierarchy.

mod support;

use serenity_agent::config::CgroupVersion;
use serenity_agent::groups::{discover, Layout};
use serenity_agent::needs::Needs;
use serenity_agent::sampling::Sampler;
use std::fs;
use std::path::{Path, PathBuf};
use support::*;

fn v1_layout() -> Layout {
    Layout {
        version: CgroupVersion::V1,
        root: PathBuf::from(ROOT),
    }
}

/// The allocated cpus of executor `name` in one sample of the tree's groups.
fn sample(
    sampler: &mut Sampler,
    layout: &Layout,
    tree: &Tree,
) -> (Vec<(String, Option<f64>)>, u64) {
    let prod = tree.rel("prod");
    let found = discover(layout, &[prod], Path::new(&tree.rel("be"))).unwrap();
    let sampled = sampler.sample(&found.groups, 2.0, 1024.0);
    let snapshot = serenity_core::Snapshot::new(sampled.usage);
    let cpus = snapshot
        .executors
        .iter()
        .map(|v| (v.key.executor_id.clone(), v.allocated_cpus))
        .collect();
    (cpus, sampled.errors)
}

#[test]
fn a_kept_v1_descriptor_sees_new_values_and_a_recreated_group_is_reopened() {
    let test = "a_kept_v1_descriptor_sees_new_values_and_a_recreated_group_is_reopened";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    let mut tree = Tree::v1();
    for rel in ["prod", "prod/web", "be"] {
        tree.mkdir(rel);
    }
    let quota =
        |tree: &Tree, q: &str| write(&tree.dir("cpu", "prod/web").join("cpu.cfs_quota_us"), q);
    quota(&tree, "50000");
    let layout = v1_layout();
    let mut sampler = Sampler::with_needs(layout.clone(), false, Needs::MINIMAL);

    let (cpus, errors) = sample(&mut sampler, &layout, &tree);
    assert_eq!((cpus, errors), (vec![("web".to_owned(), Some(0.5))], 0));
    let first = sampler.file_counters();
    // cpuacct.stat, the quota, the period, the memory limit, and the soft
    // memory limit (none is set): five files, one read each.
    assert_eq!(first.opens, 5, "{first:?}");
    assert_eq!(first.reads, 5, "{first:?}");

    quota(&tree, "25000");
    let (cpus, _) = sample(&mut sampler, &layout, &tree);
    assert_eq!(cpus, vec![("web".to_owned(), Some(0.25))]);
    let second = sampler.file_counters();
    assert_eq!(second.opens, first.opens, "kept: nothing opened again");
    assert_eq!(second.reads, 2 * first.reads, "one pread per file");

    // Removed and created again (another container of the same name).
    for c in V1_CONTROLLERS {
        fs::remove_dir(tree.dir(c, "prod/web")).unwrap();
    }
    for c in V1_CONTROLLERS {
        fs::create_dir(tree.dir(c, "prod/web")).unwrap();
    }
    quota(&tree, "150000");
    let (cpus, errors) = sample(&mut sampler, &layout, &tree);
    assert_eq!((cpus, errors), (vec![("web".to_owned(), Some(1.5))], 0));
    assert!(sampler.file_counters().opens > second.opens, "reopened");

    // Removed for good: left out quietly.
    for c in V1_CONTROLLERS {
        fs::remove_dir(tree.dir(c, "prod/web")).unwrap();
    }
    let (cpus, errors) = sample(&mut sampler, &layout, &tree);
    assert_eq!((cpus, errors), (vec![], 0));
    for c in V1_CONTROLLERS {
        fs::create_dir(tree.dir(c, "prod/web")).unwrap();
    }
}

#[test]
fn a_kept_v2_descriptor_sees_new_values_and_a_recreated_group_is_reopened() {
    let test = "a_kept_v2_descriptor_sees_new_values_and_a_recreated_group_is_reopened";
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip(test, "needs root (geteuid != 0) to create cgroups");
        return;
    }
    let unified = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").exists());
    let Some(unified) = unified else {
        skip(
            test,
            "no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified",
        );
        return;
    };
    let _serial = serial();
    let mut tree = Tree::new(std::slice::from_ref(&unified));
    for rel in ["prod", "prod/web", "be"] {
        tree.mkdir(rel);
    }
    let layout = Layout {
        version: CgroupVersion::V2,
        root: unified.clone(),
    };
    let mut sampler = Sampler::with_needs(layout.clone(), false, Needs::MINIMAL);
    let user_secs = |sampler: &mut Sampler| {
        let found = discover(&layout, &[tree.rel("prod")], Path::new(&tree.rel("be"))).unwrap();
        let sampled = sampler.sample(&found.groups, 2.0, 1024.0);
        assert_eq!(sampled.errors, 0);
        sampled
            .usage
            .executors
            .first()
            .and_then(|e| e.statistics.as_ref())
            .and_then(|s| s.cpus_user_time_secs)
    };
    assert_eq!(user_secs(&mut sampler), Some(0.0));
    let opened = sampler.file_counters().opens;

    // Burn CPU in the group: cpu.stat, re-read through its descriptor,
    // shows it.
    let mut busy = Proc::busy();
    tree.attach("prod/web", busy.pid());
    busy.release();
    let grew = wait_until(std::time::Duration::from_secs(10), || {
        user_secs(&mut sampler).is_some_and(|u| u > 0.05)
    });
    assert!(grew, "user time of prod/web never grew");
    assert_eq!(
        sampler.file_counters().opens - opened,
        0,
        "cpu.stat kept open"
    );
    drop(busy);

    // Removed and created again: a fresh group with no CPU time yet.
    let dir = tree.dir("", "prod/web");
    let gone = wait_until(std::time::Duration::from_secs(10), || {
        fs::remove_dir(&dir).is_ok()
    });
    assert!(gone, "could not remove {}", dir.display());
    fs::create_dir(&dir).unwrap();
    assert_eq!(user_secs(&mut sampler), Some(0.0), "the new group is read");
}
