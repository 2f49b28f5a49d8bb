//! The in-memory state and the records it holds: integrated accounts ([`Account`]) and
//! scoped MCP servers ([`Server`]) as stored, each record's [`Version`] in a store that has
//! them, and the [`State`] that is both the registry in memory and the file's shape. Checks
//! of a loaded state and the small queries the admin operations share live here; changing
//! the state (copy, commit, install) is `change.rs`'s.

use super::records::Records;
use super::seal::Sealer;
use super::{RegistryError, ToolFilter};
use crate::runtime::clock;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// The file format version this code reads and writes.
pub(super) const FILE_VERSION: u32 = 1;

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

/// An integrated account as stored.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Account {
    pub(super) id: String,
    pub(super) name: String,
    /// The HubSpot private app token; never shown, never written for the start-up account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) private_app_token: Option<String>,
    #[serde(default)]
    pub(super) mock: bool,
    /// The start-up account (credentials from the environment).
    #[serde(default)]
    pub(super) is_default: bool,
    pub(super) created_at: String,
    pub(super) updated_at: String,
}

impl Account {
    /// The account as a store keeps it: the start-up account without its HubSpot key (it
    /// comes from the environment), every other account's key sealed.
    pub(super) fn stored(&self, sealer: &Sealer) -> Account {
        let mut copy = self.clone();
        copy.private_app_token = match (&self.private_app_token, self.is_default) {
            (Some(token), false) => Some(sealer.seal(token)),
            _ => None,
        };
        copy
    }

    /// The inverse of [`Account::stored`]: opens the sealed key; `None` when it was not
    /// sealed under this sealer's key.
    pub(super) fn opened(mut self, sealer: &Sealer) -> Option<Account> {
        if let Some(sealed) = &self.private_app_token {
            self.private_app_token = Some(sealer.open(sealed)?);
        }
        Some(self)
    }

    pub(super) fn auth(&self) -> Option<AccountAuth> {
        if self.mock {
            Some(AccountAuth::Mock)
        } else {
            self.private_app_token.clone().map(AccountAuth::Token)
        }
    }

    pub(super) fn to_json(&self) -> Value {
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
pub(super) struct Server {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) config: Value,
    pub(super) integrated_account_id: String,
    pub(super) created_by: String,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    #[serde(default)]
    pub(super) expires_at: Option<String>,
    pub(super) token_sha256: String,
}

impl Server {
    /// Checks a server read from a store beyond its JSON shape; the error says what is
    /// wrong (never the token's hash).
    pub(super) fn check(&self) -> Result<(), String> {
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

    pub(super) fn expires_at_ms(&self) -> Option<i64> {
        self.expires_at.as_deref().and_then(clock::parse_rfc3339)
    }

    pub(super) fn expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms().is_some_and(|at| now_ms >= at)
    }

    /// The server as every answer but the create shows it: no token, no URL.
    pub(super) fn to_json(&self) -> Value {
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
    pub(super) mod_revision: i64,
    /// The lease the record is attached to (0: none).
    pub(super) lease: i64,
}

/// Everything the registry holds; also the file's shape.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    pub(super) version: u32,
    pub(super) accounts: Vec<Account>,
    /// Shared between copies: copying the state for a change does not copy every server.
    pub(super) servers: Records<Server>,
    /// The store revision this copy reflects (0 for the file).
    #[serde(skip)]
    pub(super) revision: i64,
    /// Each record's version by id (empty for the file).
    #[serde(skip)]
    pub(super) versions: HashMap<String, Version>,
}

impl State {
    pub(super) fn empty() -> State {
        State {
            version: FILE_VERSION,
            accounts: Vec::new(),
            servers: Records::default(),
            revision: 0,
            versions: HashMap::new(),
        }
    }

    /// What goes into the file: every account as [`Account::stored`], every record signed.
    pub(super) fn to_file(&self, sealer: &Sealer) -> Result<Value, RegistryError> {
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
    pub(super) fn check(&self) -> Result<(), String> {
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

    pub(super) fn account(&self, id: &str) -> Result<&Account, RegistryError> {
        self.accounts
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| RegistryError::NotFound(format!("integrated account {id} not found")))
    }

    /// The index of a live (not expired) server of account `account_id`.
    pub(super) fn server_index(
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
    pub(super) fn purge_expired(&mut self, now_ms: i64) -> usize {
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
