//! A reader of one group that keeps its files open between reads.
//!
//! [`CgroupV1::read`] and [`CgroupV2::read`] find the group's directories
//! and open every file afresh, about a hundred syscalls per group on v1. A
//! [`GroupReader`] resolves the directories once, reads only the files its
//! [`Selection`] needs, and re-reads each through a descriptor kept open
//! (one `pread` per file; see the `kept_file` module for when a file is
//! reopened instead). It fills the same [`CgroupSample`] fields as the
//! stateless readers with the same selection, with the same rules for
//! absent files, absent hierarchies and vanished groups; a group removed
//! and created again under the same path is read afresh.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cgroup_v1::{self, Gone, V1Sources};
use crate::cgroup_v2;
use crate::error::ProbeError;
use crate::kept_file::{FileCounters, KeptDir, Locate, V1Group};
use crate::sample::{now_secs, CgroupSample, Hierarchy};
use crate::selection::Selection;
use crate::{CgroupV1, CgroupV2};

#[derive(Debug)]
enum Dirs {
    V1 {
        user_hz: f64,
        /// cpuacct, cpu, memory, blkio.
        dirs: Box<[KeptDir; 4]>,
        /// `<root>/<prefix>/<id>`, named when no hierarchy has the group.
        name: PathBuf,
    },
    V2(KeptDir),
}

/// Reads one group again and again through kept descriptors.
#[derive(Debug)]
pub struct GroupReader {
    dirs: Dirs,
    selection: Selection,
}

impl GroupReader {
    /// A reader of container `container_id` of `reader`'s v1 layout
    /// (`<root>/<controller>/<prefix>/<id>`). Nothing is opened yet.
    pub fn v1(reader: &CgroupV1, container_id: &str, selection: Selection) -> Self {
        let group = reader.prefix().join(container_id);
        let name = reader.root().join(&group);
        let place = Arc::new(V1Group {
            root: reader.root().to_path_buf(),
            group,
        });
        let at = |controller| {
            KeptDir::new(Locate::V1 {
                at: place.clone(),
                controller,
            })
        };
        GroupReader {
            dirs: Dirs::V1 {
                user_hz: reader.user_hz(),
                dirs: Box::new([at("cpuacct"), at("cpu"), at("memory"), at("blkio")]),
                name,
            },
            selection,
        }
    }

    /// A reader of `group` (relative to `reader`'s root, or absolute) of a
    /// v2 hierarchy. Nothing is opened yet.
    pub fn v2(reader: &CgroupV2, group: impl AsRef<Path>, selection: Selection) -> Self {
        GroupReader {
            dirs: Dirs::V2(KeptDir::new(Locate::Path(reader.root().join(group)))),
            selection,
        }
    }

    /// What this reader reads.
    pub fn selection(&self) -> Selection {
        self.selection
    }

    /// Files opened and reads made so far, over all the group's
    /// directories.
    pub fn counters(&self) -> FileCounters {
        let dirs: &[KeptDir] = match &self.dirs {
            Dirs::V1 { dirs, .. } => &dirs[..],
            Dirs::V2(dir) => std::slice::from_ref(dir),
        };
        dirs.iter().fold(FileCounters::default(), |sum, d| {
            let c = d.counters();
            FileCounters {
                opens: sum.opens + c.opens,
                reads: sum.reads + c.reads,
            }
        })
    }

