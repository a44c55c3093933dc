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

use crate::cgroup_files::{self, BlkioLine, FileSource, GroupDir, KeyedFile};
use crate::error::ProbeError;
use crate::host;
use crate::sample::{now_secs, BlkioThrottling, CgroupSample, Hierarchy};
use crate::selection::Selection;

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

    /// USER_HZ, the clock tick of `cpuacct.stat`.
    pub fn user_hz(&self) -> f64 {
        self.user_hz
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
        let dir = |c| self.existing_group(c, container_id);
        let (cpuacct, cpu, memory, blkio) =
            (dir("cpuacct"), dir("cpu"), dir("memory"), dir("blkio"));
        fn open(d: &Option<PathBuf>) -> Option<GroupDir<'_>> {
            d.as_deref().map(GroupDir::new)
        }
        let (mut a, mut c, mut m, mut b) =
            (open(&cpuacct), open(&cpu), open(&memory), open(&blkio));
        let sources = V1Sources {
            cpuacct: a.as_mut(),
            cpu: c.as_mut(),
            memory: m.as_mut(),
            blkio: b.as_mut(),
        };
        let mut sample = CgroupSample::empty(Hierarchy::V1, now_secs());
        read_v1(sources, self.user_hz, Selection::ALL, &mut sample).map_err(|e| match e {
            Gone::Vanished(e) => e,
            Gone::NoGroup => ProbeError::Vanished {
                path: self.root.join(&self.prefix).join(container_id),
            },
        })?;
        Ok(sample)
    }
}

/// A container's group in each v1 hierarchy that has one (absent: none).
pub(crate) struct V1Sources<'a, S> {
    pub(crate) cpuacct: Option<&'a mut S>,
    pub(crate) cpu: Option<&'a mut S>,
    pub(crate) memory: Option<&'a mut S>,
    pub(crate) blkio: Option<&'a mut S>,
}

/// Why a v1 read has no sample.
pub(crate) enum Gone {
    /// A read failed (the group vanished meanwhile, or any other error).
    Vanished(ProbeError),
    /// No hierarchy has a group for the container.
    NoGroup,
}

impl From<ProbeError> for Gone {
    fn from(e: ProbeError) -> Self {
        Gone::Vanished(e)
    }
}

/// Reads the `want`ed statistics of one container from its groups.
pub(crate) fn read_v1<S: FileSource>(
    sources: V1Sources<'_, S>,
    user_hz: f64,
    want: Selection,
    sample: &mut CgroupSample,
) -> Result<(), Gone> {
    let V1Sources {
        mut cpuacct,
        mut cpu,
        mut memory,
        blkio,
    } = sources;
    if let Some(dir) = cpuacct.as_deref_mut() {
        read_cpuacct(dir, user_hz, want, sample)?;
    }
    if let Some(dir) = cpu.as_deref_mut() {
        read_cpu(dir, want, sample)?;
    }
    if let Some(dir) = memory.as_deref_mut() {
        read_memory(dir, want, sample)?;
    }
    let has_blkio = blkio.is_some();
    if let Some(dir) = blkio {
        if want.blkio {
            read_blkio(dir, sample)?;
        }
    }
    match cpuacct.or(cpu).or(memory) {
        Some(dir) if want.pids => read_pids(dir, sample)?,
        Some(_) => {}
        None if !has_blkio => return Err(Gone::NoGroup),
        None => {}
    }
    Ok(())
}

fn read_cpuacct(
    dir: &mut impl FileSource,
    user_hz: f64,
    want: Selection,
    sample: &mut CgroupSample,
) -> Result<(), ProbeError> {
    let times = dir.parse("cpuacct.stat", |content| {
        let stat = KeyedFile::parse(content)?;
        Ok((stat.get_u64("user")?, stat.get_u64("system")?))
    })?;
    if let Some((user, system)) = times {
        sample.cpu_user_secs = user.map(|t| t as f64 / user_hz);
        sample.cpu_system_secs = system.map(|t| t as f64 / user_hz);
    }
    if want.cpu_total {
        sample.cpu_usage_secs = dir
            .parse("cpuacct.usage", cgroup_files::parse_u64)?
            .map(|ns| ns as f64 / 1e9);
    }
    Ok(())
}

fn read_cpu(
    dir: &mut impl FileSource,
    want: Selection,
    sample: &mut CgroupSample,
) -> Result<(), ProbeError> {
    if want.throttling {
        let stat = dir.parse("cpu.stat", |content| {
            let stat = KeyedFile::parse(content)?;
            Ok((
                stat.get_u64("nr_periods")?,
                stat.get_u64("nr_throttled")?,
                stat.get_u64("throttled_time")?,
            ))
        })?;
        if let Some((periods, throttled, time)) = stat {
            sample.cpu_nr_periods = periods;
            sample.cpu_nr_throttled = throttled;
            sample.cpu_throttled_secs = time.map(|ns| ns as f64 / 1e9);
        }
    }
    let quota = dir.parse("cpu.cfs_quota_us", cgroup_files::parse_i64)?;
    let period = dir.parse("cpu.cfs_period_us", cgroup_files::parse_u64)?;
    if let (Some(quota), Some(period)) = (quota, period) {
        if quota > 0 && period > 0 {
            sample.cpus_limit = Some(quota as f64 / period as f64);
        }
    }
    if want.soft_limits || sample.cpus_limit.is_none() {
        sample.cpus_soft_limit = dir
            .parse("cpu.shares", cgroup_files::parse_u64)?
            .map(|shares| shares as f64 / 1024.0);
    }
    Ok(())
}

fn limited(bytes: u64) -> Option<u64> {
    (bytes < UNLIMITED_BYTES).then_some(bytes)
}

fn read_memory(
    dir: &mut impl FileSource,
    want: Selection,
    sample: &mut CgroupSample,
) -> Result<(), ProbeError> {
    if want.memory_usage {
        sample.mem_total_bytes = dir.parse("memory.usage_in_bytes", cgroup_files::parse_u64)?;
        sample.mem_total_memsw_bytes =
            dir.parse("memory.memsw.usage_in_bytes", cgroup_files::parse_u64)?;
    }
    sample.mem_limit_bytes = dir
        .parse("memory.limit_in_bytes", cgroup_files::parse_u64)?
        .and_then(limited);
    if want.soft_limits || sample.mem_limit_bytes.is_none() {
        sample.mem_soft_limit_bytes = dir
            .parse("memory.soft_limit_in_bytes", cgroup_files::parse_u64)?
            .and_then(limited);
    }
    if want.memory_stat {
        let stat = dir.parse("memory.stat", |content| {
            let stat = KeyedFile::parse(content)?;
            Ok([
                stat.first_u64(&["total_rss", "rss"])?,
                stat.first_u64(&["total_cache", "cache"])?,
                stat.first_u64(&["total_mapped_file", "mapped_file"])?,
                stat.first_u64(&["total_swap", "swap"])?,
                stat.first_u64(&["total_unevictable", "unevictable"])?,
            ])
        })?;
        if let Some([rss, cache, mapped, swap, unevictable]) = stat {
            sample.mem_rss_bytes = rss;
            sample.mem_cache_bytes = cache;
            sample.mem_mapped_file_bytes = mapped;
            sample.mem_swap_bytes = swap;
            sample.mem_unevictable_bytes = unevictable;
        }
    }
    Ok(())
}

fn read_blkio(dir: &mut impl FileSource, sample: &mut CgroupSample) -> Result<(), ProbeError> {
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

fn read_pids(dir: &mut impl FileSource, sample: &mut CgroupSample) -> Result<(), ProbeError> {
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
