//! The node summary: a compact, versioned view of one node for schedulers
//! (what `GET /summary` of the node agent serves and `serenity hints`
//! polls).
//!
//! A [`SummaryBuilder`] is fed one [`TickRecord`] per tick (times are the
//! caller's seconds on any monotonic scale: this crate has no clock) and
//! keeps the ticks of the longest window, [`WINDOWS_SECS`]`[2]`, counted in
//! one-second buckets, so its memory does not depend on the tick rate (at
//! most [`MAX_BUCKETS`] buckets). A window counts every bucket it overlaps,
//! so it reaches back up to one second further than its length.
//! [`SummaryBuilder::summary`] answers, at a given time:
//!
//! - the last advertised slack (cpus, memory), or none without an estimator;
//! - the last tick's contentions, per watched signal, with the detectors
//!   that raised them;
//! - corrections over each window of [`WINDOWS_SECS`], counted per reason
//!   (the detectors that were raising contentions in the tick that decided
//!   them, `+`-joined, or `unattributed`);
//! - the [interference score](Interference);
//! - each pipeline's valve state, and whether all are open;
//! - the age of the data (seconds since the last tick) and
//!   [`SUMMARY_SCHEMA`].
//!
//! The JSON contract is in docs/hints.md; a reader refuses a summary whose
//! `schema` it does not know.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// The version of the summary's JSON shape; bumped on any incompatible
/// change (a field renamed, removed or given another meaning).
pub const SUMMARY_SCHEMA: u32 = 1;

/// The windows corrections are counted over, seconds (1, 5 and 15 minutes,
/// as load averages).
pub const WINDOWS_SECS: [f64; 3] = [60.0, 300.0, 900.0];

/// The window of the interference score, seconds.
pub const INTERFERENCE_WINDOW_SECS: f64 = 300.0;

/// Corrections within [`INTERFERENCE_WINDOW_SECS`] at which the correction
/// half of the interference score saturates.
pub const INTERFERENCE_CORRECTIONS_SATURATION: f64 = 10.0;

/// One-second buckets kept at most: the longest window and the second in
/// progress.
pub const MAX_BUCKETS: usize = WINDOWS_SECS[WINDOWS_SECS.len() - 1] as usize + 1;

/// The reason of corrections decided in a tick without a contention.
pub const UNATTRIBUTED: &str = "unattributed";

/// What one tick contributes to the summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickRecord {
    /// The estimator's slack this tick (`None` without an estimator).
    pub slack: Option<crate::Slack>,
    /// Contentions raised this tick: (signal, detector) pairs.
    pub contentions: Vec<(String, String)>,
    /// Corrections acted on (or logged, in a dry run) this tick.
    pub corrections: u64,
    /// Valve state per pipeline (pipelines with a valve).
    pub valves: BTreeMap<String, bool>,
    /// Best-effort executors sampled this tick.
    pub best_effort_executors: usize,
}

/// Slack as the summary reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SlackSummary {
    /// Revocable CPUs the node lends.
    pub cpus: f64,
    /// Revocable memory the node lends, bytes.
    pub mem_bytes: f64,
}

impl From<crate::Slack> for SlackSummary {
    fn from(s: crate::Slack) -> SlackSummary {
        SlackSummary {
            cpus: s.cpus,
            mem_bytes: s.mem_bytes,
        }
    }
}

/// The (signal, detector) pairs of a tick's contentions, taken while the
/// tick's outcome still borrows its pipeline, and named afterwards for
/// [`TickRecord::contentions`].
#[derive(Debug, Clone, Default)]
pub struct Raised(Vec<(crate::signal::SignalId, std::sync::Arc<str>)>);

impl Raised {
    /// The pairs of `contentions`.
    pub fn of(contentions: &[crate::Contention]) -> Raised {
        Raised(
            contentions
                .iter()
                .map(|c| (c.signal, c.detector.clone()))
                .collect(),
        )
    }

    /// (signal name, detector name) of each, with the names of the
    /// pipeline that raised them.
    pub fn named(self, signals: &crate::signal::SignalNames) -> Vec<(String, String)> {
        self.0
            .into_iter()
            .map(|(signal, detector)| (signals.name(signal).to_owned(), detector.to_string()))
            .collect()
    }
}

/// The contentions on one signal in the last tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalContention {
    /// The signal the detectors watched (`cpu_usage`, `ipc`, ...).
    pub signal: String,
    /// The detectors that raised them, sorted, each once.
    pub detectors: Vec<String>,
    /// How many contentions.
    pub count: usize,
}

