//! The agent loop: discover → sample → QoS pipeline → enforcement →
//! estimator pipeline → metrics, every `interval_secs`.
//!
//! The QoS pipeline ticks first so that its `pause_estimator` stage can
//! close the estimator's valve in the same tick (the estimator's valve is
//! handed to the QoS pipeline as `BuildOptions::estimator_valve`). Ticks are
//! paced by a monotonic clock; a tick that overruns the interval delays the
//! next one rather than piling them up.
//!
//! Before anything else, an enforcing agent undoes what a previous one
//! recorded in the enforcement state file and left in force
//! ([`Enforcer::recover`]). SIGHUP reloads the configuration file and the
//! pipelines between ticks; a file that does not load leaves the running
//! configuration in place, with one error line saying why.

use crate::allowance::{AllowanceActuator, AllowanceChange};
use crate::config::{Action, AgentConfig, CgroupVersion};
use crate::enforce::{Decision, Enforcer, Outcome};
use crate::groups::{discover, Discovery, Group, GroupKind, Layout};
use crate::http::HttpServer;
use crate::metrics::{Metrics, SignalValue};
use crate::needs::Needs;
use crate::sampling::{host_totals, Sampled, Sampler};
use serenity_core::sli::SliSpec;
use serenity_core::summary::Raised;
use serenity_core::{
    build_pipeline, BuildOptions, Pipeline, PipelineKind, Slack, Snapshot, TickRecord,
};
use serenity_sli::SliFetchers;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Command-line arguments of `serenity agent`.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// The agent configuration file (TOML; see docs/agent.md).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Act on corrections: kill, freeze or throttle best-effort groups.
    /// Without it the agent runs dry: it logs what it would do.
    #[arg(long)]
    pub enforce: bool,
    /// Run one tick and exit (a configuration and permissions check).
    #[arg(long, conflicts_with = "ticks")]
    pub once: bool,
    /// Run N ticks and exit (N ≥ 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub ticks: Option<u64>,
}

/// What one tick saw and did.
#[derive(Debug, Clone)]
pub struct TickReport {
    /// The groups sampled, in executor order.
    pub groups: Vec<Group>,
    /// The estimator's slack (absent without an estimator pipeline).
    pub slack: Option<Slack>,
    /// Contentions the QoS pipeline raised.
    pub contentions: usize,
    /// Why the QoS pipeline stopped early, if it did.
    pub qos_stopped: Option<String>,
    /// What was done about each correction.
    pub decisions: Vec<Decision>,
    /// The best-effort allowance after this tick (with `[allowance]`).
    pub allowance: Option<AllowanceChange>,
    /// Errors met in this tick.
    pub errors: u64,
    /// What the tick cost (monotonic clock).
    pub elapsed: Duration,
    /// The snapshot the pipelines saw (its `usage` is what the groups read
    /// as; `executors[i].index` points into `groups`).
    pub snapshot: Snapshot,
}

/// A running node agent: pipelines, sampler, enforcer and metrics.
pub struct Agent {
    config: AgentConfig,
    layout: Layout,
    total_cpus: f64,
    total_mem_mib: f64,
    interval: Duration,
    qos: Option<Pipeline>,
    estimator: Option<Pipeline>,
    sampler: Sampler,
    enforcer: Enforcer,
    allowance: Option<AllowanceActuator>,
    /// The fetch threads of the pipelines' `[[sli]]` tables (one per name).
    slis: SliFetchers,
    metrics: Arc<Metrics>,
    best_effort_missing_said: bool,
    /// Set by SIGHUP: reload before the next tick.
    reload: Option<Arc<AtomicBool>>,
    /// The production groups whose unreadability zeroed the slack (said once).
    zero_slack_said: Vec<String>,
    /// The last tick's snapshot, handed back by [`Agent::recycle`]: the next
    /// tick builds its usage and view in these buffers.
    spare: Option<Snapshot>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("layout", &self.layout)
            .field("interval", &self.interval)
            .field("qos", &self.qos.as_ref().map(Pipeline::name))
            .field("estimator", &self.estimator.as_ref().map(Pipeline::name))
            .field("enforce", &!self.enforcer.dry_run())
            .finish()
    }
}

