//! Per-cgroup perf counters, kept open continuously.
//!
//! Mesos's perf isolator samples each container for a few seconds per minute
//! by running `perf stat`. Here the counters stay open for the life of the
//! container, so every tick can compute rates over exactly the interval since
//! the previous tick.
//!
//! How: `perf_event_open(2)` in cgroup mode (through the `perf-event2`
//! crate): `pid` is a descriptor of the group's directory in a hierarchy that
//! has the perf_event controller (v1 `<perf_event mount>/<group>`, or any v2
//! group), the flag is `PERF_FLAG_PID_CGROUP`, and there is one counter per
//! online CPU, because cgroup mode is per-CPU only. Counts are summed over
//! CPUs. Kernel and user time are both counted, as `perf stat` run as root
//! does.
//!
//! Events: task-clock and context-switches (software, each on its own), and
//! cycles, instructions and cache-misses (hardware, one group per CPU so they
//! are scheduled together and their ratios are consistent).
//!
//! Multiplexing: every counter is read with `time_enabled` and `time_running`;
//! an interval's count on one CPU is `Δcount × Δenabled / Δrunning`, and 0
//! when `Δrunning` is 0 (Mesos records perf's `<not counted>` as 0).
//!
//! Unsupported events (`EOPNOTSUPP`, `ENOSYS`, `E2BIG`; for hardware events
//! also `ENOENT`, `ENODEV`, `EINVAL` and `EBUSY`) are a normal answer: the
//! event is recorded as [`EventSupport::Unsupported`], one `log::info!` line
//! per event is written per process, and the other events keep counting.
//! Intervals then lack the event, and so does their `PerfStatistics`, as
//! Mesos leaves `<not supported>` fields absent. Any other error opening or
//! reading a counter is a [`ProbeError::Perf`]. In particular a software
//! event's `ENOENT` is an error: software events exist in every kernel with
//! perf_event_open, and in cgroup mode the kernel answers `ENOENT` when the
//! directory is not a group of a hierarchy with the perf_event controller
//! (for example a v1 cpuacct group, or a v2 group while perf_event is bound
//! to a v1 hierarchy). When only hardware events are requested, a task-clock
//! counter is opened and closed first to tell the two cases apart.
//!
//! Units in `PerfStatistics`: `task_clock` is in **milliseconds**, because
//! that is what Mesos stores: its perf parser copies the number `perf stat -x,`
//! prints for task-clock, which is msec (`src/linux/perf.cpp`, `parse()`), so
//! values from this probe and from an agent's perf isolator agree.
//! [`PerfInterval::task_clock_secs`] gives seconds for Rust callers.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::ProbeError;
use crate::host;
use crate::sample::now_secs;
use perf_event::events::{Hardware, Software};
use perf_event::{Builder, Counter};

pub use crate::perf_sample::{PerfInterval, PerfReading, PerfSampler, RawCount};

/// A perf event the probe counts per cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PerfEvent {
    /// Software: CPU time of the group's tasks, nanoseconds.
    TaskClock,
    /// Software: context switches.
    ContextSwitches,
    /// Hardware: CPU cycles.
    Cycles,
    /// Hardware: instructions retired.
    Instructions,
    /// Hardware: last-level cache misses.
    CacheMisses,
}

impl PerfEvent {
    /// Every event, software first.
    pub const ALL: [PerfEvent; 5] = [
        PerfEvent::TaskClock,
        PerfEvent::ContextSwitches,
        PerfEvent::Cycles,
        PerfEvent::Instructions,
        PerfEvent::CacheMisses,
    ];

    /// The hardware events (grouped per CPU).
    pub const HARDWARE: [PerfEvent; 3] = [
        PerfEvent::Cycles,
        PerfEvent::Instructions,
        PerfEvent::CacheMisses,
    ];

