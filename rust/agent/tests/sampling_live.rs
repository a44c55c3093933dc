//! Live cgroups → ResourceUsage: real v1 groups with a known load, read by
//! the agent and fed to real pipelines; and the Prometheus endpoint scraped
//! over loopback.

mod support;

use serenity_agent::{Agent, AgentConfig};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

/// A QoS pipeline that smooths CPU usage (no detector: nothing is corrected).
const QOS: &str = r#"
kind = "qos"
interval_secs = 0.25
[[stage]]
type = "ema"
input = "cpu_usage"
output = "cpu_smooth"
alpha = 0.5
"#;

/// An estimator pipeline: slack of the production groups.
const ESTIMATOR: &str = r#"
kind = "estimator"
[[stage]]
type = "valve"
[[stage]]
type = "pr_only"
[[stage]]
type = "slack"
fraction = 1.0
"#;

/// A tree `<name>/{prod/web, be/job}` with web capped at 0.5 CPU and 256 MiB,
/// job at 512 shares; the parent gets 8192 shares so that other load on the
/// host cannot push web below its quota.
fn tree() -> Tree {
    let mut tree = Tree::v1();
    for rel in ["prod", "prod/web", "be", "be/job"] {
        tree.mkdir(rel);
    }
    write(&tree.dir("cpu", "").join("cpu.shares"), "8192");
    write(
        &tree.dir("cpu", "prod/web").join("cpu.cfs_period_us"),
        "100000",
    );
    write(
        &tree.dir("cpu", "prod/web").join("cpu.cfs_quota_us"),
        "50000",
    );
    write(
        &tree.dir("memory", "prod/web").join("memory.limit_in_bytes"),
        &(256u64 << 20).to_string(),
    );
    write(&tree.dir("cpu", "be/job").join("cpu.shares"), "512");
    tree
}

fn config(dir: &TempDir, tree: &Tree, perf: bool, extra: &str) -> AgentConfig {
    dir.file("q.toml", QOS);
    dir.file("e.toml", ESTIMATOR);
    let text = format!(
        r#"qos = "q.toml"
estimator = "e.toml"
[cgroups]
version = "v1"
perf = {perf}
production = ["{prod}"]
best_effort = "{be}"
[total]
cpus = 2
mem_mib = 4096
{extra}"#,
        prod = tree.rel("prod"),
        be = tree.rel("be"),
    );
    let path = dir.file("agent.toml", &text);
    AgentConfig::load(&path).unwrap()
}

