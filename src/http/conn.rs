//! The HTTP/1.1 connection loop: one coroutine per connection, keep-alive and pipelining,
//! request framing ([`super::framing`]) with limits, timeouts, a cap on connections, fair
//! turns between busy connections, panic isolation and a graceful stop.

use super::budget::{BodyBudget, Held};
use super::framing::{Frame, Framer, Head};
use super::idle;
use super::peers::{ClientConnections, ClientSlot, IpRange};
use super::response::{reason, Response};
use super::socket::Socket;
use super::{Handler, LogField, Request};
use crate::runtime::{spawn, Listener, Stream};
use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::unix::io::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
/// Pipelined requests a connection answers in one turn (each already followed by more
/// from the client when it was read); past them it is closed after the last answer (RFC 9112 lets a server close a
/// persistent connection; a pipelining client resends what was not answered), so one
/// connection whose socket always has data cannot hold its worker. A client that waits for
/// each answer (every MCP client) never reaches it.
const TURN_REQUESTS: usize = 32;
/// A keep-alive connection idle this long rests: its coroutine ends (stack and buffers
/// go) and its socket is parked ([`idle::park`]) until the client sends again, so an idle
/// connection costs a few hundred bytes while a busy one keeps its buffers between
/// requests.
const REST_AFTER: Duration = Duration::from_secs(1);
/// How long a connection accepted past `max_connections` may wait before its request.
const OVERFLOW_IDLE: Duration = Duration::from_secs(2);
/// How long a request may wait for room in the body budget before its 503.
const BUDGET_WAIT: Duration = Duration::from_secs(1);
/// How often a request waiting for room looks again.
const BUDGET_POLL: Duration = Duration::from_millis(50);
/// Connections past `max_connections` that are still accepted for one request each:
/// `/health`, `/ready` and the admin API are served, anything else gets 503. Past this
/// reserve too, a new connection is closed at once.
const OVERFLOW_RESERVE: usize = 32;

/// Limits and timeouts that every connection obeys.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted request body in bytes (413 beyond, without reading it).
    pub max_body: usize,
    /// How long a keep-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// How long a client may take to send one whole request once it has started.
    pub request_timeout: Duration,
    /// Connections served in full at once; see [`OVERFLOW_RESERVE`] for the ones past it.
    pub max_connections: usize,
    /// Connections one client address may hold (`MAX_CONNECTIONS_PER_CLIENT`): past it
    /// its oldest idle one is shut down, or the new one refused when all are busy.
    pub max_client_connections: usize,
    /// Peers exempt from `max_client_connections`: trusted proxies, behind which every
    /// client has the proxy's address.
    pub exempt_clients: Vec<IpRange>,
    /// Bytes every connection together may hold for request bodies
    /// (`MAX_BUFFERED_BODY_BYTES`), shared by the listeners given the same budget.
    pub body_budget: Arc<BodyBudget>,
}

