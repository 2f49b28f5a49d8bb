//! The registry layer, above the catalog and the HubSpot client: accounts and scoped
//! servers, and their stores (the file in `DATA_DIR`: `store`, `journal`; etcd: `etcd`,
//! `etcd_store`, `replicas`). Writes run on its own pool, never on a coroutine.
//!
//! Integrated accounts and the scoped MCP servers minted for them (Truto's API), kept in
//! memory behind a mutex and made durable on every change by a [`Backend`]: the data
//! directory's file ([`Store`], the default: one journal record per change, [`file_store`]) or
//! etcd ([`etcd_store`], shared by replicas). The admin API's bodies are parsed into typed inputs ([`NewAccount`], [`NewServer`],
//! [`ServerPatch`]) before they reach the rules here.
//!
//! This is the logic under the admin routes: every method takes plain inputs (ids, the parsed
//! JSON body, the query's `limit`/`next_cursor`, the current time in milliseconds) and returns
//! the response body or a [`RegistryError`] that carries the HTTP status and the
//! `{statusCode, error, message}` envelope. Time is always passed in (`now_ms`), so expiry is
//! testable without sleeping.
//!
//! Guarantees:
//! - **Memory and store agree.** A change is applied to a copy, the copy is committed, and
//!   only then does it replace the in-memory state (with etcd: arrives through the watch); a
//!   failed commit leaves both as they were and answers 500 (503 when etcd is unreachable). Changes are serialised by a writer lock; readers (such as
//!   [`Registry::resolve_token`] on every scoped MCP request) never wait for an fsync.
//! - **Tokens are shown once.** Only [`Registry::mint_server`]'s answer holds the MCP token
//!   and its URL; the file and every other answer hold the token's SHA-256 at most.
//! - **HubSpot keys never leave.** An account's private app token is kept in the file (mode
//!   0600) sealed with AES-256-GCM under the data directory's `registry.key`, so it survives
//!   restarts while a copy of the file alone reveals nothing; no answer shows it (`has_token`
//!   instead) and
//!   [`AccountAuth`]'s `Debug` redacts it. The start-up account's key comes from the
//!   environment on every start and is never written to the file.
//! - **Expired servers are gone.** An expired server answers like an unknown one (404, and
//!   [`Registry::resolve_token`] gives `None`); it is deleted from the file when its token
//!   is next presented and with the next change of any kind.
//! - `created_by` is whatever the HTTP layer passes: the fixed admin identity
//!   [`ADMIN_IDENTITY`] while there is a single admin token.
//!
//! Registry writes fsync: call the changing methods off the coroutine workers if that
//! matters (they take milliseconds).
//!
//! The parts: `state.rs` the records and the state they make up, `change.rs` copy-on-write
//! changes, `remote.rs` the changes a store's watch delivers, `resolve.rs` the token index,
//! `paging.rs` the lists' pages; this module holds the operations the admin routes call.

pub mod etcd;
pub mod journal;
pub mod replicas;
pub mod store;

mod backend;
mod change;
mod error;
pub mod etcd_store;
mod file_store;
pub mod filter;
mod input;
mod paging;
mod records;
mod remote;
mod resolve;
mod seal;
mod state;
#[cfg(test)]
mod tests;
pub mod token;

use backend::Backend;
pub use error::RegistryError;
pub use filter::{Catalog, ToolFilter};
pub use input::{NewAccount, NewServer, ServerPatch};
use paging::paginate;
pub use paging::Page;
pub(crate) use remote::{RemoteEvent, RemoteRecord};
use resolve::index_tokens;
pub use resolve::{Resolved, ScopedServer};
use seal::Sealer;
pub use state::AccountAuth;
use state::{Account, Server, State};

