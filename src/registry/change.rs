//! Copy-on-write changes: a change is applied to a copy of the state, the copy is committed
//! by the backend, and only then installed in memory (with the token index brought along);
//! a failed commit leaves both as they were. Changes of this process are serialised by the
//! writer lock, and one that lost a race with another replica (etcd) runs again on the
//! fresh copy. With a watch, a write waits (briefly) for its own change to come back.

use super::backend::{Commit, CommitError};
use super::resolve::{index_tokens, reindex};
use super::{lock, Registry, RegistryError, State};
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// How long a write to a store with a watch (etcd) waits for its own change to arrive in
/// memory before answering anyway (the change is committed either way).
const WATCH_WAIT: Duration = Duration::from_secs(5);
/// How often a change that lost a race with another replica is applied again to the fresh
/// copy before the admin gets 409.
const MAX_ATTEMPTS: usize = 20;

impl Registry {
    /// Applies `f` to a copy of the state (after dropping expired servers) and commits the
    /// copy; on any error nothing changes. When another replica changed a record first
    /// (etcd), `f` runs again on the fresh copy, so `f` must be repeatable.
    pub(super) fn change<R>(
        &self,
        now_ms: i64,
        f: impl FnMut(&mut State) -> Result<R, RegistryError>,
    ) -> Result<R, RegistryError> {
        self.change_counting(now_ms, f).map(|(out, _)| out)
    }

    /// [`Registry::change`], also returning how many expired servers it deleted.
    pub(super) fn change_counting<R>(
        &self,
        now_ms: i64,
        mut f: impl FnMut(&mut State) -> Result<R, RegistryError>,
    ) -> Result<(R, usize), RegistryError> {
        let _writer = lock(&self.writer);
        for _ in 0..MAX_ATTEMPTS {
            let (current, generation) = {
                let state = lock(&self.state);
                (state.clone(), self.generation.load(Ordering::SeqCst))
            };
            let mut next = current.clone();
            let purged = next.purge_expired(now_ms);
            let out = f(&mut next)?;
            match self.backend.commit(&current, &next, &self.sealer) {
                Ok(Commit::Install) => {
                    if self.install(&current, generation, next) {
                        return Ok((out, purged));
                    }
                }
                Ok(Commit::AtRevision(revision)) => {
                    // The watch brings the change in; while it lags (etcd changing leaders,
                    // say), this replica installs its own change, so a client that was told
                    // "created" can use or delete it here at once. The watch, resuming from
                    // the older revision, delivers the same records again.
                    if !self.wait_for(|state| state.revision >= revision)
                        && !self.install(&current, generation, next)
                    {
                        log::warn!(
                            "registry: change committed at revision {revision}, not yet seen by this replica's watch"
                        );
                    }
                    return Ok((out, purged));
                }
                Err(CommitError::Lost) => {
                    log::debug!("registry: another replica changed a record first; applying the change again to the fresh copy");
                    if !self.wait_for(|state| state.revision > current.revision) {
                        return Err(RegistryError::Unavailable(
                            "this replica's copy of the registry is behind etcd (its watch brought nothing new); try again".into(),
                        ));
                    }
                }
                Err(CommitError::Failed(err)) => return Err(err),
            }
        }
        Err(RegistryError::Conflict(
            "the record kept changing under concurrent writes from other replicas; try again"
                .into(),
        ))
    }

    /// Replaces the in-memory state `current` (copied at `generation`) with `next`, and the
    /// token index with it, and wakes waiting writers; false (nothing installed) when a watch
    /// moved the state past `current` meanwhile, so that its news is not overwritten. The
    /// index is rebuilt when an account changed, else only the changed servers' entries are.
    pub(super) fn install(&self, current: &State, generation: u64, next: State) -> bool {
        let rebuilt = (current.accounts != next.accounts).then(|| index_tokens(&next));
        let mut state = lock(&self.state);
        if state.revision != current.revision {
            return false;
        }
        match rebuilt {
            Some(tokens) => *lock(&self.by_token) = tokens,
            None if self.generation.load(Ordering::SeqCst) == generation => {
                reindex(&mut lock(&self.by_token), current, &next)
            }
            None => *lock(&self.by_token) = index_tokens(&next),
        }
        *state = next;
        self.generation.fetch_add(1, Ordering::SeqCst);
        drop(state);
        self.installed.notify_all();
        true
    }

    /// Waits (at most [`WATCH_WAIT`]) until the in-memory state satisfies `done`.
    pub(super) fn wait_for(&self, done: impl Fn(&State) -> bool) -> bool {
        let deadline = Instant::now() + WATCH_WAIT;
        let mut state = lock(&self.state);
        while !done(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .installed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}