/// The default `max_connections`: three quarters of the open-file limit, after raising the
/// soft limit to the hard one (the rest is left for HubSpot calls, the registry and the
/// overflow reserve), so the server is never the one that runs out of descriptors.
#[allow(unsafe_code, reason = "getrlimit/setrlimit have no safe std wrapper")]
pub fn default_max_connections() -> usize {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    let limit = unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 768;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
        lim.rlim_cur
    };
    (usize::try_from(limit).unwrap_or(usize::MAX) / 4 * 3).clamp(16, 1 << 24)
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
    listener: Listener,
    handler: Arc<H>,
    limits: Limits,
    shutdown: Arc<Shutdown>,
) {
    let live = Arc::new(AtomicUsize::new(0));
    let clients =
        ClientConnections::new(limits.max_client_connections, limits.exempt_clients.clone());
    let mut accept_failed = Throttle::default();
    let mut over_cap = Throttle::default();
    let mut client_full = Throttle::default();
    loop {
        let stream = listener.accept();
        if shutdown.is_stopping() {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(err) => {
                // Out of descriptors, every accept fails at once: say so once a second.
                accept_failed.warn(|more| format!("accept failed: {err}{more}"));
                crate::runtime::timer::sleep(Duration::from_millis(10));
                continue;
            }
        };
        // A dual-stack listener (`HOST=::`) sees IPv4 clients as `::ffff:a.b.c.d`: they
        // are named (and counted, and matched against TRUSTED_PROXIES) as `a.b.c.d`.
        let peer = stream.std().peer_addr().map_or(
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            |addr| addr.ip().to_canonical(),
        );
        // Declared after `stream`, so dropped before it: the table never names a closed
        // descriptor.
        let client = match clients.admit(peer, stream.as_raw_fd()) {
            Ok(client) => client,
            Err(()) => {
                client_full.warn(|more| {
                    format!(
                        "{} holds MAX_CONNECTIONS_PER_CLIENT={} busy connections: a new one was refused{more}",
                        crate::http::client_key(peer),
                        limits.max_client_connections
                    )
                });
                refuse_at_once(stream);
                continue;
            }
        };
        let count = live.fetch_add(1, Ordering::SeqCst) + 1;
        let guard = LiveConnection(live.clone());
        if count > limits.max_connections {
            over_cap.warn(|more| {
                format!(
                    "{count} connections, past MAX_CONNECTIONS={}: new ones get 503 except /health, /ready and the admin API{more}",
                    limits.max_connections
                )
            });
            if count > limits.max_connections + OVERFLOW_RESERVE {
                continue;
            }
        }
        let overflow = count > limits.max_connections;
        let (handler, limits, shutdown) = (handler.clone(), limits.clone(), shutdown.clone());
        spawn(move || {
            serve_connection(Connection {
                client,
                stream: Socket::new(stream),
                peer,
                handler,
                limits,
                shutdown,
                overflow,
                _live: guard,
            })
        });
    }
}

/// Serves `conn` on the calling coroutine until it closes or rests; a resting connection
/// is parked ([`idle::park`]) and taken up by a new coroutine when its client sends again.
fn serve_connection<H: Handler>(mut conn: Connection<H>) {
    match conn.run() {
        Ok(Next::Close) => {}
        Ok(Next::Rest { until }) => {
            let fd = conn.stream.stream().as_raw_fd();
            idle::park(
                fd,
                until,
                Box::new(move |readable| {
                    if readable {
                        spawn(move || serve_connection(conn));
                    } else {
                        // Closed on a coroutine, as may's sockets expect.
                        spawn(move || drop(conn));
                    }
                }),
            );
        }
        Err(err) => log::debug!("connection closed: {err}"),
    }
}

/// How a connection's loop ended.
enum Next {
    /// The connection is done (closed by either side, timed out or refused).
    Close,
    /// Idle past [`REST_AFTER`]: park it until its client sends again or `until` passes.
    Rest { until: Instant },
}

/// Counts a connection as live until dropped.
struct LiveConnection(Arc<AtomicUsize>);

impl Drop for LiveConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Logs a repeating warning at most once a second, with how many were left out.
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    skipped: usize,
}

impl Throttle {
    fn warn(&mut self, line: impl FnOnce(String) -> String) {
        if self
            .last
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
        {
            self.skipped += 1;
            return;
        }
        let more = match self.skipped {
            0 => String::new(),
            n => format!(" ({n} more like it in the last second)"),
        };
        log::warn!("{}", line(more));
        self.last = Some(Instant::now());
        self.skipped = 0;
    }
}

