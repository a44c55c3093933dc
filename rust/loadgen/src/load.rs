//! The open-loop run: per connection a sender that writes each request at
//! its scheduled time whatever the answers do, and a receiver that matches
//! answers to requests in order (memcached answers each connection's
//! requests in FIFO order). Latency runs from the *scheduled* send time, so
//! a stalled server is charged for every request it delayed, including the
//! ones the client could not write yet (no coordinated omission; Tene,
//! "How NOT to measure latency", and wrk2).
//!
//! A request unanswered `timeout` after its scheduled time is a timeout;
//! its connection is then closed (later answers could no longer be matched),
//! every other request still outstanding on it counts as an error, and the
//! sender reconnects. Requests scheduled while no connection can be made
//! are errors. Nothing waits longer than the timeout.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::metrics;
use crate::protocol::{self, Op, Outcome, Parsed};
use crate::rng::{PoissonSchedule, Rng};
use crate::window::{Stats, Summary};

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The memcached server, `host:port`.
    pub server: String,
    /// Requests per second, over all connections.
    pub rate: f64,
    /// How long to send.
    pub duration: Duration,
    /// Connections (each with its own Poisson stream of rate/connections).
    pub connections: usize,
    /// Length of a statistics window.
    pub window: Duration,
    /// Seed of every random choice (arrival times, get or set, keys).
    pub seed: u64,
    /// Where to serve `/metrics` (port 0 picks one), if anywhere.
    pub listen: Option<SocketAddr>,
    /// The JSON-lines file (stdout when `None`).
    pub output: Option<PathBuf>,
    /// The share of requests that are `get`s.
    pub get_ratio: f64,
    /// Number of distinct keys.
    pub key_space: u64,
    /// Bytes per value.
    pub value_size: usize,
    /// How long a request may stay unanswered.
    pub timeout: Duration,
    /// Store every key before the run.
    pub populate: bool,
}

impl Config {
    /// Every problem with the values, each naming its flag.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !(self.rate.is_finite() && self.rate > 0.0) {
            p.push(format!("--rate {}: must be a positive number", self.rate));
        }
        if self.connections == 0 {
            p.push("--connections 0: at least one connection is needed".into());
        }
        if self.window.is_zero() {
            p.push("--window: must be longer than 0".into());
        }
        if self.duration.is_zero() {
            p.push("--duration: must be longer than 0".into());
        }
        if !(0.0..=1.0).contains(&self.get_ratio) {
            p.push(format!("--get-ratio {}: must be in [0, 1]", self.get_ratio));
        }
        if self.key_space == 0 {
            p.push("--key-space 0: at least one key is needed".into());
        }
        if self.value_size > 1 << 20 {
            p.push(format!(
                "--value-size {}: memcached stores at most 1 MiB per item",
                self.value_size
            ));
        }
        if self.timeout.is_zero() {
            p.push("--timeout: must be longer than 0".into());
        }
        p
    }
}

