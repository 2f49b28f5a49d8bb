//! The registry on one box ([`Store`]): the snapshot `DATA_DIR/registry.json` and the journal
//! `DATA_DIR/registry.json.journal` beside it.
//!
//! Every change is one journal record ([`Change`]: the records it wrote, whole, and the ids it
//! deleted), appended and fdatasynced before the change is installed and acknowledged, so a
//! write costs the same with 100 servers or 10,000. Once the journal is larger than the
//! snapshot (and than [`crate::registry::store::COMPACT_MIN_BYTES`]), the write that crossed the line
//! also folds it into a new snapshot, as does every write while the registry is tiny
//! ([`crate::registry::store::WRITE_THROUGH_BYTES`]); when that fold fails, the record is taken back
//! and the write fails, changing nothing. At start the snapshot is read and the journal
//! replayed over it.

use super::backend::{Backend, Commit, CommitError};
use super::seal::Sealer;
use super::state::{Account, Server, State};
use super::RegistryError;
use crate::registry::store::{Store, StoreError, KEY_NAME};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

/// One change as a journal record. Every entry sets or deletes a whole record, so replaying
/// a record over a snapshot that already holds it changes nothing: a crash between writing a
/// new snapshot and emptying the journal is harmless.
#[derive(Default, Serialize, Deserialize)]
struct Change {
    /// Accounts created or changed, as the snapshot keeps them (HubSpot keys sealed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    accounts: Vec<Account>,
    /// Servers created or changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    servers: Vec<Server>,
    /// Ids of deleted accounts and servers (ids are unique across both).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    deleted: Vec<String>,
}

impl Change {
    /// What turns `current` into `next`.
    fn between(current: &State, next: &State, sealer: &Sealer) -> Change {
        let mut change = Change::default();
        let before: HashMap<&str, &Account> = current
            .accounts
            .iter()
            .map(|a| (a.id.as_str(), a))
            .collect();
        let mut kept = HashMap::with_capacity(next.accounts.len());
        for account in &next.accounts {
            kept.insert(account.id.as_str(), ());
            if before.get(account.id.as_str()) != Some(&account) {
                change.accounts.push(account.stored(sealer));
            }
        }
        let gone = current
            .accounts
            .iter()
            .filter(|a| !kept.contains_key(a.id.as_str()));
        change.deleted.extend(gone.map(|a| a.id.clone()));
        let servers = current.servers.diff(&next.servers, |s| &s.id);
        change
            .deleted
            .extend(servers.removed.iter().map(|s| s.id.clone()));
        change
            .servers
            .extend(servers.written.into_iter().map(|(_, s)| s.clone()));
        change
    }

    fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.servers.is_empty() && self.deleted.is_empty()
    }
}

/// Records by id in their order, for replaying many changes without a scan per change.
struct Keyed<T> {
    items: Vec<Option<T>>,
    at: HashMap<String, usize>,
}

impl<T> Keyed<T> {
    fn new(items: impl IntoIterator<Item = T>, id: impl Fn(&T) -> String) -> Keyed<T> {
        let items: Vec<Option<T>> = items.into_iter().map(Some).collect();
        let at = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| Some((id(item.as_ref()?), i)))
            .collect();
        Keyed { items, at }
    }

    fn put(&mut self, id: String, item: T) {
        match self.at.get(&id) {
            Some(&i) => self.items[i] = Some(item),
            None => {
                self.at.insert(id, self.items.len());
                self.items.push(Some(item));
            }
        }
    }

    fn delete(&mut self, id: &str) {
        if let Some(&i) = self.at.get(id) {
            self.items[i] = None;
        }
    }

    fn into_items(self) -> impl Iterator<Item = T> {
        self.items.into_iter().flatten()
    }
}