use crate::registry::store::{Store, StoreError};
use crate::runtime::clock;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// `created_by` of servers minted with the single admin token.
pub const ADMIN_IDENTITY: &str = "admin";
/// The longest account or server name, in characters.
pub const MAX_NAME_LEN: usize = 200;
/// How far in the future `expires_at` must be, at least.
pub const MIN_EXPIRY_MS: i64 = 60_000;
/// How far in the future `expires_at` may be, at most, in days (about ten years): a token
/// meant to last forever is minted without an expiry, and a bound keeps every store's
/// arithmetic on the date (etcd's lease, the file's parse) far from its limits.
pub const MAX_EXPIRY_DAYS: i64 = 3650;
/// The longest HubSpot private app token accepted.
pub const MAX_HUBSPOT_TOKEN_LEN: usize = 1024;
/// How many live scoped servers one account may have when `MAX_SERVERS_PER_ACCOUNT` is
/// not set: each costs memory and a file entry, so minting in a loop must stop somewhere.
pub const DEFAULT_MAX_SERVERS_PER_ACCOUNT: usize = 1000;
/// Hashed into the start-up account's id, so the id is the same on every run.
const DEFAULT_ACCOUNT_LABEL: &str = "hubspot-mcp-server:start-up integrated account";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // State is only ever replaced whole, after a successful save, so a panic elsewhere
    // cannot leave it half-changed: a poisoned lock is safe to use.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records per change when importing: each server is up to two compares and two puts, and
/// etcd refuses transactions of more than 128 operations by default.
const IMPORT_BATCH: usize = 40;

/// The registry: integrated accounts and scoped MCP servers, kept in memory and made
/// durable by a [`Backend`] (the data directory's file, or etcd).
pub struct Registry {
    backend: Arc<dyn Backend>,
    state: Mutex<State>,
    /// Signalled whenever a new state is installed: writes to a store with a watch wait on
    /// it for their own change.
    installed: Condvar,
    /// Every server whose account has credentials, by its token's SHA-256: rebuilt with
    /// each change, so resolving a token is one hash and one map lookup, in memory.
    by_token: Mutex<HashMap<String, Arc<ScopedServer>>>,
    /// Counts installed changes, so caches derived from the registry know when to prune.
    generation: AtomicU64,
    /// Serialises this process's changes so that each commit builds on the previous one.
    writer: Mutex<()>,
    /// Seals HubSpot keys in the store.
    sealer: Sealer,
    /// This process's credentials for the start-up account (never stored): attached to the
    /// start-up account whenever a store delivers its record.
    default_auth: Mutex<Option<AccountAuth>>,
    /// The most live scoped servers one account may have (`MAX_SERVERS_PER_ACCOUNT`).
    max_servers_per_account: usize,
    /// Store keys whose current value could not be read (see [`Registry::apply_remote`]),
    /// counted in `/ready` until a readable value or a delete replaces them.
    unreadable: Mutex<BTreeSet<String>>,
}

impl Registry {
    /// Loads the registry from `store`: its snapshot (empty when there is no file yet) with
    /// its journal replayed over it. A file that is not a registry, or holds a record not
    /// signed under the data directory's key, stops here with [`StoreError::Corrupt`] and is
    /// left untouched; with `accept_unsigned` (`REGISTRY_ACCEPT_UNSIGNED`) records without a
    /// MAC are taken and the registry is saved again, signed.
    pub fn open(store: Store, accept_unsigned: bool) -> Result<Registry, StoreError> {
        let key = store.secret_key()?;
        let sealer = Sealer::new(&key).ok_or_else(|| StoreError::Corrupt {
            path: store.path(),
            detail: "the data directory's key is not usable".into(),
        })?;
        let state = file_store::load(&store, &sealer, accept_unsigned)?;
        Ok(Registry::with_backend(Arc::new(store), sealer, state))
    }

    fn with_backend(backend: Arc<dyn Backend>, sealer: Sealer, state: State) -> Registry {
        Registry {
            backend,
            sealer,
            by_token: Mutex::new(index_tokens(&state)),
            state: Mutex::new(state),
            installed: Condvar::new(),
            generation: AtomicU64::new(0),
            writer: Mutex::new(()),
            default_auth: Mutex::new(None),
            max_servers_per_account: DEFAULT_MAX_SERVERS_PER_ACCOUNT,
            unreadable: Mutex::new(BTreeSet::new()),
        }
    }

    /// Where the registry is kept, for logs (the file's path, or etcd's endpoints).
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// `checks.registry` for `/ready`: the store and whether it is reachable (`None` for the
    /// file, which keeps the first `/ready` shape), and the records it holds that this
    /// replica cannot read (left out, so refused).
    pub fn check(&self) -> Option<Value> {
        let mut check = self.backend.check()?;
        let unreadable = lock(&self.unreadable);
        // A count only: `/ready` needs no credential, and a key names an account and a
        // server (each key is in the log, at error level, when it is refused).
        if !unreadable.is_empty() {
            check["unreadable_records"] = json!(unreadable.len());
        }
        Some(check)
    }

