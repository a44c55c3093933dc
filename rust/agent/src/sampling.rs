//! Live samples → `ResourceUsage`: what the pipelines see each tick.
//!
//! For every discovered group the [`Sampler`] reads the cgroup files with
//! `serenity-probe` (v1: the cpuacct, cpu, memory and blkio hierarchies; v2:
//! the unified group), adds the perf counts of the interval since the last
//! tick when per-group counters are open, and describes the group as a
//! Mesos executor:
//!
//! | executor field | value |
//! | --- | --- |
//! | framework id | `production` or `best-effort` |
//! | executor id | the group's directory name (its path when two production parents have a child of the same name) |
//! | container id | the group's path relative to the hierarchy root |
//! | allocated `cpus` | the CFS limit (quota / period), else the shares- (v1) or weight-derived (v2) CPUs |
//! | allocated `mem` | the hard memory limit, else the soft limit, in MiB |
//! | revocable | the group is under the best-effort prefix |
//! | statistics | `CgroupSample::to_statistics()`, plus `perf` and the starvation totals |
//!
//! Starvation totals (the `runqueue_delay`, `cpu_pressure`, `mem_pressure`
//! and `io_pressure` signals): each group's run-queue delay, summed over its
//! tasks' `/proc/<tid>/schedstat` and kept monotonic while tasks come and go,
//! and on cgroup v2 its PSI `some` totals (`cpu.pressure`, `memory.pressure`,
//! `io.pressure`); see `serenity_probe::starvation`. A reader is kept per
//! group while it exists; the first tick of a group has a run-queue total of
//! 0 and no rate yet.
//!
//! Perf counters (task-clock always, hardware events where the host has a
//! PMU) are opened once per group and kept open while the group exists: on
//! v1 in the group of the same path in the perf_event hierarchy (it must be
//! mounted and the group's processes attached there, as Mesos's perf_event
//! isolator does), on v2 in the group itself (unless perf_event is bound to
//! a v1 hierarchy). The first tick after opening has no perf statistics;
//! each later tick has those of exactly the interval since the previous.
//! When a group's perf_event group is removed (or replaced by a new one of
//! the same path) its counters are closed, with one log line, and the group
//! has no perf statistics (never zeros) until its perf_event group exists
//! again; then they are reopened.
//!
//! Only the files behind the signals the pipelines read are read
//! ([`crate::needs`]), each through a descriptor kept open and re-read with
//! one `pread` per tick ([`serenity_probe::GroupReader`]); a group removed
//! and created again under the same path is reopened (one log line).
//! [`Sampler::new`] reads everything; the agent passes its [`Needs`].
//!
//! Faults are said once: a group that cannot be read is left out of every
//! tick with one warning when it starts and one line when it is readable
//! again, and reported in [`Sampled::unreadable`] (the agent then answers
//! zero slack while a production group is unreadable).
//!
//! Statistics timestamps come from a monotonic clock anchored at the wall
//! clock when the sampler starts, so a wall-clock step (NTP, an operator's
//! `date -s`) never makes samples go backwards in time or jump forwards.

use crate::config::CgroupVersion;
use crate::groups::{Group, GroupKind, Layout};
use crate::needs::Needs;
use serenity_core::model::build::{totals, ExecutorSpec};
use serenity_core::model::proto::Executor;
use serenity_core::model::proto::ResourceUsage;
use serenity_probe::{cgroup_mounts, perf_event_mount, CgroupSample, CgroupV1, CgroupV2};
use serenity_probe::{GroupFiles, GroupReader, GroupStarvation, PerfSampler, ProbeError};
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bytes in one MiB (Mesos's memory unit).
const MIB: f64 = 1024.0 * 1024.0;

/// One tick's usage and the group of each executor.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// The snapshot to feed the pipelines.
    pub usage: ResourceUsage,
    /// `groups[i]` is the group of `usage.executors[i]`.
    pub groups: Vec<Group>,
    /// Groups that could not be read (other than vanished ones).
    pub errors: u64,
    /// The groups left out because they could not be read (not vanished).
    pub unreadable: Vec<Group>,
}

struct PerfSlot {
    sampler: Option<PerfSampler>,
    /// The inode of the perf_event group the counters were opened on (or
    /// failed to open on); `None` while it does not exist.
    ino: Option<u64>,
}

