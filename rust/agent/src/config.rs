//! The agent's configuration file (TOML), and its validation.
//!
//! ```toml
//! qos = "agent-qos.toml"          # QoS pipeline (relative to this file)
//! estimator = "estimator.toml"    # estimator pipeline (optional)
//! # interval_secs = 1.0           # default: the QoS pipeline's interval_secs
//!
//! [cgroups]
//! version = "auto"                # "v1" | "v2" | "auto"
//! root = "/sys/fs/cgroup"
//! production = ["production", "services/*"]   # parents of production groups
//! best_effort = "best-effort"     # parent of best-effort groups
//! perf = true                     # per-group perf counters (default: when a pipeline reads one)
//! all_statistics = false          # read every cgroup file (default: only what the pipelines read)
//!
//! [total]                         # default: online CPUs and MemTotal
//! # cpus = 16
//! # mem_mib = 65536
//!
//! [metrics]
//! listen = "127.0.0.1:9464"
//! allow_remote = false
//!
//! [enforcement]
//! action = "kill"                 # "kill" | "freeze" | "throttle"
//! throttle_cpus = 0.1
//! restore_on_exit = true
//! state_file = "/var/lib/serenity/agent-state.json"
//! ```
//!
//! Group paths are relative to the hierarchy root (for cgroup v1, to each
//! controller's mount: `production` means `/sys/fs/cgroup/cpu/production`,
//! `/sys/fs/cgroup/memory/production`, ...). Every child group of a
//! production parent is one production executor; every child group of the
//! best-effort parent is one best-effort (revocable) executor.
//!
//! Every problem is reported at once, each as
//! `file:line:column: `key` = value: message`, like pipeline files. The agent
//! refuses to start when the best-effort prefix is empty, the hierarchy root,
//! outside the root, or overlaps a production pattern: every group under that
//! prefix may be killed.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use toml::Spanned;

/// Where Linux mounts cgroup hierarchies.
pub const DEFAULT_CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The default metrics listener: loopback only.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
/// The default CPUs a `throttle` action leaves a best-effort group.
pub const DEFAULT_THROTTLE_CPUS: f64 = 0.1;
/// Where the enforcer records the changes it will undo (crash safety).
pub const DEFAULT_STATE_FILE: &str = "/var/lib/serenity/agent-state.json";

/// Which cgroup hierarchy the agent reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// One hierarchy per controller (`<root>/<controller>/<group>`).
    V1,
    /// The unified hierarchy (`<root>/<group>`).
    V2,
    /// Decided at start: v2 when the root is a cgroup2 mount, v1 when it holds
    /// v1 controller mounts, else v2 at `<root>/unified` if that is cgroup2.
    Auto,
}

/// What the agent does to a best-effort group named by a correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// SIGKILL every process in the group (Mesos's QoS correction).
    Kill,
    /// Freeze the group (v1 `freezer.state`, v2 `cgroup.freeze`).
    Freeze,
    /// Cap the group's CPU with a CFS quota of `throttle_cpus`.
    Throttle,
}

