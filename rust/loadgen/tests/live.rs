//! The binary against a real memcached (Debian's `memcached`, installed with
//! apt-get when missing and root; the test prints `SKIP: ...` and returns
//! when it cannot be had) and against small fake servers that never answer
//! or only answer errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_serenity-loadgen");

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// memcached's path, or why there is none.
fn memcached() -> &'static Result<PathBuf, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND.get_or_init(|| {
        if let Some(p) = find_on_path("memcached") {
            return Ok(p);
        }
        if !is_root() {
            return Err("memcached is not installed and installing it needs root".into());
        }
        let install = || {
            Command::new("apt-get")
                .args([
                    "install",
                    "-y",
                    "-qq",
                    "--no-install-recommends",
                    "memcached",
                ])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        if !install() {
            let _ = Command::new("apt-get").args(["update", "-qq"]).status();
            install();
        }
        find_on_path("memcached").ok_or_else(|| "apt-get install memcached failed".into())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A memcached of our own, stopped by its PID on drop.
struct Memcached {
    child: Child,
    addr: String,
}

impl Memcached {
    fn start(bin: &PathBuf) -> Memcached {
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args([
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-t",
            "1",
            "-m",
            "64",
        ]);
        if is_root() {
            cmd.args(["-u", "root"]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let m = Memcached {
            child,
            addr: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&m.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "memcached did not listen on {}",
                m.addr
            );
            thread::sleep(Duration::from_millis(50));
        }
        m
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(path: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn a_run_against_memcached_reports_every_window_and_serves_metrics() {
    let bin = match memcached() {
        Ok(b) => b,
        Err(why) => {
            println!(
                "SKIP: a_run_against_memcached_reports_every_window_and_serves_metrics: {why}"
            );
            return;
        }
    };
    let server = Memcached::start(bin);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("windows.jsonl");
    let mut child = Command::new(BIN)
        .args(["--server", &server.addr, "--rate", "400", "--duration", "3"])
        .args(["--window", "1s", "--connections", "2", "--get-ratio", "0.5"])
        .args([
            "--key-space",
            "500",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "9",
        ])
        .arg("--output")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let metrics = first
        .trim()
        .strip_prefix("serenity-loadgen: metrics at http://")
        .and_then(|r| r.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in `{first}`"))
        .to_owned();
    // The window gauges appear once the first window closed.
    let mut text = scrape(&metrics);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !text.contains("\nserenity_loadgen_window_end_timestamp_seconds ") {
        assert!(Instant::now() < deadline, "no window gauge in\n{text}");
        thread::sleep(Duration::from_millis(100));
        text = scrape(&metrics);
    }
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
    for q in ["0.5", "0.95", "0.99"] {
        let series = format!("serenity_loadgen_window_latency_seconds{{quantile=\"{q}\"}} ");
        let v: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .unwrap_or_else(|| panic!("{series} missing"))
            .parse()
            .unwrap();
        assert!(v > 0.0 && v < 1.0, "{series}{v}");
    }
    // The exposition passes Prometheus's own linter where it is installed.
    match find_on_path("promtool") {
        Some(promtool) => {
            let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            let mut lint = Command::new(promtool)
                .args(["check", "metrics"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            lint.stdin
                .take()
                .unwrap()
                .write_all(body.as_bytes())
                .unwrap();
            let o = lint.wait_with_output().unwrap();
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                o.status.success() && said.trim().is_empty(),
                "promtool: {said}"
            );
        }
        None => println!("SKIP part: promtool check of the exposition: promtool is not installed"),
    }
    let count: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("serenity_loadgen_request_duration_seconds_count "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(count > 0);
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");

    let v = lines(&out);
    assert_eq!(v.len(), 4, "3 windows and a summary: {v:?}");
    let (windows, summary) = v.split_at(3);
    let mut window_sent = 0;
    for (i, w) in windows.iter().enumerate() {
        assert_eq!(w["kind"], "window");
        let (start, end) = (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap());
        assert!(
            (end - start - 1.0).abs() < 1e-6,
            "window {i}: {start}..{end}"
        );
        if i > 0 {
            assert_eq!(windows[i - 1]["end"], w["start"]);
        }
        let q: Vec<f64> = ["p50_ms", "p95_ms", "p99_ms", "max_ms"]
            .iter()
            .map(|k| w[*k].as_f64().unwrap())
            .collect();
        assert!(q.windows(2).all(|p| p[0] <= p[1]), "window {i}: {q:?}");
        let hist: u64 = w["hist_ns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[2].as_u64().unwrap())
            .sum();
        assert_eq!(hist, u(w, "samples"));
        assert_eq!(u(w, "misses"), 0, "every key was stored first");
        window_sent += u(w, "sent");
    }
    let s = &summary[0];
    assert_eq!(s["kind"], "summary");
    assert_eq!(u(s, "sent"), window_sent);
    assert!(u(s, "sent") > 100, "{s}");
    assert_eq!(u(s, "completed"), u(s, "sent"), "{s}");
    assert_eq!(u(s, "errors") + u(s, "timeouts"), 0, "{s}");
}

/// A server that accepts and reads but answers each request with `answer`
/// (never, for `None`); it runs until the process ends.
fn fake_server(answer: Option<&'static str>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for stream in l.incoming().flatten() {
            thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                let mut line = String::new();
                while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    let is_set = line.starts_with("set ");
                    if is_set {
                        let mut data = String::new();
                        let _ = r.read_line(&mut data);
                    }
                    if let Some(a) = answer {
                        let _ = w.write_all(a.as_bytes());
                    }
                    line.clear();
                }
            });
        }
    });
    addr
}

fn run_against(addr: &str, extra: &[&str]) -> (bool, Vec<Value>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.jsonl");
    let o = Command::new(BIN)
        .args([
            "--server",
            addr,
            "--rate",
            "200",
            "--duration",
            "1",
            "--connections",
            "2",
        ])
        .args(extra)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let v = if out.exists() { lines(&out) } else { vec![] };
    (
        o.status.success(),
        v,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn an_unanswering_server_gives_timeouts_and_the_run_still_ends() {
    let addr = fake_server(None);
    let (ok, v, err) = run_against(&addr, &["--no-populate", "--timeout", "200ms"]);
    assert!(ok, "{err}");
    let s = v.last().unwrap();
    assert_eq!(s["kind"], "summary");
    assert!(u(s, "sent") > 0);
    assert_eq!(u(s, "completed"), 0);
    assert!(u(s, "timeouts") > 0, "{s}");
    // Every request sent is accounted for: timed out or lost with its
    // connection when another request timed out.
    assert_eq!(u(s, "timeouts") + u(s, "errors"), u(s, "sent"), "{s}");
    assert!(
        err.contains("unanswered after 200ms; reconnecting"),
        "{err}"
    );
}

#[test]
fn error_answers_count_as_errors_not_latencies() {
    let addr = fake_server(Some("SERVER_ERROR busy\r\n"));
    let (ok, v, err) = run_against(&addr, &["--no-populate"]);
    assert!(ok, "{err}");
    let s = v.last().unwrap();
    assert!(u(s, "sent") > 0);
    assert_eq!(u(s, "errors"), u(s, "sent"), "{s}");
    assert_eq!(u(s, "completed") + u(s, "timeouts"), 0, "{s}");
    assert!(v[..v.len() - 1].iter().all(|w| w["p99_ms"].is_null()));
}

#[test]
fn a_server_that_is_not_there_fails_the_key_store_with_its_address() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let (ok, _, err) = run_against(&addr, &[]);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "cannot connect to memcached at {addr} to store the keys"
        )),
        "{err}"
    );
}

#[test]
fn bad_flags_are_all_reported_by_name() {
    let o = Command::new(BIN)
        .args(["--rate", "0", "--connections", "0", "--get-ratio", "2"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    for needle in [
        "--rate 0: must be a positive number",
        "--connections 0",
        "--get-ratio 2",
    ] {
        assert!(err.contains(needle), "{needle} missing in {err}");
    }
}
