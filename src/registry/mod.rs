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

mod backend;
mod error;
pub mod etcd_store;
mod file_store;
pub mod filter;
mod input;
mod records;
mod seal;
#[cfg(test)]
mod tests;
pub mod token;

use backend::{Backend, Commit, CommitError};
pub use error::RegistryError;
pub use filter::{Catalog, ToolFilter};
pub use input::{NewAccount, NewServer, ServerPatch};
use records::Records;
use seal::{Kind, Sealer};

use crate::clock;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

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
/// The page size when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 20;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 100;
/// The longest HubSpot private app token accepted.
pub const MAX_HUBSPOT_TOKEN_LEN: usize = 1024;
/// How many live scoped servers one account may have when `MAX_SERVERS_PER_ACCOUNT` is
/// not set: each costs memory and a file entry, so minting in a loop must stop somewhere.
pub const DEFAULT_MAX_SERVERS_PER_ACCOUNT: usize = 1000;
/// The file format version this code reads and writes.
const FILE_VERSION: u32 = 1;
/// Hashed into the start-up account's id, so the id is the same on every run.
const DEFAULT_ACCOUNT_LABEL: &str = "hubspot-mcp-server:start-up integrated account";

/// How an integrated account reaches HubSpot.
#[derive(Clone, PartialEq, Eq)]
pub enum AccountAuth {
    /// A HubSpot private app access token (sent as `Authorization: Bearer`).
    Token(String),
    /// The server's built-in mock HubSpot (`HUBSPOT_MOCK`).
    Mock,
}

impl fmt::Debug for AccountAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountAuth::Token(_) => f.write_str("Token(<redacted>)"),
            AccountAuth::Mock => f.write_str("Mock"),
        }
    }
}

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

/// One page request: `limit` (1 to 100, default 20) and the `next_cursor` of the previous
/// page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    limit: usize,
    /// The sort key (`created_at`, `id`) of the last item already returned.
    after: Option<(String, String)>,
}

impl Page {
    #[cfg(test)]
    /// The first page of `DEFAULT_LIMIT` items.
    pub fn first() -> Page {
        Page {
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }

    /// Parses the query parameters `limit` and `next_cursor` as they arrived (empty counts
    /// as absent). 400 for a limit outside 1..=100 or a cursor this server did not issue.
    pub fn from_query(
        limit: Option<&str>,
        next_cursor: Option<&str>,
    ) -> Result<Page, RegistryError> {
        let limit = match limit.map(str::trim).filter(|s| !s.is_empty()) {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    RegistryError::bad(format!("limit must be an integer from 1 to {MAX_LIMIT}"))
                })?,
        };
        let after = match next_cursor.filter(|s| !s.is_empty()) {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                RegistryError::bad("next_cursor is not a cursor returned by this server")
            })?),
        };
        Ok(Page { limit, after })
    }
}

