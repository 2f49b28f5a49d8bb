//! Which failed HubSpot calls are tried again, and how long to wait first.
//!
//! The rule: a 429 (except the daily limit) is retried for every request, because HubSpot
//! did not process it. A 502, 503 or 504, or a connection that failed (before or after the
//! request went out), is retried only for
//! requests that are safe to send twice ([`is_idempotent`]): reads, searches, batch reads,
//! and PUT/PATCH/DELETE of a given id. A create (any other POST) that may have gone through
//! is never sent again. Timeouts are not retried: the call already used its whole time.
//! The wait doubles from [`Backoff::base`] with jitter, is at least `Retry-After` when
//! HubSpot sends it, and is never longer than [`Backoff::max_wait`]; a longer `Retry-After`
//! ends the call with a "retry after N s" error instead.

use super::{HubSpotError, Method};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// True when sending the request twice does no harm: anything but a POST, and POSTs that
/// only read (a path ending in `/search`, `/batch/read` or `/access-token-info`). Every
/// other POST is taken as a create.
pub fn is_idempotent(method: Method, path: &str) -> bool {
    let path = path_only(path);
    method != Method::Post
        || path.ends_with("/search")
        || path.ends_with("/batch/read")
        || path.ends_with("/access-token-info")
}

/// True for HubSpot's search endpoints (`POST .../search`), which have their own limit.
pub fn is_search(method: Method, path: &str) -> bool {
    method == Method::Post && path_only(path).ends_with("/search")
}

fn path_only(path: &str) -> &str {
    path.split(['?', '#'])
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
}

/// How often and how long failed calls are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Retries after the first attempt (`HUBSPOT_MAX_RETRIES`).
    pub max_retries: u32,
    /// The longest single wait (`HUBSPOT_MAX_WAIT_MS`).
    pub max_wait: Duration,
    /// The first back-off; each retry doubles it.
    pub base: Duration,
}

/// A 429 without `Retry-After` waits at least this long (HubSpot's windows are seconds).
const MIN_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

impl Backoff {
    /// How long to wait before retrying after `err`, or `None` when the call should end
    /// with `err`. `retries` is how many retries were made already; `jitter` is in [0, 1).
    pub fn delay(
        &self,
        err: &HubSpotError,
        idempotent: bool,
        retries: u32,
        jitter: f64,
    ) -> Option<Duration> {
        if retries >= self.max_retries {
            return None;
        }
        let (floor, retry_after) = match err {
            HubSpotError::RateLimited {
                local: false,
                policy,
                retry_after,
                ..
            } if policy != "DAILY" => (MIN_RATE_LIMIT_WAIT, *retry_after),
            HubSpotError::Status {
                status: 502..=504,
                retry_after,
                ..
            } if idempotent => (Duration::ZERO, *retry_after),
            HubSpotError::Unreachable(_) | HubSpotError::Lost(_) if idempotent => {
                (Duration::ZERO, None)
            }
            _ => return None,
        };
        let exponential = self
            .base
            .saturating_mul(1u32 << retries.min(16))
            .min(self.max_wait);
        let jittered = exponential / 2 + exponential.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        let wait = jittered
            .max(floor.min(self.max_wait))
            .max(Duration::from_secs(retry_after.unwrap_or(0)));
        (wait <= self.max_wait).then_some(wait)
    }
}

