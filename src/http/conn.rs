//! The HTTP/1.1 connection loop: one coroutine per connection, keep-alive and pipelining,
//! request framing (Content-Length or chunked) with limits, timeouts, panic isolation and
//! a graceful stop.

use super::response::{reason, Response};
use super::{Handler, Request};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most headers a request may carry (431 beyond).
const MAX_HEADERS: usize = 100;
/// Largest header block in bytes (431 beyond).
const MAX_HEADER_BYTES: usize = 8 * 1024;
/// How much the read buffer grows by at a time.
const READ_CHUNK: usize = 8 * 1024;
/// A new connection's read buffer: room for a typical request in one read.
const INITIAL_READ: usize = 2 * 1024;
/// The least free space a read is given; less, and the buffer grows by [`READ_CHUNK`].
const MIN_READ: usize = 512;
/// Buffers above this size (a large request or response) are given back when the
/// connection goes idle, so an idle keep-alive connection holds only a few KiB.
const KEEP_BUFFER: usize = 4 * 1024;
/// A response body at least this large is written to the socket from its own buffer
/// rather than copied behind its head into the write buffer (a full `tools/list` is
/// tens of KiB).
const DIRECT_BODY: usize = 16 * 1024;

/// Limits and timeouts that every connection obeys.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted request body in bytes (413 beyond, without reading it).
    pub max_body: usize,
    /// How long a keep-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// How long a client may take to send one whole request once it has started.
    pub request_timeout: Duration,
}

/// Shared state for a graceful stop: whether we are stopping and how many requests are
/// being handled right now.
#[derive(Default)]
pub struct Shutdown {
    stopping: AtomicBool,
    in_flight: AtomicUsize,
}

impl Shutdown {
    /// Starts the stop: the accept loop ends at its next wake-up and every connection
    /// closes after the response it is working on.
    pub fn begin(&self, listen_addr: SocketAddr) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop, which is parked in accept(), with a connection of our own.
        let _ =
            std::net::TcpStream::connect_timeout(&wake_addr(listen_addr), Duration::from_secs(1));
    }

    /// Whether a stop has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Waits until no request is in flight or `timeout` passes; true when all finished.
    pub fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

