//! The SLO controller end to end in the node agent, against real cgroup v1
//! groups with real processes and a real HTTP endpoint serving the
//! production service's p99 as Prometheus text: while the SLI has room the
//! estimator lends and the best-effort allowance grows; a violation revokes
//! the allowance to its floor at once and, when it lasts, kills the
//! best-effort group; when the endpoint stops mid-run the SLI goes stale,
//! the slack is zero and nothing is killed.

mod support;

use serenity_agent::{Agent, AgentConfig, Outcome, TickReport};
use serenity_core::tick::AllowanceStep;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use support::*;

/// A real HTTP/1.1 server on 127.0.0.1 answering every request with the
/// current body; stopped (listener closed) by [`Endpoint::stop`].
struct Endpoint {
    addr: SocketAddr,
    body: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    fn start(body: &str) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let body = Arc::new(Mutex::new(body.to_owned()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (body, stop) = (body.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((mut conn, _)) => {
                            let _ = conn.set_nonblocking(false);
                            let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
                            let mut head = [0u8; 4096];
                            let _ = conn.read(&mut head);
                            let text = body.lock().unwrap().clone();
                            let _ = write!(
                                conn,
                                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                                text.len()
                            );
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Endpoint {
            addr,
            body,
            stop,
            thread: Some(thread),
        }
    }

    fn serve_p99_ms(&self, ms: f64) {
        *self.body.lock().unwrap() = format!(
            "# HELP app_p99_seconds p99 latency\n# TYPE app_p99_seconds gauge\napp_p99_seconds{{job=\"web\"}} {}\n",
            ms / 1000.0
        );
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop();
    }
}

const SLI: &str = "[[sli]]
name = \"p99\"
executors = [\"web\"]
source = \"prometheus\"
url = \"http://ADDR/metrics\"
metric = \"app_p99_seconds\"
labels = { job = \"web\" }
scale = 1000.0
unit = \"ms\"
objective = 2.0
interval_secs = 0.1
timeout_secs = 0.2
max_age_secs = 0.6
";

fn agent(dir: &TempDir, tree: &Tree, addr: SocketAddr) -> Agent {
    let sli = SLI.replace("ADDR", &addr.to_string());
    dir.file(
        "qos.toml",
        &format!(
            "kind = \"qos\"\ninterval_secs = 0.1\n{sli}\
             [[stage]]\ntype = \"slo_guard\"\ncontention_ticks = 3\nregrow_ticks = 0\n\
             [[stage]]\ntype = \"ranked_victims\"\n[[stage]]\ntype = \"pause_estimator\"\n"
        ),
    );
    dir.file(
        "est.toml",
        &format!(
            "kind = \"estimator\"\n{sli}[[stage]]\ntype = \"valve\"\n[[stage]]\ntype = \"pr_only\"\n\
             [[stage]]\ntype = \"slack\"\nfraction = 1.0\n[[stage]]\ntype = \"slo_scale\"\n"
        ),
    );
    let text = format!(
        "qos = \"qos.toml\"\nestimator = \"est.toml\"\n[cgroups]\nversion = \"v1\"\nroot = \"{ROOT}\"\n\
         perf = false\nproduction = [\"{}\"]\nbest_effort = \"{}\"\n[total]\ncpus = 4\nmem_mib = 4096\n\
         [metrics]\nenabled = false\n[enforcement]\naction = \"kill\"\nstate_file = \"state.json\"\n\
         [allowance]\ncpus_floor = 0.1\ncpus_ceiling = 1.0\ncpus_grow_step = 0.2\ncpus_shrink_step = 0.5\n",
        tree.rel("prod"),
        tree.rel("be")
    );
    let config = AgentConfig::load(&dir.file("agent.toml", &text)).unwrap();
    Agent::new(config, true).expect("the agent starts")
}

/// Ticks (100 ms apart, at most `max` times) until `done` holds for a report.
fn tick_until(
    agent: &mut Agent,
    max: usize,
    mut done: impl FnMut(&TickReport) -> bool,
) -> Option<TickReport> {
    let mut last = None;
    for _ in 0..max {
        let report = agent.tick();
        if done(&report) {
            return Some(report);
        }
        last = Some((report.slack, report.allowance, report.qos_stopped));
        thread::sleep(Duration::from_millis(100));
    }
    eprintln!("gave up after {max} ticks; the last one: {last:?}");
    None
}

fn step(r: &TickReport) -> Option<AllowanceStep> {
    r.allowance.as_ref().map(|a| a.step)
}

#[test]
fn the_slo_drives_lending_and_the_allowance_and_a_stale_sli_lends_nothing_and_kills_nothing() {
    let test =
        "the_slo_drives_lending_and_the_allowance_and_a_stale_sli_lends_nothing_and_kills_nothing";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    capture_logs();
    let web = Proc::idle();
    let mut job = Proc::busy();
    let mut tree = Tree::v1();
    for rel in ["prod", "prod/web", "be", "be/job"] {
        tree.mkdir(rel);
    }
    // web may use 2 CPUs and is idle: 2 CPUs of slack, minus the 1 CPU the
    // best-effort job's default cpu.shares count as its allocation.
    write(
        &tree.dir("cpu", "prod/web").join("cpu.cfs_quota_us"),
        "200000",
    );
    tree.attach("prod/web", web.pid());
    tree.attach("be/job", job.pid());
    job.release();
    let be_quota = tree.dir("cpu", "be").join("cpu.cfs_quota_us");
    let quota0 = read(&be_quota);
    let mut endpoint = Endpoint::start("");
    endpoint.serve_p99_ms(0.5);
    let dir = TempDir::new();
    let mut agent = agent(&dir, &tree, endpoint.addr);

    // 1. Room to the SLO (75 % slack): slack is lent, the allowance grows.
    let good = tick_until(&mut agent, 50, |r| {
        r.slack.is_some_and(|s| s.cpus > 0.5) && r.allowance.as_ref().is_some_and(|a| a.cpus >= 0.5)
    })
    .expect("with room to the SLO the estimator lends and the allowance grows");
    assert_eq!(step(&good), Some(AllowanceStep::Grow));
    assert!(good.decisions.is_empty());
    {
        let m = agent.metrics();
        let m = m.lock();
        let sli = &m.slis["p99"];
        assert_eq!(sli.value, Some(0.5), "the SLI is exported in ms");
        assert!(m.allowance_cpus.is_some_and(|c| c >= 0.5));
    }

    // 2. A violation: revoke to the floor at once, nothing lent; a kill
    //    only once it has lasted 3 ticks.
    endpoint.serve_p99_ms(3.0);
    let revoked = tick_until(&mut agent, 30, |r| step(r) == Some(AllowanceStep::Revoke))
        .expect("a violation revokes");
    assert!((revoked.allowance.as_ref().unwrap().cpus - 0.1).abs() < 1e-9);
    let period: f64 = read(&tree.dir("cpu", "be").join("cpu.cfs_period_us"))
        .parse()
        .unwrap();
    let quota: f64 = read(&be_quota).parse().unwrap();
    assert!(
        (quota / period - 0.1).abs() < 1e-3,
        "the parent's quota is at the floor: {quota}"
    );
    assert!(
        revoked.decisions.is_empty(),
        "the first violated tick does not kill"
    );
    assert_eq!(revoked.slack.map(|s| s.cpus), Some(0.0));
    let killed = tick_until(&mut agent, 10, |r| !r.decisions.is_empty())
        .expect("a lasting violation kills the best-effort group");
    assert!(
        matches!(killed.decisions[0].outcome, Outcome::Applied(_)),
        "{}",
        killed.decisions[0]
    );
    assert!(
        killed.decisions[0].reason.contains("slo_guard"),
        "{}",
        killed.decisions[0].reason
    );
    assert!(wait_until(Duration::from_secs(3), || job.exited()));

    // 3. The endpoint stops mid-run: the SLI ages out, the slack is zero,
    //    nothing is killed (a new best-effort job is running) and the
    //    allowance holds.
    endpoint.serve_p99_ms(0.5);
    tick_until(&mut agent, 30, |r| step(r) == Some(AllowanceStep::Grow)).expect("room again");
    let mut job2 = Proc::busy();
    tree.attach("be/job", job2.pid());
    job2.release();
    endpoint.stop();
    let stale = tick_until(&mut agent, 40, |r| {
        step(r) == Some(AllowanceStep::Hold) && r.slack.is_some_and(|s| s.cpus == 0.0)
    })
    .expect("a stale SLI holds the allowance and lends nothing");
    assert!(stale.allowance.as_ref().unwrap().reason.contains("missing"));
    for _ in 0..10 {
        let r = agent.tick();
        assert!(
            r.decisions.is_empty(),
            "nothing is killed on missing data: {:?}",
            r.decisions
        );
        assert_eq!(r.slack.map(|s| s.cpus), Some(0.0));
        thread::sleep(Duration::from_millis(50));
    }
    assert!(!job2.exited(), "the best-effort job lives on");
    assert!(
        !logged("SLI p99 of executor web").is_empty(),
        "the missing SLI is logged"
    );
    {
        let m = agent.metrics();
        let m = m.lock();
        assert!(
            m.slis["p99"].failures_total > 0,
            "the failed fetches are counted"
        );
        assert!(m.slis["p99"].age_secs.is_some_and(|a| a > 0.6));
    }

    // Shutdown restores the parent's quota.
    agent.shutdown();
    assert_eq!(read(&be_quota), quota0);
    drop(web);
}
