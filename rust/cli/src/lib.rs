//! serenity-cli: the `serenity` command.
//!
//! Subcommands live in one module each, named after what they do:
//! [`check`] validates pipeline files, [`replay`] runs pipelines over a trace
//! (with [`output`] for its table and JSON Lines, and [`plot`] for its
//! picture), [`record`] polls a live Mesos agent, [`simulate`] writes
//! synthetic labelled traces, open or closed loop, that [`score`] grades
//! (both thin over the `serenity-sim` crate), and
//! [`bench`] measures the per-tick cost. `serenity agent` is the node agent
//! of the `serenity-agent` crate and `serenity hints` the cluster service of
//! `serenity-hints` (both Linux only).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
pub mod check;
pub mod cli;
pub mod duration;
pub mod logger;
pub mod output;
pub mod plot;
pub mod record;
pub mod replay;
pub mod score;
pub mod simulate;

/// Ground truth of simulated traces (from `serenity-sim`).
pub use serenity_sim::truth;

/// A failure that should end the command with exit code 1 after printing
/// its lines (already formatted, e.g. every configuration problem) on stderr.
#[derive(Debug)]
pub struct Problems(pub Vec<String>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for Problems {}
