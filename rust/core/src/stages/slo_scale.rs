//! `slo_scale`: lend slack only while the production service's own
//! objectives have room, scaled by how much room they have.
//!
//! New (the estimator's half of the Heracles rules of `slo_guard`; sources
//! there). Placed after the slack stages (`slack`, `memory_slack`,
//! `subtract_best_effort_usage`) and before `hysteresis`, over the watched
//! SLIs (`sli`, default all) of the production executors they name:
//! - some watched SLI missing or stale: the tick stops, nothing is lent
//!   (the slack of an executor whose service cannot be seen is not known to
//!   be idle; the node-wide cap makes per-executor contributions
//!   inseparable, so the whole estimate is withheld);
//! - the smallest slack to an objective below `shrink_margin` (0.05,
//!   including violations): the tick stops, nothing is lent;
//! - between `shrink_margin` and `grow_margin` (0.10): the slack is scaled
//!   linearly from 0 to 1 across the band;
//! - above `grow_margin`: the slack is lent as computed.
//!
//! No watched executor in the snapshot: the slack passes unchanged (no
//! service to protect).

use super::slo_watch::{margins, Watched};
use super::BuildContext;
use crate::config::ParamReader;
use crate::stage::Stage;
use crate::tick::{Flow, Slack, Tick};

struct SloScale {
    watched: Watched,
    shrink_margin: f64,
    grow_margin: f64,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    let watched = Watched::read(r, &ctx.slis, "slo_scale");
    let (shrink_margin, grow_margin) = margins(r);
    Box::new(SloScale {
        watched,
        shrink_margin,
        grow_margin,
    })
}

impl Stage for SloScale {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let Some(slack) = tick.state.slack else {
            return Flow::Stop(
                "slo_scale found no slack to scale: place it after the slack stages".into(),
            );
        };
        let reading = self.watched.read_tick(tick);
        if let Some(&(i, row)) = reading.missing.first() {
            return Flow::Stop(format!(
                "{} (or stale): nothing is lent until it is back",
                self.watched.describe(tick, i, row)
            ));
        }
        let Some((worst, i, row)) = reading.worst else {
            return Flow::Continue;
        };
        if worst < self.shrink_margin {
            return Flow::Stop(format!(
                "{}: below the shrink margin of {:.1} %, nothing is lent",
                self.watched.describe(tick, i, row),
                100.0 * self.shrink_margin
            ));
        }
        let band = self.grow_margin - self.shrink_margin;
        let scale = if worst >= self.grow_margin || band <= 0.0 {
            1.0
        } else {
            (worst - self.shrink_margin) / band
        };
        if scale < 1.0 {
            log::debug!(target: "serenity",
                "stage slo_scale: {}: lending {:.0} % of the slack", self.watched.describe(tick, i, row), 100.0 * scale);
        }
        tick.state.slack = Some(Slack {
            cpus: slack.cpus * scale,
            mem_bytes: slack.mem_bytes * scale,
        });
        Flow::Continue
    }
}