impl Action {
    /// The configuration word (and metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Kill => "kill",
            Action::Freeze => "freeze",
            Action::Throttle => "throttle",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[cgroups]`: where the groups are.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupsConfig {
    /// `version`: v1, v2 or auto (default auto).
    pub version: CgroupVersion,
    /// `root`: where hierarchies are mounted (default `/sys/fs/cgroup`).
    pub root: PathBuf,
    /// `production`: parent groups (paths relative to the root, `*` and `?`
    /// match within one path component); each child of a match is a
    /// production executor. At least one.
    pub production: Vec<String>,
    /// `best_effort`: the parent group whose children are best-effort
    /// executors, relative to the root, normalized (no `..`, no globs).
    pub best_effort: PathBuf,
    /// `perf`: keep per-group perf counters open: `Some(true)` always,
    /// `Some(false)` never, `None` (the default) when a pipeline reads a
    /// perf signal ([`serenity_core::signal::PERF_SIGNALS`]).
    pub perf: Option<bool>,
    /// `all_statistics`: read every cgroup file the probe knows, so that
    /// each executor carries the full Mesos `ResourceStatistics`, whether
    /// or not a pipeline reads it. Default false: only the files behind the
    /// signals the pipelines read (see `crate::needs`).
    pub all_statistics: bool,
}

/// `[total]`: the agent's total resources (default: the host's).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TotalConfig {
    /// `cpus` (default: online CPUs).
    pub cpus: Option<f64>,
    /// `mem_mib` (default: MemTotal).
    pub mem_mib: Option<f64>,
}

/// `[metrics]`: the Prometheus listener.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// `enabled` (default true).
    pub enabled: bool,
    /// `listen` (default 127.0.0.1:9464; port 0 picks a free port).
    pub listen: SocketAddr,
    /// `allow_remote`: must be true for a non-loopback `listen` (default false).
    pub allow_remote: bool,
}

/// `[enforcement]`: what `--enforce` does.
#[derive(Debug, Clone, PartialEq)]
pub struct EnforcementConfig {
    /// `action` (default kill).
    pub action: Action,
    /// `throttle_cpus`: the CFS quota of a throttled group, in CPUs (default 0.1).
    pub throttle_cpus: f64,
    /// `restore_on_exit`: thaw frozen groups and restore quotas on shutdown
    /// (default true).
    pub restore_on_exit: bool,
    /// `state_file`: where every freeze and throttle is recorded before it
    /// is made, so that an agent restarted after a crash undoes it (default
    /// `/var/lib/serenity/agent-state.json`; relative paths are resolved
    /// against the configuration file's directory). `None` (library use
    /// only) records nothing: a crash then leaves the changes in place.
    pub state_file: Option<PathBuf>,
}

impl Default for EnforcementConfig {
    fn default() -> Self {
        EnforcementConfig {
            action: Action::Kill,
            throttle_cpus: DEFAULT_THROTTLE_CPUS,
            restore_on_exit: true,
            state_file: Some(PathBuf::from(DEFAULT_STATE_FILE)),
        }
    }
}

/// A validated agent configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// The file it was read from, as given.
    pub file: PathBuf,
    /// `estimator`: the estimator pipeline file (resolved against the config's
    /// directory).
    pub estimator: Option<PathBuf>,
    /// `qos`: the QoS pipeline file (resolved likewise).
    pub qos: Option<PathBuf>,
    /// `interval_secs`: seconds between ticks (default: the QoS pipeline's,
    /// else the estimator's `interval_secs`).
    pub interval_secs: Option<f64>,
    /// `[cgroups]`.
    pub cgroups: CgroupsConfig,
    /// `[total]`.
    pub total: TotalConfig,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
    /// `[enforcement]`.
    pub enforcement: EnforcementConfig,
    /// `[allowance]`: the best-effort allowance the SLO controller moves
    /// (absent: not managed).
    pub allowance: Option<crate::allowance::AllowanceConfig>,
}

/// One problem in an agent configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The key concerned (`cgroups.best_effort`), if any.
    pub key: Option<String>,
    /// The value as written, if any.
    pub value: Option<String>,
    /// What is wrong and what would be right.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        match (&self.key, &self.value) {
            (Some(k), Some(v)) => write!(f, "`{k}` = {v}: ")?,
            (Some(k), None) => write!(f, "`{k}`: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in an agent configuration (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblems(pub Vec<Problem>);

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigProblems {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    estimator: Option<Spanned<String>>,
    qos: Option<Spanned<String>>,
    interval_secs: Option<Spanned<f64>>,
    cgroups: Option<RawCgroups>,
    #[serde(default)]
    total: RawTotal,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    enforcement: RawEnforcement,
    allowance: Option<crate::allowance::RawAllowance>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCgroups {
    version: Option<Spanned<String>>,
    root: Option<Spanned<String>>,
    production: Option<Spanned<Vec<Spanned<String>>>>,
    best_effort: Option<Spanned<String>>,
    perf: Option<bool>,
    all_statistics: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTotal {
    cpus: Option<Spanned<f64>>,
    mem_mib: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    enabled: Option<bool>,
    listen: Option<Spanned<String>>,
    allow_remote: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEnforcement {
    action: Option<Spanned<String>>,
    throttle_cpus: Option<Spanned<f64>>,
    restore_on_exit: Option<bool>,
    state_file: Option<Spanned<String>>,
}

/// Locates byte offsets and collects problems.
pub(crate) struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[start..].chars().count() + 1)
    }

    fn at(&mut self, offset: usize, key: Option<&str>, value: Option<String>, message: String) {
        let (line, column) = self.position(offset);
        self.problems.push(Problem {
            file: self.file.to_owned(),
            line,
            column,
            key: key.map(str::to_owned),
            value,
            message,
        });
    }

    pub(crate) fn bad<T>(
        &mut self,
        key: &str,
        spanned: &Spanned<T>,
        value: String,
        message: impl Into<String>,
    ) {
        self.at(spanned.span().start, Some(key), Some(value), message.into());
    }
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

impl AgentConfig {
    /// Reads and validates the configuration at `path`. Pipeline paths are
    /// resolved against the file's directory.
    pub fn load(path: &Path) -> anyhow::Result<AgentConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the agent configuration {}: {e}",
                path.display()
            )
        })?;
        Ok(AgentConfig::parse(path, &text)?)
    }

    /// Validates the text of a configuration file named `file` (nothing is
    /// read from disk; pipeline paths are resolved against `file`'s directory).
    pub fn parse(file: &Path, text: &str) -> Result<AgentConfig, ConfigProblems> {
        let name = file.display().to_string();
        let mut c = Checker {
            file: &name,
            text,
            problems: Vec::new(),
        };
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let offset = e.span().map_or(0, |s| s.start);
                c.at(offset, None, None, e.message().trim().to_owned());
                return Err(ConfigProblems(c.problems));
            }
        };
        let base = file.parent().unwrap_or(Path::new(""));
        let pipeline = |c: &mut Checker<'_>, key: &str, v: &Option<Spanned<String>>| {
            let v = v.as_ref()?;
            if v.get_ref().trim().is_empty() {
                c.bad(key, v, quoted(v.get_ref()), "must name a pipeline file");
                return None;
            }
            Some(base.join(v.get_ref()))
        };
        let estimator = pipeline(&mut c, "estimator", &raw.estimator);
        let qos = pipeline(&mut c, "qos", &raw.qos);
        if raw.estimator.is_none() && raw.qos.is_none() {
            c.at(
                0,
                None,
                None,
                "no pipeline: name at least one of `qos = \"<file>\"` and `estimator = \"<file>\"`"
                    .into(),
            );
        }
        let interval_secs = raw.interval_secs.as_ref().and_then(|v| {
            let x = *v.get_ref();
            if x.is_finite() && x > 0.0 {
                Some(x)
            } else {
                c.bad(
                    "interval_secs",
                    v,
                    x.to_string(),
                    "must be a positive number of seconds",
                );
                None
            }
        });

        let cgroups = check_cgroups(&mut c, raw.cgroups);
        let total = TotalConfig {
            cpus: positive(&mut c, "total.cpus", &raw.total.cpus),
            mem_mib: positive(&mut c, "total.mem_mib", &raw.total.mem_mib),
        };
        let metrics = check_metrics(&mut c, raw.metrics);
        let enforcement = check_enforcement(&mut c, raw.enforcement, base);
        let allowance = raw
            .allowance
            .map(|a| crate::allowance::check_allowance(&mut c, a));

        if !c.problems.is_empty() {
            return Err(ConfigProblems(c.problems));
        }
        match cgroups {
            Some(cgroups) => Ok(AgentConfig {
                file: file.to_path_buf(),
                estimator,
                qos,
                interval_secs,
                cgroups,
                total,
                metrics,
                enforcement,
                allowance,
            }),
            None => Err(ConfigProblems(vec![Problem {
                file: name.clone(),
                line: 1,
                column: 1,
                key: Some("cgroups".into()),
                value: None,
                message: "missing [cgroups] table".into(),
            }])),
        }
    }
}