/// Whether the client asked to close after this answer: a `close` option in any
/// `Connection` header (a comma list, any case, RFC 9110 7.6.1) wins; else HTTP/1.0 closes
/// unless it asked for `keep-alive`.
fn connection_close(headers: &[httparse::Header<'_>], http10: bool) -> bool {
    let options = || {
        headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .flat_map(|h| h.value.split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
    };
    if options().any(|o| o.eq_ignore_ascii_case(b"close")) {
        return true;
    }
    http10 && !options().any(|o| o.eq_ignore_ascii_case(b"keep-alive"))
}

struct Connection<H> {
    /// This connection's place among its client's (`None` for an exempt peer). First, so
    /// it is dropped before the socket: the table never names a closed descriptor.
    client: Option<ClientSlot>,
    stream: Socket,
    peer: std::net::IpAddr,
    handler: Arc<H>,
    limits: Limits,
    shutdown: Arc<Shutdown>,
    /// Accepted past `max_connections`: one request, and only the always-served routes.
    overflow: bool,
    /// Counts this connection as live (resting included) until it is dropped.
    _live: LiveConnection,
}

impl<H: Handler> Connection<H> {
    fn run(&mut self) -> io::Result<Next> {
        let _ = self.stream.stream().set_nodelay(true);
        // `rbuf[..filled]` holds received bytes. The rest of `rbuf` is zeroed once when it
        // grows and then reused, so a read never has to clear its target first.
        let mut rbuf: Vec<u8> = vec![0; INITIAL_READ];
        let mut filled = 0;
        let mut wbuf: Vec<u8> = Vec::new();
        let mut framer = Framer::new(self.limits.max_body);
        // What the read buffer holds of the body budget.
        let mut held = Held::new(&self.limits.body_budget);
        let mut request_started: Option<Instant> = None;
        let mut sent_continue = false;
        // Requests answered since this connection last waited for its client.
        let mut turn_requests = 0;
        // When the connection last became idle (answered everything it had received).
        let mut idle_since = Instant::now();
        // A connection past the cap holds a reserve place: it gets little time to speak,
        // before its request and to send all of it.
        let (idle_timeout, request_timeout) = if self.overflow {
            (
                self.limits.idle_timeout.min(OVERFLOW_IDLE),
                self.limits.request_timeout.min(OVERFLOW_IDLE),
            )
        } else {
            (self.limits.idle_timeout, self.limits.request_timeout)
        };
        loop {
            // Answer every complete request in the buffer (pipelining), then flush once.
            let mut start = 0;
            let mut close = false;
            loop {
                match framer.advance(&mut rbuf[start..filled]) {
                    Frame::Complete {
                        head,
                        consumed,
                        body,
                    } => {
                        if !self.head_arrived() {
                            return Ok(Next::Close);
                        }
                        // Nothing queued behind this request, here or on the socket: the
                        // client waits for this answer (every sequential client), and the
                        // read after it will wait for the client. That ends a turn; only a
                        // client that pipelines has more queued already.
                        if start + consumed == filled && !self.stream.bytes_waiting() {
                            turn_requests = 0;
                        }
                        let large_body;
                        (close, large_body) =
                            self.answer(&rbuf[start..start + consumed], &head, body, &mut wbuf);
                        if let Some(body) = large_body {
                            self.write(&wbuf)?;
                            wbuf.clear();
                            self.write(&body)?;
                        }
                        start += consumed;
                        request_started = None;
                        sent_continue = false;
                        if close {
                            break;
                        }
                        turn_requests += 1;
                        if turn_requests >= TURN_REQUESTS {
                            self.write(&wbuf)?;
                            return Ok(Next::Close);
                        }
                    }
                    Frame::Partial {
                        continue_100,
                        new_head,
                    } => {
                        if new_head && !self.head_arrived() {
                            return Ok(Next::Close);
                        }
                        // Before any 100 Continue: a request the head decides is answered
                        // without its body (see `Handler::precheck`).
                        if new_head
                            && framer.head().is_some_and(|head| {
                                self.precheck(&rbuf[start..filled], head, &mut wbuf)
                            })
                        {
                            close = true;
                            break;
                        }
                        // A body of known size has its room taken now, before any
                        // 100 Continue invites it: refused from the head when there is none.
                        if new_head
                            && framer
                                .expected_len()
                                .is_some_and(|total| !self.room_for(&mut held, total))
                        {
                            over_budget(&mut wbuf);
                            close = true;
                            break;
                        }
                        if continue_100 && !sent_continue {
                            wbuf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                            sent_continue = true;
                        }
                        break;
                    }
                    Frame::Reject(status, message) => {
                        refuse(&mut wbuf, status, message);
                        close = true;
                        break;
                    }
                }
            }
            rbuf.copy_within(start..filled, 0);
            filled -= start;
            // All answered: the body bytes go back to the budget, and the connection may be
            // shed from now on (both before the answer is sent, so a client that has it
            // finds them done).
            if filled == 0 {
                if rbuf.len() > KEEP_BUFFER {
                    rbuf = vec![0; INITIAL_READ];
                    held.shrink_to(rbuf.capacity());
                }
                if let Some(client) = &self.client {
                    client.idle();
                }
            }
            if !wbuf.is_empty() {
                self.write(&wbuf)?;
                wbuf.clear();
            }
            if close || self.shutdown.is_stopping() && filled == 0 {
                return Ok(Next::Close);
            }
            if filled == 0 && wbuf.capacity() > KEEP_BUFFER {
                wbuf = Vec::new();
            }

            // Read more, bounded by the idle timeout between requests and by the request
            // timeout once a request has begun.
            let deadline = if filled == 0 {
                idle_since = Instant::now();
                idle_since + idle_timeout.min(REST_AFTER)
            } else {
                *request_started.get_or_insert_with(Instant::now) + request_timeout
            };
            if !self.grow(&mut rbuf, filled, framer.expected_len(), &mut held) {
                let mut refusal = Vec::new();
                over_budget(&mut refusal);
                self.write(&refusal)?;
                return Ok(Next::Close);
            }
            let was_idle = filled == 0;
            match self.stream.read_by(&mut rbuf[filled..], deadline) {
                Ok(0) => return Ok(Next::Close),
                Ok(n) => filled += n,
                Err(err) if is_timeout(&err) && filled == 0 && idle_timeout > REST_AFTER => {
                    return Ok(Next::Rest {
                        until: idle_since + idle_timeout,
                    });
                }
                Err(err) if is_timeout(&err) => {
                    if filled > 0 {
                        self.timed_out()?;
                    }
                    return Ok(Next::Close);
                }
                Err(err) => return Err(err),
            }
            // Shed while it waited (its client opened one too many): close. It stays
            // sheddable until a whole request head has come (`head_arrived`), so connections
            // that only ever send part of a head cannot hold their address's places.
            if was_idle && self.client.as_ref().is_some_and(ClientSlot::is_shed) {
                return Ok(Next::Close);
            }
            if request_started.is_none() && filled > 0 {
                request_started = Some(Instant::now());
            }
        }
    }

    /// Makes room in `rbuf` for the next read: at least [`MIN_READ`] bytes past `filled`,
    /// or the whole request when its size is known (`expected`, allocated once). Growth
    /// is taken from the body budget first; false when it has no room even after
    /// [`BUDGET_WAIT`].
    fn grow(
        &self,
        rbuf: &mut Vec<u8>,
        filled: usize,
        expected: Option<usize>,
        held: &mut Held,
    ) -> bool {
        let want = match expected {
            Some(total) if total > filled => total,
            _ if rbuf.len() - filled >= MIN_READ => return true,
            _ => filled + READ_CHUNK,
        };
        if want <= rbuf.len() {
            return true;
        }
        if want > rbuf.capacity() {
            // Doubling (amortised) for a body of unknown size; exactly the request else.
            let capacity = match expected {
                Some(_) => want,
                None => want.max(rbuf.capacity() * 2),
            };
            if !self.room_for(held, capacity) {
                return false;
            }
            rbuf.reserve_exact(capacity - rbuf.len());
        }
        rbuf.resize(want, 0);
        true
    }

    /// Makes `held` cover a read buffer of `capacity` bytes, waiting up to
    /// [`BUDGET_WAIT`] for other requests to give bytes back; false when they did not.
    fn room_for(&self, held: &mut Held, capacity: usize) -> bool {
        let deadline = Instant::now() + BUDGET_WAIT;
        loop {
            if held.cover(capacity) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            crate::runtime::timer::sleep(BUDGET_POLL);
        }
    }

    /// A client that started a request and did not finish it in time gets 408.
    #[cold]
    #[inline(never)]
    fn timed_out(&mut self) -> io::Result<()> {
        let mut wbuf = Vec::new();
        write_response(
            &mut wbuf,
            &Response::error(408, "the request was not received in time"),
            true,
        );
        self.write(&wbuf)
    }

    /// A request's head is complete: the connection works for its client from now on and
    /// may no longer be shed for a new one. False when it was shed already (it must close).
    fn head_arrived(&self) -> bool {
        self.client.as_ref().is_none_or(ClientSlot::busy)
    }

    /// Writes `bytes` to the client, which has the request timeout to take them.
    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        self.stream
            .write_all_by(bytes, Instant::now() + self.limits.request_timeout)
    }

    /// Handles one framed request and writes its response into `wbuf`, all but a body of
    /// [`DIRECT_BODY`] bytes or more, which is returned to be written after `wbuf`. The
    /// flag is true when the connection must close afterwards.
    // Not inlined: its locals would widen the loop's frame, which stays on the stack (and
    // resident) while the connection waits.
    #[inline(never)]
    fn answer(
        &self,
        raw: &[u8],
        head: &Head,
        body: Range<usize>,
        wbuf: &mut Vec<u8>,
    ) -> (bool, Option<Vec<u8>>) {
        let headers = header_list(raw, head);
        let req = self.request(raw, head, &headers, body);
        let wants_close = connection_close(&headers, head.http10);
        self.shutdown.in_flight.fetch_add(1, Ordering::SeqCst);
        let response = if self.overflow && !always_served(req.path) {
            overflow_refusal()
        } else {
            match self.guarded(&req, || self.handler.handle(&req)) {
                Ok(response) | Err(response) => response,
            }
        };
        let close = wants_close || self.overflow || self.shutdown.is_stopping();
        write_head(wbuf, &response, close);
        self.shutdown.in_flight.fetch_sub(1, Ordering::SeqCst);
        // The answer to HEAD is the head alone (its Content-Length is the GET body's).
        if req.method == "HEAD" {
            return (close, None);
        }
        if response.body.len() >= DIRECT_BODY {
            return (close, Some(response.body));
        }
        wbuf.extend_from_slice(&response.body);
        (close, None)
    }

    /// Answers a request whose body is still to come from its head alone, into `wbuf`,
    /// when the handler decides from it ([`Handler::precheck`]; past `max_connections`, the
    /// 503 of the routes not served there): true when it did, and the connection must
    /// close (the body was not read).
    #[inline(never)]
    fn precheck(&self, raw: &[u8], head: &Head, wbuf: &mut Vec<u8>) -> bool {
        let headers = header_list(raw, head);
        let req = self.request(raw, head, &headers, 0..0);
        let response = if self.overflow && !always_served(req.path) {
            overflow_refusal()
        } else {
            match self.guarded(&req, || self.handler.precheck(&req)) {
                Ok(Some(response)) | Err(response) => response,
                Ok(None) => return false,
            }
        };
        write_head(wbuf, &response, true);
        if req.method != "HEAD" {
            wbuf.extend_from_slice(&response.body);
        }
        true
    }

    /// The request `head` describes, over `raw` (its bytes), with `headers` from [`header_list`].
    fn request<'r>(
        &self,
        raw: &'r [u8],
        head: &Head,
        headers: &'r [httparse::Header<'r>],
        body: Range<usize>,
    ) -> Request<'r> {
        let target = text(raw, &head.target);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            peer: self.peer,
            method: text(raw, &head.method),
            path,
            query,
            headers,
            body: &raw[body],
        }
    }

    /// What `call` (the handler) returns; `Err` with a 500 when it panics.
    fn guarded<R>(&self, req: &Request, call: impl FnOnce() -> R) -> Result<R, Response> {
        match catch_unwind(AssertUnwindSafe(call)) {
            Ok(answer) => Ok(answer),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                log::error!(
                    "handler panicked on {} {}: {}",
                    LogField(req.method, 16),
                    LogField(&super::redacted_path(req.path), 200),
                    LogField(&what, 500)
                );
                Err(Response::json_bytes(
                    500,
                    br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error: the server failed while handling this request; it has been logged"}}"#.to_vec(),
                ))
            }
        }
    }
}

