//! The cluster view: the latest summary of every watched node, with when it
//! was fetched and the last poll's error, and what a request sees of a node
//! ([`NodeState`]) at a given instant.

use crate::config::NodeConfig;
use crate::placement::NodeState;
use serenity_core::summary::{NodeSummary, SUMMARY_SCHEMA};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// What placement needs of one summary, taken once when it arrives.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFacts {
    /// (cpus, memory bytes) advertised; `None` without an estimator.
    pub slack: Option<(f64, f64)>,
    /// The last tick's contentions as a phrase (`cpu_usage (overload)`),
    /// `None` when there was none.
    pub contention: Option<String>,
    /// Every valve open.
    pub valve_open: bool,
    /// The interference score, [0, 1].
    pub interference: f64,
    /// Best-effort executors on the node.
    pub best_effort_executors: usize,
    /// Age of the data when it was fetched, seconds.
    pub age_secs: f64,
}

impl NodeFacts {
    /// The facts of `summary`.
    pub fn of(summary: &NodeSummary) -> NodeFacts {
        let contention = summary.contention.active.then(|| {
            let parts: Vec<String> = summary
                .contention
                .signals
                .iter()
                .map(|s| format!("{} ({})", s.signal, s.detectors.join(", ")))
                .collect();
            if parts.is_empty() {
                "a contention".to_owned()
            } else {
                parts.join("; ")
            }
        });
        NodeFacts {
            slack: summary.slack.map(|s| (s.cpus, s.mem_bytes)),
            contention,
            valve_open: summary.valve_open,
            interference: summary.interference.score,
            best_effort_executors: summary.best_effort_executors,
            age_secs: summary.age_secs.unwrap_or(f64::INFINITY),
        }
    }
}

/// A node's polls started or stopped failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The node answers (first answer, or again after failures).
    Answering,
    /// A poll failed after answering (or as the first poll), and why.
    Failing(String),
}

/// One node's entry.
#[derive(Debug, Clone)]
pub struct NodeEntry {
    /// Its agent's base URL.
    pub url: String,
    /// The latest summary and its facts, and when it was fetched.
    pub latest: Option<(NodeSummary, NodeFacts, Instant)>,
    /// The last poll's error (cleared by a successful poll).
    pub error: Option<String>,
}

/// The latest data of every watched node.
#[derive(Debug)]
pub struct NodeTable {
    entries: RwLock<HashMap<String, NodeEntry>>,
    stale_after: Duration,
}

impl NodeTable {
    /// A table of `nodes`, none fetched yet.
    pub fn new(nodes: &[NodeConfig], stale_after: Duration) -> NodeTable {
        let entries = nodes
            .iter()
            .map(|n| {
                (
                    n.name.clone(),
                    NodeEntry {
                        url: n.url.clone(),
                        latest: None,
                        error: None,
                    },
                )
            })
            .collect();
        NodeTable {
            entries: RwLock::new(entries),
            stale_after,
        }
    }

