//! The service's routes: a pure function of the request, the node table and
//! an instant, so that every contract is tested without a socket.
//!
//! | route | body | answer |
//! | --- | --- | --- |
//! | `POST /filter` | `ExtenderArgs` | `ExtenderFilterResult` |
//! | `POST /prioritize` | `ExtenderArgs` | `HostPriorityList` |
//! | `GET /ranking` | | every watched node, ranked for best-effort work |
//! | `POST /ranking` | `{"nodes": [..], "best_effort": bool, "policy": ..}` (all optional) | the same for those nodes |
//! | `GET /nodes` | | every node's latest summary, age and last error |
//! | `GET /metrics` | | the service's Prometheus metrics |
//!
//! Every route takes `?policy=spread|pack` (default: the configuration's).
//! A malformed request is a `400` whose text names the field and what was
//! wrong; an unknown path a `404`, a wrong method a `405`.

use crate::extender::{parse_args, ExtenderFilterResult, HostPriority};
use crate::nodes::NodeTable;
use crate::placement::{judge, Filter, NodeState, Policy, Verdict};
use crate::pod::BestEffortRule;
use crate::HintsMetrics;
use serde::{Deserialize, Serialize};
use serenity_agent::http::{Request, Response};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// The JSON content type.
pub const JSON: &str = "application/json";

/// What the routes need.
#[derive(Debug)]
pub struct HintsService {
    /// The cluster view the poller keeps.
    pub table: Arc<NodeTable>,
    /// Which pods are best-effort.
    pub best_effort: BestEffortRule,
    /// What a best-effort pod's node must offer.
    pub filter: Filter,
    /// The policy when a request names none.
    pub policy: Policy,
    /// The service's counters.
    pub metrics: Arc<HintsMetrics>,
}

/// A `POST /ranking` body.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RankingRequest {
    /// The nodes to rank (default: every watched node).
    nodes: Option<Vec<String>>,
    /// Rank for best-effort work (default true); false: every node neutral.
    best_effort: Option<bool>,
    /// `spread` or `pack` (the query parameter wins).
    policy: Option<String>,
}

/// One node of a ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedNode {
    /// The node's name.
    pub node: String,
    /// 0..=10; higher is better.
    pub score: i64,
    /// `fit`, `neutral` (stale, unknown, or not best-effort) or `unfit`.
    pub verdict: String,
    /// Why it is neutral or unfit.
    pub reason: Option<String>,
    /// Advertised CPU slack (fresh nodes).
    pub slack_cpus: Option<f64>,
    /// The interference score (fresh nodes).
    pub interference: Option<f64>,
    /// Age of the data, seconds (fresh nodes).
    pub age_secs: Option<f64>,
}

/// The answer of `/ranking`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// The policy used.
    pub policy: String,
    /// Best first: by score, then fit before neutral before unfit, then
    /// name.
    pub nodes: Vec<RankedNode>,
}

fn json_response(body: Result<Vec<u8>, serde_json::Error>) -> Response {
    match body {
        Ok(body) => Response {
            status: 200,
            content_type: JSON,
            headers: Vec::new(),
            body,
        },
        Err(e) => Response::text(500, format!("cannot encode the answer: {e}\n")),
    }
}

fn bad_request(message: impl Into<String>) -> Response {
    Response::text(400, format!("{}\n", message.into()))
}

impl HintsService {
    /// Answers `request` now, counting it in the metrics.
    pub fn handle(&self, request: &Request) -> Response {
        let start = Instant::now();
        let response = self.handle_at(request, start);
        let endpoint = match request.path.as_str() {
            "/filter" => "filter",
            "/prioritize" => "prioritize",
            "/ranking" => "ranking",
            "/nodes" => "nodes",
            "/metrics" => "metrics",
            _ => "other",
        };
        self.metrics
            .request(endpoint, response.status, start.elapsed().as_secs_f64());
        response
    }

    /// Answers `request` as of `now` (node ages are measured to it).
    pub fn handle_at(&self, request: &Request, now: Instant) -> Response {
        let policy = match self.query_policy(&request.query) {
            Ok(p) => p,
            Err(e) => return bad_request(e),
        };
        let method = request.method.as_str();
        match (request.path.as_str(), method) {
            ("/filter", "POST") => self.filter(&request.body, policy, now),
            ("/prioritize", "POST") => self.prioritize(&request.body, policy, now),
            ("/ranking", "GET" | "HEAD") => self.ranking(None, policy, now),
            ("/ranking", "POST") => self.ranking(Some(&request.body), policy, now),
            ("/nodes", "GET" | "HEAD") => self.nodes(now),
            ("/metrics", "GET" | "HEAD") => {
                let (nodes, seen, stale) = self.table.counts(now);
                Response {
                    content_type: "text/plain; version=0.0.4; charset=utf-8",
                    ..Response::text(200, self.metrics.render(nodes, seen, stale))
                }
            }
            ("/", "GET" | "HEAD") => Response::text(
                200,
                "serenity hints: POST /filter and /prioritize (kube-scheduler extender v1), \
                 GET|POST /ranking, GET /nodes, GET /metrics\n",
            ),
            ("/filter" | "/prioritize", _) => {
                Response::text(405, "only POST\n").with_header("Allow", "POST")
            }
            ("/ranking", _) => Response::text(405, "only GET, HEAD and POST\n")
                .with_header("Allow", "GET, HEAD, POST"),
            ("/nodes" | "/metrics" | "/", _) => {
                Response::text(405, "only GET and HEAD\n").with_header("Allow", "GET, HEAD")
            }
            _ => Response::text(404, format!("no route {:?}\n", request.path)),
        }
    }