/// Contention state of the last tick.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContentionSummary {
    /// True when the last tick raised any contention.
    pub active: bool,
    /// Per signal, sorted by signal name.
    pub signals: Vec<SignalContention>,
}

/// Corrections decided within one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrectionWindow {
    /// The window, seconds back from the last tick.
    pub window_secs: f64,
    /// Corrections in it.
    pub total: u64,
    /// The same, per reason (see the module docs).
    pub reasons: BTreeMap<String, u64>,
}

/// The interference score: how much best-effort work on this node has
/// recently been hurting production work, in [0, 1].
///
/// `score = 0.5 × contended_fraction + 0.5 × min(1, corrections / 10)`,
/// both over the last [`INTERFERENCE_WINDOW_SECS`]: the share of ticks
/// that raised a contention, and the corrections decided (saturating at
/// [`INTERFERENCE_CORRECTIONS_SATURATION`]). 0 is a node where nothing was
/// detected or revoked for five minutes; 1 a node in contention on every
/// tick that revoked ten or more executors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interference {
    /// The score, in [0, 1].
    pub score: f64,
    /// Share of the window's ticks that raised a contention.
    pub contended_fraction: f64,
    /// Corrections in the window.
    pub corrections: u64,
    /// The window, seconds.
    pub window_secs: f64,
}

/// One node's summary (JSON contract: docs/hints.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSummary {
    /// [`SUMMARY_SCHEMA`].
    pub schema: u32,
    /// Ticks run so far.
    pub ticks: u64,
    /// Seconds since the last tick; `None` before the first.
    pub age_secs: Option<f64>,
    /// The last advertised slack; `None` without an estimator (or before
    /// its first tick).
    pub slack: Option<SlackSummary>,
    /// The last tick's contentions.
    pub contention: ContentionSummary,
    /// Corrections per window of [`WINDOWS_SECS`].
    pub corrections: Vec<CorrectionWindow>,
    /// The interference score.
    pub interference: Interference,
    /// Valve state per pipeline (true: open).
    pub valves: BTreeMap<String, bool>,
    /// True when every valve is open (or there is none).
    pub valve_open: bool,
    /// Best-effort executors in the last tick.
    pub best_effort_executors: usize,
}

/// The ticks of one second, `[second, second + 1)`.
#[derive(Debug, Clone)]
struct Bucket {
    second: f64,
    ticks: u64,
    contended: u64,
    /// Corrections per reason (few: one entry per distinct reason).
    corrections: Vec<(String, u64)>,
}

/// Keeps the recent ticks of one node and answers its [`NodeSummary`].
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    buckets: VecDeque<Bucket>,
    ticks_total: u64,
    last_at: Option<f64>,
    last: TickRecord,
}

impl SummaryBuilder {
    /// An empty builder (no tick yet).
    pub fn new() -> SummaryBuilder {
        SummaryBuilder::default()
    }