/// A number in [0, 1) that differs from call to call (spreads the retries of many callers).
pub fn jitter() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let mut x = nanos
        ^ COUNTER
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .rotate_left(17);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        max_retries: 2,
        max_wait: Duration::from_secs(2),
        base: Duration::from_millis(200),
    };

    fn status(status: u16, retry_after: Option<u64>) -> HubSpotError {
        HubSpotError::Status {
            status,
            message: "x".into(),
            category: None,
            correlation_id: None,
            retry_after,
        }
    }

    fn limited(policy: &str, retry_after: Option<u64>, local: bool) -> HubSpotError {
        HubSpotError::RateLimited {
            policy: policy.into(),
            retry_after,
            local,
            correlation_id: None,
        }
    }

    #[test]
    fn creates_are_the_posts_that_do_not_only_read() {
        use Method::*;
        assert!(is_idempotent(Get, "/crm/v3/objects/contacts?limit=1"));
        assert!(is_idempotent(Post, "/crm/v3/objects/contacts/search"));
        assert!(is_idempotent(Post, "/crm/v3/objects/deals/batch/read/"));
        assert!(!is_idempotent(Post, "/crm/v3/objects/contacts"));
        assert!(!is_idempotent(
            Post,
            "/crm/v3/objects/contacts/batch/create"
        ));
        assert!(!is_idempotent(Post, "/crm/v3/objects/searches?x=/search"));
        assert!(is_search(
            Post,
            "/crm/v3/objects/contacts/search?hapikey=no"
        ));
        assert!(!is_search(Get, "/crm/v3/objects/contacts/search"));
        assert!(!is_search(Post, "/crm/v3/objects/contacts/batch/read"));
    }

    #[test]
    fn what_is_retried() {
        let cases = [
            // (error, idempotent, retried)
            (limited("TEN_SECONDLY_ROLLING", None, false), false, true),
            (limited("SECONDLY", Some(1), false), true, true),
            (limited("DAILY", None, false), true, false),
            (limited("TEN_SECONDLY_ROLLING", None, true), true, false),
            (status(502, None), true, true),
            (status(503, None), true, true),
            (status(504, None), true, true),
            (status(503, None), false, false),
            (status(500, None), true, false),
            (status(423, None), true, false),
            (status(409, None), true, false),
            (HubSpotError::Unreachable("reset".into()), true, true),
            (HubSpotError::Unreachable("reset".into()), false, false),
            (HubSpotError::Lost("reset mid-body".into()), true, true),
            (HubSpotError::Lost("reset mid-body".into()), false, false),
            (
                HubSpotError::InvalidResponse("bad chunk".into()),
                true,
                false,
            ),
            (HubSpotError::Timeout, true, false),
            (HubSpotError::Busy, true, false),
        ];
        for (err, idempotent, retried) in cases {
            let delay = BACKOFF.delay(&err, idempotent, 0, 0.5);
            assert_eq!(delay.is_some(), retried, "{err:?} idempotent={idempotent}");
        }
    }

    #[test]
    fn waits_double_with_jitter_honour_retry_after_and_stay_bounded() {
        let err = status(503, None);
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(BACKOFF.delay(&err, true, 0, 0.0), ms(100));
        let most = BACKOFF.delay(&err, true, 0, 0.999_999).unwrap();
        assert!(most > Duration::from_millis(199) && most < Duration::from_millis(200));
        assert_eq!(BACKOFF.delay(&err, true, 1, 0.0), ms(200));
        assert_eq!(
            BACKOFF.delay(&err, true, 2, 0.0),
            None,
            "two retries at most"
        );
        let long = Backoff {
            max_retries: 10,
            ..BACKOFF
        };
        assert_eq!(long.delay(&err, true, 9, 1.0), ms(2000), "capped");
        // Retry-After wins when longer, and ends the call when beyond the bound.
        assert_eq!(BACKOFF.delay(&status(503, Some(1)), true, 0, 0.0), ms(1000));
        assert_eq!(BACKOFF.delay(&status(503, Some(3)), true, 0, 0.0), None);
        let rate = limited("TEN_SECONDLY_ROLLING", None, false);
        assert_eq!(
            BACKOFF.delay(&rate, false, 0, 0.0),
            ms(1000),
            "429 waits 1 s"
        );
        let rate = limited("TEN_SECONDLY_ROLLING", Some(2), false);
        assert_eq!(BACKOFF.delay(&rate, false, 1, 0.0), ms(2000));
        let never = Backoff {
            max_retries: 0,
            ..BACKOFF
        };
        assert_eq!(never.delay(&status(502, None), true, 0, 0.0), None);
    }

    #[test]
    fn jitter_stays_in_range_and_varies() {
        let values: Vec<f64> = (0..100).map(|_| jitter()).collect();
        assert!(values.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(values.windows(2).any(|w| w[0] != w[1]));
    }
}
