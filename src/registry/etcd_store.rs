//! The registry on etcd (`REGISTRY=etcd`): several replicas share one registry.
//!
//! Keys under `ETCD_PREFIX`: `accounts/<id>` (the account, its HubSpot key sealed under
//! `REGISTRY_KEY_FILE`), `servers/<account id>/<id>` (the server, its token only as a
//! SHA-256) and `tokens/<sha256>` (the index from token hash to server key, which also keeps
//! two servers from sharing a token). A server with `expires_at` is written, with its index
//! key, under a lease that ends then, so etcd deletes it everywhere.
//!
//! Every change is one transaction comparing each touched record's `mod_revision` (a new
//! one: `create_revision == 0`) and the account's (which a new server moves, so creates
//! under one account are serialised and `MAX_SERVERS_PER_ACCOUNT` holds across replicas).
//! A change based on an old copy is refused ([`CommitError::Lost`]) and applied again by
//! the registry to the fresh copy: no update is lost. The admin API answers only after etcd
//! committed.
//!
//! Each replica keeps the whole registry in memory: read at start, then kept current by a
//! watch from the revision it read, on its own OS thread. A watch that breaks (or is
//! renewed, every 30 s, so a connection that died silently is noticed) resumes from its last
//! revision on any endpoint; one refused as compacted reads everything again. While
//! etcd is unreachable, tokens keep resolving from memory for `ETCD_MAX_STALENESS_MS`
//! (then scoped servers are refused: a token revoked elsewhere meanwhile must not work for
//! ever), admin writes answer 503 and `/ready` says so (`checks.registry`); the log says
//! when etcd went and came back. A record whose new value cannot be read is dropped from
//! memory (fail closed), never kept in its old version.

use super::backend::{Backend, Commit, CommitError};
use super::seal::{Kind, Sealer, Unsigned};
use super::state::{Account, Server, State, Version};
use super::{lock, Registry, RegistryError, RemoteEvent, RemoteRecord};
use crate::registry::etcd::{self, gateway, int};
use crate::runtime::base64;
use crate::runtime::clock;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// etcd refuses transactions with more operations than `--max-txn-ops` (default 128): the
/// index keys of a deleted account's servers beyond this many are deleted right after.
const MAX_TXN_OPS: usize = 100;
/// The longest pause between two attempts to re-open a broken watch.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The registry's records in etcd.
pub struct EtcdStore {
    client: etcd::Client,
    prefix: String,
    endpoints: String,
    /// Since when etcd has not answered (`None`: it answers).
    down_since: Mutex<Option<Instant>>,
    /// Since when the watch cannot be opened (`None`: it runs): from then on this copy may
    /// miss changes. Apart from `down_since`, so that a unary call that failed while the
    /// watch kept running does not count.
    watch_down_since: Mutex<Option<Instant>>,
    /// `ETCD_MAX_STALENESS_MS`: how long scoped servers are served from memory once the
    /// watch stopped (`None`: for ever).
    max_staleness: Option<Duration>,
}

/// Opens the registry on etcd: reads the sealing key, reads every record, and starts the
/// watch that keeps this replica's copy current. Fails when etcd cannot be read at all (a
/// replica with no copy has nothing to serve). `max_servers_per_account` is
/// `MAX_SERVERS_PER_ACCOUNT`.
/// With `accept_unsigned` (`REGISTRY_ACCEPT_UNSIGNED`), records without a MAC read at start
/// are signed in etcd (see [`EtcdStore::sign_unsigned`]); any other unsigned record, at start
/// or from the watch, is refused like an unreadable one.
pub fn open(
    settings: &etcd::Settings,
    key_file: &Path,
    max_servers_per_account: usize,
    accept_unsigned: bool,
) -> Result<Arc<Registry>, String> {
    settings.check()?;
    let sealer = Sealer::new(&read_key(key_file)?)
        .ok_or_else(|| format!("REGISTRY_KEY_FILE {} is not usable", key_file.display()))?;
    let store = Arc::new(EtcdStore {
        client: etcd::Client::new(settings)?,
        prefix: settings.prefix.clone(),
        endpoints: settings.endpoints.join(","),
        down_since: Mutex::new(None),
        watch_down_since: Mutex::new(None),
        max_staleness: settings.max_staleness,
    });
    let (revision, mut events) = store
        .load()
        .map_err(|e| format!("cannot read the registry from etcd: {e}"))?;
    if accept_unsigned {
        store.sign_unsigned(&sealer, &mut events);
    }
    let registry = Registry::with_backend(store.clone(), sealer, State::empty());
    let registry = Arc::new(registry.with_max_servers_per_account(max_servers_per_account));
    registry.apply_remote(revision, events, true);
    let weak = Arc::downgrade(&registry);
    std::thread::Builder::new()
        .name("registry-watch".into())
        .spawn(move || store.watch_loop(weak, revision))
        .map_err(|e| format!("cannot start the registry watch: {e}"))?;
    Ok(registry)
}

