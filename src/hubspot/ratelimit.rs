//! Client-side pacing that keeps this server within HubSpot's per-account limits: the
//! 10-second rolling limit (100 per 10 s for private apps by default) and the search
//! endpoints' 5 requests per second, shared fairly by the callers of one account.
//!
//! Each limit counts the calls sent in its window; a slot comes back exactly one window
//! after it was spent. That is HubSpot's own rule ("at most N in any rolling window"), so
//! a full burst never goes over it; a bucket refilled at a steady rate could let up to
//! twice the limit through within one window.
//!
//! **Fair share.** Every call names its caller (a scoped server's id, or `default` for
//! `/mcp` and stdio). A call that finds no free slot waits in line, and when a slot frees
//! it goes to the waiting call whose caller was served least recently (first come first
//! served within one caller). So no caller takes a second slot while another one waits,
//! and one scoped server's 400-call batch cannot make the account's other servers wait
//! for all of it: they are served in turn.
//!
//! A caller whose call would have to wait longer than the configured bound is refused at
//! once with the time until a slot could be its; one that is pushed past the bound while
//! waiting (others' turns came first) is refused then.
//!
//! **Replicas.** Replicas on one etcd registry spend the same accounts' budget, so each
//! paces itself at its share of both limits ([`Replicas`]): the limit divided by the live
//! replicas, rounded down (at least 1, so with more replicas than the limit the shares do
//! add up to more). A replica that joins others makes no call for one window, since it
//! cannot know what they spent in the last one.

use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// HubSpot's general rolling window.
const GENERAL_WINDOW: Duration = Duration::from_secs(10);
/// How late the others may count a replica that joins (their beat, 2 s, and an etcd call):
/// the joiner's quiet covers it too, as the others pace at the old count until then.
const COUNT_DELAY: Duration = Duration::from_secs(3);
/// The search endpoints' window.
const SEARCH_WINDOW: Duration = Duration::from_secs(1);
/// How long a waiting call sleeps when a slot is free but it is another caller's turn:
/// that caller is due to wake and take it.
const TURN_TICK: Duration = Duration::from_millis(5);
/// Slack past the bound before a waiting call is refused, for wake-up jitter.
const WAIT_GRACE: Duration = Duration::from_millis(250);
/// How many callers' last turns are remembered; an older one counts as never served.
const REMEMBERED_CALLERS: usize = 1024;

/// At most `max` requests in any `window` (no limit when `max` is 0).
#[derive(Debug)]
struct Window {
    /// The account's limit (configured, or lower when HubSpot's headers say so).
    limit: usize,
    /// This replica's share of `limit`: what it paces itself at.
    max: usize,
    window: Duration,
    /// When the requests of the last window went out, oldest first.
    slots: VecDeque<Instant>,
}

impl Window {
    fn new(max: u32, window: Duration) -> Window {
        Window {
            limit: max as usize,
            max: max as usize,
            window,
            slots: VecDeque::new(),
        }
    }

    /// Paces at this replica's share of the limit.
    fn share(&mut self, replicas: usize) {
        self.max = share(self.limit, replicas);
    }

    /// The earliest time a new request may go out.
    fn next_slot(&self, now: Instant) -> Instant {
        match self.slots.len().checked_sub(self.max) {
            Some(i) if self.max > 0 => (self.slots[i] + self.window).max(now),
            _ => now,
        }
    }

    /// When the request with `ahead` others granted before it could go out, if every
    /// slot is used as soon as it frees: each grant reuses the slot spent `max` grants
    /// earlier, one window later.
    fn free_at(&self, now: Instant, ahead: usize) -> Instant {
        if self.max == 0 {
            return now;
        }
        let sent = self.slots.len();
        let mut grants: Vec<Instant> = Vec::with_capacity(ahead + 1);
        for k in 0..=ahead {
            let at = match (sent + k).checked_sub(self.max) {
                None => now,
                Some(i) if i < sent => (self.slots[i] + self.window).max(now),
                Some(i) => (grants[i - sent] + self.window).max(now),
            };
            grants.push(at);
        }
        grants[ahead]
    }

