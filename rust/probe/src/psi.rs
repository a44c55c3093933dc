//! Pressure stall information (PSI, Linux ≥ 4.20): how long some (or all)
//! tasks stalled waiting for CPU, memory or IO.
//!
//! Files: `/proc/pressure/{cpu,memory,io}` for the node, and
//! `cpu.pressure`, `memory.pressure`, `io.pressure` in each cgroup v2 group
//! (Documentation/accounting/psi.rst). Each has a `some` line and (memory,
//! io; cpu since 5.13) a `full` line:
//!
//! ```text
//! some avg10=0.00 avg60=0.00 avg300=0.00 total=12345
//! full avg10=0.00 avg60=0.00 avg300=0.00 total=678
//! ```
//!
//! Only `total` (cumulative stall time, µs) is used: the pipelines take the
//! rate between two samples themselves, so the interval is theirs, not the
//! kernel's 10/60/300 s averages. A kernel booted with `psi=0` (or built
//! without CONFIG_PSI) has no files or answers EOPNOTSUPP: that is
//! "unsupported", not an error.

use crate::error::{ParseError, ProbeError};
use std::io;
use std::path::{Path, PathBuf};

/// The node-wide PSI directory.
pub const NODE_PSI_DIR: &str = "/proc/pressure";

/// A resource PSI reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PsiResource {
    /// CPU: runnable tasks waiting for a CPU.
    Cpu,
    /// Memory: reclaim, refaults, swap-in.
    Memory,
    /// Block IO.
    Io,
}

impl PsiResource {
    /// All three, in signal order (cpu, memory, io).
    pub const ALL: [PsiResource; 3] = [PsiResource::Cpu, PsiResource::Memory, PsiResource::Io];

    /// The file name under `/proc/pressure`.
    pub fn node_file(self) -> &'static str {
        match self {
            PsiResource::Cpu => "cpu",
            PsiResource::Memory => "memory",
            PsiResource::Io => "io",
        }
    }

    /// The file name in a cgroup v2 group.
    pub fn group_file(self) -> &'static str {
        match self {
            PsiResource::Cpu => "cpu.pressure",
            PsiResource::Memory => "memory.pressure",
            PsiResource::Io => "io.pressure",
        }
    }
}

/// Cumulative stall times of one PSI file, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PsiTotals {
    /// Time in which at least one task stalled.
    pub some_secs: f64,
    /// Time in which all non-idle tasks stalled (absent for cpu before 5.13).
    pub full_secs: Option<f64>,
}

/// Parses a PSI file. The `some` line is required; unknown lines (a future
/// kernel's) are skipped; a `some`/`full` line without a numeric `total` is
/// an error.
pub(crate) fn parse_psi(content: &str) -> Result<PsiTotals, ParseError> {
    let mut some = None;
    let mut full = None;
    for line in content.lines() {
        let mut words = line.split_whitespace();
        let slot = match words.next() {
            Some("some") => &mut some,
            Some("full") => &mut full,
            _ => continue,
        };
        let total = words
            .find_map(|w| w.strip_prefix("total="))
            .ok_or_else(|| ParseError::new(line, "no total= field"))?;
        let us: u64 = total
            .parse()
            .map_err(|_| ParseError::new(line, "total= is not a count of microseconds"))?;
        *slot = Some(us as f64 / 1e6);
    }
    let some_secs = some.ok_or_else(|| ParseError::new(content, "no `some` line"))?;
    Ok(PsiTotals {
        some_secs,
        full_secs: full,
    })
}

/// Reads one PSI file: `Ok(None)` when the kernel does not provide it
/// (absent file, PSI disabled).
pub fn read_psi_file(path: &Path) -> Result<Option<PsiTotals>, ProbeError> {
    match std::fs::read_to_string(path) {
        Ok(content) => parse_psi(&content).map(Some).map_err(|e| e.in_file(path)),
        Err(e) if unsupported(&e) => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Err(ProbeError::Vanished {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(ProbeError::io(path, e)),
    }
}

fn unsupported(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(
            e.raw_os_error(),
            Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)
        )
}

/// Whether this kernel reports PSI: `Err` with the reason when it does not.
pub fn node_psi_support(dir: &Path) -> Result<(), String> {
    match read_psi_file(&dir.join("cpu")) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!(
            "{}/cpu is absent or disabled: PSI is unsupported on this kernel (boot with psi=1, CONFIG_PSI)",
            dir.display()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// The node's PSI totals for `resource` (`None`: unsupported).
pub fn read_node_psi(dir: &Path, resource: PsiResource) -> Result<Option<PsiTotals>, ProbeError> {
    read_psi_file(&dir.join(resource.node_file()))
}

/// A cgroup v2 group's PSI totals for `resource` (`None`: unsupported, or
/// not a v2 group). A group that is gone is [`ProbeError::Vanished`].
pub fn read_group_psi(
    group_dir: &Path,
    resource: PsiResource,
) -> Result<Option<PsiTotals>, ProbeError> {
    let path: PathBuf = group_dir.join(resource.group_file());
    match read_psi_file(&path) {
        Ok(None) if !group_dir.is_dir() => Err(ProbeError::Vanished {
            path: group_dir.to_path_buf(),
        }),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempTree;

    const CPU: &str = "some avg10=4.15 avg60=5.61 avg300=25.20 total=555134041\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";

    #[test]
    fn totals_are_read_and_the_kernel_averages_ignored() {
        let p = parse_psi(CPU).unwrap();
        assert!((p.some_secs - 555.134041).abs() < 1e-9);
        assert_eq!(p.full_secs, Some(0.0));
        let old_cpu = parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=42\n").unwrap();
        assert_eq!(old_cpu.full_secs, None, "cpu had no full line before 5.13");
    }

    #[test]
    fn malformed_psi_text_is_an_error_naming_the_line() {
        for bad in [
            "",
            "full avg10=0.00 total=3\n",
            "some avg10=0.00 avg60=0.00\n",
            "some avg10=1 avg60=2 avg300=3 total=-5\n",
            "some total=12abc\n",
        ] {
            assert!(parse_psi(bad).is_err(), "{bad:?} parsed");
        }
        let e = parse_psi("some avg10=0.00 total=x\n").unwrap_err();
        assert!(e.reason.contains("total="), "{e:?}");
        // A line a future kernel adds is skipped.
        assert!(parse_psi("some total=1\nwhatever 3\n").is_ok());
    }

    #[test]
    fn an_absent_psi_file_is_unsupported_and_a_vanished_group_says_so() {
        let tree = TempTree::new("psi");
        tree.write("g/cpu.pressure", CPU);
        tree.write("g/memory.pressure", "garbage\n");
        let g = tree.path().join("g");
        assert!(read_group_psi(&g, PsiResource::Cpu).unwrap().is_some());
        assert!(read_group_psi(&g, PsiResource::Io).unwrap().is_none());
        let e = read_group_psi(&g, PsiResource::Memory).unwrap_err();
        assert!(e.to_string().contains("memory.pressure"), "{e}");
        let gone = tree.path().join("gone");
        assert!(read_group_psi(&gone, PsiResource::Cpu)
            .unwrap_err()
            .is_vanished());
        assert!(node_psi_support(&tree.path().join("nothing")).is_err());
    }
}
