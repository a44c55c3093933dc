//! Run-queue delay of a group: how long its tasks waited for a CPU.
//!
//! `/proc/<tid>/schedstat` (Documentation/scheduler/sched-stats.rst) holds
//! three numbers per task: time on the CPU (ns), time waiting on a run
//! queue (ns), and the number of timeslices run. The second, summed over
//! the group's tasks (`cgroup.threads` on v2, `tasks` on v1), is the
//! group's run-queue delay; this is the CPU scheduling latency Koordinator
//! watches (spec/anchors.md).
//!
//! A plain sum is not a counter: when a task exits its delay leaves the sum,
//! which would then go backwards. [`RunqueueDelay`] therefore keeps each
//! task's last value and accumulates only what each task added since:
//! - a task seen before adds its increase;
//! - a new task adds all it has (it started since the last reading), except
//!   on the group's first reading, which only records where each task stands;
//! - a task whose value went backwards is a reused tid: a new task;
//! - a task that exits between listing and reading (ENOENT/ESRCH) is skipped;
//!   its last partial interval is lost, never counted twice.
//!
//! So the total is monotonic and starts at 0 when the group is first seen;
//! the pipelines take its rate.

use crate::error::{ParseError, ProbeError};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// One task's `/proc/<tid>/schedstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedstat {
    /// Time spent on a CPU, ns.
    pub on_cpu_ns: u64,
    /// Time spent waiting on a run queue, ns.
    pub run_delay_ns: u64,
    /// Timeslices run on this CPU.
    pub timeslices: u64,
}

/// Parses `/proc/<tid>/schedstat`: three unsigned numbers on one line.
pub(crate) fn parse_schedstat(content: &str) -> Result<Schedstat, ParseError> {
    let line = content.lines().next().unwrap_or("");
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 3 {
        return Err(ParseError::new(line, "expected three numbers"));
    }
    let n = |i: usize| {
        fields[i]
            .parse::<u64>()
            .map_err(|_| ParseError::new(line, format!("field {} is not a count", i + 1)))
    };
    Ok(Schedstat {
        on_cpu_ns: n(0)?,
        run_delay_ns: n(1)?,
        timeslices: n(2)?,
    })
}

/// Parses a cgroup task list (`cgroup.threads`, `tasks`): one id per line.
pub(crate) fn parse_task_list(content: &str) -> Result<Vec<u32>, ParseError> {
    content
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.parse::<u32>()
                .map_err(|_| ParseError::new(l, "not a task id"))
        })
        .collect()
}

/// The monotonic run-queue delay of one group (see the module docs).
#[derive(Debug, Clone)]
pub struct RunqueueDelay {
    proc_root: PathBuf,
    last: HashMap<u32, u64>,
    total_ns: u128,
    primed: bool,
    vanished_tasks: u64,
    reused_tids: u64,
}

impl Default for RunqueueDelay {
    fn default() -> Self {
        RunqueueDelay::new("/proc")
    }
}