#[test]
fn live_groups_map_to_executors_with_measured_usage() {
    let test = "live_groups_map_to_executors_with_measured_usage";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    let perf = match PerfMount::ensure(Path::new(ROOT)) {
        Ok(m) => Some(m),
        Err(e) => {
            skip_part(
                test,
                &format!("no perf_event hierarchy, perf counters not checked: {e}"),
            );
            None
        }
    };
    let mut tree = tree();
    let perf_dir = perf.as_ref().map(|m| tree.mkdir_in(&m.path, "prod/web"));
    let dir = TempDir::new();
    let mut agent = Agent::new(config(&dir, &tree, true, ""), false).unwrap();

    let mut web = Proc::busy();
    let idle = Proc::idle();
    tree.attach("prod/web", web.pid());
    tree.attach("be/job", idle.pid());
    if let Some(d) = &perf_dir {
        write(&d.join("cgroup.procs"), &web.pid().to_string());
    }
    web.release();
    thread::sleep(Duration::from_millis(300));

    // Each tick is bracketed by wall-clock instants: a tick stamps its
    // reading, then reads, and on a loaded host it can be preempted between
    // the two. The counting window therefore lies between
    // `before_second - after_first` and `after_second - before_first`, and
    // the quota's bound is judged over those, not over the stamps alone.
    let outside0 = serenity_probe::host::interrupt_and_steal_secs().unwrap();
    let before_first = Instant::now();
    let first = agent.tick();
    let after_first = Instant::now();
    assert_eq!(first.errors, 0);
    thread::sleep(Duration::from_secs(2));
    let before_second = Instant::now();
    let second = agent.tick();
    let after_second = Instant::now();
    let outside = serenity_probe::host::interrupt_and_steal_secs().unwrap() - outside0;
    assert_eq!(second.errors, 0);
    let shortest = (before_second - after_first).as_secs_f64();
    let longest = (after_second - before_first).as_secs_f64();

    // The mapping of groups to executors.
    let usage = &second.snapshot.usage;
    assert_eq!(second.groups.len(), 2, "{:?}", second.groups);
    let by_id = |id: &str| {
        usage
            .executors
            .iter()
            .find(|e| {
                e.executor_info
                    .as_ref()
                    .unwrap()
                    .executor_id
                    .as_ref()
                    .unwrap()
                    .value
                    .as_deref()
                    == Some(id)
            })
            .unwrap_or_else(|| panic!("no executor {id}"))
    };
    let view = |id: &str| {
        second
            .snapshot
            .executors
            .iter()
            .find(|v| v.key.executor_id == id)
            .unwrap()
            .clone()
    };
    let web_exec = by_id("web");
    let web_view = view("web");
    assert_eq!(web_view.key.framework_id, "production");
    assert_eq!(
        web_view.container_id.as_deref(),
        Some(tree.rel("prod/web").as_str())
    );
    assert!(!web_view.revocable);
    assert_eq!(web_view.allocated_cpus, Some(0.5), "the CFS limit");
    assert_eq!(web_view.allocated_mem_bytes, Some((256u64 << 20) as f64));
    let stats = web_exec.statistics.as_ref().unwrap();
    assert_eq!(stats.cpus_limit, Some(0.5));
    assert_eq!(stats.mem_limit_bytes, Some(256 << 20));
    // No stage reads a process count, so cgroup.procs is not read (with
    // `[cgroups] all_statistics = true` it is).
    assert_eq!(stats.processes, None);
    let job_view = view("job");
    assert_eq!(job_view.key.framework_id, "best-effort");
    assert_eq!(
        job_view.container_id.as_deref(),
        Some(tree.rel("be/job").as_str())
    );
    assert!(job_view.revocable);
    assert_eq!(job_view.allocated_cpus, Some(0.5), "512 shares");
    assert_eq!(job_view.revocable_cpus, 0.5);
    assert_eq!(second.snapshot.total_cpus, Some(2.0));

    // The measured CPU usage, as the pipelines see it.
    let qos = agent.qos().unwrap();
    let cpu = qos.signals().lookup("cpu_usage").unwrap();
    let web_row = second
        .snapshot
        .executors
        .iter()
        .position(|v| v.key.executor_id == "web")
        .unwrap();
    let used = qos
        .last_signals()
        .get(web_row, cpu)
        .expect("cpu_usage of web");
    // `cpu_usage` divides by the seconds between the two stamps.
    let first_web = first
        .snapshot
        .usage
        .executors
        .iter()
        .find(|e| {
            e.statistics.is_some() && e.executor_info.as_ref() == web_exec.executor_info.as_ref()
        })
        .and_then(|e| e.statistics.as_ref())
        .expect("web's statistics at the first tick");
    let stamped = stats.timestamp.unwrap() - first_web.timestamp.unwrap();
    let used_cap = quota_cap(longest, stamped);
    eprintln!(
        "web: cpu_usage {used:.4} CPUs over {stamped:.3} s stamped, {shortest:.3} ..= {longest:.3} s bracketed (quota 0.5)"
    );
    assert!(
        used >= 0.5 - 0.025 && used <= used_cap + 0.025,
        "cpu_usage {used} CPUs outside 0.475 ..= {:.4} (the quota's cap over the bracketed window, +5%)",
        used_cap + 0.025
    );

    // Slack: web's limit minus its usage (the best-effort job is left out by
    // pr_only, and its revocable 0.5 CPUs are subtracted at the end).
    let slack = second.slack.expect("estimator slack").cpus;
    assert!(
        (slack - (0.5 - used - 0.5).max(0.0)).abs() < 1e-9,
        "slack {slack}"
    );

    // Perf: task-clock over the interval, at the quota within 5%.
    if perf_dir.is_some() {
        assert!(
            first
                .snapshot
                .usage
                .executors
                .iter()
                .all(|e| e.statistics.as_ref().is_some_and(|s| s.perf.is_none())),
            "the tick that opens the counters has no perf statistics"
        );
        let perf = stats.perf.as_ref().expect("perf statistics of web");
        let task_clock_cpus = perf.task_clock.unwrap() / 1000.0 / perf.duration.unwrap();
        eprintln!(
            "web: task-clock {task_clock_cpus:.4} CPUs over {:.3} s; node interrupt + steal {outside:.3} s",
            perf.duration.unwrap()
        );
        // The quota caps the group's run time at 0.5 × (longest + 0.1) /
        // stamped CPUs over the window (a window overlaps up to one more CFS
        // period than it spans). task-clock runs on perf's clock while the
        // task is on a CPU, so it also counts the interrupts served and the
        // time the host descheduled the vCPU meanwhile, which the quota and
        // cpuacct leave out: at most the node's interrupt + steal time over
        // the span (plus a tick per CPU of /proc/stat rounding). Seen here:
        // 0.5864 CPUs over 2.001 s on a fresh-clone CI, and locally 0.5097 …
        // 0.5642 with 0.04 … 0.25 s of node interrupt + steal, rising with
        // it. Within 5% of that bound still catches a counter that misses
        // the group's CPU or counts another group.
        let d = perf.duration.unwrap();
        let cpus = serenity_probe::host::online_cpus().unwrap().len() as f64;
        let rounding = cpus / serenity_probe::host::user_hz();
        let cap = quota_cap(longest, d) + (outside + rounding) / d;
        assert!(
            task_clock_cpus >= 0.5 - 0.025 && task_clock_cpus <= cap * 1.05,
            "task-clock {task_clock_cpus} CPUs outside 0.475 ..= {:.4} (the quota's cap over the bracketed window {longest:.3} s, plus {outside:.3} s of node interrupt + steal, +5%)",
            cap * 1.05
        );
        let job_stats = by_id("job").statistics.as_ref().unwrap();
        assert!(job_stats.perf.is_none(), "job has no perf_event group");
    }
}

