//! Host name lookups for upstream connections (HubSpot, a proxy, etcd) without a thread per
//! lookup. ureq's own resolver spawns an OS thread for every resolution once a timeout is
//! set, and it resolves before it looks in its connection pool, so every call paid for a
//! thread even when a kept-alive connection was waiting.
//!
//! Here ureq's resolver step ([`LateResolver`]) resolves nothing; the name is looked up only
//! when a new connection must be opened ([`ResolvingTcp`], in front of ureq's
//! `TcpConnector`), so a call on a pooled connection does no lookup at all. A lookup is
//! served from a cache of answers younger than [`TTL`], or else handed to one of
//! [`LOOKUP_THREADS`] long-lived threads that run the blocking `getaddrinfo`; the caller
//! (a pool thread, never a coroutine) waits for the answer no longer than the call's
//! timeout, and callers that want the same name at once share one lookup. A lookup still
//! running when its caller gave up goes on and fills the cache for the next call.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::Duration as UreqDuration;
use ureq::unversioned::transport::{
    ConnectionDetails, Connector, NextTimeout, TcpConnector, Transport,
};

/// How long an answer is reused. `getaddrinfo` does not say the record's own TTL; HubSpot's
/// records have a TTL of a minute or more, and a connection that fails evicts its answer.
pub const TTL: Duration = Duration::from_secs(30);
/// Threads that run lookups: two, so one slow name does not hold up every other.
const LOOKUP_THREADS: usize = 2;
/// Names waiting for a lookup thread; past it a lookup fails at once instead of queueing.
const QUEUE: usize = 64;
/// The most addresses kept per name (ureq's own limit).
const MAX_ADDRS: usize = 16;

/// One name's entry: an answer with its expiry, or a lookup under way and who waits for it.
enum Entry {
    Ready(Vec<SocketAddr>, Instant),
    Pending(Vec<SyncSender<Answer>>),
}

type Answer = Result<Vec<SocketAddr>, String>;

struct Lookups {
    cache: Mutex<HashMap<String, Entry>>,
    queue: SyncSender<String>,
}

fn lookups() -> &'static Lookups {
    static LOOKUPS: OnceLock<Lookups> = OnceLock::new();
    LOOKUPS.get_or_init(|| {
        let (queue, names) = sync_channel::<String>(QUEUE);
        let names = Arc::new(Mutex::new(names));
        for i in 0..LOOKUP_THREADS {
            let names = names.clone();
            std::thread::Builder::new()
                .name(format!("dns-{i}"))
                .spawn(move || lookup_thread(&names))
                .expect("cannot start a DNS lookup thread");
        }
        Lookups {
            cache: Mutex::new(HashMap::new()),
            queue,
        }
    })
}

fn lookup_thread(names: &Mutex<Receiver<String>>) {
    loop {
        let name = match names.lock().map(|names| names.recv()) {
            Ok(Ok(name)) => name,
            _ => return,
        };
        let answer: Answer = match name.to_socket_addrs() {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.take(MAX_ADDRS).collect();
                if addrs.is_empty() {
                    Err("the host name does not resolve".into())
                } else {
                    Ok(addrs)
                }
            }
            Err(err) => Err(format!("the host name does not resolve ({err})")),
        };
        let mut cache = lock(&lookups().cache);
        let waiters = match (cache.remove(&name), &answer) {
            (Some(Entry::Pending(waiters)), Ok(addrs)) => {
                cache.insert(name, Entry::Ready(addrs.clone(), Instant::now() + TTL));
                waiters
            }
            (Some(Entry::Pending(waiters)), Err(_)) => waiters,
            (other, _) => {
                if let Some(entry) = other {
                    cache.insert(name, entry);
                }
                Vec::new()
            }
        };
        drop(cache);
        for waiter in waiters {
            let _ = waiter.try_send(answer.clone());
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The addresses of `host:port`, waiting at most `timeout` for a lookup. An IP address is
/// its own answer.
pub fn lookup(host: &str, port: u16, timeout: Duration) -> io::Result<Vec<SocketAddr>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = format!("{host}:{port}");
    let lookups = lookups();
    let (tx, rx) = sync_channel(1);
    {
        let mut cache = lock(&lookups.cache);
        match cache.get_mut(&name) {
            Some(Entry::Ready(addrs, until)) if *until > Instant::now() => {
                return Ok(addrs.clone());
            }
            Some(Entry::Pending(waiters)) => waiters.push(tx),
            _ => {
                match lookups.queue.try_send(name.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        return Err(io::Error::other(
                            "too many host name lookups are waiting; try again shortly",
                        ))
                    }
                    Err(TrySendError::Disconnected(_)) => {
                        return Err(io::Error::other("the DNS lookup threads are gone"))
                    }
                }
                cache.insert(name, Entry::Pending(vec![tx]));
            }
        }
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(why)) => Err(io::Error::new(io::ErrorKind::NotFound, why)),
        Err(RecvTimeoutError::Timeout) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the host name lookup timed out",
        )),
        Err(RecvTimeoutError::Disconnected) => {
            Err(io::Error::other("the DNS lookup threads are gone"))
        }
    }
}

