//! serenity-hints: the cluster level of Serenity. One service polls the
//! node summaries of many node agents (`GET /summary`) and tells schedulers
//! where best-effort work should land: the Kubernetes scheduler extender
//! v1 (`filter`, `prioritize`; [`extender`]) and a plain JSON ranking for
//! Mesos frameworks placing revocable tasks ([`service`]).
//!
//! [`config`] reads the TOML file, [`poller`] keeps [`nodes`]' table
//! fresh, [`pod`] says which pods are best-effort, [`placement`] filters
//! and scores (spread or pack), [`metrics`] counts, [`run()`] is
//! `serenity hints`. docs/hints.md is the operator's guide.
#![cfg(target_os = "linux")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod config;
pub mod extender;
pub mod metrics;
pub mod nodes;
pub mod placement;
pub mod pod;
pub mod poller;
pub mod run;
pub mod service;

pub use config::HintsConfig;
pub use metrics::HintsMetrics;
pub use run::{run, Hints, HintsArgs};