    /// Counts a request going out at `slot`.
    fn take(&mut self, slot: Instant) {
        if self.max == 0 {
            return;
        }
        let at = self.slots.partition_point(|t| *t <= slot);
        self.slots.insert(at, slot);
        // Every slot of the last window is kept (not only `max`): when the share grows
        // back, the calls already sent still count.
        while self.slots.front().is_some_and(|t| *t + self.window <= slot) {
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

/// What a waiting call does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// Send now: the slot is counted.
    Go,
    /// Sleep this long, then ask again.
    Wait(Duration),
    /// Give up: the wait went past the bound.
    Refused(Refusal),
}

/// A call waiting for its slot.
#[derive(Debug)]
struct Waiter {
    ticket: u64,
    caller: Arc<str>,
    search: bool,
    deadline: Instant,
}

/// The counts and the line of one account.
#[derive(Debug)]
struct State {
    general: Window,
    searches: Window,
    waiting: Vec<Waiter>,
    next_ticket: u64,
    /// How many slots were handed out, and the number of each caller's latest one.
    granted: u64,
    last_turn: HashMap<Arc<str>, u64>,
}

impl State {
    /// The order in which waiting calls are served: the caller served least recently
    /// first, then first come first served.
    fn rank(&self, caller: &str, ticket: u64) -> (u64, u64) {
        (self.last_turn.get(caller).copied().unwrap_or(0), ticket)
    }

    /// When the waiter at `index` could go out if the calls ranked before it go first.
    fn estimate(&self, index: usize, now: Instant) -> (Instant, bool) {
        let me = &self.waiting[index];
        let mine = self.rank(&me.caller, me.ticket);
        let before = |search_only: bool| {
            self.waiting
                .iter()
                .filter(|w| (!search_only || w.search) && self.rank(&w.caller, w.ticket) < mine)
                .count()
        };
        let general = self.general.free_at(now, before(false));
        let search = if me.search {
            self.searches.free_at(now, before(true))
        } else {
            now
        };
        (general.max(search), search > general)
    }

    /// Hands the waiter at `index` its slot.
    fn grant(&mut self, index: usize, now: Instant) {
        let waiter = self.waiting.swap_remove(index);
        self.general.take(now);
        if waiter.search {
            self.searches.take(now);
        }
        self.granted += 1;
        if self.last_turn.len() >= REMEMBERED_CALLERS {
            let recent = self.granted.saturating_sub(REMEMBERED_CALLERS as u64 / 2);
            self.last_turn.retain(|_, turn| *turn > recent);
        }
        self.last_turn.insert(waiter.caller, self.granted);
    }

    /// The turn of the waiter holding `ticket` at `now`.
    fn turn(&mut self, ticket: u64, now: Instant) -> Turn {
        let Some(index) = self.waiting.iter().position(|w| w.ticket == ticket) else {
            return Turn::Go;
        };
        let (search, deadline) = (self.waiting[index].search, self.waiting[index].deadline);
        // It goes as soon as the free slots cover it and every waiter ranked before it (all
        // at once when the slots suffice, as without a limit; in rank order when they are
        // scarce, so no server takes a second slot while another waits).
        if self.estimate(index, now).0 <= now {
            self.grant(index, now);
            return Turn::Go;
        }
        if now >= deadline {
            let (at, search_refused) = self.estimate(index, now);
            self.waiting.swap_remove(index);
            return Turn::Refused(Refusal {
                search: search_refused,
                retry_after: at.saturating_duration_since(now).max(TURN_TICK),
            });
        }
        let free = self.general.next_slot(now).max(if search {
            self.searches.next_slot(now)
        } else {
            now
        });
        let sleep = if free > now { free - now } else { TURN_TICK };
        Turn::Wait(sleep.min(deadline - now).max(Duration::from_millis(1)))
    }
}

/// One replica's share of `limit`: `limit` ÷ `replicas` rounded down, so the shares never
/// add up to more, and at least 1 (0 stays no limit).
fn share(limit: usize, replicas: usize) -> usize {
    match limit {
        0 => 0,
        limit => (limit / replicas.max(1)).max(1),
    }
}

/// How many replicas share every account's HubSpot limits: kept current by the replicas'
/// membership in etcd (`crate::registry::replicas`), read by every limiter. One replica (and no
/// `/ready` check) until a membership sets it.
#[derive(Debug, Default)]
pub struct Replicas(Mutex<Count>);

#[derive(Debug, Default)]
struct Count {
    /// Live replicas last counted (0: not part of a cluster).
    live: usize,
    /// True while the count could not be refreshed (etcd unreachable): the last one holds.
    stale: bool,
    /// After replicas left, the count paced at until their calls have left HubSpot's
    /// window (so the shares that grow never meet the calls the leavers just sent).
    held: Option<(usize, Instant)>,
    /// After joining replicas that were already live: no call until then, as their calls
    /// of the last window are unknown here and may have used the whole limit.
    quiet_until: Option<Instant>,
}

impl Count {
    fn pacing(&self, now: Instant) -> usize {
        let held = self
            .held
            .filter(|(_, until)| *until > now)
            .map_or(0, |h| h.0);
        self.live.max(held).max(1)
    }
}

impl Replicas {
    fn count(&self) -> MutexGuard<'_, Count> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The replicas each limit is divided by (at least 1).
    pub fn pacing(&self) -> usize {
        self.count().pacing(Instant::now())
    }

    /// Records a fresh count; true when it changed. When it fell, the shares grow one
    /// window later.
    pub fn set(&self, live: usize) -> bool {
        let now = Instant::now();
        let mut count = self.count();
        count.stale = false;
        if count.live == 0 && live > 1 {
            count.quiet_until = Some(now + GENERAL_WINDOW + COUNT_DELAY);
        }
        if live < count.live {
            count.held = Some((count.pacing(now), now + GENERAL_WINDOW));
        }
        std::mem::replace(&mut count.live, live) != live
    }

    /// How long this replica, having just joined others, must still wait before a call.
    pub fn quiet_for(&self, now: Instant) -> Option<Duration> {
        self.count()
            .quiet_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Marks the count as not refreshed; true when it was fresh until now.
    pub fn mark_stale(&self) -> bool {
        !std::mem::replace(&mut self.count().stale, true)
    }

    /// `checks.replicas` of `/ready` (`None` outside a cluster): the live replicas, whether
    /// the count is current, and this replica's share of `per_10s`.
    pub fn check(&self, per_10s: u32) -> Option<Value> {
        let count = self.count();
        (count.live > 0).then(|| {
            json!({
                "live": count.live,
                "status": if count.stale {
                    "stale"
                } else if count.quiet_until.is_some_and(|until| until > Instant::now()) {
                    "joining"
                } else {
                    "ok"
                },
                "rate_limit_per_10s": share(per_10s as usize, count.pacing(Instant::now())),
            })
        })
    }
}

/// The pacing of one HubSpot account (one token): shared by every clone of its client.
#[derive(Debug)]
pub struct RateLimiter {
    state: Mutex<State>,
    max_wait: Duration,
    /// The replicas sharing the account's limits.
    replicas: Arc<Replicas>,
}

/// A call's place in line; leaving it (the call gave up or its coroutine was cancelled)
/// frees the place.
pub struct Ticket<'a> {
    limiter: &'a RateLimiter,
    id: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.limiter.state().waiting.retain(|w| w.ticket != self.id);
    }
}

impl Ticket<'_> {
    /// What to do at `now`: go, wait, or give up.
    pub fn turn(&self, now: Instant) -> Turn {
        self.limiter.state().turn(self.id, now)
    }
}