/// The headers of `head`, over `raw` (its bytes).
fn header_list<'r>(raw: &'r [u8], head: &Head) -> Vec<httparse::Header<'r>> {
    head.headers
        .iter()
        .map(|(name, value)| httparse::Header {
            name: text(raw, name),
            value: &raw[value.clone()],
        })
        .collect()
}

/// A part of the head as text (httparse checked the method, names and target are ASCII).
fn text<'r>(raw: &'r [u8], range: &Range<usize>) -> &'r str {
    std::str::from_utf8(&raw[range.clone()]).unwrap_or("")
}

/// The answer to a request whose body finds no room in `MAX_BUFFERED_BODY_BYTES`.
#[cold]
#[inline(never)]
fn over_budget(wbuf: &mut Vec<u8>) {
    log::info!("http 503: no room for a request body within MAX_BUFFERED_BODY_BYTES");
    let response = Response::error(
        503,
        "the server holds as many request bodies as MAX_BUFFERED_BODY_BYTES allows; retry in a moment",
    )
    .with_header("Retry-After", "1");
    write_response(wbuf, &response, true);
}

/// Answers a new connection 503 without reading from it, then closes it: its client
/// holds `max_client_connections` busy ones already. The answer fits a fresh socket's
/// send buffer, so the write does not wait.
#[cold]
#[inline(never)]
fn refuse_at_once(stream: Stream) {
    use std::io::Write;
    let mut wbuf = Vec::new();
    let response = Response::error(
        503,
        "this address holds as many busy connections as MAX_CONNECTIONS_PER_CLIENT allows; reuse one, or retry in a moment",
    )
    .with_header("Retry-After", "1");
    write_response(&mut wbuf, &response, true);
    // The socket is non-blocking: should the answer not fit after all, it is dropped.
    let _ = (&mut stream.std()).write_all(&wbuf);
}

