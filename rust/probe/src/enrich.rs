//! Enriching an agent's `ResourceUsage` with per-container perf counters.
//!
//! The Mesos modules receive the agent's usage; its executors carry perf
//! statistics only when the agent runs the `cgroups/perf_event` isolator,
//! and then only for a few seconds per minute. When a pipeline file has a
//! `[probe]` table, the C ABI calls [`UsageEnricher::enrich`] before each
//! tick: for every executor with a container id it keeps a
//! [`PerfSampler`] open on `<perf_event root>/<prefix>/<container_id>` and
//! fills `statistics.perf` with the counts of the interval since the previous
//! reading, **only when the agent supplied none** (agent data wins).
//!
//! - The perf_event root comes from
//!   [`crate::ensure_perf_event_hierarchy`]`(cgroup_root)`: the v1
//!   perf_event mount (mounted at `<cgroup_root>/perf_event` when absent), or
//!   `cgroup_root` itself on a pure v2 host.
//! - Counters are opened when a container is first seen (that tick gets no
//!   perf statistics) and dropped when it leaves the usage.
//! - Readings are at least `perf_interval_secs` apart; a tick in between
//!   reuses the latest interval.
//! - Unsupported events are reported once by the probe; other problems are
//!   logged once per container.
//!
//! With `[probe] starvation = true` (the default) it also fills Serenity's
//! starvation totals of each container ([`crate::starvation`]): run-queue
//! delay summed over the container's tasks and, on cgroup v2, its PSI
//! `some` totals, found with [`crate::locate_container`] under
//! `cgroup_root`/`prefix`; fields the agent supplied are kept. A container
//! without a group gets none (said once); its state is dropped when it
//! leaves the usage.

use crate::starvation::{locate_container, GroupStarvation};
use crate::{ensure_perf_event_hierarchy, PerfSampler};
use serenity_core::model::proto::{PerfStatistics, ResourceUsage};
use serenity_core::ProbeSettings;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the enricher waits before retrying a perf_event root that could
/// not be found or mounted.
const ROOT_RETRY: Duration = Duration::from_secs(60);

struct Container {
    sampler: PerfSampler,
    last: Option<PerfStatistics>,
    sampled_at: Instant,
}

/// Keeps per-container perf counters and fills missing perf statistics.
pub struct UsageEnricher {
    settings: ProbeSettings,
    root: Option<PathBuf>,
    root_failed_at: Option<Instant>,
    containers: HashMap<String, Container>,
    starving: HashMap<String, Option<GroupStarvation>>,
    /// Messages said once for the whole enricher (the perf_event root).
    said: HashSet<String>,
    /// Messages said once per container, forgotten when the container
    /// leaves the usage, so churn does not grow this set.
    said_for: HashMap<String, HashSet<Note>>,
}

/// What was said once about one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Note {
    NoPerfGroup,
    PerfOpen,
    PerfOpenFailed,
    NoStarvationGroup,
}

impl std::fmt::Debug for UsageEnricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageEnricher")
            .field("settings", &self.settings)
            .field("root", &self.root)
            .field("containers", &self.containers.len())
            .finish()
    }
}

impl UsageEnricher {
    /// An enricher for the `[probe]` settings of a pipeline. Nothing is
    /// opened or mounted until the first [`UsageEnricher::enrich`].
    pub fn new(settings: &ProbeSettings) -> UsageEnricher {
        UsageEnricher {
            settings: settings.clone(),
            root: None,
            root_failed_at: None,
            containers: HashMap::new(),
            starving: HashMap::new(),
            said: HashSet::new(),
            said_for: HashMap::new(),
        }
    }

    /// How many containers have counters open.
    pub fn open_containers(&self) -> usize {
        self.containers.len()
    }

    /// The perf_event group directory of `container_id`, once the root is
    /// known.
    pub fn group_dir(&self, container_id: &str) -> Option<PathBuf> {
        self.root
            .as_ref()
            .map(|r| r.join(&self.settings.prefix).join(container_id))
    }

    /// Logs `message()` the first time `note` is taken for container `id`.
    fn once_for(
        &mut self,
        id: &str,
        note: Note,
        level: log::Level,
        message: impl FnOnce() -> String,
    ) {
        let notes = self.said_for.entry(id.to_owned()).or_default();
        if notes.insert(note) {
            log::log!(target: "serenity", level, "{}", message());
        }
    }

