//! cgroup v1 reader for Mesos's layout: `<root>/<controller>/<prefix>/<id>`.
//!
//! Mesos's cgroups isolators place container `<id>` at
//! `/sys/fs/cgroup/<controller>/mesos/<id>`. Both the root and the prefix
//! are configurable. Controllers may be mounted alone (`cpu`, `cpuacct`) or
//! co-mounted (`cpu,cpuacct`, often with `cpu` and `cpuacct` symlinks beside
//! it); a controller is found as `<root>/<name>` if that is a directory (or a
//! symlink to one), otherwise as the first `<root>/<a,b,..>` entry that lists
//! it. The lookup is made on every read, so hierarchies mounted later are
//! picked up.
//!
//! | file | field |
//! | --- | --- |
//! | `cpuacct.stat` `user`, `system` (USER_HZ ticks) | `cpu_user_secs`, `cpu_system_secs` |
//! | `cpuacct.usage` (ns) | `cpu_usage_secs` |
//! | `cpu.stat` `nr_periods`, `nr_throttled`, `throttled_time` (ns) | `cpu_nr_periods`, `cpu_nr_throttled`, `cpu_throttled_secs` |
//! | `cpu.cfs_quota_us` / `cpu.cfs_period_us`, when quota > 0 | `cpus_limit` |
//! | `cpu.shares` / 1024 | `cpus_soft_limit` |
//! | `memory.usage_in_bytes` | `mem_total_bytes` |
//! | `memory.memsw.usage_in_bytes` | `mem_total_memsw_bytes` |
//! | `memory.limit_in_bytes` (unlimited = absent) | `mem_limit_bytes` |
//! | `memory.soft_limit_in_bytes` (unlimited = absent) | `mem_soft_limit_bytes` |
//! | `memory.stat` `total_rss` else `rss`, likewise `cache`, `mapped_file`, `swap`, `unevictable` | `mem_rss_bytes`, `mem_cache_bytes`, ... |
//! | `blkio.throttle.io_serviced`, `blkio.throttle.io_service_bytes` | `blkio` |
//! | `cgroup.procs`, `tasks` (of cpuacct, else cpu, else memory) | `processes`, `threads` |
//!
//! `memory.stat`'s `total_*` keys are hierarchical (they include nested
//! groups, such as Mesos's nested containers), which is what the Mesos memory
//! subsystem reports; the plain keys are the fallback.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cgroup_files::{self, BlkioLine, GroupDir, KeyedFile};
use crate::error::ProbeError;
use crate::host;
use crate::sample::{now_secs, BlkioThrottling, CgroupSample, Hierarchy};

/// Where cgroup hierarchies are mounted on a standard host.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
/// The prefix under which Mesos creates container groups.
pub const DEFAULT_MESOS_PREFIX: &str = "mesos";

/// Memory limits at or above this are the kernel's "unlimited"
/// (`PAGE_COUNTER_MAX * PAGE_SIZE`, about 2^63, depending on the page size).
const UNLIMITED_BYTES: u64 = 1 << 62;

/// Reads container groups in a cgroup v1 layout.
#[derive(Debug, Clone)]
pub struct CgroupV1 {
    root: PathBuf,
    prefix: PathBuf,
    user_hz: f64,
}

impl Default for CgroupV1 {
    /// `/sys/fs/cgroup/<controller>/mesos/<id>`.
    fn default() -> Self {
        CgroupV1::new(DEFAULT_ROOT, DEFAULT_MESOS_PREFIX)
    }
}

impl CgroupV1 {
    /// A reader for groups at `<root>/<controller>/<prefix>/<id>`. `prefix`
    /// may hold several components (`mesos/agent1`) or be empty.
    pub fn new(root: impl Into<PathBuf>, prefix: impl Into<PathBuf>) -> Self {
        CgroupV1 {
            root: root.into(),
            prefix: prefix.into(),
            user_hz: host::user_hz(),
        }
    }

    /// Overrides USER_HZ (normally from sysconf), for reading recorded trees.
    pub fn with_user_hz(mut self, user_hz: f64) -> Self {
        self.user_hz = user_hz;
        self
    }

