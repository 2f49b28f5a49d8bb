//! Client-side pacing that keeps this server within HubSpot's per-account limits: the
//! 10-second rolling limit (100 per 10 s for private apps by default) and the search
//! endpoints' 5 requests per second.
//!
//! Each limit is a token bucket whose tokens come back one by one, each exactly one window
//! after it was spent. That is HubSpot's own rule ("at most N in any rolling window"), so a
//! full burst never goes over it; a bucket refilled at a steady rate could let up to twice
//! the limit through within one window. A caller reserves a slot (possibly a little in the
//! future) and then waits for it; callers that would have to wait longer than the
//! configured bound are refused instead, with the time until a slot frees up.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// HubSpot's general rolling window.
const GENERAL_WINDOW: Duration = Duration::from_secs(10);
/// The search endpoints' window.
const SEARCH_WINDOW: Duration = Duration::from_secs(1);

/// At most `max` requests in any `window` (no limit when `max` is 0).
#[derive(Debug)]
struct Window {
    max: usize,
    window: Duration,
    /// When the most recent (at most `max`) granted requests go or went out, oldest first.
    /// Times in the future belong to callers that are still waiting for their slot.
    slots: VecDeque<Instant>,
}

impl Window {
    fn new(max: u32, window: Duration) -> Window {
        Window {
            max: max as usize,
            window,
            slots: VecDeque::new(),
        }
    }

    /// The earliest time a new request may go out.
    fn next_slot(&self, now: Instant) -> Instant {
        match self.slots.front() {
            Some(oldest) if self.max > 0 && self.slots.len() >= self.max => {
                (*oldest + self.window).max(now)
            }
            _ => now,
        }
    }

    /// Counts a request going out at `slot`.
    fn take(&mut self, slot: Instant) {
        if self.max == 0 {
            return;
        }
        let at = self.slots.partition_point(|t| *t <= slot);
        self.slots.insert(at, slot);
        while self.slots.len() > self.max {
            self.slots.pop_front();
        }
    }

    /// Requests still counted at `now`.
    fn used(&self, now: Instant) -> usize {
        self.slots
            .iter()
            .filter(|t| **t + self.window > now)
            .count()
    }
}

/// Why a call was not let through: the limit it would break and when a slot frees up.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// True when the search limit (per second) refused, false for the 10-second limit.
    pub search: bool,
    /// How long until the call could go out.
    pub retry_after: Duration,
}

/// The pacing of one HubSpot account (one token): shared by every clone of its client.
#[derive(Debug)]
pub struct RateLimiter {
    windows: Mutex<(Window, Window)>,
    max_wait: Duration,
}

impl RateLimiter {
    /// At most `per_10s` calls in any 10 s and `search_per_s` searches in any second (0:
    /// no limit); a caller waits at most `max_wait` for its slot.
    pub fn new(per_10s: u32, search_per_s: u32, max_wait: Duration) -> RateLimiter {
        RateLimiter {
            windows: Mutex::new((
                Window::new(per_10s, GENERAL_WINDOW),
                Window::new(search_per_s, SEARCH_WINDOW),
            )),
            max_wait,
        }
    }

    /// Reserves a slot for one call (a search counts against both limits) and returns how
    /// long to wait before sending it, or refuses when that would be longer than the bound.
    pub fn acquire(&self, search: bool, now: Instant) -> Result<Duration, Refusal> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (general, searches) = &mut *windows;
        let general_slot = general.next_slot(now);
        let search_slot = if search { searches.next_slot(now) } else { now };
        let slot = general_slot.max(search_slot);
        let wait = slot - now;
        if wait > self.max_wait {
            return Err(Refusal {
                search: search_slot > general_slot,
                retry_after: wait,
            });
        }
        general.take(slot);
        if search {
            searches.take(slot);
        }
        Ok(wait)
    }

    /// Learns from HubSpot's `X-HubSpot-RateLimit-*` headers on an answer: a lower `max`
    /// for the 10-second window replaces the configured one, and when fewer calls remain
    /// than this server believes (other apps share the account's limit), the difference
    /// is counted as used now.
    pub fn observe(&self, max: Option<u64>, remaining: Option<u64>, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let general = &mut windows.0;
        if general.max == 0 {
            return;
        }
        if let Some(max) = max.filter(|m| *m > 0 && (*m as usize) < general.max) {
            general.max = max as usize;
            while general.slots.len() > general.max {
                general.slots.pop_front();
            }
        }
        if let Some(remaining) = remaining {
            let free = general.max.saturating_sub(general.used(now));
            for _ in (remaining as usize)..free {
                general.take(now);
            }
        }
    }
}