fn load_pipeline(
    config: &AgentConfig,
    key: &str,
    path: &Path,
    kind: PipelineKind,
    options: BuildOptions,
) -> anyhow::Result<Pipeline> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "{}: `{key}` = {:?}: cannot read the pipeline file: {e}",
            config.file.display(),
            path.display().to_string()
        )
    })?;
    let pipeline = build_pipeline(&path.display().to_string(), &text, &[], options)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if pipeline.kind() != kind {
        anyhow::bail!(
            "{}: `{key}` = {:?}: the file is {} {} pipeline; `{key}` needs kind = \"{}\"",
            config.file.display(),
            path.display().to_string(),
            match pipeline.kind() {
                PipelineKind::Estimator => "an",
                PipelineKind::Qos => "a",
            },
            pipeline.kind().as_str(),
            kind.as_str()
        );
    }
    Ok(pipeline)
}

/// The `mode` label of `serenity_corrections_total`.
fn correction_mode(dry_run: bool) -> &'static str {
    if dry_run {
        "dry_run"
    } else {
        "enforce"
    }
}

/// Refuses to enforce an action whose v1 hierarchy is not mounted (it would
/// fail on every correction).
fn check_enforcement_hierarchy(layout: &Layout, action: Action) -> anyhow::Result<()> {
    if layout.version != CgroupVersion::V1 {
        return Ok(());
    }
    let needed = match action {
        Action::Kill => return Ok(()),
        Action::Freeze => "freezer",
        Action::Throttle => "cpu",
    };
    if layout.hierarchy(needed).is_none() {
        anyhow::bail!(
            "`enforcement.action = \"{action}\"` needs the cgroup v1 {needed} hierarchy, \
             and none is mounted under {}",
            layout.root.display()
        );
    }
    Ok(())
}

/// The pipelines a configuration names, the estimator's valve linked to
/// the QoS pipeline.
fn load_pipelines(config: &AgentConfig) -> anyhow::Result<(Option<Pipeline>, Option<Pipeline>)> {
    let estimator = match &config.estimator {
        Some(path) => Some(load_pipeline(
            config,
            "estimator",
            path,
            PipelineKind::Estimator,
            BuildOptions::default(),
        )?),
        None => None,
    };
    let qos = match &config.qos {
        Some(path) => Some(load_pipeline(
            config,
            "qos",
            path,
            PipelineKind::Qos,
            BuildOptions {
                valve: None,
                estimator_valve: estimator.as_ref().map(|e| e.valve().clone()),
            },
        )?),
        None => None,
    };
    Ok((qos, estimator))
}

/// The `[[sli]]` tables of both pipelines, one per name: both pipelines read
/// the sample of a name, so a name declared in both must be declared alike.
fn sli_specs(
    config: &AgentConfig,
    qos: Option<&Pipeline>,
    estimator: Option<&Pipeline>,
) -> anyhow::Result<Vec<SliSpec>> {
    let mut out: Vec<(SliSpec, &str)> = Vec::new();
    for pipeline in qos.into_iter().chain(estimator) {
        for spec in pipeline.slis() {
            match out.iter().find(|(s, _)| s.name == spec.name) {
                None => out.push((spec.clone(), pipeline.name())),
                Some((s, first)) if same_sli(s, spec) => {
                    log::debug!(target: "serenity",
                        "SLI {} is declared alike in {first} and {}: fetched once", spec.name, pipeline.name());
                }
                Some((_, first)) => anyhow::bail!(
                    "{}: SLI {} is declared differently in the pipelines {first} and {}: both read \
                     the one value handed in under that name; declare it alike or rename one",
                    config.file.display(),
                    spec.name,
                    pipeline.name()
                ),
            }
        }
    }
    Ok(out.into_iter().map(|(s, _)| s).collect())
}

/// Two `[[sli]]` tables declare the same indicator (signal ids aside, which
/// differ between pipelines).
fn same_sli(a: &SliSpec, b: &SliSpec) -> bool {
    a.name == b.name
        && a.executors == b.executors
        && a.objective == b.objective
        && a.direction == b.direction
        && a.unit == b.unit
        && a.scale == b.scale
        && a.interval_secs == b.interval_secs
        && a.window_secs == b.window_secs
        && a.timeout_secs == b.timeout_secs
        && a.max_age_secs == b.max_age_secs
        && a.source == b.source
}

