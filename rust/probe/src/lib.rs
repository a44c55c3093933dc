//! serenity-probe: what a Linux host knows about its containers.
//!
//! - [`CgroupV1`] reads Mesos's cgroup v1 layout
//!   (`/sys/fs/cgroup/<controller>/mesos/<id>`), [`CgroupV2`] reads any group
//!   of the unified hierarchy (Kubernetes layouts included). Both return a
//!   timestamped [`CgroupSample`] that converts to Mesos's
//!   `ResourceStatistics` with [`CgroupSample::to_statistics`].
//! - [`GroupReader`] reads one group again and again through descriptors
//!   kept open (one `pread` per file and tick), only the files its
//!   [`Selection`] needs.
//! - [`discover_v1`] and [`discover_v2`] list the container groups under a
//!   parent.
//! - [`CgroupPerfCounters`] keeps per-cgroup perf counters open continuously
//!   (perf_event_open in cgroup mode, one counter per CPU); [`PerfSampler`]
//!   turns them into per-interval [`PerfInterval`]s and Mesos
//!   `PerfStatistics`. Events the host does not support are reported, not
//!   fatal.
//! - [`ensure_perf_event_hierarchy`] mounts the v1 perf_event hierarchy when a
//!   v1 host lacks it.
//! - [`psi`] reads pressure stall information (node and v2 groups) and
//!   [`schedstat`] a group's run-queue delay from its tasks'
//!   `/proc/<tid>/schedstat`; [`starvation`] combines them into the
//!   cumulative totals the pipelines' starvation signals are derived from.
//!
//! Errors are [`ProbeError`] values naming the path, file and line; a group
//! that disappears while it is read is the quiet [`ProbeError::Vanished`].
//! Nothing here panics on odd file content. `docs/probe.md` has the full
//! file-to-field tables and what was verified on which kind of host.
#![cfg(target_os = "linux")]
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod cgroup_files;
pub mod cgroup_v1;
pub mod cgroup_v2;
mod discovery;
pub mod enrich;
mod error;
mod group_reader;
pub mod host;
mod kept_file;
mod mount;
pub mod perf;
mod perf_sample;
pub mod psi;
mod sample;
pub mod schedstat;
mod selection;
pub mod starvation;

pub use cgroup_v1::CgroupV1;
pub use cgroup_v2::CgroupV2;
pub use discovery::{container_id_from_dir_name, discover_v1, discover_v2, DiscoveredGroup};
pub use error::ProbeError;
pub use group_reader::GroupReader;
pub use kept_file::{FileCounters, REPROBE_READS};
pub use mount::{
    cgroup_mounts, ensure_perf_event_hierarchy, perf_event_mount, CgroupMount, MOUNTINFO_PATH,
};
pub use perf::{
    CgroupPerfCounters, EventSupport, PerfEvent, PerfInterval, PerfReading, PerfSampler, RawCount,
};
pub use sample::{now_secs, BlkioOp, BlkioThrottling, CgroupSample, DeviceNumber, Hierarchy};
pub use selection::Selection;
pub use starvation::{
    locate_container, GroupFiles, GroupStarvation, StarvationParts, StarvationTotals,
};

#[cfg(test)]
mod test_support {
    //! Throw-away directory trees for reading fixed file contents.

    use std::fs;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    static NEXT: AtomicUsize = AtomicUsize::new(0);

    /// A directory under the system temp dir, removed on drop.
    pub(crate) struct TempTree {
        root: PathBuf,
    }

    impl TempTree {
        pub(crate) fn new(label: &str) -> Self {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let root = std::env::temp_dir().join(format!(
                "serenity-probe-{label}-{}-{nanos}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&root).unwrap();
            TempTree { root }
        }

        pub(crate) fn path(&self) -> &Path {
            &self.root
        }

        pub(crate) fn mkdir(&self, relative: &str) {
            fs::create_dir_all(self.root.join(relative)).unwrap();
        }

        pub(crate) fn write(&self, relative: &str, content: &str) {
            let path = self.root.join(relative);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }

        pub(crate) fn symlink(&self, target: &str, link: &str) {
            std::os::unix::fs::symlink(target, self.root.join(link)).unwrap();
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}
