//! Which cgroups are executors: the hierarchy layout and group discovery.
//!
//! A [`Layout`] says where groups live: for cgroup v1 one directory per
//! controller (`<root>/cpu/<group>`, `<root>/memory/<group>`, ...), for v2 one
//! unified tree (`<root>/<group>`). Group paths are relative to the hierarchy
//! root.
//!
//! Each tick, [`discover`] expands the production patterns (`*` and `?`
//! match within one path component) to parent groups and lists their
//! children (production executors), then lists the children of the
//! best-effort parent (best-effort executors). A parent that does not exist
//! contributes nothing; a group listed under both is best-effort never (the
//! configuration refuses overlapping trees, and discovery skips any
//! production group below the best-effort prefix as a second line of
//! defence).

use crate::config::{glob_match, CgroupVersion};
use serenity_probe::{cgroup_mounts, CgroupV1};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Whether a group is production or best-effort work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKind {
    /// A child of a production parent: never a correction target.
    Production,
    /// A child of the best-effort parent: revocable, may be corrected.
    BestEffort,
}

impl GroupKind {
    /// The framework id the agent gives executors of this kind.
    pub fn framework_id(self) -> &'static str {
        match self {
            GroupKind::Production => "production",
            GroupKind::BestEffort => "best-effort",
        }
    }
}

/// One executor's group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    /// Production or best-effort.
    pub kind: GroupKind,
    /// Path relative to the hierarchy root (`production/web`): the executor's
    /// container id.
    pub path: PathBuf,
    /// The directory name (`web`): the executor id.
    pub name: String,
}

impl Group {
    /// The path as a string (`/`-separated, relative to the root).
    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

/// Where the hierarchy is and which version it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// v1 or v2 (never `Auto`).
    pub version: CgroupVersion,
    /// v1: the directory holding the controller mounts; v2: the unified root.
    pub root: PathBuf,
}

impl Layout {
    /// Resolves `Auto`: v2 when `root` is a cgroup2 mount; v1 when `root`
    /// holds a cpu, cpuacct or memory hierarchy; v2 at `<root>/unified` when
    /// that is a cgroup2 mount (a hybrid host without v1 CPU controllers).
    pub fn resolve(version: CgroupVersion, root: &Path) -> anyhow::Result<Layout> {
        match version {
            CgroupVersion::V1 | CgroupVersion::V2 => Ok(Layout {
                version,
                root: root.to_path_buf(),
            }),
            CgroupVersion::Auto => {
                let mounts = cgroup_mounts().unwrap_or_default();
                let is_v2 = |p: &Path| mounts.iter().any(|m| m.unified && m.mount_point == p);
                if is_v2(root) {
                    return Ok(Layout {
                        version: CgroupVersion::V2,
                        root: root.to_path_buf(),
                    });
                }
                let v1 = CgroupV1::new(root, "");
                if ["cpuacct", "cpu", "memory"]
                    .iter()
                    .any(|c| v1.hierarchy(c).is_some())
                {
                    return Ok(Layout {
                        version: CgroupVersion::V1,
                        root: root.to_path_buf(),
                    });
                }
                let unified = root.join("unified");
                if is_v2(&unified) {
                    return Ok(Layout {
                        version: CgroupVersion::V2,
                        root: unified,
                    });
                }
                anyhow::bail!(
                    "cannot tell the cgroup version under {}: it is no cgroup2 mount and holds \
                     no cpu, cpuacct or memory hierarchy; set `cgroups.version` and `cgroups.root`",
                    root.display()
                )
            }
        }
    }

    /// The directory of `controller`'s hierarchy (v1), or the unified root
    /// (v2, any controller).
    pub fn hierarchy(&self, controller: &str) -> Option<PathBuf> {
        match self.version {
            CgroupVersion::V1 => CgroupV1::new(&self.root, "").hierarchy(controller),
            _ => Some(self.root.clone()),
        }
    }

    /// Where group paths are listed: v1 the cpuacct hierarchy (else cpu, else
    /// memory), v2 the root.
    pub fn listing_root(&self) -> Option<PathBuf> {
        match self.version {
            CgroupVersion::V1 => ["cpuacct", "cpu", "memory"]
                .iter()
                .find_map(|c| self.hierarchy(c)),
            _ => Some(self.root.clone()),
        }
    }

    /// The group's directory in `controller`'s hierarchy, if that hierarchy
    /// is mounted (the directory itself may not exist).
    pub fn group_dir(&self, controller: &str, group: &Path) -> Option<PathBuf> {
        self.hierarchy(controller).map(|h| h.join(group))
    }
}

/// The groups found by one discovery pass, and the parents that were missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// Production groups first, then best-effort ones, each sorted by path.
    pub groups: Vec<Group>,
    /// True when the best-effort parent does not exist (yet).
    pub best_effort_missing: bool,
}

/// Lists the executor groups: the children of every parent matched by a
/// production pattern, and the children of the best-effort parent.
pub fn discover(
    layout: &Layout,
    production: &[String],
    best_effort: &Path,
) -> anyhow::Result<Discovery> {
    let Some(base) = layout.listing_root() else {
        anyhow::bail!(
            "no cpuacct, cpu or memory hierarchy is mounted under {}",
            layout.root.display()
        );
    };
    let mut out = Discovery::default();
    let mut production_groups = Vec::new();
    for pattern in production {
        let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
        for parent in expand(&base, &components)? {
            for name in children(&base.join(&parent))? {
                let path = parent.join(&name);
                if path.starts_with(best_effort) {
                    continue;
                }
                production_groups.push(Group {
                    kind: GroupKind::Production,
                    path,
                    name,
                });
            }
        }
    }
    production_groups.sort();
    production_groups.dedup();
    out.groups = production_groups;

    match fs::metadata(base.join(best_effort)) {
        Ok(meta) if meta.is_dir() => {
            let mut be: Vec<Group> = children(&base.join(best_effort))?
                .into_iter()
                .map(|name| Group {
                    kind: GroupKind::BestEffort,
                    path: best_effort.join(&name),
                    name,
                })
                .collect();
            be.sort();
            out.groups.extend(be);
        }
        _ => out.best_effort_missing = true,
    }
    Ok(out)
}

