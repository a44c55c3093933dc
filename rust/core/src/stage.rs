//! The contract between the pipeline and its stages.

use crate::tick::{Flow, Tick};

/// One step of a pipeline. A stage owns its state (per executor in a
/// [`crate::executors::SlotMap`]), reads and writes the tick, and says whether
/// the tick goes on. Stages never panic on odd data: a value they cannot use
/// is skipped for that executor and logged.
pub trait Stage: Send {
    /// Runs the stage on one tick.
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow;
}
