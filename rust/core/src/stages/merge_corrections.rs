//! `merge_corrections`: one correction per executor, the first one wins.
//!
//! Original: CorrectionMergerFilter (spec/serenity.md §2.9), which joined
//! the correction lists of several observers and dropped a KILL of an
//! executor already killed. Here every strategy appends to the tick's one
//! list, so the merge is a dedupe at this stage's position
//! ([`crate::tick::dedupe_corrections`], which the pipeline's final check
//! also applies).

use super::BuildContext;
use crate::config::ParamReader;
use crate::stage::Stage;
use crate::tick::{dedupe_corrections, Flow, Tick};
use std::sync::Arc;

struct MergeCorrections {
    name: Arc<str>,
}

pub(super) fn build(_r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    Box::new(MergeCorrections {
        name: ctx.stage_name.clone(),
    })
}

impl Stage for MergeCorrections {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let dropped = dedupe_corrections(&mut tick.state.corrections);
        if dropped > 0 {
            log::debug!(target: "serenity",
                "stage {}: {dropped} duplicate correction(s) merged", self.name);
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use crate::tick::{dedupe_corrections, Correction};

    fn c(row: usize, stage: usize) -> Correction {
        Correction {
            row,
            stage,
            reason: format!("stage {stage}"),
        }
    }

    #[test]
    fn the_first_correction_of_each_executor_wins_in_order() {
        let mut v = vec![c(3, 1), c(1, 1), c(3, 2), c(2, 2), c(1, 3)];
        assert_eq!(dedupe_corrections(&mut v), 2);
        assert_eq!(v, vec![c(3, 1), c(1, 1), c(2, 2)]);
    }
}
