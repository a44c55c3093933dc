//! `serenity hints` over real node agents: three `serenity agent`
//! processes on loopback ports, each over its own cgroup v1 tree with real
//! processes (one of them made noisy by stress-ng in its best-effort
//! group, so its QoS pipeline raises an overload contention), plus one
//! configured node that nothing answers. The hints service polls them;
//! requests shaped exactly like kube-scheduler's (the fixtures of
//! rust/hints/tests/fixtures, both the `Nodes` and the `NodeNames` form)
//! must fail the noisy node, rank the idle one first and keep the
//! unreachable one neutral; malformed requests get a 400 with a reason.
//! Root only (SKIP line otherwise); every process is stopped by pid and
//! every group removed on drop.
#![cfg(target_os = "linux")]

#[path = "../../agent/tests/support/mod.rs"]
mod support;

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;

const TEST: &str =
    "hints_fail_the_noisy_node_rank_the_idle_one_first_and_keep_the_unreachable_one_neutral";

/// A `serenity` child process whose stderr (the log) goes to a file;
/// killed (by pid) and reaped on drop.
struct Serenity {
    child: Child,
    log: PathBuf,
}

impl Serenity {
    fn start(args: &[&str], log: &Path) -> Serenity {
        let child = Command::new(env!("CARGO_BIN_EXE_serenity"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(log).expect("create the log file"))
            .spawn()
            .expect("the serenity binary starts");
        Serenity {
            child,
            log: log.to_path_buf(),
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `http://addr` its log announces after `marker` (bounded wait).
    fn address(&self, marker: &str) -> String {
        let mut found = None;
        wait_until(Duration::from_secs(20), || {
            found = self.log().lines().find_map(|l| {
                let rest = &l[l.find(marker)? + marker.len()..];
                let addr = rest.split(['/', ' ']).next()?;
                Some(format!("http://{addr}"))
            });
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no {marker:?} in the log:\n{}", self.log()))
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Serenity {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Overload above 10 % of the node's one CPU with best-effort work (the
/// idle nodes use next to nothing, stress-ng a whole CPU when it gets one): a
/// contention, every best-effort group corrected (a dry run: logged and
/// counted, stress-ng keeps running), the estimator's valve held closed.
const QOS: &str = "kind = \"qos\"\n[[stage]]\ntype = \"overload\"\nthreshold = 0.1\n\
                   [[stage]]\ntype = \"kill_all\"\n[[stage]]\ntype = \"pause_estimator\"\n";
/// Slack: 70 % of the node's CPUs less what production uses.
const ESTIMATOR: &str = "kind = \"estimator\"\n[[stage]]\ntype = \"valve\"\nopen = true\n\
                         [[stage]]\ntype = \"slack\"\nfraction = 0.7\n";

fn agent_config(tree: &Tree, cpus: f64) -> String {
    format!(
        "qos = \"qos.toml\"\nestimator = \"estimator.toml\"\ninterval_secs = 0.5\n[cgroups]\n\
         version = \"v1\"\nroot = \"{ROOT}\"\nproduction = [\"{prod}\"]\nbest_effort = \"{be}\"\n\
         perf = false\n[total]\ncpus = {cpus}\nmem_mib = 1024\n[metrics]\n\
         listen = \"127.0.0.1:0\"\n",
        prod = tree.rel("prod"),
        be = tree.rel("be"),
    )
}

/// One node: its tree (prod/web with an idle process, an empty or noisy
/// be/) and its agent.
struct Node {
    agent: Serenity,
    url: String,
    // Dropped after the agent: processes first, then the groups.
    _procs: Vec<Proc>,
    _tree: Tree,
}

fn node(dir: &TempDir, name: &str, cpus: f64, noisy: bool) -> Node {
    let web = Proc::idle();
    let mut tree = Tree::v1();
    for rel in ["prod", "prod/web", "be"] {
        tree.mkdir(rel);
    }
    tree.attach("prod/web", web.pid());
    let mut procs = vec![web];
    if noisy {
        tree.mkdir("be/batch");
        let mut stress = Proc::sh("read go; exec stress-ng --cpu 1 --timeout 120s --quiet");
        tree.attach("be/batch", stress.pid());
        stress.release();
        procs.push(stress);
    }
    let config = dir.file(&format!("{name}.toml"), &agent_config(&tree, cpus));
    let agent = Serenity::start(
        &["-v", "agent", "--config", config.to_str().unwrap()],
        &dir.0.join(format!("{name}.log")),
    );
    let url = agent.address("metrics at http://");
    Node {
        agent,
        url,
        _procs: procs,
        _tree: tree,
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../hints/tests/fixtures")
        .join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (status, body) of one request.
fn request(agent: &ureq::Agent, method: &str, url: &str, body: &[u8]) -> (u16, String) {
    let response = match method {
        "GET" => agent.get(url).call(),
        _ => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body),
    };
    let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_else(|e| panic!("{method} {url}: body: {e}"));
    (status, text)
}

fn json(agent: &ureq::Agent, method: &str, url: &str, body: &[u8]) -> Value {
    let (status, text) = request(agent, method, url, body);
    assert_eq!(status, 200, "{method} {url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {url}: {e}: {text}"))
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn hints_fail_the_noisy_node_rank_the_idle_one_first_and_keep_the_unreachable_one_neutral() {
    if !v1_root_or_skip(TEST) {
        return;
    }
    if Command::new("stress-ng").arg("--version").output().is_err() {
        skip(TEST, "needs stress-ng (apt-get install stress-ng)");
        return;
    }
    let _serial = serial();
    let dir = TempDir::new();
    dir.file("qos.toml", QOS);
    dir.file("estimator.toml", ESTIMATOR);
    // node-idle lends 70 % of 1 CPU, node-small 70 % of 0.8: both fit, the
    // idle one with more slack.
    let mut nodes = vec![
        ("node-idle", node(&dir, "node-idle", 1.0, false)),
        ("node-small", node(&dir, "node-small", 0.8, false)),
        ("node-noisy", node(&dir, "node-noisy", 1.0, true)),
    ];
    let gone = format!("http://127.0.0.1:{}", closed_port());
    let mut hints_config = "listen = \"127.0.0.1:0\"\npoll_interval_secs = 0.3\n\
                            timeout_secs = 0.5\nstale_after_secs = 5\n[filter]\n\
                            min_slack_cpus = 0.1\n"
        .to_owned();
    for (name, n) in &nodes {
        hints_config.push_str(&format!(
            "[[node]]\nname = \"{name}\"\nurl = \"{}\"\n",
            n.url
        ));
    }
    hints_config.push_str(&format!(
        "[[node]]\nname = \"node-gone\"\nurl = \"{gone}\"\n"
    ));
    let config = dir.file("hints.toml", &hints_config);
    let mut hints = Serenity::start(
        &["-vv", "hints", "--config", config.to_str().unwrap()],
        &dir.0.join("hints.log"),
    );
    let base = hints.address("serenity hints at http://");
    let client: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();

    // Settled: the idle nodes fit, the noisy one is unfit because its own
    // summary says it is in contention, the unreachable one is neutral.
    let noisy_url = format!("{}/summary", nodes[2].1.url);
    let expected = [
        ("node-idle", "fit"),
        ("node-small", "fit"),
        ("node-gone", "neutral"),
        ("node-noisy", "unfit"),
    ];
    let mut ranking = Value::Null;
    let mut summary = Value::Null;
    let settled = wait_until(Duration::from_secs(60), || {
        ranking = json(&client, "GET", &format!("{base}/ranking"), b"");
        summary = json(&client, "GET", &noisy_url, b"");
        let nodes = ranking["nodes"].as_array().cloned().unwrap_or_default();
        let verdicts: Vec<(&str, &str)> = nodes
            .iter()
            .map(|n| {
                (
                    n["node"].as_str().unwrap_or(""),
                    n["verdict"].as_str().unwrap_or(""),
                )
            })
            .collect();
        let reason = nodes
            .iter()
            .find(|n| n["node"] == "node-noisy")
            .and_then(|n| n["reason"].as_str())
            .unwrap_or("");
        verdicts == expected
            && reason.starts_with("in contention: cpu_usage (overload)")
            && summary["contention"]["active"] == true
    });
    assert!(
        settled,
        "the ranking did not settle: {ranking:#}\nthe noisy node's summary: {summary:#}\n\
         hints log:\n{}\nnoisy agent log:\n{}",
        hints.log(),
        nodes[2].1.agent.log()
    );
    assert_eq!(summary["schema"], 1);
    assert_eq!(summary["contention"]["active"], true, "{summary:#}");
    assert_eq!(summary["valve_open"], false, "pause_estimator holds it");
    assert!(summary["corrections"][0]["total"].as_u64().unwrap() > 0);
    assert!(summary["interference"]["score"].as_f64().unwrap() > 0.0);

    // kube-scheduler, nodeCacheCapable: true.
    let names = fixture("args-nodenames.json");
    let filtered = json(&client, "POST", &format!("{base}/filter"), &names);
    assert_eq!(
        filtered["NodeNames"],
        serde_json::json!(["node-idle", "node-small", "node-gone"]),
        "{filtered:#}"
    );
    let reason = filtered["FailedNodes"]["node-noisy"].as_str().unwrap_or("");
    assert!(
        reason.starts_with("serenity: in contention: cpu_usage (overload)"),
        "{filtered:#}"
    );
    // kube-scheduler, nodeCacheCapable: false.
    let filtered = json(
        &client,
        "POST",
        &format!("{base}/filter"),
        &fixture("args-nodes.json"),
    );
    let passed: Vec<&str> = filtered["Nodes"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(passed, vec!["node-idle", "node-small", "node-gone"]);
    assert!(filtered["FailedNodes"]["node-noisy"].is_string());

    let scores = json(&client, "POST", &format!("{base}/prioritize"), &names);
    let score = |host: &str| {
        scores
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["Host"] == host)
            .and_then(|h| h["Score"].as_i64())
            .unwrap_or_else(|| panic!("no score for {host}: {scores:#}"))
    };
    let best = scores
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|h| h["Score"].as_i64())
        .unwrap();
    assert_eq!(best["Host"], "node-idle", "{scores:#}");
    assert!(score("node-idle") > score("node-small"), "{scores:#}");
    assert_eq!(score("node-noisy"), 0);
    assert_eq!(score("node-gone"), 5, "stale: neutral");

    // Bad input: a 400 with the reason; the service keeps serving.
    let (status, text) = request(&client, "POST", &format!("{base}/filter"), b"{\"Pod\": 1}");
    assert_eq!(status, 400);
    assert_eq!(
        text,
        "ExtenderArgs.Pod must be a v1.Pod object, not a number\n"
    );
    let metrics = request(&client, "GET", &format!("{base}/metrics"), b"").1;
    assert!(metrics.contains("serenity_hints_nodes 4\n"), "{metrics}");
    assert!(
        metrics.contains("serenity_hints_stale_nodes 1\n"),
        "{metrics}"
    );
    assert!(hints.running(), "the hints service is still up");
    for (name, n) in &mut nodes {
        assert!(n.agent.running(), "{name}'s agent is still up");
    }
    assert!(
        hints.log().contains(&format!("GET {gone}/summary")),
        "the unreachable node's poll errors name its URL:\n{}",
        hints.log()
    );
}
