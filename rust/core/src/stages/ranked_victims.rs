//! `ranked_victims`: kill the fewest best-effort executors that cover what
//! the contentions ask for, chosen by rank.
//!
//! New (spec/anchors.md §8 lesson 4: "close the gap precisely: compute how
//! much must be released and act on the minimum set of victims, sorted by
//! priority then usage then age", as Crane and Koordinator do; instead of the
//! original's kill-all or fixed seniority).
//!
//! Amount: when a pending contention is measured in CPUs (overload), the
//! largest such severity (`default_severity` when it has none) is the CPUs to
//! recover. Contentions in other units (an IPC drop, a changepoint in sigmas)
//! cannot be converted into CPUs: they ask for one victim, the top-ranked.
//!
//! Rank (first key first):
//! 1. allocation violators (usage > allocated cpus) — they take what was not
//!    lent to them;
//! 2. youngest first (unknown age last) — the newest work is the likeliest
//!    cause of a new problem and has lost the least progress (the original's
//!    seniority rule);
//! 3. largest usage first (unknown last) — frees the most per kill;
//! 4. snapshot order, so ties are deterministic.
//!
//! Choice: walk the ranking adding each executor's usage (its allocated cpus
//! while it has no usage value yet) until the amount is covered; then, from
//! the lowest-ranked chosen victim up, drop any victim whose removal still
//! leaves the amount covered. The result is irreducible: removing any victim
//! uncovers the amount. When even every best-effort executor does not cover
//! it, all of them are killed. When nothing is chosen the contentions stay
//! pending for a later strategy.

use super::common::{
    best_effort_rows, correct, describe_contention, describe_executor, known_signals,
    ContentionFilter,
};
use super::BuildContext;
use crate::config::reader::positive;
use crate::config::ParamReader;
use crate::signal::{SignalId, SignalNames};
use crate::stage::Stage;
use crate::tick::{Flow, SeverityUnit, Tick};
use std::cmp::Ordering;
use std::sync::Arc;

/// Parameters of `ranked_victims`.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedVictimsParams {
    /// Each executor's CPU usage (`usage`, default `cpu_usage`).
    pub usage: SignalId,
    /// CPUs to recover for a CPU contention without severity
    /// (`default_severity`, default 1.0).
    pub default_severity: f64,
}

struct RankedVictims {
    params: RankedVictimsParams,
    filter: ContentionFilter,
    names: SignalNames,
    name: Arc<str>,
}

pub(super) fn build(r: &mut ParamReader<'_, '_>, ctx: &mut BuildContext) -> Box<dyn Stage> {
    let params = RankedVictimsParams {
        usage: r.signal_in("usage", "cpu_usage"),
        default_severity: r.f64("default_severity", 1.0, positive),
    };
    Box::new(RankedVictims {
        params,
        filter: ContentionFilter::read(r),
        names: known_signals(r),
        name: ctx.stage_name.clone(),
    })
}

/// One best-effort executor as the ranking sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Row in the snapshot.
    pub row: usize,
    /// CPU usage, if known.
    pub usage: Option<f64>,
    /// Allocated cpus, if any.
    pub allocated: Option<f64>,
    /// Age in seconds, if known.
    pub age: Option<f64>,
}

impl Candidate {
    /// Uses more than it was allocated.
    pub fn violator(&self) -> bool {
        matches!((self.usage, self.allocated), (Some(u), Some(a)) if u > a)
    }

    /// CPUs its kill frees: its usage, else its allocation, else 0.
    pub fn worth(&self) -> f64 {
        self.usage.or(self.allocated).unwrap_or(0.0).max(0.0)
    }
}

