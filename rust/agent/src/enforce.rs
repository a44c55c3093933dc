//! Acting on corrections: kill, freeze or throttle a best-effort group.
//!
//! Only groups strictly below the best-effort prefix are ever touched. The
//! check is made again at action time, on the canonicalized directory in
//! every hierarchy the action writes to (symlinks and `..` resolved), so a
//! correction can never reach production work or the prefix itself, whatever
//! the pipelines decide; a refused action is logged as an error.
//!
//! | action | cgroup v1 | cgroup v2 |
//! | --- | --- | --- |
//! | kill | freeze (if the freezer is mounted), SIGKILL every pid of `cgroup.procs` in the group and its subgroups (cpu, cpuacct, memory, freezer and pids hierarchies), thaw | `cgroup.kill`, else freeze, SIGKILL every pid, thaw |
//! | freeze | `freezer.state` = `FROZEN` | `cgroup.freeze` = `1` |
//! | throttle | `cpu.cfs_quota_us` = `throttle_cpus` × `cpu.cfs_period_us` | `cpu.max` = `<quota> <period>` |
//!
//! What freeze and throttle change is remembered with the original value and
//! restored by [`Enforcer::restore`], which runs on shutdown and when the
//! enforcer is dropped (unless `restore_on_exit = false`). Kills cannot be
//! undone. In dry-run mode nothing is written: each decision is logged as
//! "would kill/freeze/throttle `<group>`: `<reason>`". Every decision is logged
//! with the correction's reason.

use crate::config::{Action, CgroupVersion, EnforcementConfig};
use crate::groups::{strictly_under, Layout};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// v1 hierarchies whose `cgroup.procs` a kill collects.
const KILL_HIERARCHIES: [&str; 5] = ["freezer", "cpu", "cpuacct", "memory", "pids"];
/// How long a kill waits for a freezing group to become frozen.
const FREEZE_WAIT: Duration = Duration::from_secs(1);
/// How deep a kill walks into subgroups.
const MAX_DEPTH: usize = 16;

/// What became of one correction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Dry run: nothing was written.
    DryRun,
    /// The action was carried out (details: processes killed, the quota
    /// written; empty for a freeze).
    Applied(String),
    /// Nothing needed doing (already frozen, already throttled, no processes).
    Unchanged(String),
    /// The group is not strictly below the best-effort prefix: untouched.
    Refused(String),
    /// The action failed (the operating system's answer).
    Failed(String),
}

/// One correction and what the enforcer did with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The group, relative to the hierarchy root.
    pub group: PathBuf,
    /// The configured action.
    pub action: Action,
    /// The correction's reason (from the QoS pipeline).
    pub reason: String,
    /// What happened.
    pub outcome: Outcome,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = self.group.display();
        let action = self.action;
        let reason = &self.reason;
        match &self.outcome {
            Outcome::DryRun => write!(f, "dry run: would {action} {group}: {reason}"),
            Outcome::Applied(what) => {
                let done = match action {
                    Action::Kill => "killed",
                    Action::Freeze => "froze",
                    Action::Throttle => "throttled",
                };
                if what.is_empty() {
                    write!(f, "{done} best-effort group {group}: {reason}")
                } else {
                    write!(f, "{done} best-effort group {group} ({what}): {reason}")
                }
            }
            Outcome::Unchanged(why) => {
                write!(f, "did not {action} {group} again ({why}): {reason}")
            }
            Outcome::Refused(why) => {
                write!(
                    f,
                    "refused to {action} {group}: {why}; the correction said: {reason}"
                )
            }
            Outcome::Failed(why) => write!(
                f,
                "failed to {action} {group}: {why}; the correction said: {reason}"
            ),
        }
    }
}

/// A change the enforcer made and can undo.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    /// Wrote a freeze value; `thaw` undoes it.
    Froze { file: PathBuf, thaw: &'static str },
    /// Wrote a CPU quota; `original` is the file's earlier content.
    Throttled { file: PathBuf, original: String },
}

impl Change {
    fn file(&self) -> &Path {
        match self {
            Change::Froze { file, .. } | Change::Throttled { file, .. } => file,
        }
    }
}