/// Reads groups and keeps their perf counters.
pub struct Sampler {
    layout: Layout,
    perf: bool,
    needs: Needs,
    user_hz: f64,
    /// One reader (kept descriptors) per group while it is listed.
    readers: HashMap<PathBuf, GroupReader>,
    slots: HashMap<PathBuf, PerfSlot>,
    starving: HashMap<PathBuf, GroupStarvation>,
    said: HashSet<String>,
    /// Groups that could not be read at their last tick, with why.
    unreadable: HashMap<PathBuf, String>,
    /// The wall clock (seconds since the epoch) when the sampler started…
    wall_anchor: f64,
    /// …and the monotonic clock at the same moment.
    mono_anchor: Instant,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("layout", &self.layout)
            .field("perf", &self.perf)
            .field("perf_groups", &self.open_perf_groups())
            .finish()
    }
}

impl Sampler {
    /// A sampler for groups of `layout` that reads every cgroup file and
    /// starvation total; `perf` opens per-group counters.
    pub fn new(layout: Layout, perf: bool) -> Sampler {
        Sampler::with_needs(layout, perf, Needs::ALL)
    }

    /// A sampler that reads only what `needs` says.
    pub fn with_needs(layout: Layout, perf: bool, needs: Needs) -> Sampler {
        Sampler {
            layout,
            perf,
            needs,
            user_hz: serenity_probe::host::user_hz(),
            readers: HashMap::new(),
            slots: HashMap::new(),
            starving: HashMap::new(),
            said: HashSet::new(),
            unreadable: HashMap::new(),
            wall_anchor: serenity_probe::now_secs(),
            mono_anchor: Instant::now(),
        }
    }

    /// Seconds since the epoch on the sampler's clock: the wall clock at
    /// start plus monotonic time since (never backwards).
    pub fn now_secs(&self) -> f64 {
        self.wall_anchor + self.mono_anchor.elapsed().as_secs_f64()
    }

    /// Turns per-group perf counters on or off (a reload whose pipelines
    /// need them, or no longer do); off closes every open counter.
    pub fn set_perf(&mut self, perf: bool) {
        if !perf {
            self.slots.clear();
        }
        self.perf = perf;
    }

    /// Changes what is read (a reload whose pipelines read other signals);
    /// every group's files are reopened and its starvation totals start
    /// afresh when it changes.
    pub fn set_needs(&mut self, needs: Needs) {
        if needs != self.needs {
            self.readers.clear();
            self.starving.clear();
            self.needs = needs;
        }
    }

    /// What is read.
    pub fn needs(&self) -> Needs {
        self.needs
    }

    /// Files opened and reads made so far by the readers of the groups
    /// listed now (the files are kept open between ticks).
    pub fn file_counters(&self) -> serenity_probe::FileCounters {
        self.readers
            .values()
            .map(GroupReader::counters)
            .fold(Default::default(), |sum, c| serenity_probe::FileCounters {
                opens: sum.opens + c.opens,
                reads: sum.reads + c.reads,
            })
    }

    /// How many groups have perf counters open.
    pub fn open_perf_groups(&self) -> usize {
        self.slots.values().filter(|s| s.sampler.is_some()).count()
    }

    /// Logs `message` once per process lifetime of this sampler.
    fn once(&mut self, level: log::Level, message: String) {
        if self.said.insert(message.clone()) {
            log::log!(target: "serenity", level, "{message}");
        }
    }

    /// Reads every group and builds the tick's `ResourceUsage` with the
    /// agent's total `cpus` and `mem_mib`. Groups that vanished are left out
    /// quietly; groups that cannot be read are left out, logged and counted.
    pub fn sample(&mut self, groups: &[Group], total_cpus: f64, total_mem_mib: f64) -> Sampled {
        self.sample_into(groups, total_cpus, total_mem_mib, ResourceUsage::default())
    }

