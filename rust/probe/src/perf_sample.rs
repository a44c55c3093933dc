//! Readings of per-cgroup perf counters, the intervals between them (scaled
//! for multiplexing), their Mesos view, and the sampler that chains them.
//! See [`crate::perf`] for the counting itself and for units.

use std::path::Path;

use serenity_core::model::proto::PerfStatistics;

use crate::error::ProbeError;
use crate::perf::{CgroupPerfCounters, PerfEvent};

/// One counter's cumulative values on one CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawCount {
    /// The CPU.
    pub cpu: usize,
    /// The raw count (task-clock: nanoseconds).
    pub value: u64,
    /// Time the counter was enabled, nanoseconds.
    pub enabled_ns: u64,
    /// Time the counter was actually on the PMU, nanoseconds.
    pub running_ns: u64,
}

/// Cumulative counter values at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfReading {
    /// Seconds since the Unix epoch, just before the counters were read.
    pub timestamp: f64,
    /// Per counting event, the per-CPU raw values.
    pub events: Vec<(PerfEvent, Vec<RawCount>)>,
}

impl PerfReading {
    /// The counts between `earlier` and this reading, scaled for
    /// multiplexing per CPU and summed. Events or CPUs missing from either
    /// reading are left out.
    pub fn interval_since(&self, earlier: &PerfReading) -> PerfInterval {
        let mut counts = Vec::new();
        for (event, later_cpus) in &self.events {
            let Some((_, earlier_cpus)) = earlier.events.iter().find(|(e, _)| e == event) else {
                continue;
            };
            let total: f64 = later_cpus
                .iter()
                .filter_map(|later| {
                    let before = earlier_cpus.iter().find(|c| c.cpu == later.cpu)?;
                    Some(scaled_delta(before, later))
                })
                .sum();
            counts.push((*event, total));
        }
        PerfInterval {
            timestamp: earlier.timestamp,
            duration_secs: (self.timestamp - earlier.timestamp).max(0.0),
            counts,
        }
    }
}

/// `Δcount × Δenabled / Δrunning`; 0 when the counter never ran.
fn scaled_delta(before: &RawCount, after: &RawCount) -> f64 {
    let value = after.value.saturating_sub(before.value) as f64;
    let enabled = after.enabled_ns.saturating_sub(before.enabled_ns);
    let running = after.running_ns.saturating_sub(before.running_ns);
    if running == 0 {
        0.0
    } else if running >= enabled {
        value
    } else {
        value * enabled as f64 / running as f64
    }
}

/// Counts of the events over one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfInterval {
    /// Start of the interval, seconds since the Unix epoch.
    pub timestamp: f64,
    /// Length of the interval, seconds.
    pub duration_secs: f64,
    /// Scaled counts of the events that were counting (task-clock in ns).
    pub counts: Vec<(PerfEvent, f64)>,
}

impl PerfInterval {
    /// The scaled count of `event`; `None` if it was not counting.
    pub fn count(&self, event: PerfEvent) -> Option<f64> {
        self.counts
            .iter()
            .find(|(e, _)| *e == event)
            .map(|(_, count)| *count)
    }

    /// CPU time of the group's tasks during the interval, seconds.
    pub fn task_clock_secs(&self) -> Option<f64> {
        self.count(PerfEvent::TaskClock).map(|ns| ns / 1e9)
    }

    /// The Mesos view: `timestamp` (start) and `duration`, counts rounded to
    /// integers, `task_clock` in milliseconds (see the module docs); events
    /// that were not counting are absent.
    pub fn to_statistics(&self) -> PerfStatistics {
        let whole = |event| self.count(event).map(|c| c.round() as u64);
        PerfStatistics {
            timestamp: Some(self.timestamp),
            duration: Some(self.duration_secs),
            task_clock: self.count(PerfEvent::TaskClock).map(|ns| ns / 1e6),
            context_switches: whole(PerfEvent::ContextSwitches),
            cycles: whole(PerfEvent::Cycles),
            instructions: whole(PerfEvent::Instructions),
            cache_misses: whole(PerfEvent::CacheMisses),
            ..Default::default()
        }
    }
}