/// The cursor is the hex of `created_at` and `id`: opaque to clients, stable when items
/// before it are deleted.
fn encode_cursor(created_at: &str, id: &str) -> String {
    format!("{created_at} {id}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    if !cursor.len().is_multiple_of(2) || cursor.len() > 512 {
        return None;
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let text = String::from_utf8(bytes).ok()?;
    let (created_at, id) = text.split_once(' ')?;
    Some((created_at.to_string(), id.to_string()))
}

/// Builds `{result, next_cursor}` from items sorted by (`created_at`, `id`).
fn paginate<T>(
    items: Vec<&T>,
    page: &Page,
    key: impl Fn(&T) -> (&str, &str),
    show: impl Fn(&T) -> Value,
) -> Value {
    let mut items = items;
    items.sort_by(|a, b| key(a).cmp(&key(b)));
    let start = match &page.after {
        None => 0,
        Some((c, i)) => items.partition_point(|x| key(x) <= (c.as_str(), i.as_str())),
    };
    let rest = &items[start.min(items.len())..];
    let shown = &rest[..page.limit.min(rest.len())];
    let next_cursor = match shown.last() {
        Some(last) if rest.len() > shown.len() => {
            let (c, i) = key(last);
            Value::String(encode_cursor(c, i))
        }
        _ => Value::Null,
    };
    json!({
        "result": shown.iter().map(|x| show(x)).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })
}

/// An integrated account as stored.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
struct Account {
    id: String,
    name: String,
    /// The HubSpot private app token; never shown, never written for the start-up account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_app_token: Option<String>,
    #[serde(default)]
    mock: bool,
    /// The start-up account (credentials from the environment).
    #[serde(default)]
    is_default: bool,
    created_at: String,
    updated_at: String,
}

impl Account {
    /// The account as a store keeps it: the start-up account without its HubSpot key (it
    /// comes from the environment), every other account's key sealed.
    fn stored(&self, sealer: &Sealer) -> Account {
        let mut copy = self.clone();
        copy.private_app_token = match (&self.private_app_token, self.is_default) {
            (Some(token), false) => Some(sealer.seal(token)),
            _ => None,
        };
        copy
    }

    /// The inverse of [`Account::stored`]: opens the sealed key; `None` when it was not
    /// sealed under this sealer's key.
    fn opened(mut self, sealer: &Sealer) -> Option<Account> {
        if let Some(sealed) = &self.private_app_token {
            self.private_app_token = Some(sealer.open(sealed)?);
        }
        Some(self)
    }

    fn auth(&self) -> Option<AccountAuth> {
        if self.mock {
            Some(AccountAuth::Mock)
        } else {
            self.private_app_token.clone().map(AccountAuth::Token)
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "mock": self.mock,
            "has_token": self.private_app_token.is_some(),
            "is_default": self.is_default,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// A scoped MCP server as stored: the token only as its SHA-256.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
struct Server {
    id: String,
    name: String,
    config: Value,
    integrated_account_id: String,
    created_by: String,
    created_at: String,
    updated_at: String,
    #[serde(default)]
    expires_at: Option<String>,
    token_sha256: String,
}

impl Server {
    /// Checks a server read from a store beyond its JSON shape; the error says what is
    /// wrong (never the token's hash).
    fn check(&self) -> Result<(), String> {
        let hex = self.token_sha256.len() == 64
            && self
                .token_sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex {
            return Err(format!("MCP server {} has a bad token_sha256", self.id));
        }
        if self.expires_at.is_some() && self.expires_at_ms().is_none() {
            return Err(format!("MCP server {} has a bad expires_at", self.id));
        }
        if let Err(e) = ToolFilter::parse(Some(&self.config)) {
            return Err(format!(
                "MCP server {} has a bad config: {}",
                self.id,
                e.message()
            ));
        }
        Ok(())
    }

    fn expires_at_ms(&self) -> Option<i64> {
        self.expires_at.as_deref().and_then(clock::parse_rfc3339)
    }

    fn expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms().is_some_and(|at| now_ms >= at)
    }

    /// The server as every answer but the create shows it: no token, no URL.
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "config": self.config,
            "integrated_account_id": self.integrated_account_id,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
        })
    }
}

/// A record's version in a store that has them (etcd): compared on every change so that a
/// write based on an old copy is refused instead of losing another writer's update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Version {
    /// The store revision of the record's last change.
    mod_revision: i64,
    /// The lease the record is attached to (0: none).
    lease: i64,
}

/// Everything the registry holds; also the file's shape.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    version: u32,
    accounts: Vec<Account>,
    /// Shared between copies: copying the state for a change does not copy every server.
    servers: Records<Server>,
    /// The store revision this copy reflects (0 for the file).
    #[serde(skip)]
    revision: i64,
    /// Each record's version by id (empty for the file).
    #[serde(skip)]
    versions: HashMap<String, Version>,
}

impl State {
    fn empty() -> State {
        State {
            version: FILE_VERSION,
            accounts: Vec::new(),
            servers: Records::default(),
            revision: 0,
            versions: HashMap::new(),
        }
    }

    /// What goes into the file: every account as [`Account::stored`], every record signed.
    fn to_file(&self, sealer: &Sealer) -> Result<Value, RegistryError> {
        let copy = State {
            accounts: self.accounts.iter().map(|a| a.stored(sealer)).collect(),
            ..self.clone()
        };
        let mut file = serde_json::to_value(&copy)
            .map_err(|e| RegistryError::Internal(format!("cannot encode the registry: {e}")))?;
        sealer.sign_all(&mut file);
        Ok(file)
    }

    /// Checks a loaded file beyond its JSON shape; the error says what is wrong.
    fn check(&self) -> Result<(), String> {
        if self.version != FILE_VERSION {
            return Err(format!(
                "format version {} is not supported (this server reads version {FILE_VERSION})",
                self.version
            ));
        }
        let mut ids = HashSet::new();
        for a in &self.accounts {
            if !ids.insert(a.id.as_str()) {
                return Err(format!("account id {} appears twice", a.id));
            }
        }
        let mut hashes = HashSet::new();
        for s in &self.servers {
            if !ids.insert(s.id.as_str()) {
                return Err(format!("id {} appears twice", s.id));
            }
            if !self
                .accounts
                .iter()
                .any(|a| a.id == s.integrated_account_id)
            {
                return Err(format!(
                    "MCP server {} refers to integrated account {}, which is not in the file",
                    s.id, s.integrated_account_id
                ));
            }
            s.check()?;
            if !hashes.insert(s.token_sha256.as_str()) {
                return Err(format!("MCP server {} has a bad token_sha256", s.id));
            }
        }
        Ok(())
    }

