//! serenity-core: the logic of Serenity in Rust.
//!
//! A stream of Mesos `ResourceUsage` snapshots goes through pipelines of stages
//! declared in TOML. An estimator pipeline ends in a slack estimate (revocable
//! capacity to lend); a QoS pipeline ends in corrections (best-effort executors
//! to kill). The crate has no I/O, no clock and no `unsafe`: time comes from
//! the samples, so every run is deterministic and replayable.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod executors;
pub mod model;
pub mod pipeline;
pub mod signal;
pub mod sli;
pub mod stage;
pub mod stages;
pub mod summary;
pub mod tick;
pub mod valve;
pub mod valve_request;

pub use config::{
    build_pipeline, build_pipeline_with_stages, BuildOptions, ConfigError, ConfigErrors,
    ProbeSettings,
};
pub use model::{
    decode_usage, decode_usage_into, load_trace, load_trace_bytes, stream_trace, Snapshot,
};
pub use pipeline::{Outcome, Pipeline, PipelineKind, Stopped};
pub use summary::{NodeSummary, SummaryBuilder, TickRecord};
pub use tick::{Contention, Correction, Slack};
pub use valve::ValveControl;
pub use valve_request::{parse_valve_request, ValveRequestError};