/// Continuous counters of one group plus the reading that ends the previous
/// interval: each [`PerfSampler::sample`] yields the interval since the last.
#[derive(Debug)]
pub struct PerfSampler {
    counters: CgroupPerfCounters,
    last: PerfReading,
}

impl PerfSampler {
    /// Opens every event for the group at `cgroup_dir` and takes the first
    /// reading.
    pub fn open(cgroup_dir: &Path) -> Result<Self, ProbeError> {
        Self::new(CgroupPerfCounters::open(cgroup_dir)?)
    }

    /// Takes the first reading of already opened counters.
    pub fn new(mut counters: CgroupPerfCounters) -> Result<Self, ProbeError> {
        let last = counters.read()?;
        Ok(PerfSampler { counters, last })
    }

    /// The counters, for their support table.
    pub fn counters(&self) -> &CgroupPerfCounters {
        &self.counters
    }

    /// The interval since the previous sample (or since opening).
    pub fn sample(&mut self) -> Result<PerfInterval, ProbeError> {
        let now = self.counters.read()?;
        let interval = now.interval_since(&self.last);
        self.last = now;
        Ok(interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(cpu: usize, value: u64, enabled_ns: u64, running_ns: u64) -> RawCount {
        RawCount {
            cpu,
            value,
            enabled_ns,
            running_ns,
        }
    }

    #[test]
    fn intervals_scale_each_cpu_for_multiplexing_and_sum() {
        let earlier = PerfReading {
            timestamp: 100.0,
            events: vec![
                (
                    PerfEvent::Cycles,
                    vec![raw(0, 1000, 10, 10), raw(1, 0, 0, 0)],
                ),
                (PerfEvent::TaskClock, vec![raw(0, 0, 0, 0)]),
            ],
        };
        let later = PerfReading {
            timestamp: 102.5,
            events: vec![
                // cpu 0 ran half the time: 500 counted -> 1000 scaled.
                (
                    PerfEvent::Cycles,
                    vec![raw(0, 1500, 30, 20), raw(1, 300, 40, 40)],
                ),
                (PerfEvent::TaskClock, vec![raw(0, 2_000_000_000, 5, 5)]),
                (PerfEvent::Instructions, vec![raw(0, 7, 1, 1)]),
            ],
        };
        let interval = later.interval_since(&earlier);
        assert_eq!(interval.timestamp, 100.0);
        assert_eq!(interval.duration_secs, 2.5);
        assert_eq!(interval.count(PerfEvent::Cycles), Some(1300.0));
        assert_eq!(interval.task_clock_secs(), Some(2.0));
        assert_eq!(interval.count(PerfEvent::Instructions), None);
    }

    #[test]
    fn counter_that_never_ran_counts_zero() {
        assert_eq!(scaled_delta(&raw(0, 5, 10, 3), &raw(0, 9, 20, 3)), 0.0);
        assert_eq!(scaled_delta(&raw(0, 5, 10, 10), &raw(0, 9, 10, 10)), 0.0);
        assert_eq!(scaled_delta(&raw(0, 9, 10, 10), &raw(0, 5, 20, 20)), 0.0);
    }

    #[test]
    fn statistics_use_mesos_units_and_omit_uncounted_events() {
        let interval = PerfInterval {
            timestamp: 50.0,
            duration_secs: 1.0,
            counts: vec![
                (PerfEvent::TaskClock, 1_500_000_000.0),
                (PerfEvent::ContextSwitches, 41.6),
            ],
        };
        let stats = interval.to_statistics();
        assert_eq!(stats.timestamp, Some(50.0));
        assert_eq!(stats.duration, Some(1.0));
        assert_eq!(
            stats.task_clock,
            Some(1500.0),
            "milliseconds, as Mesos stores perf's value"
        );
        assert_eq!(stats.context_switches, Some(42));
        assert_eq!(stats.cycles, None);
        assert_eq!(stats.instructions, None);
        assert_eq!(stats.cache_misses, None);
    }
}
