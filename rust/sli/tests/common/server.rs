//! A real HTTP/1.1 server for the SLI tests: a std `TcpListener` on
//! 127.0.0.1:0 in a thread, answering each request with the current
//! behaviour (a status and body, or silence), one connection at a time,
//! `Connection: close`. Serves at most `max_requests` requests; `stop()`
//! closes the listener (later connections are refused) and every held
//! connection. Also included by the serenity-ffi tests (`#[path]`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the server does with the next request.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answer with this status and body.
    Answer { status: u16, body: Vec<u8> },
    /// Read the request and never answer (the connection stays open until
    /// `stop()`).
    Silent,
}

impl Behaviour {
    /// A 200 answer with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Behaviour {
        Behaviour::Answer {
            status: 200,
            body: body.into(),
        }
    }
}

/// The server.
pub struct TestServer {
    addr: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts serving `behaviour`, at most `max_requests` requests.
    pub fn start(behaviour: Behaviour, max_requests: usize) -> TestServer {
        Self::start_on("127.0.0.1:0", behaviour, max_requests).expect("bind 127.0.0.1:0")
    }

    /// Starts on `addr` (e.g. the port of a stopped server), if it binds.
    pub fn start_on(
        addr: &str,
        behaviour: Behaviour,
        max_requests: usize,
    ) -> std::io::Result<TestServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let behaviour = Arc::new(Mutex::new(behaviour));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let behaviour = behaviour.clone();
            let requests = requests.clone();
            let stop = stop.clone();
            std::thread::spawn(move || serve(listener, &behaviour, &requests, &stop, max_requests))
        };
        Ok(TestServer {
            addr,
            behaviour,
            requests,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Changes what the next requests get.
    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().expect("behaviour lock") = behaviour;
    }

    /// Requests read so far (answered or not).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Closes the listener and every held connection.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("the server thread panicked");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(
    listener: TcpListener,
    behaviour: &Mutex<Behaviour>,
    requests: &AtomicUsize,
    stop: &AtomicBool,
    max_requests: usize,
) {
    let mut held: Vec<TcpStream> = Vec::new();
    let mut served = 0usize;
    while !stop.load(Ordering::SeqCst) && served < max_requests {
        let mut stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            Err(_) => continue,
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        if !read_request(&mut stream) {
            continue;
        }
        served += 1;
        requests.fetch_add(1, Ordering::SeqCst);
        let now = behaviour.lock().expect("behaviour lock").clone();
        match now {
            Behaviour::Answer { status, body } => {
                let head = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    if status == 200 { "OK" } else { "Not OK" },
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
                let _ = stream.flush();
            }
            Behaviour::Silent => held.push(stream),
        }
    }
    // Until stopped, keep silent connections open (the listener closes
    // when the request budget is spent).
    drop(listener);
    while !held.is_empty() && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reads up to the end of the request head (bounded); false on EOF/error.
fn read_request(stream: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while buf.len() < 64 * 1024 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    return true;
                }
            }
        }
    }
    false
}
