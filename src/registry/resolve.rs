//! Token resolution: every scoped server whose account has credentials, kept in memory by
//! its token's SHA-256 and rebuilt (or patched, for changed servers only) with each change,
//! so resolving a token on a scoped MCP request is one hash and one map lookup and never
//! waits for a registry write.

use super::state::{Server, State};
use super::{lock, token, AccountAuth, Registry, ToolFilter};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A scoped MCP server found by its token: what the MCP layer needs to serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedServer {
    /// The server's id.
    pub id: String,
    /// The server's name.
    pub name: String,
    /// The integrated account it is bound to.
    pub integrated_account_id: String,
    /// How to reach HubSpot for that account.
    pub auth: AccountAuth,
    /// Which tools it exposes.
    pub filter: ToolFilter,
    /// When it expires, in milliseconds since the epoch.
    pub expires_at_ms: Option<i64>,
}

/// What a presented MCP token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A live scoped server.
    Live(Arc<ScopedServer>),
    /// A server that has expired (refused like an unknown one; delete it with
    /// [`Registry::purge_expired`] off the coroutine workers).
    Expired,
    /// No server has this token (never had, or deleted).
    Unknown,
    /// A server this replica knows, but the watch on its store (etcd) has been down this
    /// long, longer than `ETCD_MAX_STALENESS_MS`: whether the token was revoked meanwhile
    /// cannot be checked, so it is refused until the watch runs again.
    Unverifiable(Duration),
}

#[cfg(test)]
impl Resolved {
    /// The live server, if the token names one.
    pub fn live(self) -> Option<Arc<ScopedServer>> {
        match self {
            Resolved::Live(server) => Some(server),
            Resolved::Expired | Resolved::Unknown | Resolved::Unverifiable(_) => None,
        }
    }
}

impl Registry {
    /// The scoped server behind `token` (from `/mcp/<token>` or `Authorization`), looked up
    /// in memory by the token's SHA-256: never waits for a registry write. An expired
    /// server is [`Resolved::Expired`]; the caller deletes it off the coroutine workers.
    pub fn resolve_token(&self, token: &str, now_ms: i64) -> Resolved {
        if !token::is_token_format(token) {
            return Resolved::Unknown;
        }
        let found = lock(&self.by_token).get(&token::hash_token(token)).cloned();
        match found {
            None => Resolved::Unknown,
            Some(server) if server.expires_at_ms.is_some_and(|at| now_ms >= at) => {
                Resolved::Expired
            }
            Some(server) => match self.backend.stale_for() {
                Some(down_for) => Resolved::Unverifiable(down_for),
                None => Resolved::Live(server),
            },
        }
    }

    /// The filters of every live server (for pruning caches keyed by filter).
    pub fn live_filters(&self, now_ms: i64) -> Vec<ToolFilter> {
        lock(&self.by_token)
            .values()
            .filter(|s| s.expires_at_ms.is_none_or(|at| now_ms < at))
            .map(|s| s.filter.clone())
            .collect()
    }
}

/// The servers of `state` whose account has credentials, by token hash, as the MCP layer
/// needs them. Servers of an account without credentials (the start-up account before
/// [`Registry::ensure_default_account`]) resolve as unknown.
pub(super) fn index_tokens(state: &State) -> HashMap<String, Arc<ScopedServer>> {
    state
        .servers
        .iter()
        .filter_map(|server| Some((server.token_sha256.clone(), scoped(state, server)?)))
        .collect()
}

/// Brings `index`, the token index of `current`, to that of `next` (whose accounts are the
/// same) by the entries of the servers that changed: a write's cost does not grow with the
/// number of servers.
pub(super) fn reindex(
    index: &mut HashMap<String, Arc<ScopedServer>>,
    current: &State,
    next: &State,
) {
    let diff = current.servers.diff(&next.servers, |s| &s.id);
    for server in diff.removed {
        index.remove(&server.token_sha256);
    }
    for (old, server) in diff.written {
        if let Some(old) = old {
            index.remove(&old.token_sha256);
        }
        if let Some(scoped) = scoped(next, server) {
            index.insert(server.token_sha256.clone(), scoped);
        }
    }
}

/// `server` of `state` as the MCP layer needs it; `None` when its account has no
/// credentials.
fn scoped(state: &State, server: &Server) -> Option<Arc<ScopedServer>> {
    let auth = state.account(&server.integrated_account_id).ok()?.auth()?;
    // Every stored config was checked when it was written or loaded.
    let filter = ToolFilter::parse(Some(&server.config)).ok()?.0;
    Some(Arc::new(ScopedServer {
        id: server.id.clone(),
        name: server.name.clone(),
        integrated_account_id: server.integrated_account_id.clone(),
        auth,
        filter,
        expires_at_ms: server.expires_at_ms(),
    }))
}
