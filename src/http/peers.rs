//! Client addresses as the HTTP layer sees them: ranges of them (`TRUSTED_PROXIES`), the
//! key one client is counted under, and the cap on the connections one client may hold
//! (`MAX_CONNECTIONS_PER_CLIENT`): past it the client's oldest idle connection is shut
//! down to make room, so one address cannot take every connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// An address range of `TRUSTED_PROXIES`: one address, or a CIDR block (`10.0.0.0/8`,
/// `fd00::/8`), so a proxy whose address is not fixed (a container network) can be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    /// The first address of the range (IPv4-mapped IPv6 kept as IPv4).
    base: IpAddr,
    /// How many leading bits an address must share with `base`.
    prefix: u8,
}

impl IpRange {
    /// Parses `address` or `address/prefix`; `None` when it is neither, or the prefix is
    /// longer than the address (an IPv4-mapped IPv6 range needs a prefix of at least 96).
    pub fn parse(text: &str) -> Option<IpRange> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text.trim(), None),
        };
        let parsed: IpAddr = address.parse().ok()?;
        let base = parsed.to_canonical();
        let bits = if base.is_ipv4() { 32 } else { 128 };
        // A mapped range counts its prefix over the IPv6 address's 128 bits.
        let prefix = match (prefix, parsed != base) {
            (None, _) => bits,
            (Some(p), false) => p,
            (Some(p), true) => p.checked_sub(96)?,
        };
        (prefix <= bits).then_some(IpRange { base, prefix })
    }

    /// True when `ip` (IPv4-mapped or not) lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip.to_canonical()) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The address a client is counted under: IPv4-mapped IPv6 as IPv4 (a dual-stack
/// listener's view of an IPv4 client), other IPv6 by its /64 prefix, the block a single
/// host usually holds.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Orders the moments connections became idle: a smaller number went idle earlier.
static IDLE_ORDER: AtomicU64 = AtomicU64::new(0);
/// The state of a connection working on a request.
const BUSY: u64 = u64::MAX;
/// The state of a connection shut down to make room (no longer counted).
const SHED: u64 = u64::MAX - 1;

/// One live connection of a client: its socket and since when it has been idle (an
/// [`IDLE_ORDER`] number, or [`BUSY`], or [`SHED`]).
struct Live {
    fd: RawFd,
    state: AtomicU64,
}

/// The live connections of each client address (trusted proxies exempt: every client
/// behind them shares their address).
pub struct ClientConnections {
    cap: usize,
    exempt: Vec<IpRange>,
    clients: Mutex<HashMap<IpAddr, Vec<Arc<Live>>>>,
}

impl ClientConnections {
    /// At most `cap` connections per client address, except from `exempt` peers.
    pub fn new(cap: usize, exempt: Vec<IpRange>) -> Arc<ClientConnections> {
        Arc::new(ClientConnections {
            cap,
            exempt,
            clients: Mutex::default(),
        })
    }

    /// Counts a new connection from `peer` on socket `fd`. At the cap, the client's oldest
    /// idle connection is shut down (its coroutine or the resting thread then sees the end
    /// of stream and closes it); `Err` when all of them are busy. `Ok(None)` for an exempt
    /// peer. The slot must be dropped before `fd` is closed.
    #[allow(
        unsafe_code,
        reason = "shutdown(2) of a socket we hold only as a descriptor"
    )]
    pub fn admit(self: &Arc<Self>, peer: IpAddr, fd: RawFd) -> Result<Option<ClientSlot>, ()> {
        if self.exempt.iter().any(|range| range.contains(peer)) {
            return Ok(None);
        }
        let key = client_key(peer);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let live = clients.entry(key).or_default();
        let counted = live
            .iter()
            .filter(|c| c.state.load(Ordering::SeqCst) != SHED)
            .count();
        if counted >= self.cap {
            // The oldest idle one, unless it turned busy meanwhile (then the next).
            let mut idle: Vec<(u64, &Arc<Live>)> = live
                .iter()
                .map(|c| (c.state.load(Ordering::SeqCst), c))
                .filter(|(state, _)| *state < SHED)
                .collect();
            idle.sort_unstable_by_key(|(since, _)| *since);
            let shed = idle.into_iter().find(|(since, c)| {
                c.state
                    .compare_exchange(*since, SHED, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            });
            let Some((_, oldest)) = shed else {
                return Err(());
            };
            // SAFETY: shutdown(2) only; the descriptor is still open, since a connection
            // leaves this table (under this lock) before its socket is closed.
            unsafe {
                libc::shutdown(oldest.fd, libc::SHUT_RDWR);
            }
        }
        let entry = Arc::new(Live {
            fd,
            state: AtomicU64::new(IDLE_ORDER.fetch_add(1, Ordering::SeqCst)),
        });
        live.push(entry.clone());
        Ok(Some(ClientSlot {
            owner: self.clone(),
            key,
            entry,
        }))
    }
}

