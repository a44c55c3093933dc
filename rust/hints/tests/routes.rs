//! The service's routes on requests shaped exactly as kube-scheduler sends
//! them (fixtures written from k8s.io/kube-scheduler/extender/v1 types.go:
//! the Go field names, both the `Nodes` and the `NodeNames` form), over a
//! node table filled by hand: no socket, no clock but the one instant the
//! test passes.
#![cfg(target_os = "linux")]

use serde_json::{json, Value};
use serenity_agent::http::{Request, Response};
use serenity_core::summary::{SummaryBuilder, TickRecord};
use serenity_core::Slack;
use serenity_hints::config::NodeConfig;
use serenity_hints::nodes::NodeTable;
use serenity_hints::placement::{Filter, Policy};
use serenity_hints::pod::BestEffortRule;
use serenity_hints::service::HintsService;
use serenity_hints::HintsMetrics;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn summary(slack_cpus: f64, contended: bool, best_effort: usize) -> serenity_core::NodeSummary {
    let mut b = SummaryBuilder::new();
    for i in 0..10 {
        b.record(
            f64::from(i),
            TickRecord {
                slack: Some(Slack {
                    cpus: slack_cpus,
                    mem_bytes: 0.0,
                }),
                contentions: if contended {
                    vec![("cpu_usage".into(), "overload".into())]
                } else {
                    Vec::new()
                },
                corrections: u64::from(contended),
                valves: BTreeMap::from([("estimator".into(), !contended)]),
                best_effort_executors: best_effort,
            },
        );
    }
    b.summary(9.5)
}

/// node-idle lends 1.4 CPUs, node-small 0.7 (with best-effort work),
/// node-noisy is in contention, node-gone never answered.
fn service(now: Instant) -> HintsService {
    let nodes: Vec<NodeConfig> = ["node-idle", "node-small", "node-noisy", "node-gone"]
        .iter()
        .enumerate()
        .map(|(i, n)| NodeConfig {
            name: (*n).into(),
            url: format!("http://127.0.0.1:{}", 10 + i),
        })
        .collect();
    let table = NodeTable::new(&nodes, Duration::from_secs(10));
    table.update("node-idle", Ok(summary(1.4, false, 0)), now);
    table.update("node-small", Ok(summary(0.7, false, 1)), now);
    table.update("node-noisy", Ok(summary(1.0, true, 1)), now);
    table.update(
        "node-gone",
        Err("GET http://127.0.0.1:13/summary: Connection refused".into()),
        now,
    );
    HintsService {
        table: Arc::new(table),
        best_effort: BestEffortRule {
            qos_class: true,
            ..BestEffortRule::default()
        },
        filter: Filter {
            min_slack_cpus: 0.1,
            ..Filter::default()
        },
        policy: Policy::Spread,
        metrics: Arc::new(HintsMetrics::default()),
    }
}

fn call(s: &HintsService, method: &str, target: &str, body: &[u8], now: Instant) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    s.handle_at(
        &Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            body: body.to_vec(),
        },
        now,
    )
}

fn json_of(r: &Response) -> Value {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.content_type, "application/json");
    serde_json::from_slice(&r.body).unwrap()
}

const NOISY_REASON: &str = "serenity: in contention: cpu_usage (overload)";

#[test]
fn filter_with_node_names_fails_the_noisy_node_and_passes_the_stale_one() {
    let now = Instant::now();
    let s = service(now);
    let r = json_of(&call(
        &s,
        "POST",
        "/filter",
        &fixture("args-nodenames.json"),
        now,
    ));
    assert_eq!(
        r,
        json!({
            "Nodes": null,
            "NodeNames": ["node-idle", "node-small", "node-gone"],
            "FailedNodes": {"node-noisy": NOISY_REASON},
            "FailedAndUnresolvableNodes": {},
            "Error": ""
        })
    );
}

