//! Where best-effort work should go: the filter and the two scoring
//! policies, as pure functions of what the service knows of each node.
//!
//! For a best-effort pod a node with fresh data is **unfit** when it is in
//! contention (its last tick raised one), any valve is closed (it is
//! revoking, or stopped lending), it lends less than `min_slack_cpus` or
//! `min_slack_mem_bytes` (no slack advertised counts as none), or its
//! interference score is above `max_interference`. The fit nodes are scored
//! on the extender range 0..=[`MAX_SCORE`]:
//!
//! - **spread**: `10 × (0.5 × slack/max_slack + 0.5 × (1 − interference))`:
//!   the quietest node with the most slack wins;
//! - **pack** (Fenzo's bin packing): `10 × (0.4 × (1 − slack/max_slack) +
//!   0.3 × [hosts best-effort work] + 0.3 × (1 − interference))`: nodes that
//!   already lend fill first, idle nodes stay whole to scale down;
//!
//! where `max_slack` is the most CPU slack among the fit nodes, rounded to
//! the nearest integer. A node whose data is stale (or that the service
//! does not watch) is **neutral**: [`NEUTRAL_SCORE`] and a reason, never
//! failed; so is every node for a pod that is not best-effort.

use crate::nodes::NodeFacts;

/// The extender's highest score (`MaxExtenderPriority` of
/// k8s.io/kube-scheduler/extender/v1).
pub const MAX_SCORE: i64 = 10;

/// The score of a node the service has no opinion on: the middle of the
/// range, so it is neither preferred nor pushed away.
pub const NEUTRAL_SCORE: i64 = MAX_SCORE / 2;

/// The placement policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The quietest node with the most slack first.
    Spread,
    /// Nodes already lending first (bin packing).
    Pack,
}

impl Policy {
    /// `spread` or `pack`.
    pub fn parse(s: &str) -> Result<Policy, String> {
        match s {
            "spread" => Ok(Policy::Spread),
            "pack" => Ok(Policy::Pack),
            _ => Err(format!("unknown policy {s:?}: `spread` or `pack`")),
        }
    }

    /// The name, as [`Policy::parse`] takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Spread => "spread",
            Policy::Pack => "pack",
        }
    }
}

/// What a best-effort pod's node must offer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Filter {
    /// CPU slack at least this.
    pub min_slack_cpus: f64,
    /// Memory slack at least this, bytes.
    pub min_slack_mem_bytes: f64,
    /// Interference score at most this.
    pub max_interference: f64,
}

impl Default for Filter {
    fn default() -> Filter {
        Filter {
            min_slack_cpus: 0.5,
            min_slack_mem_bytes: 0.0,
            max_interference: 0.5,
        }
    }
}

/// What the service knows of one node when it judges it.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeState {
    /// A summary younger than `stale_after_secs`.
    Fresh(NodeFacts),
    /// No usable data; the reason says why (unreachable, old, unknown).
    Stale(String),
}

/// The judgement of one node for one pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The pod may go there, with this score.
    Fit(i64),
    /// Not for this pod (filter: failed; prioritize: 0).
    Unfit(String),
    /// No opinion: passes the filter, [`NEUTRAL_SCORE`].
    Neutral(String),
}

impl Verdict {
    /// The extender score.
    pub fn score(&self) -> i64 {
        match self {
            Verdict::Fit(s) => *s,
            Verdict::Unfit(_) => 0,
            Verdict::Neutral(_) => NEUTRAL_SCORE,
        }
    }
}

/// Why `facts` is unfit for a best-effort pod, if it is.
pub fn unfit_reason(facts: &NodeFacts, filter: &Filter) -> Option<String> {
    if let Some(contention) = &facts.contention {
        return Some(format!("in contention: {contention}"));
    }
    if !facts.valve_open {
        return Some("a valve is closed: the node is not lending slack".into());
    }
    let Some((cpus, mem)) = facts.slack else {
        return Some("no slack advertised (no estimator, or before its first tick)".into());
    };
    if cpus < filter.min_slack_cpus {
        return Some(format!(
            "slack {cpus:.3} cpus is below min_slack_cpus = {}",
            filter.min_slack_cpus
        ));
    }
    if mem < filter.min_slack_mem_bytes {
        return Some(format!(
            "slack {mem:.0} bytes of memory is below min_slack_mem_bytes = {}",
            filter.min_slack_mem_bytes
        ));
    }
    if facts.interference > filter.max_interference {
        return Some(format!(
            "interference score {:.3} is above max_interference = {}",
            facts.interference, filter.max_interference
        ));
    }
    None
}