/// The highest rate, in CPUs over `stamped` seconds, that a 0.5-CPU quota
/// (0.05 s of run per 0.1 s CFS period) allows when the counts really cover
/// up to `longest` seconds: such a window overlaps at most
/// `longest / 0.1 + 1` periods.
fn quota_cap(longest: f64, stamped: f64) -> f64 {
    0.5 * (longest + 0.1) / stamped
}

fn get(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn metrics_endpoint_serves_the_last_tick_over_loopback() {
    let test = "metrics_endpoint_serves_the_last_tick_over_loopback";
    if !v1_root_or_skip(test) {
        return;
    }
    let _serial = serial();
    let tree = tree();
    let dir = TempDir::new();
    // perf off: this test is about metrics.
    let config = config(&dir, &tree, false, "[metrics]\nlisten = \"127.0.0.1:0\"\n");
    let mut agent = Agent::new(config, false).unwrap();
    let server = agent.start_metrics().unwrap().expect("metrics enabled");
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback());

    let mut web = Proc::busy();
    tree.attach("prod/web", web.pid());
    web.release();
    // Three ticks: the first has no usage yet, the ema skips the second.
    for _ in 0..2 {
        agent.tick();
        thread::sleep(Duration::from_millis(300));
    }
    agent.tick();

    let response = get(addr, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    // Header names are case-insensitive (hyper writes them in lower case).
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("\r\ncontent-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(
        lower.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
        "{head}"
    );
    for (name, kind) in [
        ("serenity_slack_cpus", "gauge"),
        ("serenity_slack_mem_bytes", "gauge"),
        ("serenity_signal", "gauge"),
        ("serenity_contentions", "gauge"),
        ("serenity_corrections_total", "counter"),
        ("serenity_valve_open", "gauge"),
        ("serenity_tick_seconds", "gauge"),
        ("serenity_ticks_total", "counter"),
        ("serenity_errors_total", "counter"),
    ] {
        assert!(
            body.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
        assert!(
            body.contains(&format!("# TYPE {name} {kind}\n")),
            "no TYPE for {name}"
        );
    }
    let web = tree.rel("prod/web");
    let line = |prefix: &str| {
        body.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{body}"))
            .to_owned()
    };
    let usage = line(&format!(
        "serenity_signal{{pipeline=\"q\",group=\"{web}\",signal=\"cpu_usage\"}} "
    ));
    let value: f64 = usage.rsplit_once(' ').unwrap().1.parse().unwrap();
    assert!(value > 0.2 && value < 0.7, "{usage}");
    line(&format!(
        "serenity_signal{{pipeline=\"q\",group=\"{web}\",signal=\"cpu_smooth\"}} "
    ));
    line(&format!(
        "serenity_signal{{pipeline=\"e\",group=\"{web}\",signal=\"cpus_limit\"}} 0.5"
    ));
    assert_eq!(line("serenity_ticks_total "), "serenity_ticks_total 3");
    assert_eq!(line("serenity_errors_total "), "serenity_errors_total 0");
    assert_eq!(
        line("serenity_valve_open{pipeline=\"e\"}"),
        "serenity_valve_open{pipeline=\"e\"} 1"
    );
    assert!(
        !body.contains("serenity_valve_open{pipeline=\"q\"}"),
        "q has no valve stage"
    );
    assert_eq!(
        line("serenity_contentions{pipeline=\"q\"}"),
        "serenity_contentions{pipeline=\"q\"} 0"
    );
    line("serenity_slack_cpus ");
    let cost: f64 = line("serenity_tick_seconds ")
        .rsplit_once(' ')
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert!(cost > 0.0);

    let missing = get(addr, "GET /nope HTTP/1.1\r\n\r\n");
    assert!(
        missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{missing}"
    );
    let post = get(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(
        post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{post}"
    );
}