#[test]
fn filter_with_a_node_list_answers_the_passing_node_objects_untouched() {
    let now = Instant::now();
    let s = service(now);
    let args: Value = serde_json::from_slice(&fixture("args-nodes.json")).unwrap();
    let r = json_of(&call(
        &s,
        "POST",
        "/filter",
        &fixture("args-nodes.json"),
        now,
    ));
    let items = r["Nodes"]["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["node-idle", "node-small", "node-gone"]);
    assert_eq!(items[0], args["Nodes"]["items"][0], "passed back whole");
    assert_eq!(r["Nodes"]["metadata"], args["Nodes"]["metadata"]);
    assert_eq!(r["NodeNames"], Value::Null);
    assert_eq!(r["FailedNodes"], json!({"node-noisy": NOISY_REASON}));
}

#[test]
fn prioritize_ranks_the_idle_node_first_and_gives_stale_nodes_the_neutral_score() {
    let now = Instant::now();
    let s = service(now);
    let r = json_of(&call(
        &s,
        "POST",
        "/prioritize",
        &fixture("args-nodenames.json"),
        now,
    ));
    assert_eq!(
        r,
        json!([
            {"Host": "node-idle", "Score": 10},
            {"Host": "node-small", "Score": 8},
            {"Host": "node-noisy", "Score": 0},
            {"Host": "node-gone", "Score": 5}
        ])
    );
    // pack: the node already lending (less slack left, best-effort work)
    // comes first.
    let r = json_of(&call(
        &s,
        "POST",
        "/prioritize?policy=pack",
        &fixture("args-nodes.json"),
        now,
    ));
    assert_eq!(r[0], json!({"Host": "node-idle", "Score": 3}));
    assert_eq!(r[1], json!({"Host": "node-small", "Score": 8}));
}

#[test]
fn a_pod_that_is_not_best_effort_passes_everywhere_with_neutral_scores() {
    let now = Instant::now();
    let s = service(now);
    let body = fixture("args-nodenames-guaranteed.json");
    let r = json_of(&call(&s, "POST", "/filter", &body, now));
    assert_eq!(r["FailedNodes"], json!({}));
    assert_eq!(r["NodeNames"].as_array().unwrap().len(), 4);
    let r = json_of(&call(&s, "POST", "/prioritize", &body, now));
    let scores: Vec<i64> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["Score"].as_i64().unwrap())
        .collect();
    assert_eq!(scores, vec![5, 5, 5, 5]);
}

#[test]
fn the_ranking_for_mesos_frameworks_is_best_first_with_reasons() {
    let now = Instant::now();
    let s = service(now);
    let r = json_of(&call(&s, "GET", "/ranking", b"", now));
    let order: Vec<(&str, &str)> = r["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["node"].as_str().unwrap(), n["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        order,
        vec![
            ("node-idle", "fit"),
            ("node-small", "fit"),
            ("node-gone", "neutral"),
            ("node-noisy", "unfit"),
        ]
    );
    assert_eq!(r["policy"], "spread");
    assert_eq!(
        r["nodes"][2]["reason"],
        "no data yet: GET http://127.0.0.1:13/summary: Connection refused"
    );
    let r = json_of(&call(
        &s,
        "POST",
        "/ranking",
        br#"{"nodes": ["node-small", "node-idle"], "policy": "pack"}"#,
        now,
    ));
    assert_eq!(r["policy"], "pack");
    assert_eq!(r["nodes"][0]["node"], "node-small");
}

#[test]
fn data_older_than_stale_after_turns_neutral_not_failed() {
    let now = Instant::now();
    let s = service(now);
    let later = now + Duration::from_secs(30);
    let r = json_of(&call(
        &s,
        "POST",
        "/filter",
        &fixture("args-nodenames.json"),
        later,
    ));
    assert_eq!(r["FailedNodes"], json!({}), "stale nodes are never failed");
    let r = json_of(&call(
        &s,
        "POST",
        "/prioritize",
        &fixture("args-nodenames.json"),
        later,
    ));
    assert!(r.as_array().unwrap().iter().all(|h| h["Score"] == 5), "{r}");
}

