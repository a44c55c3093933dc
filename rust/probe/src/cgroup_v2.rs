//! cgroup v2 (unified hierarchy) reader.
//!
//! The root is `/sys/fs/cgroup` on pure-v2 hosts and `/sys/fs/cgroup/unified`
//! on hybrid hosts. Groups may sit at any depth, as in Kubernetes layouts
//! (`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope`
//! with the systemd driver, `kubepods/burstable/pod<uid>/<id>` with the
//! cgroupfs driver). A file that the group does not have because its
//! controller is not enabled there leaves its fields absent.
//!
//! | file | field |
//! | --- | --- |
//! | `cpu.stat` `usage_usec`, `user_usec`, `system_usec` | `cpu_usage_secs`, `cpu_user_secs`, `cpu_system_secs` |
//! | `cpu.stat` `nr_periods`, `nr_throttled`, `throttled_usec` | `cpu_nr_periods`, `cpu_nr_throttled`, `cpu_throttled_secs` |
//! | `cpu.max` quota / period, when not `max` | `cpus_limit` |
//! | `cpu.weight` | `cpu_weight`, and `cpus_soft_limit` (below) |
//! | `memory.current` | `mem_total_bytes` |
//! | `memory.max` (`max` = absent) | `mem_limit_bytes` |
//! | `memory.stat` `anon`, `file`, `file_mapped`, `unevictable` | `mem_rss_bytes`, `mem_cache_bytes`, `mem_mapped_file_bytes`, `mem_unevictable_bytes` |
//! | `memory.swap.current` | `mem_swap_bytes` |
//! | `io.stat` | `blkio` (one entry per device) |
//! | `cgroup.procs`, `cgroup.threads` | `processes`, `threads` |
//!
//! `cpus_soft_limit` inverts the shares-to-weight mapping that runc, crun and
//! Kubernetes use (`weight = 1 + (shares - 2) * 9999 / 262142`), so
//! `shares = 2 + (weight - 1) * 262142 / 9999` and `cpus = shares / 1024`.
//! It is exact up to integer rounding for groups whose weight was derived from
//! a CPU request; for a group left at the default weight 100 it reads as
//! about 2.54 CPUs, which means nothing.

use std::path::{Path, PathBuf};

use crate::cgroup_files::{self, FileSource, GroupDir, KeyedFile};
use crate::error::ProbeError;
use crate::sample::{now_secs, BlkioOp, BlkioThrottling, CgroupSample, Hierarchy};
use crate::selection::Selection;

/// The unified hierarchy on a pure cgroup v2 host.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
/// The unified hierarchy on a hybrid (v1 controllers + v2) host.
pub const HYBRID_ROOT: &str = "/sys/fs/cgroup/unified";

/// Reads groups of a cgroup v2 hierarchy.
#[derive(Debug, Clone)]
pub struct CgroupV2 {
    root: PathBuf,
}

impl Default for CgroupV2 {
    /// Rooted at [`DEFAULT_ROOT`].
    fn default() -> Self {
        CgroupV2::new(DEFAULT_ROOT)
    }
}

impl CgroupV2 {
    /// A reader for groups below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        CgroupV2 { root: root.into() }
    }

    /// The hierarchy's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads the group at `group`, a path relative to the root (or an absolute
    /// path, such as one returned by [`crate::discover_v2`]). A group that does
    /// not exist or disappears during the read is [`ProbeError::Vanished`].
    pub fn read(&self, group: impl AsRef<Path>) -> Result<CgroupSample, ProbeError> {
        let path = self.root.join(group);
        if !path.is_dir() {
            return Err(ProbeError::Vanished { path });
        }
        let mut sample = CgroupSample::empty(Hierarchy::V2, now_secs());
        read_v2(&mut GroupDir::new(&path), Selection::ALL, &mut sample)?;
        Ok(sample)
    }
}

/// Reads the `want`ed statistics of one group.
pub(crate) fn read_v2(
    dir: &mut impl FileSource,
    want: Selection,
    sample: &mut CgroupSample,
) -> Result<(), ProbeError> {
    read_cpu(dir, want, sample)?;
    read_memory(dir, want, sample)?;
    if want.blkio {
        read_io(dir, sample)?;
    }
    if want.pids {
        sample.processes = dir.parse("cgroup.procs", cgroup_files::count_pids)?;
        sample.threads = dir.parse("cgroup.threads", cgroup_files::count_pids)?;
    }
    Ok(())
}

/// `cpu.weight` back to CPUs, inverting the runc/Kubernetes shares mapping.
pub fn weight_to_cpus(weight: u64) -> f64 {
    let shares = 2.0 + (weight.saturating_sub(1) as f64) * 262_142.0 / 9_999.0;
    shares / 1024.0
}

