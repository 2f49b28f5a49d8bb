//! The process-wide budget for request bodies (`MAX_BUFFERED_BODY_BYTES`): every
//! connection's read buffer past its first [`UNCOUNTED`] bytes is taken from one shared
//! count before it is allocated, so however many clients send large bodies at once, the
//! bytes held for them stay under the budget. A connection that finds no room waits
//! briefly, then answers 503 with `Retry-After` (`conn.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes of a connection's read buffer never counted: a request head at its limit and
/// one read, what every connection holds anyway (bounded by `MAX_CONNECTIONS`).
pub const UNCOUNTED: usize = 16 * 1024;

/// Bytes held in request bodies by every connection, and the most they may be.
#[derive(Debug)]
pub struct BodyBudget {
    max: usize,
    held: AtomicUsize,
}

impl BodyBudget {
    /// A budget of `max` bytes, shared by every listener it is given to.
    pub fn new(max: usize) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            max,
            held: AtomicUsize::new(0),
        })
    }

    /// Takes `n` bytes if they fit.
    fn take(&self, n: usize) -> bool {
        self.held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                held.checked_add(n).filter(|&total| total <= self.max)
            })
            .is_ok()
    }

    /// Gives `n` bytes back.
    fn give(&self, n: usize) {
        self.held.fetch_sub(n, Ordering::SeqCst);
    }
}

/// What one connection holds of the budget; given back when dropped.
pub struct Held {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

impl Held {
    /// Nothing held yet.
    pub fn new(budget: &Arc<BodyBudget>) -> Held {
        Held {
            budget: budget.clone(),
            bytes: 0,
        }
    }

    /// Makes what is held cover a read buffer of `capacity` bytes: true when it already
    /// did or the rest fit in the budget (then it is taken), false otherwise.
    pub fn cover(&mut self, capacity: usize) -> bool {
        let need = capacity.saturating_sub(UNCOUNTED);
        if need <= self.bytes {
            return true;
        }
        let more = need - self.bytes;
        if !self.budget.take(more) {
            return false;
        }
        self.bytes = need;
        true
    }

    /// The read buffer shrank to `capacity`: gives back what it no longer needs.
    pub fn shrink_to(&mut self, capacity: usize) {
        let need = capacity.saturating_sub(UNCOUNTED);
        if need < self.bytes {
            self.budget.give(self.bytes - need);
            self.bytes = need;
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.shrink_to(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_past_the_budget_are_refused_and_given_back_on_drop() {
        let budget = BodyBudget::new(100);
        let mut a = Held::new(&budget);
        let mut b = Held::new(&budget);
        assert!(a.cover(UNCOUNTED), "the first bytes are free");
        assert!(a.cover(UNCOUNTED + 60));
        assert!(
            a.cover(UNCOUNTED + 60),
            "already covered: nothing more taken"
        );
        assert!(!b.cover(UNCOUNTED + 41));
        assert!(b.cover(UNCOUNTED + 40));
        a.shrink_to(UNCOUNTED + 10);
        assert!(b.cover(UNCOUNTED + 90));
        drop((a, b));
        assert_eq!(budget.held.load(Ordering::SeqCst), 0);
    }
}