/// Forgets the answer for `host:port`, so the next connection looks it up again (after a
/// connection to one of its addresses failed: the name may have moved).
pub fn forget(host: &str, port: u16) {
    let name = format!(
        "{}:{port}",
        host.trim_start_matches('[').trim_end_matches(']')
    );
    let mut cache = lock(&lookups().cache);
    if matches!(cache.get(&name), Some(Entry::Ready(..))) {
        cache.remove(&name);
    }
}

/// ureq's resolver step, which runs before ureq looks in its connection pool: it resolves
/// nothing (an empty list), so a call that reuses a pooled connection costs no lookup.
/// [`ResolvingTcp`] resolves when a connection is opened. Only HTTP `CONNECT` proxies are
/// used (`transport::new_agent` refuses others), which never need the target's address.
#[derive(Debug, Default)]
pub struct LateResolver;

impl Resolver for LateResolver {
    fn resolve(
        &self,
        _uri: &Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        Ok(self.empty())
    }
}

/// ureq's `TcpConnector` behind a lookup of the URI's host (cached, see [`lookup`]) when
/// it has to open a connection.
#[derive(Debug, Default)]
pub struct ResolvingTcp(TcpConnector);

impl<In: Transport> Connector<In> for ResolvingTcp {
    type Out = <TcpConnector as Connector<In>>::Out;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() || !details.addrs.is_empty() {
            return self.0.connect(details, chained);
        }
        let host = details.uri.host().unwrap_or_default();
        let port = details
            .uri
            .port_u16()
            .unwrap_or(match details.uri.scheme_str() {
                Some("https") => 443,
                _ => 80,
            });
        let timeout = match details.timeout.after {
            UreqDuration::Exact(after) => after,
            UreqDuration::NotHappening => Duration::from_secs(30),
        };
        let found = lookup(host, port, timeout).map_err(|err| match err.kind() {
            io::ErrorKind::TimedOut => ureq::Error::Timeout(details.timeout.reason),
            io::ErrorKind::NotFound => ureq::Error::HostNotFound,
            _ => ureq::Error::Io(err),
        })?;
        let mut addrs = ResolvedSocketAddrs::from_fn(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        for addr in found {
            addrs.push(addr);
        }
        let resolved = ConnectionDetails {
            uri: details.uri,
            addrs,
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        let connected = self.0.connect(&resolved, None);
        if connected.is_err() {
            forget(host, port);
        }
        connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_their_own_answer() {
        let timeout = Duration::from_secs(1);
        assert_eq!(
            lookup("127.0.0.1", 80, timeout).unwrap(),
            vec![SocketAddr::from(([127, 0, 0, 1], 80))]
        );
        assert_eq!(
            lookup("[::1]", 8080, timeout).unwrap(),
            vec!["[::1]:8080".parse().unwrap()]
        );
    }

    #[test]
    fn names_are_looked_up_once_and_reused() {
        let timeout = Duration::from_secs(10);
        let first = lookup("localhost", 4242, timeout).unwrap();
        assert!(first
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 4242));
        assert!(matches!(
            lock(&lookups().cache).get("localhost:4242"),
            Some(Entry::Ready(..))
        ));
        assert_eq!(lookup("localhost", 4242, timeout).unwrap(), first);
        forget("localhost", 4242);
        assert!(lock(&lookups().cache).get("localhost:4242").is_none());
    }

    #[test]
    fn a_name_that_does_not_resolve_is_not_found() {
        let err = lookup("no-such-host.invalid", 80, Duration::from_secs(10)).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::TimedOut
            ),
            "{err}"
        );
    }
}
