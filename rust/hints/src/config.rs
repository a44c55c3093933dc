//! The hints service's configuration file (TOML), and its validation.
//!
//! ```toml
//! listen = "127.0.0.1:9465"      # where schedulers reach the service
//! allow_remote = false           # must be true for a non-loopback listen
//! poll_interval_secs = 2.0       # how often every node is polled
//! timeout_secs = 1.0             # per poll (connect + answer)
//! stale_after_secs = 10.0        # data older than this is stale
//! policy = "spread"              # default placement: "spread" | "pack"
//!
//! [best_effort]                  # which pods are best-effort (any rule)
//! qos_class = true               # status.qosClass == "BestEffort"
//! priority_classes = ["serenity-best-effort"]   # spec.priorityClassName
//! labels = ["serenity.io/best-effort=true"]     # metadata.labels key=value
//!
//! [filter]                       # a best-effort pod avoids nodes with
//! min_slack_cpus = 0.5           #   less CPU slack than this
//! min_slack_mem_bytes = 0        #   less memory slack than this
//! max_interference = 0.5         #   a higher interference score
//!
//! [[node]]
//! name = "node-a"                # the Kubernetes node name (or Mesos agent id)
//! url = "http://10.0.0.5:9464"   # the node agent's listener (GET /summary)
//!
//! [[node]]
//! name = "agent-7"
//! url = "http://10.0.0.7:5051/serenity-qos"  # a Mesos agent's Serenity module
//! ```
//!
//! Every problem is reported at once, one line each:
//! `file:line:column: `key` = value: message`.

use crate::placement::{Filter, Policy};
use crate::pod::BestEffortRule;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9465";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<String>>,
    #[serde(default)]
    allow_remote: bool,
    poll_interval_secs: Option<Spanned<f64>>,
    timeout_secs: Option<Spanned<f64>>,
    stale_after_secs: Option<Spanned<f64>>,
    policy: Option<Spanned<String>>,
    #[serde(default)]
    best_effort: RawBestEffort,
    #[serde(default)]
    filter: RawFilter,
    #[serde(default)]
    node: Vec<RawNode>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBestEffort {
    qos_class: Option<bool>,
    #[serde(default)]
    priority_classes: Vec<String>,
    #[serde(default)]
    labels: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    min_slack_cpus: Option<Spanned<f64>>,
    min_slack_mem_bytes: Option<Spanned<f64>>,
    max_interference: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Spanned<String>,
    url: Spanned<String>,
}

/// One watched node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// The name schedulers use for it (Kubernetes node name).
    pub name: String,
    /// The node agent's base URL (`http://host:port`, no trailing `/`).
    pub url: String,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct HintsConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// Where the service listens.
    pub listen: SocketAddr,
    /// Time between polls of every node.
    pub poll_interval: Duration,
    /// Timeout of one poll.
    pub timeout: Duration,
    /// Data older than this is stale (neutral, never failed).
    pub stale_after: Duration,
    /// The placement policy when a request does not choose one.
    pub policy: Policy,
    /// Which pods are best-effort.
    pub best_effort: BestEffortRule,
    /// What a best-effort pod's node must offer.
    pub filter: Filter,
    /// The watched nodes, in file order.
    pub nodes: Vec<NodeConfig>,
}

/// Every problem of a configuration file, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblems(pub Vec<String>);

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigProblems {}

/// (line, column), 1-based, of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

struct Problems<'a> {
    file: &'a str,
    text: &'a str,
    lines: Vec<String>,
}

impl Problems<'_> {
    fn at<T: fmt::Debug>(&mut self, key: &str, value: &Spanned<T>, message: &str) {
        let (line, column) = line_column(self.text, value.span().start);
        self.lines.push(format!(
            "{}:{line}:{column}: `{key}` = {:?}: {message}",
            self.file,
            value.get_ref()
        ));
    }

    /// A positive, finite number of seconds (or `default`).
    fn seconds(&mut self, key: &str, value: Option<&Spanned<f64>>, default: f64) -> Duration {
        let Some(v) = value else {
            return Duration::from_secs_f64(default);
        };
        match Duration::try_from_secs_f64(*v.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                self.at(key, v, "must be a positive number of seconds");
                Duration::from_secs_f64(default)
            }
        }
    }

    /// A finite number within [min, max] (or `default`).
    fn number(
        &mut self,
        key: &str,
        value: Option<&Spanned<f64>>,
        (min, max): (f64, f64),
        default: f64,
    ) -> f64 {
        let Some(v) = value else { return default };
        let x = *v.get_ref();
        if x.is_finite() && (min..=max).contains(&x) {
            x
        } else {
            self.at(key, v, &format!("must be a number in [{min}, {max}]"));
            default
        }
    }
}

