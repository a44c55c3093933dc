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
//! undone. With a state file ([`crate::state`]) every such change is
//! recorded on disk *before* it is made, and [`Enforcer::recover`] undoes
//! what a previous agent left recorded (it was killed before it could
//! restore) before the new one acts. In dry-run mode nothing is written: each decision is logged as
//! "would kill/freeze/throttle `<group>`: `<reason>`". Every decision is logged
//! with the correction's reason.

use crate::config::{Action, CgroupVersion, EnforcementConfig};
use crate::groups::{strictly_under, Layout};
use crate::state::{Loaded, Record, StateFile};
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

/// The kinds of change that can be undone, in restore order: a group's
/// quota is written back before it is thawed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ChangeKind {
    /// The best-effort parent's CPU allowance (sorts first: the parent's
    /// path sorts before its children's anyway).
    AllowanceCpu,
    /// The best-effort parent's memory allowance.
    AllowanceMem,
    /// The best-effort parent's `cpu.idle` (SCHED_IDLE for the group).
    AllowanceIdle,
    Throttle,
    Freeze,
}

impl ChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Throttle => "throttle",
            ChangeKind::Freeze => "freeze",
            ChangeKind::AllowanceCpu => "allowance_cpu",
            ChangeKind::AllowanceMem => "allowance_mem",
            ChangeKind::AllowanceIdle => "allowance_idle",
        }
    }

    /// Whether the change is made to the best-effort parent itself.
    fn on_parent(self) -> bool {
        matches!(
            self,
            ChangeKind::AllowanceCpu | ChangeKind::AllowanceMem | ChangeKind::AllowanceIdle
        )
    }

    /// What undoing it is called in log lines.
    fn undone(self) -> &'static str {
        match self {
            ChangeKind::AllowanceCpu => "restored the CPU quota of",
            ChangeKind::AllowanceMem => "restored the memory limit of",
            ChangeKind::AllowanceIdle => "restored cpu.idle of",
            ChangeKind::Throttle => "restored the CPU quota of",
            ChangeKind::Freeze => "thawed",
        }
    }
}

/// A change the enforcer made and can undo: `file` gets `restore` back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    file: PathBuf,
    restore: String,
}

/// What [`Enforcer::recover`] found in the state file and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The groups restored (one entry per change undone).
    pub restored: Vec<PathBuf>,
    /// Every line logged, in order.
    pub messages: Vec<String>,
}

/// Carries out corrections on best-effort groups and remembers what to undo.
#[derive(Debug)]
pub struct Enforcer {
    layout: Layout,
    best_effort: PathBuf,
    config: EnforcementConfig,
    dry_run: bool,
    changes: BTreeMap<(PathBuf, ChangeKind), Change>,
    state: Option<StateFile>,
}

fn read_trimmed(path: &Path) -> io::Result<String> {
    fs::read_to_string(path).map(|s| s.trim().to_owned())
}

fn write_file(path: &Path, value: &str) -> Result<(), String> {
    fs::write(path, value).map_err(|e| format!("cannot write {value:?} to {}: {e}", path.display()))
}

impl Enforcer {
    /// An enforcer for groups below `best_effort` (relative to the layout's
    /// root). With `dry_run` it only logs what it would do. Changes are
    /// recorded in `config.state_file` (when set, not in dry run and with
    /// `restore_on_exit`) before they are made.
    pub fn new(
        layout: Layout,
        best_effort: PathBuf,
        config: EnforcementConfig,
        dry_run: bool,
    ) -> Enforcer {
        let state = config.state_file.clone().map(StateFile::new);
        Enforcer {
            layout,
            best_effort,
            config,
            dry_run,
            changes: BTreeMap::new(),
            state,
        }
    }

    /// The state file, if changes are recorded in one.
    pub fn state_file(&self) -> Option<&Path> {
        self.state.as_ref().map(StateFile::path)
    }