impl RunqueueDelay {
    /// A tracker reading task files under `proc_root` (normally `/proc`).
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        RunqueueDelay {
            proc_root: proc_root.into(),
            last: HashMap::new(),
            total_ns: 0,
            primed: false,
            vanished_tasks: 0,
            reused_tids: 0,
        }
    }

    /// The accumulated delay, seconds.
    pub fn total_secs(&self) -> f64 {
        self.total_ns as f64 / 1e9
    }

    /// Tasks listed but gone before their schedstat could be read, so far.
    pub fn vanished_tasks(&self) -> u64 {
        self.vanished_tasks
    }

    /// Task ids whose delay went backwards (reused by a new task), so far.
    pub fn reused_tids(&self) -> u64 {
        self.reused_tids
    }

    /// Folds one reading (task id, its run delay in ns) into the total and
    /// returns the total in seconds. Tasks not in `readings` are forgotten.
    pub fn update(&mut self, readings: &[(u32, u64)]) -> f64 {
        let mut next = HashMap::with_capacity(readings.len());
        for &(tid, delay) in readings {
            let added = match self.last.get(&tid) {
                Some(&prev) if delay >= prev => delay - prev,
                Some(&prev) => {
                    self.reused_tids += 1;
                    log::debug!(target: "serenity",
                        "task {tid}: run-queue delay went backwards ({prev} ns -> {delay} ns); counted as a new task");
                    delay
                }
                None if self.primed => delay,
                None => 0,
            };
            self.total_ns += u128::from(added);
            next.insert(tid, delay);
        }
        self.last = next;
        self.primed = true;
        self.total_secs()
    }

    /// Reads the task list `tasks_file` and every task's schedstat, and
    /// returns the updated total in seconds. A task list that is gone is
    /// [`ProbeError::Vanished`]; tasks that exit meanwhile are skipped; a
    /// task with malformed schedstat text is skipped and logged.
    pub fn read(&mut self, tasks_file: &Path) -> Result<f64, ProbeError> {
        let content = match std::fs::read_to_string(tasks_file) {
            Ok(c) => c,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENODEV) =>
            {
                return Err(ProbeError::Vanished {
                    path: tasks_file.to_path_buf(),
                })
            }
            Err(e) => return Err(ProbeError::io(tasks_file, e)),
        };
        let tids = parse_task_list(&content).map_err(|e| e.in_file(tasks_file))?;
        let mut readings = Vec::with_capacity(tids.len());
        for tid in tids {
            let path = self.proc_root.join(tid.to_string()).join("schedstat");
            match std::fs::read_to_string(&path) {
                Ok(text) => match parse_schedstat(&text) {
                    Ok(s) => readings.push((tid, s.run_delay_ns)),
                    Err(e) => log::warn!(target: "serenity",
                        "skipping task {tid} of {}: {}", tasks_file.display(), e.in_file(&path)),
                },
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound
                        || e.raw_os_error() == Some(libc::ESRCH) =>
                {
                    self.vanished_tasks += 1;
                    log::debug!(target: "serenity",
                        "task {tid} of {} exited before its schedstat was read; skipped", tasks_file.display());
                }
                Err(e) => log::warn!(target: "serenity",
                    "skipping task {tid} of {}: cannot read {}: {e}", tasks_file.display(), path.display()),
            }
        }
        Ok(self.update(&readings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempTree;

    #[test]
    fn schedstat_fields_are_read_and_malformed_text_is_an_error() {
        let s = parse_schedstat("2481312 98765 12\n").unwrap();
        assert_eq!(
            (s.on_cpu_ns, s.run_delay_ns, s.timeslices),
            (2481312, 98765, 12)
        );
        for bad in ["", "1 2\n", "1 x 3\n", "-1 2 3\n"] {
            assert!(parse_schedstat(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn the_group_total_never_goes_backwards_when_tasks_exit() {
        let mut d = RunqueueDelay::new("/nonexistent");
        assert_eq!(
            d.update(&[(1, 1_000_000_000), (2, 500_000_000)]),
            0.0,
            "first reading primes"
        );
        // Task 2 exits; task 1 waited 0.25 s more.
        let t = d.update(&[(1, 1_250_000_000)]);
        assert!((t - 0.25).abs() < 1e-12, "{t}");
        // A new task 3 brings its whole delay, task 1 nothing more.
        let t = d.update(&[(1, 1_250_000_000), (3, 100_000_000)]);
        assert!((t - 0.35).abs() < 1e-12, "{t}");
    }

    #[test]
    fn a_reused_task_id_counts_as_a_new_task() {
        let mut d = RunqueueDelay::new("/nonexistent");
        d.update(&[(7, 900)]);
        let t = d.update(&[(7, 100)]);
        assert!((t - 100e-9).abs() < 1e-15);
        assert_eq!(d.reused_tids(), 1);
    }

    #[test]
    fn vanished_and_malformed_tasks_are_skipped_and_a_vanished_group_is_reported() {
        let tree = TempTree::new("schedstat");
        tree.write("g/cgroup.threads", "10\n11\n12\n");
        tree.write("proc/10/schedstat", "5 1000000000 1\n");
        tree.write("proc/11/schedstat", "garbage\n");
        // Task 12 exited between the listing and the read: no file.
        let mut d = RunqueueDelay::new(tree.path().join("proc"));
        assert_eq!(d.read(&tree.path().join("g/cgroup.threads")).unwrap(), 0.0);
        tree.write("proc/10/schedstat", "5 1500000000 2\n");
        let t = d.read(&tree.path().join("g/cgroup.threads")).unwrap();
        assert!((t - 0.5).abs() < 1e-12, "{t}");
        assert_eq!(d.vanished_tasks(), 2);
        assert!(d
            .read(&tree.path().join("gone/cgroup.threads"))
            .unwrap_err()
            .is_vanished());
        tree.write("g/cgroup.threads", "10\nnot-a-tid\n");
        assert!(!d
            .read(&tree.path().join("g/cgroup.threads"))
            .unwrap_err()
            .is_vanished());
    }
}