/// The answer, past `max_connections`, to a route not served there.
fn overflow_refusal() -> Response {
    Response::error(
        503,
        "the server is at MAX_CONNECTIONS; retry in a moment on a new connection",
    )
    .with_header("Retry-After", "1")
}

/// The routes a connection past `max_connections` is still served: liveness, readiness
/// and the admin API (so an operator can see and act on a full server).
fn always_served(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/integrated-account")
        || path.starts_with("/integrated-account/")
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// Answers a request the framer refused, and logs why.
#[cold]
#[inline(never)]
fn refuse(wbuf: &mut Vec<u8>, status: u16, message: &str) {
    log::info!("http {status}: {message}");
    write_response(wbuf, &Response::error(status, message), true);
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
    crate::runtime::clock::with_http_date(|date| out.extend_from_slice(date.as_bytes()));
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
    use std::io::{Read, Write};

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
        let listener = Listener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits {
            max_body: 1024,
            idle_timeout: std::time::Duration::from_secs(5),
            request_timeout: std::time::Duration::from_secs(5),
            max_connections: 64,
            max_client_connections: 64,
            exempt_clients: Vec::new(),
            body_budget: BodyBudget::new(1 << 20),
        };
        let shutdown = Arc::new(Shutdown::default());
        let stopper = shutdown.clone();
        spawn(move || serve(listener, Arc::new(Panicky), limits, stopper));
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