    fn once(&mut self, level: log::Level, message: String) {
        if self.said.insert(message.clone()) {
            log::log!(target: "serenity", level, "{message}");
        }
    }

    fn resolve_root(&mut self) -> Option<PathBuf> {
        if let Some(root) = &self.root {
            return Some(root.clone());
        }
        if self
            .root_failed_at
            .is_some_and(|at| at.elapsed() < ROOT_RETRY)
        {
            return None;
        }
        match ensure_perf_event_hierarchy(Path::new(&self.settings.cgroup_root)) {
            Ok(root) => {
                log::info!(
                    target: "serenity",
                    "perf counters of containers are read from {}",
                    root.join(&self.settings.prefix).display()
                );
                self.root = Some(root.clone());
                Some(root)
            }
            Err(e) => {
                self.root_failed_at = Some(Instant::now());
                self.once(
                    log::Level::Warn,
                    format!("no perf statistics will be added to the agent's usage: {e}"),
                );
                None
            }
        }
    }

    /// Fills `statistics.perf` of every executor with a container id whose
    /// statistics have no perf yet; opens and drops counters as containers
    /// come and go. Does nothing when `[probe] perf = false`.
    pub fn enrich(&mut self, usage: &mut ResourceUsage) {
        if self.settings.starvation {
            self.enrich_starvation(usage);
        }
        if self.settings.perf {
            self.enrich_perf(usage);
        }
        if !self.said_for.is_empty() {
            let present: HashSet<&str> = usage
                .executors
                .iter()
                .filter_map(|e| e.container_id.as_ref()?.value.as_deref())
                .collect();
            self.said_for.retain(|id, _| present.contains(id.as_str()));
        }
    }

    fn enrich_perf(&mut self, usage: &mut ResourceUsage) {
        let Some(root) = self.resolve_root() else {
            return;
        };
        let min_gap = Duration::from_secs_f64(self.settings.perf_interval_secs.max(0.0));
        let mut wanted = HashSet::new();
        for executor in &mut usage.executors {
            let Some(id) = executor.container_id.as_ref().and_then(|c| c.value.clone()) else {
                continue;
            };
            if executor
                .statistics
                .as_ref()
                .and_then(|s| s.perf.as_ref())
                .is_some_and(carries_counts)
            {
                continue;
            }
            wanted.insert(id.clone());
            let perf = match self.containers.get_mut(&id) {
                Some(container) => {
                    if container.last.is_none() || container.sampled_at.elapsed() >= min_gap {
                        match container.sampler.sample() {
                            Ok(interval) => {
                                container.last = Some(interval.to_statistics());
                                container.sampled_at = Instant::now();
                            }
                            Err(e) => {
                                if !e.is_vanished() {
                                    log::warn!(
                                        target: "serenity",
                                        "perf counters of container {id} stopped: {e}"
                                    );
                                }
                                self.containers.remove(&id);
                                continue;
                            }
                        }
                    }
                    container.last.clone()
                }
                None => {
                    self.open(&root, &id);
                    None
                }
            };
            if let Some(perf) = perf {
                executor
                    .statistics
                    .get_or_insert_with(Default::default)
                    .perf = Some(perf);
            }
        }
        self.containers.retain(|id, _| wanted.contains(id));
    }

    /// How many containers have starvation readers.
    pub fn starvation_containers(&self) -> usize {
        self.starving.values().filter(|g| g.is_some()).count()
    }