    /// The same registry allowing at most `max` live scoped servers per account
    /// (`MAX_SERVERS_PER_ACCOUNT`); a create beyond it is a 409.
    pub fn with_max_servers_per_account(self, max: usize) -> Registry {
        Registry {
            max_servers_per_account: max,
            ..self
        }
    }

    /// The start-up account's id: the same on every run and every machine.
    pub fn default_account_id() -> String {
        token::stable_uuid(DEFAULT_ACCOUNT_LABEL)
    }

    /// Registers (or updates) the start-up account with the credentials of this run
    /// (`HUBSPOT_PRIVATE_APP_ACCESS_TOKEN` or the mock) under [`Registry::default_account_id`],
    /// and returns that id. The key is kept in memory only; the store records the account
    /// without it, so servers minted for it survive restarts.
    pub fn ensure_default_account(
        &self,
        auth: AccountAuth,
        now_ms: i64,
    ) -> Result<String, RegistryError> {
        let id = Registry::default_account_id();
        *lock(&self.default_auth) = Some(auth.clone());
        let (token, mock) = match auth {
            AccountAuth::Token(t) => (Some(t), false),
            AccountAuth::Mock => (None, true),
        };
        self.change(now_ms, |state| {
            let now = clock::format_millis(now_ms);
            match state.accounts.iter_mut().find(|a| a.id == id) {
                Some(a) => {
                    if a.mock != mock || !a.is_default {
                        a.mock = mock;
                        a.is_default = true;
                        a.updated_at = now;
                    }
                    a.private_app_token = token.clone();
                }
                None => state.accounts.push(Account {
                    id: id.clone(),
                    name: "default".to_string(),
                    private_app_token: token.clone(),
                    mock,
                    is_default: true,
                    created_at: now.clone(),
                    updated_at: now,
                }),
            }
            Ok(())
        })?;
        Ok(id)
    }

    #[cfg(test)]
    /// [`Registry::add_account`] with the body as JSON.
    pub fn create_account(&self, body: &Value, now_ms: i64) -> Result<Value, RegistryError> {
        self.add_account(NewAccount::parse(body)?, now_ms)
    }

    /// `POST /integrated-account`. Returns the account (with `has_token`, never the token).
    pub fn add_account(&self, input: NewAccount, now_ms: i64) -> Result<Value, RegistryError> {
        let id = token::new_uuid_v4()?;
        let now = clock::format_millis(now_ms);
        let account = Account {
            id,
            name: input.name,
            mock: input.private_app_token.is_none(),
            private_app_token: input.private_app_token,
            is_default: false,
            created_at: now.clone(),
            updated_at: now,
        };
        let shown = account.to_json();
        self.change(now_ms, |state| {
            if state.account(&account.id).is_err() {
                state.accounts.push(account.clone());
            }
            Ok(())
        })?;
        Ok(shown)
    }

    /// `GET /integrated-account`: `{result: [...], next_cursor}`, oldest first.
    pub fn list_accounts(&self, page: &Page) -> Value {
        let state = lock(&self.state);
        paginate(
            state.accounts.iter().collect(),
            page,
            |a| (a.created_at.as_str(), a.id.as_str()),
            Account::to_json,
        )
    }

    /// `GET /integrated-account/{id}`.
    pub fn get_account(&self, id: &str) -> Result<Value, RegistryError> {
        lock(&self.state).account(id).map(Account::to_json)
    }

    /// `DELETE /integrated-account/{id}`: deletes the account and all its MCP servers and
    /// returns the deleted account. The start-up account cannot be deleted (409): it comes
    /// back at every start.
    pub fn delete_account(&self, id: &str, now_ms: i64) -> Result<Value, RegistryError> {
        self.change(now_ms, |state| {
            let account = state.account(id)?;
            if account.is_default {
                return Err(RegistryError::Conflict(format!(
                    "integrated account {id} is the start-up account (from \
                     HUBSPOT_PRIVATE_APP_ACCESS_TOKEN or HUBSPOT_MOCK) and cannot be deleted"
                )));
            }
            let shown = account.to_json();
            state.accounts.retain(|a| a.id != id);
            state.servers.retain(|s| s.integrated_account_id != id);
            Ok(shown)
        })
    }

    #[cfg(test)]
    /// How account `id` reaches HubSpot; `None` when there is no such account or (for the
    /// start-up account before [`Registry::ensure_default_account`]) no credentials yet.
    pub fn account_auth(&self, id: &str) -> Option<AccountAuth> {
        lock(&self.state).account(id).ok().and_then(Account::auth)
    }

