//! Which cgroup files the sampler reads: the ones behind the signals the
//! configured pipelines read, as perf counters are opened only for a
//! pipeline that reads a perf signal.
//!
//! The pipelines see a group through the built-in signals
//! (`serenity_core::signal::BUILTIN_SIGNALS`), the executor's allocation and
//! the statistics' timestamp; nothing else of the statistics is read by any
//! stage. So every tick reads, for every group,
//!
//! - the CPU times (`cpu_usage`): v1 `cpuacct.stat`, v2 `cpu.stat`;
//! - the limits the allocation comes from (`cpus_allocated`,
//!   `mem_allocated_bytes`, and `cpus_limit`, `mem_limit_bytes`): v1
//!   `cpu.cfs_quota_us`, `cpu.cfs_period_us`, `memory.limit_in_bytes`, and
//!   `cpu.shares` / `memory.soft_limit_in_bytes` where no hard limit is
//!   set; v2 `cpu.max`, `memory.max`, and `cpu.weight` where no CPU limit
//!   is set;
//!
//! and only when some stage of either pipeline reads the signal:
//!
//! | signal | reads |
//! | --- | --- |
//! | `cpu_throttle_ratio` | v1 `cpu.stat` (on v2 it is in `cpu.stat` anyway) |
//! | `mem_rss_bytes` | `memory.stat` |
//! | `runqueue_delay` | the task list and every task's `/proc/<tid>/schedstat` |
//! | `cpu_pressure`, `mem_pressure`, `io_pressure` | `cpu.pressure`, `memory.pressure`, `io.pressure` (v2) |
//!
//! Never read for the pipelines (they are in no signal): `cpuacct.usage`,
//! `memory.usage_in_bytes`, `memory.memsw.usage_in_bytes`, v2
//! `memory.current` and `memory.swap.current`, blkio / `io.stat`,
//! `cgroup.procs`, `tasks` / `cgroup.threads` (for counts). `[cgroups]
//! all_statistics = true` reads all of them, so that every executor
//! carries the full Mesos `ResourceStatistics` (and every built-in signal
//! shows in the metrics), whether or not a pipeline reads it.

use serenity_core::Pipeline;
use serenity_probe::{Selection, StarvationParts};

/// The built-in signals every read provides (CPU times, limits,
/// allocation, timestamp).
pub const ALWAYS_READ: &[&str] = &[
    "cpu_usage",
    "cpus_limit",
    "cpus_allocated",
    "mem_limit_bytes",
    "mem_allocated_bytes",
    "age_secs",
];

/// What the sampler reads for every group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The optional cgroup files.
    pub selection: Selection,
    /// The starvation totals.
    pub starvation: StarvationParts,
}

impl Needs {
    /// Everything the probe can read.
    pub const ALL: Needs = Needs {
        selection: Selection::ALL,
        starvation: StarvationParts::ALL,
    };

    /// Only what every read provides.
    pub const MINIMAL: Needs = Needs {
        selection: Selection::ALLOCATION,
        starvation: StarvationParts::NONE,
    };

    /// The files behind the signals some pipeline reads (everything with
    /// `all`).
    pub fn of(all: bool, pipelines: &[&Pipeline]) -> Needs {
        if all {
            return Needs::ALL;
        }
        Needs::of_signals(|name| pipelines.iter().any(|p| p.signals().is_read(name)))
    }

    /// The files behind the signals `read` says are read.
    pub fn of_signals(read: impl Fn(&str) -> bool) -> Needs {
        let mut needs = Needs::MINIMAL;
        needs.selection.throttling = read("cpu_throttle_ratio");
        needs.selection.memory_stat = read("mem_rss_bytes");
        needs.starvation = StarvationParts {
            runqueue: read("runqueue_delay"),
            cpu_pressure: read("cpu_pressure"),
            mem_pressure: read("mem_pressure"),
            io_pressure: read("io_pressure"),
        };
        needs
    }

    /// One line for the log: what is read beyond CPU times and limits.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if *self == Needs::ALL {
            return "every cgroup file (`all_statistics = true`)".to_owned();
        }
        let s = &self.selection;
        for (on, what) in [
            (s.throttling, "cpu.stat (cpu_throttle_ratio)"),
            (s.memory_stat, "memory.stat (mem_rss_bytes)"),
            (self.starvation.runqueue, "task schedstat (runqueue_delay)"),
            (self.starvation.cpu_pressure, "cpu.pressure"),
            (self.starvation.mem_pressure, "memory.pressure"),
            (self.starvation.io_pressure, "io.pressure"),
        ] {
            if on {
                parts.push(what);
            }
        }
        let extra = if parts.is_empty() {
            "nothing else".to_owned()
        } else {
            parts.join(", ")
        };
        format!(
            "CPU times and limits, and {extra}: what the pipelines' signals need (set \
             `[cgroups] all_statistics = true` to read every file)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serenity_core::signal::{BUILTIN_SIGNALS, PERF_SIGNALS};

    /// Signals whose files are read only on demand.
    const ON_DEMAND: &[&str] = &[
        "cpu_throttle_ratio",
        "mem_rss_bytes",
        "runqueue_delay",
        "cpu_pressure",
        "mem_pressure",
        "io_pressure",
    ];

    #[test]
    fn every_builtin_signal_has_its_files_accounted_for() {
        for (name, _) in BUILTIN_SIGNALS {
            let known = ALWAYS_READ.contains(name)
                || ON_DEMAND.contains(name)
                || PERF_SIGNALS.contains(name);
            assert!(
                known,
                "built-in signal {name}: say in needs.rs which cgroup files it needs"
            );
        }
        for name in ON_DEMAND {
            let one = Needs::of_signals(|n| n == *name);
            assert_ne!(one, Needs::MINIMAL, "{name} reads nothing");
        }
        for name in ALWAYS_READ.iter().chain(PERF_SIGNALS) {
            assert_eq!(Needs::of_signals(|n| n == *name), Needs::MINIMAL, "{name}");
        }
    }

    #[test]
    fn the_pipelines_decide_and_all_statistics_overrides() {
        let build = |text: &str| {
            serenity_core::build_pipeline("p.toml", text, &[], Default::default()).unwrap()
        };
        let cpu = build(
            "kind = \"qos\"\n[[stage]]\ntype = \"ema\"\ninput = \"cpu_usage\"\noutput = \"u\"\n",
        );
        let rss = build("kind = \"estimator\"\n[[stage]]\ntype = \"memory_slack\"\n");
        let throttle = build(
            "kind = \"qos\"\n[[stage]]\ntype = \"ema\"\ninput = \"cpu_throttle_ratio\"\noutput = \"t\"\n",
        );
        assert_eq!(Needs::of(false, &[&cpu]), Needs::MINIMAL);
        assert_eq!(Needs::of(true, &[&cpu]), Needs::ALL);
        let both = Needs::of(false, &[&cpu, &rss]);
        assert!(both.selection.memory_stat && !both.selection.throttling);
        assert!(Needs::of(false, &[&throttle]).selection.throttling);
        assert!(Needs::of(false, &[]).describe().contains("nothing else"));
        assert!(both.describe().contains("memory.stat"));
    }
}
