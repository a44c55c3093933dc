//! Facts about the host the probe needs: the clock tick of `cpuacct.stat`,
//! the online CPUs that per-cgroup perf counters are bound to, and the CPU
//! time spent outside tasks (interrupts, a hypervisor's steal), which
//! per-cgroup task-clock counts and cpuacct does not.

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

/// Where the kernel keeps the node's CPU time by kind.
pub const PROC_STAT_PATH: &str = "/proc/stat";

/// Seconds, summed over CPUs since boot, that CPUs spent serving hard and
/// soft interrupts or were stolen by the hypervisor (`irq`, `softirq` and
/// `steal` of `/proc/stat`'s `cpu` line, in USER_HZ ticks).
///
/// A per-cgroup task-clock counter runs on perf's clock while the group's
/// task is on a CPU, so it includes the interrupts served and the time the
/// vCPU was descheduled by the host meanwhile; the scheduler's run time
/// (cpuacct, CFS quotas) excludes both when the kernel accounts IRQ time and
/// paravirtual steal. On a busy VM the two differ by up to this much.
pub fn interrupt_and_steal_secs() -> Result<f64, ProbeError> {
    let path = Path::new(PROC_STAT_PATH);
    let content = fs::read_to_string(path).map_err(|e| ProbeError::io(path, e))?;
    let ticks = parse_interrupt_and_steal(&content).map_err(|e| e.in_file(path))?;
    Ok(ticks as f64 / user_hz())
}

/// `irq + softirq + steal` of the aggregate `cpu` line, in ticks.
pub(crate) fn parse_interrupt_and_steal(content: &str) -> Result<u64, ParseError> {
    let line = content
        .lines()
        .find(|l| l.split_whitespace().next() == Some("cpu"))
        .ok_or_else(|| ParseError::new(content.lines().next().unwrap_or(""), "no `cpu` line"))?;
    let fields: Vec<&str> = line.split_whitespace().skip(1).collect();
    // user nice system idle iowait irq softirq steal ...
    let field = |i: usize, name: &str| -> Result<u64, ParseError> {
        let text = fields
            .get(i)
            .ok_or_else(|| ParseError::new(line, format!("no `{name}` field (field {})", i + 1)))?;
        text.parse::<u64>()
            .map_err(|_| ParseError::new(line, format!("`{name}` is not a count: {text:?}")))
    };
    Ok(field(5, "irq")? + field(6, "softirq")? + field(7, "steal")?)
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
    fn interrupt_and_steal_are_the_sixth_to_eighth_counts_of_the_cpu_line() {
        let stat = "cpu  6058310 31875 864672 3627058 47287 10 62912 72569 0 0\n\
                    cpu0 2839062 15313 411399 2036447 14280 0 28437 36185 0 0\n";
        assert_eq!(parse_interrupt_and_steal(stat).unwrap(), 10 + 62912 + 72569);
        let short = "cpu  1 2 3 4 5 6 7\n";
        let e = parse_interrupt_and_steal(short)
            .unwrap_err()
            .in_file(Path::new("/proc/stat"))
            .to_string();
        assert!(e.contains("steal"), "{e}");
        assert!(parse_interrupt_and_steal("intr 5\n").is_err());
        assert!(interrupt_and_steal_secs().unwrap() >= 0.0);
    }

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