fn read_cpu(
    dir: &mut impl FileSource,
    want: Selection,
    sample: &mut CgroupSample,
) -> Result<(), ProbeError> {
    let stat = dir.parse("cpu.stat", |content| {
        let stat = KeyedFile::parse(content)?;
        let mut values = [None; 6];
        let keys = [
            "usage_usec",
            "user_usec",
            "system_usec",
            "nr_periods",
            "nr_throttled",
            "throttled_usec",
        ];
        for (value, key) in values.iter_mut().zip(keys) {
            *value = stat.get_u64(key)?;
        }
        Ok(values)
    })?;
    if let Some([usage, user, system, periods, throttled, throttled_usec]) = stat {
        let secs = |usec: u64| usec as f64 / 1e6;
        sample.cpu_usage_secs = usage.map(secs);
        sample.cpu_user_secs = user.map(secs);
        sample.cpu_system_secs = system.map(secs);
        sample.cpu_nr_periods = periods;
        sample.cpu_nr_throttled = throttled;
        sample.cpu_throttled_secs = throttled_usec.map(secs);
    }
    if let Some((Some(quota), period)) = dir.parse("cpu.max", cgroup_files::parse_cpu_max)? {
        if period > 0 {
            sample.cpus_limit = Some(quota as f64 / period as f64);
        }
    }
    if want.soft_limits || sample.cpus_limit.is_none() {
        sample.cpu_weight = dir.parse("cpu.weight", cgroup_files::parse_u64)?;
        sample.cpus_soft_limit = sample.cpu_weight.map(weight_to_cpus);
    }
    Ok(())
}

fn read_memory(
    dir: &mut impl FileSource,
    want: Selection,
    sample: &mut CgroupSample,
) -> Result<(), ProbeError> {
    if want.memory_usage {
        sample.mem_total_bytes = dir.parse("memory.current", cgroup_files::parse_u64)?;
    }
    sample.mem_limit_bytes = dir
        .parse("memory.max", cgroup_files::parse_max_or_u64)?
        .flatten();
    if want.memory_usage {
        sample.mem_swap_bytes = dir.parse("memory.swap.current", cgroup_files::parse_u64)?;
    }
    if want.memory_stat {
        let stat = dir.parse("memory.stat", |content| {
            let stat = KeyedFile::parse(content)?;
            Ok([
                stat.get_u64("anon")?,
                stat.get_u64("file")?,
                stat.get_u64("file_mapped")?,
                stat.get_u64("unevictable")?,
            ])
        })?;
        if let Some([anon, file, mapped, unevictable]) = stat {
            sample.mem_rss_bytes = anon;
            sample.mem_cache_bytes = file;
            sample.mem_mapped_file_bytes = mapped;
            sample.mem_unevictable_bytes = unevictable;
        }
    }
    Ok(())
}

