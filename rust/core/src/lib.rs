//! serenity-core: the logic of Serenity in Rust.
//!
//! A stream of Mesos `ResourceUsage` snapshots goes through pipelines of stages
//! declared in TOML. An estimator pipeline ends in a slack estimate (revocable
//! capacity to lend); a QoS pipeline ends in corrections (best-effort executors
//! to kill). The crate has no I/O, no clock and no `unsafe`: time comes from
//! the samples, so every run is deterministic and replayable.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod model;
