//! Service-level indicators: what a pipeline's `[[sli]]` tables declare,
//! and how their values become per-executor signals.
//!
//! The core does no I/O. An embedder (the node agent, the Mesos modules
//! through the C ABI) runs the fetchers of crate `serenity-sli` off the tick
//! path and hands the latest value of each SLI in with the usage, as a
//! `statistics.serenity_slis` sample (name, value, timestamp) of every
//! executor the SLI belongs to. A recorded trace therefore carries the SLIs
//! and replays exactly as the live controller ran.
//!
//! At every tick, for each executor an SLI names, the runtime sets
//! - `sli.<name>`: the value, in the unit of the objective;
//! - `slo_slack.<name>`: the slack to the objective, (objective − value) /
//!   objective for an upper bound (`direction = "at_most"`, latency, error
//!   rate) and (value − objective) / objective for a lower bound
//!   (`"at_least"`, throughput): 0.3 means 30 % of the objective to spare,
//!   below 0 the objective is violated.
//!
//! A value older than `max_age_secs` at the snapshot's time (stale), absent,
//! not finite or stamped in the future is a *missing* signal: both signals
//! stay absent and the pipeline logs why. The SLO stages treat a missing
//! SLI as "no growth, no lending, no kill" (docs/slo.md).

use crate::model::Snapshot;
use crate::signal::{SignalId, SignalTable};

/// Whether lower or higher values of an SLI are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliDirection {
    /// The value must stay at or below the objective (latency, errors).
    AtMost,
    /// The value must stay at or above the objective (throughput).
    AtLeast,
}

impl SliDirection {
    /// The TOML word.
    pub fn as_str(self) -> &'static str {
        match self {
            SliDirection::AtMost => "at_most",
            SliDirection::AtLeast => "at_least",
        }
    }
}

/// Where an SLI's value comes from (read by crate `serenity-sli`).
#[derive(Debug, Clone, PartialEq)]
pub enum SliSource {
    /// A Prometheus text exposition endpoint.
    Prometheus {
        /// `http://host:port/path`.
        url: String,
        /// The metric name (for a histogram: its base name, without
        /// `_bucket`).
        metric: String,
        /// Label matchers (`label = "value"`, all must match exactly).
        labels: Vec<(String, String)>,
        /// For a histogram: the quantile (0..1) computed from the increase of
        /// its cumulative `_bucket` series over the last `window_secs`, as
        /// Prometheus's `histogram_quantile` over `increase` does. `None`: the
        /// sample's value is used as it is (a gauge, or a summary quantile
        /// selected with a `quantile` label).
        quantile: Option<f64>,
    },
    /// A JSON document over HTTP.
    Json {
        /// `http://host:port/path`.
        url: String,
        /// RFC 6901 JSON pointer to a number (`/latency/p99`).
        pointer: String,
    },
    /// A file a service rewrites: a bare number, or a JSON document with a
    /// pointer. Its modification time is the value's timestamp.
    File {
        /// Absolute path.
        path: String,
        /// RFC 6901 pointer when the file is JSON.
        pointer: Option<String>,
    },
}

impl SliSource {
    /// Where the value is read from, for messages (`url` or `path`).
    pub fn location(&self) -> &str {
        match self {
            SliSource::Prometheus { url, .. } | SliSource::Json { url, .. } => url,
            SliSource::File { path, .. } => path,
        }
    }

    /// The TOML word of the source kind.
    pub fn kind(&self) -> &'static str {
        match self {
            SliSource::Prometheus { .. } => "prometheus",
            SliSource::Json { .. } => "json",
            SliSource::File { .. } => "file",
        }
    }
}

/// One `[[sli]]` table of a pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct SliSpec {
    /// Its name (letters, digits, `_`): signals `sli.<name>`, `slo_slack.<name>`.
    pub name: String,
    /// Executor ids it belongs to (the production work it measures).
    pub executors: Vec<String>,
    /// The objective, in the SLI's unit (after `scale`).
    pub objective: f64,
    /// Whether the value must stay below or above the objective.
    pub direction: SliDirection,
    /// The unit of the value and objective, for messages (`ms`).
    pub unit: String,
    /// Factor applied to the fetched value (`1000`: seconds to ms).
    pub scale: f64,
    /// Seconds between fetches.
    pub interval_secs: f64,
    /// For a histogram quantile: the seconds of observations it is taken
    /// over (the increase since the newest scrape at least this old); 0
    /// (the default): since the previous scrape.
    pub window_secs: f64,
    /// Seconds a fetch may take before it is abandoned.
    pub timeout_secs: f64,
    /// A value older than this at tick time is stale (missing).
    pub max_age_secs: f64,
    /// Where the value comes from.
    pub source: SliSource,
    /// `sli.<name>`.
    pub value_signal: SignalId,
    /// `slo_slack.<name>`.
    pub slack_signal: SignalId,
}

impl SliSpec {
    /// Whether this SLI belongs to the executor with `executor_id`.
    pub fn watches(&self, executor_id: &str) -> bool {
        self.executors.iter().any(|e| e == executor_id)
    }

    /// The slack to the objective of a value (see the module docs).
    pub fn slack_of(&self, value: f64) -> f64 {
        match self.direction {
            SliDirection::AtMost => (self.objective - value) / self.objective,
            SliDirection::AtLeast => (value - self.objective) / self.objective,
        }
    }