#[test]
fn malformed_requests_are_400_with_the_reason() {
    let now = Instant::now();
    let s = service(now);
    let cases: [(&str, &str, &[u8], &str); 6] = [
        ("POST", "/filter", b"{\"Pod\": {}}", "ExtenderArgs has neither `Nodes` (nodeCacheCapable: false) nor `NodeNames` (nodeCacheCapable: true)\n"),
        ("POST", "/prioritize", b"not json", "the body is not JSON (ExtenderArgs expected): expected ident at line 1 column 2\n"),
        ("POST", "/filter?policy=random", b"{}", "query `policy`: unknown policy \"random\": `spread` or `pack`\n"),
        ("GET", "/ranking?nodes=a", b"", "unknown query parameter \"nodes=a\": only `policy=spread|pack`\n"),
        ("POST", "/ranking", b"{\"node\": []}", "the ranking request: unknown field `node`, expected one of `nodes`, `best_effort`, `policy` at line 1 column 7\n"),
        ("POST", "/ranking", b"{\"policy\": \"fill\"}", "the ranking request's `policy`: unknown policy \"fill\": `spread` or `pack`\n"),
    ];
    for (method, target, body, reason) in cases {
        let r = call(&s, method, target, body, now);
        assert_eq!(r.status, 400, "{method} {target}");
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            reason,
            "{method} {target}"
        );
    }
    assert_eq!(call(&s, "GET", "/filter", b"", now).status, 405);
    assert_eq!(call(&s, "GET", "/bind", b"", now).status, 404);
}

#[test]
fn metrics_count_nodes_stale_nodes_and_requests() {
    let now = Instant::now();
    let s = service(now);
    let request = Request {
        method: "POST".into(),
        path: "/filter".into(),
        query: String::new(),
        body: b"{}".to_vec(),
    };
    assert_eq!(s.handle(&request).status, 400);
    let text = String::from_utf8(call(&s, "GET", "/metrics", b"", now).body).unwrap();
    assert!(text.contains("serenity_hints_nodes 4\n"), "{text}");
    assert!(text.contains("serenity_hints_nodes_seen 3\n"), "{text}");
    assert!(text.contains("serenity_hints_stale_nodes 1\n"), "{text}");
    assert!(
        text.contains("serenity_hints_requests_total{endpoint=\"filter\",code=\"400\"} 1\n"),
        "{text}"
    );
}

#[test]
fn truncated_and_corrupted_requests_are_answered_200_or_400_never_a_crash() {
    let now = Instant::now();
    let s = service(now);
    let mut seed: u64 = 0x5eed_1234;
    let mut next = move || {
        // A fixed LCG (Knuth's MMIX constants): the same bytes every run.
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    let mut answered = 0;
    for name in ["args-nodes.json", "args-nodenames.json"] {
        let body = fixture(name);
        for cut in (0..body.len()).step_by(body.len() / 97 + 1) {
            for path in ["/filter", "/prioritize", "/ranking"] {
                let r = call(&s, "POST", path, &body[..cut], now);
                assert!(
                    matches!(r.status, 200 | 400),
                    "{path} cut at {cut}: {}",
                    r.status
                );
                answered += 1;
            }
        }
        for _ in 0..300 {
            let mut corrupted = body.clone();
            for _ in 0..1 + next() % 4 {
                let at = next() as usize % corrupted.len();
                corrupted[at] = (next() % 256) as u8;
            }
            let r = call(&s, "POST", "/filter", &corrupted, now);
            assert!(matches!(r.status, 200 | 400), "{}", r.status);
            if r.status == 400 {
                assert!(!r.body.is_empty(), "a 400 says why");
            }
            answered += 1;
        }
    }
    assert!(answered > 800);
}

#[test]
fn the_nodes_view_lists_every_node_with_its_summary_or_last_error() {
    let now = Instant::now();
    let s = service(now);
    let r = json_of(&call(&s, "GET", "/nodes", b"", now));
    let all = r.as_array().unwrap();
    let names: Vec<&str> = all.iter().map(|n| n["node"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec!["node-gone", "node-idle", "node-noisy", "node-small"]
    );
    assert_eq!(all[0]["summary"], Value::Null);
    assert_eq!(
        all[0]["last_error"],
        "GET http://127.0.0.1:13/summary: Connection refused"
    );
    assert_eq!(all[1]["summary"]["schema"], 1);
    assert_eq!(all[1]["summary"]["slack"]["cpus"], 1.4);
    assert_eq!(all[1]["fetched_secs_ago"], 0.0);
}
