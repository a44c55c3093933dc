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

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::pipeline::Pipeline;

    const PIPE: &str = "kind = \"estimator\"
[[sli]]
name = \"p99\"
executors = [\"web\"]
objective = 2.0
source = \"file\"
path = \"/run/web/p99\"
max_age_secs = 3.0
[[stage]]
type = \"slack\"
fraction = 1.0
[[stage]]
type = \"slo_scale\"
";

    /// The slack lent at time 10 with web (2 cpus allocated, using 0.5)
    /// at `p99` measured at `at`.
    fn lent(p: &mut Pipeline, p99: Option<(f64, f64)>) -> f64 {
        let mut snap = snapshot(&[pr("web", 2.0)], Some(4.0), 10.0);
        if let Some((v, at)) = p99 {
            snap = with_sli(snap, 0, "p99", v, at);
        }
        let out = p.tick_injecting(&snap, |t, n| set(t, n, 0, "cpu_usage", 0.5));
        out.slack.expect("an estimator answers").cpus
    }

    #[test]
    fn slack_is_lent_in_full_above_the_grow_margin_and_scaled_across_the_hold_band() {
        let mut p = pipeline(PIPE);
        assert!(
            (lent(&mut p, Some((1.0, 10.0))) - 1.5).abs() < 1e-9,
            "50 % slack: all"
        );
        // slack 7.5 %: halfway between 5 % and 10 %.
        assert!((lent(&mut p, Some((1.85, 10.0))) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn nothing_is_lent_under_the_shrink_margin_or_on_a_violation() {
        let mut p = pipeline(PIPE);
        assert_eq!(lent(&mut p, Some((1.95, 10.0))), 0.0);
        assert_eq!(lent(&mut p, Some((2.5, 10.0))), 0.0);
    }

    #[test]
    fn nothing_is_lent_while_the_sli_is_missing_or_stale() {
        let mut p = pipeline(PIPE);
        assert_eq!(lent(&mut p, None), 0.0, "missing");
        assert_eq!(
            lent(&mut p, Some((0.5, 6.0))),
            0.0,
            "4 s old with max_age_secs = 3"
        );
        assert!(lent(&mut p, Some((0.5, 8.0))) > 1.0, "2 s old is fresh");
    }
}