pub(crate) fn positive(c: &mut Checker<'_>, key: &str, v: &Option<Spanned<f64>>) -> Option<f64> {
    let v = v.as_ref()?;
    let x = *v.get_ref();
    if x.is_finite() && x > 0.0 {
        Some(x)
    } else {
        c.bad(key, v, x.to_string(), "must be a positive number");
        None
    }
}

fn check_cgroups(c: &mut Checker<'_>, raw: Option<RawCgroups>) -> Option<CgroupsConfig> {
    let Some(raw) = raw else {
        c.at(
            0,
            Some("cgroups"),
            None,
            "missing [cgroups] table: name the production parent groups (`production = [...]`) \
             and the best-effort parent group (`best_effort = \"...\"`)"
                .into(),
        );
        return None;
    };
    let version = match raw.version.as_ref() {
        None => CgroupVersion::Auto,
        Some(v) => match v.get_ref().as_str() {
            "v1" => CgroupVersion::V1,
            "v2" => CgroupVersion::V2,
            "auto" => CgroupVersion::Auto,
            other => {
                c.bad(
                    "cgroups.version",
                    v,
                    quoted(other),
                    "must be \"v1\", \"v2\" or \"auto\"",
                );
                CgroupVersion::Auto
            }
        },
    };
    let root = match raw.root.as_ref() {
        None => PathBuf::from(DEFAULT_CGROUP_ROOT),
        Some(v) => {
            let p = PathBuf::from(v.get_ref());
            if !p.is_absolute() {
                c.bad(
                    "cgroups.root",
                    v,
                    quoted(v.get_ref()),
                    "must be an absolute path such as \"/sys/fs/cgroup\"",
                );
            }
            p
        }
    };

    let mut production = Vec::new();
    match raw.production.as_ref() {
        None => c.at(
            0,
            Some("cgroups.production"),
            None,
            "missing: name at least one parent group of production work, e.g. production = [\"production\"]"
                .into(),
        ),
        Some(list) if list.get_ref().is_empty() => c.bad(
            "cgroups.production",
            list,
            "[]".into(),
            "name at least one parent group of production work",
        ),
        Some(list) => {
            for item in list.get_ref() {
                match relative_group(&root, item.get_ref(), true) {
                    Ok(p) => production.push((item.span().start, p)),
                    Err(message) => c.bad(
                        "cgroups.production",
                        item,
                        quoted(item.get_ref()),
                        format!("a production pattern {message}"),
                    ),
                }
            }
        }
    }

    let best_effort = match raw.best_effort.as_ref() {
        None => {
            c.at(
                0,
                Some("cgroups.best_effort"),
                None,
                "missing: name the parent group of best-effort work, e.g. best_effort = \"best-effort\""
                    .into(),
            );
            None
        }
        Some(v) => match relative_group(&root, v.get_ref(), false) {
            Ok(p) => {
                for (_, pattern) in &production {
                    if overlaps(pattern, &p) {
                        c.bad(
                            "cgroups.best_effort",
                            v,
                            quoted(v.get_ref()),
                            format!(
                                "the best-effort prefix overlaps the production pattern {:?}: \
                                 production and best-effort groups must be disjoint trees",
                                pattern.join("/")
                            ),
                        );
                    }
                }
                Some(components_to_path(&p))
            }
            Err(message) => {
                c.bad(
                    "cgroups.best_effort",
                    v,
                    quoted(v.get_ref()),
                    format!("the best-effort prefix {message}; every group under it may be killed"),
                );
                None
            }
        },
    };
    Some(CgroupsConfig {
        version,
        root,
        production: production.into_iter().map(|(_, p)| p.join("/")).collect(),
        best_effort: best_effort?,
        perf: raw.perf,
        all_statistics: raw.all_statistics.unwrap_or(false),
    })
}

