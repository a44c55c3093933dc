//! The starvation totals of one group, as the pipelines' `runqueue_delay`,
//! `cpu_pressure`, `mem_pressure` and `io_pressure` signals need them:
//! cumulative seconds, written into Serenity's own `ResourceStatistics`
//! fields (`serenity_runqueue_delay_secs`, `serenity_*_pressure_some_secs`).
//!
//! - Run-queue delay from the group's tasks ([`crate::schedstat`]): v2
//!   `cgroup.threads`, v1 `tasks`.
//! - PSI `some` totals from the group's `*.pressure` files ([`crate::psi`]):
//!   cgroup v2 only (v1 groups have none; their fields stay absent).
//!
//! What cannot be read is left absent and said once per group (a log
//! line), never guessed; a group that is gone is [`ProbeError::Vanished`].

use crate::error::ProbeError;
use crate::psi::{read_group_psi, PsiResource};
use crate::schedstat::RunqueueDelay;
use serenity_core::model::proto::ResourceStatistics;
use std::path::{Path, PathBuf};

/// Cumulative starvation totals of one group, seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StarvationTotals {
    /// Σ over the group's tasks of their run-queue wait (monotonic).
    pub runqueue_delay_secs: Option<f64>,
    /// PSI cpu `some` total.
    pub cpu_some_secs: Option<f64>,
    /// PSI memory `some` total.
    pub mem_some_secs: Option<f64>,
    /// PSI io `some` total.
    pub io_some_secs: Option<f64>,
}

impl StarvationTotals {
    /// Writes the totals into `stats`, leaving alone every field the agent
    /// already supplied (agent data wins) and every total that is absent.
    pub fn fill(&self, stats: &mut ResourceStatistics) {
        let pairs = [
            (
                &mut stats.serenity_runqueue_delay_secs,
                self.runqueue_delay_secs,
            ),
            (
                &mut stats.serenity_cpu_pressure_some_secs,
                self.cpu_some_secs,
            ),
            (
                &mut stats.serenity_mem_pressure_some_secs,
                self.mem_some_secs,
            ),
            (&mut stats.serenity_io_pressure_some_secs, self.io_some_secs),
        ];
        for (field, value) in pairs {
            if field.is_none() {
                *field = value;
            }
        }
    }
}

/// Where a group's starvation files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupFiles {
    /// A cgroup v2 group directory: `cgroup.threads` and `*.pressure`.
    V2(PathBuf),
    /// A cgroup v1 task list (`<hierarchy>/<group>/tasks`): run-queue delay only.
    V1Tasks(PathBuf),
}

/// Which starvation totals to read: the run-queue delay (the task list
/// and every task's schedstat) and each PSI resource (one file each, v2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StarvationParts {
    /// The run-queue delay (`runqueue_delay`).
    pub runqueue: bool,
    /// PSI cpu `some` (`cpu_pressure`).
    pub cpu_pressure: bool,
    /// PSI memory `some` (`mem_pressure`).
    pub mem_pressure: bool,
    /// PSI io `some` (`io_pressure`).
    pub io_pressure: bool,
}

impl StarvationParts {
    /// Every total.
    pub const ALL: StarvationParts = StarvationParts {
        runqueue: true,
        cpu_pressure: true,
        mem_pressure: true,
        io_pressure: true,
    };

    /// No total: nothing to read.
    pub const NONE: StarvationParts = StarvationParts {
        runqueue: false,
        cpu_pressure: false,
        mem_pressure: false,
        io_pressure: false,
    };

    /// Whether any total is read.
    pub fn any(&self) -> bool {
        *self != StarvationParts::NONE
    }

    fn psi(&self, resource: PsiResource) -> bool {
        match resource {
            PsiResource::Cpu => self.cpu_pressure,
            PsiResource::Memory => self.mem_pressure,
            PsiResource::Io => self.io_pressure,
        }
    }
}

/// Reads one group's starvation totals, keeping the per-task state that
/// makes its run-queue delay monotonic.
#[derive(Debug, Clone)]
pub struct GroupStarvation {
    files: GroupFiles,
    runqueue: RunqueueDelay,
    parts: StarvationParts,
    said: bool,
}

impl GroupStarvation {
    /// A reader of every total of `files`, with task files under
    /// `proc_root` (`/proc`).
    pub fn new(files: GroupFiles, proc_root: impl Into<PathBuf>) -> Self {
        GroupStarvation::with_parts(files, proc_root, StarvationParts::ALL)
    }

    /// A reader of the `parts` of `files` only; the others stay absent.
    pub fn with_parts(
        files: GroupFiles,
        proc_root: impl Into<PathBuf>,
        parts: StarvationParts,
    ) -> Self {
        GroupStarvation {
            files,
            runqueue: RunqueueDelay::new(proc_root),
            parts,
            said: false,
        }
    }

    /// The totals this reader reads.
    pub fn parts(&self) -> StarvationParts {
        self.parts
    }

    /// The group's files.
    pub fn files(&self) -> &GroupFiles {
        &self.files
    }

