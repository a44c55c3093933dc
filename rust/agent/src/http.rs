//! The agent's HTTP listener: hyper's HTTP/1.1 server on a current-thread
//! tokio runtime that owns one thread, serving a plain request handler.
//!
//! Each connection is its own task, so a slow client never holds up the
//! others; what a client can take is bounded by [`Limits`]: connections at
//! once (the rest are closed on accept), time to send the request head, bytes
//! of request head and body, and the whole exchange. One request per
//! connection (no keep-alive): scrapers reconnect, and an idle connection
//! never outlives its exchange. The handler is a pure function of the
//! request, so routing is tested (and fuzzed) without a socket.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{oneshot, Semaphore};

/// What one client may take from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; a connection beyond them is closed as
    /// soon as it is accepted.
    pub max_connections: usize,
    /// Time from accepting a connection to the end of its request head; a
    /// client that is slower gets `408 Request Timeout` and is closed.
    pub head_timeout: Duration,
    /// Time for the whole exchange (head, body, handler, response).
    pub exchange_timeout: Duration,
    /// Bytes of request line and headers (hyper's minimum is 8 KiB); more
    /// gets `431 Request Header Fields Too Large`.
    pub max_head_bytes: usize,
    /// Bytes of request body; more gets `413 Content Too Large`.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            head_timeout: Duration::from_secs(5),
            exchange_timeout: Duration::from_secs(10),
            max_head_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// A request as the handler sees it: the body is whole and within
/// [`Limits::max_body_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, without `?` (empty when there is none).
    pub query: String,
    /// The body's bytes.
    pub body: Vec<u8>,
}

/// A handler's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// Further headers (e.g. `Allow` of a 405).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A `text/plain` answer.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: body.into().into_bytes(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// What answers requests; called on the server's thread, so it must be
/// quick (the metrics handler only renders the last tick's state).
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Counters of the listener itself.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Requests answered by the handler.
    pub requests: AtomicU64,
    /// Connections closed on accept because `max_connections` were open.
    pub rejected_connections: AtomicU64,
    /// Exchanges that ended in an error (timeout, malformed request, reset).
    pub failed_exchanges: AtomicU64,
}

/// A running listener; stopped and joined on drop.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stats: Arc<ServerStats>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port) and serves `handler` within
    /// `limits` on a thread named `name`.
    pub fn start(
        name: &str,
        addr: SocketAddr,
        limits: Limits,
        handler: Handler,
    ) -> io::Result<HttpServer> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            let std_listener = std::net::TcpListener::bind(addr)?;
            std_listener.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let addr = listener.local_addr()?;
        let stats = Arc::new(ServerStats::default());
        let (stop, stopped) = oneshot::channel();
        let thread_stats = stats.clone();
        let thread = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(accept_loop(
                    listener,
                    limits,
                    handler,
                    thread_stats,
                    stopped,
                ));
            })?;
        Ok(HttpServer {
            addr,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listener's own counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    limits: Limits,
    handler: Handler,
    stats: Arc<ServerStats>,
    mut stopped: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: say so, back off, go on.
                log::warn!(target: "serenity", "http listener: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if stats.rejected_connections.fetch_add(1, Ordering::Relaxed) == 0 {
                log::warn!(
                    target: "serenity",
                    "http listener: {} connections are open; closing new ones until some end \
                     (said once; counted in the listener's rejected connections)",
                    limits.max_connections
                );
            }
            drop(stream);
            continue;
        };
        let handler = handler.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(why) = exchange(TokioIo::new(stream), limits, handler, &stats).await {
                stats.failed_exchanges.fetch_add(1, Ordering::Relaxed);
                log::debug!(target: "serenity", "http exchange with {peer}: {why}");
            }
        });
    }
}

/// hyper's HTTP/1 connection settings for `limits`: one request per
/// connection, the head timeout and size, and half-closed clients (a client
/// may shut its write side once the request is sent) still answered.
fn builder(limits: Limits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .keep_alive(false)
        .half_close(true);
    builder
}

