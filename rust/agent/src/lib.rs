//! serenity-agent: the standalone node agent.
//!
//! The node agent runs the same pipelines as the Mesos modules, but on a
//! plain Linux host: every `interval_secs` it
//!
//! 1. discovers the executor groups ([`groups`]): each child of a production
//!    parent group is a production executor, each child of the best-effort
//!    parent is a best-effort (revocable) executor;
//! 2. reads them with `serenity-probe` and builds a Mesos `ResourceUsage`
//!    ([`sampling`]), perf counters included;
//! 3. ticks the QoS pipeline, then acts on its corrections ([`enforce`]:
//!    kill, freeze or throttle, only below the best-effort prefix, dry run
//!    unless `--enforce`), then ticks the estimator pipeline;
//! 4. publishes slack, signals, contentions, corrections and its own cost as
//!    Prometheus metrics on a loopback listener ([`metrics`]).
//!
//! [`run()`] is the whole agent behind `serenity agent` ([`AgentArgs`]);
//! [`Agent`] is the same loop one tick at a time. docs/agent.md is the
//! operator's guide. (The Mesos modules' per-container perf enrichment is
//! `serenity_probe::enrich`.)
#![cfg(target_os = "linux")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod allowance;
pub mod config;
pub mod enforce;
pub mod groups;
pub mod http;
pub mod metrics;
pub mod needs;
pub mod run;
pub mod sampling;
pub mod state;

pub use config::{Action, AgentConfig};
pub use enforce::{Decision, Enforcer, Outcome, Recovery};
pub use run::{run, Agent, AgentArgs, TickReport};