/// Judges every node for one pod: `best_effort` says whether the pod is.
pub fn judge(
    nodes: &[&NodeState],
    best_effort: bool,
    policy: Policy,
    filter: &Filter,
) -> Vec<Verdict> {
    if !best_effort {
        return nodes
            .iter()
            .map(|_| Verdict::Neutral("not a best-effort pod".into()))
            .collect();
    }
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(nodes.len());
    let mut max_slack: f64 = 0.0;
    for state in nodes {
        let v = match state {
            NodeState::Stale(why) => Verdict::Neutral(why.clone()),
            NodeState::Fresh(f) => match unfit_reason(f, filter) {
                Some(why) => Verdict::Unfit(why),
                None => {
                    max_slack = max_slack.max(f.slack.map_or(0.0, |s| s.0));
                    Verdict::Fit(0)
                }
            },
        };
        verdicts.push(v);
    }
    for (state, verdict) in nodes.iter().zip(verdicts.iter_mut()) {
        if let (NodeState::Fresh(f), Verdict::Fit(score)) = (state, verdict) {
            *score = score_of(f, max_slack, policy);
        }
    }
    verdicts
}

fn score_of(facts: &NodeFacts, max_slack: f64, policy: Policy) -> i64 {
    let slack = facts.slack.map_or(0.0, |s| s.0);
    let share = if max_slack > 0.0 {
        (slack / max_slack).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let quiet = 1.0 - facts.interference.clamp(0.0, 1.0);
    let raw = match policy {
        Policy::Spread => 0.5 * share + 0.5 * quiet,
        Policy::Pack => {
            let lending = if facts.best_effort_executors > 0 {
                1.0
            } else {
                0.0
            };
            0.4 * (1.0 - share) + 0.3 * lending + 0.3 * quiet
        }
    };
    ((raw * MAX_SCORE as f64).round() as i64).clamp(0, MAX_SCORE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(slack: f64, interference: f64, best_effort: usize) -> NodeState {
        NodeState::Fresh(NodeFacts {
            slack: Some((slack, 1e9)),
            contention: None,
            valve_open: true,
            interference,
            best_effort_executors: best_effort,
            age_secs: 1.0,
        })
    }

    fn run(nodes: &[NodeState], policy: Policy) -> Vec<Verdict> {
        let refs: Vec<&NodeState> = nodes.iter().collect();
        judge(&refs, true, policy, &Filter::default())
    }

    #[test]
    fn contention_closed_valves_little_slack_and_interference_are_unfit_with_reasons() {
        let mut contended = node(2.0, 0.0, 0);
        let mut closed = node(2.0, 0.0, 0);
        let mut no_slack = node(2.0, 0.0, 0);
        if let NodeState::Fresh(f) = &mut contended {
            f.contention = Some("cpu_usage (overload)".into());
        }
        if let NodeState::Fresh(f) = &mut closed {
            f.valve_open = false;
        }
        if let NodeState::Fresh(f) = &mut no_slack {
            f.slack = None;
        }
        let v = run(
            &[
                contended,
                closed,
                no_slack,
                node(0.2, 0.0, 0),
                node(2.0, 0.9, 0),
            ],
            Policy::Spread,
        );
        let reasons: Vec<String> = v
            .iter()
            .map(|v| match v {
                Verdict::Unfit(r) => r.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            reasons,
            vec![
                "in contention: cpu_usage (overload)",
                "a valve is closed: the node is not lending slack",
                "no slack advertised (no estimator, or before its first tick)",
                "slack 0.200 cpus is below min_slack_cpus = 0.5",
                "interference score 0.900 is above max_interference = 0.5",
            ]
        );
        assert!(v.iter().all(|v| v.score() == 0));
    }

    #[test]
    fn spread_prefers_more_slack_and_less_interference() {
        let v = run(
            &[node(1.0, 0.0, 0), node(2.0, 0.0, 0), node(2.0, 0.4, 0)],
            Policy::Spread,
        );
        assert_eq!(v, vec![Verdict::Fit(8), Verdict::Fit(10), Verdict::Fit(8)]);
    }

    #[test]
    fn pack_fills_nodes_already_lending_before_idle_ones() {
        let busy = node(1.0, 0.0, 2);
        let idle = node(4.0, 0.0, 0);
        let v = run(&[busy, idle], Policy::Pack);
        assert_eq!(v, vec![Verdict::Fit(9), Verdict::Fit(3)]);
        assert!(v[0].score() > v[1].score());
    }

    #[test]
    fn stale_nodes_and_other_pods_are_neutral_never_failed() {
        let stale = NodeState::Stale("unreachable".into());
        let v = run(&[stale.clone(), node(2.0, 0.0, 0)], Policy::Spread);
        assert_eq!(v[0], Verdict::Neutral("unreachable".into()));
        assert_eq!(v[0].score(), NEUTRAL_SCORE);
        let fresh = node(2.0, 0.0, 0);
        let all = judge(&[&stale, &fresh], false, Policy::Pack, &Filter::default());
        assert!(all
            .iter()
            .all(|v| *v == Verdict::Neutral("not a best-effort pod".into())));
    }

    #[test]
    fn scores_stay_in_range_for_odd_numbers() {
        let v = run(
            &[
                node(f64::MAX, 0.0, 0),
                node(0.5, -3.0, 0),
                node(0.5, 0.0, 0),
            ],
            Policy::Spread,
        );
        assert!(
            v.iter().all(|v| (0..=MAX_SCORE).contains(&v.score())),
            "{v:?}"
        );
        assert_eq!(Policy::parse("pack"), Ok(Policy::Pack));
        assert!(Policy::parse("Pack").is_err());
    }
}
