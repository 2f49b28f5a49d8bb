//! Where the registry's records live: the small interface between the registry's rules
//! (which work on an in-memory [`State`]) and a store. Two stores implement it: the JSON
//! file in the data directory (the default, [`crate::registry::store::Store`]) and etcd
//! ([`super::etcd_store::EtcdStore`]), each in its own module (`file_store.rs`,
//! `etcd_store.rs`). Nothing above the registry knows which one runs.

use super::seal::Sealer;
use super::{RegistryError, State};
use serde_json::Value;
use std::time::Duration;

/// What a store did with a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Durable; the registry installs the new state in memory itself.
    Install,
    /// Committed at this store revision; the new state arrives through the store's watch,
    /// which the registry waits for (so memory only ever follows the store).
    AtRevision(i64),
}

/// Why a store did not take a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CommitError {
    /// Another writer changed a record first (the in-memory copy was behind): wait for the
    /// copy to move on and apply the change again.
    Lost,
    /// The store failed; nothing was changed.
    Failed(RegistryError),
}

/// A durable home for the registry's records.
pub(crate) trait Backend: Send + Sync {
    /// Where the records are, for the start-up log (a path, or etcd's endpoints).
    fn describe(&self) -> String;

    /// Makes the change from `current` to `next` durable, all of it or none of it.
    fn commit(&self, current: &State, next: &State, sealer: &Sealer)
        -> Result<Commit, CommitError>;

    /// `checks.registry` of `/ready`: the store and whether it is reachable; `None` for a
    /// store that cannot be out of reach (the file), which keeps the first `/ready` shape.
    fn check(&self) -> Option<Value>;

    /// How long the in-memory copy has gone unconfirmed, once that is longer than the store
    /// allows scoped servers to be served from memory (etcd unreachable for more than
    /// `ETCD_MAX_STALENESS_MS`); `None` while it may be trusted (the default: the file).
    fn stale_for(&self) -> Option<Duration> {
        None
    }
}
