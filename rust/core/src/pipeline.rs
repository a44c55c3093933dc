//! Running a pipeline tick by tick.
//!
//! One tick: ingest the snapshot (keys, slots, built-in signals), run the
//! stages in TOML order until one stops the tick, then apply the final
//! checks that no configuration can switch off:
//! - estimator: the answer is the slack minus the revocable resources already
//!   allocated (the agent adds those back when it reports to the master), never
//!   negative, never NaN; a stopped tick answers zero;
//! - QoS: corrections name only best-effort (revocable) executors, each at most
//!   once; a stopped tick answers none.

use crate::executors::ExecutorRegistry;
use crate::model::Snapshot;
use crate::signal::SignalNames;
use crate::stage::Stage;
use crate::tick::{dedupe_corrections, Contention, Correction, Flow, Slack, Tick, TickState};
use crate::valve::ValveControl;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// What a pipeline computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineKind {
    /// Ends in a slack estimate.
    Estimator,
    /// Ends in corrections.
    Qos,
}

impl PipelineKind {
    /// The TOML word.
    pub fn as_str(self) -> &'static str {
        match self {
            PipelineKind::Estimator => "estimator",
            PipelineKind::Qos => "qos",
        }
    }
}

/// A stage's identity in its pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageInfo {
    /// 1-based position.
    pub index: usize,
    /// Its `type`.
    pub type_name: &'static str,
    /// Its `name` (default: the type).
    pub name: String,
}

/// Why a tick stopped early.
#[derive(Debug, Clone, PartialEq)]
pub struct Stopped {
    /// 1-based index of the stage that stopped it.
    pub stage: usize,
    /// That stage's type.
    pub type_name: &'static str,
    /// Its reason.
    pub reason: String,
}

/// What a tick produced. Borrowed from the pipeline until its next tick.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// Estimator: the revocable resources to advertise (zero when stopped).
    /// QoS: `None`.
    pub slack: Option<Slack>,
    /// The slack before revocable allocations were subtracted (estimator).
    pub slack_total: Option<Slack>,
    /// Contentions raised this tick.
    pub contentions: &'a [Contention],
    /// Corrections decided this tick (QoS), already checked.
    pub corrections: &'a [Correction],
    /// Set when a stage stopped the tick.
    pub stopped: Option<Stopped>,
    /// QoS: the SLO controller's decision for the best-effort allowance
    /// (`None` without an `slo_guard` stage, or when the tick stopped first).
    pub allowance: Option<&'a crate::tick::Allowance>,
}

/// Everything needed to assemble a pipeline (from the configuration layer).
pub(crate) struct PipelineSetup {
    pub kind: PipelineKind,
    pub name: String,
    pub description: String,
    pub grace_ticks: u64,
    pub interval_secs: f64,
    pub stages: Vec<(StageInfo, Box<dyn Stage>)>,
    pub signals: SignalNames,
    pub valve: Arc<ValveControl>,
    pub has_valve: bool,
    pub probe: Option<crate::config::ProbeSettings>,
    pub slis: Arc<[crate::sli::SliSpec]>,
}

/// A built pipeline with its state.
pub struct Pipeline {
    kind: PipelineKind,
    name: String,
    description: String,
    stages: Vec<(StageInfo, Box<dyn Stage>)>,
    signals: SignalNames,
    registry: ExecutorRegistry,
    state: TickState,
    ticks: u64,
    interval_secs: f64,
    valve: Arc<ValveControl>,
    has_valve: bool,
    probe: Option<crate::config::ProbeSettings>,
    slis: Arc<[crate::sli::SliSpec]>,
    /// Hashes of the sentences logged last tick and this tick (a set: a
    /// snapshot may carry thousands of bad executors).
    said: HashSet<u64>,
    said_next: HashSet<u64>,
    last_stop: Option<usize>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field(
                "stages",
                &self.stages.iter().map(|(i, _)| i).collect::<Vec<_>>(),
            )
            .field("ticks", &self.ticks)
            .finish()
    }
}

