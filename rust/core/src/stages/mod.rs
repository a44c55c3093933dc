//! The stage catalogue: every `type` a pipeline file may name.
//!
//! Each stage lives in its own file with a params reader (defaults and checks
//! documented on its fields) and the runtime object. The table below maps
//! TOML `type` values to builders; docs/pipelines.md documents each stage.

use crate::config::ParamReader;
use crate::pipeline::PipelineKind;
use crate::stage::Stage;
use crate::valve::ValveControl;
use std::sync::Arc;

mod common;
mod ema;
mod executor_age;
mod hysteresis;
mod ignore_new_executors;
mod kill_all;
mod memory_slack;
mod peak;
mod pr_only;
mod slack;
mod subtract_best_effort_usage;
mod too_low_usage;
mod utilization_threshold;
mod valve;

// QoS detectors, strategies and controls.
mod cache_occupancy;
mod changepoint;
mod cooldown;
mod cpu_contention;
mod cusum;
mod drop_detector;
mod merge_corrections;
mod overload;
mod page_hinkley;
mod pause_estimator;
mod ranked_victims;
mod seniority;
mod slo_guard;
mod slo_scale;
mod slo_watch;
mod starvation;
#[cfg(test)]
pub(crate) mod testkit;

pub use common::{best_effort_rows, ContentionFilter};
pub use ema::{Ema, Mode as EmaMode};

pub use cache_occupancy::CacheOccupancyParams;
pub use changepoint::{Alarm, Baseline, BaselineParams, ChangepointParams, Direction, Shift};
pub use cooldown::CooldownParams;
pub use cpu_contention::CpuContentionParams;
pub use cusum::{Cusum, CusumParams};
pub use drop_detector::{Detection, DropAnalyzer, DropParams};
pub use overload::OverloadParams;
pub use page_hinkley::{PageHinkley, PageHinkleyParams};
pub use peak::{PeakParams, WindowMax};
pub use ranked_victims::{Candidate, RankedVictimsParams};
pub use seniority::SeniorityParams;
pub use starvation::StarvationParams;

/// What a stage builder may use besides its parameters.
pub struct BuildContext {
    /// The kind of pipeline being built.
    pub kind: PipelineKind,
    /// The pipeline's own valve.
    pub valve: Arc<ValveControl>,
    /// The estimator's valve (QoS pipelines linked to an estimator).
    pub estimator_valve: Option<Arc<ValveControl>>,
    /// Set by the `valve` stage.
    pub has_valve: bool,
    /// The `name` of the stage being built.
    pub stage_name: std::sync::Arc<str>,
    /// The pipeline's `[[sli]]` tables.
    pub slis: Arc<[crate::sli::SliSpec]>,
}

/// Builds a stage from its parameters; problems are recorded in the reader.
pub type BuildFn = fn(&mut ParamReader<'_, '_>, &mut BuildContext) -> Box<dyn Stage>;

/// One entry of the catalogue.
pub struct StageType {
    /// The TOML `type`.
    pub name: &'static str,
    /// Pipelines it may appear in.
    pub kinds: &'static [PipelineKind],
    /// One line for `serenity check` and the docs.
    pub summary: &'static str,
    /// The builder.
    pub build: BuildFn,
}

const BOTH: &[PipelineKind] = &[PipelineKind::Estimator, PipelineKind::Qos];
const ESTIMATOR: &[PipelineKind] = &[PipelineKind::Estimator];
const QOS: &[PipelineKind] = &[PipelineKind::Qos];