    /// Takes a new `[enforcement]` table (a configuration reload). Changes in
    /// force stay remembered and recorded; a new `state_file` receives them.
    pub fn set_config(&mut self, config: EnforcementConfig) -> Result<(), String> {
        let state = config.state_file.clone().map(StateFile::new);
        if state != self.state && !self.dry_run {
            if let Some(new) = &state {
                new.save(&self.records())?;
            }
            if let Some(old) = &self.state {
                old.save(&[])?;
            }
        }
        self.state = state;
        self.config = config;
        Ok(())
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
        let mut groups: Vec<PathBuf> = self.changes.keys().map(|(g, _)| g.clone()).collect();
        groups.dedup();
        groups
    }

    /// The changes in force, as the state file records them.
    fn records(&self) -> Vec<Record> {
        self.changes
            .iter()
            .map(|((group, kind), change)| Record {
                group: group.to_string_lossy().into_owned(),
                change: kind.as_str().to_owned(),
                file: change.file.clone(),
                restore: change.restore.clone(),
            })
            .collect()
    }

    /// True when changes are recorded on disk: a state file is configured,
    /// the agent enforces, and it promises to restore.
    fn persists(&self) -> bool {
        self.state.is_some() && !self.dry_run && self.config.restore_on_exit
    }

    /// Writes the changes in force to the state file (if any).
    fn persist(&self) -> Result<(), String> {
        match &self.state {
            Some(state) if self.persists() => state.save(&self.records()),
            _ => Ok(()),
        }
    }

    /// Remembers a change about to be made and records it on disk first.
    /// An earlier record of the same change keeps its original value. On
    /// failure nothing is remembered and the change must not be made.
    fn record_change(
        &mut self,
        group: &Path,
        kind: ChangeKind,
        change: Change,
    ) -> Result<bool, String> {
        let key = (group.to_path_buf(), kind);
        if self.changes.contains_key(&key) {
            return Ok(false);
        }
        self.changes.insert(key.clone(), change);
        if let Err(e) = self.persist() {
            self.changes.remove(&key);
            return Err(format!(
                "cannot record the change in the enforcement state file first, so it is not made: {e}"
            ));
        }
        Ok(true)
    }

