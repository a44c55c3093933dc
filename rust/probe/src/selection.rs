//! Which statistics a read fills, and so which cgroup files it reads.
//!
//! Every read fills the CPU times (`cpuacct.stat`; v2 `cpu.stat`) and the
//! hard limits an executor's allocation is derived from (v1
//! `cpu.cfs_quota_us`, `cpu.cfs_period_us`, `memory.limit_in_bytes`; v2
//! `cpu.max`, `memory.max`), with the soft limits (`cpu.shares`,
//! `memory.soft_limit_in_bytes`; v2 `cpu.weight`) where no hard limit is
//! set. The rest is optional:
//!
//! | field | fills | v1 files | v2 files |
//! | --- | --- | --- | --- |
//! | `cpu_total` | `cpu_usage_secs` | `cpuacct.usage` | (in `cpu.stat`, always) |
//! | `throttling` | `cpu_nr_periods`, `cpu_nr_throttled`, `cpu_throttled_secs` | `cpu.stat` | (in `cpu.stat`, always) |
//! | `soft_limits` | `cpus_soft_limit`, `cpu_weight`, `mem_soft_limit_bytes` also under a hard limit | `cpu.shares`, `memory.soft_limit_in_bytes` | `cpu.weight` |
//! | `memory_usage` | `mem_total_bytes`, `mem_total_memsw_bytes` (v1), `mem_swap_bytes` (v2) | `memory.usage_in_bytes`, `memory.memsw.usage_in_bytes` | `memory.current`, `memory.swap.current` |
//! | `memory_stat` | `mem_rss_bytes`, `mem_cache_bytes`, `mem_mapped_file_bytes`, `mem_unevictable_bytes`, `mem_swap_bytes` (v1) | `memory.stat` | `memory.stat` |
//! | `blkio` | `blkio` | `blkio.throttle.io_serviced`, `blkio.throttle.io_service_bytes` | `io.stat` |
//! | `pids` | `processes`, `threads` | `cgroup.procs`, `tasks` | `cgroup.procs`, `cgroup.threads` |

/// The optional parts of a cgroup read (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selection {
    /// Total CPU time at nanosecond resolution (v1 `cpuacct.usage`).
    pub cpu_total: bool,
    /// CFS period and throttling counters (v1 `cpu.stat`).
    pub throttling: bool,
    /// Soft limits even where a hard limit is set.
    pub soft_limits: bool,
    /// Memory charged (and memory plus swap, or swap).
    pub memory_usage: bool,
    /// The `memory.stat` breakdown (rss, cache, mapped file, swap, ...).
    pub memory_stat: bool,
    /// Block I/O counters.
    pub blkio: bool,
    /// Process and thread counts.
    pub pids: bool,
}

impl Selection {
    /// Everything: the full Mesos `ResourceStatistics` the probe knows.
    pub const ALL: Selection = Selection {
        cpu_total: true,
        throttling: true,
        soft_limits: true,
        memory_usage: true,
        memory_stat: true,
        blkio: true,
        pids: true,
    };

    /// Only what every read fills: CPU times and the allocation's limits.
    pub const ALLOCATION: Selection = Selection {
        cpu_total: false,
        throttling: false,
        soft_limits: false,
        memory_usage: false,
        memory_stat: false,
        blkio: false,
        pids: false,
    };

    /// The names of the optional parts that are on, for log lines
    /// (`"throttling, memory_stat"`; `"none"` when none is).
    pub fn describe(&self) -> String {
        let parts = [
            (self.cpu_total, "cpu_total"),
            (self.throttling, "throttling"),
            (self.soft_limits, "soft_limits"),
            (self.memory_usage, "memory_usage"),
            (self.memory_stat, "memory_stat"),
            (self.blkio, "blkio"),
            (self.pids, "pids"),
        ];
        let on: Vec<&str> = parts
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        if on.is_empty() {
            "none".to_owned()
        } else {
            on.join(", ")
        }
    }
}

impl Default for Selection {
    /// [`Selection::ALL`].
    fn default() -> Self {
        Selection::ALL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_name_the_parts_that_are_on() {
        assert_eq!(Selection::ALLOCATION.describe(), "none");
        let s = Selection {
            throttling: true,
            memory_stat: true,
            ..Selection::ALLOCATION
        };
        assert_eq!(s.describe(), "throttling, memory_stat");
        assert_eq!(Selection::default(), Selection::ALL);
    }
}