    /// Reads the totals. A vanished group is an error; any other problem
    /// of one file leaves that total absent, logged once per group.
    pub fn read(&mut self) -> Result<StarvationTotals, ProbeError> {
        let mut totals = StarvationTotals::default();
        let (tasks, dir) = match &self.files {
            GroupFiles::V2(dir) => (dir.join("cgroup.threads"), Some(dir.clone())),
            GroupFiles::V1Tasks(tasks) => (tasks.clone(), None),
        };
        if self.parts.runqueue {
            match self.runqueue.read(&tasks) {
                Ok(secs) => totals.runqueue_delay_secs = Some(secs),
                Err(e) if e.is_vanished() => return Err(e),
                Err(e) => self.say(&e),
            }
        }
        if let Some(dir) = dir {
            let parts = self.parts;
            for resource in PsiResource::ALL.into_iter().filter(|r| parts.psi(*r)) {
                let value = match read_group_psi(&dir, resource) {
                    Ok(p) => p.map(|p| p.some_secs),
                    Err(e) if e.is_vanished() => return Err(e),
                    Err(e) => {
                        self.say(&e);
                        None
                    }
                };
                match resource {
                    PsiResource::Cpu => totals.cpu_some_secs = value,
                    PsiResource::Memory => totals.mem_some_secs = value,
                    PsiResource::Io => totals.io_some_secs = value,
                }
            }
        }
        Ok(totals)
    }

    fn say(&mut self, e: &ProbeError) {
        if !self.said {
            log::warn!(target: "serenity", "starvation totals incomplete: {e}; the affected signal is left out");
            self.said = true;
        }
    }
}

/// Finds the starvation files of container `id` under `cgroup_root` with
/// Mesos's `prefix`: the unified group (`<root>/<prefix>/<id>` on a pure v2
/// host, `<root>/unified/<prefix>/<id>` on a hybrid one), else the v1
/// `cpu`/`cpuacct` group's `tasks`. `None` when no such group exists.
pub fn locate_container(cgroup_root: &Path, prefix: &str, id: &str) -> Option<GroupFiles> {
    for v2 in [cgroup_root.to_path_buf(), cgroup_root.join("unified")] {
        let dir = v2.join(prefix).join(id);
        if v2.join("cgroup.controllers").is_file() && dir.join("cgroup.threads").is_file() {
            return Some(GroupFiles::V2(dir));
        }
    }
    ["cpu", "cpuacct", "cpu,cpuacct"]
        .iter()
        .map(|h| cgroup_root.join(h).join(prefix).join(id).join("tasks"))
        .find(|t| t.is_file())
        .map(GroupFiles::V1Tasks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempTree;

    #[test]
    fn a_v2_group_gives_every_total_and_agent_values_win() {
        let tree = TempTree::new("starvation");
        tree.write("root/cgroup.controllers", "cpu memory io\n");
        tree.write("root/mesos/c1/cgroup.threads", "5\n");
        tree.write(
            "root/mesos/c1/cpu.pressure",
            "some avg10=0 avg60=0 avg300=0 total=2000000\n",
        );
        tree.write(
            "root/mesos/c1/memory.pressure",
            "some avg10=0 avg60=0 avg300=0 total=1000\nfull avg10=0 avg60=0 avg300=0 total=0\n",
        );
        tree.write("proc/5/schedstat", "1 3000000000 1\n");
        let files = locate_container(&tree.path().join("root"), "mesos", "c1").unwrap();
        assert!(matches!(files, GroupFiles::V2(_)));
        let mut g = GroupStarvation::new(files, tree.path().join("proc"));
        let t = g.read().unwrap();
        assert_eq!(t.runqueue_delay_secs, Some(0.0), "the first reading primes");
        assert_eq!(t.cpu_some_secs, Some(2.0));
        assert_eq!(t.mem_some_secs, Some(0.001));
        assert_eq!(t.io_some_secs, None, "no io.pressure: absent, not zero");
        let mut stats = ResourceStatistics {
            serenity_cpu_pressure_some_secs: Some(9.0),
            ..Default::default()
        };
        t.fill(&mut stats);
        assert_eq!(stats.serenity_cpu_pressure_some_secs, Some(9.0));
        assert_eq!(stats.serenity_mem_pressure_some_secs, Some(0.001));
    }

    #[test]
    fn a_v1_group_has_run_queue_delay_only_and_a_removed_group_vanishes() {
        let tree = TempTree::new("starvation-v1");
        tree.write("root/cpu/mesos/c2/tasks", "8\n");
        tree.write("proc/8/schedstat", "1 1000 1\n");
        let files = locate_container(&tree.path().join("root"), "mesos", "c2").unwrap();
        assert!(matches!(files, GroupFiles::V1Tasks(_)));
        let mut g = GroupStarvation::new(files, tree.path().join("proc"));
        let t = g.read().unwrap();
        assert!(t.runqueue_delay_secs.is_some() && t.cpu_some_secs.is_none());
        std::fs::remove_dir_all(tree.path().join("root/cpu/mesos/c2")).unwrap();
        assert!(g.read().unwrap_err().is_vanished());
        assert!(locate_container(&tree.path().join("root"), "mesos", "nope").is_none());
    }

    #[test]
    fn only_the_asked_parts_are_read() {
        let tree = TempTree::new("starvation-parts");
        tree.write("g/cgroup.threads", "5\n");
        tree.write(
            "g/cpu.pressure",
            "some avg10=0 avg60=0 avg300=0 total=2000000\n",
        );
        tree.write(
            "g/io.pressure",
            "some avg10=0 avg60=0 avg300=0 total=1000000\n",
        );
        tree.write("proc/5/schedstat", "1 3000000000 1\n");
        let parts = StarvationParts {
            io_pressure: true,
            ..StarvationParts::NONE
        };
        assert!(parts.any() && !StarvationParts::NONE.any());
        let files = GroupFiles::V2(tree.path().join("g"));
        let mut g = GroupStarvation::with_parts(files, tree.path().join("proc"), parts);
        let t = g.read().unwrap();
        assert_eq!(t.io_some_secs, Some(1.0));
        assert_eq!((t.runqueue_delay_secs, t.cpu_some_secs), (None, None));
        assert_eq!(g.parts(), parts);
    }
}