    fn enrich_starvation(&mut self, usage: &mut ResourceUsage) {
        let root = PathBuf::from(&self.settings.cgroup_root);
        let mut wanted = HashSet::new();
        for executor in &mut usage.executors {
            let Some(id) = executor.container_id.as_ref().and_then(|c| c.value.clone()) else {
                continue;
            };
            wanted.insert(id.clone());
            // A container without a group yet is looked up again next tick
            // (Mesos may create the group after it first reports the executor).
            let slot = self.starving.entry(id.clone()).or_insert(None);
            if slot.is_none() {
                *slot = locate_container(&root, &self.settings.prefix, &id)
                    .map(|files| GroupStarvation::new(files, "/proc"));
            }
            let Some(reader) = slot.as_mut() else {
                let prefix = self.settings.prefix.clone();
                self.once_for(&id, Note::NoStarvationGroup, log::Level::Info, || {
                    format!(
                        "container {id} has no cgroup under {}/{prefix}: no starvation signals for it",
                        root.display()
                    )
                });
                continue;
            };
            match reader.read() {
                Ok(totals) => totals.fill(executor.statistics.get_or_insert_with(Default::default)),
                Err(e) => {
                    if !e.is_vanished() {
                        log::warn!(target: "serenity", "starvation totals of container {id}: {e}");
                    }
                    self.starving.remove(&id);
                }
            }
        }
        self.starving.retain(|id, _| wanted.contains(id));
    }

    fn open(&mut self, root: &Path, id: &str) {
        let dir = root.join(&self.settings.prefix).join(id);
        if !dir.is_dir() {
            self.once_for(id, Note::NoPerfGroup, log::Level::Info, || {
                format!(
                    "container {id} has no perf_event group at {}: no perf statistics for it",
                    dir.display()
                )
            });
            return;
        }
        match PerfSampler::open(&dir) {
            Ok(sampler) => {
                self.once_for(id, Note::PerfOpen, log::Level::Info, || {
                    format!(
                        "container {id}: perf counters open on its perf_event group {}",
                        dir.display()
                    )
                });
                self.containers.insert(
                    id.to_owned(),
                    Container {
                        sampler,
                        last: None,
                        sampled_at: Instant::now(),
                    },
                );
            }
            Err(e) if e.is_vanished() => {}
            Err(e) => self.once_for(id, Note::PerfOpenFailed, log::Level::Warn, || {
                format!("cannot open perf counters for container {id}: {e}")
            }),
        }
    }
}

/// Whether the agent's perf statistics hold a real sample. A Mesos 1.11
/// agent with the `cgroups/perf_event` isolator sends an empty
/// `{timestamp, duration: 0}` for every container outside its perf windows
/// (and always without `--perf_events`); that is no data, so it is filled.
fn carries_counts(perf: &PerfStatistics) -> bool {
    perf.duration.is_some_and(|d| d > 0.0)
}

#[cfg(test)]
mod send_tests {
    #[test]
    fn usage_enricher_can_move_between_threads() {
        fn is_send<T: Send>() {}
        is_send::<super::UsageEnricher>();
    }
}

#[cfg(test)]
mod bounded_tests {
    use super::*;
    use crate::test_support::TempTree;
    use serenity_core::model::build::{usage, ExecutorSpec};

    #[test]
    fn what_is_said_once_per_container_is_forgotten_when_it_leaves() {
        // A root with no cgroups at all: every container gets a "no cgroup"
        // line once, and 1 000 containers coming and going leave nothing.
        let tree = TempTree::new("enrich-churn");
        let mut enricher = UsageEnricher::new(&ProbeSettings {
            perf: false,
            cgroup_root: tree.path().display().to_string(),
            prefix: "mesos".into(),
            perf_interval_secs: 1.0,
            starvation: true,
        });
        for i in 0..1000 {
            let mut spec = ExecutorSpec::new("fw", &format!("e{i}"), false, 1.0, 64.0);
            spec.container_id = Some(format!("c{i}"));
            let mut snapshot = usage(f64::from(i), 1024.0, &[spec]);
            enricher.enrich(&mut snapshot);
            assert!(
                enricher.said_for.len() <= 1,
                "tick {i}: {}",
                enricher.said_for.len()
            );
            assert!(enricher.starving.len() <= 1);
        }
        // The same container on consecutive ticks is noted once, and kept.
        let mut spec = ExecutorSpec::new("fw", "e", false, 1.0, 64.0);
        spec.container_id = Some("same".into());
        for t in 0..3 {
            let mut snapshot = usage(2000.0 + f64::from(t), 1024.0, std::slice::from_ref(&spec));
            enricher.enrich(&mut snapshot);
        }
        assert_eq!(
            enricher.said_for.get("same").map(HashSet::len),
            Some(1),
            "one note for the container, said once"
        );
    }
}