/// Serves one connection (a socket, or the in-memory pipe of
/// [`serve_bytes`]): one request, one response, within the limits.
async fn exchange<I>(
    io: I,
    limits: Limits,
    handler: Handler,
    stats: &ServerStats,
) -> Result<(), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
{
    let service = service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(answer(req, limits, &handler).await) }
    });
    let connection = builder(limits).serve_connection(io, service);
    match tokio::time::timeout(limits.exchange_timeout, connection).await {
        Ok(Ok(())) => {
            stats.requests.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "not done within {:?}; closed",
            limits.exchange_timeout
        )),
    }
}

async fn answer(
    req: hyper::Request<Incoming>,
    limits: Limits,
    handler: &Handler,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, limits.max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let response = if too_large {
                Response::text(
                    413,
                    format!("request body over {} bytes\n", limits.max_body_bytes),
                )
            } else {
                Response::text(400, format!("cannot read the request body: {e}\n"))
            };
            return into_hyper(response);
        }
    };
    let request = Request {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        body,
    };
    into_hyper(handler(&request))
}

fn into_hyper(response: Response) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder()
        .status(response.status)
        .header("Content-Type", response.content_type);
    for (name, value) in &response.headers {
        builder = builder.header(*name, value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|e| {
            // Only a handler's bad header value gets here.
            let mut fallback = hyper::Response::new(Full::new(Bytes::from(format!(
                "the handler's response is not valid HTTP: {e}\n"
            ))));
            *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
}

/// Feeds raw bytes to one server connection as if a client sent them, and
/// returns what the server wrote back: the request parsing and the
/// handler, without a socket (for the fuzz target and the tests).
pub fn serve_bytes(input: &[u8], limits: Limits, handler: Handler) -> Vec<u8> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(r) => r,
        Err(_) => return Vec::new(),
    };
    let input = input.to_vec();
    runtime.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let stats = ServerStats::default();
        let served = exchange(TokioIo::new(server), limits, handler, &stats);
        let mut out = Vec::new();
        let sent = async {
            let _ = client.write_all(&input).await;
            let _ = client.shutdown().await;
            let _ =
                tokio::time::timeout(limits.exchange_timeout, client.read_to_end(&mut out)).await;
        };
        let _ = tokio::join!(served, sent);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo() -> Handler {
        Arc::new(|r: &Request| {
            Response::text(
                200,
                format!("{} {} {} {}", r.method, r.path, r.query, r.body.len()),
            )
        })
    }

    fn quick() -> Limits {
        Limits {
            head_timeout: Duration::from_millis(500),
            exchange_timeout: Duration::from_secs(2),
            ..Limits::default()
        }
    }

    fn status_of(out: &[u8]) -> String {
        String::from_utf8_lossy(out)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    }

    #[test]
    fn a_whole_request_reaches_the_handler_with_path_query_and_body() {
        let out = serve_bytes(
            b"POST /a/b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
            quick(),
            echo(),
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(text.ends_with("POST /a/b x=1 3"), "{text}");
    }

    #[test]
    fn a_body_over_the_limit_is_413_and_never_reaches_the_handler() {
        let limits = Limits {
            max_body_bytes: 10,
            ..quick()
        };
        let out = serve_bytes(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n01234567890",
            limits,
            Arc::new(|_: &Request| panic!("the handler must not see an oversized body")),
        );
        assert_eq!(status_of(&out), "HTTP/1.1 413 Payload Too Large");
    }

    #[test]
    fn a_head_over_the_limit_is_refused_with_431() {
        let mut request = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".to_vec();
        request.extend(std::iter::repeat_n(b'a', 20 * 1024));
        request.extend_from_slice(b"\r\n\r\n");
        let out = serve_bytes(&request, quick(), echo());
        assert_eq!(
            status_of(&out),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
    }

    #[test]
    fn garbage_is_a_400_not_a_crash() {
        let out = serve_bytes(b"\x00\xff\r\n\r\nnot http at all", quick(), echo());
        assert_eq!(status_of(&out), "HTTP/1.1 400 Bad Request");
    }
}