    fn account(&self, id: &str) -> Result<&Account, RegistryError> {
        self.accounts
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| RegistryError::NotFound(format!("integrated account {id} not found")))
    }

    /// The index of a live (not expired) server of account `account_id`.
    fn server_index(
        &self,
        account_id: &str,
        server_id: &str,
        now_ms: i64,
    ) -> Result<usize, RegistryError> {
        self.account(account_id)?;
        self.servers
            .iter()
            .position(|s| {
                s.id == server_id && s.integrated_account_id == account_id && !s.expired(now_ms)
            })
            .ok_or_else(|| RegistryError::NotFound(format!("MCP server {server_id} not found")))
    }

    /// Drops expired servers; returns how many.
    fn purge_expired(&mut self, now_ms: i64) -> usize {
        let before = self.servers.len();
        self.servers.retain(|s| {
            let keep = !s.expired(now_ms);
            if !keep {
                log::info!("MCP server {} expired and was deleted", s.id);
            }
            keep
        });
        before - self.servers.len()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // State is only ever replaced whole, after a successful save, so a panic elsewhere
    // cannot leave it half-changed: a poisoned lock is safe to use.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long a write to a store with a watch (etcd) waits for its own change to arrive in
/// memory before answering anyway (the change is committed either way).
const WATCH_WAIT: Duration = Duration::from_secs(5);
/// Records per change when importing: each server is up to two compares and two puts, and
/// etcd refuses transactions of more than 128 operations by default.
const IMPORT_BATCH: usize = 40;
/// How often a change that lost a race with another replica is applied again to the fresh
/// copy before the admin gets 409.
const MAX_ATTEMPTS: usize = 20;

/// A record as a store's watch delivers it (see [`Registry::apply_remote`]).
pub(crate) struct RemoteEvent {
    /// Its key in the store (below the prefix), for logs.
    key: String,
    /// Which record.
    record: RemoteRecord,
    /// Its stored JSON; `None` when it was deleted.
    value: Option<Vec<u8>>,
    /// Its version after the event.
    version: Version,
}

/// An account or a server, by id.
pub(crate) enum RemoteRecord {
    Account(String),
    Server(String),
}

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
    /// file, which keeps the seed's `/ready` shape), and the records it holds that this
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

    /// Applies `f` to a copy of the state (after dropping expired servers) and commits the
    /// copy; on any error nothing changes. When another replica changed a record first
    /// (etcd), `f` runs again on the fresh copy, so `f` must be repeatable.
    fn change<R>(
        &self,
        now_ms: i64,
        f: impl FnMut(&mut State) -> Result<R, RegistryError>,
    ) -> Result<R, RegistryError> {
        self.change_counting(now_ms, f).map(|(out, _)| out)
    }

    /// [`Registry::change`], also returning how many expired servers it deleted.
    fn change_counting<R>(
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
    fn install(&self, current: &State, generation: u64, next: State) -> bool {
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
    fn wait_for(&self, done: impl Fn(&State) -> bool) -> bool {
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
    fn signed<T: serde::de::DeserializeOwned>(&self, kind: Kind, bytes: &[u8]) -> Option<T> {
        let mut record: Value = serde_json::from_slice(bytes).ok()?;
        self.sealer.check(kind, &mut record).ok()?;
        serde_json::from_value(record).ok()
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

    /// How many changes have been installed since the registry was opened.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The filters of every live server (for pruning caches keyed by filter).
    pub fn live_filters(&self, now_ms: i64) -> Vec<ToolFilter> {
        lock(&self.by_token)
            .values()
            .filter(|s| s.expires_at_ms.is_none_or(|at| now_ms < at))
            .map(|s| s.filter.clone())
            .collect()
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

/// The servers of `state` whose account has credentials, by token hash, as the MCP layer
/// needs them. Servers of an account without credentials (the start-up account before
/// [`Registry::ensure_default_account`]) resolve as unknown.
fn index_tokens(state: &State) -> HashMap<String, Arc<ScopedServer>> {
    state
        .servers
        .iter()
        .filter_map(|server| Some((server.token_sha256.clone(), scoped(state, server)?)))
        .collect()
}

/// Brings `index`, the token index of `current`, to that of `next` (whose accounts are the
/// same) by the entries of the servers that changed: a write's cost does not grow with the
/// number of servers.
fn reindex(index: &mut HashMap<String, Arc<ScopedServer>>, current: &State, next: &State) {
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