/// Carries out corrections on best-effort groups and remembers what to undo.
#[derive(Debug)]
pub struct Enforcer {
    layout: Layout,
    best_effort: PathBuf,
    config: EnforcementConfig,
    dry_run: bool,
    changes: BTreeMap<PathBuf, Change>,
}

fn read_trimmed(path: &Path) -> io::Result<String> {
    fs::read_to_string(path).map(|s| s.trim().to_owned())
}

fn write_file(path: &Path, value: &str) -> Result<(), String> {
    fs::write(path, value).map_err(|e| format!("cannot write {value:?} to {}: {e}", path.display()))
}

impl Enforcer {
    /// An enforcer for groups below `best_effort` (relative to the layout's
    /// root). With `dry_run` it only logs what it would do.
    pub fn new(
        layout: Layout,
        best_effort: PathBuf,
        config: EnforcementConfig,
        dry_run: bool,
    ) -> Enforcer {
        Enforcer {
            layout,
            best_effort,
            config,
            dry_run,
            changes: BTreeMap::new(),
        }
    }

    /// The configured action.
    pub fn action(&self) -> Action {
        self.config.action
    }

    /// True when nothing is ever written.
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The groups with a freeze or throttle in force (to be restored).
    pub fn changed_groups(&self) -> Vec<PathBuf> {
        self.changes.keys().cloned().collect()
    }

    /// Carries out the configured action on `group` (a path relative to the
    /// hierarchy root) for a correction with `reason`, and logs the decision.
    pub fn apply(&mut self, group: &Path, reason: &str) -> Decision {
        let outcome = self.decide(group);
        let decision = Decision {
            group: group.to_path_buf(),
            action: self.config.action,
            reason: reason.to_owned(),
            outcome,
        };
        match decision.outcome {
            Outcome::DryRun => log::info!(target: "serenity", "{decision}"),
            Outcome::Applied(_) => log::warn!(target: "serenity", "{decision}"),
            Outcome::Unchanged(_) => log::debug!(target: "serenity", "{decision}"),
            Outcome::Refused(_) | Outcome::Failed(_) => {
                log::error!(target: "serenity", "{decision}")
            }
        }
        decision
    }

    fn decide(&mut self, group: &Path) -> Outcome {
        if !group.starts_with(&self.best_effort) || group == self.best_effort {
            return Outcome::Refused(format!(
                "it is not below the best-effort prefix {}",
                self.best_effort.display()
            ));
        }
        let dirs = match self.action_dirs(group) {
            Ok(dirs) => dirs,
            Err(outcome) => return outcome,
        };
        if self.dry_run {
            return Outcome::DryRun;
        }
        match self.config.action {
            Action::Kill => self.kill(&dirs),
            Action::Freeze => self.freeze(group, &dirs),
            Action::Throttle => self.throttle(group, &dirs),
        }
    }

    /// The group's directories the action touches, each checked to be
    /// strictly below the prefix in its own hierarchy.
    fn action_dirs(&self, group: &Path) -> Result<Vec<(&'static str, PathBuf)>, Outcome> {
        let controllers: &[&'static str] = match (self.layout.version, self.config.action) {
            (CgroupVersion::V1, Action::Kill) => &KILL_HIERARCHIES,
            (CgroupVersion::V1, Action::Freeze) => &["freezer"],
            (CgroupVersion::V1, Action::Throttle) => &["cpu"],
            _ => &["unified"],
        };
        let mut dirs = Vec::new();
        for controller in controllers {
            let Some(dir) = self.layout.group_dir(controller, group) else {
                continue;
            };
            if !dir.exists() {
                continue;
            }
            let prefix = self
                .layout
                .group_dir(controller, &self.best_effort)
                .unwrap_or_default();
            if !strictly_under(&dir, &prefix) {
                return Err(Outcome::Refused(format!(
                    "{} does not resolve to a group strictly below {}",
                    dir.display(),
                    prefix.display()
                )));
            }
            dirs.push((*controller, dir));
        }
        if dirs.is_empty() {
            let needed = controllers.join(", ");
            return Err(Outcome::Failed(format!(
                "the group exists in none of the needed hierarchies ({needed}) under {}",
                self.layout.root.display()
            )));
        }
        Ok(dirs)
    }