/// One request written and not yet answered.
#[derive(Debug, Clone, Copy)]
struct Pending {
    scheduled: Instant,
    op: Op,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn resolve(server: &str) -> Result<SocketAddr> {
    server
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve the server address {server}"))?
        .next()
        .with_context(|| format!("the server address {server} resolves to nothing"))
}

fn value_bytes(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Stores every key of `0..key_space` with `value`, 100 requests at a time.
fn populate(addr: SocketAddr, key_space: u64, value: &[u8], timeout: Duration) -> Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to memcached at {addr} to store the keys"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_nodelay(true)?;
    let mut buf = Vec::new();
    let mut rx = Vec::new();
    let mut tmp = [0u8; 16384];
    let mut next = 0;
    while next < key_space {
        let batch = (key_space - next).min(100);
        buf.clear();
        for i in next..next + batch {
            protocol::encode(&mut buf, Op::Set, &protocol::key(i), value);
        }
        s.write_all(&buf)
            .with_context(|| format!("cannot write to memcached at {addr} while storing keys"))?;
        let mut answered = 0;
        while answered < batch {
            match protocol::parse(Op::Set, &rx) {
                Parsed::Complete { len, outcome } => {
                    if outcome != Outcome::Stored {
                        bail!(
                            "memcached at {addr} did not store key {}: {outcome:?}",
                            protocol::key(next + answered)
                        );
                    }
                    rx.drain(..len);
                    answered += 1;
                }
                Parsed::Garbage(e) => bail!("memcached at {addr} answered a set with {e}"),
                Parsed::Incomplete => {
                    let n = s.read(&mut tmp).with_context(|| {
                        format!("no answer from memcached at {addr} within {timeout:?} while storing keys")
                    })?;
                    if n == 0 {
                        bail!("memcached at {addr} closed the connection while keys were stored");
                    }
                    rx.extend_from_slice(&tmp[..n]);
                }
            }
        }
        next += batch;
    }
    Ok(())
}

/// Why a connection's receiver stopped.
#[derive(Debug, Clone, PartialEq)]
enum End {
    /// Every request was answered and sending is over.
    Done,
    /// A request went unanswered past the timeout.
    Timeout,
    /// The stream broke (closed, reset, unparseable).
    Broken(String),
}

struct Conn {
    index: usize,
    fifo: Mutex<VecDeque<Pending>>,
    broken: AtomicBool,
    sending_done: AtomicBool,
}

fn receive(conn: &Conn, mut stream: TcpStream, stats: &Mutex<Stats>, timeout: Duration) -> End {
    let mut buf: Vec<u8> = Vec::new();
    let mut tmp = [0u8; 65536];
    let end = loop {
        // Match every complete answer in the buffer.
        let mut garbage = None;
        loop {
            let Some(front) = lock(&conn.fifo).front().copied() else {
                break;
            };
            match protocol::parse(front.op, &buf) {
                Parsed::Incomplete => break,
                Parsed::Garbage(e) => {
                    garbage = Some(e);
                    break;
                }
                Parsed::Complete { len, outcome } => {
                    buf.drain(..len);
                    lock(&conn.fifo).pop_front();
                    let ns = front.scheduled.elapsed().as_nanos() as u64;
                    let mut s = lock(stats);
                    match outcome {
                        Outcome::Hit | Outcome::Stored => s.completed(ns, false),
                        Outcome::Miss => s.completed(ns, true),
                        Outcome::Error(_) => s.error(),
                    }
                }
            }
        }
        if let Some(e) = garbage {
            break End::Broken(format!("unexpected answer: {e}"));
        }
        if conn.broken.load(Ordering::Relaxed) {
            break End::Broken("the sender could not write".into());
        }
        let front = lock(&conn.fifo).front().copied();
        let wait = match front {
            None => {
                if !buf.is_empty() {
                    break End::Broken(format!("{} bytes nobody asked for", buf.len()));
                }
                if conn.sending_done.load(Ordering::Relaxed) {
                    break End::Done;
                }
                Duration::from_millis(20)
            }
            Some(p) => {
                let deadline = p.scheduled + timeout;
                let now = Instant::now();
                if now >= deadline {
                    break End::Timeout;
                }
                (deadline - now).min(Duration::from_millis(20))
            }
        };
        let _ = stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))));
        match stream.read(&mut tmp) {
            Ok(0) => break End::Broken("the server closed the connection".into()),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break End::Broken(format!("read failed: {e}")),
        }
    };
    if end != End::Done {
        conn.broken.store(true, Ordering::Relaxed);
        let _ = stream.shutdown(Shutdown::Both);
    }
    end
}

/// Everything a connection's sender needs.
struct SendPlan {
    addr: SocketAddr,
    start: Instant,
    duration: Duration,
    rate: f64,
    seed: u64,
    get_ratio: f64,
    key_space: u64,
    value: Arc<Vec<u8>>,
    timeout: Duration,
}

/// Counts every request scheduled before `until` as an error (no connection).
fn fail_until(sched: &mut PoissonSchedule, next: &mut f64, until: f64, stats: &Mutex<Stats>) {
    let mut n = 0;
    while *next < until {
        n += 1;
        *next = sched.next_arrival();
    }
    let mut s = lock(stats);
    for _ in 0..n {
        s.error();
    }
}