    /// [`Sampler::sample`], building the usage in the buffers of `usage`
    /// (the previous tick's, whose contents are replaced), so that a steady
    /// node does not allocate its executor list every tick.
    pub fn sample_into(
        &mut self,
        groups: &[Group],
        total_cpus: f64,
        total_mem_mib: f64,
        mut usage: ResourceUsage,
    ) -> Sampled {
        let perf_root = if self.perf { self.perf_root() } else { None };
        // Executors go straight into the usage's list: an executor is about
        // 3 KB (its statistics inline), so a second list of them would
        // double the agent's heap at a few hundred groups.
        usage.executors.clear();
        usage.executors.reserve_exact(groups.len());
        let mut kept = Vec::with_capacity(groups.len());
        let mut errors = 0;
        let mut unreadable = Vec::new();
        for group in groups {
            let timestamp = self.now_secs();
            let sample = match self.read(group) {
                Ok(sample) => sample,
                Err(e) if e.is_vanished() => {
                    self.unreadable.remove(&group.path);
                    log::debug!(
                        target: "serenity",
                        "group {} vanished while it was read: left out of this tick",
                        group.path_str()
                    );
                    continue;
                }
                Err(e) => {
                    errors += 1;
                    unreadable.push(group.clone());
                    let why = e.to_string();
                    if self.unreadable.insert(group.path.clone(), why).is_none() {
                        log::warn!(
                            target: "serenity",
                            "cannot read group {}: {e}; it is left out of every tick until it can be read again",
                            group.path_str()
                        );
                    } else {
                        log::debug!(target: "serenity", "(still) cannot read group {}: {e}", group.path_str());
                    }
                    continue;
                }
            };
            if self.unreadable.remove(&group.path).is_some() {
                log::info!(target: "serenity", "group {} can be read again", group.path_str());
            }
            let mut statistics = sample.to_statistics();
            statistics.timestamp = Some(timestamp);
            if let Some(root) = &perf_root {
                statistics.perf = self.perf_sample(root, group);
            }
            self.starvation(group, &mut statistics);
            let cpus = sample
                .cpus_limit
                .or(sample.cpus_soft_limit)
                .filter(|c| c.is_finite() && *c > 0.0)
                .unwrap_or(0.0);
            let mem_mib = sample
                .mem_limit_bytes
                .or(sample.mem_soft_limit_bytes)
                .map_or(0.0, |b| b as f64 / MIB);
            let spec = ExecutorSpec {
                framework_id: group.kind.framework_id().to_owned(),
                executor_id: group.name.clone(),
                container_id: Some(group.path_str()),
                revocable: group.kind == GroupKind::BestEffort,
                cpus,
                mem_mib,
                statistics: Some(statistics),
            };
            usage.executors.push(spec.into_executor());
            kept.push(group.clone());
        }
        disambiguate(&mut usage.executors);
        let present: HashSet<&Path> = kept.iter().map(|g| g.path.as_path()).collect();
        self.slots
            .retain(|path, _| present.contains(path.as_path()));
        self.starving
            .retain(|path, _| present.contains(path.as_path()));
        let listed: HashSet<&Path> = groups.iter().map(|g| g.path.as_path()).collect();
        self.readers
            .retain(|path, _| listed.contains(path.as_path()));
        self.unreadable
            .retain(|path, _| listed.contains(path.as_path()));
        usage.total = totals(total_cpus, total_mem_mib);
        Sampled {
            usage,
            groups: kept,
            errors,
            unreadable,
        }
    }

    /// The group's reader, created on first sight.
    fn reader(&mut self, group: &Group) -> &mut GroupReader {
        // Looked up before inserting, so that a known group's path is not
        // cloned every tick.
        if !self.readers.contains_key(&group.path) {
            let reader = match self.layout.version {
                CgroupVersion::V1 => {
                    let parent = group.path.parent().unwrap_or(Path::new(""));
                    let v1 = CgroupV1::new(&self.layout.root, parent).with_user_hz(self.user_hz);
                    GroupReader::v1(&v1, &group.name, self.needs.selection)
                }
                _ => GroupReader::v2(
                    &CgroupV2::new(&self.layout.root),
                    &group.path,
                    self.needs.selection,
                ),
            };
            self.readers.insert(group.path.clone(), reader);
        }
        self.readers
            .get_mut(&group.path)
            .expect("the reader was inserted above")
    }

    fn read(&mut self, group: &Group) -> Result<CgroupSample, ProbeError> {
        self.reader(group).read()
    }