/// The limiter of one account, shared by every client built for it, however often (a
/// scoped server builds a client per request): `key` identifies the account and policy.
/// Limiters that no client holds and that counted nothing in the last window are dropped
/// when a new one is made, since a fresh one would behave the same.
pub fn shared(key: u64, make: impl FnOnce() -> RateLimiter) -> Arc<RateLimiter> {
    static LIMITERS: OnceLock<Mutex<HashMap<u64, Arc<RateLimiter>>>> = OnceLock::new();
    let mut limiters = LIMITERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(limiter) = limiters.get(&key) {
        return limiter.clone();
    }
    let now = Instant::now();
    limiters.retain(|_, l| Arc::strong_count(l) > 1 || l.busy(now));
    let limiter = Arc::new(make());
    limiters.insert(key, limiter.clone());
    limiter
}

impl RateLimiter {
    /// Whether any call still counts against a limit.
    fn busy(&self, now: Instant) -> bool {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.0.used(now) > 0 || windows.1.used(now) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_up_to_the_limit_goes_at_once_then_slots_come_back_one_window_later() {
        let limiter = RateLimiter::new(3, 0, Duration::from_secs(20));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.acquire(false, t0), Ok(Duration::ZERO));
        }
        // The fourth waits for the first slot to leave the window, the fifth for the second.
        assert_eq!(limiter.acquire(false, t0), Ok(GENERAL_WINDOW));
        assert_eq!(limiter.acquire(false, t0 + 4000 * MS), Ok(6000 * MS));
        // Past the window everything is free again, up to the limit.
        let later = t0 + 30 * GENERAL_WINDOW;
        assert_eq!(limiter.acquire(false, later), Ok(Duration::ZERO));
    }

    #[test]
    fn a_wait_beyond_the_bound_is_refused_and_reserves_nothing() {
        let limiter = RateLimiter::new(2, 0, 1500 * MS);
        let t0 = Instant::now();
        limiter.acquire(false, t0).unwrap();
        limiter.acquire(false, t0 + 9000 * MS).unwrap();
        let refused = limiter.acquire(false, t0 + 1000 * MS).unwrap_err();
        assert_eq!(
            refused,
            Refusal {
                search: false,
                retry_after: 9000 * MS
            }
        );
        // Nothing was reserved by the refusal: at 9 s the first slot is 1 s away.
        assert_eq!(limiter.acquire(false, t0 + 9000 * MS), Ok(1000 * MS));
    }

    #[test]
    fn searches_count_against_both_limits_and_say_which_refused() {
        let limiter = RateLimiter::new(100, 2, 500 * MS);
        let t0 = Instant::now();
        assert_eq!(limiter.acquire(true, t0), Ok(Duration::ZERO));
        assert_eq!(limiter.acquire(true, t0), Ok(Duration::ZERO));
        assert_eq!(limiter.acquire(false, t0), Ok(Duration::ZERO));
        let refused = limiter.acquire(true, t0).unwrap_err();
        assert!(refused.search && refused.retry_after == SEARCH_WINDOW);
        assert_eq!(limiter.acquire(true, t0 + 600 * MS), Ok(400 * MS));
        assert_eq!(limiter.windows.lock().unwrap().0.used(t0 + 600 * MS), 4);
    }

    #[test]
    fn clients_of_one_account_share_its_limiter() {
        let make = || RateLimiter::new(1, 0, Duration::ZERO);
        let a = shared(0xA11CE, make);
        let again = shared(0xA11CE, make);
        assert!(Arc::ptr_eq(&a, &again));
        let other = shared(0xB0B, make);
        assert!(!Arc::ptr_eq(&a, &other));
        a.acquire(false, Instant::now()).unwrap();
        drop((a, again, other));
        // Unheld but busy: kept (its count still matters); unheld and idle: replaced.
        shared(0xC0FFEE, make);
        assert!(shared(0xA11CE, make)
            .acquire(false, Instant::now())
            .is_err());
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = RateLimiter::new(0, 0, Duration::ZERO);
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert_eq!(limiter.acquire(true, t0), Ok(Duration::ZERO));
        }
        limiter.observe(Some(1), Some(0), t0);
        assert_eq!(limiter.acquire(false, t0), Ok(Duration::ZERO));
    }

    #[test]
    fn hubspot_headers_lower_the_limit_and_count_other_apps_use() {
        let limiter = RateLimiter::new(190, 0, Duration::ZERO);
        let t0 = Instant::now();
        limiter.observe(Some(4), None, t0);
        for _ in 0..4 {
            limiter.acquire(false, t0).unwrap();
        }
        assert!(
            limiter.acquire(false, t0).is_err(),
            "the account's max wins"
        );
        // A higher max never raises the configured limit.
        let limiter = RateLimiter::new(5, 0, Duration::ZERO);
        limiter.observe(Some(100), Some(99), t0);
        limiter.acquire(false, t0).unwrap();
        // Two calls of ours, but HubSpot says only one of five remains: two others used it.
        limiter.acquire(false, t0).unwrap();
        limiter.observe(None, Some(1), t0 + MS);
        assert!(limiter.acquire(false, t0 + MS).is_ok());
        assert!(limiter.acquire(false, t0 + MS).is_err());
    }
}