impl RateLimiter {
    /// At most `per_10s` calls in any 10 s and `search_per_s` searches in any second (0:
    /// no limit); a caller waits at most `max_wait` for its slot.
    pub fn new(per_10s: u32, search_per_s: u32, max_wait: Duration) -> RateLimiter {
        RateLimiter {
            state: Mutex::new(State {
                general: Window::new(per_10s, GENERAL_WINDOW),
                searches: Window::new(search_per_s, SEARCH_WINDOW),
                waiting: Vec::new(),
                next_ticket: 0,
                granted: 0,
                last_turn: HashMap::new(),
            }),
            max_wait,
            replicas: Arc::default(),
        }
    }

    /// The same limiter paced at its share among `replicas`.
    pub fn shared_by(self, replicas: Arc<Replicas>) -> RateLimiter {
        RateLimiter { replicas, ..self }
    }

    /// The state, its limits set to this replica's current share.
    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let replicas = self.replicas.pacing();
        state.general.share(replicas);
        state.searches.share(replicas);
        state
    }

    /// Puts one call of `caller` in line (a search counts against both limits), or
    /// refuses it when its turn would come later than `bound` (the configured wait, less any
    /// wait already spent). Ask the ticket for its
    /// [`Ticket::turn`] until it says go.
    pub fn enter(
        &self,
        caller: &str,
        search: bool,
        now: Instant,
        bound: Duration,
    ) -> Result<Ticket<'_>, Refusal> {
        let mut state = self.state();
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        let caller: Arc<str> = match state.last_turn.get_key_value(caller) {
            Some((known, _)) => known.clone(),
            None => caller.into(),
        };
        state.waiting.push(Waiter {
            ticket,
            caller,
            search,
            deadline: now + bound + WAIT_GRACE,
        });
        let (at, search_refused) = state.estimate(state.waiting.len() - 1, now);
        if at - now > bound {
            state.waiting.pop();
            return Err(Refusal {
                search: search_refused,
                retry_after: at - now,
            });
        }
        Ok(Ticket {
            limiter: self,
            id: ticket,
        })
    }

    /// Waits for the slot of one call of `caller`, sleeping with `sleep` (which parks a
    /// coroutine, never its worker), or refuses it as [`RateLimiter::enter`] says.
    pub fn wait_turn(
        &self,
        caller: &str,
        search: bool,
        mut sleep: impl FnMut(Duration),
    ) -> Result<(), Refusal> {
        let mut bound = self.max_wait;
        // Only a replica that just joined others looks at its limits here (no limit: no
        // quiet); every other call goes straight in line.
        if let Some(quiet) = self.replicas.quiet_for(Instant::now()).filter(|_| {
            let state = self.state();
            state.general.limit > 0 || state.searches.limit > 0
        }) {
            if quiet > bound {
                return Err(Refusal {
                    search: false,
                    retry_after: quiet,
                });
            }
            sleep(quiet);
            bound -= quiet;
        }
        let ticket = self.enter(caller, search, Instant::now(), bound)?;
        loop {
            match ticket.turn(Instant::now()) {
                Turn::Go => return Ok(()),
                Turn::Wait(pause) => sleep(pause),
                Turn::Refused(refusal) => return Err(refusal),
            }
        }
    }

    /// Learns from HubSpot's `X-HubSpot-RateLimit-*` headers on an answer: a lower `max`
    /// for the 10-second window replaces the configured one, and when fewer calls remain
    /// than this server believes (other apps share the account's limit), the difference
    /// is counted as used now.
    pub fn observe(&self, max: Option<u64>, remaining: Option<u64>, now: Instant) {
        let mut state = self.state();
        let general = &mut state.general;
        if general.max == 0 {
            return;
        }
        if let Some(max) = max.filter(|m| *m > 0 && (*m as usize) < general.limit) {
            general.limit = max as usize;
            general.share(self.replicas.pacing());
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
    /// Whether any call still counts against a limit or waits for one.
    fn busy(&self, now: Instant) -> bool {
        let state = self.state();
        state.general.used(now) > 0 || state.searches.used(now) > 0 || !state.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Enters one call and asks for its turn once: `Ok(None)` when it goes now,
    /// `Ok(Some(ticket))` when it waits.
    fn call<'a>(
        limiter: &'a RateLimiter,
        caller: &str,
        search: bool,
        now: Instant,
    ) -> Result<Option<Ticket<'a>>, Refusal> {
        let ticket = limiter.enter(caller, search, now, limiter.max_wait)?;
        Ok(match ticket.turn(now) {
            Turn::Go => None,
            Turn::Wait(_) => Some(ticket),
            Turn::Refused(r) => return Err(r),
        })
    }

    fn goes(limiter: &RateLimiter, caller: &str, search: bool, now: Instant) {
        assert!(
            matches!(call(limiter, caller, search, now), Ok(None)),
            "{caller} goes at once"
        );
    }

    #[test]
    fn a_burst_up_to_the_limit_goes_at_once_then_slots_come_back_one_window_later() {
        let limiter = RateLimiter::new(3, 0, Duration::from_secs(20));
        let t0 = Instant::now();
        for _ in 0..3 {
            goes(&limiter, "a", false, t0);
        }
        // The fourth waits for the first slot to leave the window.
        let fourth = call(&limiter, "a", false, t0).unwrap().expect("waits");
        assert_eq!(fourth.turn(t0), Turn::Wait(GENERAL_WINDOW));
        assert_eq!(fourth.turn(t0 + 4000 * MS), Turn::Wait(6000 * MS));
        assert_eq!(fourth.turn(t0 + GENERAL_WINDOW), Turn::Go);
        // Past the window everything is free again, up to the limit.
        let later = t0 + 30 * GENERAL_WINDOW;
        for _ in 0..3 {
            goes(&limiter, "a", false, later);
        }
    }

    #[test]
    fn a_wait_beyond_the_bound_is_refused_and_reserves_nothing() {
        let limiter = RateLimiter::new(2, 0, 1500 * MS);
        let t0 = Instant::now();
        goes(&limiter, "a", false, t0);
        goes(&limiter, "a", false, t0 + 9000 * MS);
        let refused = call(&limiter, "a", false, t0 + 1000 * MS).err().unwrap();
        assert_eq!(
            refused,
            Refusal {
                search: false,
                retry_after: 9000 * MS
            }
        );
        // Nothing was reserved by the refusal: at 9 s the first slot is 1 s away.
        let waiting = call(&limiter, "a", false, t0 + 9000 * MS).unwrap().unwrap();
        assert_eq!(waiting.turn(t0 + 9000 * MS), Turn::Wait(1000 * MS));
        drop(waiting);
        assert!(
            limiter.state().waiting.is_empty(),
            "a dropped ticket leaves the line"
        );
    }

    #[test]
    fn searches_count_against_both_limits_and_say_which_refused() {
        let limiter = RateLimiter::new(100, 2, 500 * MS);
        let t0 = Instant::now();
        goes(&limiter, "a", true, t0);
        goes(&limiter, "a", true, t0);
        goes(&limiter, "a", false, t0);
        let refused = call(&limiter, "a", true, t0).err().unwrap();
        assert!(refused.search && refused.retry_after == SEARCH_WINDOW);
        let later = call(&limiter, "a", true, t0 + 600 * MS).unwrap().unwrap();
        assert_eq!(later.turn(t0 + 600 * MS), Turn::Wait(400 * MS));
        assert_eq!(later.turn(t0 + SEARCH_WINDOW), Turn::Go);
        assert_eq!(limiter.state().general.used(t0 + SEARCH_WINDOW), 4);
    }

    #[test]
    fn clients_of_one_account_share_its_limiter() {
        let make = || RateLimiter::new(1, 0, Duration::ZERO);
        let a = shared(0xA11CE, make);
        let again = shared(0xA11CE, make);
        assert!(Arc::ptr_eq(&a, &again));
        let other = shared(0xB0B, make);
        assert!(!Arc::ptr_eq(&a, &other));
        goes(&a, "a", false, Instant::now());
        drop((a, again, other));
        // Unheld but busy: kept (its count still matters); unheld and idle: replaced.
        shared(0xC0FFEE, make);
        assert!(call(&shared(0xA11CE, make), "a", false, Instant::now()).is_err());
    }

    #[test]
    fn estimates_reuse_each_slot_one_window_after_it_was_spent() {
        let mut window = Window::new(2, GENERAL_WINDOW);
        let t0 = Instant::now();
        assert_eq!(window.free_at(t0, 1), t0);
        window.take(t0);
        window.take(t0 + 3000 * MS);
        let at = |ahead| window.free_at(t0 + 1000 * MS, ahead) - t0;
        assert_eq!(
            [at(0), at(1), at(2), at(3)],
            [10_000 * MS, 13_000 * MS, 20_000 * MS, 23_000 * MS]
        );
        assert_eq!(window.next_slot(t0 + 1000 * MS), t0 + GENERAL_WINDOW);
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = RateLimiter::new(0, 0, Duration::ZERO);
        let t0 = Instant::now();
        for _ in 0..1000 {
            goes(&limiter, "a", true, t0);
        }
        limiter.observe(Some(1), Some(0), t0);
        goes(&limiter, "a", false, t0);
    }

    #[test]
    fn hubspot_headers_lower_the_limit_and_count_other_apps_use() {
        let limiter = RateLimiter::new(190, 0, Duration::ZERO);
        let t0 = Instant::now();
        limiter.observe(Some(4), None, t0);
        for _ in 0..4 {
            goes(&limiter, "a", false, t0);
        }
        assert!(
            call(&limiter, "a", false, t0).is_err(),
            "the account's max wins"
        );
        // A higher max never raises the configured limit.
        let limiter = RateLimiter::new(5, 0, Duration::ZERO);
        limiter.observe(Some(100), Some(99), t0);
        goes(&limiter, "a", false, t0);
        // Two calls of ours, but HubSpot says only one of five remains: two others used it.
        goes(&limiter, "a", false, t0);
        limiter.observe(None, Some(1), t0 + MS);
        goes(&limiter, "a", false, t0 + MS);
        assert!(call(&limiter, "a", false, t0 + MS).is_err());
    }

    /// Steps a clock through `slots` instants, asking every waiting ticket for its turn
    /// in the order they entered, and returns who went, in order.
    fn serve(
        tickets: &mut Vec<(&'static str, Ticket<'_>)>,
        slots: &[Instant],
    ) -> Vec<&'static str> {
        let mut order = Vec::new();
        for now in slots {
            tickets.retain(|(caller, ticket)| match ticket.turn(*now) {
                Turn::Go => {
                    order.push(*caller);
                    false
                }
                Turn::Wait(_) => true,
                Turn::Refused(r) => panic!("{caller} refused: {r:?}"),
            });
        }
        order
    }

    /// One server's batch took the whole budget and the others waited for all
    /// of it. Waiting calls are now served in turn across callers.
    #[test]
    fn waiting_calls_are_served_in_turn_across_callers() {
        let limiter = RateLimiter::new(1, 0, Duration::from_secs(120));
        let t0 = Instant::now();
        goes(&limiter, "flood", false, t0);
        let mut tickets = Vec::new();
        for _ in 0..4 {
            tickets.push((
                "flood",
                call(&limiter, "flood", false, t0).unwrap().unwrap(),
            ));
        }
        // Two other servers come later, while the flood waits.
        for (caller, at) in [("b", 100), ("c", 200), ("b", 300)] {
            let ticket = call(&limiter, caller, false, t0 + at * MS)
                .unwrap()
                .unwrap();
            tickets.push((caller, ticket));
        }
        let slots: Vec<Instant> = (1..=7).map(|i| t0 + i * GENERAL_WINDOW).collect();
        assert_eq!(
            serve(&mut tickets, &slots),
            ["b", "c", "flood", "b", "flood", "flood", "flood"]
        );
    }

    /// A newcomer is told at once how long its turn is, counting only the calls ranked
    /// before it, so a flood's own backlog does not make another server's call refused.
    #[test]
    fn the_bound_counts_only_the_calls_ahead_in_turn() {
        let limiter = RateLimiter::new(1, 0, Duration::from_secs(25));
        let t0 = Instant::now();
        goes(&limiter, "flood", false, t0);
        let first = call(&limiter, "flood", false, t0).unwrap().unwrap();
        let second = call(&limiter, "flood", false, t0).unwrap().unwrap();
        // A third flood call would go at 30 s: past the bound, refused.
        let refused = call(&limiter, "flood", false, t0).err().unwrap();
        assert_eq!(refused.retry_after, 3 * GENERAL_WINDOW);
        // Another server's call is next in turn: 10 s, accepted.
        let other = call(&limiter, "other", false, t0 + MS).unwrap().unwrap();
        assert_eq!(first.turn(t0 + GENERAL_WINDOW), Turn::Wait(TURN_TICK));
        assert_eq!(other.turn(t0 + GENERAL_WINDOW), Turn::Go);
        assert_eq!(first.turn(t0 + 2 * GENERAL_WINDOW), Turn::Go);
        // The second flood call, pushed back to 30 s, gives up at its bound.
        let bound = t0 + Duration::from_secs(25) + WAIT_GRACE;
        match second.turn(bound) {
            Turn::Refused(r) => assert_eq!(r.retry_after, t0 + 3 * GENERAL_WINDOW - bound),
            other => panic!("{other:?}"),
        }
        assert!(limiter.state().waiting.is_empty());
    }

    /// A search waiting for the search limit does not hold up another caller's plain
    /// call that the 10-second limit lets through.
    #[test]
    fn a_search_held_by_its_own_limit_does_not_block_other_calls() {
        let limiter = RateLimiter::new(100, 1, Duration::from_secs(5));
        let t0 = Instant::now();
        goes(&limiter, "a", true, t0);
        let search = call(&limiter, "b", true, t0).unwrap().unwrap();
        goes(&limiter, "c", false, t0 + MS);
        assert_eq!(search.turn(t0 + SEARCH_WINDOW), Turn::Go);
    }

    /// Replicas on one registry split both limits (rounded down, never below
    /// one call), and a share grows back only once the leaver's calls left the window.
    #[test]
    fn replicas_split_both_limits_and_a_share_grows_a_window_after_one_left() {
        let replicas = Arc::new(Replicas::default());
        assert_eq!(replicas.check(5), None, "no cluster, no check");
        let limiter = RateLimiter::new(5, 3, Duration::ZERO).shared_by(replicas.clone());
        assert!(replicas.set(2));
        // (Joining one other replica holds calls for a window: the next test.)
        replicas.count().quiet_until = None;
        let t0 = Instant::now();
        goes(&limiter, "a", true, t0);
        assert!(
            call(&limiter, "a", true, t0).err().unwrap().search,
            "3/s ÷ 2"
        );
        goes(&limiter, "a", false, t0);
        assert!(call(&limiter, "a", false, t0).is_err(), "5 per 10 s ÷ 2");
        assert!(replicas.set(1) && !replicas.set(1));
        assert!(call(&limiter, "a", false, t0).is_err(), "held for a window");
        assert_eq!(
            replicas.check(5),
            Some(json!({"live": 1, "status": "ok", "rate_limit_per_10s": 2}))
        );
        assert!(replicas.mark_stale() && !replicas.mark_stale());
        assert_eq!(replicas.check(5).unwrap()["status"], "stale");
        // The window passed: the whole limit, the two calls already sent counted in it.
        replicas.count().held = None;
        for _ in 0..3 {
            goes(&limiter, "a", false, t0);
        }
        assert!(call(&limiter, "a", false, t0).is_err());
        assert_eq!([share(100, 3), share(5, 9), share(0, 3)], [33, 1, 0]);
    }

    /// A replica that joins others cannot know what they spent in the last window, so it
    /// makes no call for one (a call that may not wait that long is refused, saying how
    /// long); one that starts alone calls at once.
    #[test]
    fn a_replica_that_joins_others_makes_no_call_for_a_window() {
        let replicas = Arc::new(Replicas::default());
        let patient = RateLimiter::new(20, 0, Duration::from_secs(30)).shared_by(replicas.clone());
        let impatient = RateLimiter::new(20, 0, Duration::from_secs(1)).shared_by(replicas.clone());
        assert!(replicas.set(2));
        assert_eq!(replicas.check(20).unwrap()["status"], "joining");
        let refused = impatient.wait_turn("a", false, |_| {}).unwrap_err();
        assert!(refused.retry_after > GENERAL_WINDOW - Duration::from_secs(2));
        let mut slept = Duration::ZERO;
        patient
            .wait_turn("a", false, |pause| slept += pause)
            .unwrap();
        assert!(slept > GENERAL_WINDOW - Duration::from_secs(2), "{slept:?}");
        let alone = Replicas::default();
        assert!(alone.set(1));
        assert_eq!(alone.quiet_for(Instant::now()), None);
    }

    /// The memory of who was served last stays bounded however many servers call.
    #[test]
    fn remembered_callers_are_bounded() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(1_000_000, 0, Duration::ZERO);
        for i in 0..5 * REMEMBERED_CALLERS {
            goes(&limiter, &format!("server-{i}"), false, t0);
        }
        assert!(limiter.state().last_turn.len() <= REMEMBERED_CALLERS);
    }
}