/// Whether the sampler keeps per-group perf counters: as `[cgroups] perf`
/// says, else when some pipeline reads a perf signal. Per-cgroup perf
/// events cost every context switch of the group's tasks (the kernel
/// switches the group's counters in and out), so an agent whose pipelines
/// read none does not tax production work for them. Logged once.
fn perf_wanted(
    explicit: Option<bool>,
    qos: Option<&Pipeline>,
    estimator: Option<&Pipeline>,
) -> bool {
    let readers: Vec<&str> = qos
        .into_iter()
        .chain(estimator)
        .filter(|p| {
            serenity_core::signal::PERF_SIGNALS
                .iter()
                .any(|s| p.signals().is_read(s))
        })
        .map(Pipeline::name)
        .collect();
    let (on, why) = match explicit {
        Some(on) => (on, "as `[cgroups] perf` says".to_owned()),
        None if readers.is_empty() => (
            false,
            "no pipeline reads a perf signal (set `[cgroups] perf = true` to open them anyway)"
                .to_owned(),
        ),
        None => (true, format!("read by {}", readers.join(", "))),
    };
    log::info!(
        target: "serenity",
        "per-group perf counters {}: {why}",
        if on { "on" } else { "off" }
    );
    on
}

/// The cgroup files the sampler reads: those behind the signals the
/// pipelines read, or all with `[cgroups] all_statistics`. Logged.
fn needs_of(config: &AgentConfig, qos: Option<&Pipeline>, estimator: Option<&Pipeline>) -> Needs {
    let pipelines: Vec<&Pipeline> = qos.into_iter().chain(estimator).collect();
    let needs = Needs::of(config.cgroups.all_statistics, &pipelines);
    log::info!(target: "serenity", "cgroup files read every tick: {}", needs.describe());
    needs
}

/// `interval_secs`, else the QoS pipeline's, else the estimator's, else 1 s.
fn tick_interval(
    config: &AgentConfig,
    qos: Option<&Pipeline>,
    estimator: Option<&Pipeline>,
) -> anyhow::Result<Duration> {
    let interval_secs = config
        .interval_secs
        .or(qos.map(Pipeline::interval_secs))
        .or(estimator.map(Pipeline::interval_secs))
        .unwrap_or(1.0);
    Duration::try_from_secs_f64(interval_secs).map_err(|_| {
        anyhow::anyhow!(
            "{}: interval_secs = {interval_secs} is not a usable number of seconds",
            config.file.display()
        )
    })
}

/// The agent's total (cpus, MiB): `[total]`, else the host's.
fn totals(config: &AgentConfig) -> anyhow::Result<(f64, f64)> {
    match (config.total.cpus, config.total.mem_mib) {
        (Some(c), Some(m)) => Ok((c, m)),
        (c, m) => {
            let (host_cpus, host_mem) = host_totals()?;
            Ok((c.unwrap_or(host_cpus), m.unwrap_or(host_mem)))
        }
    }
}

/// An enforcing freeze or throttle records its changes before making them:
/// the state file's directory must exist or be creatable, else the agent
/// refuses to start (every such correction would fail).
fn check_state_dir(config: &AgentConfig) -> anyhow::Result<()> {
    let e = &config.enforcement;
    let (Some(path), true, Action::Freeze | Action::Throttle) =
        (&e.state_file, e.restore_on_exit, e.action)
    else {
        return Ok(());
    };
    crate::state::StateFile::new(path.clone())
        .ensure_dir()
        .map_err(|err| {
            anyhow::anyhow!(
                "{}: `enforcement.state_file` = {:?}: {err}; a {} records each change there before \
                 making it",
                config.file.display(),
                path.display().to_string(),
                e.action
            )
        })
}