    #[cfg(test)]
    /// [`Registry::mint_server`] with the body as JSON (404 for an unknown account first).
    pub fn create_server(
        &self,
        account_id: &str,
        body: &Value,
        catalog: &Catalog<'_>,
        created_by: &str,
        base_url: &str,
        now_ms: i64,
    ) -> Result<Value, RegistryError> {
        lock(&self.state).account(account_id)?;
        let input = NewServer::parse(body, catalog, now_ms)?;
        self.mint_server(account_id, input, created_by, Some(base_url), now_ms)
    }

    /// `POST /integrated-account/{account_id}/mcp`: checks the account's server count (409
    /// at `MAX_SERVERS_PER_ACCOUNT` live servers), mints a token and returns the server with
    /// `token` and `url` (`<base_url>/mcp/<token>`, `null` without a base): the only answer
    /// that ever holds them. `created_by` is the admin identity ([`ADMIN_IDENTITY`]).
    pub fn mint_server(
        &self,
        account_id: &str,
        input: NewServer,
        created_by: &str,
        base_url: Option<&str>,
        now_ms: i64,
    ) -> Result<Value, RegistryError> {
        let token = token::new_token()?;
        let id = token::new_uuid_v4()?;
        let now = clock::format_millis(now_ms);
        let server = Server {
            id,
            name: input.name,
            config: input.config,
            integrated_account_id: account_id.to_string(),
            created_by: created_by.to_string(),
            created_at: now.clone(),
            updated_at: now,
            expires_at: input.expires_at,
            token_sha256: token::hash_token(&token),
        };
        let mut shown = server.to_json();
        let max = self.max_servers_per_account;
        let mut retry = false;
        self.change(now_ms, |state| {
            state.account(account_id)?;
            // Counted on the copy the change applies to (after expired servers are
            // dropped; on a retry, the fresh copy). Already there: a retry of a create
            // that etcd committed but did not confirm (a first try's id is new). Neither
            // scan runs when it cannot matter, so a create's cost does not grow with the
            // registry.
            if std::mem::replace(&mut retry, true)
                && state.servers.iter().any(|s| s.id == server.id)
            {
                return Ok(());
            }
            let live = if state.servers.len() < max {
                0 // fewer servers in all than the cap: no need to count this account's
            } else {
                state
                    .servers
                    .iter()
                    .filter(|s| s.integrated_account_id == account_id)
                    .count()
            };
            if live >= max {
                return Err(RegistryError::Conflict(format!(
                    "integrated account {account_id} already has {live} MCP servers, the most \
                     allowed (MAX_SERVERS_PER_ACCOUNT={max}); delete unused ones or raise \
                     MAX_SERVERS_PER_ACCOUNT"
                )));
            }
            state.servers.push(server.clone());
            Ok(())
        })?;
        shown["url"] = match base_url {
            Some(base) => Value::String(format!("{}/mcp/{token}", base.trim_end_matches('/'))),
            None => Value::Null,
        };
        shown["token"] = Value::String(token);
        Ok(shown)
    }

    /// `GET /integrated-account/{account_id}/mcp`: `{result: [...], next_cursor}`, oldest
    /// first, expired servers left out.
    pub fn list_servers(
        &self,
        account_id: &str,
        page: &Page,
        now_ms: i64,
    ) -> Result<Value, RegistryError> {
        let state = lock(&self.state);
        state.account(account_id)?;
        let servers = state
            .servers
            .iter()
            .filter(|s| s.integrated_account_id == account_id && !s.expired(now_ms))
            .collect();
        Ok(paginate(
            servers,
            page,
            |s| (s.created_at.as_str(), s.id.as_str()),
            Server::to_json,
        ))
    }

    /// `GET /integrated-account/{account_id}/mcp/{server_id}` (no token).
    pub fn get_server(
        &self,
        account_id: &str,
        server_id: &str,
        now_ms: i64,
    ) -> Result<Value, RegistryError> {
        let state = lock(&self.state);
        let i = state.server_index(account_id, server_id, now_ms)?;
        Ok(state.servers[i].to_json())
    }