    /// perf's name for the event (`task-clock`, `cycles`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PerfEvent::TaskClock => "task-clock",
            PerfEvent::ContextSwitches => "context-switches",
            PerfEvent::Cycles => "cycles",
            PerfEvent::Instructions => "instructions",
            PerfEvent::CacheMisses => "cache-misses",
        }
    }

    /// True for events counted by the CPU's PMU.
    pub fn is_hardware(self) -> bool {
        matches!(
            self,
            PerfEvent::Cycles | PerfEvent::Instructions | PerfEvent::CacheMisses
        )
    }

    fn index(self) -> usize {
        self as usize
    }

    fn builder<'a>(self, cgroup: &'a File, cpu: usize) -> Builder<'a> {
        let mut builder = match self {
            PerfEvent::TaskClock => Builder::new(Software::TASK_CLOCK),
            PerfEvent::ContextSwitches => Builder::new(Software::CONTEXT_SWITCHES),
            PerfEvent::Cycles => Builder::new(Hardware::CPU_CYCLES),
            PerfEvent::Instructions => Builder::new(Hardware::INSTRUCTIONS),
            PerfEvent::CacheMisses => Builder::new(Hardware::CACHE_MISSES),
        };
        builder
            .observe_cgroup(cgroup)
            .one_cpu(cpu)
            .include_kernel()
            .enabled(true);
        builder
    }
}

impl fmt::Display for PerfEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether an event could be opened for a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSupport {
    /// The event is counting.
    Counting,
    /// The kernel or hardware does not provide the event here.
    Unsupported {
        /// The errno of `perf_event_open` (0 when the library reported it
        /// without one).
        errno: i32,
    },
}

/// One log line per unsupported event per process.
static LOGGED_UNSUPPORTED: [AtomicBool; 5] = [
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
];

fn note_unsupported(event: PerfEvent, err: &io::Error) {
    if !LOGGED_UNSUPPORTED[event.index()].swap(true, Ordering::Relaxed) {
        log::info!(
            "perf event {event} is not supported on this host ({err}); \
             perf samples will not include it"
        );
    }
}

fn is_unsupported(event: PerfEvent, err: &io::Error) -> bool {
    if err.kind() == io::ErrorKind::Unsupported {
        return true;
    }
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::E2BIG) => true,
        // Software events exist in every kernel with perf_event_open: for
        // them ENOENT means the directory is not a perf_event group.
        Some(libc::ENOENT | libc::ENODEV | libc::EINVAL | libc::EBUSY) => event.is_hardware(),
        _ => false,
    }
}

/// Adds what a software event's ENOENT means in cgroup mode.
fn explain(event: PerfEvent, err: io::Error) -> io::Error {
    if !event.is_hardware() && err.raw_os_error() == Some(libc::ENOENT) {
        io::Error::new(
            err.kind(),
            format!(
                "{err}: the directory is not a group of a hierarchy with the perf_event controller"
            ),
        )
    } else {
        err
    }
}

/// The counters of one event, one per CPU.
struct EventCounters {
    event: PerfEvent,
    per_cpu: Vec<(usize, Counter)>,
}

/// Perf counters observing one cgroup on every online CPU.
pub struct CgroupPerfCounters {
    cgroup: PathBuf,
    support: Vec<(PerfEvent, EventSupport)>,
    counters: Vec<EventCounters>,
}

impl fmt::Debug for CgroupPerfCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CgroupPerfCounters")
            .field("cgroup", &self.cgroup)
            .field("support", &self.support)
            .finish_non_exhaustive()
    }
}

impl CgroupPerfCounters {
    /// Opens every event of [`PerfEvent::ALL`] for the group at `cgroup_dir`.
    pub fn open(cgroup_dir: &Path) -> Result<Self, ProbeError> {
        Self::open_events(cgroup_dir, &PerfEvent::ALL)
    }