impl Agent {
    /// Resolves the cgroup layout, undoes what a previous enforcing agent
    /// left recorded in the state file, then builds the pipelines. Without
    /// `enforce` the agent runs dry (and restores nothing).
    pub fn new(config: AgentConfig, enforce: bool) -> anyhow::Result<Agent> {
        let layout = Layout::resolve(config.cgroups.version, &config.cgroups.root)?;
        let mut enforcer = Enforcer::new(
            layout.clone(),
            config.cgroups.best_effort.clone(),
            config.enforcement.clone(),
            !enforce,
        );
        // First of all: a previous agent killed with freezes or throttles in
        // force left them in the state file.
        let recovery = enforcer.recover();
        let metrics = Arc::new(Metrics::default());
        metrics.lock().restored_total += recovery.restored.len() as u64;
        if enforce {
            check_enforcement_hierarchy(&layout, config.enforcement.action)?;
            check_state_dir(&config)?;
        }
        let (qos, estimator) = load_pipelines(&config)?;
        let interval = tick_interval(&config, qos.as_ref(), estimator.as_ref())?;
        let (total_cpus, total_mem_mib) = totals(&config)?;
        let sampler = Sampler::with_needs(
            layout.clone(),
            perf_wanted(config.cgroups.perf, qos.as_ref(), estimator.as_ref()),
            needs_of(&config, qos.as_ref(), estimator.as_ref()),
        );
        // The configured action's counter exists from the start at 0, so a
        // scrape sees it (and `rate()` works) before the first correction.
        if qos.is_some() {
            metrics.lock().corrections_total.insert(
                (
                    config.enforcement.action.as_str().to_owned(),
                    correction_mode(!enforce).to_owned(),
                ),
                0,
            );
        }
        let allowance = config
            .allowance
            .clone()
            .map(|a| AllowanceActuator::new(a, total_cpus));
        let slis = SliFetchers::start(&sli_specs(&config, qos.as_ref(), estimator.as_ref())?);
        Ok(Agent {
            interval,
            allowance,
            slis,
            config,
            layout,
            total_cpus,
            total_mem_mib,
            qos,
            estimator,
            sampler,
            enforcer,
            metrics,
            best_effort_missing_said: false,
            reload: None,
            zero_slack_said: Vec::new(),
            spare: None,
        })
    }

    /// Re-reads the configuration file and the pipelines it names (what
    /// SIGHUP does). Everything is checked before anything changes: on any
    /// problem the running configuration stays and the error names the file
    /// (with line and column) and the key. `[cgroups]` and `[metrics]`
    /// change only at a restart, and a reload that changes them is refused.
    /// The new pipelines start with fresh state; changes in force stay
    /// remembered and are restored as before. Returns a summary of what
    /// runs now.
    pub fn reload(&mut self) -> anyhow::Result<String> {
        let path = self.config.file.clone();
        let config = AgentConfig::load(&path)?;
        for (key, same) in [
            ("cgroups", config.cgroups == self.config.cgroups),
            ("metrics", config.metrics == self.config.metrics),
        ] {
            if !same {
                anyhow::bail!(
                    "{}: `[{key}]` differs from the running configuration; it changes only when \
                     the agent restarts",
                    path.display()
                );
            }
        }
        let enforce = !self.enforcer.dry_run();
        if enforce {
            check_enforcement_hierarchy(&self.layout, config.enforcement.action)?;
            check_state_dir(&config)?;
        }
        let (qos, estimator) = load_pipelines(&config)?;
        let interval = tick_interval(&config, qos.as_ref(), estimator.as_ref())?;
        let (total_cpus, total_mem_mib) = totals(&config)?;
        let specs = sli_specs(&config, qos.as_ref(), estimator.as_ref())?;
        self.enforcer
            .set_config(config.enforcement.clone())
            .map_err(|e| anyhow::anyhow!("{}: `enforcement.state_file`: {e}", path.display()))?;
        let summary = format!(
            "qos {}, estimator {}, every {:?}, action {}",
            qos.as_ref().map_or("none", Pipeline::name),
            estimator.as_ref().map_or("none", Pipeline::name),
            interval,
            config.enforcement.action
        );
        if config.allowance != self.config.allowance {
            // A new actuator starts from the new initial value; the parent's
            // original values stay recorded by the enforcer and are restored
            // as before.
            self.allowance = config
                .allowance
                .clone()
                .map(|a| AllowanceActuator::new(a, total_cpus));
        }
        self.sampler.set_perf(perf_wanted(
            config.cgroups.perf,
            qos.as_ref(),
            estimator.as_ref(),
        ));
        self.sampler
            .set_needs(needs_of(&config, qos.as_ref(), estimator.as_ref()));
        // New fetchers before the old ones stop: the new pipelines start
        // afresh, their SLIs missing until the first fetch answers.
        self.slis = SliFetchers::start(&specs);
        self.qos = qos;
        self.estimator = estimator;
        self.interval = interval;
        self.total_cpus = total_cpus;
        self.total_mem_mib = total_mem_mib;
        self.config = config;
        Ok(summary)
    }

    /// Reloads the configuration before the next tick of
    /// [`Agent::run_loop`] whenever `flag` is set (SIGHUP sets it in
    /// [`run()`]), clearing it.
    pub fn reload_on(&mut self, flag: Arc<AtomicBool>) {
        self.reload = Some(flag);
    }

