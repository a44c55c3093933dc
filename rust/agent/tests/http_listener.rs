//! The agent's HTTP listener over real loopback sockets: slow clients hold
//! only their own connection, the limits close what exceeds them, and the
//! listener recovers when they are gone. No root needed.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serenity_agent::http::{Handler, HttpServer, Limits, Request, Response};
use serenity_agent::metrics::{self, Metrics};

/// How long a client waits for an answer before the test fails (a bound on
/// the test, not a figure it measures).
const CLIENT_WAIT: Duration = Duration::from_secs(10);

fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")?;
    Ok(read_all(&mut s))
}

/// A client that sent half a request head and waits.
fn slow_client(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHo")
        .expect("half a request");
    s
}

/// True while the server has neither answered nor closed `s`.
fn still_open(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let open = matches!(s.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    open
}

#[test]
fn a_scrape_is_answered_while_200_slow_clients_hold_their_connections() {
    let metrics = Arc::new(Metrics::default());
    metrics.lock().ticks_total = 42;
    let server = metrics::serve("127.0.0.1:0".parse().unwrap(), metrics.clone()).unwrap();
    let addr = server.local_addr();
    let mut slow: Vec<TcpStream> = (0..200).map(|_| slow_client(addr)).collect();
    // Let the listener accept every one of them before the scrape.
    thread::sleep(Duration::from_millis(200));
    let answer = scrape(addr).expect("scrape");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains("serenity_ticks_total 42\n"), "{answer}");
    // The scrape did not wait for the slow clients to time out: every one of
    // them is still connected, its request unfinished (the head timeout is
    // 5 s by default).
    let open = slow.iter_mut().map(still_open).filter(|open| *open).count();
    assert_eq!(open, 200, "slow clients still connected after the scrape");
}

/// A listener on a free loopback port answering every request `200 ok`.
fn start(limits: Limits) -> HttpServer {
    let ok: Handler = Arc::new(|_: &Request| Response::text(200, "ok\n"));
    HttpServer::start("test-http", "127.0.0.1:0".parse().unwrap(), limits, ok).unwrap()
}

/// Reads what the server sends until it closes, within [`CLIENT_WAIT`].
fn read_all(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(CLIENT_WAIT)).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_client_slower_than_the_head_timeout_gets_408_and_is_closed() {
    let limits = Limits {
        head_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = start(limits);
    let mut s = slow_client(server.local_addr());
    let started = Instant::now();
    let answer = read_all(&mut s);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "a timed-out head is answered 408 or closed: {answer:?}"
    );
    assert!(
        started.elapsed() < CLIENT_WAIT,
        "the server closed the slow connection (it did not wait for the client)"
    );
}

#[test]
fn connections_beyond_the_limit_are_closed_and_service_recovers_when_they_end() {
    let limits = Limits {
        max_connections: 4,
        head_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let server = start(limits);
    let addr = server.local_addr();
    let holders: Vec<TcpStream> = (0..4).map(|_| slow_client(addr)).collect();
    thread::sleep(Duration::from_millis(200));
    // The fifth is closed at once, unanswered.
    let mut fifth = TcpStream::connect(addr).unwrap();
    let _ = fifth.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        read_all(&mut fifth),
        "",
        "over the limit: closed unanswered"
    );
    assert_eq!(
        server.stats().rejected_connections.load(Ordering::Relaxed),
        1
    );
    // Once the holders go, a request is served again.
    drop(holders);
    let deadline = Instant::now() + CLIENT_WAIT;
    let answer = loop {
        let mut s = TcpStream::connect(addr).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let answer = read_all(&mut s);
        if !answer.is_empty() || Instant::now() > deadline {
            break answer;
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer:?}");
}

#[test]
fn dropping_the_server_frees_its_port() {
    let server = start(Limits::default());
    let addr = server.local_addr();
    let _held = slow_client(addr);
    drop(server);
    std::net::TcpListener::bind(addr).expect("the port is free once the server is dropped");
}