    /// Records the tick that ended at `at` seconds. A time that goes
    /// backwards is taken as the last one (no window ever spans negative
    /// time).
    pub fn record(&mut self, at: f64, tick: TickRecord) {
        let at = match self.last_at {
            // NaN too: not at or after the last tick.
            Some(last) if at.partial_cmp(&last).is_none_or(|o| o.is_lt()) => last,
            _ => at,
        };
        let second = at.floor();
        if self.buckets.back().is_none_or(|b| b.second != second) {
            self.buckets.push_back(Bucket {
                second,
                ticks: 0,
                contended: 0,
                corrections: Vec::new(),
            });
        }
        let horizon = at - WINDOWS_SECS[WINDOWS_SECS.len() - 1];
        while self.buckets.len() > MAX_BUCKETS
            || self
                .buckets
                .front()
                .is_some_and(|b| b.second + 1.0 <= horizon)
        {
            self.buckets.pop_front();
        }
        if let Some(bucket) = self.buckets.back_mut() {
            bucket.ticks += 1;
            bucket.contended += u64::from(!tick.contentions.is_empty());
            if tick.corrections > 0 {
                let reason = reason_of(&tick.contentions);
                match bucket.corrections.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, n)) => *n += tick.corrections,
                    None => bucket.corrections.push((reason, tick.corrections)),
                }
            }
        }
        self.ticks_total += 1;
        self.last_at = Some(at);
        self.last = tick;
    }

    /// Buckets that overlap the `window` seconds up to the last tick.
    fn within(&self, window: f64) -> impl Iterator<Item = &Bucket> {
        let since = self.last_at.unwrap_or(0.0) - window;
        self.buckets
            .iter()
            .rev()
            .take_while(move |b| b.second + 1.0 > since)
    }

    /// The summary at `now` seconds (the same scale as [`record`]'s).
    ///
    /// [`record`]: SummaryBuilder::record
    pub fn summary(&self, now: f64) -> NodeSummary {
        let mut by_signal: BTreeMap<&str, (Vec<String>, usize)> = BTreeMap::new();
        for (signal, detector) in &self.last.contentions {
            let entry = by_signal.entry(signal).or_default();
            entry.1 += 1;
            if !entry.0.contains(detector) {
                entry.0.push(detector.clone());
            }
        }
        let signals = by_signal
            .into_iter()
            .map(|(signal, (mut detectors, count))| {
                detectors.sort();
                SignalContention {
                    signal: signal.to_owned(),
                    detectors,
                    count,
                }
            })
            .collect();
        let corrections = WINDOWS_SECS
            .iter()
            .map(|&window_secs| {
                let mut reasons = BTreeMap::new();
                let mut total = 0;
                for (reason, n) in self.within(window_secs).flat_map(|b| &b.corrections) {
                    total += n;
                    *reasons.entry(reason.clone()).or_default() += n;
                }
                CorrectionWindow {
                    window_secs,
                    total,
                    reasons,
                }
            })
            .collect();
        NodeSummary {
            schema: SUMMARY_SCHEMA,
            ticks: self.ticks_total,
            age_secs: self.last_at.map(|at| (now - at).max(0.0)),
            slack: self.last.slack.map(SlackSummary::from),
            contention: ContentionSummary {
                active: !self.last.contentions.is_empty(),
                signals,
            },
            corrections,
            interference: self.interference(),
            valve_open: self.last.valves.values().all(|open| *open),
            valves: self.last.valves.clone(),
            best_effort_executors: self.last.best_effort_executors,
        }
    }

    fn interference(&self) -> Interference {
        let (mut ticks, mut contended, mut corrections) = (0u64, 0u64, 0u64);
        for b in self.within(INTERFERENCE_WINDOW_SECS) {
            ticks += b.ticks;
            contended += b.contended;
            corrections += b.corrections.iter().map(|(_, n)| n).sum::<u64>();
        }
        let contended_fraction = if ticks == 0 {
            0.0
        } else {
            contended as f64 / ticks as f64
        };
        let corrections_part = (corrections as f64 / INTERFERENCE_CORRECTIONS_SATURATION).min(1.0);
        Interference {
            score: 0.5 * contended_fraction + 0.5 * corrections_part,
            contended_fraction,
            corrections,
            window_secs: INTERFERENCE_WINDOW_SECS,
        }
    }
}