    /// Reloads if the flag is set; failures are logged and counted.
    fn reload_if_asked(&mut self) {
        let asked = self
            .reload
            .as_ref()
            .is_some_and(|f| f.swap(false, Ordering::SeqCst));
        if !asked {
            return;
        }
        let path = self.config.file.display().to_string();
        match self.reload() {
            Ok(summary) => log::info!(
                target: "serenity",
                "reloaded the configuration {path}: {summary}; the pipelines start afresh"
            ),
            Err(e) => {
                self.metrics.lock().reload_failures_total += 1;
                log::error!(
                    target: "serenity",
                    "configuration reload from {path} failed; the running configuration is kept: {e:#}"
                );
            }
        }
    }

    /// Seconds between ticks.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The resolved cgroup layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The agent's total (cpus, mem MiB) as reported to the pipelines.
    pub fn totals(&self) -> (f64, f64) {
        (self.total_cpus, self.total_mem_mib)
    }

    /// The QoS pipeline.
    pub fn qos(&self) -> Option<&Pipeline> {
        self.qos.as_ref()
    }

    /// The estimator pipeline.
    pub fn estimator(&self) -> Option<&Pipeline> {
        self.estimator.as_ref()
    }

    /// The sampler (what it reads, its kept files).
    pub fn sampler(&self) -> &Sampler {
        &self.sampler
    }

    /// The enforcer (what it changed, dry run or not).
    pub fn enforcer(&self) -> &Enforcer {
        &self.enforcer
    }

    /// The metrics state the listener serves.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Starts the metrics listener configured in `[metrics]` (none when
    /// disabled). It stops when the returned server is dropped.
    pub fn start_metrics(&self) -> anyhow::Result<Option<HttpServer>> {
        if !self.config.metrics.enabled {
            return Ok(None);
        }
        let listen = self.config.metrics.listen;
        let server = crate::metrics::serve(listen, self.metrics.clone())
            .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {listen}: {e}"))?;
        log::info!(
            target: "serenity",
            "metrics at http://{}/metrics",
            server.local_addr()
        );
        Ok(Some(server))
    }

    /// Runs one tick: discover, sample, QoS, enforce, estimate, metrics.
    pub fn tick(&mut self) -> TickReport {
        let start = Instant::now();
        let sampled = self.sample();
        self.decide(sampled, start)
    }

    /// The first half of a tick: discovers the groups and reads them
    /// (discovery failures are logged and counted in `errors`).
    pub fn sample(&mut self) -> Sampled {
        let mut errors = 0;
        let discovery = match discover(
            &self.layout,
            &self.config.cgroups.production,
            &self.config.cgroups.best_effort,
        ) {
            Ok(d) => d,
            Err(e) => {
                errors += 1;
                log::error!(target: "serenity", "group discovery failed: {e}");
                Discovery::default()
            }
        };
        if discovery.best_effort_missing && !self.best_effort_missing_said {
            log::warn!(
                target: "serenity",
                "the best-effort parent group {} does not exist under {}: no best-effort executors",
                self.config.cgroups.best_effort.display(),
                self.layout.root.display()
            );
        }
        self.best_effort_missing_said = discovery.best_effort_missing;
        let buffers = self
            .spare
            .as_mut()
            .map(|s| std::mem::take(&mut s.usage))
            .unwrap_or_default();
        let mut sampled = self.sampler.sample_into(
            &discovery.groups,
            self.total_cpus,
            self.total_mem_mib,
            buffers,
        );
        sampled.errors += errors;
        sampled
    }

    /// The second half of a tick, on what [`Agent::sample`] read (or a test
    /// made of it): QoS, enforcement, estimator, metrics.
    pub fn tick_sampled(&mut self, sampled: Sampled) -> TickReport {
        self.decide(sampled, Instant::now())
    }