    fn kill(&mut self, dirs: &[(&'static str, PathBuf)]) -> Outcome {
        if self.layout.version != CgroupVersion::V1 {
            let dir = &dirs[0].1;
            let kill_file = dir.join("cgroup.kill");
            if kill_file.exists() {
                let count = collect_pids(std::slice::from_ref(dir)).len();
                return match write_file(&kill_file, "1") {
                    Ok(()) => Outcome::Applied(format!("{count} processes, through cgroup.kill")),
                    Err(e) => Outcome::Failed(e),
                };
            }
        }
        let freeze = match self.layout.version {
            CgroupVersion::V1 => dirs
                .iter()
                .find(|(c, _)| *c == "freezer")
                .map(|(_, d)| (d.join("freezer.state"), "FROZEN", "THAWED")),
            _ => Some((dirs[0].1.join("cgroup.freeze"), "1", "0")),
        };
        // Freezing first stops the group's processes from forking while
        // their pids are collected.
        let frozen_here = match &freeze {
            Some((file, frozen, _)) if file.exists() => {
                let was = read_trimmed(file).unwrap_or_default();
                if was != *frozen && write_file(file, frozen).is_ok() {
                    wait_frozen(file, frozen);
                    true
                } else {
                    false
                }
            }
            _ => false,
        };
        let all: Vec<PathBuf> = dirs.iter().map(|(_, d)| d.clone()).collect();
        let mut signalled = std::collections::BTreeSet::new();
        let mut killed = 0usize;
        let mut errors = Vec::new();
        for _round in 0..5 {
            let pids: Vec<i32> = collect_pids(&all)
                .into_iter()
                .filter(|p| !signalled.contains(p))
                .collect();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                signalled.insert(pid);
                match kill_pid(pid) {
                    Ok(()) => killed += 1,
                    Err(e) => errors.push(format!("pid {pid}: {e}")),
                }
            }
            if frozen_here {
                // Frozen processes die when thawed; one round is enough.
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        if let (true, Some((file, _, thaw))) = (frozen_here, &freeze) {
            if let Err(e) = write_file(file, thaw) {
                errors.push(e);
            }
        }
        match (killed, errors.is_empty()) {
            (0, true) => Outcome::Unchanged("the group has no processes".into()),
            (_, true) => Outcome::Applied(format!("{killed} processes")),
            (_, false) => Outcome::Failed(format!(
                "killed {killed} processes, but: {}",
                errors.join("; ")
            )),
        }
    }

    fn freeze(&mut self, group: &Path, dirs: &[(&'static str, PathBuf)]) -> Outcome {
        let (file, frozen, thaw) = match self.layout.version {
            CgroupVersion::V1 => (dirs[0].1.join("freezer.state"), "FROZEN", "THAWED"),
            _ => (dirs[0].1.join("cgroup.freeze"), "1", "0"),
        };
        let current = match read_trimmed(&file) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(format!("cannot read {}: {e}", file.display())),
        };
        if current == frozen || current == "FREEZING" {
            return Outcome::Unchanged("already frozen".into());
        }
        if let Err(e) = write_file(&file, frozen) {
            return Outcome::Failed(e);
        }
        self.changes
            .entry(group.to_path_buf())
            .or_insert(Change::Froze { file, thaw });
        Outcome::Applied(String::new())
    }

    fn throttle(&mut self, group: &Path, dirs: &[(&'static str, PathBuf)]) -> Outcome {
        let dir = &dirs[0].1;
        let (file, original, quota, period) = match self.layout.version {
            CgroupVersion::V1 => {
                let file = dir.join("cpu.cfs_quota_us");
                let read = |name: &str| {
                    read_trimmed(&dir.join(name))
                        .map_err(|e| format!("cannot read {}: {e}", dir.join(name).display()))
                };
                let (quota_text, period_text) =
                    match (read("cpu.cfs_quota_us"), read("cpu.cfs_period_us")) {
                        (Ok(q), Ok(p)) => (q, p),
                        (Err(e), _) | (_, Err(e)) => return Outcome::Failed(e),
                    };
                let (Ok(quota), Ok(period)) =
                    (quota_text.parse::<i64>(), period_text.parse::<u64>())
                else {
                    return Outcome::Failed(format!(
                        "unexpected cpu.cfs_quota_us {quota_text:?} / cpu.cfs_period_us {period_text:?}"
                    ));
                };
                let quota = (quota > 0).then_some(quota as u64);
                (file, quota_text, quota, period)
            }
            _ => {
                let file = dir.join("cpu.max");
                let text = match read_trimmed(&file) {
                    Ok(t) => t,
                    Err(e) => {
                        return Outcome::Failed(format!(
                            "cannot read {} (is the cpu controller enabled for the group?): {e}",
                            file.display()
                        ))
                    }
                };
                let mut parts = text.split_whitespace();
                let quota = parts.next().and_then(|q| q.parse::<u64>().ok());
                let period = parts
                    .next()
                    .and_then(|p| p.parse::<u64>().ok())
                    .unwrap_or(100_000);
                (file, text, quota, period)
            }
        };
        let target = ((self.config.throttle_cpus * period as f64).round() as u64).max(1000);
        if quota.is_some_and(|q| q <= target) {
            return Outcome::Unchanged(format!(
                "its quota is already {} CPUs or less",
                self.config.throttle_cpus
            ));
        }
        let value = match self.layout.version {
            CgroupVersion::V1 => target.to_string(),
            _ => format!("{target} {period}"),
        };
        if let Err(e) = write_file(&file, &value) {
            return Outcome::Failed(e);
        }
        self.changes
            .entry(group.to_path_buf())
            .or_insert(Change::Throttled { file, original });
        Outcome::Applied(format!(
            "to {} CPUs: quota {target} µs per {period} µs",
            self.config.throttle_cpus
        ))
    }

    /// Forgets changes of groups that no longer exist.
    pub fn prune(&mut self) {
        self.changes.retain(|_, change| change.file().exists());
    }

    /// Undoes every freeze and throttle still in force: thaws frozen groups
    /// and writes back the original quotas. Groups that no longer exist are
    /// skipped. Returns the problems met (also logged).
    pub fn restore(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        for (group, change) in std::mem::take(&mut self.changes) {
            let (file, value, what) = match &change {
                Change::Froze { file, thaw } => (file, *thaw, "thawed"),
                Change::Throttled { file, original } => {
                    (file, original.as_str(), "restored the CPU quota of")
                }
            };
            match fs::write(file, value) {
                Ok(()) => {
                    log::info!(target: "serenity", "{what} best-effort group {} on shutdown", group.display())
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    let m = format!(
                        "could not restore {} ({}): {e}",
                        group.display(),
                        file.display()
                    );
                    log::error!(target: "serenity", "{m}");
                    problems.push(m);
                }
            }
        }
        problems
    }
}

impl Drop for Enforcer {
    fn drop(&mut self) {
        if self.config.restore_on_exit {
            self.restore();
        }
    }
}

/// Waits (bounded) until the freezer file reads `frozen`.
fn wait_frozen(file: &Path, frozen: &str) {
    let deadline = Instant::now() + FREEZE_WAIT;
    while Instant::now() < deadline {
        match read_trimmed(file) {
            Ok(state) if state == frozen => return,
            Ok(_) => thread::sleep(Duration::from_millis(5)),
            Err(_) => return,
        }
    }
}

/// Every pid in `cgroup.procs` of the directories and their subgroups.
fn collect_pids(dirs: &[PathBuf]) -> Vec<i32> {
    let mut pids = Vec::new();
    let mut stack: Vec<(PathBuf, usize)> = dirs.iter().map(|d| (d.clone(), 0)).collect();
    while let Some((dir, depth)) = stack.pop() {
        if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        if depth >= MAX_DEPTH {
            continue;
        }
        if let Ok(entries) = fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push((entry.path(), depth + 1));
                }
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// SIGKILL one process; never pid 0, 1 or the agent itself.
fn kill_pid(pid: i32) -> Result<(), String> {
    if pid <= 1 || pid as u32 == std::process::id() {
        return Err("refusing to signal init or the agent itself".into());
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL) {
        // ESRCH: exited between listing and signalling.
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
