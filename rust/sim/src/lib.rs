//! serenity-sim: the scenario model, the simulated node (open and closed
//! loop) and the scorer, as a library, so that the `serenity` command,
//! tests and tuning drive them alike.
//!
//! - [`scenario`]: scenario files (executors, load, events, closed-loop keys);
//! - [`world`]: the simulated node, one tick at a time, and the open-loop trace;
//! - [`record`]: the ResourceUsage record it writes each tick;
//! - [`closed_loop`]: pipelines running inside the node, their kills and
//!   slack changing what it does next;
//! - [`truth`] and [`actions`]: what each record carries besides the
//!   ResourceUsage (ground truth; what each pipeline did);
//! - [`episodes`] and [`score`]: grading pipelines against the truth.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod actions;
pub mod closed_loop;
pub mod episodes;
pub mod record;
pub mod rng;
pub mod scenario;
pub mod score;
pub mod truth;
pub mod world;

pub use scenario::Scenario;
pub use world::{generate, generate_each, World, Written};