    fn decide(&mut self, sampled: Sampled, start: Instant) -> TickReport {
        let mut errors = sampled.errors;
        let groups = sampled.groups;
        let unreadable: Vec<String> = sampled
            .unreadable
            .iter()
            .filter(|g| g.kind == GroupKind::Production)
            .map(Group::path_str)
            .collect();
        let mut usage = sampled.usage;
        self.slis.inject(&mut usage);
        let snapshot = match self.spare.take() {
            Some(mut spare) => {
                spare.usage = usage;
                spare.rebuild();
                spare
            }
            None => Snapshot::new(usage),
        };

        let mut contentions = 0;
        let mut raised = Raised::default();
        let mut qos_stopped = None;
        let mut decisions = Vec::new();
        let mut allowance = None;
        if let Some(qos) = self.qos.as_mut() {
            let outcome = qos.tick(&snapshot);
            if let Some(actuator) = self.allowance.as_mut() {
                allowance = Some(actuator.tick(&mut self.enforcer, outcome.allowance));
            }
            contentions = outcome.contentions.len();
            raised = Raised::of(outcome.contentions);
            qos_stopped = outcome.stopped.as_ref().map(|s| s.reason.clone());
            let targets: Vec<(PathBuf, String)> = outcome
                .corrections
                .iter()
                .filter_map(|c| {
                    let view = snapshot.executors.get(c.row)?;
                    let group = groups.get(view.index)?;
                    Some((group.path.clone(), c.reason.clone()))
                })
                .collect();
            for (path, reason) in targets {
                decisions.push(self.enforcer.apply(&path, &reason));
            }
        }
        let contended = match self.qos.as_ref() {
            Some(qos) => raised.named(qos.signals()),
            None => Vec::new(),
        };
        let mut slack = self
            .estimator
            .as_mut()
            .and_then(|e| e.tick(&snapshot).slack);
        if slack.is_some() && !unreadable.is_empty() {
            // Production usage is unknown: lending anything could over-lend.
            slack = Some(Slack {
                cpus: 0.0,
                mem_bytes: 0.0,
            });
        }
        if unreadable != self.zero_slack_said && slack.is_some() {
            if unreadable.is_empty() {
                log::info!(
                    target: "serenity",
                    "production group(s) {} can be read again: the estimator's slack is published again",
                    self.zero_slack_said.join(", ")
                );
            } else {
                log::warn!(
                    target: "serenity",
                    "slack is 0 while production group(s) {} cannot be read: their usage is unknown",
                    unreadable.join(", ")
                );
            }
        }
        self.zero_slack_said = unreadable;
        self.enforcer.prune();
        errors += decisions
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Refused(_) | Outcome::Failed(_)))
            .count() as u64;

        let elapsed = start.elapsed();
        self.record(
            &snapshot,
            &groups,
            slack,
            contentions,
            &decisions,
            allowance.as_ref(),
            errors,
            elapsed,
        );
        self.record_summary(&groups, slack, contended, &decisions);
        TickReport {
            groups,
            slack,
            contentions,
            qos_stopped,
            decisions,
            allowance,
            errors,
            elapsed,
            snapshot,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        snapshot: &Snapshot,
        groups: &[Group],
        slack: Option<Slack>,
        contentions: usize,
        decisions: &[Decision],
        allowance: Option<&AllowanceChange>,
        errors: u64,
        elapsed: Duration,
    ) {
        let mut m = self.metrics.lock();
        let now = snapshot.timestamp;
        for status in self.slis.status() {
            let entry = m.slis.entry(status.name.clone()).or_default();
            entry.value = status.latest.map(|r| r.value);
            entry.age_secs = match (status.latest, now) {
                (Some(r), Some(now)) => Some(now - r.timestamp),
                _ => None,
            };
            entry.failures_total = status.fetches_failed;
        }
        if let Some(a) = allowance {
            m.allowance_cpus = Some(a.cpus);
            m.allowance_mem_bytes = a.mem_bytes;
            *m.allowance_steps_total
                .entry(a.step.as_str().to_owned())
                .or_default() += 1;
        }
        m.ticks_total += 1;
        m.errors_total += errors;
        m.tick_seconds = elapsed.as_secs_f64();
        m.slack_cpus = slack.map(|s| s.cpus);
        m.slack_mem_bytes = slack.map(|s| s.mem_bytes);
        m.groups.clear();
        for kind in [GroupKind::Production, GroupKind::BestEffort] {
            let n = groups.iter().filter(|g| g.kind == kind).count();
            m.groups.insert(kind.framework_id().to_owned(), n);
        }
        let mode = correction_mode(self.enforcer.dry_run());
        for d in decisions {
            match d.outcome {
                Outcome::Refused(_) => m.refused_total += 1,
                Outcome::Applied(_) | Outcome::DryRun => {
                    *m.corrections_total
                        .entry((d.action.as_str().to_owned(), mode.to_owned()))
                        .or_default() += 1
                }
                Outcome::Unchanged(_) | Outcome::Failed(_) => {}
            }
        }
        m.signals.clear();
        m.contentions.clear();
        m.valve_open.clear();
        for pipeline in self.qos.iter().chain(self.estimator.iter()) {
            let name = pipeline.name().to_owned();
            if pipeline.kind() == PipelineKind::Qos {
                m.contentions.insert(name.clone(), contentions);
            }
            if pipeline.has_valve() {
                m.valve_open
                    .insert(name.clone(), pipeline.valve().is_open());
            }
            let names = pipeline.signals();
            let ids: Vec<(Arc<str>, _)> = names
                .all()
                .iter()
                .filter_map(|n| names.lookup(n).map(|id| (Arc::from(n.as_str()), id)))
                .collect();
            let table = pipeline.last_signals();
            let pipeline_name: Arc<str> = Arc::from(name.as_str());
            for (row, view) in snapshot.executors.iter().enumerate().take(table.rows()) {
                let group: Arc<str> = match groups.get(view.index) {
                    Some(g) => Arc::from(g.path_str()),
                    None => Arc::from(view.key.executor_id.as_str()),
                };
                for (signal, id) in &ids {
                    if let Some(value) = table.get(row, *id) {
                        m.signals.push(SignalValue {
                            pipeline: pipeline_name.clone(),
                            group: group.clone(),
                            signal: signal.clone(),
                            value,
                        });
                    }
                }
            }
        }
    }

    /// Feeds the node summary (`GET /summary`) with this tick.
    fn record_summary(
        &self,
        groups: &[Group],
        slack: Option<Slack>,
        contentions: Vec<(String, String)>,
        decisions: &[Decision],
    ) {
        let corrections = decisions
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Applied(_) | Outcome::DryRun))
            .count() as u64;
        let valves = self
            .qos
            .iter()
            .chain(self.estimator.iter())
            .filter(|p| p.has_valve())
            .map(|p| (p.name().to_owned(), p.valve().is_open()))
            .collect();
        self.metrics.record_tick(TickRecord {
            slack,
            contentions,
            corrections,
            valves,
            best_effort_executors: groups
                .iter()
                .filter(|g| g.kind == GroupKind::BestEffort)
                .count(),
        });
    }

    /// Hands a tick's report back, so that the next tick builds its usage
    /// and snapshot in the buffers of this one's instead of allocating them
    /// ([`Agent::run_loop`] does this every tick; the result is the same
    /// without it).
    pub fn recycle(&mut self, report: TickReport) {
        self.spare = Some(report.snapshot);
    }

    /// Ticks every interval until `shutdown` is set or `limit` ticks ran.
    /// Returns the number of ticks run.
    pub fn run_loop(&mut self, shutdown: &AtomicBool, limit: Option<u64>) -> u64 {
        let mut ticks = 0;
        let mut next = Instant::now();
        while !shutdown.load(Ordering::SeqCst) {
            self.reload_if_asked();
            let report = self.tick();
            ticks += 1;
            log::debug!(
                target: "serenity",
                "tick {ticks}: {} groups, {} contentions, {} corrections, slack {:?}, {:?}",
                report.groups.len(),
                report.contentions,
                report.decisions.len(),
                report.slack.map(|s| s.cpus),
                report.elapsed
            );
            self.recycle(report);
            if limit.is_some_and(|l| ticks >= l) {
                break;
            }
            next += self.interval;
            let now = Instant::now();
            if next < now {
                next = now;
            }
            while !shutdown.load(Ordering::SeqCst) {
                let now = Instant::now();
                if now >= next {
                    break;
                }
                std::thread::sleep((next - now).min(Duration::from_millis(50)));
            }
        }
        ticks
    }

    /// Undoes freezes and throttles when `restore_on_exit` is set (dropping
    /// the agent does the same).
    pub fn shutdown(&mut self) {
        if self.config.enforcement.restore_on_exit {
            self.enforcer.restore();
        }
    }
}