/// Every stage type, in documentation order.
pub const STAGE_TYPES: &[StageType] = &[
    StageType {
        name: "valve",
        kinds: BOTH,
        summary: "stops the tick while the pipeline's valve is closed (operator's switch or a controller's hold)",
        build: valve::build,
    },
    StageType {
        name: "pr_only",
        kinds: BOTH,
        summary: "later stages consider production executors only",
        build: pr_only::build,
    },
    StageType {
        name: "ema",
        kinds: BOTH,
        summary: "exponential moving average of a signal (regular or time-aware)",
        build: ema::build,
    },
    StageType {
        name: "slack",
        kinds: ESTIMATOR,
        summary:
            "CPU slack: Σ(limit − usage) of selected executors, capped at fraction × total − usage",
        build: slack::build,
    },
    StageType {
        name: "peak",
        kinds: BOTH,
        summary: "largest value of a signal over the last samples, plus a margin, per executor",
        build: peak::build,
    },
    StageType {
        name: "utilization_threshold",
        kinds: ESTIMATOR,
        summary: "stops the tick when Σ usage of all executors (new ones: their allocation) / total cpus reaches the threshold",
        build: utilization_threshold::build,
    },
    StageType {
        name: "ignore_new_executors",
        kinds: BOTH,
        summary: "later stages leave out executors younger than a threshold (sample time)",
        build: ignore_new_executors::build,
    },
    StageType {
        name: "executor_age",
        kinds: BOTH,
        summary: "publishes each executor's age at tick time as a signal",
        build: executor_age::build,
    },
    StageType {
        name: "too_low_usage",
        kinds: BOTH,
        summary: "later stages leave out production executors using at most min_cpu",
        build: too_low_usage::build,
    },
    StageType {
        name: "memory_slack",
        kinds: ESTIMATOR,
        summary: "memory slack: Σ(limit − usage − margin) of selected executors, capped at fraction × total − usage",
        build: memory_slack::build,
    },
    StageType {
        name: "subtract_best_effort_usage",
        kinds: ESTIMATOR,
        summary: "subtracts measured best-effort usage from the slack instead of their allocation",
        build: subtract_best_effort_usage::build,
    },
    StageType {
        name: "hysteresis",
        kinds: ESTIMATOR,
        summary: "quantises the slack, publishes decreases at once and increases only after they persist",
        build: hysteresis::build,
    },
    StageType {
        name: "slo_scale",
        kinds: ESTIMATOR,
        summary: "lends nothing while a watched SLO is missing or under its shrink margin, scales the slack across the hold band",
        build: slo_scale::build,
    },
    StageType {
        name: "kill_all",
        kinds: QOS,
        summary: "on contention, kill every best-effort executor",
        build: kill_all::build,
    },
    StageType {
        name: "overload",
        kinds: QOS,
        summary: "one node-wide contention when Σ cpu usage > threshold × total cpus with best-effort work running",
        build: overload::build,
    },
    StageType {
        name: "starvation",
        kinds: QOS,
        summary: "one node-wide contention when production executors wait on the run queue (or stall under CPU pressure) with best-effort work running",
        build: starvation::build,
    },
    StageType {
        name: "slo_guard",
        kinds: QOS,
        summary: "Heracles's rules on the slack to the SLOs: revoke (and contention) on a violation, shrink, hold or grow the best-effort allowance",
        build: slo_guard::build,
    },
    StageType {
        name: "drop_detector",
        kinds: QOS,
        summary: "the original's checkpoint-voting drop detector on a production signal (IPC)",
        build: drop_detector::build,
    },
    StageType {
        name: "cusum",
        kinds: QOS,
        summary: "CUSUM changepoint test on a production signal, in units of its own noise",
        build: cusum::build,
    },
    StageType {
        name: "page_hinkley",
        kinds: QOS,
        summary: "Page-Hinkley changepoint test on a production signal, in units of its own noise",
        build: page_hinkley::build,
    },
    StageType {
        name: "cpu_contention",
        kinds: QOS,
        summary: "recover the contention's cpus: allocation violators first, then the youngest",
        build: cpu_contention::build,
    },
    StageType {
        name: "seniority",
        kinds: QOS,
        summary: "kill ⌈#best-effort × severity⌉ youngest best-effort executors",
        build: seniority::build,
    },
    StageType {
        name: "cache_occupancy",
        kinds: QOS,
        summary: "kill best-effort executors with above-mean LLC occupancy (or cache misses)",
        build: cache_occupancy::build,
    },
    StageType {
        name: "ranked_victims",
        kinds: QOS,
        summary: "kill the fewest best-effort executors, by rank, that cover the contention",
        build: ranked_victims::build,
    },
    StageType {
        name: "cooldown",
        kinds: QOS,
        summary: "after a correction, drop corrections for a number of ticks",
        build: cooldown::build,
    },
    StageType {
        name: "pause_estimator",
        kinds: QOS,
        summary: "hold the estimator's valve closed while contention lasts",
        build: pause_estimator::build,
    },
    StageType {
        name: "merge_corrections",
        kinds: QOS,
        summary: "one correction per executor, the first wins",
        build: merge_corrections::build,
    },
];

/// The catalogue entry for a `type`.
pub fn lookup(name: &str) -> Option<&'static StageType> {
    STAGE_TYPES.iter().find(|s| s.name == name)
}
