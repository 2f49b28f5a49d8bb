//! Slows down credential guessing: after [`MAX_FAILURES`] failed attempts (a wrong API key,
//! scoped token or admin token, or an unknown `/mcp/<token>`) from one client address
//! within [`WINDOW`], that address's wrong credentials get 429 for [`BLOCK`]. A valid
//! credential is always served: the brake is applied only once the credential has been
//! checked and refused, so clients that share an address with a guesser (a NAT, a proxy
//! that is not trusted) are never locked out. IPv6 clients are counted per /64, the block
//! a single host usually holds, and an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, a
//! dual-stack listener's view of an IPv4 client) as the IPv4 address it is. Behind a
//! trusted proxy (`TRUSTED_PROXIES`, addresses or ranges), the client is the address that
//! proxy names in `X-Forwarded-For`, so one guesser behind it is counted on its own.

use crate::http::{client_key as key, IpRange, Request};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts allowed per address within [`WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// The window failed attempts are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How long an address that went past [`MAX_FAILURES`] is refused.
pub const BLOCK: Duration = Duration::from_secs(60);
/// The most addresses tracked at once; past it, addresses that are not blocked are
/// forgotten first, so memory stays bounded whatever the number of attackers.
const MAX_TRACKED: usize = 10_000;

#[derive(Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

/// Failed attempts per client address.
#[derive(Default)]
pub struct Throttle {
    entries: Mutex<HashMap<IpAddr, Entry>>,
    /// Peers whose `X-Forwarded-For` is believed.
    trusted_proxies: Vec<IpRange>,
}

impl Throttle {
    /// A throttle that believes the `X-Forwarded-For` of `trusted_proxies`.
    pub fn new(trusted_proxies: Vec<IpRange>) -> Throttle {
        Throttle {
            entries: Mutex::default(),
            trusted_proxies,
        }
    }

    /// The client a request's attempts count for: the peer, or behind trusted proxies the
    /// right-most `X-Forwarded-For` address that is not one of them (a proxy appends the
    /// address it saw, so entries left of it may be forged).
    pub fn client(&self, req: &Request) -> IpAddr {
        let mut client = req.peer.to_canonical();
        if !self.trusted(client) {
            return client;
        }
        let forwarded: Vec<String> = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("x-forwarded-for"))
            .flat_map(|h| {
                String::from_utf8_lossy(h.value)
                    .split(',')
                    .map(|e| e.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        for entry in forwarded.iter().rev() {
            let parsed = entry
                .parse::<IpAddr>()
                .ok()
                .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()));
            match parsed.map(|ip| ip.to_canonical()) {
                Some(ip) if self.trusted(ip) => client = ip,
                Some(ip) => return ip,
                None => return client,
            }
        }
        client
    }

    /// True when `ip` is one of the trusted proxies.
    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|range| range.contains(ip))
    }

    /// A refused credential from the client of `req`: `Some(wait)` when that client is
    /// blocked (answer 429 rather than the refusal; the attempt is not counted again),
    /// else the attempt is counted and `None` returned. Called only once the credential
    /// has been checked and found wrong, so a valid one is never refused here.
    pub fn fail_request(&self, req: &Request) -> Option<Duration> {
        let (client, now) = (self.client(req), Instant::now());
        if let Some(wait) = self.blocked(client, now) {
            return Some(wait);
        }
        self.fail(client, now);
        None
    }

    /// How long `ip` must still wait, when it is blocked.
    fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let until = entries.get(&key(ip))?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Counts one failed attempt from `ip`.
    fn fail(&self, ip: IpAddr, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_TRACKED && !entries.contains_key(&key(ip)) {
            entries.retain(|_, e| e.blocked_until.is_some_and(|until| until > now));
            // Still full of blocked addresses: free the block that ends first rather than
            // stop counting newcomers (which would let them guess unthrottled).
            if entries.len() >= MAX_TRACKED {
                if let Some(first) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.blocked_until)
                    .map(|(ip, _)| *ip)
                {
                    entries.remove(&first);
                }
            }
        }
        let entry = entries.entry(key(ip)).or_insert(Entry {
            window_start: now,
            failures: 0,
            blocked_until: None,
        });
        if now.duration_since(entry.window_start) >= WINDOW {
            *entry = Entry {
                window_start: now,
                failures: 0,
                blocked_until: None,
            };
        }
        entry.failures += 1;
        if entry.failures > MAX_FAILURES {
            entry.blocked_until = Some(now + BLOCK);
            log::warn!(
                "{} failed credential attempts from {} within {}s: refusing it for {}s",
                entry.failures,
                key(ip),
                WINDOW.as_secs(),
                BLOCK.as_secs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_too_many_failures_then_forgives() {
        let throttle = Throttle::default();
        let (ip, other): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            throttle.fail(ip, t0 + Duration::from_millis(u64::from(i)));
            assert_eq!(throttle.blocked(ip, t0), None);
        }
        throttle.fail(ip, t0 + Duration::from_secs(1));
        let wait = throttle
            .blocked(ip, t0 + Duration::from_secs(1))
            .expect("blocked");
        assert!(wait <= BLOCK && wait > BLOCK - Duration::from_secs(1));
        assert_eq!(throttle.blocked(other, t0), None, "others are not affected");
        assert_eq!(
            throttle.blocked(ip, t0 + Duration::from_secs(1) + BLOCK),
            None
        );
        // A new window starts from zero.
        throttle.fail(ip, t0 + Duration::from_secs(200));
        assert_eq!(throttle.blocked(ip, t0 + Duration::from_secs(200)), None);
    }

    #[test]
    fn ipv6_counts_per_64_and_memory_is_bounded() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for i in 0..=MAX_FAILURES {
            let ip: IpAddr = format!("2001:db8:1:2::{:x}", i + 1).parse().unwrap();
            throttle.fail(ip, t0);
        }
        let neighbour: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(throttle.blocked(neighbour, t0).is_some());
        for i in 0..(MAX_TRACKED as u32 + 50) {
            throttle.fail(IpAddr::V4(std::net::Ipv4Addr::from(i)), t0);
        }
        assert!(throttle.entries.lock().unwrap().len() <= MAX_TRACKED);
        assert!(
            throttle.blocked(neighbour, t0).is_some(),
            "blocked entries are kept"
        );
    }

    #[test]
    fn a_full_table_of_blocked_addresses_still_counts_newcomers() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED as u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            for _ in 0..=MAX_FAILURES {
                throttle.fail(ip, t0);
            }
        }
        let newcomer: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..=MAX_FAILURES {
            throttle.fail(newcomer, t0 + Duration::from_secs(1));
        }
        assert!(throttle
            .blocked(newcomer, t0 + Duration::from_secs(1))
            .is_some());
        assert!(throttle.entries.lock().unwrap().len() <= MAX_TRACKED);
    }

    #[test]
    fn behind_a_trusted_proxy_the_forwarded_client_is_counted() {
        let throttle = Throttle::new(vec![
            IpRange::parse("127.0.0.1").unwrap(),
            IpRange::parse("10.1.0.0/16").unwrap(),
        ]);
        let client_of = |peer: &str, values: &[&'static str]| {
            let headers: Vec<httparse::Header> = values
                .iter()
                .map(|v| httparse::Header {
                    name: "X-Forwarded-For",
                    value: v.as_bytes(),
                })
                .collect();
            let req = Request {
                peer: peer.parse().unwrap(),
                method: "POST",
                path: "/mcp",
                query: "",
                headers: &headers,
                body: b"",
            };
            throttle.client(&req).to_string()
        };
        // The proxy appends what it saw; a forged entry on the left is not believed.
        assert_eq!(
            client_of("127.0.0.1", &["6.6.6.6, 203.0.113.9"]),
            "203.0.113.9"
        );
        assert_eq!(
            client_of("127.0.0.1", &["6.6.6.6", "203.0.113.9:4711"]),
            "203.0.113.9"
        );
        assert_eq!(
            client_of("127.0.0.1", &["203.0.113.9, 127.0.0.1"]),
            "203.0.113.9"
        );
        assert_eq!(client_of("127.0.0.1", &["garbage"]), "127.0.0.1");
        assert_eq!(client_of("127.0.0.1", &[]), "127.0.0.1");
        // Anyone else's header is ignored.
        assert_eq!(client_of("192.0.2.5", &["203.0.113.9"]), "192.0.2.5");
        // A dual-stack listener sees an IPv4 proxy as IPv4-mapped IPv6: the same proxy.
        assert_eq!(
            client_of("::ffff:127.0.0.1", &["203.0.113.9"]),
            "203.0.113.9"
        );
        assert_eq!(client_of("::ffff:192.0.2.5", &["203.0.113.9"]), "192.0.2.5");
        // Ranges: every trusted hop is skipped from the right, mapped or not.
        assert_eq!(
            client_of(
                "10.1.2.3",
                &["6.6.6.6, 203.0.113.9, ::ffff:10.1.9.9, 10.1.0.7"]
            ),
            "203.0.113.9"
        );
        assert_eq!(client_of("10.2.0.1", &["203.0.113.9"]), "10.2.0.1");
    }

    #[test]
    fn a_mapped_address_and_its_ipv4_form_are_one_client() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        // Failures from a mapped address and its IPv4 form share one count.
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..=MAX_FAILURES {
            throttle.fail(ip("::ffff:127.0.0.1"), t0);
        }
        assert!(throttle.blocked(ip("127.0.0.1"), t0).is_some());
    }
}