    /// Forgets a change that was recorded but could not be made.
    fn forget_change(&mut self, group: &Path, kind: ChangeKind) {
        self.changes.remove(&(group.to_path_buf(), kind));
        if let Err(e) = self.persist() {
            log::error!(target: "serenity", "{e}");
        }
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
        let mut mounted = 0;
        for controller in controllers {
            let Some(dir) = self.layout.group_dir(controller, group) else {
                continue;
            };
            mounted += 1;
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
        if dirs.is_empty() && mounted > 0 {
            // Removed between discovery and now: nothing left to act on.
            return Err(Outcome::Unchanged("the group no longer exists".into()));
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
        let mut gone = 0usize;
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
                    Ok(true) => killed += 1,
                    Ok(false) => gone += 1,
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
        let exited = match gone {
            0 => String::new(),
            1 => " (1 more had exited by itself)".to_owned(),
            n => format!(" ({n} more had exited by themselves)"),
        };
        match (killed, errors.is_empty()) {
            (0, true) if gone > 0 => {
                Outcome::Unchanged(format!("its {gone} processes had exited by themselves"))
            }
            (0, true) => Outcome::Unchanged("the group has no processes".into()),
            (_, true) => Outcome::Applied(format!("{killed} processes{exited}")),
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
        let change = Change {
            file: file.clone(),
            restore: thaw.to_owned(),
        };
        let recorded = match self.record_change(group, ChangeKind::Freeze, change) {
            Ok(new) => new,
            Err(e) => return Outcome::Failed(e),
        };
        if let Err(e) = write_file(&file, frozen) {
            if recorded {
                self.forget_change(group, ChangeKind::Freeze);
            }
            return Outcome::Failed(e);
        }
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
        let change = Change {
            file: file.clone(),
            restore: original,
        };
        let recorded = match self.record_change(group, ChangeKind::Throttle, change) {
            Ok(new) => new,
            Err(e) => return Outcome::Failed(e),
        };
        if let Err(e) = write_file(&file, &value) {
            if recorded {
                self.forget_change(group, ChangeKind::Throttle);
            }
            return Outcome::Failed(e);
        }
        Outcome::Applied(format!(
            "to {} CPUs: quota {target} µs per {period} µs",
            self.config.throttle_cpus
        ))
    }

    /// Forgets changes of groups that no longer exist.
    pub fn prune(&mut self) {
        let before = self.changes.len();
        self.changes.retain(|_, change| change.file.exists());
        if self.changes.len() != before {
            if let Err(e) = self.persist() {
                log::error!(target: "serenity", "{e}");
            }
        }
    }

    /// Undoes every freeze and throttle still in force: writes back the
    /// original quotas, then thaws frozen groups. Groups that no longer exist
    /// are skipped. A change that cannot be undone stays remembered (and
    /// recorded) for the next attempt. Returns the problems met (also
    /// logged).
    pub fn restore(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        for ((group, kind), change) in std::mem::take(&mut self.changes) {
            match fs::write(&change.file, &change.restore) {
                Ok(()) => log::info!(
                    target: "serenity",
                    "{} best-effort group {} on shutdown",
                    kind.undone(),
                    group.display()
                ),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    let m = format!(
                        "could not restore {} ({} <- {:?}): {e}",
                        group.display(),
                        change.file.display(),
                        change.restore
                    );
                    log::error!(target: "serenity", "{m}");
                    problems.push(m);
                    self.changes.insert((group, kind), change);
                }
            }
        }
        if let Err(e) = self.persist() {
            log::error!(target: "serenity", "{e}");
            problems.push(e);
        }
        problems
    }

    /// Undoes the changes a previous agent recorded in the state file and
    /// did not restore (it was killed, or the host lost power), before this
    /// one acts. Each entry is checked first: the group must lie strictly
    /// below the best-effort prefix (as written and canonicalized), the file
    /// must be the one the change writes for that group, the value one that
    /// undoes it. Entries of groups that no longer exist are dropped;
    /// entries failing a check are refused and never written. An unreadable
    /// file is moved aside to `<state_file>.corrupt`. Every step is logged
    /// (restores at WARN: the previous run did not stop cleanly). In dry run
    /// nothing is written, the file included: what it lists is only
    /// reported.
    pub fn recover(&mut self) -> Recovery {
        let mut out = Recovery::default();
        let Some(state) = self.state.clone() else {
            return out;
        };
        let path = state.path().display().to_string();
        let records = match state.load() {
            Loaded::Absent => return out,
            Loaded::Records(records) => records,
            Loaded::Unreadable(why) if self.dry_run => {
                say(
                    &mut out,
                    log::Level::Error,
                    format!(
                    "the enforcement state file is unreadable ({why}); dry run leaves it as it is"
                ),
                );
                return out;
            }
            Loaded::Unreadable(why) => {
                let kept = match state.set_aside() {
                    Ok(aside) => format!("moved it aside to {}", aside.display()),
                    Err(e) => format!("and could not move it aside: {e}"),
                };
                say(&mut out, log::Level::Error, format!(
                    "the enforcement state file is unreadable ({why}); {kept}; nothing is restored \
                     from it: check the best-effort groups it may name for frozen or throttled ones by hand"
                ));
                return out;
            }
        };
        if self.dry_run {
            if !records.is_empty() {
                let groups: Vec<String> = records
                    .iter()
                    .map(|r| format!("{} ({})", r.group, r.change))
                    .collect();
                say(
                    &mut out,
                    log::Level::Warn,
                    format!(
                    "the enforcement state file {path} lists {} change(s) a previous enforcing run \
                     left in force: {}; dry run leaves them: start with --enforce to restore them",
                    records.len(),
                    groups.join(", ")
                ),
                );
            }
            return out;
        }
        for record in records {
            let group = PathBuf::from(&record.group);
            let entry = format!(
                "{} ({} <- {:?})",
                record.group,
                record.file.display(),
                record.restore
            );
            let (kind, controller, expected) = match self.check_record(&record) {
                Ok(checked) => checked,
                Err(why) => {
                    say(
                        &mut out,
                        log::Level::Error,
                        format!(
                        "refused to restore {entry} from the enforcement state file {path}: {why}; \
                         nothing was written"
                    ),
                    );
                    continue;
                }
            };
            let dir = expected.parent().unwrap_or(Path::new("/")).to_path_buf();
            if !dir.exists() {
                say(
                    &mut out,
                    log::Level::Info,
                    format!(
                    "best-effort group {} of the enforcement state file {path} no longer exists: \
                     nothing to {} (entry dropped)",
                    record.group,
                    match kind {
                        ChangeKind::Freeze => "thaw",
                        _ => "restore",
                    }
                ),
                );
                continue;
            }
            let prefix = self
                .layout
                .group_dir(controller, &self.best_effort)
                .unwrap_or_default();
            let placed = if kind.on_parent() {
                same_dir(&dir, &prefix)
            } else {
                strictly_under(&dir, &prefix)
            };
            if !placed {
                say(&mut out, log::Level::Error, format!(
                    "refused to restore {entry} from the enforcement state file {path}: {} does not \
                     resolve to {} {}; nothing was written",
                    dir.display(),
                    if kind.on_parent() { "the best-effort parent" } else { "a group strictly below" },
                    prefix.display()
                ));
                continue;
            }
            match fs::write(&expected, &record.restore) {
                Ok(()) => {
                    say(
                        &mut out,
                        log::Level::Warn,
                        format!(
                            "{} best-effort group {} left by an agent that did not stop cleanly \
                         ({} <- {}, from the enforcement state file {path})",
                            kind.undone(),
                            record.group,
                            expected.display(),
                            record.restore
                        ),
                    );
                    out.restored.push(group);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    say(
                        &mut out,
                        log::Level::Info,
                        format!(
                        "best-effort group {} of the enforcement state file {path} vanished while \
                         it was restored (entry dropped)",
                        record.group
                    ),
                    );
                }
                Err(e) => {
                    say(
                        &mut out,
                        log::Level::Error,
                        format!(
                        "could not restore {entry} from the enforcement state file {path}: {e}; \
                         kept for another attempt at shutdown and the next start"
                    ),
                    );
                    self.changes.insert(
                        (group, kind),
                        Change {
                            file: expected,
                            restore: record.restore,
                        },
                    );
                }
            }
        }
        if let Err(e) = state.save(&self.records()) {
            say(&mut out, log::Level::Error, e);
        }
        out
    }

    /// Checks one state-file entry: the change kind, the group strictly
    /// below the best-effort prefix (as written), the file the change writes
    /// for that group in this layout, a value that undoes it. Returns the
    /// kind, the hierarchy and the file.
    fn check_record(&self, record: &Record) -> Result<(ChangeKind, &'static str, PathBuf), String> {
        let kind = match record.change.as_str() {
            "freeze" => ChangeKind::Freeze,
            "throttle" => ChangeKind::Throttle,
            "allowance_cpu" => ChangeKind::AllowanceCpu,
            "allowance_mem" => ChangeKind::AllowanceMem,
            "allowance_idle" => ChangeKind::AllowanceIdle,
            other => {
                return Err(format!(
                    "unknown change {other:?} (\"freeze\", \"throttle\", \"allowance_cpu\", \"allowance_mem\" or \"allowance_idle\")"
                ))
            }
        };
        let group = Path::new(&record.group);
        let plain = group
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if kind.on_parent() {
            if !plain || group != self.best_effort {
                return Err(format!(
                    "an allowance change belongs to the best-effort parent {} only",
                    self.best_effort.display()
                ));
            }
        } else if !plain || !group.starts_with(&self.best_effort) || group == self.best_effort {
            return Err(format!(
                "it is not below the best-effort prefix {}",
                self.best_effort.display()
            ));
        }
        let (controller, name) = change_file(self.layout.version, kind);
        let Some(dir) = self.layout.group_dir(controller, group) else {
            return Err(format!(
                "no {controller} hierarchy is mounted under {}",
                self.layout.root.display()
            ));
        };
        let expected = dir.join(name);
        if record.file != expected {
            return Err(format!(
                "the file is not the group's {name} ({})",
                expected.display()
            ));
        }
        let value = record.restore.trim();
        let valid = match (self.layout.version, kind) {
            (CgroupVersion::V1, ChangeKind::Freeze) => value == "THAWED",
            (_, ChangeKind::Freeze) => value == "0",
            (CgroupVersion::V1, ChangeKind::Throttle | ChangeKind::AllowanceCpu) => {
                value.parse::<i64>().is_ok_and(|q| q == -1 || q > 0)
            }
            (CgroupVersion::V1, ChangeKind::AllowanceMem) => {
                value.parse::<u64>().is_ok_and(|b| b > 0)
            }
            (_, ChangeKind::AllowanceMem) => {
                value == "max" || value.parse::<u64>().is_ok_and(|b| b > 0)
            }
            (_, ChangeKind::AllowanceIdle) => value == "0" || value == "1",
            (_, ChangeKind::Throttle | ChangeKind::AllowanceCpu) => {
                let parts: Vec<&str> = value.split_whitespace().collect();
                matches!(parts.as_slice(), [q, p]
                    if (*q == "max" || q.parse::<u64>().is_ok()) && p.parse::<u64>().is_ok())
            }
        };
        if !valid {
            return Err(format!(
                "{:?} does not undo a {}",
                record.restore,
                kind.as_str()
            ));
        }
        Ok((kind, controller, expected))
    }
}

/// The hierarchy and file a change writes.
fn change_file(version: CgroupVersion, kind: ChangeKind) -> (&'static str, &'static str) {
    match (version, kind) {
        (CgroupVersion::V1, ChangeKind::Freeze) => ("freezer", "freezer.state"),
        (CgroupVersion::V1, ChangeKind::Throttle | ChangeKind::AllowanceCpu) => {
            ("cpu", "cpu.cfs_quota_us")
        }
        (CgroupVersion::V1, ChangeKind::AllowanceMem) => ("memory", "memory.limit_in_bytes"),
        (CgroupVersion::V1, ChangeKind::AllowanceIdle) => ("cpu", "cpu.idle"),
        (_, ChangeKind::AllowanceIdle) => ("unified", "cpu.idle"),
        (_, ChangeKind::Freeze) => ("unified", "cgroup.freeze"),
        (_, ChangeKind::Throttle | ChangeKind::AllowanceCpu) => ("unified", "cpu.max"),
        (_, ChangeKind::AllowanceMem) => ("unified", "memory.max"),
    }
}

/// Whether two directories are the same one (symlinks and `..` resolved).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// What the best-effort allowance limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowanceResource {
    /// CPU: the parent's CFS quota.
    Cpu,
    /// Memory: the parent's memory limit.
    Memory,
    /// Scheduling class: the parent's `cpu.idle` (1: its tasks run as
    /// SCHED_IDLE against the rest of the node, Linux ≥ 5.15).
    Idle,
}

impl AllowanceResource {
    /// Lower-case name for messages and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AllowanceResource::Cpu => "cpu",
            AllowanceResource::Memory => "memory",
            AllowanceResource::Idle => "cpu.idle",
        }
    }

    fn kind(self) -> ChangeKind {
        match self {
            AllowanceResource::Cpu => ChangeKind::AllowanceCpu,
            AllowanceResource::Memory => ChangeKind::AllowanceMem,
            AllowanceResource::Idle => ChangeKind::AllowanceIdle,
        }
    }
}

