//! Finding cgroup mounts, and mounting the v1 perf_event hierarchy that
//! per-cgroup perf counters need on v1 hosts.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{ParseError, ProbeError};

/// Where the kernel describes the calling process's mounts.
pub const MOUNTINFO_PATH: &str = "/proc/self/mountinfo";

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// True for the v2 unified hierarchy (`cgroup2`), false for a v1 one.
    pub unified: bool,
    /// The v1 controllers bound to this hierarchy (`cpu`, `cpuacct`,
    /// `perf_event`, ...); named hierarchies appear as `name=systemd`. Empty
    /// for v2.
    pub controllers: Vec<String>,
}

/// The cgroup hierarchies mounted in this process's mount namespace.
pub fn cgroup_mounts() -> Result<Vec<CgroupMount>, ProbeError> {
    let path = Path::new(MOUNTINFO_PATH);
    let content = fs::read_to_string(path).map_err(|e| ProbeError::io(path, e))?;
    parse_mountinfo(&content).map_err(|e| e.in_file(path))
}

/// Returns the root of the hierarchy whose groups per-cgroup perf counters
/// can observe, mounting a v1 perf_event hierarchy at `<root>/perf_event`
/// when needed:
///
/// 1. a v1 hierarchy with the perf_event controller is mounted: its mount
///    point;
/// 2. `root` itself is a cgroup2 mount (a pure v2 host): `root`, unchanged,
///    because perf_event is implicitly enabled in every v2 group (mounting it
///    on v1 would take it away from v2);
/// 3. otherwise, when `root` is a cgroup root (hierarchies are mounted
///    directly under it, as `/sys/fs/cgroup` on a v1 or hybrid host): mounts
///    `cgroup -o perf_event` at `<root>/perf_event` (creating that one
///    directory) and returns it;
/// 4. any other `root` is an error, and nothing is created or mounted.
///
/// A freshly mounted v1 hierarchy has every process in its root group: the
/// container groups must be created in it and the containers' processes
/// attached (as Mesos's `cgroups/perf_event` isolator does) before per-cgroup
/// counters see anything. Mounting needs CAP_SYS_ADMIN.
pub fn ensure_perf_event_hierarchy(root: &Path) -> Result<PathBuf, ProbeError> {
    let mounts = cgroup_mounts()?;
    if let Some(existing) = perf_event_mount(&mounts) {
        return Ok(existing);
    }
    if mounts.iter().any(|m| m.unified && m.mount_point == root) {
        return Ok(root.to_path_buf());
    }
    // Only a real cgroup root (one with hierarchies mounted directly under
    // it, like /sys/fs/cgroup) gets a perf_event directory and mount: a
    // mistyped root must not create directories or mounts anywhere.
    let is_cgroup_root = mounts
        .iter()
        .any(|m| m.mount_point.parent() == Some(root) || m.mount_point == root);
    let target = root.join("perf_event");
    if !is_cgroup_root {
        return Err(ProbeError::Mount {
            path: target,
            source: io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} is not a cgroup root (no cgroup hierarchy is mounted there or directly under it); not mounting perf_event",
                    root.display()
                ),
            ),
        });
    }
    if let Err(e) = fs::create_dir(&target) {
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(ProbeError::Mount {
                path: target,
                source: e,
            });
        }
    }
    match mount_cgroup_v1(&target, "perf_event") {
        Ok(()) => Ok(target),
        // Someone else mounted it in the meantime.
        Err(err) if err.raw_os_error() == Some(libc::EBUSY) => perf_event_mount(&cgroup_mounts()?)
            .ok_or(ProbeError::Mount {
                path: target,
                source: err,
            }),
        Err(err) => Err(ProbeError::Mount {
            path: target,
            source: err,
        }),
    }
}

/// The mount point of the v1 hierarchy that has the perf_event controller.
pub fn perf_event_mount(mounts: &[CgroupMount]) -> Option<PathBuf> {
    mounts
        .iter()
        .find(|m| !m.unified && m.controllers.iter().any(|c| c == "perf_event"))
        .map(|m| m.mount_point.clone())
}