/// The relative paths of the directories below `base` that match the
/// component patterns.
fn expand(base: &Path, components: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut current = vec![PathBuf::new()];
    for component in components {
        let mut next = Vec::new();
        for rel in &current {
            if component.contains('*') || component.contains('?') {
                for name in children(&base.join(rel))? {
                    if glob_match(component, &name) {
                        next.push(rel.join(name));
                    }
                }
            } else if base.join(rel).join(component).is_dir() {
                next.push(rel.join(component));
            }
        }
        current = next;
    }
    current.sort();
    Ok(current)
}

/// The names of the subdirectories of `dir`; none when it does not exist or
/// vanishes while listed.
fn children(dir: &Path) -> anyhow::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => anyhow::bail!("cannot list cgroup {}: {e}", dir.display()),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => anyhow::bail!("cannot list cgroup {}: {e}", dir.display()),
        };
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if let (true, Some(name)) = (is_dir, entry.file_name().to_str()) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// True when `candidate` lies strictly below `parent`, both canonicalized
/// (symlinks and `..` resolved). Either path failing to resolve is `false`.
pub fn strictly_under(candidate: &Path, parent: &Path) -> bool {
    match (fs::canonicalize(candidate), fs::canonicalize(parent)) {
        (Ok(c), Ok(p)) => c != p && c.starts_with(&p),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tree(PathBuf);

    impl Tree {
        fn new(label: &str) -> Tree {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "serenity-agent-groups-{label}-{}-{nanos}",
                std::process::id()
            ));
            fs::create_dir_all(&dir).unwrap();
            Tree(dir)
        }
        fn mkdir(&self, rel: &str) {
            fs::create_dir_all(self.0.join(rel)).unwrap();
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn paths(d: &Discovery) -> Vec<(GroupKind, String)> {
        d.groups.iter().map(|g| (g.kind, g.path_str())).collect()
    }

    #[test]
    fn children_of_matched_parents_are_executors() {
        let tree = Tree::new("v2");
        for d in [
            "prod/web",
            "prod/db",
            "svc/a.slice/x",
            "svc/b.slice/y",
            "svc/c.scope/z",
            "be/job1",
            "be/job2/nested",
            "other/ignored",
        ] {
            tree.mkdir(d);
        }
        fs::write(tree.0.join("prod/cgroup.procs"), "").unwrap();
        let layout = Layout::resolve(CgroupVersion::V2, &tree.0).unwrap();
        let found = discover(
            &layout,
            &["prod".into(), "svc/*.slice".into(), "missing/*".into()],
            Path::new("be"),
        )
        .unwrap();
        use GroupKind::*;
        assert_eq!(
            paths(&found),
            [
                (Production, "prod/db".into()),
                (Production, "prod/web".into()),
                (Production, "svc/a.slice/x".into()),
                (Production, "svc/b.slice/y".into()),
                (BestEffort, "be/job1".into()),
                (BestEffort, "be/job2".into()),
            ]
        );
        assert_eq!(found.groups[0].name, "db");
        assert!(!found.best_effort_missing);
    }

    #[test]
    fn v1_groups_are_listed_in_the_cpuacct_hierarchy() {
        let tree = Tree::new("v1");
        tree.mkdir("cpuacct/prod/web");
        tree.mkdir("cpu/prod/web");
        tree.mkdir("memory/prod/only-in-memory");
        let layout = Layout::resolve(CgroupVersion::Auto, &tree.0).unwrap();
        assert_eq!(layout.version, CgroupVersion::V1);
        let found = discover(&layout, &["prod".into()], Path::new("be")).unwrap();
        assert_eq!(paths(&found), [(GroupKind::Production, "prod/web".into())]);
        assert!(found.best_effort_missing);
        assert_eq!(
            layout.group_dir("memory", Path::new("prod/web")),
            Some(tree.0.join("memory/prod/web"))
        );
        assert_eq!(layout.group_dir("freezer", Path::new("prod/web")), None);
    }

    #[test]
    fn production_groups_below_the_best_effort_prefix_are_skipped() {
        let tree = Tree::new("overlap");
        tree.mkdir("jobs/be/x");
        tree.mkdir("jobs/web");
        let layout = Layout::resolve(CgroupVersion::V2, &tree.0).unwrap();
        let found = discover(&layout, &["jobs".into()], Path::new("jobs/be")).unwrap();
        assert_eq!(
            paths(&found),
            [
                (GroupKind::Production, "jobs/web".into()),
                (GroupKind::BestEffort, "jobs/be/x".into()),
            ]
        );
    }

    #[test]
    fn strictly_under_resolves_symlinks_and_excludes_the_parent() {
        let tree = Tree::new("under");
        tree.mkdir("be/job");
        tree.mkdir("prod/web");
        std::os::unix::fs::symlink(tree.0.join("prod/web"), tree.0.join("be/link")).unwrap();
        let be = tree.0.join("be");
        assert!(strictly_under(&tree.0.join("be/job"), &be));
        assert!(!strictly_under(&be, &be));
        assert!(!strictly_under(&tree.0.join("be/link"), &be));
        assert!(!strictly_under(&tree.0.join("be/../prod/web"), &be));
        assert!(!strictly_under(&tree.0.join("be/missing"), &be));
    }
}