impl Enforcer {
    /// Sets the best-effort parent's allowance: `value` CPUs (its CFS quota
    /// against its own period; at least 1 ms) or bytes of memory (rounded
    /// down to 4 KiB pages). The parent's original value is recorded (state
    /// file first) before the first write and restored with the other
    /// changes. Only the best-effort parent itself is ever written.
    pub fn set_allowance(&mut self, resource: AllowanceResource, value: f64) -> Outcome {
        let kind = resource.kind();
        let (controller, name) = change_file(self.layout.version, kind);
        let Some(dir) = self.layout.group_dir(controller, &self.best_effort) else {
            return Outcome::Failed(format!(
                "no {controller} hierarchy is mounted under {}",
                self.layout.root.display()
            ));
        };
        if !dir.is_dir() {
            return Outcome::Failed(format!(
                "the best-effort parent {} does not exist",
                dir.display()
            ));
        }
        if !value.is_finite() || value <= 0.0 {
            return Outcome::Refused(format!("{value} is not a positive allowance"));
        }
        let file = dir.join(name);
        let current = match read_trimmed(&file) {
            Ok(t) => t,
            Err(e) => {
                return Outcome::Failed(format!(
                    "cannot read {} (is the {} controller enabled for the group?): {e}",
                    file.display(),
                    resource.as_str()
                ))
            }
        };
        let (text, detail) = match (resource, self.layout.version) {
            (AllowanceResource::Cpu, CgroupVersion::V1) => {
                let period = match read_trimmed(&dir.join("cpu.cfs_period_us"))
                    .ok()
                    .and_then(|p| p.parse::<u64>().ok())
                {
                    Some(p) => p,
                    None => {
                        return Outcome::Failed(format!(
                            "cannot read {}",
                            dir.join("cpu.cfs_period_us").display()
                        ))
                    }
                };
                let quota = ((value * period as f64).round() as u64).max(1000);
                (
                    quota.to_string(),
                    format!("quota {quota} µs per {period} µs"),
                )
            }
            (AllowanceResource::Cpu, _) => {
                let period = current
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.parse::<u64>().ok())
                    .unwrap_or(100_000);
                let quota = ((value * period as f64).round() as u64).max(1000);
                (
                    format!("{quota} {period}"),
                    format!("cpu.max {quota} {period}"),
                )
            }
            (AllowanceResource::Memory, _) => {
                let bytes = ((value as u64) / 4096 * 4096).max(4096);
                (bytes.to_string(), format!("{name} {bytes}"))
            }
            (AllowanceResource::Idle, _) => ("1".to_owned(), format!("{name} 1")),
        };
        if self.dry_run {
            return Outcome::DryRun;
        }
        if current == text {
            return Outcome::Unchanged(format!("{} already reads {text}", file.display()));
        }
        let change = Change {
            file: file.clone(),
            restore: current,
        };
        let recorded = match self.record_change(&self.best_effort.clone(), kind, change) {
            Ok(new) => new,
            Err(e) => return Outcome::Failed(e),
        };
        if let Err(e) = write_file(&file, &text) {
            if recorded {
                let group = self.best_effort.clone();
                self.forget_change(&group, kind);
            }
            return Outcome::Failed(e);
        }
        Outcome::Applied(detail)
    }
}

/// Logs `message` at `level` and keeps it in the recovery report.
fn say(out: &mut Recovery, level: log::Level, message: String) {
    log::log!(target: "serenity", level, "{message}");
    out.messages.push(message);
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

/// SIGKILL one process; never pid 0, 1 or the agent itself. `Ok(false)`:
/// it had exited between listing and signalling (ESRCH).
fn kill_pid(pid: i32) -> Result<bool, String> {
    if pid <= 1 || pid as u32 == std::process::id() {
        return Err("refusing to signal init or the agent itself".into());
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::ESRCH) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_exited_before_the_signal_is_not_counted_as_killed() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        // Reaped: the pid is free (reuse within these microseconds is
        // practically impossible on a 4-million pid space).
        assert_eq!(kill_pid(pid), Ok(false));
        assert!(kill_pid(1).is_err());
        assert!(kill_pid(std::process::id() as i32).is_err());
    }
}