    /// `value` with the unit, for messages.
    pub fn show(&self, value: f64) -> String {
        if self.unit.is_empty() {
            format!("{value:.4}")
        } else {
            format!("{value:.4} {}", self.unit)
        }
    }
}

/// Sets `sli.*` and `slo_slack.*` for every executor an SLI names, from the
/// samples in its statistics; returns one sentence per missing value.
pub(crate) fn fill(
    specs: &[SliSpec],
    snapshot: &Snapshot,
    signals: &mut SignalTable,
) -> Vec<String> {
    let mut notes = Vec::new();
    if specs.is_empty() {
        return notes;
    }
    for (row, view) in snapshot.executors.iter().enumerate() {
        let statistics = snapshot.usage.executors[view.index].statistics.as_ref();
        for spec in specs.iter().filter(|s| s.watches(&view.key.executor_id)) {
            let sample = statistics.and_then(|st| {
                st.serenity_slis
                    .iter()
                    .rev()
                    .find(|s| s.name.as_deref() == Some(spec.name.as_str()))
            });
            let why = match sample {
                None => Some("no value was handed in (the source has not answered yet, or its fetcher failed: see the lines above)".to_owned()),
                Some(s) => match (s.value, s.timestamp, snapshot.timestamp) {
                    (Some(v), Some(ts), Some(now)) if v.is_finite() && ts.is_finite() => {
                        let age = now - ts;
                        if age > spec.max_age_secs {
                            Some(format!(
                                "its latest value is stale (older than max_age_secs = {})",
                                spec.max_age_secs
                            ))
                        } else if age < -spec.max_age_secs {
                            Some(format!(
                                "its latest value is stamped more than {} s after the snapshot (clocks disagree)",
                                spec.max_age_secs
                            ))
                        } else {
                            signals.set(row, spec.value_signal, Some(v));
                            signals.set(row, spec.slack_signal, Some(spec.slack_of(v)));
                            None
                        }
                    }
                    (_, _, None) => Some("the snapshot has no timestamp to judge its age by".into()),
                    (v, ts, _) => Some(format!(
                        "its sample is unusable (value {}, timestamp {})",
                        v.map_or("absent".into(), |v| v.to_string()),
                        ts.map_or("absent".into(), |t| t.to_string())
                    )),
                },
            };
            if let Some(why) = why {
                notes.push(format!(
                    "SLI {} of executor {} is missing: {why}; the SLO stages lend nothing, stop best-effort growth and kill nothing on it",
                    spec.name, view.key
                ));
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use crate::stages::testkit::*;

    const PIPE: &str = "kind = \"qos\"
[[sli]]
name = \"rps\"
executors = [\"web\"]
objective = 1000.0
direction = \"at_least\"
source = \"prometheus\"
url = \"http://127.0.0.1:9100/metrics\"
metric = \"requests_per_second\"
[[stage]]
type = \"slo_guard\"
";

    #[test]
    fn a_lower_bound_objective_has_slack_above_it() {
        let mut p = pipeline(PIPE);
        let snap = with_sli(
            snapshot(&[pr("web", 1.0)], Some(2.0), 5.0),
            0,
            "rps",
            1200.0,
            5.0,
        );
        p.tick(&snap);
        let n = p.signals();
        let t = p.last_signals();
        assert_eq!(t.get(0, n.lookup("sli.rps").unwrap()), Some(1200.0));
        let s = t.get(0, n.lookup("slo_slack.rps").unwrap()).unwrap();
        assert!((s - 0.2).abs() < 1e-12, "{s}");
    }

    #[test]
    fn a_non_finite_sample_is_missing_not_a_value() {
        let mut p = pipeline(PIPE);
        let snap = with_sli(
            snapshot(&[pr("web", 1.0)], Some(2.0), 5.0),
            0,
            "rps",
            f64::NAN,
            5.0,
        );
        p.tick(&snap);
        assert_eq!(
            p.last_signals()
                .get(0, p.signals().lookup("sli.rps").unwrap()),
            None
        );
    }

    #[test]
    fn sli_table_mistakes_name_the_key() {
        let errs = config_errors(
            "kind = \"qos\"\n[[sli]]\nname = \"a-b\"\nexecutors = []\nsource = \"prometheus\"\nurl = \"https://x/\"\nquantile = 1.5\npointer = \"/x\"\n[[stage]]\ntype = \"overload\"\n",
        );
        for want in [
            "sli.name",
            "sli.executors",
            "missing `objective`",
            "sli.url",
            "sli.quantile",
            "missing `metric`",
            "sli.pointer",
        ] {
            assert!(errs.iter().any(|e| e.contains(want)), "{want}: {errs:#?}");
        }
        let errs = config_errors(
            "kind = \"qos\"\n[[sli]]\nname = \"a\"\nexecutors = [\"w\"]\nobjective = 1\nsource = \"file\"\npath = \"/x\"\n[[sli]]\nname = \"a\"\nexecutors = [\"w\"]\nobjective = 1\nsource = \"file\"\npath = \"/y\"\n[[stage]]\ntype = \"overload\"\n",
        );
        assert!(errs.iter().any(|e| e.contains("unique")), "{errs:#?}");
    }
}
