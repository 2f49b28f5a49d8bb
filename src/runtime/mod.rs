//! The runtime layer, what every other layer stands on: coroutines and sockets (here),
//! timers, the blocking pools, signals, the logger, the clock and base64. Its rule: it
//! knows nothing of HTTP, MCP or HubSpot, and nothing outside it touches may directly.
//!
//! The coroutine runtime's one door: every coroutine is started by [`spawn`], every
//! connection is accepted by [`Listener::accept`] and held as a [`Stream`], and may is
//! configured by [`configure`]. Nothing else in the server touches may's spawning or its
//! sockets, so the rules they need are kept here, once.
//!
//! may 0.3.51 has calls whose wake-ups race across worker threads (a use-after-free we
//! patched in `vendor/may`, and the same shape left in its socket reads, writes and
//! accepts, its sleep and its timed waits). docs/runtime.md lists them and says why we
//! stay on may; clippy.toml refuses them outside this module (`make lint`), and
//! tests/blackbox/runtime_fence.rs checks that only this module lifts that refusal. What the rest
//! of the server uses instead: [`spawn`] here, `crate::runtime::timer` for sleeps and deadlines,
//! and `WaitIo::wait_io` (the patched path) for every socket wait.

pub mod base64;
pub mod clock;
pub mod logger;
pub mod pool;
pub mod signals;
pub mod timer;

use may::io::{AsIoData, IoData, WaitIo};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};

/// Coroutines that may keep for reuse when they finish. may's default (1000) builds all
/// of them at start-up, which costs 1000 stack mappings (~8 MB of RSS and milliseconds of
/// start-up) before the first request; a connection beyond the cache maps a fresh stack.
const COROUTINE_CACHE: usize = 32;

/// Each coroutine's stack, in machine words (may's unit): 0x8000 words, 256 KiB of
/// address space on 64-bit targets (touched pages only count toward RSS). The deepest
/// request measured touches about 17 KiB (a tool call; README, Performance) and nesting in
/// a request is capped at 64 levels, so this leaves more than ten times the room.
const STACK_WORDS: usize = 0x8000;

/// Sets may's worker threads, coroutine stack size and stack cache; call once, before the
/// first [`spawn`].
pub fn configure(workers: usize) {
    may::config()
        .set_workers(workers)
        .set_stack_size(STACK_WORDS)
        .set_pool_capacity(COROUTINE_CACHE);
}

/// Starts `f` on a new coroutine (a handle that is dropped detaches it).
///
/// may's `spawn` is `unsafe`, and its `go!` macro hides that `unsafe` inside the caller's
/// code where the `unsafe_code` lint cannot see it; this function is the one place the
/// server spawns, so the reasons below hold for every coroutine it runs.
#[allow(
    unsafe_code,
    reason = "may's spawn is unsafe; its conditions (no thread-local held across a yield, a stack deep enough) are kept by the whole server, as the SAFETY note says"
)]
#[allow(
    clippy::disallowed_methods,
    reason = "the one call of may's spawn: clippy.toml refuses it everywhere else"
)]
pub fn spawn<F, T>(f: F) -> may::coroutine::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: may documents two conditions on spawn.
    // - Thread-locals: a coroutine can resume on another worker after any wait, so a
    //   thread-local borrowed across a wait would be another thread's. The server's
    //   thread-locals (the log line buffer in `logger.rs`, the HTTP date cache in
    //   `clock.rs`) are borrowed only inside one call that never waits: the log line is
    //   written to stderr with a plain blocking write, and the date is copied out.
    // - Stack: an overflow is not caught as a Rust panic. The stack is STACK_WORDS with a
    //   guard page below it, so an overflow faults instead of writing over memory, and
    //   the server bounds its depth (64 nesting levels in a request, iterative parsing).
    // The closure is `Send + 'static` (the bounds above, the ones `go!` checks), so it
    // may run on any worker and outlive its caller. Not blocking a worker is a rule of
    // liveness, not of soundness: ARCHITECTURE.md, "No blocking on a coroutine worker".
    unsafe { may::coroutine::spawn(f) }
}

/// A listening socket whose accepts wait through `WaitIo::wait_io`, not through may's
/// own `TcpListener::accept` (whose wait has the racy shape docs/runtime.md describes).
pub struct Listener {
    #[allow(
        clippy::disallowed_types,
        reason = "may's listener is kept for its bind (SO_REUSEADDR, SO_REUSEPORT, backlog 1024, registered with may's selector); its accept is never called"
    )]
    inner: may::net::TcpListener,
}

impl Listener {
    /// Binds and listens on `addr`.
    #[allow(
        clippy::disallowed_types,
        reason = "may's bind: see the field's reason"
    )]
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Listener> {
        may::net::TcpListener::bind(addr).map(|inner| Listener { inner })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The next connection, waiting for it on the calling coroutine. The listener's
    /// socket is non-blocking: a `WouldBlock` accept parks in `wait_io` until the
    /// selector sees the listener readable (or a stale readiness is consumed), then tries
    /// again. Call it from a coroutine only (`wait_io` parks a coroutine).
    #[allow(
        clippy::disallowed_types,
        reason = "registers the accepted socket with may's selector: see Stream"
    )]
    pub fn accept(&self) -> io::Result<Stream> {
        loop {
            match self.inner.inner().accept() {
                Ok((stream, _)) => {
                    return may::io::CoIo::new(stream)
                        .map(|io| Stream { io })
                        .map_err(io::Error::from);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.inner.wait_io();
                }
                Err(err) => return Err(err),
            }
        }
    }
}

/// An accepted connection, registered with may's selector so a coroutine can wait for
/// it with `WaitIo::wait_io`. Its I/O is the caller's own non-blocking calls on the raw
/// descriptor (`http::socket`); may's blocking `Read`/`Write` for it are not reachable.
pub struct Stream {
    #[allow(
        clippy::disallowed_types,
        reason = "CoIo's own Read and Write wait on the racy path; here it only registers the socket, and its methods stay private"
    )]
    io: may::io::CoIo<std::net::TcpStream>,
}

impl Stream {
    /// The socket, for calls that do not wait (peer address, options, a non-blocking
    /// write).
    pub fn std(&self) -> &std::net::TcpStream {
        self.io.inner()
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

/// Makes a [`Stream`] a `WaitIo`, the patched wait (vendor/may/PATCHES.md).
impl AsIoData for Stream {
    fn as_io_data(&self) -> &IoData {
        self.io.as_io_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    #[test]
    fn accepted_connections_arrive_after_the_accept_has_parked() {
        let listener = Listener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let clients: usize = 20;
        spawn(move || {
            for _ in 0..clients {
                let stream = listener.accept().unwrap();
                let _ = (&mut stream.std()).write_all(b"hi");
                tx.send(stream.std().peer_addr().is_ok()).unwrap();
            }
        });
        for _ in 0..clients {
            // Give the accept loop time to park in wait_io, so the connection wakes it.
            std::thread::sleep(Duration::from_millis(5));
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut greeting = [0u8; 2];
            client.read_exact(&mut greeting).unwrap();
            assert_eq!(&greeting, b"hi");
            assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap());
        }
    }
}