impl HintsConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> anyhow::Result<HintsConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Ok(HintsConfig::parse(path, &text)?)
    }

    /// Validates the text of a configuration file named `path`.
    pub fn parse(path: &Path, text: &str) -> Result<HintsConfig, ConfigProblems> {
        let file = path.display().to_string();
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let where_ = e.span().map_or(String::new(), |s| {
                let (l, c) = line_column(text, s.start);
                format!("{l}:{c}:")
            });
            ConfigProblems(vec![format!("{file}:{where_} {}", e.message().trim_end())])
        })?;
        let mut p = Problems {
            file: &file,
            text,
            lines: Vec::new(),
        };
        let default_listen: SocketAddr = DEFAULT_LISTEN.parse().expect("a valid default");
        let listen = match &raw.listen {
            None => default_listen,
            Some(l) => match l.get_ref().parse::<SocketAddr>() {
                Ok(a) if a.ip().is_loopback() || raw.allow_remote => a,
                Ok(_) => {
                    p.at(
                        "listen",
                        l,
                        "is not a loopback address; set `allow_remote = true` to serve other hosts",
                    );
                    default_listen
                }
                Err(_) => {
                    p.at(
                        "listen",
                        l,
                        "is not an IP address and port (e.g. \"127.0.0.1:9465\")",
                    );
                    default_listen
                }
            },
        };
        let poll_interval = p.seconds("poll_interval_secs", raw.poll_interval_secs.as_ref(), 2.0);
        let timeout = p.seconds("timeout_secs", raw.timeout_secs.as_ref(), 1.0);
        let stale_after = p.seconds("stale_after_secs", raw.stale_after_secs.as_ref(), 10.0);
        let policy = match &raw.policy {
            None => Policy::Spread,
            Some(s) => Policy::parse(s.get_ref()).unwrap_or_else(|e| {
                p.at("policy", s, &e);
                Policy::Spread
            }),
        };
        let mut labels = Vec::new();
        for l in &raw.best_effort.labels {
            match l.get_ref().split_once('=') {
                Some((k, v)) if !k.is_empty() => labels.push((k.to_owned(), v.to_owned())),
                _ => p.at(
                    "best_effort.labels",
                    l,
                    "must be `key=value` with a non-empty key",
                ),
            }
        }
        let best_effort = BestEffortRule {
            qos_class: raw.best_effort.qos_class.unwrap_or(true),
            priority_classes: raw.best_effort.priority_classes,
            labels,
        };
        let filter = Filter {
            min_slack_cpus: p.number(
                "filter.min_slack_cpus",
                raw.filter.min_slack_cpus.as_ref(),
                (0.0, f64::MAX),
                0.5,
            ),
            min_slack_mem_bytes: p.number(
                "filter.min_slack_mem_bytes",
                raw.filter.min_slack_mem_bytes.as_ref(),
                (0.0, f64::MAX),
                0.0,
            ),
            max_interference: p.number(
                "filter.max_interference",
                raw.filter.max_interference.as_ref(),
                (0.0, 1.0),
                0.5,
            ),
        };
        let mut nodes: Vec<NodeConfig> = Vec::new();
        for n in &raw.node {
            let name = n.name.get_ref();
            if name.is_empty() {
                p.at("node.name", &n.name, "must not be empty");
            } else if nodes.iter().any(|m| &m.name == name) {
                p.at("node.name", &n.name, "names another node already");
            }
            let url = n.url.get_ref().trim_end_matches('/');
            let rest = url.strip_prefix("http://").unwrap_or("");
            let host = rest.split('/').next().unwrap_or("");
            if host.is_empty() || rest.contains(['?', '#']) {
                p.at(
                    "node.url",
                    &n.url,
                    "must be `http://host:port` (a node agent's listener) or \
                     `http://host:port/serenity-qos` (a Mesos agent's Serenity module)",
                );
            }
            nodes.push(NodeConfig {
                name: name.clone(),
                url: url.to_owned(),
            });
        }
        if nodes.is_empty() {
            p.lines.push(format!(
                "{file}: no `[[node]]`: the service needs at least one node to watch"
            ));
        }
        if !p.lines.is_empty() {
            return Err(ConfigProblems(p.lines));
        }
        Ok(HintsConfig {
            file: path.to_path_buf(),
            listen,
            poll_interval,
            timeout,
            stale_after,
            policy,
            best_effort,
            filter,
            nodes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HintsConfig, ConfigProblems> {
        HintsConfig::parse(Path::new("hints.toml"), text)
    }

    #[test]
    fn a_minimal_file_takes_the_documented_defaults() {
        let c = parse("[[node]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n").unwrap();
        assert_eq!(c.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(c.poll_interval, Duration::from_secs(2));
        assert_eq!(c.stale_after, Duration::from_secs(10));
        assert_eq!(c.policy, Policy::Spread);
        assert!(c.best_effort.qos_class);
        assert_eq!(c.filter.min_slack_cpus, 0.5);
        assert_eq!(c.nodes[0].url, "http://127.0.0.1:1", "trailing / dropped");
    }

    #[test]
    fn a_mesos_module_prefix_is_a_node_url_but_a_query_is_not() {
        let c = parse("[[node]]\nname = \"m\"\nurl = \"http://10.0.0.7:5051/serenity-qos/\"\n")
            .unwrap();
        assert_eq!(c.nodes[0].url, "http://10.0.0.7:5051/serenity-qos");
        for bad in ["http:///serenity-qos", "http://a:1/x?y=1", "http://a:1#f"] {
            let text = format!("[[node]]\nname = \"m\"\nurl = \"{bad}\"\n");
            assert!(parse(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_problem_is_reported_with_file_line_column_key_and_value() {
        let text = "listen = \"10.0.0.1:80\"\ntimeout_secs = -1\npolicy = \"random\"\n\
                    [best_effort]\nlabels = [\"=x\"]\n[filter]\nmax_interference = 2\n\
                    [[node]]\nname = \"a\"\nurl = \"https://a:1\"\n\
                    [[node]]\nname = \"a\"\nurl = \"http://b:2\"\n";
        let e = parse(text).unwrap_err();
        assert_eq!(
            e.0,
            vec![
                "hints.toml:1:10: `listen` = \"10.0.0.1:80\": is not a loopback address; set \
                 `allow_remote = true` to serve other hosts",
                "hints.toml:2:16: `timeout_secs` = -1.0: must be a positive number of seconds",
                "hints.toml:3:10: `policy` = \"random\": unknown policy \"random\": `spread` or \
                 `pack`",
                "hints.toml:5:11: `best_effort.labels` = \"=x\": must be `key=value` with a \
                 non-empty key",
                "hints.toml:7:20: `filter.max_interference` = 2.0: must be a number in [0, 1]",
                "hints.toml:10:7: `node.url` = \"https://a:1\": must be `http://host:port` (a \
                 node agent's listener) or `http://host:port/serenity-qos` (a Mesos agent's \
                 Serenity module)",
                "hints.toml:12:8: `node.name` = \"a\": names another node already",
            ]
        );
    }

    #[test]
    fn unknown_keys_and_no_nodes_are_refused() {
        let e = parse("pollinterval = 1\n").unwrap_err();
        assert!(
            e.0[0].starts_with("hints.toml:1:1: unknown field `pollinterval`"),
            "{e}"
        );
        let e = parse("").unwrap_err();
        assert_eq!(
            e.0,
            vec!["hints.toml: no `[[node]]`: the service needs at least one node to watch"]
        );
    }

    #[test]
    fn the_shipped_sample_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/hints.toml");
        let c = HintsConfig::load(&path).unwrap();
        assert_eq!(c.nodes.len(), 3);
        assert_eq!(c.nodes[2].url, "http://10.0.0.7:5051/serenity-qos");
    }
}