    /// The directory holding the controller hierarchies.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The prefix of container groups inside each hierarchy.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The mount directory of `controller` (`cpu`, `cpuacct`, `memory`,
    /// `blkio`, `perf_event`, ...), if it is mounted under the root.
    pub fn hierarchy(&self, controller: &str) -> Option<PathBuf> {
        let direct = self.root.join(controller);
        if direct.is_dir() {
            return Some(direct);
        }
        let entries = fs::read_dir(&self.root).ok()?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if name.split(',').any(|c| c == controller) && entry.path().is_dir() {
                return Some(entry.path());
            }
        }
        None
    }

    /// `<hierarchy>/<prefix>`: the parent of all container groups of
    /// `controller`, whether or not it exists yet.
    pub fn prefix_dir(&self, controller: &str) -> Option<PathBuf> {
        self.hierarchy(controller).map(|h| h.join(&self.prefix))
    }

    /// `<hierarchy>/<prefix>/<container_id>` of `controller`, whether or not it
    /// exists. Use it, for example, to open perf counters on the container's
    /// `perf_event` group.
    pub fn group_dir(&self, controller: &str, container_id: &str) -> Option<PathBuf> {
        self.prefix_dir(controller).map(|p| p.join(container_id))
    }

    fn existing_group(&self, controller: &str, container_id: &str) -> Option<PathBuf> {
        self.group_dir(controller, container_id)
            .filter(|dir| dir.is_dir())
    }

    /// Reads every statistic of container `container_id`. Controllers that are
    /// not mounted, or that have no group for this container, leave their
    /// fields absent. A container with no group in any of cpu, cpuacct,
    /// memory and blkio, or whose group disappears during the read, is
    /// [`ProbeError::Vanished`].
    pub fn read(&self, container_id: &str) -> Result<CgroupSample, ProbeError> {
        let mut sample = CgroupSample::empty(Hierarchy::V1, now_secs());
        let cpuacct = self.existing_group("cpuacct", container_id);
        let cpu = self.existing_group("cpu", container_id);
        let memory = self.existing_group("memory", container_id);
        let blkio = self.existing_group("blkio", container_id);

        if let Some(dir) = &cpuacct {
            read_cpuacct(GroupDir::new(dir), self.user_hz, &mut sample)?;
        }
        if let Some(dir) = &cpu {
            read_cpu(GroupDir::new(dir), &mut sample)?;
        }
        if let Some(dir) = &memory {
            read_memory(GroupDir::new(dir), &mut sample)?;
        }
        if let Some(dir) = &blkio {
            read_blkio(GroupDir::new(dir), &mut sample)?;
        }
        match cpuacct.as_ref().or(cpu.as_ref()).or(memory.as_ref()) {
            Some(dir) => read_pids(GroupDir::new(dir), &mut sample)?,
            None if blkio.is_none() => {
                return Err(ProbeError::Vanished {
                    path: self.root.join(&self.prefix).join(container_id),
                })
            }
            None => {}
        }
        Ok(sample)
    }
}

fn read_cpuacct(
    dir: GroupDir<'_>,
    user_hz: f64,
    sample: &mut CgroupSample,
) -> Result<(), ProbeError> {
    if let Some(content) = dir.read("cpuacct.stat")? {
        let path = || dir.path.join("cpuacct.stat");
        let stat = KeyedFile::parse(&content).map_err(|e| e.in_file(&path()))?;
        let ticks = |key| stat.get_u64(key).map_err(|e| e.in_file(&path()));
        sample.cpu_user_secs = ticks("user")?.map(|t| t as f64 / user_hz);
        sample.cpu_system_secs = ticks("system")?.map(|t| t as f64 / user_hz);
    }
    sample.cpu_usage_secs = dir
        .parse("cpuacct.usage", cgroup_files::parse_u64)?
        .map(|ns| ns as f64 / 1e9);
    Ok(())
}

