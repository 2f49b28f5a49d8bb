//! The watch's remote changes: records a store's watch delivers (etcd), applied to memory
//! as they come, or all at once on a fresh full read. A record that cannot be read (not
//! JSON, not valid, or not signed or sealed under this registry's key) fails closed: it is
//! dropped from memory, its key logged and counted in `/ready` until a readable value or a
//! delete replaces it.

use super::resolve::{index_tokens, reindex};
use super::seal::Kind;
use super::state::{Account, Server, State, Version};
use super::{lock, AccountAuth, Registry};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

/// A record as a store's watch delivers it (see [`Registry::apply_remote`]).
pub(crate) struct RemoteEvent {
    /// Its key in the store (below the prefix), for logs.
    pub(super) key: String,
    /// Which record.
    pub(super) record: RemoteRecord,
    /// Its stored JSON; `None` when it was deleted.
    pub(super) value: Option<Vec<u8>>,
    /// Its version after the event.
    pub(super) version: Version,
}

/// An account or a server, by id.
pub(crate) enum RemoteRecord {
    Account(String),
    Server(String),
}

impl Registry {
    /// Applies records delivered by a store's watch (or, with `reload`, replaces everything
    /// with a fresh full read) and records that memory now reflects store `revision`.
    /// A record whose value cannot be read (not JSON, not valid, or sealed under another
    /// key) fails closed: it is removed from memory (an account with its servers' tokens),
    /// never kept in the version the store says was replaced; the error names its key (not
    /// its content) and `/ready` counts it until a readable value or a delete replaces it.
    pub(crate) fn apply_remote(&self, revision: i64, events: Vec<RemoteEvent>, reload: bool) {
        let default_token = match &*lock(&self.default_auth) {
            Some(AccountAuth::Token(token)) => Some(token.clone()),
            _ => None,
        };
        let mut state = lock(&self.state);
        let mut unreadable = lock(&self.unreadable);
        // What the token index is brought from when only servers change (the records are
        // shared, so the copy costs a pointer per server, not a filter parse per server).
        let before = (!reload).then(|| state.clone());
        if reload {
            *state = State::empty();
            unreadable.clear();
        }
        for event in events {
            unreadable.remove(&event.key);
            let refuse = |why: &str, unreadable: &mut BTreeSet<String>| {
                log::error!(
                    "registry: the record at key {} in the store cannot be read ({why}); it is refused on this replica until a readable value replaces it",
                    event.key,
                );
                unreadable.insert(event.key.clone());
            };
            match (event.record, event.value) {
                (RemoteRecord::Account(id), None) => {
                    state.accounts.retain(|a| a.id != id);
                    state.versions.remove(&id);
                }
                (RemoteRecord::Server(id), None) => {
                    state.servers.retain(|s| s.id != id);
                    state.versions.remove(&id);
                }
                (RemoteRecord::Account(id), Some(bytes)) => {
                    let read = self
                        .signed::<Account>(Kind::Account, &bytes)
                        .filter(|a| a.id == id)
                        .and_then(|a| a.opened(&self.sealer));
                    let Some(mut account) = read else {
                        let why = "not an integrated account, or not signed or sealed under this REGISTRY_KEY_FILE";
                        refuse(why, &mut unreadable);
                        state.accounts.retain(|a| a.id != id);
                        state.versions.remove(&id);
                        continue;
                    };
                    if account.is_default {
                        account.private_app_token = default_token.clone();
                    }
                    match state.accounts.iter_mut().find(|a| a.id == id) {
                        Some(slot) => *slot = account,
                        None => state.accounts.push(account),
                    }
                    state.versions.insert(id, event.version);
                }
                (RemoteRecord::Server(id), Some(bytes)) => {
                    let read = self
                        .signed::<Server>(Kind::Server, &bytes)
                        .filter(|s| s.id == id && s.check().is_ok());
                    let Some(server) = read else {
                        refuse(
                            "not a valid MCP server record, or not signed under this REGISTRY_KEY_FILE",
                            &mut unreadable,
                        );
                        state.servers.retain(|s| s.id != id);
                        state.versions.remove(&id);
                        continue;
                    };
                    match state.servers.iter().position(|s| s.id == id) {
                        Some(i) => state.servers[i] = server,
                        None => state.servers.push(server),
                    }
                    state.versions.insert(id, event.version);
                }
            }
        }
        state.revision = if reload {
            revision
        } else {
            state.revision.max(revision)
        };
        drop(unreadable);
        match before.filter(|before| before.accounts == state.accounts) {
            Some(before) => reindex(&mut lock(&self.by_token), &before, &state),
            None => *lock(&self.by_token) = index_tokens(&state),
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        drop(state);
        self.installed.notify_all();
    }

    /// A record a store delivered, once its MAC holds under this registry's key; `None`
    /// when it is not JSON, not signed (or not by this key) or not a `T`.
    pub(super) fn signed<T: serde::de::DeserializeOwned>(
        &self,
        kind: Kind,
        bytes: &[u8],
    ) -> Option<T> {
        let mut record: Value = serde_json::from_slice(bytes).ok()?;
        self.sealer.check(kind, &mut record).ok()?;
        serde_json::from_value(record).ok()
    }
}