    #[cfg(test)]
    /// [`Registry::patch_server`] with the body as JSON (404 for an unknown server first).
    pub fn update_server(
        &self,
        account_id: &str,
        server_id: &str,
        body: &Value,
        catalog: &Catalog<'_>,
        now_ms: i64,
    ) -> Result<Value, RegistryError> {
        lock(&self.state).server_index(account_id, server_id, now_ms)?;
        let patch = ServerPatch::parse(body, catalog, now_ms)?;
        self.patch_server(account_id, server_id, patch, now_ms)
    }

    /// `PATCH /integrated-account/{account_id}/mcp/{server_id}`: applies `patch` and
    /// returns the server (no token). An empty patch changes nothing.
    pub fn patch_server(
        &self,
        account_id: &str,
        server_id: &str,
        patch: ServerPatch,
        now_ms: i64,
    ) -> Result<Value, RegistryError> {
        self.change(now_ms, |state| {
            let i = state.server_index(account_id, server_id, now_ms)?;
            let server = &mut state.servers[i];
            if let Some(name) = &patch.name {
                server.name = name.clone();
            }
            if let Some(config) = &patch.config {
                server.config = config.clone();
            }
            if let Some(expires_at) = &patch.expires_at {
                server.expires_at = expires_at.clone();
            }
            if !patch.is_empty() {
                server.updated_at = clock::format_millis(now_ms);
            }
            Ok(server.to_json())
        })
    }

    /// `DELETE /integrated-account/{account_id}/mcp/{server_id}`: its token stops working at
    /// once. Returns the deleted server (no token).
    pub fn delete_server(
        &self,
        account_id: &str,
        server_id: &str,
        now_ms: i64,
    ) -> Result<Value, RegistryError> {
        self.change(now_ms, |state| {
            let i = state.server_index(account_id, server_id, now_ms)?;
            Ok(state.servers.remove(i).to_json())
        })
    }

    /// How many changes have been installed since the registry was opened.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// `registry export`: every account and server as the file holds them (tokens as their
    /// SHA-256, HubSpot keys sealed under this registry's key, the start-up account's key
    /// left out).
    pub fn export(&self) -> Result<Value, RegistryError> {
        lock(&self.state).to_file(&self.sealer)
    }

    /// `registry import`: adds (or replaces, by id) the accounts and servers of an
    /// [`Registry::export`], in batches small enough for one etcd transaction each; expired
    /// servers are left out and this registry's start-up account is kept. The sealed keys
    /// must open under this registry's key (the same `REGISTRY_KEY_FILE`, or the data
    /// directory's `registry.key`). Returns how many accounts and servers were imported.
    pub fn import(&self, export: Value, now_ms: i64) -> Result<(usize, usize), RegistryError> {
        let incoming: State = serde_json::from_value(export)
            .map_err(|e| RegistryError::bad(format!("not a registry export: {e}")))?;
        incoming.check().map_err(RegistryError::BadRequest)?;
        let accounts = incoming
            .accounts
            .into_iter()
            .map(|a| {
                let id = a.id.clone();
                a.opened(&self.sealer).ok_or_else(|| {
                    RegistryError::bad(format!(
                        "the HubSpot key of integrated account {id} does not open under this registry's key: import with the key the export was sealed with (REGISTRY_KEY_FILE, or DATA_DIR/registry.key)"
                    ))
                })
            })
            .collect::<Result<Vec<Account>, RegistryError>>()?;
        let servers: Vec<Server> = incoming
            .servers
            .into_iter()
            .filter(|s| !s.expired(now_ms))
            .collect();
        for batch in accounts.chunks(IMPORT_BATCH) {
            self.change(now_ms, |state| {
                for account in batch {
                    match state.accounts.iter_mut().find(|a| a.id == account.id) {
                        Some(_) if account.is_default => {}
                        Some(slot) => *slot = account.clone(),
                        None => state.accounts.push(account.clone()),
                    }
                }
                Ok(())
            })?;
        }
        for batch in servers.chunks(IMPORT_BATCH) {
            self.change(now_ms, |state| {
                for server in batch {
                    match state.servers.iter().position(|s| s.id == server.id) {
                        Some(i) => state.servers[i] = server.clone(),
                        None => state.servers.push(server.clone()),
                    }
                }
                Ok(())
            })?;
        }
        Ok((accounts.len(), servers.len()))
    }

    /// Deletes every expired server now (an fsync: call it off the coroutine workers);
    /// returns how many.
    pub fn purge_expired(&self, now_ms: i64) -> Result<usize, RegistryError> {
        self.change_counting(now_ms, |_| Ok(())).map(|((), n)| n)
    }
}