fn mount_cgroup_v1(target: &Path, controllers: &str) -> io::Result<()> {
    let to_c = |bytes: &[u8]| {
        CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
    };
    let source = to_c(b"cgroup")?;
    let fstype = to_c(b"cgroup")?;
    let target = to_c(target.as_os_str().as_bytes())?;
    let data = to_c(controllers.as_bytes())?;
    // SAFETY: every pointer is a valid NUL-terminated string owned by a
    // CString that outlives the call; mount(2) only reads them.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let digits = bytes
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)))
                .and_then(|d| std::str::from_utf8(d).ok());
            if let Some(value) = digits.and_then(|d| u8::from_str_radix(d, 8).ok()) {
                out.push(value);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/<pid>/mountinfo` (proc(5)), keeping cgroup mounts:
/// `id parent maj:min root mount_point options [optional...] - fstype source super_options`.
pub(crate) fn parse_mountinfo(content: &str) -> Result<Vec<CgroupMount>, ParseError> {
    let mut mounts = Vec::new();
    for line in content.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(separator) = fields.iter().position(|f| *f == "-") else {
            return Err(ParseError::new(line, "no ` - ` separator"));
        };
        if separator < 6 || fields.len() < separator + 3 {
            return Err(ParseError::new(line, "too few fields"));
        }
        let fstype = fields[separator + 1];
        let unified = match fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let super_options = fields.get(separator + 3).copied().unwrap_or("");
        let controllers = if unified {
            Vec::new()
        } else {
            super_options
                .split(',')
                .filter(|o| is_controller_option(o))
                .map(str::to_owned)
                .collect()
        };
        mounts.push(CgroupMount {
            mount_point: PathBuf::from(unescape(fields[4])),
            unified,
            controllers,
        });
    }
    Ok(mounts)
}

/// Super options of a v1 cgroup mount that are not controllers.
fn is_controller_option(option: &str) -> bool {
    !matches!(
        option,
        "rw" | "ro" | "noprefix" | "clone_children" | "xattr" | "cpuset_v2_mode" | "favordynmods"
    ) && !option.starts_with("release_agent=")
        && !option.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
42 31 0:39 / /mnt/my\\040cgroups rw,relatime - cgroup cgroup rw,perf_event
";

    #[test]
    fn mountinfo_lists_cgroup_mounts_with_controllers() {
        let mounts = parse_mountinfo(HYBRID).unwrap();
        assert_eq!(mounts.len(), 5);
        assert_eq!(mounts[0].mount_point, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(mounts[0].controllers, ["cpu"]);
        assert_eq!(mounts[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(mounts[2].controllers, ["name=systemd"]);
        assert!(mounts[3].unified);
        assert!(mounts[3].controllers.is_empty());
        assert_eq!(mounts[4].mount_point, PathBuf::from("/mnt/my cgroups"));
        assert_eq!(mounts[4].controllers, ["perf_event"]);
        assert_eq!(
            perf_event_mount(&mounts),
            Some(PathBuf::from("/mnt/my cgroups"))
        );
        assert_eq!(perf_event_mount(&mounts[..4]), None);
    }

    #[test]
    fn mountinfo_rejects_lines_without_separator() {
        assert!(parse_mountinfo("31 23 0:28 / /sys/fs/cgroup rw tmpfs\n").is_err());
        assert!(parse_mountinfo("1 2 - cgroup\n").is_err());
    }

    #[test]
    fn unescape_handles_octal_and_stray_backslashes() {
        assert_eq!(unescape("a\\040b"), "a b");
        assert_eq!(unescape("a\\"), "a\\");
        assert_eq!(unescape("a\\04"), "a\\04");
        assert_eq!(unescape("a\\999"), "a\\999");
    }

    #[test]
    fn this_process_sees_its_mounts() {
        // Every Linux process can read its own mountinfo; a host without
        // cgroups simply yields an empty list.
        assert!(cgroup_mounts().is_ok());
    }
}

#[cfg(test)]
mod refusal_tests {
    use super::*;

    #[test]
    fn a_root_that_is_not_a_cgroup_root_gets_no_directory_and_no_mount() {
        let bogus = std::env::temp_dir().join(format!(
            "serenity-not-a-cgroup-root-{}/cgroup",
            std::process::id()
        ));
        let before = cgroup_mounts().map(|m| m.len()).unwrap_or(0);
        let answer = ensure_perf_event_hierarchy(&bogus);
        // With perf_event already mounted elsewhere the existing mount is
        // the answer; otherwise the bogus root is refused. Either way
        // nothing is created under it and no mount is added.
        if let Ok(path) = &answer {
            assert!(!path.starts_with(&bogus), "{path:?}");
        }
        assert!(!bogus.exists(), "{bogus:?} was created");
        assert_eq!(cgroup_mounts().map(|m| m.len()).unwrap_or(0), before);
    }
}