/// SIGINT and SIGTERM set the shutdown flag while this guard lives; a second
/// signal while the flag is set terminates the process at once. SIGHUP sets
/// the reload flag.
struct SignalGuard {
    ids: Vec<signal_hook::SigId>,
}

impl SignalGuard {
    fn install(
        shutdown: &Arc<AtomicBool>,
        reload: &Arc<AtomicBool>,
    ) -> anyhow::Result<SignalGuard> {
        let mut ids = vec![signal_hook::flag::register(
            signal_hook::consts::SIGHUP,
            reload.clone(),
        )?];
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            ids.push(signal_hook::flag::register_conditional_shutdown(
                signal,
                1,
                shutdown.clone(),
            )?);
            ids.push(signal_hook::flag::register(signal, shutdown.clone())?);
        }
        Ok(SignalGuard { ids })
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Runs the agent described by `args` until `shutdown` is set (SIGINT and
/// SIGTERM set it too), `--once` or `--ticks` is done, then restores what it
/// changed. SIGHUP reloads the configuration ([`Agent::reload`]). Errors are
/// configuration or startup problems.
pub fn run(args: AgentArgs, shutdown: Arc<AtomicBool>) -> anyhow::Result<()> {
    let config = AgentConfig::load(&args.config)?;
    let mut agent = Agent::new(config, args.enforce)?;
    let reload = Arc::new(AtomicBool::new(false));
    let _signals = SignalGuard::install(&shutdown, &reload)?;
    agent.reload_on(reload);
    let _server = agent.start_metrics()?;
    log::info!(
        target: "serenity",
        "node agent started ({}): {:?} cgroups at {}, every {:?}, {} CPUs, {:.0} MiB",
        if args.enforce { "enforcing" } else { "dry run: corrections are only logged" },
        agent.layout.version,
        agent.layout.root.display(),
        agent.interval,
        agent.total_cpus,
        agent.total_mem_mib
    );
    let limit = if args.once { Some(1) } else { args.ticks };
    let ticks = agent.run_loop(&shutdown, limit);
    agent.shutdown();
    log::info!(target: "serenity", "node agent stopped after {ticks} ticks");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        agent: AgentArgs,
    }

    #[test]
    fn perf_counters_follow_the_setting_else_what_the_pipelines_read() {
        let build = |text: &str| {
            serenity_core::build_pipeline("p.toml", text, &[], Default::default()).unwrap()
        };
        let ipc = build(
            "kind = \"qos\"\n[[stage]]\ntype = \"ema\"\ninput = \"ipc\"\noutput = \"ipc_ema\"\n",
        );
        let cpu = build(
            "kind = \"qos\"\n[[stage]]\ntype = \"ema\"\ninput = \"cpu_usage\"\noutput = \"u\"\n",
        );
        assert!(perf_wanted(None, Some(&ipc), None));
        assert!(!perf_wanted(None, Some(&cpu), None));
        assert!(!perf_wanted(None, None, None));
        assert!(perf_wanted(Some(true), Some(&cpu), None));
        assert!(!perf_wanted(Some(false), Some(&ipc), None));
    }

    #[test]
    fn agent_and_enforcer_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<Agent>();
        send::<crate::Enforcer>();
    }

