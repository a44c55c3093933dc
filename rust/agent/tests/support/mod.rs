//! Shared helpers of the agent's live tests: root check with a printed SKIP
//! line, unique cgroup trees removed on drop (processes killed, groups
//! thawed first), gated busy children, temporary config directories and the
//! perf_event mount guard.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The v1 hierarchies the tests create groups in.
pub const V1_CONTROLLERS: [&str; 4] = ["cpu", "cpuacct", "memory", "freezer"];
/// Where this host mounts cgroups.
pub const ROOT: &str = "/sys/fs/cgroup";

static SERIAL: Mutex<()> = Mutex::new(());

/// Tests of one binary that load the CPUs or mount hierarchies run one at a
/// time.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Prints `SKIP: <test>: <reason>` past the harness's output capture: the
/// test returns without checking anything, and scripts/test.sh counts it as
/// skipped, not passed.
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

/// True as root on a host with the v1 controllers the tests use; otherwise
/// prints a SKIP line.
pub fn v1_root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        skip(test, "needs root (geteuid != 0) to create cgroups");
        return false;
    }
    for c in V1_CONTROLLERS {
        if !Path::new(ROOT).join(c).join("cgroup.procs").exists() {
            skip(
                test,
                &format!("needs the cgroup v1 {c} hierarchy at {ROOT}/{c}"),
            );
            return false;
        }
    }
    true
}

/// `serenity-agent-test-<pid>-<nanos>`.
pub fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("serenity-agent-test-{}-{nanos}", std::process::id())
}