fn none_last(a: Option<f64>, b: Option<f64>, ascending: bool) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => {
            if ascending {
                x.total_cmp(&y)
            } else {
                y.total_cmp(&x)
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Sorts candidates by rank (violators, youngest, largest usage, row).
pub fn rank(candidates: &mut [Candidate]) {
    candidates.sort_by(|a, b| {
        b.violator()
            .cmp(&a.violator())
            .then_with(|| none_last(a.age, b.age, true))
            .then_with(|| none_last(a.usage, b.usage, false))
            .then_with(|| a.row.cmp(&b.row))
    });
}

/// Indices (into the ranked `candidates`) of the fewest-by-rank victims that
/// cover `amount` CPUs; `None` amount asks for the top-ranked one.
pub fn choose(candidates: &[Candidate], amount: Option<f64>) -> Vec<usize> {
    if candidates.is_empty() {
        return Vec::new();
    }
    let amount = match amount {
        Some(a) if a > 0.0 => a,
        _ => return vec![0],
    };
    let mut chosen = Vec::new();
    let mut covered = 0.0;
    for (i, c) in candidates.iter().enumerate() {
        if covered >= amount {
            break;
        }
        chosen.push(i);
        covered += c.worth();
    }
    if covered >= amount {
        let mut k = chosen.len();
        while k > 0 {
            k -= 1;
            let w = candidates[chosen[k]].worth();
            if covered - w >= amount {
                covered -= w;
                chosen.remove(k);
            }
        }
    }
    chosen
}

impl Stage for RankedVictims {
    fn run(&mut self, tick: &mut Tick<'_>) -> Flow {
        let pending = self.filter.pending(tick);
        if pending.is_empty() {
            return Flow::Continue;
        }
        let mut candidates: Vec<Candidate> = best_effort_rows(tick)
            .into_iter()
            .map(|row| Candidate {
                row,
                usage: tick.signal(row, self.params.usage),
                allocated: tick.snapshot.executors[row].allocated_cpus,
                age: tick.age_secs(row),
            })
            .collect();
        if candidates.is_empty() {
            return Flow::Continue;
        }
        rank(&mut candidates);
        let mut cpus: Option<(f64, usize)> = None;
        for &i in &pending {
            let c = &tick.state.contentions[i];
            if c.unit == SeverityUnit::Cpus {
                let s = c.severity.unwrap_or(self.params.default_severity);
                if cpus.is_none_or(|(m, _)| s > m) {
                    cpus = Some((s, i));
                }
            }
        }
        let main = cpus.map_or(pending[0], |(_, i)| i);
        let chosen = choose(&candidates, cpus.map(|(a, _)| a));
        if chosen.is_empty() {
            return Flow::Continue;
        }
        let total: f64 = chosen.iter().map(|&i| candidates[i].worth()).sum();
        let amount = match cpus {
            Some((a, _)) if a > 0.0 => format!(
                "recover {a:.3} cpus with {} victim(s) freeing {total:.3}",
                chosen.len()
            ),
            _ => "one victim (the contention is not measured in cpus)".to_owned(),
        };
        let why = format!(
            "{}: {amount} for {}{}",
            self.name,
            describe_contention(&tick.state.contentions[main], &self.names, tick),
            if pending.len() > 1 {
                format!(" (and {} more)", pending.len() - 1)
            } else {
                String::new()
            }
        );
        let usage_name = self.names.name(self.params.usage).to_owned();
        let victims: Vec<(usize, String)> = chosen
            .iter()
            .map(|&i| {
                let c = candidates[i];
                let rank_reason = match c.age {
                    _ if c.violator() => "allocation violator".to_owned(),
                    Some(age) => format!("by age, {age:.0} s"),
                    None => "age unknown, by usage".to_owned(),
                };
                let reason = format!(
                    "{why}; rank {} of {} ({rank_reason}): {} frees {:.3} cpus",
                    i + 1,
                    candidates.len(),
                    describe_executor(tick, c.row, c.usage, &usage_name),
                    c.worth()
                );
                (c.row, reason)
            })
            .collect();
        correct(tick, &pending, victims);
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    fn cand(row: usize, usage: Option<f64>, allocated: f64, age: Option<f64>) -> Candidate {
        Candidate {
            row,
            usage,
            allocated: Some(allocated),
            age,
        }
    }

    #[test]
    fn rank_puts_violators_first_then_youngest_then_largest_usage() {
        let mut c = vec![
            cand(0, Some(0.5), 1.0, Some(100.0)),
            cand(1, Some(0.2), 1.0, Some(10.0)),
            cand(2, Some(1.5), 1.0, Some(500.0)),
            cand(3, Some(0.9), 1.0, Some(10.0)),
            cand(4, Some(3.0), 1.0, None),
            cand(5, None, 1.0, Some(10.0)),
        ];
        rank(&mut c);
        let rows: Vec<usize> = c.iter().map(|c| c.row).collect();
        // 2 and 4 violate (2 has an age, so it ranks before 4); then age 10:
        // 3 (0.9) before 1 (0.2) before 5 (unknown usage); then age 100.
        assert_eq!(rows, vec![2, 4, 3, 1, 5, 0]);
    }

    #[test]
    fn the_chosen_set_is_the_greedy_prefix_made_irreducible() {
        let c = vec![
            cand(0, Some(0.3), 1.0, Some(1.0)),
            cand(1, Some(0.3), 1.0, Some(2.0)),
            cand(2, Some(1.2), 2.0, Some(3.0)),
            cand(3, Some(0.1), 1.0, Some(4.0)),
        ];
        // Greedy: 0.3 + 0.3 + 1.2 = 1.8 ≥ 1.0; then 1 and 0 are redundant.
        assert_eq!(choose(&c, Some(1.0)), vec![2]);
        // 0.5: 0.3 + 0.3 covers it; neither can go.
        assert_eq!(choose(&c, Some(0.5)), vec![0, 1]);
        // 0.3: the first alone.
        assert_eq!(choose(&c, Some(0.3)), vec![0]);
        // More than everything: everyone.
        assert_eq!(choose(&c, Some(10.0)), vec![0, 1, 2, 3]);
        // Not in cpus: the top-ranked one.
        assert_eq!(choose(&c, None), vec![0]);
        assert!(choose(&[], Some(1.0)).is_empty());
    }

    #[test]
    fn removing_any_chosen_victim_uncovers_the_amount() {
        // Exhaustive check over small deterministic cases.
        let usages = [0.1, 0.4, 0.7, 1.0, 1.3, 0.25];
        for n in 1..=usages.len() {
            for amount in [0.2, 0.5, 0.9, 1.4, 2.0, 3.0] {
                let c: Vec<Candidate> = (0..n)
                    .map(|i| cand(i, Some(usages[i]), 2.0, Some(i as f64)))
                    .collect();
                let chosen = choose(&c, Some(amount));
                let sum: f64 = chosen.iter().map(|&i| c[i].worth()).sum();
                let all: f64 = c.iter().map(|c| c.worth()).sum();
                if all >= amount {
                    assert!(sum >= amount, "n={n} amount={amount}");
                    for &i in &chosen {
                        assert!(
                            sum - c[i].worth() < amount,
                            "n={n} amount={amount} victim {i} is redundant"
                        );
                    }
                } else {
                    assert_eq!(chosen.len(), n);
                }
            }
        }
    }

    #[test]
    fn the_stage_kills_the_fewest_that_cover_an_overload() {
        let mut p = pipeline(
            "kind = \"qos\"
[[stage]]
type = \"overload\"
threshold = 0.5
[[stage]]
type = \"ranked_victims\"
",
        );
        let first = snapshot(&[pr("p", 4.0), be("old", 2.0)], Some(8.0), 0.0);
        p.tick(&first);
        let snap = snapshot(
            &[
                pr("p", 4.0),
                be("old", 2.0),
                be("small", 1.0),
                be("big", 2.0),
            ],
            Some(8.0),
            60.0,
        );
        let out = p.tick_injecting(&snap, |t, n| {
            set(t, n, 0, "cpu_usage", 3.0);
            set(t, n, 1, "cpu_usage", 1.8);
            set(t, n, 2, "cpu_usage", 0.2);
            set(t, n, 3, "cpu_usage", 1.5);
        });
        // sum 6.5, limit 4 → recover 2.5. Rank: big (age 0, 1.5), small
        // (age 0, 0.2), old (age 60, 1.8). Greedy: big + small + old = 3.5;
        // small is redundant (3.3 ≥ 2.5).
        let v: Vec<&str> = out
            .corrections
            .iter()
            .map(|c| snap.executors[c.row].key.executor_id.as_str())
            .collect();
        assert_eq!(v, vec!["big", "old"]);
        let r = &out.corrections[0].reason;
        assert!(
            r.contains("recover 2.500 cpus with 2 victim(s) freeing 3.300"),
            "{r}"
        );
        assert!(r.contains("rank 1 of 3 (by age, 0 s)"), "{r}");
        assert!(out.contentions[0].handled);
    }
}