    /// Stores one poll's result: a summary fetched at `at`, or why none
    /// could be (the previous summary is kept and ages). Returns the
    /// node's health change, if any, for the log.
    pub fn update(
        &self,
        name: &str,
        result: Result<NodeSummary, String>,
        at: Instant,
    ) -> Option<Health> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get_mut(name)?;
        let was_failing = entry.error.is_some();
        let first = entry.latest.is_none() && entry.error.is_none();
        match result {
            Ok(summary) => {
                let facts = NodeFacts::of(&summary);
                entry.latest = Some((summary, facts, at));
                entry.error = None;
                (was_failing || first).then_some(Health::Answering)
            }
            Err(e) => {
                let change = (!was_failing).then(|| Health::Failing(e.clone()));
                entry.error = Some(e);
                change
            }
        }
    }

    /// What a request sees of each of `names` at `now`, in order.
    pub fn states(&self, names: &[&str], now: Instant) -> Vec<NodeState> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        names
            .iter()
            .map(|name| match entries.get(*name) {
                None => NodeState::Stale(format!(
                    "node {name:?} is not watched by serenity hints (no `[[node]]` of that name)"
                )),
                Some(entry) => self.state_of(entry, now),
            })
            .collect()
    }

    fn state_of(&self, entry: &NodeEntry, now: Instant) -> NodeState {
        let Some((_, facts, at)) = &entry.latest else {
            return NodeState::Stale(match &entry.error {
                Some(e) => format!("no data yet: {e}"),
                None => format!("no data yet from {}", entry.url),
            });
        };
        let age = facts.age_secs + now.saturating_duration_since(*at).as_secs_f64();
        if age > self.stale_after.as_secs_f64() {
            let why = entry
                .error
                .as_ref()
                .map_or(String::new(), |e| format!("; last poll: {e}"));
            return NodeState::Stale(format!(
                "data from {} is {age:.1} s old (stale after {} s){why}",
                entry.url,
                self.stale_after.as_secs_f64()
            ));
        }
        let mut facts = facts.clone();
        facts.age_secs = age;
        NodeState::Fresh(facts)
    }

    /// Every node's (name, url) in name order.
    pub fn urls(&self) -> Vec<(String, String)> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let mut urls: Vec<(String, String)> = entries
            .iter()
            .map(|(n, e)| (n.clone(), e.url.clone()))
            .collect();
        urls.sort();
        urls
    }

    /// (nodes, nodes with a summary, stale nodes) at `now`.
    pub fn counts(&self, now: Instant) -> (usize, usize, usize) {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let seen = entries.values().filter(|e| e.latest.is_some()).count();
        let stale = entries
            .values()
            .filter(|e| matches!(self.state_of(e, now), NodeState::Stale(_)))
            .count();
        (entries.len(), seen, stale)
    }

    /// Every node's entry, in name order (for `GET /nodes`).
    pub fn entries(&self) -> Vec<(String, NodeEntry)> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<(String, NodeEntry)> = entries
            .iter()
            .map(|(n, e)| (n.clone(), e.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// Checks a polled body: JSON of a summary of a known schema; the error
/// names the URL and what was wrong.
pub fn parse_summary(url: &str, body: &str) -> Result<NodeSummary, String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("GET {url}: not JSON: {e}"))?;
    let schema = value.get("schema").and_then(serde_json::Value::as_u64);
    if schema != Some(u64::from(SUMMARY_SCHEMA)) {
        return Err(format!(
            "GET {url}: `schema` = {}: this service reads schema {SUMMARY_SCHEMA}",
            value
                .get("schema")
                .map_or("absent".into(), |v| v.to_string())
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("GET {url}: not a node summary: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serenity_core::summary::{SummaryBuilder, TickRecord};

    fn table() -> NodeTable {
        let nodes = [NodeConfig {
            name: "a".into(),
            url: "http://127.0.0.1:1".into(),
        }];
        NodeTable::new(&nodes, Duration::from_secs(10))
    }

    fn summary() -> NodeSummary {
        let mut b = SummaryBuilder::new();
        b.record(
            0.0,
            TickRecord {
                contentions: vec![("cpu_usage".into(), "overload".into())],
                ..TickRecord::default()
            },
        );
        b.summary(2.0)
    }

    #[test]
    fn a_summary_ages_until_it_is_stale_and_the_reason_names_the_url_and_the_error() {
        let t = table();
        let t0 = Instant::now();
        assert_eq!(t.update("a", Ok(summary()), t0), Some(Health::Answering));
        assert_eq!(t.update("a", Ok(summary()), t0), None);
        match &t.states(&["a"], t0 + Duration::from_secs(3))[0] {
            NodeState::Fresh(f) => {
                assert_eq!(f.age_secs, 5.0);
                assert_eq!(f.contention.as_deref(), Some("cpu_usage (overload)"));
            }
            other => panic!("{other:?}"),
        }
        t.update(
            "a",
            Err("GET http://127.0.0.1:1/summary: refused".into()),
            t0,
        );
        assert_eq!(
            t.states(&["a"], t0 + Duration::from_secs(9)),
            vec![NodeState::Stale(
                "data from http://127.0.0.1:1 is 11.0 s old (stale after 10 s); last poll: \
                 GET http://127.0.0.1:1/summary: refused"
                    .into()
            )]
        );
        assert_eq!(t.counts(t0 + Duration::from_secs(9)), (1, 1, 1));
    }

    #[test]
    fn unknown_and_never_polled_nodes_are_stale_with_a_reason() {
        let t = table();
        let now = Instant::now();
        let states = t.states(&["a", "zz"], now);
        assert_eq!(
            states,
            vec![
                NodeState::Stale("no data yet from http://127.0.0.1:1".into()),
                NodeState::Stale(
                    "node \"zz\" is not watched by serenity hints (no `[[node]]` of that name)"
                        .into()
                ),
            ]
        );
    }

    #[test]
    fn bodies_of_another_schema_or_shape_are_refused_naming_the_url() {
        let url = "http://h:1/summary";
        assert_eq!(
            parse_summary(url, "{\"schema\": 2}").unwrap_err(),
            "GET http://h:1/summary: `schema` = 2: this service reads schema 1"
        );
        assert!(parse_summary(url, "nope")
            .unwrap_err()
            .starts_with("GET http://h:1/summary: not JSON"));
        assert!(parse_summary(url, "{\"schema\": 1}")
            .unwrap_err()
            .starts_with("GET http://h:1/summary: not a node summary: missing field"));
        let good = serde_json::to_string(&summary()).unwrap();
        assert_eq!(parse_summary(url, &good).unwrap(), summary());
    }
}