fn send(index: usize, plan: &SendPlan, stats: &Arc<Mutex<Stats>>, stop: &AtomicBool) {
    let mut sched = PoissonSchedule::new(Rng::stream(plan.seed, 2 * index as u64), plan.rate);
    let mut choice = Rng::stream(plan.seed, 2 * index as u64 + 1);
    let end = plan.duration.as_secs_f64();
    let mut next = sched.next_arrival();
    let mut buf = Vec::new();
    let mut last_problem = String::new();
    while next < end && !stop.load(Ordering::Relaxed) {
        let stream = match TcpStream::connect_timeout(&plan.addr, plan.timeout) {
            Ok(s) => s,
            Err(e) => {
                let problem = format!("cannot connect to {}: {e}", plan.addr);
                if problem != last_problem {
                    eprintln!("serenity-loadgen: connection {index}: {problem}; retrying every 100 ms, requests meanwhile count as errors");
                    last_problem = problem;
                }
                let retry = plan.start.elapsed().as_secs_f64() + 0.1;
                thread::sleep(Duration::from_millis(100));
                fail_until(&mut sched, &mut next, retry.min(end), stats);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let reader = match stream.try_clone() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("serenity-loadgen: connection {index}: cannot clone the socket: {e}");
                return;
            }
        };
        let conn = Arc::new(Conn {
            index,
            fifo: Mutex::new(VecDeque::new()),
            broken: AtomicBool::new(false),
            sending_done: AtomicBool::new(false),
        });
        let rx = {
            let (conn, stats, timeout) = (conn.clone(), stats.clone(), plan.timeout);
            thread::Builder::new()
                .name(format!("recv-{index}"))
                .spawn(move || receive(&conn, reader, &stats, timeout))
        };
        let rx = match rx {
            Ok(h) => h,
            Err(e) => {
                eprintln!("serenity-loadgen: connection {index}: cannot start its receiver: {e}");
                return;
            }
        };
        let mut writer = stream;
        while next < end && !stop.load(Ordering::Relaxed) && !conn.broken.load(Ordering::Relaxed) {
            let due = plan.start + Duration::from_secs_f64(next);
            let now = Instant::now();
            if due > now {
                thread::sleep((due - now).min(Duration::from_millis(20)));
                continue;
            }
            // Everything due by now goes out in one write.
            buf.clear();
            let mut n = 0;
            {
                let mut fifo = lock(&conn.fifo);
                let now = plan.start.elapsed().as_secs_f64();
                while next <= now && next < end {
                    let op = if choice.next_f64() < plan.get_ratio {
                        Op::Get
                    } else {
                        Op::Set
                    };
                    let key = protocol::key(choice.below(plan.key_space));
                    protocol::encode(&mut buf, op, &key, &plan.value);
                    fifo.push_back(Pending {
                        scheduled: plan.start + Duration::from_secs_f64(next),
                        op,
                    });
                    n += 1;
                    next = sched.next_arrival();
                }
            }
            lock(stats).sent(n);
            if let Err(e) = writer.write_all(&buf) {
                if !conn.broken.swap(true, Ordering::Relaxed) {
                    eprintln!("serenity-loadgen: connection {index}: write failed: {e}");
                }
                let _ = writer.shutdown(Shutdown::Both);
            }
        }
        conn.sending_done.store(true, Ordering::Relaxed);
        let ended = rx
            .join()
            .unwrap_or_else(|_| End::Broken("its receiver panicked".into()));
        // What is still outstanding is lost with the connection.
        let lost: Vec<Pending> = lock(&conn.fifo).drain(..).collect();
        if !lost.is_empty() {
            let mut s = lock(stats);
            for p in &lost {
                if p.scheduled.elapsed() >= plan.timeout {
                    s.timeout(plan.timeout.as_nanos() as u64);
                } else {
                    s.error();
                }
            }
        }
        match ended {
            End::Done => {}
            End::Timeout => eprintln!(
                "serenity-loadgen: connection {}: a request was unanswered after {:?}; reconnecting ({} outstanding requests lost)",
                conn.index,
                plan.timeout,
                lost.len()
            ),
            End::Broken(why) => eprintln!(
                "serenity-loadgen: connection {}: {why}; reconnecting ({} outstanding requests lost)",
                conn.index,
                lost.len()
            ),
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A bound metrics listener and its address, before the run starts.
pub fn bind_metrics(addr: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let l =
        TcpListener::bind(addr).with_context(|| format!("cannot listen for /metrics on {addr}"))?;
    let local = l.local_addr()?;
    Ok((l, local))
}

/// Runs the load: stores the keys (unless told not to), sends for the
/// configured duration, writes one JSON line per window and a summary line,
/// and returns the summary. `stop` ends the run early (at the next check,
/// within 20 ms).
pub fn run(config: &Config, stop: Arc<AtomicBool>) -> Result<Summary> {
    let problems = config.problems();
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    let addr = resolve(&config.server)?;
    let value = Arc::new(value_bytes(config.value_size));
    if config.populate {
        populate(addr, config.key_space, &value, config.timeout)?;
    }
    let mut out: Box<dyn Write + Send> = match &config.output {
        Some(p) => Box::new(BufWriter::new(File::create(p).with_context(|| {
            format!("cannot create the output file {}", p.display())
        })?)),
        None => Box::new(io::stdout()),
    };
    let stats = Arc::new(Mutex::new(Stats::new(config.rate)));
    let metrics_stop = Arc::new(AtomicBool::new(false));
    let metrics_thread = match config.listen {
        Some(a) => {
            let (l, local) = bind_metrics(a)?;
            eprintln!("serenity-loadgen: metrics at http://{local}/metrics");
            Some(metrics::spawn(l, stats.clone(), metrics_stop.clone())?)
        }
        None => None,
    };

    let start = Instant::now();
    let unix_start = unix_now();
    let per_conn = config.rate / config.connections as f64;
    let mut senders = Vec::new();
    for i in 0..config.connections {
        let plan = SendPlan {
            addr,
            start,
            duration: config.duration,
            rate: per_conn,
            seed: config.seed,
            get_ratio: config.get_ratio,
            key_space: config.key_space,
            value: value.clone(),
            timeout: config.timeout,
        };
        let (stats, stop) = (stats.clone(), stop.clone());
        senders.push(
            thread::Builder::new()
                .name(format!("send-{i}"))
                .spawn(move || send(i, &plan, &stats, &stop))
                .context("cannot start a sender thread")?,
        );
    }

    // Close windows at start + k·window until the duration is over.
    let mut k = 1u32;
    loop {
        let boundary = (config.window * k).min(config.duration);
        while start.elapsed() < boundary && !stop.load(Ordering::Relaxed) {
            thread::sleep(
                (boundary - start.elapsed().min(boundary)).min(Duration::from_millis(20)),
            );
        }
        let stopped = stop.load(Ordering::Relaxed);
        let end = if stopped {
            start.elapsed().min(boundary)
        } else {
            boundary
        };
        let from = (config.window * (k - 1)).as_secs_f64();
        let report = {
            let mut s = lock(&stats);
            let r = s
                .window
                .close(unix_start + from, unix_start + end.as_secs_f64());
            s.last_window = Some(r.clone());
            r
        };
        let line = serde_json::to_string(&report)?;
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .context("cannot write a window to the output")?;
        if stopped || boundary >= config.duration {
            break;
        }
        k += 1;
    }
    let sent_until = start.elapsed();
    for h in senders {
        let _ = h.join();
    }
    let summary = {
        let s = lock(&stats);
        let secs = config.duration.as_secs_f64().min(sent_until.as_secs_f64());
        Summary {
            kind: "summary",
            start: unix_start,
            end: unix_start + secs,
            target_rate: config.rate,
            achieved_rate: s.total.completed as f64 / secs,
            counts: s.total,
            p50_ms: s.fine.quantile(0.5).map(|ns| ns / 1e6),
            p99_ms: s.fine.quantile(0.99).map(|ns| ns / 1e6),
        }
    };
    writeln!(out, "{}", serde_json::to_string(&summary)?)
        .and_then(|()| out.flush())
        .context("cannot write the summary to the output")?;
    metrics_stop.store(true, Ordering::Relaxed);
    if let Some(h) = metrics_thread {
        let _ = h.join();
    }
    Ok(summary)
}
