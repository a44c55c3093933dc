//! The poller over real sockets, no root needed: a node agent's own
//! metrics listener (in process, serving `/summary`), a port nothing
//! listens on, a server answering something that is not a summary, and one
//! answering a summary of an unknown schema. Each bad node becomes stale
//! with a reason naming its URL; the good one is fresh; nothing crashes.
#![cfg(target_os = "linux")]

use serenity_agent::http::{Handler, HttpServer, Limits, Request, Response};
use serenity_agent::metrics::{self, Metrics};
use serenity_core::summary::TickRecord;
use serenity_core::Slack;
use serenity_hints::config::NodeConfig;
use serenity_hints::nodes::NodeTable;
use serenity_hints::placement::NodeState;
use serenity_hints::poller::{client, poll_round};
use serenity_hints::HintsMetrics;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn answering(body: &'static str) -> HttpServer {
    let handler: Handler = Arc::new(move |_: &Request| Response {
        status: 200,
        content_type: "application/json",
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    });
    HttpServer::start("test-node", loopback(), Limits::default(), handler).unwrap()
}

#[test]
fn unreachable_and_malformed_nodes_become_stale_naming_their_url_and_good_ones_fresh() {
    let agent_metrics = Arc::new(Metrics::default());
    agent_metrics.record_tick(TickRecord {
        slack: Some(Slack {
            cpus: 1.25,
            mem_bytes: 0.0,
        }),
        ..TickRecord::default()
    });
    let good = metrics::serve(loopback(), agent_metrics).unwrap();
    let garbage = answering("<html>not a summary</html>");
    let future = answering("{\"schema\": 99}");
    let closed = {
        let l = std::net::TcpListener::bind(loopback()).unwrap();
        l.local_addr().unwrap()
    };
    let url = |a: SocketAddr| format!("http://{a}");
    let nodes: Vec<NodeConfig> = [
        ("good", good.local_addr()),
        ("garbage", garbage.local_addr()),
        ("future", future.local_addr()),
        ("closed", closed),
    ]
    .iter()
    .map(|(n, a)| NodeConfig {
        name: (*n).into(),
        url: url(*a),
    })
    .collect();
    let table = NodeTable::new(&nodes, Duration::from_secs(10));
    let counters = HintsMetrics::default();
    poll_round(&client(Duration::from_secs(2)), &table, &counters);

    let states = table.states(&["good", "garbage", "future", "closed"], Instant::now());
    match &states[0] {
        NodeState::Fresh(f) => assert_eq!(f.slack, Some((1.25, 0.0))),
        other => panic!("the good node is fresh: {other:?}"),
    }
    let reason = |i: usize| match &states[i] {
        NodeState::Stale(r) => r.clone(),
        other => panic!("node {i} is stale: {other:?}"),
    };
    let garbage_url = format!("{}/summary", url(garbage.local_addr()));
    assert!(
        reason(1).starts_with(&format!("no data yet: GET {garbage_url}: not JSON: ")),
        "{}",
        reason(1)
    );
    assert_eq!(
        reason(2),
        format!(
            "no data yet: GET {}/summary: `schema` = 99: this service reads schema 1",
            url(future.local_addr())
        )
    );
    assert!(
        reason(3).starts_with(&format!("no data yet: GET {}/summary: ", url(closed))),
        "{}",
        reason(3)
    );
    let text = counters.render(4, 1, 3);
    assert!(
        text.contains("serenity_hints_polls_total{result=\"ok\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("serenity_hints_polls_total{result=\"error\"} 3\n"),
        "{text}"
    );
    assert_eq!(table.counts(Instant::now()), (4, 1, 3));
}