fn hash_of(s: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl Pipeline {
    pub(crate) fn new(setup: PipelineSetup) -> Self {
        Pipeline {
            kind: setup.kind,
            name: setup.name,
            description: setup.description,
            stages: setup.stages,
            signals: setup.signals,
            registry: ExecutorRegistry::new(setup.grace_ticks),
            state: TickState::default(),
            ticks: 0,
            interval_secs: setup.interval_secs,
            valve: setup.valve,
            has_valve: setup.has_valve,
            probe: setup.probe,
            slis: setup.slis,
            said: HashSet::new(),
            said_next: HashSet::new(),
            last_stop: None,
        }
    }

    /// Estimator or QoS.
    pub fn kind(&self) -> PipelineKind {
        self.kind
    }

    /// The pipeline's name (its file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `description` from the file.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The stages, in order.
    pub fn stages(&self) -> impl Iterator<Item = &StageInfo> {
        self.stages.iter().map(|(i, _)| i)
    }

    /// The signal names (built-ins and those stages write).
    pub fn signals(&self) -> &SignalNames {
        &self.signals
    }

    /// Seconds between ticks when the pipeline paces itself (the QoS
    /// controller's poll delay, the node agent's period): `interval_secs`.
    pub fn interval_secs(&self) -> f64 {
        self.interval_secs
    }

    /// The pipeline's valve (open/close from outside).
    pub fn valve(&self) -> &Arc<ValveControl> {
        &self.valve
    }

    /// Whether some stage checks the valve (otherwise closing it does nothing).
    pub fn has_valve(&self) -> bool {
        self.has_valve
    }

    /// The `[probe]` settings, when the file asks the embedder to enrich usage.
    pub fn probe(&self) -> Option<&crate::config::ProbeSettings> {
        self.probe.as_ref()
    }

    /// The `[[sli]]` tables: the embedder fetches them and hands their
    /// values in as `statistics.serenity_slis` (see [`crate::sli`]).
    pub fn slis(&self) -> &[crate::sli::SliSpec] {
        &self.slis
    }

    /// Ticks run so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// The executor registry (slot counts, first-seen times).
    pub fn registry(&self) -> &ExecutorRegistry {
        &self.registry
    }

    /// The signal table of the last tick (rows follow the last snapshot).
    pub fn last_signals(&self) -> &crate::signal::SignalTable {
        &self.state.signals
    }

    /// Logs `message` at `level` unless the same sentence was said last tick.
    fn say(&mut self, level: log::Level, message: String) {
        let h = hash_of(&message);
        self.said_next.insert(h);
        if self.said.contains(&h) {
            log::debug!(target: "serenity", "[{}] (still) {message}", self.name);
        } else {
            log::log!(target: "serenity", level, "[{}] {message}", self.name);
        }
    }

    /// Runs one tick on a snapshot.
    pub fn tick(&mut self, snapshot: &Snapshot) -> Outcome<'_> {
        self.run_tick(snapshot, |_, _| {})
    }

    /// Runs one tick, letting a test overwrite signals after the built-in
    /// ones are derived and before the first stage runs.
    #[cfg(test)]
    pub(crate) fn tick_injecting(
        &mut self,
        snapshot: &Snapshot,
        inject: impl FnOnce(&mut crate::signal::SignalTable, &SignalNames),
    ) -> Outcome<'_> {
        self.run_tick(snapshot, inject)
    }

    fn run_tick(
        &mut self,
        snapshot: &Snapshot,
        inject: impl FnOnce(&mut crate::signal::SignalTable, &SignalNames),
    ) -> Outcome<'_> {
        self.ticks += 1;
        self.said_next.clear();
        let rows = snapshot.executors.len();
        let state = &mut self.state;
        state.signals.reset(rows, self.signals.len());
        state.selected.clear();
        state.selected.resize(rows, true);
        state.contentions.clear();
        state.corrections.clear();
        state.slack = None;
        state.best_effort_accounted = false;
        state.allowance = None;

        self.registry.ingest(snapshot, &mut self.state.signals);
        for m in crate::sli::fill(&self.slis, snapshot, &mut self.state.signals) {
            self.say(log::Level::Warn, m);
        }
        inject(&mut self.state.signals, &self.signals);
        for r in &snapshot.rejected {
            let m = format!("left out of this tick: {}", r.reason);
            self.say(log::Level::Warn, m);
        }
        let notes: Vec<String> = self
            .registry
            .notes()
            .iter()
            .map(|n| n.message.clone())
            .collect();
        for m in notes {
            self.say(log::Level::Warn, m);
        }

        let mut stopped = None;
        for (i, (info, stage)) in self.stages.iter_mut().enumerate() {
            let mut tick = Tick {
                snapshot,
                registry: &self.registry,
                state: &mut self.state,
                index: self.ticks,
                now: snapshot.timestamp,
                stage: i,
            };
            if let Flow::Stop(reason) = stage.run(&mut tick) {
                stopped = Some(Stopped {
                    stage: info.index,
                    type_name: info.type_name,
                    reason,
                });
                break;
            }
        }
        match &stopped {
            Some(s) => {
                let m = format!(
                    "stage {} ({}) stopped the tick: {}",
                    s.stage, s.type_name, s.reason
                );
                if self.last_stop != Some(s.stage) {
                    self.say(log::Level::Info, m);
                } else {
                    log::debug!(target: "serenity", "[{}] {m}", self.name);
                }
                self.last_stop = Some(s.stage);
            }
            None => self.last_stop = None,
        }

        let (slack, slack_total) = match self.kind {
            PipelineKind::Estimator => self.finish_estimate(snapshot, stopped.is_some()),
            PipelineKind::Qos => {
                self.finish_corrections(snapshot, stopped.is_some());
                (None, None)
            }
        };
        std::mem::swap(&mut self.said, &mut self.said_next);
        Outcome {
            slack,
            slack_total,
            contentions: &self.state.contentions,
            corrections: &self.state.corrections,
            allowance: self.state.allowance.as_ref(),
            stopped,
        }
    }

    fn finish_estimate(
        &mut self,
        snapshot: &Snapshot,
        stopped: bool,
    ) -> (Option<Slack>, Option<Slack>) {
        if stopped {
            return (Some(Slack::default()), Some(Slack::default()));
        }
        let total = self.state.slack.unwrap_or_default();
        let clean = |v: f64| if v.is_finite() && v > 0.0 { v } else { 0.0 };
        let total = Slack {
            cpus: clean(total.cpus),
            mem_bytes: clean(total.mem_bytes),
        };
        if self.state.best_effort_accounted {
            return (Some(total), Some(total));
        }
        let (rev_cpus, rev_mem) = snapshot.allocated_revocable();
        let estimate = Slack {
            cpus: clean(total.cpus - rev_cpus),
            mem_bytes: clean(total.mem_bytes - rev_mem),
        };
        (Some(estimate), Some(total))
    }

    fn finish_corrections(&mut self, snapshot: &Snapshot, stopped: bool) {
        if stopped {
            self.state.corrections.clear();
            return;
        }
        let mut refused = Vec::new();
        self.state.corrections.retain(|c| {
            let Some(view) = snapshot.executors.get(c.row) else {
                refused.push(format!("a correction named row {} which does not exist; refused", c.row));
                return false;
            };
            if !view.revocable {
                refused.push(format!(
                    "refused to kill executor {}: it is production work (no revocable resources); proposed by stage {}",
                    view.key,
                    c.stage + 1
                ));
                return false;
            }
            true
        });
        dedupe_corrections(&mut self.state.corrections);
        for m in refused {
            self.say(log::Level::Error, m);
        }
    }
}