    #[test]
    fn args_parse_and_dry_run_is_the_default() {
        let cli = Cli::try_parse_from(["serenity", "--config", "a.toml"]).unwrap();
        assert_eq!(cli.agent.config, PathBuf::from("a.toml"));
        assert!(!cli.agent.enforce);
        assert!(!cli.agent.once);
        assert_eq!(cli.agent.ticks, None);
        let cli = Cli::try_parse_from([
            "serenity",
            "--config",
            "a.toml",
            "--enforce",
            "--ticks",
            "3",
        ])
        .unwrap();
        assert!(cli.agent.enforce);
        assert_eq!(cli.agent.ticks, Some(3));
        assert!(
            Cli::try_parse_from(["serenity"]).is_err(),
            "--config is required"
        );
        assert!(
            Cli::try_parse_from(["serenity", "--config", "a", "--ticks", "0"]).is_err(),
            "--ticks 0 is refused"
        );
        assert!(
            Cli::try_parse_from(["serenity", "--config", "a", "--once", "--ticks", "2"]).is_err(),
            "--once and --ticks conflict"
        );
    }

    #[test]
    fn sigterm_sets_the_shutdown_flag_while_the_guard_lives() {
        let flag = Arc::new(AtomicBool::new(false));
        let reload = Arc::new(AtomicBool::new(false));
        let guard = SignalGuard::install(&flag, &reload).unwrap();
        signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
        assert!(flag.load(Ordering::SeqCst));
        drop(guard);
        // Unregistered: the flag is no longer touched (and the first
        // signal's conditional exit is gone with it).
        flag.store(false, Ordering::SeqCst);
        let other = Arc::new(AtomicBool::new(false));
        let _keep_alive =
            signal_hook::flag::register(signal_hook::consts::SIGTERM, other.clone()).unwrap();
        signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
        assert!(!flag.load(Ordering::SeqCst));
        assert!(other.load(Ordering::SeqCst));
    }
}