    /// Adds the group's starvation totals to `statistics`; a group whose
    /// files are gone loses its reader (the next tick starts afresh).
    fn starvation(
        &mut self,
        group: &Group,
        statistics: &mut serenity_core::model::proto::ResourceStatistics,
    ) {
        let parts = self.needs.starvation;
        if !parts.any() {
            return;
        }
        if !self.starving.contains_key(&group.path) {
            let files = match self.layout.version {
                CgroupVersion::V1 => {
                    let parent = group.path.parent().unwrap_or(Path::new(""));
                    let v1 = CgroupV1::new(&self.layout.root, parent);
                    match v1
                        .group_dir("cpu", &group.name)
                        .or_else(|| v1.group_dir("cpuacct", &group.name))
                    {
                        Some(dir) => GroupFiles::V1Tasks(dir.join("tasks")),
                        None => return,
                    }
                }
                _ => GroupFiles::V2(self.layout.root.join(&group.path)),
            };
            let reader = GroupStarvation::with_parts(files, "/proc", parts);
            self.starving.insert(group.path.clone(), reader);
        }
        let Some(reader) = self.starving.get_mut(&group.path) else {
            return;
        };
        match reader.read() {
            Ok(totals) => totals.fill(statistics),
            Err(e) => {
                self.starving.remove(&group.path);
                if !e.is_vanished() {
                    self.once(
                        log::Level::Warn,
                        format!("no starvation totals for group {}: {e}", group.path_str()),
                    );
                }
            }
        }
    }

    /// Where per-group counters can be opened: the v1 perf_event mount, or the
    /// v2 root while perf_event is not bound to v1.
    fn perf_root(&mut self) -> Option<PathBuf> {
        let mounts = match cgroup_mounts() {
            Ok(m) => m,
            Err(e) => {
                self.once(log::Level::Warn, format!("perf counters are off: {e}"));
                return None;
            }
        };
        let v1 = perf_event_mount(&mounts);
        match self.layout.version {
            CgroupVersion::V1 => {
                if v1.is_none() {
                    self.once(
                        log::Level::Info,
                        "no perf_event cgroup hierarchy is mounted: samples carry no perf \
                         statistics (mount it and attach the groups' processes, as Mesos's \
                         perf_event isolator does, to get them)"
                            .into(),
                    );
                }
                v1
            }
            _ => {
                if v1.is_some() {
                    self.once(
                        log::Level::Info,
                        "perf_event is bound to a cgroup v1 hierarchy, so v2 groups cannot be \
                         counted: samples carry no perf statistics"
                            .into(),
                    );
                    None
                } else {
                    Some(self.layout.root.clone())
                }
            }
        }
    }

    /// The perf statistics of the interval since the last tick, opening the
    /// group's counters on first sight (that tick has none). Counters whose
    /// perf_event group was removed or replaced are closed (said once); they
    /// are reopened when a perf_event group of that path exists again.
    fn perf_sample(
        &mut self,
        root: &Path,
        group: &Group,
    ) -> Option<serenity_core::model::proto::PerfStatistics> {
        let dir = root.join(&group.path);
        let ino = std::fs::metadata(&dir)
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| m.ino());
        let reopening = match self.slots.get_mut(&group.path) {
            None => false,
            Some(slot) => match (slot.sampler.as_mut(), ino) {
                (Some(sampler), Some(now)) if slot.ino == Some(now) => {
                    return match sampler.sample() {
                        Ok(interval) => Some(interval.to_statistics()),
                        Err(e) => {
                            slot.sampler = None;
                            if !e.is_vanished() {
                                log::warn!(
                                    target: "serenity",
                                    "perf counters of group {} stopped: {e}; no perf statistics for \
                                     it until its perf_event group is replaced",
                                    group.path_str()
                                );
                            }
                            None
                        }
                    };
                }
                (Some(_), now) => {
                    slot.sampler = None;
                    slot.ino = None;
                    log::warn!(
                        target: "serenity",
                        "perf counters of group {} closed: its perf_event group {} was {}; no \
                         perf statistics for it until that group exists again",
                        group.path_str(),
                        dir.display(),
                        if now.is_some() { "replaced" } else { "removed" }
                    );
                    // Removed: nothing to read until it is back.
                    now?;
                    true
                }
                (None, None) => {
                    slot.ino = None;
                    return None;
                }
                // Failed on this very group before: wait for a new one.
                (None, Some(now)) if slot.ino == Some(now) => return None,
                (None, Some(_)) => true,
            },
        };
        let sampler = match ino {
            Some(_) => match PerfSampler::open(&dir) {
                Ok(s) => {
                    if reopening {
                        log::info!(
                            target: "serenity",
                            "perf counters of group {} reopened on {}",
                            group.path_str(),
                            dir.display()
                        );
                    }
                    Some(s)
                }
                Err(e) => {
                    if !e.is_vanished() {
                        self.once(
                            log::Level::Warn,
                            format!("no perf counters for group {}: {e}", group.path_str()),
                        );
                    }
                    None
                }
            },
            None => {
                self.once(
                    log::Level::Info,
                    format!(
                        "group {} has no group in the perf_event hierarchy ({}): no perf statistics for it",
                        group.path_str(),
                        dir.display()
                    ),
                );
                None
            }
        };
        self.slots
            .insert(group.path.clone(), PerfSlot { sampler, ino });
        None
    }
}