    /// Opens `events` for the group at `cgroup_dir` (a directory in a v1
    /// perf_event hierarchy, or a v2 group). Counting starts at once.
    pub fn open_events(cgroup_dir: &Path, events: &[PerfEvent]) -> Result<Self, ProbeError> {
        let dir = File::open(cgroup_dir).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ProbeError::Vanished {
                    path: cgroup_dir.to_path_buf(),
                }
            } else {
                ProbeError::io(cgroup_dir, e)
            }
        })?;
        let cpus = host::online_cpus()?;
        let mut requested: Vec<PerfEvent> = events.to_vec();
        requested.sort();
        requested.dedup();

        let mut this = CgroupPerfCounters {
            cgroup: cgroup_dir.to_path_buf(),
            support: Vec::new(),
            counters: Vec::new(),
        };
        if requested.iter().all(|e| e.is_hardware()) {
            this.check_group(&dir, &cpus)?;
        }
        for event in requested.iter().copied().filter(|e| !e.is_hardware()) {
            this.open_software(event, &dir, &cpus)?;
        }
        let hardware: Vec<PerfEvent> = requested.into_iter().filter(|e| e.is_hardware()).collect();
        if !hardware.is_empty() {
            this.open_hardware(&hardware, &dir, &cpus)?;
        }
        this.support.sort_by_key(|(event, _)| *event);
        this.counters.sort_by_key(|c| c.event);
        Ok(this)
    }

    fn perf_error(&self, event: PerfEvent, cpu: usize, source: io::Error) -> ProbeError {
        ProbeError::Perf {
            event,
            cgroup: self.cgroup.clone(),
            cpu,
            source: explain(event, source),
        }
    }

    /// Proves that `dir` is a perf_event group before hardware events, whose
    /// ENOENT means "no such event", are opened alone.
    fn check_group(&self, dir: &File, cpus: &[usize]) -> Result<(), ProbeError> {
        let Some(&cpu) = cpus.first() else {
            return Ok(());
        };
        match PerfEvent::TaskClock.builder(dir, cpu).build() {
            Ok(_probe) => Ok(()),
            Err(err) if is_unsupported(PerfEvent::TaskClock, &err) => Ok(()),
            Err(err) => Err(self.perf_error(PerfEvent::TaskClock, cpu, err)),
        }
    }

    fn open_software(
        &mut self,
        event: PerfEvent,
        dir: &File,
        cpus: &[usize],
    ) -> Result<(), ProbeError> {
        let mut per_cpu = Vec::with_capacity(cpus.len());
        for &cpu in cpus {
            match event.builder(dir, cpu).build() {
                Ok(counter) => per_cpu.push((cpu, counter)),
                Err(err) if is_unsupported(event, &err) => {
                    self.mark_unsupported(event, &err);
                    return Ok(());
                }
                Err(err) => return Err(self.perf_error(event, cpu, err)),
            }
        }
        self.support.push((event, EventSupport::Counting));
        self.counters.push(EventCounters { event, per_cpu });
        Ok(())
    }

    fn mark_unsupported(&mut self, event: PerfEvent, err: &io::Error) {
        note_unsupported(event, err);
        self.support.push((
            event,
            EventSupport::Unsupported {
                errno: err.raw_os_error().unwrap_or(0),
            },
        ));
    }

    /// One group per CPU: the first event that opens leads, the others join
    /// it. An event unsupported on any CPU is dropped on every CPU.
    fn open_hardware(
        &mut self,
        events: &[PerfEvent],
        dir: &File,
        cpus: &[usize],
    ) -> Result<(), ProbeError> {
        let mut opened: Vec<EventCounters> = events
            .iter()
            .map(|&event| EventCounters {
                event,
                per_cpu: Vec::new(),
            })
            .collect();
        let mut unsupported: Vec<(PerfEvent, io::Error)> = Vec::new();
        for &cpu in cpus {
            let mut group: Vec<(PerfEvent, Counter)> = Vec::new();
            for &event in events {
                if unsupported.iter().any(|(e, _)| *e == event) {
                    continue;
                }
                let builder = event.builder(dir, cpu);
                let built = match group.first_mut() {
                    None => builder.build(),
                    Some((_, leader)) => builder.build_with_group(leader),
                };
                match built {
                    Ok(counter) => group.push((event, counter)),
                    Err(err) if is_unsupported(event, &err) => unsupported.push((event, err)),
                    Err(err) => return Err(self.perf_error(event, cpu, err)),
                }
            }
            for (event, counter) in group {
                if let Some(slot) = opened.iter_mut().find(|c| c.event == event) {
                    slot.per_cpu.push((cpu, counter));
                }
            }
        }
        for (event, err) in &unsupported {
            self.mark_unsupported(*event, err);
        }
        for counters in opened {
            if unsupported.iter().any(|(e, _)| *e == counters.event) {
                // Dropping closes the descriptors opened on earlier CPUs.
                continue;
            }
            self.support.push((counters.event, EventSupport::Counting));
            self.counters.push(counters);
        }
        Ok(())
    }

    /// The group directory the counters observe.
    pub fn cgroup(&self) -> &Path {
        &self.cgroup
    }

    /// For every requested event, whether it is counting.
    pub fn support(&self) -> &[(PerfEvent, EventSupport)] {
        &self.support
    }

    /// How `event` fared; `None` if it was not requested.
    pub fn support_of(&self, event: PerfEvent) -> Option<&EventSupport> {
        self.support
            .iter()
            .find(|(e, _)| *e == event)
            .map(|(_, support)| support)
    }

    /// Reads every counting event on every CPU.
    pub fn read(&mut self) -> Result<PerfReading, ProbeError> {
        let timestamp = now_secs();
        let mut events = Vec::with_capacity(self.counters.len());
        for counters in &mut self.counters {
            let mut per_cpu = Vec::with_capacity(counters.per_cpu.len());
            for (cpu, counter) in &mut counters.per_cpu {
                let data = counter.read_full().map_err(|source| ProbeError::Perf {
                    event: counters.event,
                    cgroup: self.cgroup.clone(),
                    cpu: *cpu,
                    source,
                })?;
                per_cpu.push(RawCount {
                    cpu: *cpu,
                    value: data.count(),
                    enabled_ns: data.time_enabled().map_or(0, |d| d.as_nanos() as u64),
                    running_ns: data.time_running().map_or(0, |d| d.as_nanos() as u64),
                });
            }
            events.push((counters.event, per_cpu));
        }
        Ok(PerfReading { timestamp, events })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_errors_are_classified_per_event_kind() {
        let errno = io::Error::from_raw_os_error;
        assert!(is_unsupported(PerfEvent::Cycles, &errno(libc::ENOENT)));
        assert!(is_unsupported(PerfEvent::Cycles, &errno(libc::EINVAL)));
        assert!(is_unsupported(
            PerfEvent::TaskClock,
            &errno(libc::EOPNOTSUPP)
        ));
        assert!(!is_unsupported(PerfEvent::TaskClock, &errno(libc::ENOENT)));
        assert!(is_unsupported(
            PerfEvent::Instructions,
            &errno(libc::ENODEV)
        ));
        assert!(!is_unsupported(PerfEvent::TaskClock, &errno(libc::EINVAL)));
        assert!(!is_unsupported(PerfEvent::Cycles, &errno(libc::EACCES)));
        assert!(!is_unsupported(PerfEvent::TaskClock, &errno(libc::EBADF)));
    }

    #[test]
    fn event_names_are_perfs() {
        let names: Vec<&str> = PerfEvent::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            [
                "task-clock",
                "context-switches",
                "cycles",
                "instructions",
                "cache-misses"
            ]
        );
        assert!(PerfEvent::HARDWARE.iter().all(|e| e.is_hardware()));
        assert!(!PerfEvent::TaskClock.is_hardware());
    }

    #[test]
    fn opening_a_missing_group_is_vanished() {
        let err = CgroupPerfCounters::open(Path::new("/nonexistent/serenity/group")).unwrap_err();
        assert!(err.is_vanished(), "{err}");
    }
}
