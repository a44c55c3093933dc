//! Interference episodes: maximal runs of ticks on which one scripted event
//! is active, read from a trace's truth.

use crate::truth::Truth;
use std::collections::BTreeMap;

/// One interference episode from the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The scenario event's index.
    pub event: usize,
    /// First tick.
    pub onset: usize,
    /// First tick after.
    pub end: usize,
    /// Aggressors seen during the episode.
    pub aggressors: Vec<String>,
}

impl Episode {
    /// Length in ticks.
    pub fn len(&self) -> usize {
        self.end - self.onset
    }

    /// Whether the episode has no ticks (never, for episodes from the truth).
    pub fn is_empty(&self) -> bool {
        self.end <= self.onset
    }

    /// The grace after the end within which a kill still detects the
    /// episode: `fraction` × its length (rounded down), at most `max_ticks`.
    pub fn grace(&self, fraction: f64, max_ticks: usize) -> usize {
        ((self.len() as f64 * fraction).floor() as usize).min(max_ticks)
    }
}

/// Splits the truth into episodes, in onset order. Each burst of a
/// recurring event is an episode of its own.
pub fn episodes(truth: &[Option<Truth>]) -> Vec<Episode> {
    let mut open: BTreeMap<usize, Episode> = BTreeMap::new();
    let mut done = Vec::new();
    for (t, tr) in truth.iter().enumerate() {
        let active: Vec<usize> = tr.as_ref().map(|x| x.events.clone()).unwrap_or_default();
        let ended: Vec<usize> = open
            .keys()
            .filter(|e| !active.contains(e))
            .copied()
            .collect();
        for e in ended {
            if let Some(mut ep) = open.remove(&e) {
                ep.end = t;
                done.push(ep);
            }
        }
        for e in active {
            let ep = open.entry(e).or_insert_with(|| Episode {
                event: e,
                onset: t,
                end: t + 1,
                aggressors: Vec::new(),
            });
            if let Some(tr) = tr {
                for a in &tr.aggressors {
                    if !ep.aggressors.contains(a) {
                        ep.aggressors.push(a.clone());
                    }
                }
            }
        }
    }
    for (_, mut ep) in open {
        ep.end = truth.len();
        done.push(ep);
    }
    done.sort_by_key(|e| (e.onset, e.event));
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episodes_split_on_gaps_and_collect_aggressors() {
        let mut t: Vec<Option<Truth>> = (0..30)
            .map(|i| {
                Some(Truth {
                    events: if (5..10).contains(&i) {
                        vec![0]
                    } else {
                        vec![]
                    },
                    aggressors: if (5..10).contains(&i) {
                        vec!["a".into()]
                    } else {
                        vec![]
                    },
                    ..Default::default()
                })
            })
            .collect();
        t[20] = Some(Truth {
            events: vec![0],
            aggressors: vec!["b".into()],
            ..Default::default()
        });
        let e = episodes(&t);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].onset, e[0].end), (5, 10));
        assert_eq!(
            (e[1].onset, e[1].end, e[1].aggressors.clone()),
            (20, 21, vec!["b".to_string()])
        );
    }

    #[test]
    fn grace_is_a_fraction_of_the_episode_and_capped() {
        let e = Episode {
            event: 0,
            onset: 10,
            end: 18,
            aggressors: vec![],
        };
        assert_eq!(e.grace(0.25, 10), 2);
        assert_eq!(e.grace(0.25, 1), 1);
        let long = Episode { end: 210, ..e };
        assert_eq!(long.grace(0.25, 10), 10);
    }
}