fn read_cpu(dir: GroupDir<'_>, sample: &mut CgroupSample) -> Result<(), ProbeError> {
    if let Some(content) = dir.read("cpu.stat")? {
        let path = || dir.path.join("cpu.stat");
        let stat = KeyedFile::parse(&content).map_err(|e| e.in_file(&path()))?;
        let get = |key| stat.get_u64(key).map_err(|e| e.in_file(&path()));
        sample.cpu_nr_periods = get("nr_periods")?;
        sample.cpu_nr_throttled = get("nr_throttled")?;
        sample.cpu_throttled_secs = get("throttled_time")?.map(|ns| ns as f64 / 1e9);
    }
    let quota = dir.parse("cpu.cfs_quota_us", cgroup_files::parse_i64)?;
    let period = dir.parse("cpu.cfs_period_us", cgroup_files::parse_u64)?;
    if let (Some(quota), Some(period)) = (quota, period) {
        if quota > 0 && period > 0 {
            sample.cpus_limit = Some(quota as f64 / period as f64);
        }
    }
    sample.cpus_soft_limit = dir
        .parse("cpu.shares", cgroup_files::parse_u64)?
        .map(|shares| shares as f64 / 1024.0);
    Ok(())
}

fn limited(bytes: u64) -> Option<u64> {
    (bytes < UNLIMITED_BYTES).then_some(bytes)
}

fn read_memory(dir: GroupDir<'_>, sample: &mut CgroupSample) -> Result<(), ProbeError> {
    sample.mem_total_bytes = dir.parse("memory.usage_in_bytes", cgroup_files::parse_u64)?;
    sample.mem_total_memsw_bytes =
        dir.parse("memory.memsw.usage_in_bytes", cgroup_files::parse_u64)?;
    sample.mem_limit_bytes = dir
        .parse("memory.limit_in_bytes", cgroup_files::parse_u64)?
        .and_then(limited);
    sample.mem_soft_limit_bytes = dir
        .parse("memory.soft_limit_in_bytes", cgroup_files::parse_u64)?
        .and_then(limited);
    if let Some(content) = dir.read("memory.stat")? {
        let path = || dir.path.join("memory.stat");
        let stat = KeyedFile::parse(&content).map_err(|e| e.in_file(&path()))?;
        let get = |keys: &[&str]| stat.first_u64(keys).map_err(|e| e.in_file(&path()));
        sample.mem_rss_bytes = get(&["total_rss", "rss"])?;
        sample.mem_cache_bytes = get(&["total_cache", "cache"])?;
        sample.mem_mapped_file_bytes = get(&["total_mapped_file", "mapped_file"])?;
        sample.mem_swap_bytes = get(&["total_swap", "swap"])?;
        sample.mem_unevictable_bytes = get(&["total_unevictable", "unevictable"])?;
    }
    Ok(())
}

fn read_blkio(dir: GroupDir<'_>, sample: &mut CgroupSample) -> Result<(), ProbeError> {
    let serviced = dir.parse(
        "blkio.throttle.io_serviced",
        cgroup_files::parse_blkio_throttle,
    )?;
    let bytes = dir.parse(
        "blkio.throttle.io_service_bytes",
        cgroup_files::parse_blkio_throttle,
    )?;
    if serviced.is_none() && bytes.is_none() {
        return Ok(());
    }
    sample.blkio = Some(merge_blkio(
        serviced.unwrap_or_default(),
        bytes.unwrap_or_default(),
    ));
    Ok(())
}

/// Groups the lines of the two throttle files by device, in order of first
/// appearance; the device-less grand total becomes its own entry.
fn merge_blkio(serviced: Vec<BlkioLine>, bytes: Vec<BlkioLine>) -> Vec<BlkioThrottling> {
    let mut devices: Vec<BlkioThrottling> = Vec::new();
    let mut entry_for = |device| -> usize {
        match devices.iter().position(|d| d.device == device) {
            Some(index) => index,
            None => {
                devices.push(BlkioThrottling {
                    device,
                    ..BlkioThrottling::default()
                });
                devices.len() - 1
            }
        }
    };
    let mut placed = Vec::new();
    for line in &serviced {
        placed.push((entry_for(line.device), true, line.op, line.value));
    }
    for line in &bytes {
        placed.push((entry_for(line.device), false, line.op, line.value));
    }
    for (index, is_serviced, op, value) in placed {
        let device = &mut devices[index];
        if is_serviced {
            device.io_serviced.push((op, value));
        } else {
            device.io_service_bytes.push((op, value));
        }
    }
    devices
}

