//! Building `ResourceUsage` snapshots from plain descriptions: what the node
//! agent does with cgroup samples, and what tests and benchmarks do with
//! synthetic executors.

use super::proto::{
    ContainerId, Executor, ExecutorId, ExecutorInfo, FrameworkId, PerfStatistics, Resource,
    ResourceStatistics, ResourceUsage, RevocableInfo, Scalar,
};

/// One executor of a snapshot to build.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecutorSpec {
    /// Framework id.
    pub framework_id: String,
    /// Executor id.
    pub executor_id: String,
    /// Container id, if any.
    pub container_id: Option<String>,
    /// Whether its resources are revocable (best-effort).
    pub revocable: bool,
    /// Allocated cpus.
    pub cpus: f64,
    /// Allocated memory in MiB (Mesos's unit).
    pub mem_mib: f64,
    /// Statistics, when the executor reports them.
    pub statistics: Option<ResourceStatistics>,
}

impl ExecutorSpec {
    /// An executor with allocated cpus and memory and no statistics.
    pub fn new(
        framework_id: &str,
        executor_id: &str,
        revocable: bool,
        cpus: f64,
        mem_mib: f64,
    ) -> Self {
        ExecutorSpec {
            framework_id: framework_id.to_owned(),
            executor_id: executor_id.to_owned(),
            container_id: Some(format!("{executor_id}-container")),
            revocable,
            cpus,
            mem_mib,
            statistics: None,
        }
    }

    /// Adds CPU statistics: sample time, cumulative CPU seconds (user; system
    /// 0) and the CPU limit (the allocation).
    pub fn cpu(mut self, timestamp: f64, cpu_secs: f64) -> Self {
        let s = self.statistics.get_or_insert_with(Default::default);
        s.timestamp = Some(timestamp);
        s.cpus_user_time_secs = Some(cpu_secs);
        s.cpus_system_time_secs = Some(0.0);
        s.cpus_limit = Some(self.cpus);
        s.mem_limit_bytes = Some((self.mem_mib * super::MIB) as u64);
        self
    }

    /// Adds memory RSS in bytes.
    pub fn rss(mut self, bytes: u64) -> Self {
        self.statistics
            .get_or_insert_with(Default::default)
            .mem_rss_bytes = Some(bytes);
        self
    }

    /// Adds the starvation totals (cumulative seconds): run-queue delay and
    /// PSI `some` stall time of CPU, memory and IO. `None` leaves one out.
    pub fn starvation(
        mut self,
        runqueue_delay_secs: Option<f64>,
        cpu_some_secs: Option<f64>,
        mem_some_secs: Option<f64>,
        io_some_secs: Option<f64>,
    ) -> Self {
        let s = self.statistics.get_or_insert_with(Default::default);
        s.serenity_runqueue_delay_secs = runqueue_delay_secs;
        s.serenity_cpu_pressure_some_secs = cpu_some_secs;
        s.serenity_mem_pressure_some_secs = mem_some_secs;
        s.serenity_io_pressure_some_secs = io_some_secs;
        self
    }

    /// Adds a perf sample (window start, duration, cycles, instructions).
    pub fn perf(mut self, start: f64, duration: f64, cycles: u64, instructions: u64) -> Self {
        self.statistics.get_or_insert_with(Default::default).perf = Some(PerfStatistics {
            timestamp: Some(start),
            duration: Some(duration),
            cycles: Some(cycles),
            instructions: Some(instructions),
            ..Default::default()
        });
        self
    }
}

/// A scalar resource as Mesos writes it (no role, unreserved).
pub fn scalar(name: &str, value: f64, revocable: bool) -> Resource {
    Resource {
        name: Some(name.to_owned()),
        r#type: Some(0),
        scalar: Some(Scalar { value: Some(value) }),
        revocable: revocable.then_some(RevocableInfo {}),
        ..Default::default()
    }
}

/// Builds a ResourceUsage with the agent's total cpus and memory (MiB).
pub fn usage(total_cpus: f64, total_mem_mib: f64, executors: &[ExecutorSpec]) -> ResourceUsage {
    ResourceUsage {
        total: totals(total_cpus, total_mem_mib),
        executors: executors
            .iter()
            .cloned()
            .map(ExecutorSpec::into_executor)
            .collect(),
    }
}

/// A node's total cpus and memory (MiB), as `ResourceUsage.total`.
pub fn totals(cpus: f64, mem_mib: f64) -> Vec<Resource> {
    vec![scalar("cpus", cpus, false), scalar("mem", mem_mib, false)]
}

impl ExecutorSpec {
    /// The `ResourceUsage.Executor` this spec describes (its statistics
    /// moved, not copied).
    pub fn into_executor(self) -> Executor {
        Executor {
            executor_info: Some(ExecutorInfo {
                name: Some(format!("executor {}", self.executor_id)),
                executor_id: Some(ExecutorId {
                    value: Some(self.executor_id),
                }),
                framework_id: Some(FrameworkId {
                    value: Some(self.framework_id),
                }),
                ..Default::default()
            }),
            allocated: vec![
                scalar("cpus", self.cpus, self.revocable),
                scalar("mem", self.mem_mib, self.revocable),
            ],
            statistics: self.statistics,
            container_id: self.container_id.map(|c| ContainerId {
                value: Some(c),
                parent: None,
            }),
            tasks: Vec::new(),
        }
    }
}

/// Tick `t` of a synthetic node with `n` executors, for benchmarks and
/// profiling. Ticks are 15 s apart (the agent's default estimation interval),
/// so executors leave the estimator's 300 s warm-up after 20 ticks. One in four
/// executors is best-effort (0.25 revocable cpus), the others production (1 cpu); each has 512 MiB allocated,
/// a steady CPU rate between 0.1 and 0.82 CPUs, a perf window (IPC ≈ 0.75,
/// varying slightly) and 200 MiB RSS. The node has 0.8 cpus and 512 MiB per
/// executor.
pub fn synthetic_node(n: usize, t: u64) -> ResourceUsage {
    const PERIOD: f64 = 15.0;
    let time = 1_700_000_000.0 + PERIOD * t as f64;
    let specs: Vec<ExecutorSpec> = (0..n)
        .map(|i| {
            let best_effort = i % 4 == 0;
            let cpus = if best_effort { 0.25 } else { 1.0 };
            let rate = (0.1 + (i % 10) as f64 * 0.08) * cpus;
            let id = format!("executor-{i:05}");
            ExecutorSpec::new("20260101-000000-0000-0000", &id, best_effort, cpus, 512.0)
                .cpu(time, PERIOD * t as f64 * rate)
                .perf(
                    time,
                    PERIOD,
                    30_000_000_000,
                    22_500_000_000 + (t % 13) * 15_000_000,
                )
                .rss(200 << 20)
        })
        .collect();
    usage(n as f64 * 0.8, n as f64 * 512.0, &specs)
}