    /// Reads the group now. A group that does not exist (in no v1
    /// hierarchy) or disappears during the read is
    /// [`ProbeError::Vanished`]; the next read looks for it again.
    pub fn read(&mut self) -> Result<CgroupSample, ProbeError> {
        let want = self.selection;
        match &mut self.dirs {
            Dirs::V1 {
                user_hz,
                dirs,
                name,
            } => {
                let mut sample = CgroupSample::empty(Hierarchy::V1, now_secs());
                let [cpuacct, cpu, memory, blkio] = &mut **dirs;
                let present = |d: &mut KeptDir| d.present();
                let sources = V1Sources {
                    cpuacct: present(cpuacct).then_some(cpuacct),
                    cpu: present(cpu).then_some(cpu),
                    memory: present(memory).then_some(memory),
                    blkio: (want.blkio && present(blkio)).then_some(blkio),
                };
                cgroup_v1::read_v1(sources, *user_hz, want, &mut sample).map_err(|e| match e {
                    Gone::Vanished(e) => e,
                    Gone::NoGroup => ProbeError::Vanished { path: name.clone() },
                })?;
                Ok(sample)
            }
            Dirs::V2(dir) => {
                let mut sample = CgroupSample::empty(Hierarchy::V2, now_secs());
                if !dir.present() {
                    return Err(ProbeError::Vanished {
                        path: dir.expected_path(),
                    });
                }
                cgroup_v2::read_v2(dir, want, &mut sample)?;
                Ok(sample)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempTree;

    fn v1_tree() -> TempTree {
        let tree = TempTree::new("reader-v1");
        tree.write("cpuacct/p/c1/cpuacct.stat", "user 400\nsystem 100\n");
        tree.write("cpuacct/p/c1/cpuacct.usage", "5000000000\n");
        tree.write("cpuacct/p/c1/cgroup.procs", "10\n");
        tree.write("cpuacct/p/c1/tasks", "10\n11\n");
        tree.write(
            "cpu/p/c1/cpu.stat",
            "nr_periods 4\nnr_throttled 1\nthrottled_time 7\n",
        );
        tree.write("cpu/p/c1/cpu.cfs_quota_us", "50000\n");
        tree.write("cpu/p/c1/cpu.cfs_period_us", "100000\n");
        tree.write("cpu/p/c1/cpu.shares", "2048\n");
        tree.write("memory/p/c1/memory.usage_in_bytes", "4096\n");
        tree.write("memory/p/c1/memory.limit_in_bytes", "8192\n");
        tree.write("memory/p/c1/memory.soft_limit_in_bytes", "2048\n");
        tree.write("memory/p/c1/memory.stat", "total_rss 20\n");
        tree.write("blkio/p/c1/blkio.throttle.io_serviced", "Total 3\n");
        tree
    }

    #[test]
    fn with_every_part_it_reads_what_the_stateless_reader_reads() {
        let tree = v1_tree();
        let v1 = CgroupV1::new(tree.path(), "p").with_user_hz(100.0);
        let mut reader = GroupReader::v1(&v1, "c1", Selection::ALL);
        let mut kept = reader.read().unwrap();
        let mut fresh = v1.read("c1").unwrap();
        kept.timestamp = 0.0;
        fresh.timestamp = 0.0;
        assert_eq!(kept, fresh);

        let v2 = CgroupV2::new(tree.path());
        let mut reader = GroupReader::v2(&v2, "cpu/p/c1", Selection::ALL);
        let mut kept = reader.read().unwrap();
        let mut fresh = v2.read("cpu/p/c1").unwrap();
        kept.timestamp = 0.0;
        fresh.timestamp = 0.0;
        assert_eq!(kept, fresh);
    }

    #[test]
    fn the_allocation_selection_reads_cpu_times_and_limits_only() {
        let tree = v1_tree();
        let v1 = CgroupV1::new(tree.path(), "p").with_user_hz(100.0);
        let mut reader = GroupReader::v1(&v1, "c1", Selection::ALLOCATION);
        let s = reader.read().unwrap();
        assert_eq!((s.cpu_user_secs, s.cpu_system_secs), (Some(4.0), Some(1.0)));
        assert_eq!(s.cpus_limit, Some(0.5));
        assert_eq!(s.mem_limit_bytes, Some(8192));
        assert_eq!(s.cpus_soft_limit, None, "a quota is set: shares not read");
        assert_eq!(s.mem_soft_limit_bytes, None, "a limit is set");
        assert_eq!(s.cpu_usage_secs, None);
        assert_eq!(s.cpu_nr_periods, None);
        assert_eq!(s.mem_total_bytes, None);
        assert_eq!(s.mem_rss_bytes, None);
        assert_eq!(s.blkio, None);
        assert_eq!(s.processes, None);
        // cpuacct.stat, quota, period, memory limit: four files.
        assert_eq!(reader.counters().opens, 4);

        tree.write("cpu/p/c1/cpu.cfs_quota_us", "-1\n");
        let s = reader.read().unwrap();
        assert_eq!(s.cpus_limit, None);
        assert_eq!(s.cpus_soft_limit, Some(2.0), "no quota: the shares");
    }

    #[test]
    fn a_group_in_no_hierarchy_is_vanished_and_found_when_created() {
        let tree = v1_tree();
        let v1 = CgroupV1::new(tree.path(), "p").with_user_hz(100.0);
        let mut reader = GroupReader::v1(&v1, "c2", Selection::ALLOCATION);
        let e = reader.read().unwrap_err();
        assert!(e.is_vanished(), "{e}");
        assert!(e.to_string().contains("p/c2"), "{e}");
        tree.write("cpuacct/p/c2/cpuacct.stat", "user 1\nsystem 1\n");
        assert_eq!(reader.read().unwrap().cpu_user_secs, Some(0.01));

        let v2 = CgroupV2::new(tree.path());
        let mut reader = GroupReader::v2(&v2, "nope", Selection::ALLOCATION);
        assert!(reader.read().unwrap_err().is_vanished());
    }
}