/// The registry as of its last acknowledged change: the snapshot with the journal replayed
/// over it. A snapshot or journal that is not a registry, or holds a record whose MAC does
/// not hold ([`Sealer::check_all`]), stops here with [`StoreError::Corrupt`] naming the file
/// (and the journal's line) and is left untouched. Records without a MAC are taken only with
/// `accept_unsigned`, and then the whole registry is saved again at once, signed.
pub(crate) fn load(
    store: &Store,
    sealer: &Sealer,
    accept_unsigned: bool,
) -> Result<State, StoreError> {
    let corrupt = |path, detail| StoreError::Corrupt { path, detail };
    let mut unsigned = 0;
    let mut state = match store.load()? {
        None => State::empty(),
        Some(mut value) => {
            unsigned += sealer
                .check_all(&mut value, accept_unsigned)
                .map_err(|e| corrupt(store.path(), e))?;
            let state: State = serde_json::from_value(value)
                .map_err(|e| corrupt(store.path(), format!("not a registry: {e}")))?;
            state.check().map_err(|e| corrupt(store.path(), e))?;
            state
        }
    };
    let accounts = std::mem::take(&mut state.accounts);
    for account in accounts {
        let account = open(account, sealer).map_err(|e| corrupt(store.path(), e))?;
        state.accounts.push(account);
    }
    let records = store.replay()?;
    let journal = |detail| corrupt(store.journal_path(), detail);
    let mut accounts = Keyed::new(std::mem::take(&mut state.accounts), |a| a.id.clone());
    let mut servers = Keyed::new(std::mem::take(&mut state.servers), |s| s.id.clone());
    for (i, mut record) in records.into_iter().enumerate() {
        unsigned += sealer
            .check_all(&mut record, accept_unsigned)
            .map_err(|e| journal(format!("line {}: {e}", i + 1)))?;
        let change: Change = serde_json::from_value(record)
            .map_err(|e| journal(format!("line {} is not a registry change: {e}", i + 1)))?;
        for account in change.accounts {
            let account =
                open(account, sealer).map_err(|e| journal(format!("line {}: {e}", i + 1)))?;
            accounts.put(account.id.clone(), account);
        }
        for server in change.servers {
            servers.put(server.id.clone(), server);
        }
        for id in &change.deleted {
            accounts.delete(id);
            servers.delete(id);
        }
    }
    state.accounts = accounts.into_items().collect();
    state.servers = servers.into_items().collect();
    state
        .check()
        .map_err(|e| journal(format!("the registry it leads to is not consistent: {e}")))?;
    if unsigned > 0 {
        let file = state.to_file(sealer).map_err(|e| StoreError::Io {
            action: "sign",
            path: store.path(),
            source: std::io::Error::other(e.message().to_string()),
        })?;
        store.save(&file)?;
        log::warn!(
            "registry: {unsigned} records without a MAC were accepted (REGISTRY_ACCEPT_UNSIGNED) and {} now holds them signed; unset REGISTRY_ACCEPT_UNSIGNED",
            store.path().display()
        );
    }
    Ok(state)
}

/// An account as stored, with its HubSpot key opened.
fn open(account: Account, sealer: &Sealer) -> Result<Account, String> {
    let id = account.id.clone();
    account.opened(sealer).ok_or_else(|| {
        format!(
            "the HubSpot key of integrated account {id} cannot be opened with {KEY_NAME}: restore the registry.key that goes with this file"
        )
    })
}

/// The file store: a change is one journal record, folded into the snapshot now and then.
impl Backend for Store {
    fn describe(&self) -> String {
        self.path().display().to_string()
    }

    fn commit(
        &self,
        current: &State,
        next: &State,
        sealer: &Sealer,
    ) -> Result<Commit, CommitError> {
        let change = Change::between(current, next, sealer);
        if change.is_empty() {
            return Ok(Commit::Install);
        }
        let mut record = serde_json::to_value(&change).map_err(|e| {
            CommitError::Failed(RegistryError::Internal(format!(
                "cannot encode the change: {e}"
            )))
        })?;
        sealer.sign_all(&mut record);
        let appended = self
            .append(&record)
            .map_err(|e| CommitError::Failed(RegistryError::from(e)))?;
        if appended.fold {
            let folded = next
                .to_file(sealer)
                .and_then(|file| self.save(&file).map_err(RegistryError::from));
            if let Err(err) = folded {
                if let Err(undo) = self.take_back(&appended) {
                    log::warn!("registry: a failed change stays in the journal: {undo}");
                }
                return Err(CommitError::Failed(err));
            }
        }
        Ok(Commit::Install)
    }

    fn check(&self) -> Option<Value> {
        None
    }
}
