//! Shared helpers of the live tests: skipping without root, unique group
//! names, guards that kill children and remove groups, a busy child that
//! waits to be placed in its groups before it starts working.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Tests of one binary that put load on the CPUs run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the binary-wide lock, surviving a panicked holder.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Prints `SKIP: <test>: <reason>` to stderr, bypassing the test harness's
/// output capture (which only catches `eprintln!`), so skips are never
/// silent: the test returns without checking anything, and scripts/test.sh
/// counts it as skipped, not passed.
pub fn skip(test: &str, reason: &str) {
    say(&format!("SKIP: {test}: {reason}\n"));
}

/// Prints `SKIP part: <test>: <reason>`: one part of a test cannot run here
/// (e.g. no PSI, no perf_event hierarchy) while the rest still checks;
/// scripts/test.sh names it in its summary without uncounting the test.
pub fn skip_part(test: &str, reason: &str) {
    say(&format!("SKIP part: {test}: {reason}\n"));
}

/// Writes `line` to stderr in one write(2), so that it is not interleaved
/// with libtest's output of the tests running in parallel.
fn say(line: &str) {
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// True when running as root; otherwise prints a SKIP line.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        skip(test, "needs root (geteuid != 0) to create cgroups");
        return false;
    }
    true
}

/// `serenity-test-<pid>-<nanos>`.
pub fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("serenity-test-{}-{nanos}", std::process::id())
}

/// Writes `content` to a cgroup file, panicking with the path on failure.
pub fn write(path: &Path, content: &str) {
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Moves process `pid` into the group at `dir`.
pub fn attach(dir: &Path, pid: u32) {
    write(&dir.join("cgroup.procs"), &pid.to_string());
}

/// Groups created by a test, removed deepest first on drop.
#[derive(Default)]
pub struct Groups {
    created: Vec<PathBuf>,
}

impl Groups {
    pub fn new() -> Self {
        Groups::default()
    }

    /// Creates `dir` (its parent must exist) and remembers it.
    pub fn create(&mut self, dir: &Path) -> std::io::Result<()> {
        fs::create_dir(dir)?;
        self.created.push(dir.to_path_buf());
        Ok(())
    }

    /// Creates `dir` or panics naming it.
    pub fn make(&mut self, dir: &Path) {
        self.create(dir)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    }
}

impl Drop for Groups {
    fn drop(&mut self) {
        for dir in self.created.iter().rev() {
            let mut last = None;
            for _ in 0..40 {
                match fs::remove_dir(dir) {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        last = None;
                        break;
                    }
                    Err(e) => {
                        last = Some(e);
                        thread::sleep(Duration::from_millis(50));
                    }
                }
            }
            if let Some(e) = last {
                eprintln!(
                    "warning: could not remove test cgroup {}: {e}",
                    dir.display()
                );
            }
        }
    }
}

/// A child process, killed and reaped on drop.
pub struct Busy {
    child: Child,
    gate: Option<ChildStdin>,
}

/// A shell that waits for a line on stdin, then holds an 8 MB string in
/// memory and spins forever. Place it in its groups, then [`Busy::release`].
pub fn spawn_busy() -> Busy {
    let script = "read go; x=$(head -c 8000000 /dev/zero | tr '\\000' a); while :; do :; done";
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn sh");
    let gate = child.stdin.take();
    Busy { child, gate }
}

impl Busy {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets the child start its work.
    pub fn release(&mut self) {
        if let Some(mut gate) = self.gate.take() {
            gate.write_all(b"go\n").expect("release busy child");
            // Keep stdin open: dropping it is harmless, but the child never
            // reads again either way.
            self.gate = Some(gate);
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Does this host have a CPU PMU (hardware events can exist)?
pub fn host_has_cpu_pmu() -> bool {
    let Ok(entries) = fs::read_dir("/sys/bus/event_source/devices") else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name == "cpu"
            || name.starts_with("cpu_")
            || name.starts_with("armv")
            || name.contains("pmu")
    })
}

/// The perf_event hierarchy for a test: mounted by
/// [`serenity_probe::ensure_perf_event_hierarchy`] if it was absent, and then
/// unmounted again on drop, so the host is left as it was found.
pub struct PerfMount {
    pub path: PathBuf,
    mounted_here: bool,
}

impl PerfMount {
    pub fn ensure(root: &Path) -> Result<PerfMount, serenity_probe::ProbeError> {
        let before = serenity_probe::cgroup_mounts()?;
        let was_there = serenity_probe::perf_event_mount(&before).is_some()
            || before.iter().any(|m| m.unified && m.mount_point == root);
        let path = serenity_probe::ensure_perf_event_hierarchy(root)?;
        Ok(PerfMount {
            path,
            mounted_here: !was_there,
        })
    }
}

impl Drop for PerfMount {
    fn drop(&mut self) {
        if !self.mounted_here {
            return;
        }
        let Ok(target) = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes()) else {
            return;
        };
        // Removed groups linger until their last reference (an exiting task, a
        // closed perf event) is released. Unmounting while one lingers keeps
        // the hierarchy alive, unmounted, with perf_event still bound to it;
        // so wait until only the root group is left.
        for _ in 0..60 {
            if perf_event_cgroup_count() <= Some(1) {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        for _ in 0..40 {
            // SAFETY: target is a valid NUL-terminated path that outlives the
            // call; umount only reads it.
            if unsafe { libc::umount(target.as_ptr()) } == 0 {
                let _ = fs::remove_dir(&self.path);
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "warning: could not unmount the test's perf_event hierarchy at {}: {}",
            self.path.display(),
            std::io::Error::last_os_error()
        );
    }
}

/// `num_cgroups` of the perf_event line of /proc/cgroups.
fn perf_event_cgroup_count() -> Option<u64> {
    let table = fs::read_to_string("/proc/cgroups").ok()?;
    table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["perf_event", _hierarchy, count, _enabled] => count.parse().ok(),
            _ => None,
        }
    })
}

/// What a per-cgroup task-clock counter may count beyond run time from the
/// moment [`BeyondRunTime::start`] is called: the node's interrupt and
/// steal time (`host::interrupt_and_steal_secs`, all CPUs: an upper bound of
/// one task's share), plus a `/proc/stat` tick per CPU for its rounding.
pub struct BeyondRunTime {
    at_start: f64,
}

impl BeyondRunTime {
    /// Starts the window.
    pub fn start() -> BeyondRunTime {
        BeyondRunTime {
            at_start: serenity_probe::host::interrupt_and_steal_secs().expect("read /proc/stat"),
        }
    }

    /// `(interrupt + steal seconds so far, the same plus the rounding)`.
    pub fn secs(&self) -> (f64, f64) {
        let outside = serenity_probe::host::interrupt_and_steal_secs().expect("read /proc/stat")
            - self.at_start;
        let cpus = serenity_probe::host::online_cpus()
            .expect("online CPUs")
            .len() as f64;
        (outside, outside + cpus / serenity_probe::host::user_hz())
    }
}

/// How far `value` lies outside `lo ..= hi`, relative to the bound it
/// passes; 0 inside.
pub fn outside_by(value: f64, lo: f64, hi: f64) -> f64 {
    if value < lo {
        (lo - value) / lo
    } else if value > hi {
        (value - hi) / hi
    } else {
        0.0
    }
}