    /// `policy` of the query string (the configured one without it).
    fn query_policy(&self, query: &str) -> Result<Option<Policy>, String> {
        let mut policy = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("policy", value)) => {
                    policy = Some(Policy::parse(value).map_err(|e| format!("query `policy`: {e}"))?)
                }
                _ => {
                    return Err(format!(
                        "unknown query parameter {pair:?}: only `policy=spread|pack`"
                    ))
                }
            }
        }
        Ok(policy)
    }

    fn verdicts(
        &self,
        names: &[&str],
        best_effort: bool,
        policy: Policy,
        now: Instant,
    ) -> (Vec<NodeState>, Vec<Verdict>) {
        let states = self.table.states(names, now);
        let refs: Vec<&NodeState> = states.iter().collect();
        let verdicts = judge(&refs, best_effort, policy, &self.filter);
        (states, verdicts)
    }

    fn filter(&self, body: &[u8], policy: Option<Policy>, now: Instant) -> Response {
        let args = match parse_args(body) {
            Ok(a) => a,
            Err(e) => return bad_request(e),
        };
        let best_effort = self.best_effort.matches(&args.pod).is_some();
        let names = args.names();
        let (_, verdicts) = self.verdicts(&names, best_effort, policy.unwrap_or(self.policy), now);
        let mut failed = BTreeMap::new();
        let passed: Vec<bool> = names
            .iter()
            .zip(&verdicts)
            .map(|(name, v)| match v {
                Verdict::Unfit(why) => {
                    failed.insert((*name).to_owned(), format!("serenity: {why}"));
                    false
                }
                _ => true,
            })
            .collect();
        json_response(serde_json::to_vec(&ExtenderFilterResult::of(
            &args, &passed, failed,
        )))
    }

    fn prioritize(&self, body: &[u8], policy: Option<Policy>, now: Instant) -> Response {
        let args = match parse_args(body) {
            Ok(a) => a,
            Err(e) => return bad_request(e),
        };
        let best_effort = self.best_effort.matches(&args.pod).is_some();
        let names = args.names();
        let (_, verdicts) = self.verdicts(&names, best_effort, policy.unwrap_or(self.policy), now);
        let list: Vec<HostPriority> = names
            .iter()
            .zip(&verdicts)
            .map(|(name, v)| HostPriority {
                host: (*name).to_owned(),
                score: v.score(),
            })
            .collect();
        json_response(serde_json::to_vec(&list))
    }

    fn ranking(&self, body: Option<&[u8]>, policy: Option<Policy>, now: Instant) -> Response {
        let request: RankingRequest = match body {
            None => RankingRequest::default(),
            Some(b) if b.iter().all(u8::is_ascii_whitespace) => RankingRequest::default(),
            Some(b) => match serde_json::from_slice(b) {
                Ok(r) => r,
                Err(e) => return bad_request(format!("the ranking request: {e}")),
            },
        };
        let body_policy = match request.policy.as_deref().map(Policy::parse) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => return bad_request(format!("the ranking request's `policy`: {e}")),
        };
        let policy = policy.or(body_policy).unwrap_or(self.policy);
        let all: Vec<String>;
        let names: Vec<&str> = match &request.nodes {
            Some(n) => n.iter().map(String::as_str).collect(),
            None => {
                all = self.table.urls().into_iter().map(|(n, _)| n).collect();
                all.iter().map(String::as_str).collect()
            }
        };
        let (states, verdicts) =
            self.verdicts(&names, request.best_effort.unwrap_or(true), policy, now);
        let mut nodes: Vec<(u8, RankedNode)> = names
            .iter()
            .zip(states.iter().zip(&verdicts))
            .map(|(name, (state, verdict))| {
                let facts = match state {
                    NodeState::Fresh(f) => Some(f),
                    NodeState::Stale(_) => None,
                };
                let (order, word, reason) = match verdict {
                    Verdict::Fit(_) => (0, "fit", None),
                    Verdict::Neutral(r) => (1, "neutral", Some(r.clone())),
                    Verdict::Unfit(r) => (2, "unfit", Some(r.clone())),
                };
                (
                    order,
                    RankedNode {
                        node: (*name).to_owned(),
                        score: verdict.score(),
                        verdict: word.to_owned(),
                        reason,
                        slack_cpus: facts.and_then(|f| f.slack.map(|s| s.0)),
                        interference: facts.map(|f| f.interference),
                        age_secs: facts.map(|f| f.age_secs),
                    },
                )
            })
            .collect();
        nodes.sort_by(|(oa, a), (ob, b)| {
            b.score
                .cmp(&a.score)
                .then(oa.cmp(ob))
                .then_with(|| a.node.cmp(&b.node))
        });
        json_response(serde_json::to_vec(&Ranking {
            policy: policy.as_str().to_owned(),
            nodes: nodes.into_iter().map(|(_, n)| n).collect(),
        }))
    }

    fn nodes(&self, now: Instant) -> Response {
        let all: Vec<serde_json::Value> = self
            .table
            .entries()
            .into_iter()
            .map(|(name, e)| {
                let (summary, fetched_secs_ago) = match &e.latest {
                    Some((s, _, at)) => (
                        serde_json::to_value(s).ok(),
                        Some(now.saturating_duration_since(*at).as_secs_f64()),
                    ),
                    None => (None, None),
                };
                serde_json::json!({
                    "node": name,
                    "url": e.url,
                    "fetched_secs_ago": fetched_secs_ago,
                    "last_error": e.error,
                    "summary": summary,
                })
            })
            .collect();
        json_response(serde_json::to_vec(&all))
    }
}