/// The sealing key: 32 bytes, raw or as 64 hex digits (`openssl rand -hex 32`).
fn read_key(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read REGISTRY_KEY_FILE {}: {e}", path.display()))?;
    if bytes.len() == 32 {
        return Ok(bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    let hex = text.trim();
    let key: Option<Vec<u8>> = (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| {
            (0..64)
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                .collect()
        })
        .flatten();
    key.ok_or_else(|| {
        format!(
            "REGISTRY_KEY_FILE {} must hold 32 bytes or 64 hex digits (make one with: openssl rand -hex 32); every replica needs the same one",
            path.display()
        )
    })
}

impl EtcdStore {
    fn account_key(&self, id: &str) -> String {
        format!("{}accounts/{id}", self.prefix)
    }

    fn servers_of(&self, account_id: &str) -> String {
        format!("{}servers/{account_id}/", self.prefix)
    }

    fn server_key(&self, server: &Server) -> String {
        format!(
            "{}{}",
            self.servers_of(&server.integrated_account_id),
            server.id
        )
    }

    fn token_key(&self, server: &Server) -> String {
        format!("{}tokens/{}", self.prefix, server.token_sha256)
    }

    /// Every record under the prefix and the revision they were read at.
    fn load(&self) -> Result<(i64, Vec<RemoteEvent>), etcd::Error> {
        let answer = self.call(
            "/v3/kv/range",
            &json!({"key": etcd::key(&self.prefix), "range_end": etcd::prefix_end(&self.prefix)}),
        )?;
        let events = answer["kvs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|kv| self.event(kv, false))
            .collect();
        Ok((int(&answer["header"]["revision"]), events))
    }

    /// A key-value from a range or a watch as a registry event (`None` for index keys and
    /// anything else under the prefix). A value that is not base64 comes as an empty one,
    /// which the registry cannot read and so drops (fail closed).
    fn event(&self, kv: &Value, deleted: bool) -> Option<RemoteEvent> {
        let (key, value) = gateway::key_value(kv)?;
        let rest = key.strip_prefix(&self.prefix)?;
        let record = if let Some(id) = rest.strip_prefix("accounts/") {
            RemoteRecord::Account(id.to_string())
        } else {
            let (_, id) = rest.strip_prefix("servers/")?.split_once('/')?;
            RemoteRecord::Server(id.to_string())
        };
        let value = (!deleted).then_some(value);
        Some(RemoteEvent {
            key: rest.to_string(),
            record,
            value,
            version: Version {
                mod_revision: int(&kv["mod_revision"]),
                lease: int(&kv["lease"]),
            },
        })
    }

    /// A call that also keeps the reachability state (and its log lines) current.
    fn call(&self, path: &str, body: &Value) -> Result<Value, etcd::Error> {
        let result = self.client.call(path, body);
        match &result {
            Err(err @ etcd::Error::Unreachable(_)) => self.mark_down(err),
            _ => self.mark_up(),
        }
        result
    }

    fn mark_down(&self, err: &etcd::Error) {
        let mut down = self
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if down.is_none() {
            *down = Some(Instant::now());
            log::error!(
                "registry: {err}; MCP requests are served from memory, admin writes answer 503 until it is back"
            );
        }
    }

    fn mark_up(&self) {
        let mut down = self
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(since) = down.take() {
            log::warn!(
                "registry: etcd reachable again after {:.1} s",
                since.elapsed().as_secs_f64()
            );
        }
    }

    /// Keeps `registry` current until it is dropped: watches the prefix from `revision`,
    /// resumes a broken watch from the last revision seen, reads everything again when
    /// etcd compacted past it.
    fn watch_loop(&self, registry: Weak<Registry>, mut revision: i64) {
        let mut backoff = Duration::from_millis(50);
        loop {
            let create = json!({
                "key": etcd::key(&self.prefix),
                "range_end": etcd::prefix_end(&self.prefix),
                "start_revision": (revision + 1).to_string(),
            });
            let mut watch = match self.client.watch(&create) {
                Ok(watch) => {
                    self.mark_up();
                    *lock(&self.watch_down_since) = None;
                    backoff = Duration::from_millis(50);
                    watch
                }
                Err(err) => {
                    self.mark_down(&err);
                    lock(&self.watch_down_since).get_or_insert_with(Instant::now);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            loop {
                let result = match watch.next() {
                    Ok(result) => {
                        self.mark_up();
                        result
                    }
                    Err(err) => {
                        log::debug!("registry watch: {err}; resuming from revision {revision}");
                        break;
                    }
                };
                let Some(registry) = registry.upgrade() else {
                    return;
                };
                if int(&result["compact_revision"]) > 0 || result["canceled"] == true {
                    log::warn!("registry watch: etcd compacted past revision {revision}; reading the registry again");
                    match self.load() {
                        Ok((read_at, events)) => {
                            registry.apply_remote(read_at, events, true);
                            revision = read_at;
                        }
                        Err(err) => log::debug!("registry reload: {err}"),
                    }
                    break;
                }
                let events: Vec<&Value> =
                    result["events"].as_array().into_iter().flatten().collect();
                let Some(last) = events.iter().map(|e| int(&e["kv"]["mod_revision"])).max() else {
                    continue;
                };
                let events = events
                    .iter()
                    .filter_map(|e| self.event(&e["kv"], e["type"] == "DELETE"))
                    .collect();
                registry.apply_remote(last, events, false);
                revision = revision.max(last);
            }
        }
    }

    /// Signs, in etcd, each record of `events` that has no MAC (the one-time migration of a
    /// registry written before records were signed): a put keeping its lease, if its
    /// revision is unchanged. The events then carry the signed values; a record that changed
    /// meanwhile comes signed or refused through the watch.
    fn sign_unsigned(&self, sealer: &Sealer, events: &mut [RemoteEvent]) {
        let mut signed = 0;
        for event in events.iter_mut() {
            let kind = match event.record {
                RemoteRecord::Account(_) => Kind::Account,
                RemoteRecord::Server(_) => Kind::Server,
            };
            let Some(mut record) = event
                .value
                .as_deref()
                .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
            else {
                continue;
            };
            if sealer.check(kind, &mut record.clone()) != Err(Unsigned::Missing) {
                continue;
            }
            sealer.sign(kind, &mut record);
            let bytes = encode(&record);
            let key = format!("{}{}", self.prefix, event.key);
            let txn = json!({
                "compare": [unchanged(&key, Some(&event.version))],
                "success": [put(&key, &bytes, None)],
            });
            match self.call("/v3/kv/txn", &txn) {
                Ok(answer) if answer["succeeded"] == true => {
                    event.value = Some(bytes);
                    signed += 1;
                }
                Ok(_) => {}
                Err(err) => log::warn!("registry: cannot sign {} in etcd: {err}", event.key),
            }
        }
        if signed > 0 {
            log::warn!("registry: {signed} records without a MAC were accepted (REGISTRY_ACCEPT_UNSIGNED) and signed in etcd; unset REGISTRY_ACCEPT_UNSIGNED");
        }
    }

    /// Grants a lease ending at `expires_at` (rounded up to a whole second).
    fn grant(&self, expires_at: &str, now_ms: i64) -> Result<i64, etcd::Error> {
        let at = clock::parse_rfc3339(expires_at).unwrap_or(now_ms);
        let ttl = ((at - now_ms).max(1) + 999) / 1000;
        let answer = self.call("/v3/lease/grant", &json!({"TTL": ttl.to_string()}))?;
        Ok(int(&answer["ID"]))
    }

    /// Revokes leases no record uses any more; best effort (an unrevoked lease just ends).
    fn revoke(&self, leases: &[i64]) {
        for lease in leases.iter().filter(|&&l| l != 0) {
            let _ = self.call("/v3/lease/revoke", &json!({"ID": lease.to_string()}));
        }
    }
}

/// `{"request_put": ...}`: `lease` `Some(0)` detaches, `None` keeps the key's lease.
fn put(key: &str, value: &[u8], lease: Option<i64>) -> Value {
    let mut request = json!({"key": etcd::key(key), "value": base64::encode(value)});
    match lease {
        Some(lease) => request["lease"] = json!(lease.to_string()),
        None => request["ignore_lease"] = json!(true),
    }
    json!({ "request_put": request })
}

/// A put that keeps the key's value and lease and only moves its `mod_revision`.
fn touch(key: &str) -> Value {
    json!({"request_put": {"key": etcd::key(key), "ignore_value": true, "ignore_lease": true}})
}

fn delete(key: &str, range_end: Option<String>) -> Value {
    let mut request = json!({"key": etcd::key(key)});
    if let Some(end) = range_end {
        request["range_end"] = json!(end);
    }
    json!({ "request_delete_range": request })
}

/// Compares a key's `mod_revision` (0 for a record that must not exist).
fn unchanged(key: &str, version: Option<&Version>) -> Value {
    match version {
        Some(v) => json!({"key": etcd::key(key), "target": "MOD", "result": "EQUAL",
                          "mod_revision": v.mod_revision.to_string()}),
        None => json!({"key": etcd::key(key), "target": "CREATE", "result": "EQUAL",
                       "create_revision": "0"}),
    }
}

fn encode<T: serde::Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

/// A record as stored: its JSON with its MAC under the registry key.
fn signed<T: serde::Serialize>(sealer: &Sealer, kind: Kind, record: &T) -> Vec<u8> {
    let mut value = serde_json::to_value(record).unwrap_or_default();
    sealer.sign(kind, &mut value);
    encode(&value)
}

/// The operations of one change, gathered from the difference of two states.
#[derive(Default)]
struct Txn {
    compare: Vec<Value>,
    success: Vec<Value>,
    /// Index keys of a deleted account's servers beyond [`MAX_TXN_OPS`].
    late: Vec<Value>,
    /// Leases granted for this change (revoked when it does not commit).
    granted: Vec<i64>,
    /// Leases the change leaves unused (revoked when it commits).
    replaced: Vec<i64>,
    guarded: HashSet<String>,
}

impl Txn {
    /// Compares `key` once however many operations rely on it.
    fn guard(&mut self, key: String, version: Option<&Version>) {
        if self.guarded.insert(key.clone()) {
            self.compare.push(unchanged(&key, version));
        }
    }
}

impl EtcdStore {
    /// The transaction turning `current` into `next`.
    fn diff(
        &self,
        current: &State,
        next: &State,
        sealer: &Sealer,
        now_ms: i64,
    ) -> Result<Txn, etcd::Error> {
        let mut txn = Txn::default();
        let version = |id: &str| current.versions.get(id);
        let before: HashMap<&str, &Account> = current
            .accounts
            .iter()
            .map(|a| (a.id.as_str(), a))
            .collect();
        let after: HashSet<&str> = next.accounts.iter().map(|a| a.id.as_str()).collect();
        for account in &next.accounts {
            let stored = account.stored(sealer);
            match before.get(account.id.as_str()) {
                Some(old) if *old == account || old.stored(sealer) == stored => continue,
                Some(_) => txn.guard(self.account_key(&account.id), version(&account.id)),
                None => txn.guard(self.account_key(&account.id), None),
            }
            txn.success.push(put(
                &self.account_key(&account.id),
                &signed(sealer, Kind::Account, &stored),
                Some(0),
            ));
        }
        for old in current
            .accounts
            .iter()
            .filter(|a| !after.contains(a.id.as_str()))
        {
            txn.guard(self.account_key(&old.id), version(&old.id));
            txn.success.push(delete(&self.account_key(&old.id), None));
            let servers = self.servers_of(&old.id);
            txn.success
                .push(delete(&servers, Some(etcd::prefix_end(&servers))));
        }
        let before: HashMap<&str, &Server> =
            current.servers.iter().map(|s| (s.id.as_str(), s)).collect();
        let after: HashSet<&str> = next.servers.iter().map(|s| s.id.as_str()).collect();
        for server in &next.servers {
            let old = before.get(server.id.as_str()).copied();
            if old == Some(server) {
                continue;
            }
            // The account must still be there, unchanged, when the server is written. A new
            // server also bumps the account's revision (value and lease kept), so two
            // replicas creating under one account at once conflict and the loser counts
            // again: MAX_SERVERS_PER_ACCOUNT holds across replicas.
            let account = &server.integrated_account_id;
            if let Some(v) = version(account) {
                let account_key = self.account_key(account);
                if old.is_none() && !txn.guarded.contains(&account_key) {
                    txn.success.push(touch(&account_key));
                }
                txn.guard(account_key, Some(v));
            }
            let key = self.server_key(server);
            txn.guard(key.clone(), old.and_then(|_| version(&server.id)));
            let same_expiry = old.is_some_and(|o| o.expires_at == server.expires_at);
            let lease = match (&server.expires_at, same_expiry) {
                (_, true) => None,
                (None, false) => Some(0),
                (Some(at), false) => {
                    let lease = self.grant(at, now_ms)?;
                    txn.granted.push(lease);
                    Some(lease)
                }
            };
            if lease.is_some() {
                if let Some(v) = version(&server.id) {
                    txn.replaced.push(v.lease);
                }
            }
            txn.success
                .push(put(&key, &signed(sealer, Kind::Server, server), lease));
            if old.is_none() || lease.is_some() {
                let token = self.token_key(server);
                if old.is_none() {
                    txn.guard(token.clone(), None);
                }
                txn.success
                    .push(put(&token, key.as_bytes(), Some(lease.unwrap_or(0))));
            }
        }
        for old in current
            .servers
            .iter()
            .filter(|s| !after.contains(s.id.as_str()))
        {
            let token = delete(&self.token_key(old), None);
            if next.account(&old.integrated_account_id).is_err() {
                // Its account's range delete removes the server itself.
                if txn.success.len() < MAX_TXN_OPS {
                    txn.success.push(token);
                } else {
                    txn.late.push(token);
                }
                continue;
            }
            txn.guard(self.server_key(old), version(&old.id));
            txn.success.push(delete(&self.server_key(old), None));
            txn.success.push(token);
        }
        Ok(txn)
    }
}

impl Backend for EtcdStore {
    fn describe(&self) -> String {
        format!("etcd {} (prefix {})", self.endpoints, self.prefix)
    }

    fn commit(
        &self,
        current: &State,
        next: &State,
        sealer: &Sealer,
    ) -> Result<Commit, CommitError> {
        let txn = self
            .diff(current, next, sealer, clock::now_millis())
            .map_err(failed)?;
        if txn.success.is_empty() {
            return Ok(Commit::Install);
        }
        let answer = self.call(
            "/v3/kv/txn",
            &json!({"compare": txn.compare, "success": txn.success}),
        );
        match answer {
            Ok(answer) if answer["succeeded"] == true => {
                for late in txn.late.chunks(MAX_TXN_OPS) {
                    let _ = self.call("/v3/kv/txn", &json!({ "success": late }));
                }
                self.revoke(&txn.replaced);
                Ok(Commit::AtRevision(int(&answer["header"]["revision"])))
            }
            Ok(_) => {
                self.revoke(&txn.granted);
                Err(CommitError::Lost)
            }
            Err(err) => {
                self.revoke(&txn.granted);
                Err(failed(err))
            }
        }
    }

    fn check(&self) -> Option<Value> {
        let down = *self
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut check = match down {
            None => json!({"store": "etcd", "status": "ok"}),
            Some(since) => json!({
                "store": "etcd",
                "status": "unreachable",
                "unreachable_for_s": since.elapsed().as_secs(),
                "scoped_servers": "served from memory",
                "detail": "MCP requests are served from memory until ETCD_MAX_STALENESS_MS; admin writes answer 503",
            }),
        };
        if self.stale_for().is_some() {
            check["scoped_servers"] = json!("refused");
            check["detail"] = json!("the watch has been down longer than ETCD_MAX_STALENESS_MS: scoped servers' tokens are refused (a revocation could not be seen); MCP_API_KEYS keys still work; admin writes answer 503");
        }
        Some(check)
    }

    fn stale_for(&self) -> Option<Duration> {
        let max = self.max_staleness?;
        let down = lock(&self.watch_down_since).map(|since| since.elapsed())?;
        (down > max).then_some(down)
    }
}

/// A failed etcd call as the admin sees it: 503 naming etcd when it is unreachable.
fn failed(err: etcd::Error) -> CommitError {
    CommitError::Failed(match err {
        etcd::Error::Unreachable(_) => RegistryError::Unavailable(format!(
            "the registry's {err}; the change was not confirmed: check and try again"
        )),
        etcd::Error::Refused { .. } => {
            RegistryError::Internal(format!("the change was not made: {err}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::store::tests::TempDir;

    fn store(max_staleness: Option<Duration>) -> EtcdStore {
        let settings = etcd::Settings {
            endpoints: vec!["http://127.0.0.1:9".into()],
            prefix: "/p/".into(),
            credentials: None,
            ca_file: None,
            client_cert: None,
            max_staleness,
        };
        EtcdStore {
            client: etcd::Client::new(&settings).unwrap(),
            prefix: settings.prefix,
            endpoints: String::new(),
            down_since: Mutex::new(None),
            watch_down_since: Mutex::new(None),
            max_staleness,
        }
    }

    #[test]
    fn a_value_that_is_not_base64_comes_as_an_unreadable_record_not_as_nothing() {
        let store = store(None);
        let kv = json!({"key": etcd::key("/p/servers/a/s1"), "value": "%%% not base64"});
        let event = store.event(&kv, false).expect("a server's key is an event");
        assert_eq!(event.key, "servers/a/s1");
        assert!(matches!(event.record, RemoteRecord::Server(ref id) if id == "s1"));
        assert_eq!(event.value, Some(Vec::new()));
        let index = json!({"key": etcd::key("/p/tokens/ab"), "value": ""});
        assert!(store.event(&index, false).is_none());
    }

    #[test]
    fn memory_is_stale_only_once_the_watch_has_been_down_past_the_bound() {
        let Some(long_ago) = Instant::now().checked_sub(Duration::from_secs(10)) else {
            return;
        };
        let bounded = store(Some(Duration::from_secs(5)));
        assert_eq!(bounded.stale_for(), None);
        *lock(&bounded.down_since) = Some(long_ago);
        assert_eq!(
            bounded.stale_for(),
            None,
            "a failed unary call does not count"
        );
        *lock(&bounded.watch_down_since) = Some(Instant::now());
        assert_eq!(bounded.stale_for(), None, "within the bound");
        assert_eq!(
            bounded.check().unwrap()["scoped_servers"],
            "served from memory"
        );
        *lock(&bounded.watch_down_since) = Some(long_ago);
        assert!(bounded.stale_for().unwrap() >= Duration::from_secs(10));
        assert_eq!(bounded.check().unwrap()["scoped_servers"], "refused");
        let unbounded = store(None);
        *lock(&unbounded.watch_down_since) = Some(long_ago);
        assert_eq!(
            unbounded.stale_for(),
            None,
            "ETCD_MAX_STALENESS_MS=0: for ever"
        );
    }

    #[test]
    fn the_sealing_key_is_32_raw_bytes_or_64_hex_digits_and_nothing_else() {
        let dir = TempDir::new("seal-key");
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = dir.0.join("key");
        std::fs::write(&path, [7u8; 32]).unwrap();
        assert_eq!(read_key(&path), Ok(vec![7u8; 32]));
        std::fs::write(&path, format!("{}\n", "0a".repeat(32))).unwrap();
        assert_eq!(read_key(&path), Ok(vec![10u8; 32]));
        let multibyte = format!("{}x", "€".repeat(21)); // 64 bytes, not on char boundaries
        for bad in [
            "0a".repeat(31),
            "zz".repeat(32),
            "short".to_string(),
            multibyte,
        ] {
            std::fs::write(&path, &bad).unwrap();
            let err = read_key(&path).unwrap_err();
            assert!(
                err.contains("REGISTRY_KEY_FILE") && err.contains("64 hex"),
                "{err}"
            );
            assert!(
                !err.contains(&bad),
                "the key's content must not be echoed: {err}"
            );
        }
        let missing = read_key(&dir.0.join("missing")).unwrap_err();
        assert!(
            missing.contains("cannot read REGISTRY_KEY_FILE"),
            "{missing}"
        );
    }
}