/// The reason of a tick's corrections: its detectors, sorted, each once,
/// `+`-joined; [`UNATTRIBUTED`] without any.
fn reason_of(contentions: &[(String, String)]) -> String {
    let mut detectors: Vec<&str> = contentions.iter().map(|(_, d)| d.as_str()).collect();
    detectors.sort_unstable();
    detectors.dedup();
    if detectors.is_empty() {
        UNATTRIBUTED.to_owned()
    } else {
        detectors.join("+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Slack;

    fn contended(corrections: u64) -> TickRecord {
        TickRecord {
            contentions: vec![
                ("cpu_usage".into(), "overload".into()),
                ("cpu_usage".into(), "cpu_drop".into()),
                ("cpu_usage".into(), "cpu_drop".into()),
            ],
            corrections,
            ..TickRecord::default()
        }
    }

    #[test]
    fn an_empty_builder_has_no_age_no_slack_and_a_zero_score() {
        let s = SummaryBuilder::new().summary(5.0);
        assert_eq!(s.schema, SUMMARY_SCHEMA);
        assert_eq!((s.ticks, s.age_secs, s.slack), (0, None, None));
        assert_eq!(s.interference.score, 0.0);
        assert!(s.valve_open && !s.contention.active);
        assert_eq!(s.corrections.len(), WINDOWS_SECS.len());
    }

    #[test]
    fn contentions_are_grouped_per_signal_with_sorted_detectors() {
        let mut b = SummaryBuilder::new();
        b.record(1.0, contended(0));
        let s = b.summary(1.5);
        assert!(s.contention.active);
        assert_eq!(
            s.contention.signals,
            vec![SignalContention {
                signal: "cpu_usage".into(),
                detectors: vec!["cpu_drop".into(), "overload".into()],
                count: 3,
            }]
        );
        assert_eq!(s.age_secs, Some(0.5));
    }

    #[test]
    fn corrections_leave_the_short_window_first_and_keep_their_reason() {
        let mut b = SummaryBuilder::new();
        b.record(0.0, contended(2));
        b.record(
            100.0,
            TickRecord {
                corrections: 1,
                ..TickRecord::default()
            },
        );
        let s = b.summary(100.0);
        let totals: Vec<u64> = s.corrections.iter().map(|w| w.total).collect();
        assert_eq!(totals, vec![1, 3, 3]);
        assert_eq!(
            s.corrections[2].reasons,
            BTreeMap::from([
                ("cpu_drop+overload".to_owned(), 2),
                (UNATTRIBUTED.to_owned(), 1)
            ])
        );
        assert!(!s.contention.active, "the last tick raised nothing");
    }

    #[test]
    fn interference_is_half_contended_share_half_saturating_corrections() {
        let mut b = SummaryBuilder::new();
        for i in 0..4 {
            let tick = if i % 2 == 0 {
                contended(10)
            } else {
                TickRecord::default()
            };
            b.record(f64::from(i), tick);
        }
        let i = b.summary(4.0).interference;
        assert_eq!(i.contended_fraction, 0.5);
        assert_eq!(i.corrections, 20);
        assert_eq!(i.score, 0.5 * 0.5 + 0.5 * 1.0);
        // Five quiet minutes later the score is back to zero.
        b.record(400.0, TickRecord::default());
        assert_eq!(b.summary(400.0).interference.score, 0.0);
    }

    #[test]
    fn seconds_older_than_the_longest_window_are_dropped() {
        let mut b = SummaryBuilder::new();
        for i in 0..2000 {
            b.record(f64::from(i), TickRecord::default());
        }
        // 1099 ..= 1999: the 900 s window back from 1999 overlaps 1099.
        assert_eq!(b.buckets.len(), 901);
        assert_eq!(b.summary(1999.0).ticks, 2000);
    }

    #[test]
    fn memory_does_not_grow_with_the_tick_rate() {
        let mut b = SummaryBuilder::new();
        // A 1 ms tick for 20 minutes, a kill every 1000th tick.
        for i in 0..1_200_000u32 {
            let tick = if i % 1000 == 0 {
                contended(1)
            } else {
                TickRecord::default()
            };
            b.record(f64::from(i) / 1000.0, tick);
        }
        assert!(b.buckets.len() <= MAX_BUCKETS, "{}", b.buckets.len());
        let s = b.summary(1200.0);
        assert_eq!(s.ticks, 1_200_000);
        // The last minute: 60 seconds of one kill each (plus the overlapped
        // second at the window's start).
        assert!(
            (60..=61).contains(&s.corrections[0].total),
            "{:?}",
            s.corrections[0]
        );
        assert!((300..=301).contains(&s.interference.corrections));
        assert!((s.interference.contended_fraction - 0.001).abs() < 1e-4);
    }

    #[test]
    fn a_time_going_backwards_never_makes_a_negative_window() {
        let mut b = SummaryBuilder::new();
        b.record(10.0, contended(1));
        b.record(f64::NAN, contended(1));
        b.record(3.0, contended(1));
        let s = b.summary(10.0);
        assert_eq!(s.corrections[0].total, 3);
        assert_eq!(s.age_secs, Some(0.0));
    }

    #[test]
    fn valves_closed_anywhere_close_the_node_and_slack_is_reported() {
        let mut b = SummaryBuilder::new();
        b.record(
            1.0,
            TickRecord {
                slack: Some(Slack {
                    cpus: 1.5,
                    mem_bytes: 1024.0,
                }),
                valves: BTreeMap::from([("est".into(), true), ("qos".into(), false)]),
                ..TickRecord::default()
            },
        );
        let s = b.summary(1.0);
        assert!(!s.valve_open);
        assert_eq!(
            s.slack,
            Some(SlackSummary {
                cpus: 1.5,
                mem_bytes: 1024.0
            })
        );
        let json = serde_json::to_string(&s).unwrap();
        let back: NodeSummary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
