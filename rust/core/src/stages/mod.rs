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
mod kill_all;
mod pr_only;
mod slack;
mod valve;

pub use common::{best_effort_rows, ContentionFilter};
pub use ema::{Ema, Mode as EmaMode};

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
        summary: "stops the tick while the pipeline's valve is closed (counter semantics)",
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
        name: "kill_all",
        kinds: QOS,
        summary: "on contention, kill every best-effort executor",
        build: kill_all::build,
    },
];

/// The catalogue entry for a `type`.
pub fn lookup(name: &str) -> Option<&'static StageType> {
    STAGE_TYPES.iter().find(|s| s.name == name)
}
