//! Listing the container groups under a parent group.
//!
//! - v1 (Mesos): the direct children of `<hierarchy>/<prefix>`, found in the
//!   cpuacct hierarchy (else cpu, else memory); the id is the directory name.
//!   Mesos's nested containers (`<id>/mesos/<child>`) are not listed
//!   separately: their usage is included in the parent's.
//! - v2: the leaf groups at any depth below the parent (a Kubernetes pod is a
//!   parent, its containers are leaves). The id is the leaf's name without a
//!   `.scope`/`.slice` suffix and without a runtime prefix
//!   (`cri-containerd-`, `crio-`, `docker-`, `libpod-`), so
//!   `cri-containerd-<id>.scope` and the cgroupfs driver's `<id>` both give
//!   `<id>`.
//!
//! Groups that disappear while the tree is walked are skipped.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::cgroup_v1::CgroupV1;
use crate::error::ProbeError;

/// How deep v2 discovery descends below the parent.
const MAX_DEPTH: usize = 16;

/// A container group found by discovery.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DiscoveredGroup {
    /// The container id: for v1 the directory name (pass it to
    /// [`CgroupV1::read`]), for v2 see [`container_id_from_dir_name`].
    pub id: String,
    /// The group's directory (v1: in the hierarchy that was listed; v2: pass it
    /// to [`crate::CgroupV2::read`]).
    pub path: PathBuf,
}

/// Lists `<hierarchy>/<prefix>/<id>` for every container. A prefix directory
/// that does not exist (yet) is an error for which
/// [`ProbeError::is_not_found`] is true; no mounted cpuacct, cpu or memory
/// hierarchy is the same.
pub fn discover_v1(cgroup: &CgroupV1) -> Result<Vec<DiscoveredGroup>, ProbeError> {
    let parent = ["cpuacct", "cpu", "memory"]
        .iter()
        .find_map(|c| cgroup.prefix_dir(c))
        .unwrap_or_else(|| cgroup.root().join("cpuacct").join(cgroup.prefix()));
    let mut groups: Vec<DiscoveredGroup> = subdirectories(&parent)?
        .into_iter()
        .filter_map(|path| {
            let id = path.file_name()?.to_str()?.to_owned();
            Some(DiscoveredGroup { id, path })
        })
        .collect();
    groups.sort();
    Ok(groups)
}

/// Lists the leaf groups at any depth below `parent` (not `parent` itself).
/// A `parent` that does not exist is an error for which
/// [`ProbeError::is_not_found`] is true.
pub fn discover_v2(parent: &Path) -> Result<Vec<DiscoveredGroup>, ProbeError> {
    let mut leaves = Vec::new();
    let mut stack: Vec<(PathBuf, usize)> = subdirectories(parent)?
        .into_iter()
        .map(|p| (p, 1))
        .collect();
    while let Some((dir, depth)) = stack.pop() {
        let children = match subdirectories(&dir) {
            Ok(children) => children,
            // Removed while we walked: not a group any more.
            Err(err) if err.is_not_found() => continue,
            Err(err) => return Err(err),
        };
        if children.is_empty() || depth >= MAX_DEPTH {
            if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
                leaves.push(DiscoveredGroup {
                    id: container_id_from_dir_name(name).to_owned(),
                    path: dir.clone(),
                });
            }
        } else {
            stack.extend(children.into_iter().map(|c| (c, depth + 1)));
        }
    }
    leaves.sort();
    Ok(leaves)
}

/// The container id in a v2 group name: `cri-containerd-<id>.scope`,
/// `crio-<id>.scope`, `docker-<id>.scope` and `libpod-<id>.scope` give `<id>`;
/// any other name is returned without a `.scope`/`.slice` suffix.
pub fn container_id_from_dir_name(name: &str) -> &str {
    let base = name
        .strip_suffix(".scope")
        .or_else(|| name.strip_suffix(".slice"))
        .unwrap_or(name);
    for runtime in ["cri-containerd-", "crio-", "docker-", "libpod-"] {
        if let Some(id) = base.strip_prefix(runtime) {
            if !id.is_empty() {
                return id;
            }
        }
    }
    base
}

/// The subdirectories of `dir` (symlinks are not followed: cgroupfs has none,
/// and following them could loop).
fn subdirectories(dir: &Path) -> Result<Vec<PathBuf>, ProbeError> {
    let entries = fs::read_dir(dir).map_err(|e| ProbeError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(ProbeError::io(dir, err)),
        };
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => out.push(entry.path()),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(ProbeError::io(&entry.path(), err)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempTree;

    #[test]
    fn v1_lists_mesos_containers() {
        let tree = TempTree::new("disc-v1");
        tree.write("cpuacct/mesos/c1/cpuacct.stat", "user 0\nsystem 0\n");
        tree.mkdir("cpuacct/mesos/c2/mesos/nested");
        tree.write("cpuacct/mesos/cgroup.procs", "");
        let found = discover_v1(&CgroupV1::new(tree.path(), "mesos")).unwrap();
        let ids: Vec<&str> = found.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2"]);
        assert_eq!(found[0].path, tree.path().join("cpuacct/mesos/c1"));
    }

    #[test]
    fn v1_missing_prefix_is_not_found() {
        let tree = TempTree::new("disc-v1-none");
        tree.mkdir("cpuacct");
        let err = discover_v1(&CgroupV1::new(tree.path(), "mesos")).unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }

    #[test]
    fn v2_lists_leaves_of_both_kubernetes_drivers() {
        let tree = TempTree::new("disc-v2");
        tree.mkdir("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod11.slice/cri-containerd-aaa.scope");
        tree.mkdir("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod11.slice/cri-containerd-bbb.scope");
        tree.mkdir("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod22.slice/crio-ccc.scope");
        tree.mkdir("kubepods/burstable/pod33/ddd");
        tree.write("kubepods/burstable/pod33/cgroup.procs", "");
        let found = discover_v2(tree.path()).unwrap();
        let mut ids: Vec<&str> = found.iter().map(|g| g.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["aaa", "bbb", "ccc", "ddd"]);
        assert!(found
            .iter()
            .any(|g| g.path == tree.path().join("kubepods/burstable/pod33/ddd")));
    }

    #[test]
    fn v2_parent_without_children_lists_nothing() {
        let tree = TempTree::new("disc-v2-empty");
        assert!(discover_v2(tree.path()).unwrap().is_empty());
        let err = discover_v2(&tree.path().join("missing")).unwrap_err();
        assert!(err.is_not_found());
    }

    #[test]
    fn container_ids_lose_runtime_prefix_and_unit_suffix() {
        assert_eq!(
            container_id_from_dir_name("cri-containerd-abc.scope"),
            "abc"
        );
        assert_eq!(container_id_from_dir_name("docker-abc.scope"), "abc");
        assert_eq!(container_id_from_dir_name("crio-abc.scope"), "abc");
        assert_eq!(container_id_from_dir_name("abc"), "abc");
        assert_eq!(container_id_from_dir_name("web.slice"), "web");
        assert_eq!(container_id_from_dir_name("docker-.scope"), "docker-");
    }
}