fn read_pids(dir: GroupDir<'_>, sample: &mut CgroupSample) -> Result<(), ProbeError> {
    sample.processes = dir.parse("cgroup.procs", cgroup_files::count_pids)?;
    sample.threads = dir.parse("tasks", cgroup_files::count_pids)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{BlkioOp, DeviceNumber};
    use crate::test_support::TempTree;

    fn mesos_tree(comounted: bool) -> TempTree {
        let tree = TempTree::new("v1");
        let cpu_dir = if comounted { "cpu,cpuacct" } else { "cpu" };
        let acct_dir = if comounted { "cpu,cpuacct" } else { "cpuacct" };
        let c = |ctl: &str, file: &str| format!("{ctl}/mesos/c1/{file}");
        tree.write(&c(acct_dir, "cpuacct.stat"), "user 400\nsystem 100\n");
        tree.write(&c(acct_dir, "cpuacct.usage"), "5000000000\n");
        tree.write(&c(acct_dir, "cgroup.procs"), "10\n11\n");
        tree.write(&c(acct_dir, "tasks"), "10\n11\n12\n");
        tree.write(
            &c(cpu_dir, "cpu.stat"),
            "nr_periods 100\nnr_throttled 2\nthrottled_time 500000000\nnr_bursts 0\nburst_time 0\n",
        );
        tree.write(&c(cpu_dir, "cpu.cfs_quota_us"), "50000\n");
        tree.write(&c(cpu_dir, "cpu.cfs_period_us"), "100000\n");
        tree.write(&c(cpu_dir, "cpu.shares"), "2048\n");
        tree.write(&c("memory", "memory.usage_in_bytes"), "4096\n");
        tree.write(
            &c("memory", "memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        tree.write(&c("memory", "memory.soft_limit_in_bytes"), "2048\n");
        tree.write(
            &c("memory", "memory.stat"),
            "cache 1\nrss 2\nmapped_file 3\nswap 4\nunevictable 5\n\
             total_cache 10\ntotal_rss 20\ntotal_mapped_file 30\ntotal_swap 40\ntotal_unevictable 50\n",
        );
        tree.write(
            &c("blkio", "blkio.throttle.io_serviced"),
            "8:0 Read 10\n8:0 Write 20\n8:0 Total 30\nTotal 30\n",
        );
        tree.write(
            &c("blkio", "blkio.throttle.io_service_bytes"),
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
        );
        if comounted {
            tree.symlink("cpu,cpuacct", "cpu");
            tree.symlink("cpu,cpuacct", "cpuacct");
        }
        tree
    }

    fn check_full_sample(sample: &CgroupSample) {
        assert_eq!(sample.cpu_user_secs, Some(4.0));
        assert_eq!(sample.cpu_system_secs, Some(1.0));
        assert_eq!(sample.cpu_usage_secs, Some(5.0));
        assert_eq!(sample.cpu_nr_periods, Some(100));
        assert_eq!(sample.cpu_nr_throttled, Some(2));
        assert_eq!(sample.cpu_throttled_secs, Some(0.5));
        assert_eq!(sample.cpus_limit, Some(0.5));
        assert_eq!(sample.cpus_soft_limit, Some(2.0));
        assert_eq!(sample.mem_total_bytes, Some(4096));
        assert_eq!(sample.mem_limit_bytes, None, "unlimited must be absent");
        assert_eq!(sample.mem_soft_limit_bytes, Some(2048));
        assert_eq!(
            sample.mem_rss_bytes,
            Some(20),
            "hierarchical total_rss wins"
        );
        assert_eq!(sample.mem_cache_bytes, Some(10));
        assert_eq!(sample.mem_mapped_file_bytes, Some(30));
        assert_eq!(sample.mem_swap_bytes, Some(40));
        assert_eq!(sample.mem_unevictable_bytes, Some(50));
        assert_eq!(sample.processes, Some(2));
        assert_eq!(sample.threads, Some(3));
        let blkio = sample.blkio.as_ref().unwrap();
        assert_eq!(blkio.len(), 2);
        assert_eq!(blkio[0].device, Some(DeviceNumber { major: 8, minor: 0 }));
        assert_eq!(
            blkio[0].io_serviced,
            vec![
                (BlkioOp::Read, 10),
                (BlkioOp::Write, 20),
                (BlkioOp::Total, 30)
            ]
        );
        assert_eq!(blkio[0].io_service_bytes[2], (BlkioOp::Total, 12288));
        assert_eq!(blkio[1].device, None);
        assert_eq!(blkio[1].io_serviced, vec![(BlkioOp::Total, 30)]);
    }

    #[test]
    fn reads_every_field_from_separate_hierarchies() {
        let tree = mesos_tree(false);
        let reader = CgroupV1::new(tree.path(), "mesos").with_user_hz(100.0);
        check_full_sample(&reader.read("c1").unwrap());
    }

    #[test]
    fn reads_every_field_from_comounted_hierarchies_with_symlinks() {
        let tree = mesos_tree(true);
        let reader = CgroupV1::new(tree.path(), "mesos").with_user_hz(100.0);
        check_full_sample(&reader.read("c1").unwrap());
    }

    #[test]
    fn finds_comounted_controller_without_symlinks() {
        let tree = TempTree::new("v1-comount");
        tree.write("cpuacct,cpu/mesos/c1/cpuacct.stat", "user 1\nsystem 1\n");
        let reader = CgroupV1::new(tree.path(), "mesos");
        assert_eq!(
            reader.hierarchy("cpu"),
            Some(tree.path().join("cpuacct,cpu"))
        );
        assert_eq!(
            reader.hierarchy("cpuacct"),
            Some(tree.path().join("cpuacct,cpu"))
        );
        assert_eq!(reader.hierarchy("memory"), None);
        assert!(reader.read("c1").unwrap().cpu_user_secs.is_some());
    }

    #[test]
    fn missing_files_are_absent_fields() {
        let tree = TempTree::new("v1-sparse");
        tree.write("cpuacct/mesos/c1/cpuacct.stat", "user 1\nsystem 2\n");
        tree.mkdir("memory/mesos/c1");
        let reader = CgroupV1::new(tree.path(), "mesos").with_user_hz(100.0);
        let sample = reader.read("c1").unwrap();
        assert_eq!(sample.cpu_system_secs, Some(0.02));
        assert_eq!(sample.cpu_usage_secs, None);
        assert_eq!(sample.mem_total_bytes, None);
        assert_eq!(sample.cpus_limit, None);
        assert_eq!(sample.processes, None);
        assert_eq!(sample.blkio, None);
    }

    #[test]
    fn unset_quota_gives_no_cpu_limit() {
        let tree = TempTree::new("v1-noquota");
        tree.write("cpu/mesos/c1/cpu.cfs_quota_us", "-1\n");
        tree.write("cpu/mesos/c1/cpu.cfs_period_us", "100000\n");
        let sample = CgroupV1::new(tree.path(), "mesos").read("c1").unwrap();
        assert_eq!(sample.cpus_limit, None);
    }

    #[test]
    fn unknown_container_is_vanished() {
        let tree = mesos_tree(false);
        let err = CgroupV1::new(tree.path(), "mesos")
            .read("gone")
            .unwrap_err();
        assert!(err.is_vanished(), "{err}");
    }

    #[test]
    fn malformed_file_is_a_parse_error_naming_file_and_line() {
        let tree = mesos_tree(false);
        tree.write("cpuacct/mesos/c1/cpuacct.stat", "user lots\nsystem 1\n");
        let err = CgroupV1::new(tree.path(), "mesos").read("c1").unwrap_err();
        match err {
            ProbeError::Parse { path, line, .. } => {
                assert!(path.ends_with("cpuacct/mesos/c1/cpuacct.stat"));
                assert_eq!(line, "user lots");
            }
            other => panic!("expected a parse error, got {other}"),
        }
        tree.write("cpuacct/mesos/c1/cpuacct.stat", "user 1\nsystem 1\n");
        tree.write("memory/mesos/c1/memory.usage_in_bytes", "\u{0}\u{1}garbage");
        assert!(matches!(
            CgroupV1::new(tree.path(), "mesos").read("c1"),
            Err(ProbeError::Parse { .. })
        ));
    }
}