fn components_to_path(components: &[String]) -> PathBuf {
    components.iter().collect()
}

/// Normalizes a group path written in the configuration to its components
/// below the root. Absolute paths must lie below `root`.
fn relative_group(root: &Path, written: &str, globs: bool) -> Result<Vec<String>, String> {
    let trimmed = written.trim();
    if trimmed.is_empty() {
        return Err("must not be empty: it would name the hierarchy root".into());
    }
    let path = Path::new(trimmed);
    let below = if path.is_absolute() {
        if path.components().all(|c| c == Component::RootDir) {
            return Err("must not be \"/\": it would name the hierarchy root".into());
        }
        match path.strip_prefix(root) {
            Ok(rest) => rest.to_path_buf(),
            Err(_) => {
                return Err(format!(
                    "must be relative to `cgroups.root` ({}) or lie below it",
                    root.display()
                ))
            }
        }
    } else {
        path.to_path_buf()
    };
    let mut components = Vec::new();
    for part in below.components() {
        match part {
            Component::Normal(s) => {
                let Some(s) = s.to_str() else {
                    return Err("must be valid UTF-8".into());
                };
                if s.contains('[') || s.contains(']') {
                    return Err("must not use `[...]` classes (only `*` and `?`)".into());
                }
                if !globs && (s.contains('*') || s.contains('?')) {
                    return Err("must be a plain path (no `*` or `?`)".into());
                }
                components.push(s.to_owned());
            }
            Component::ParentDir => return Err("must not contain `..` components".into()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    if components.is_empty() {
        return Err(format!(
            "must name a group below the hierarchy root, not the root ({}) itself",
            root.display()
        ));
    }
    Ok(components)
}

/// True when one path is an ancestor of (or equal to) a match of the other:
/// their common leading components all match.
pub(crate) fn overlaps(pattern: &[String], plain: &[String]) -> bool {
    pattern
        .iter()
        .zip(plain.iter())
        .all(|(p, s)| glob_match(p, s))
}

/// Matches one path component against a pattern with `*` (any run of
/// characters) and `?` (one character).
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn check_metrics(c: &mut Checker<'_>, raw: RawMetrics) -> MetricsConfig {
    let allow_remote = raw.allow_remote.unwrap_or(false);
    let default_listen: SocketAddr = ([127, 0, 0, 1], 9464).into();
    let listen = match raw.listen.as_ref() {
        None => default_listen,
        Some(v) => match v.get_ref().trim().parse::<SocketAddr>() {
            Err(_) => {
                c.bad(
                    "metrics.listen",
                    v,
                    quoted(v.get_ref()),
                    "must be an IP address and port, such as \"127.0.0.1:9464\"",
                );
                default_listen
            }
            Ok(addr) => {
                if !addr.ip().is_loopback() && !allow_remote {
                    c.bad(
                        "metrics.listen",
                        v,
                        quoted(v.get_ref()),
                        "is not a loopback address; metrics are served to this host only \
                         unless `metrics.allow_remote = true` says otherwise",
                    );
                }
                addr
            }
        },
    };
    MetricsConfig {
        enabled: raw.enabled.unwrap_or(true),
        listen,
        allow_remote,
    }
}

fn check_enforcement(c: &mut Checker<'_>, raw: RawEnforcement, base: &Path) -> EnforcementConfig {
    let action = match raw.action.as_ref() {
        None => Action::Kill,
        Some(v) => match v.get_ref().as_str() {
            "kill" => Action::Kill,
            "freeze" => Action::Freeze,
            "throttle" => Action::Throttle,
            other => {
                c.bad(
                    "enforcement.action",
                    v,
                    quoted(other),
                    "must be \"kill\", \"freeze\" or \"throttle\"",
                );
                Action::Kill
            }
        },
    };
    let throttle_cpus = match raw.throttle_cpus.as_ref() {
        None => DEFAULT_THROTTLE_CPUS,
        Some(v) => {
            let x = *v.get_ref();
            if x.is_finite() && x >= 0.001 {
                x
            } else {
                c.bad(
                    "enforcement.throttle_cpus",
                    v,
                    x.to_string(),
                    "must be at least 0.001 CPUs (the kernel's smallest CFS quota is 1 ms per period)",
                );
                DEFAULT_THROTTLE_CPUS
            }
        }
    };
    let state_file = match raw.state_file.as_ref() {
        None => PathBuf::from(DEFAULT_STATE_FILE),
        Some(v) => {
            let text = v.get_ref();
            if text.trim().is_empty() || text.ends_with('/') {
                c.bad(
                    "enforcement.state_file",
                    v,
                    quoted(text),
                    "must name a file, such as \"/var/lib/serenity/agent-state.json\"",
                );
            }
            base.join(text)
        }
    };
    EnforcementConfig {
        action,
        throttle_cpus,
        restore_on_exit: raw.restore_on_exit.unwrap_or(true),
        state_file: Some(state_file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
qos = "agent-qos.toml"

[cgroups]
production = ["production", "services/*"]
best_effort = "best-effort"
"#;

    fn parse(text: &str) -> Result<AgentConfig, ConfigProblems> {
        AgentConfig::parse(Path::new("/etc/serenity/agent.toml"), text)
    }

    fn messages(text: &str) -> Vec<String> {
        parse(text)
            .expect_err("the configuration should be refused")
            .0
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    fn with_best_effort(value: &str) -> String {
        format!(
            "qos = \"q.toml\"\n[cgroups]\nproduction = [\"production\"]\nbest_effort = {value}\n"
        )
    }

    #[test]
    fn minimal_file_gets_documented_defaults() {
        let config = parse(GOOD).unwrap();
        assert_eq!(
            config.qos,
            Some(PathBuf::from("/etc/serenity/agent-qos.toml"))
        );
        assert_eq!(config.estimator, None);
        assert_eq!(config.interval_secs, None);
        assert_eq!(config.cgroups.version, CgroupVersion::Auto);
        assert_eq!(config.cgroups.root, PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(config.cgroups.production, ["production", "services/*"]);
        assert_eq!(config.cgroups.best_effort, PathBuf::from("best-effort"));
        assert_eq!(config.cgroups.perf, None, "auto: as the pipelines need");
        assert!(
            !config.cgroups.all_statistics,
            "only what the pipelines read"
        );
        assert_eq!(config.total, TotalConfig::default());
        assert_eq!(
            config.metrics.listen,
            DEFAULT_METRICS_LISTEN.parse::<SocketAddr>().unwrap()
        );
        assert!(config.metrics.enabled);
        assert!(!config.metrics.allow_remote);
        assert_eq!(config.enforcement, EnforcementConfig::default());
    }

    #[test]
    fn every_key_is_read() {
        let config = parse(
            r#"
estimator = "/abs/est.toml"
qos = "q.toml"
interval_secs = 2
[cgroups]
version = "v1"
root = "/cg"
production = ["/cg/prod/"]
best_effort = "be/jobs"
perf = false
all_statistics = true
[total]
cpus = 8
mem_mib = 1024.5
[metrics]
enabled = false
listen = "0.0.0.0:9000"
allow_remote = true
[enforcement]
action = "throttle"
throttle_cpus = 0.25
restore_on_exit = false
state_file = "state/agent.json"
"#,
        )
        .unwrap();
        assert_eq!(config.estimator, Some(PathBuf::from("/abs/est.toml")));
        assert_eq!(config.interval_secs, Some(2.0));
        assert_eq!(config.cgroups.version, CgroupVersion::V1);
        assert_eq!(config.cgroups.root, PathBuf::from("/cg"));
        assert_eq!(config.cgroups.production, ["prod"]);
        assert_eq!(config.cgroups.best_effort, PathBuf::from("be/jobs"));
        assert_eq!(config.cgroups.perf, Some(false));
        assert!(config.cgroups.all_statistics);
        assert_eq!(config.total.cpus, Some(8.0));
        assert_eq!(config.total.mem_mib, Some(1024.5));
        assert!(!config.metrics.enabled);
        assert_eq!(config.metrics.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.enforcement.action, Action::Throttle);
        assert_eq!(config.enforcement.throttle_cpus, 0.25);
        assert!(!config.enforcement.restore_on_exit);
        assert_eq!(
            config.enforcement.state_file,
            Some(PathBuf::from("/etc/serenity/state/agent.json")),
            "relative to the configuration file's directory"
        );
    }

    #[test]
    fn a_state_file_must_name_a_file() {
        assert_eq!(
            messages(&format!("{GOOD}[enforcement]\nstate_file = \"/var/lib/\"\n")),
            ["/etc/serenity/agent.toml:8:14: `enforcement.state_file` = \"/var/lib/\": must name \
              a file, such as \"/var/lib/serenity/agent-state.json\""]
        );
        assert_eq!(
            messages(&format!("{GOOD}[enforcement]\nstate_file = \"\"\n")).len(),
            1
        );
    }

    #[test]
    fn empty_best_effort_prefix_is_refused() {
        assert_eq!(
            messages(&with_best_effort("\"\"")),
            ["/etc/serenity/agent.toml:4:15: `cgroups.best_effort` = \"\": the best-effort prefix \
              must not be empty: it would name the hierarchy root; every group under it may be killed"]
        );
    }

    #[test]
    fn root_best_effort_prefix_is_refused() {
        assert_eq!(
            messages(&with_best_effort("\"/\"")),
            ["/etc/serenity/agent.toml:4:15: `cgroups.best_effort` = \"/\": the best-effort prefix \
              must not be \"/\": it would name the hierarchy root; every group under it may be killed"]
        );
        assert_eq!(
            messages(&with_best_effort("\"/sys/fs/cgroup/\"")),
            [
                "/etc/serenity/agent.toml:4:15: `cgroups.best_effort` = \"/sys/fs/cgroup/\": the \
              best-effort prefix must name a group below the hierarchy root, not the root \
              (/sys/fs/cgroup) itself; every group under it may be killed"
            ]
        );
        assert_eq!(
            messages(&with_best_effort("\"./\"")),
            ["/etc/serenity/agent.toml:4:15: `cgroups.best_effort` = \"./\": the best-effort prefix \
              must name a group below the hierarchy root, not the root (/sys/fs/cgroup) itself; \
              every group under it may be killed"]
        );
    }

    #[test]
    fn best_effort_prefix_must_be_a_plain_path_below_the_root() {
        assert_eq!(
            messages(&with_best_effort("\"be/../prod\"")),
            ["/etc/serenity/agent.toml:4:15: `cgroups.best_effort` = \"be/../prod\": the \
              best-effort prefix must not contain `..` components; every group under it may be killed"]
        );
        assert_eq!(
            messages(&with_best_effort("\"be/*\"")),
            [
                "/etc/serenity/agent.toml:4:15: `cgroups.best_effort` = \"be/*\": the best-effort \
              prefix must be a plain path (no `*` or `?`); every group under it may be killed"
            ]
        );
        assert_eq!(
            messages(&with_best_effort("\"/elsewhere/be\"")),
            [
                "/etc/serenity/agent.toml:4:15: `cgroups.best_effort` = \"/elsewhere/be\": the \
              best-effort prefix must be relative to `cgroups.root` (/sys/fs/cgroup) or lie below \
              it; every group under it may be killed"
            ]
        );
        let ok = parse(&with_best_effort("\"/sys/fs/cgroup/be//jobs/\"")).unwrap();
        assert_eq!(ok.cgroups.best_effort, PathBuf::from("be/jobs"));
    }

    #[test]
    fn best_effort_prefix_overlapping_production_is_refused() {
        let text = "qos = \"q.toml\"\n[cgroups]\nproduction = [\"prod\", \"svc/*\"]\nbest_effort = \"svc/batch/be\"\n";
        assert_eq!(
            messages(text),
            [
                "/etc/serenity/agent.toml:4:15: `cgroups.best_effort` = \"svc/batch/be\": the \
              best-effort prefix overlaps the production pattern \"svc/*\": production and \
              best-effort groups must be disjoint trees"
            ]
        );
        let inside =
            "qos = \"q.toml\"\n[cgroups]\nproduction = [\"be/prod\"]\nbest_effort = \"be\"\n";
        assert_eq!(
            messages(inside),
            [
                "/etc/serenity/agent.toml:4:15: `cgroups.best_effort` = \"be\": the best-effort \
              prefix overlaps the production pattern \"be/prod\": production and best-effort \
              groups must be disjoint trees"
            ]
        );
        let same = "qos = \"q.toml\"\n[cgroups]\nproduction = [\"jobs\"]\nbest_effort = \"jobs\"\n";
        assert_eq!(messages(same).len(), 1);
        let disjoint =
            "qos = \"q.toml\"\n[cgroups]\nproduction = [\"svc/*\"]\nbest_effort = \"batch/svc\"\n";
        assert!(parse(disjoint).is_ok());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"interval_secs = -1
[cgroups]
version = "v3"
production = []
best_effort = ""
[metrics]
listen = "0.0.0.0:9464"
[enforcement]
action = "reboot"
throttle_cpus = 0
"#;
        assert_eq!(
            messages(text),
            [
                "/etc/serenity/agent.toml:1:1: no pipeline: name at least one of `qos = \"<file>\"` and `estimator = \"<file>\"`",
                "/etc/serenity/agent.toml:1:17: `interval_secs` = -1: must be a positive number of seconds",
                "/etc/serenity/agent.toml:3:11: `cgroups.version` = \"v3\": must be \"v1\", \"v2\" or \"auto\"",
                "/etc/serenity/agent.toml:4:14: `cgroups.production` = []: name at least one parent group of production work",
                "/etc/serenity/agent.toml:5:15: `cgroups.best_effort` = \"\": the best-effort prefix must not be empty: it would name the hierarchy root; every group under it may be killed",
                "/etc/serenity/agent.toml:7:10: `metrics.listen` = \"0.0.0.0:9464\": is not a loopback address; metrics are served to this host only unless `metrics.allow_remote = true` says otherwise",
                "/etc/serenity/agent.toml:9:10: `enforcement.action` = \"reboot\": must be \"kill\", \"freeze\" or \"throttle\"",
                "/etc/serenity/agent.toml:10:17: `enforcement.throttle_cpus` = 0: must be at least 0.001 CPUs (the kernel's smallest CFS quota is 1 ms per period)",
            ]
        );
    }

    #[test]
    fn unknown_keys_and_missing_tables_are_named() {
        let unknown = "qos = \"q.toml\"\n[cgroups]\nproduction = [\"p\"]\nbest_effort = \"b\"\nbest_efort = \"c\"\n";
        let m = messages(unknown);
        assert_eq!(m.len(), 1);
        assert!(
            m[0].starts_with("/etc/serenity/agent.toml:5:1: unknown field `best_efort`"),
            "{m:?}"
        );
        assert_eq!(
            messages("qos = \"q.toml\"\n"),
            ["/etc/serenity/agent.toml:1:1: `cgroups`: missing [cgroups] table: name the production \
              parent groups (`production = [...]`) and the best-effort parent group (`best_effort = \"...\"`)"]
        );
        assert_eq!(
            messages("qos = \"q.toml\"\n[cgroups]\nproduction = [\"p\"]\n"),
            ["/etc/serenity/agent.toml:1:1: `cgroups.best_effort`: missing: name the parent group of \
              best-effort work, e.g. best_effort = \"best-effort\""]
        );
    }

    #[test]
    fn remote_metrics_need_explicit_permission() {
        let text = format!("{GOOD}[metrics]\nlisten = \"[::1]:9464\"\n");
        assert!(parse(&text).is_ok(), "IPv6 loopback is loopback");
        let text = format!("{GOOD}[metrics]\nlisten = \"localhost:9464\"\n");
        assert_eq!(
            messages(&text),
            ["/etc/serenity/agent.toml:8:10: `metrics.listen` = \"localhost:9464\": must be an IP \
              address and port, such as \"127.0.0.1:9464\""]
        );
    }

    #[test]
    fn glob_matches_within_one_component() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("web-*", "web-1"));
        assert!(!glob_match("web-*", "db-1"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*.slice", "kubepods.slice"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "x"));
    }
}