/// A connection's place among its client's; leaves the table when dropped.
pub struct ClientSlot {
    owner: Arc<ClientConnections>,
    key: IpAddr,
    entry: Arc<Live>,
}

impl ClientSlot {
    /// The connection waits for its client: from now on it may be shed.
    pub fn idle(&self) {
        let since = IDLE_ORDER.fetch_add(1, Ordering::SeqCst);
        let _ = self
            .entry
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                (s != SHED).then_some(since)
            });
    }

    /// True once the connection was shut down to make room for a newer one of its client.
    pub fn is_shed(&self) -> bool {
        self.entry.state.load(Ordering::SeqCst) == SHED
    }

    /// The connection has a request to work on; false when it was shed (it must close).
    pub fn busy(&self) -> bool {
        self.entry
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                (s != SHED).then_some(BUSY)
            })
            .is_ok()
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut clients = self.owner.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(live) = clients.get_mut(&self.key) {
            live.retain(|c| !Arc::ptr_eq(c, &self.entry));
            if live.is_empty() {
                clients.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_match_v4_v6_and_mapped_addresses() {
        let range = |text| IpRange::parse(text).unwrap();
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert!(range("172.30.53.0/24").contains(ip("172.30.53.254")));
        assert!(range("172.30.53.0/24").contains(ip("::ffff:172.30.53.2")));
        assert!(!range("172.30.53.0/24").contains(ip("172.30.54.1")));
        assert!(range("0.0.0.0/0").contains(ip("198.51.100.1")));
        assert!(!range("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(range("fd00::/8").contains(ip("fd12:3456::1")));
        assert!(!range("fd00::/8").contains(ip("fe80::1")));
        assert!(range("::1").contains(ip("::1")));
        assert!(!range("::1").contains(ip("::2")));
        assert!(range("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")));
        assert_eq!(range("::ffff:127.0.0.1"), range("127.0.0.1"));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0/8",
            "::ffff:10.0.0.0/95",
            "x",
        ] {
            assert_eq!(IpRange::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_oldest_idle_connection_is_shed_and_busy_ones_never() {
        let exempt = vec![IpRange::parse("127.0.0.1").unwrap()];
        let table = ClientConnections::new(2, exempt);
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert!(table.admit(ip("::ffff:127.0.0.1"), -1).unwrap().is_none());
        // Descriptors that are no sockets: shutdown(2) fails harmlessly on them.
        let first = table.admit(ip("127.0.0.2"), -1).unwrap().unwrap();
        let second = table.admit(ip("127.0.0.2"), -1).unwrap().unwrap();
        second.idle();
        first.idle();
        // The second went idle first: it is shed, the first stays.
        let third = table.admit(ip("::ffff:127.0.0.2"), -1).unwrap().unwrap();
        assert!(!second.busy() && first.busy());
        assert!(third.busy());
        assert!(table.admit(ip("127.0.0.2"), -1).is_err(), "all busy");
        assert!(table.admit(ip("127.0.0.3"), -1).is_ok(), "another client");
        drop((first, second, third));
        assert!(table.clients.lock().unwrap().is_empty());
    }
}