/// Writes a cgroup file, panicking with the path on failure.
pub fn write(path: &Path, content: &str) {
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Reads a cgroup file, trimmed.
pub fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// The pids in a group's `cgroup.procs`.
pub fn pids(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Polls `check` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A test tree `<hierarchy>/<unique name>/...` in several hierarchies (v1
/// controllers, or the v2 unified root as the single "hierarchy"), removed
/// deepest first on drop after thawing and killing whatever is left inside.
pub struct Tree {
    pub name: String,
    hierarchies: Vec<PathBuf>,
    created: Vec<PathBuf>,
}

impl Tree {
    /// A tree in the given hierarchy directories (each must exist).
    pub fn new(hierarchies: &[PathBuf]) -> Tree {
        let mut tree = Tree {
            name: unique_name(),
            hierarchies: hierarchies.to_vec(),
            created: Vec::new(),
        };
        tree.mkdir("");
        tree
    }

    /// A tree in the v1 cpu, cpuacct, memory and freezer hierarchies.
    pub fn v1() -> Tree {
        let dirs: Vec<PathBuf> = V1_CONTROLLERS
            .iter()
            .map(|c| Path::new(ROOT).join(c))
            .collect();
        Tree::new(&dirs)
    }

    /// `<hierarchy>/<name>/<rel>` of the hierarchy whose directory ends in
    /// `controller` (the first hierarchy for "").
    pub fn dir(&self, controller: &str, rel: &str) -> PathBuf {
        let h = self
            .hierarchies
            .iter()
            .find(|h| controller.is_empty() || h.ends_with(controller))
            .unwrap_or_else(|| panic!("no {controller} hierarchy in this tree"));
        h.join(&self.name).join(rel)
    }

    /// The path of `rel` relative to the hierarchy root (`<name>/<rel>`).
    pub fn rel(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{rel}", self.name)
        }
    }

    /// Creates `<name>/<rel>` in every hierarchy.
    pub fn mkdir(&mut self, rel: &str) {
        for h in &self.hierarchies {
            let dir = h.join(&self.name).join(rel);
            fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            self.created.push(dir);
        }
    }

    /// Moves `pid` into `<name>/<rel>` of every hierarchy.
    pub fn attach(&self, rel: &str, pid: u32) {
        for h in &self.hierarchies {
            write(
                &h.join(&self.name).join(rel).join("cgroup.procs"),
                &pid.to_string(),
            );
        }
    }

    /// `<hierarchy>/<name>/<rel>` of a hierarchy outside the tree's list.
    pub fn dir_in(&self, hierarchy: &Path, rel: &str) -> PathBuf {
        hierarchy.join(&self.name).join(rel)
    }

    /// Creates `<name>/<rel>` in one more hierarchy (perf_event, cpuset).
    pub fn mkdir_in(&mut self, hierarchy: &Path, rel: &str) -> PathBuf {
        let dir = hierarchy.join(&self.name).join(rel);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        // Remember every created level so that drop removes them.
        let mut level = hierarchy.join(&self.name);
        let mut levels = vec![level.clone()];
        for part in Path::new(rel).components() {
            level = level.join(part);
            levels.push(level.clone());
        }
        for l in levels {
            if !self.created.contains(&l) {
                self.created.push(l);
            }
        }
        dir
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // Deepest first: sort by depth, longest paths first.
        let mut dirs = self.created.clone();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in &dirs {
            for (file, thawed) in [("freezer.state", "THAWED"), ("cgroup.freeze", "0")] {
                if dir.join(file).exists() {
                    let _ = fs::write(dir.join(file), thawed);
                }
            }
            for pid in pids(dir) {
                if pid > 1 && pid as u32 != std::process::id() {
                    // SAFETY: kill(2) takes plain integers.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        for dir in &dirs {
            let mut last = None;
            for _ in 0..60 {
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
pub struct Proc {
    pub child: Child,
    gate: Option<ChildStdin>,
}

impl Proc {
    /// `sh -c <script>` with a piped stdin (the gate) and no output.
    pub fn sh(script: &str) -> Proc {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        let gate = child.stdin.take();
        Proc { child, gate }
    }

    /// A shell that waits for a line on stdin, then spins forever.
    pub fn busy() -> Proc {
        Proc::sh("read go; while :; do :; done")
    }

    /// A shell that waits for a line on stdin forever (idle).
    pub fn idle() -> Proc {
        Proc::sh("read go; read never")
    }

    /// `program args...` with no input or output.
    pub fn spawn(program: &str, args: &[&str]) -> Proc {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        Proc { child, gate: None }
    }

    /// Takes ownership of a spawned child (its stdin, if piped, is the gate).
    pub fn from_child(mut child: Child) -> Proc {
        let gate = child.stdin.take();
        Proc { child, gate }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets a gated shell start its work.
    pub fn release(&mut self) {
        if let Some(gate) = self.gate.as_mut() {
            gate.write_all(b"go\n").expect("release child");
        }
    }

    /// True once the process has exited (reaping it).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory for configuration and pipeline files.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(unique_name());
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `name` and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The perf_event hierarchy, mounted by
/// `serenity_probe::ensure_perf_event_hierarchy` if absent and unmounted on
/// drop, so the host is left as found.
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
        // Removed groups linger until their last reference (an exiting task,
        // a closed perf event) is released. Unmounting while one lingers keeps
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

/// Log records captured by [`capture_logs`]: (level, message).
static LOGGED: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LOGGED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

/// Captures every log record of this test binary from now on (debug level
/// included); tests find their own lines by the unique group names in them.
pub fn capture_logs() {
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(log::LevelFilter::Debug);
}

/// The captured records whose message contains `needle`.
pub fn logged(needle: &str) -> Vec<(log::Level, String)> {
    LOGGED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|(_, m)| m.contains(needle))
        .cloned()
        .collect()
}

/// The captured messages at `level` or more severe that contain `needle`.
pub fn logged_at(level: log::Level, needle: &str) -> Vec<String> {
    logged(needle)
        .into_iter()
        .filter(|(l, _)| *l <= level)
        .map(|(_, m)| m)
        .collect()
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An agent over an empty v1 tree in `dir` (nothing is ever read from it:
/// every tick is handed its sample through `tick_sampled`), with the
/// shipped `qos-agent.toml` and `estimator.toml`, in dry run, metrics off,
/// `cpus` and `mem_mib` as the node's totals.
pub fn replay_agent(dir: &Path, cpus: u32, mem_mib: u32) -> serenity_agent::Agent {
    fs::create_dir_all(dir.join("cg/cpuacct/prod")).unwrap();
    fs::create_dir_all(dir.join("cg/cpuacct/be")).unwrap();
    let pipelines = repo().join("pipelines");
    let config = dir.join("agent.toml");
    fs::write(
        &config,
        format!(
            "qos = \"{}\"\nestimator = \"{}\"\n[cgroups]\nversion = \"v1\"\nroot = \"{}\"\n\
             production = [\"prod\"]\nbest_effort = \"be\"\nperf = false\n[total]\ncpus = {cpus}\n\
             mem_mib = {mem_mib}\n[metrics]\nenabled = false\n",
            pipelines.join("qos-agent.toml").display(),
            pipelines.join("estimator.toml").display(),
            dir.join("cg").display()
        ),
    )
    .unwrap();
    let config = serenity_agent::AgentConfig::load(&config).unwrap();
    serenity_agent::Agent::new(config, false).unwrap()
}
