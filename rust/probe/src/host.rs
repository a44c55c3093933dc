//! Facts about the host the probe needs: the clock tick of `cpuacct.stat` and
//! the online CPUs that per-cgroup perf counters are bound to.

use std::fs;
use std::path::Path;

use crate::error::{ParseError, ProbeError};

/// Where the kernel lists the online CPUs.
pub const ONLINE_CPUS_PATH: &str = "/sys/devices/system/cpu/online";

/// Clock ticks per second of `cpuacct.stat` (USER_HZ), from
/// `sysconf(_SC_CLK_TCK)`; 100, the value on every mainstream Linux
/// architecture, if sysconf cannot answer.
pub fn user_hz() -> f64 {
    // SAFETY: sysconf only reads a configuration value; it takes no pointers
    // and has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// The online CPUs, from [`ONLINE_CPUS_PATH`].
pub fn online_cpus() -> Result<Vec<usize>, ProbeError> {
    let path = Path::new(ONLINE_CPUS_PATH);
    let content = fs::read_to_string(path).map_err(|e| ProbeError::io(path, e))?;
    parse_cpu_list(&content).map_err(|e| e.in_file(path))
}

/// Parses the kernel's CPU list format (`0-3,5,7-8`).
pub(crate) fn parse_cpu_list(content: &str) -> Result<Vec<usize>, ParseError> {
    let line = content.trim();
    let mut cpus = Vec::new();
    if line.is_empty() {
        return Ok(cpus);
    }
    for part in line.split(',') {
        let bad = || ParseError::new(line, format!("`{part}` is not a CPU or CPU range"));
        match part.split_once('-') {
            None => cpus.push(part.trim().parse::<usize>().map_err(|_| bad())?),
            Some((first, last)) => {
                let first = first.trim().parse::<usize>().map_err(|_| bad())?;
                let last = last.trim().parse::<usize>().map_err(|_| bad())?;
                if last < first || last - first > 65_536 {
                    return Err(bad());
                }
                cpus.extend(first..=last);
            }
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_list_expands_ranges_and_singles() {
        assert_eq!(parse_cpu_list("0-1\n").unwrap(), vec![0, 1]);
        assert_eq!(parse_cpu_list("0,2-4,7\n").unwrap(), vec![0, 2, 3, 4, 7]);
        assert_eq!(parse_cpu_list("3\n").unwrap(), vec![3]);
        assert!(parse_cpu_list("\n").unwrap().is_empty());
    }

    #[test]
    fn cpu_list_rejects_garbage_and_reversed_ranges() {
        assert!(parse_cpu_list("a-b").is_err());
        assert!(parse_cpu_list("4-2").is_err());
        assert!(parse_cpu_list("0-99999999999").is_err());
        assert!(parse_cpu_list("1,,2").is_err());
    }

    #[test]
    fn user_hz_is_positive() {
        assert!(user_hz() > 0.0);
    }
}