/// Executor ids must be unique per framework: a name used twice becomes the
/// group's path.
fn disambiguate(executors: &mut [Executor]) {
    fn id(e: &Executor) -> (&str, &str) {
        let info = e.executor_info.as_ref();
        let framework = info.and_then(|i| i.framework_id.as_ref());
        let executor = info.and_then(|i| i.executor_id.as_ref());
        (
            framework.and_then(|f| f.value.as_deref()).unwrap_or(""),
            executor.and_then(|x| x.value.as_deref()).unwrap_or(""),
        )
    }
    let mut counts: HashMap<(&str, &str), usize> = HashMap::new();
    for e in executors.iter() {
        *counts.entry(id(e)).or_default() += 1;
    }
    let shared: Vec<usize> = (0..executors.len())
        .filter(|&i| counts[&id(&executors[i])] > 1)
        .collect();
    for i in shared {
        let e = &mut executors[i];
        let path = e.container_id.as_ref().and_then(|c| c.value.clone());
        if let (Some(path), Some(info)) = (path, e.executor_info.as_mut()) {
            // As [`ExecutorSpec::into_executor`] names an executor.
            info.name = Some(format!("executor {path}"));
            if let Some(x) = info.executor_id.as_mut() {
                x.value = Some(path);
            }
        }
    }
}

/// The host's online CPUs and MemTotal (MiB), the agent's default totals.
pub fn host_totals() -> anyhow::Result<(f64, f64)> {
    let cpus = serenity_probe::host::online_cpus()?.len() as f64;
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| anyhow::anyhow!("cannot read /proc/meminfo: {e}"))?;
    let mem_kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .ok_or_else(|| anyhow::anyhow!("/proc/meminfo has no readable MemTotal line"))?;
    Ok((cpus, mem_kib / 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_names_fall_back_to_paths() {
        let specs = vec![
            ExecutorSpec {
                framework_id: "production".into(),
                executor_id: "web".into(),
                container_id: Some("a/web".into()),
                ..Default::default()
            },
            ExecutorSpec {
                framework_id: "production".into(),
                executor_id: "web".into(),
                container_id: Some("b/web".into()),
                ..Default::default()
            },
            ExecutorSpec {
                framework_id: "best-effort".into(),
                executor_id: "web".into(),
                container_id: Some("be/web".into()),
                ..Default::default()
            },
        ];
        let mut executors: Vec<Executor> =
            specs.into_iter().map(ExecutorSpec::into_executor).collect();
        disambiguate(&mut executors);
        let info = |i: usize| executors[i].executor_info.as_ref().unwrap();
        let ids: Vec<&str> = (0..3)
            .map(|i| {
                info(i)
                    .executor_id
                    .as_ref()
                    .unwrap()
                    .value
                    .as_deref()
                    .unwrap()
            })
            .collect();
        assert_eq!(ids, ["a/web", "b/web", "web"]);
        let names: Vec<&str> = (0..3).map(|i| info(i).name.as_deref().unwrap()).collect();
        assert_eq!(names, ["executor a/web", "executor b/web", "executor web"]);
    }

    #[test]
    fn host_totals_are_positive() {
        let (cpus, mem) = host_totals().unwrap();
        assert!(cpus >= 1.0);
        assert!(mem > 1.0);
    }
}