/// The address to connect to in order to reach a listener bound to `addr`
/// (a wildcard bind is reached through loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// Accepts connections on `listener` and serves each on its own coroutine until
/// [`Shutdown::begin`] is called. Returns when the accept loop has stopped.
pub fn serve<H: Handler>(
    listener: may::net::TcpListener,
    handler: Arc<H>,
    limits: Limits,
    shutdown: Arc<Shutdown>,
) {
    for stream in listener.incoming() {
        if shutdown.is_stopping() {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(err) => {
                log::warn!("accept failed: {err}");
                may::coroutine::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let (handler, limits, shutdown) = (handler.clone(), limits.clone(), shutdown.clone());
        let peer = stream.peer_addr().map_or(
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            |addr| addr.ip(),
        );
        may::go!(move || {
            let mut conn = Connection {
                stream,
                peer,
                handler: &*handler,
                limits: &limits,
                shutdown: &shutdown,
            };
            if let Err(err) = conn.run() {
                log::debug!("connection closed: {err}");
            }
        });
    }
}

struct Connection<'a, H> {
    stream: may::net::TcpStream,
    peer: std::net::IpAddr,
    handler: &'a H,
    limits: &'a Limits,
    shutdown: &'a Shutdown,
}

/// What one look at the read buffer found.
enum Framed {
    /// A whole request: header length, body range or decoded body, and keep-alive.
    Complete {
        consumed: usize,
        header_len: usize,
        body: Body,
    },
    /// More bytes are needed; `continue_100` when the client waits for `100 Continue`.
    Partial { continue_100: bool },
    /// The request is unusable: answer with this status and close.
    Reject(u16, &'static str),
}

enum Body {
    /// The body lies in the read buffer at this range.
    InBuffer(usize, usize),
    /// The body came chunked and was decoded here.
    Decoded(Vec<u8>),
}

impl<H: Handler> Connection<'_, H> {
    fn run(&mut self) -> io::Result<()> {
        let _ = self.stream.set_nodelay(true);
        self.stream
            .set_write_timeout(Some(self.limits.request_timeout))?;
        // `rbuf[..filled]` holds received bytes. The rest of `rbuf` is zeroed once when it
        // grows and then reused, so a read never has to clear its target first.
        let mut rbuf: Vec<u8> = vec![0; INITIAL_READ];
        let mut filled = 0;
        let mut wbuf: Vec<u8> = Vec::new();
        let mut request_started: Option<Instant> = None;
        let mut sent_continue = false;
        // The read timeout last set on the socket (setting it is a syscall).
        let mut read_timeout: Option<Duration> = None;
        loop {
            // Answer every complete request in the buffer (pipelining), then flush once.
            let mut start = 0;
            let mut close = false;
            loop {
                match frame(&rbuf[start..filled], self.limits.max_body) {
                    Framed::Complete {
                        consumed,
                        header_len,
                        body,
                    } => {
                        let large_body;
                        (close, large_body) = self.answer(
                            &rbuf[start..start + consumed],
                            header_len,
                            body,
                            &mut wbuf,
                        );
                        if let Some(body) = large_body {
                            self.stream.write_all(&wbuf)?;
                            wbuf.clear();
                            self.stream.write_all(&body)?;
                        }
                        start += consumed;
                        request_started = None;
                        sent_continue = false;
                        if close {
                            break;
                        }
                    }
                    Framed::Partial { continue_100 } => {
                        if continue_100 && !sent_continue {
                            wbuf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                            sent_continue = true;
                        }
                        break;
                    }
                    Framed::Reject(status, message) => {
                        log::info!("http {status}: {message}");
                        write_response(&mut wbuf, &error_response(status, message), true);
                        close = true;
                        break;
                    }
                }
            }
            rbuf.copy_within(start..filled, 0);
            filled -= start;
            if !wbuf.is_empty() {
                self.stream.write_all(&wbuf)?;
                wbuf.clear();
            }
            if close || self.shutdown.is_stopping() && filled == 0 {
                return Ok(());
            }
            if filled == 0 {
                if rbuf.len() > KEEP_BUFFER {
                    rbuf = vec![0; INITIAL_READ];
                }
                if wbuf.capacity() > KEEP_BUFFER {
                    wbuf = Vec::new();
                }
            }

            // Read more, bounded by the idle timeout between requests and by the request
            // timeout once a request has begun.
            let timeout = if filled == 0 {
                self.limits.idle_timeout
            } else {
                let begun = *request_started.get_or_insert_with(Instant::now);
                match self.limits.request_timeout.checked_sub(begun.elapsed()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return self.timed_out(),
                }
            };
            if read_timeout != Some(timeout) {
                self.stream.set_read_timeout(Some(timeout))?;
                read_timeout = Some(timeout);
            }
            if rbuf.len() - filled < MIN_READ {
                rbuf.resize(filled + READ_CHUNK, 0);
            }
            match self.stream.read(&mut rbuf[filled..]) {
                Ok(0) => return Ok(()),
                Ok(n) => filled += n,
                Err(err) if is_timeout(&err) => {
                    return if filled == 0 {
                        Ok(())
                    } else {
                        self.timed_out()
                    };
                }
                Err(err) => return Err(err),
            }
            if request_started.is_none() && filled > 0 {
                request_started = Some(Instant::now());
            }
        }
    }

    /// A client that started a request and did not finish it in time gets 408.
    fn timed_out(&mut self) -> io::Result<()> {
        let mut wbuf = Vec::new();
        write_response(
            &mut wbuf,
            &error_response(408, "the request was not received in time"),
            true,
        );
        self.stream.write_all(&wbuf)
    }

    /// Handles one framed request and writes its response into `wbuf`, all but a body of
    /// [`DIRECT_BODY`] bytes or more, which is returned to be written after `wbuf`. The
    /// flag is true when the connection must close afterwards.
    fn answer(
        &self,
        raw: &[u8],
        header_len: usize,
        body: Body,
        wbuf: &mut Vec<u8>,
    ) -> (bool, Option<Vec<u8>>) {
        // On the heap, not the stack: the array (3.2 KiB) would sit under the handler's
        // whole call chain, and a coroutine's deepest stack page stays resident for the
        // connection's life, while this allocation is gone when the request is answered.
        let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        // `frame` already parsed these bytes successfully.
        let _ = parsed.parse(&raw[..header_len]);
        let target = parsed.path.unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let body_bytes: &[u8] = match &body {
            Body::InBuffer(from, to) => &raw[*from..*to],
            Body::Decoded(bytes) => bytes,
        };
        let req = Request {
            peer: self.peer,
            method: parsed.method.unwrap_or("GET"),
            path,
            query,
            headers: parsed.headers,
            body: body_bytes,
        };
        let wants_close = match req.header("connection") {
            Some(value) if value.eq_ignore_ascii_case("close") => true,
            Some(value) if value.eq_ignore_ascii_case("keep-alive") => false,
            _ => parsed.version == Some(0),
        };
        self.shutdown.in_flight.fetch_add(1, Ordering::SeqCst);
        let response = match catch_unwind(AssertUnwindSafe(|| self.handler.handle(&req))) {
            Ok(response) => response,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                log::error!("handler panicked on {} {}: {what}", req.method, req.path);
                Response::json_bytes(
                    500,
                    br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error: the server failed while handling this request; it has been logged"}}"#.to_vec(),
                )
            }
        };
        let close = wants_close || self.shutdown.is_stopping();
        write_head(wbuf, &response, close);
        self.shutdown.in_flight.fetch_sub(1, Ordering::SeqCst);
        if response.body.len() >= DIRECT_BODY {
            return (close, Some(response.body));
        }
        wbuf.extend_from_slice(&response.body);
        (close, None)
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// A small JSON error body for problems found before any handler runs.
fn error_response(status: u16, message: &str) -> Response {
    Response::json(
        status,
        &serde_json::json!({"error": reason(status), "message": message, "statusCode": status}),
    )
}

/// Finds the first request in `buf` and how it is framed.
fn frame(buf: &[u8], max_body: usize) -> Framed {
    if buf.is_empty() {
        return Framed::Partial {
            continue_100: false,
        };
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let header_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEADER_BYTES => len,
        Ok(httparse::Status::Complete(_)) => {
            return Framed::Reject(431, "the request headers are larger than 8 KiB")
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEADER_BYTES => {
            return Framed::Reject(431, "the request headers are larger than 8 KiB")
        }
        Ok(httparse::Status::Partial) => {
            return Framed::Partial {
                continue_100: false,
            }
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Framed::Reject(431, "the request has more than 100 headers")
        }
        Err(httparse::Error::Version) => {
            return Framed::Reject(505, "only HTTP/1.0 and HTTP/1.1 are supported")
        }
        Err(_) => return Framed::Reject(400, "the request is not valid HTTP/1.1"),
    };
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut expect_continue = false;
    for header in req.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let parsed = std::str::from_utf8(header.value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok());
            match (parsed, content_length) {
                (None, _) => return Framed::Reject(400, "Content-Length is not a number"),
                (Some(n), Some(prev)) if n != prev => {
                    return Framed::Reject(400, "conflicting Content-Length headers")
                }
                (Some(n), _) => content_length = Some(n),
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let value = String::from_utf8_lossy(header.value).to_ascii_lowercase();
            if value.trim() != "chunked" {
                return Framed::Reject(
                    501,
                    "only the chunked Transfer-Encoding is supported; send Content-Length instead",
                );
            }
            chunked = true;
        } else if header.name.eq_ignore_ascii_case("expect") {
            expect_continue = header.value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    if chunked && content_length.is_some() {
        return Framed::Reject(
            400,
            "a request may not carry both Content-Length and Transfer-Encoding",
        );
    }
    if chunked {
        return match dechunk(&buf[header_len..], max_body) {
            Dechunked::Done(body, used) => Framed::Complete {
                consumed: header_len + used,
                header_len,
                body: Body::Decoded(body),
            },
            Dechunked::NeedMore => Framed::Partial {
                continue_100: expect_continue,
            },
            Dechunked::TooLarge => {
                Framed::Reject(413, "the request body is larger than MAX_REQUEST_SIZE")
            }
            Dechunked::Invalid => Framed::Reject(400, "the chunked request body is malformed"),
        };
    }
    let length = content_length.unwrap_or(0);
    if length > max_body {
        return Framed::Reject(413, "the request body is larger than MAX_REQUEST_SIZE");
    }
    if buf.len() < header_len + length {
        return Framed::Partial {
            continue_100: expect_continue,
        };
    }
    Framed::Complete {
        consumed: header_len + length,
        header_len,
        body: Body::InBuffer(header_len, header_len + length),
    }
}

enum Dechunked {
    Done(Vec<u8>, usize),
    NeedMore,
    TooLarge,
    Invalid,
}

/// Decodes a chunked body at the start of `buf` (RFC 9112 §7.1), trailers skipped.
fn dechunk(buf: &[u8], max_body: usize) -> Dechunked {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[pos..]) else {
            return if buf.len() - pos > 1024 {
                Dechunked::Invalid
            } else {
                Dechunked::NeedMore
            };
        };
        let line = &buf[pos..pos + line_end];
        let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
        let size = match std::str::from_utf8(size_text)
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= 16)
            .and_then(|s| usize::from_str_radix(s, 16).ok())
        {
            Some(size) => size,
            None => return Dechunked::Invalid,
        };
        pos += line_end + 2;
        if size == 0 {
            // Trailer section: header lines until an empty line.
            loop {
                let Some(end) = find_crlf(&buf[pos..]) else {
                    return Dechunked::NeedMore;
                };
                pos += end + 2;
                if end == 0 {
                    return Dechunked::Done(body, pos);
                }
            }
        }
        if body.len() + size > max_body {
            return Dechunked::TooLarge;
        }
        if buf.len() < pos + size + 2 {
            return Dechunked::NeedMore;
        }
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Dechunked::Invalid;
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Serializes `response` into `out`, with framing headers.
fn write_response(out: &mut Vec<u8>, response: &Response, close: bool) {
    // The head is a few hundred bytes: one allocation for head and body.
    out.reserve(512 + response.body.len());
    write_head(out, response, close);
    out.extend_from_slice(&response.body);
}

/// The status line and headers of `response`, up to and with the blank line.
fn write_head(out: &mut Vec<u8>, response: &Response, close: bool) {
    let mut itoa = [0u8; 20];
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(fmt_usize(response.status as usize, &mut itoa));
    out.push(b' ');
    out.extend_from_slice(reason(response.status).as_bytes());
    out.extend_from_slice(b"\r\nServer: hubspot-mcp-server\r\nDate: ");
    crate::clock::with_http_date(|date| out.extend_from_slice(date.as_bytes()));
    if let Some(content_type) = response.content_type {
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(content_type.as_bytes());
    }
    if response.status >= 200 && response.status != 204 {
        out.extend_from_slice(b"\r\nContent-Length: ");
        out.extend_from_slice(fmt_usize(response.body.len(), &mut itoa));
    }
    for (name, value) in &response.headers {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
    }
    if close {
        out.extend_from_slice(b"\r\nConnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
}

/// Formats `n` in decimal into `buf` without allocating.
fn fmt_usize(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete_body(buf: &[u8]) -> Vec<u8> {
        match frame(buf, 1024) {
            Framed::Complete {
                body: Body::InBuffer(a, b),
                ..
            } => buf[a..b].to_vec(),
            Framed::Complete {
                body: Body::Decoded(v),
                ..
            } => v,
            _ => panic!("not complete"),
        }
    }

    fn rejected(buf: &[u8]) -> u16 {
        match frame(buf, 1024) {
            Framed::Reject(status, _) => status,
            _ => 0,
        }
    }

    #[test]
    fn frames_content_length_and_chunked_bodies() {
        assert_eq!(
            complete_body(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcXX"),
            b"abc"
        );
        assert_eq!(
            complete_body(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"),
            b"abcde"
        );
        assert!(matches!(
            frame(
                b"POST / HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\nab",
                1024
            ),
            Framed::Partial { continue_100: true }
        ));
    }

    #[test]
    fn rejects_bad_framing_with_the_right_status() {
        assert_eq!(
            rejected(b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
            400
        );
        assert_eq!(
            rejected(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            rejected(b"POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n"),
            413
        );
        assert_eq!(
            rejected(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            501
        );
        assert_eq!(
            rejected(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            400
        );
        assert_eq!(
            rejected(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            400
        );
        assert_eq!(
            rejected(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n"),
            413
        );
        let many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
        assert_eq!(
            rejected(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            431
        );
        let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(9000));
        assert_eq!(rejected(big.as_bytes()), 431);
    }

    struct Panicky;

    impl Handler for Panicky {
        fn handle(&self, req: &Request) -> Response {
            if req.path == "/panic" {
                panic!("deliberate test panic");
            }
            Response::json_bytes(200, b"{}".to_vec())
        }
    }

    #[test]
    fn a_panicking_handler_gets_500_and_the_server_stays_up() {
        let listener = may::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits {
            max_body: 1024,
            idle_timeout: std::time::Duration::from_secs(5),
            request_timeout: std::time::Duration::from_secs(5),
        };
        let shutdown = Arc::new(Shutdown::default());
        let stopper = shutdown.clone();
        may::go!(move || serve(listener, Arc::new(Panicky), limits, stopper));
        let exchange = |path: &str| {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).unwrap();
            reply
        };
        let reply = exchange("/panic");
        assert!(reply.starts_with("HTTP/1.1 500 "), "{reply}");
        assert!(reply.contains("-32603"), "{reply}");
        assert!(exchange("/fine").starts_with("HTTP/1.1 200 "));
        shutdown.begin(addr);
        assert!(shutdown.drain(std::time::Duration::from_secs(1)));
    }

    #[test]
    fn writes_framed_responses() {
        let mut out = Vec::new();
        write_response(&mut out, &Response::json_bytes(200, b"{}".to_vec()), true);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("\r\nContent-Length: 2\r\n"));
        assert!(text.ends_with("Connection: close\r\n\r\n{}"));
    }
}