fn read_io(dir: &mut impl FileSource, sample: &mut CgroupSample) -> Result<(), ProbeError> {
    let Some(lines) = dir.parse("io.stat", cgroup_files::parse_io_stat)? else {
        return Ok(());
    };
    let devices = lines
        .into_iter()
        .map(|l| BlkioThrottling {
            device: Some(l.device),
            io_serviced: vec![
                (BlkioOp::Read, l.rios),
                (BlkioOp::Write, l.wios),
                (BlkioOp::Discard, l.dios),
                (BlkioOp::Total, l.rios + l.wios + l.dios),
            ],
            io_service_bytes: vec![
                (BlkioOp::Read, l.rbytes),
                (BlkioOp::Write, l.wbytes),
                (BlkioOp::Discard, l.dbytes),
                (BlkioOp::Total, l.rbytes + l.wbytes + l.dbytes),
            ],
        })
        .collect();
    sample.blkio = Some(devices);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::DeviceNumber;
    use crate::test_support::TempTree;

    const POD: &str = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-abc.scope";

    fn k8s_tree() -> TempTree {
        let tree = TempTree::new("v2");
        let f = |file: &str| format!("{POD}/{file}");
        tree.write(
            &f("cpu.stat"),
            "usage_usec 5000000\nuser_usec 4000000\nsystem_usec 1000000\n\
             core_sched.force_idle_usec 0\nnr_periods 100\nnr_throttled 2\n\
             throttled_usec 500000\nnr_bursts 0\nburst_usec 0\n",
        );
        tree.write(&f("cpu.max"), "50000 100000\n");
        tree.write(&f("cpu.weight"), "79\n");
        tree.write(&f("memory.current"), "8192\n");
        tree.write(&f("memory.max"), "268435456\n");
        tree.write(&f("memory.swap.current"), "0\n");
        tree.write(
            &f("memory.stat"),
            "anon 4096\nfile 2048\nkernel 100\nfile_mapped 1024\nunevictable 0\nslab_reclaimable 3\n",
        );
        tree.write(
            &f("io.stat"),
            "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        tree.write(&f("cgroup.procs"), "42\n");
        tree.write(&f("cgroup.threads"), "42\n43\n");
        tree
    }

    #[test]
    fn reads_every_field_of_a_kubernetes_container() {
        let tree = k8s_tree();
        let sample = CgroupV2::new(tree.path()).read(POD).unwrap();
        assert_eq!(sample.hierarchy, Hierarchy::V2);
        assert_eq!(sample.cpu_usage_secs, Some(5.0));
        assert_eq!(sample.cpu_user_secs, Some(4.0));
        assert_eq!(sample.cpu_system_secs, Some(1.0));
        assert_eq!(sample.cpu_nr_periods, Some(100));
        assert_eq!(sample.cpu_nr_throttled, Some(2));
        assert_eq!(sample.cpu_throttled_secs, Some(0.5));
        assert_eq!(sample.cpus_limit, Some(0.5));
        assert_eq!(sample.cpu_weight, Some(79));
        let soft = sample.cpus_soft_limit.unwrap();
        // A 2-CPU request is 2048 shares, which runc maps to weight 79.
        assert!((soft - 2.0).abs() < 0.02, "soft limit {soft}");
        assert_eq!(sample.mem_total_bytes, Some(8192));
        assert_eq!(sample.mem_limit_bytes, Some(268_435_456));
        assert_eq!(sample.mem_rss_bytes, Some(4096));
        assert_eq!(sample.mem_cache_bytes, Some(2048));
        assert_eq!(sample.mem_mapped_file_bytes, Some(1024));
        assert_eq!(sample.mem_unevictable_bytes, Some(0));
        assert_eq!(sample.mem_swap_bytes, Some(0));
        assert_eq!(sample.processes, Some(1));
        assert_eq!(sample.threads, Some(2));
        let io = sample.blkio.unwrap();
        assert_eq!(io[0].device, Some(DeviceNumber { major: 8, minor: 0 }));
        assert!(io[0].io_serviced.contains(&(BlkioOp::Total, 3)));
        assert!(io[0].io_service_bytes.contains(&(BlkioOp::Write, 200)));
    }

    #[test]
    fn absolute_paths_are_read_as_given() {
        let tree = k8s_tree();
        let reader = CgroupV2::new("/nonexistent-root");
        assert!(reader.read(tree.path().join(POD)).is_ok());
    }

    #[test]
    fn group_without_controllers_has_only_core_fields() {
        let tree = TempTree::new("v2-bare");
        tree.write("g/cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\n");
        tree.write("g/cgroup.procs", "");
        let sample = CgroupV2::new(tree.path()).read("g").unwrap();
        assert_eq!(sample.cpu_usage_secs, Some(10e-6));
        assert_eq!(sample.cpu_nr_periods, None);
        assert_eq!(sample.cpus_limit, None);
        assert_eq!(sample.mem_total_bytes, None);
        assert_eq!(sample.mem_limit_bytes, None);
        assert_eq!(sample.blkio, None);
        assert_eq!(sample.processes, Some(0));
        assert_eq!(sample.threads, None);
    }

    #[test]
    fn unlimited_values_are_absent() {
        let tree = TempTree::new("v2-max");
        tree.write("g/cpu.max", "max 100000\n");
        tree.write("g/memory.max", "max\n");
        let sample = CgroupV2::new(tree.path()).read("g").unwrap();
        assert_eq!(sample.cpus_limit, None);
        assert_eq!(sample.mem_limit_bytes, None);
    }

    #[test]
    fn missing_group_is_vanished() {
        let tree = TempTree::new("v2-gone");
        let err = CgroupV2::new(tree.path()).read("nope").unwrap_err();
        assert!(err.is_vanished());
    }

    #[test]
    fn malformed_cpu_max_is_a_parse_error() {
        let tree = TempTree::new("v2-bad");
        tree.write("g/cpu.max", "fifty 100000\n");
        let err = CgroupV2::new(tree.path()).read("g").unwrap_err();
        assert!(matches!(err, ProbeError::Parse { ref line, .. } if line == "fifty 100000"));
    }

    #[test]
    fn weight_mapping_inverts_runc() {
        let runc = |shares: u64| 1 + ((shares - 2) * 9999) / 262_142;
        for cpus in [0.25f64, 0.5, 1.0, 4.0, 16.0] {
            let shares = (cpus * 1024.0) as u64;
            let back = weight_to_cpus(runc(shares));
            assert!(
                (back - cpus).abs() <= 0.03 + cpus * 0.01,
                "{cpus} -> {back}"
            );
        }
    }
}
