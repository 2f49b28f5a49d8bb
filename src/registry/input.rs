//! The admin API's request bodies parsed into typed inputs, at the edge: after this, the
//! registry's rules work on types, and every field error is a 400 naming the field.

use super::{clock, Catalog, RegistryError, ToolFilter, MAX_HUBSPOT_TOKEN_LEN, MAX_NAME_LEN};
use super::{MAX_EXPIRY_DAYS, MIN_EXPIRY_MS};
use serde_json::{Map, Value};

/// `POST /integrated-account`: `{name, private_app_token}` or `{name, mock: true}`.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// The account's name (trimmed, 1 to [`MAX_NAME_LEN`] characters).
    pub name: String,
    /// The HubSpot private app token; `None` for a mock account.
    pub private_app_token: Option<String>,
}

impl NewAccount {
    /// Parses and checks the body.
    pub fn parse(body: &Value) -> Result<NewAccount, RegistryError> {
        let obj = body_object(body, &["name", "private_app_token", "mock"])?;
        let name = name_field(obj)?.ok_or_else(|| RegistryError::bad("name is required"))?;
        let mock = match obj.get("mock") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(RegistryError::bad("mock must be true or false")),
        };
        let token = match obj.get("private_app_token") {
            None | Some(Value::Null) => None,
            Some(Value::String(t))
                if !t.is_empty()
                    && t.len() <= MAX_HUBSPOT_TOKEN_LEN
                    && t.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Some(t.clone())
            }
            Some(_) => {
                return Err(RegistryError::bad(format!(
                    "private_app_token must be a non-empty string of printable ASCII without \
                     spaces, at most {MAX_HUBSPOT_TOKEN_LEN} characters"
                )))
            }
        };
        if mock == token.is_some() {
            return Err(RegistryError::bad(
                "give exactly one of private_app_token (a HubSpot private app access token) or \
                 mock: true",
            ));
        }
        Ok(NewAccount {
            name,
            private_app_token: token,
        })
    }
}

/// `POST /integrated-account/{id}/mcp`: `{name, config?, expires_at?}`, the config checked
/// against the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct NewServer {
    /// The server's name.
    pub name: String,
    /// The config as it will be stored (normalised by [`ToolFilter::parse`]).
    pub config: Value,
    /// When it expires (RFC 3339, UTC, milliseconds), a minute to ten years ahead.
    pub expires_at: Option<String>,
}

impl NewServer {
    /// Parses and checks the body at `now_ms`.
    pub fn parse(
        body: &Value,
        catalog: &Catalog<'_>,
        now_ms: i64,
    ) -> Result<NewServer, RegistryError> {
        let obj = body_object(body, &["name", "config", "expires_at"])?;
        let name = name_field(obj)?.ok_or_else(|| RegistryError::bad("name is required"))?;
        let config = config_field(obj.get("config"), catalog)?;
        let expires_at = match obj.get("expires_at") {
            None => None,
            Some(v) => expires_at_field(v, now_ms)?,
        };
        Ok(NewServer {
            name,
            config,
            expires_at,
        })
    }
}

/// `PATCH /integrated-account/{id}/mcp/{server_id}`: any of `name`, `config` (replaces the
/// whole config) and `expires_at` (`Some(None)` clears it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerPatch {
    /// A new name.
    pub name: Option<String>,
    /// A new config.
    pub config: Option<Value>,
    /// A new expiry (`Some(None)`: none).
    pub expires_at: Option<Option<String>>,
}

impl ServerPatch {
    /// Parses and checks the body at `now_ms`.
    pub fn parse(
        body: &Value,
        catalog: &Catalog<'_>,
        now_ms: i64,
    ) -> Result<ServerPatch, RegistryError> {
        let obj = body_object(body, &["name", "config", "expires_at"])?;
        let name = name_field(obj)?;
        let config = match obj.get("config") {
            None => None,
            Some(v) => Some(config_field(Some(v), catalog)?),
        };
        let expires_at = match obj.get("expires_at") {
            None => None,
            Some(v) => Some(expires_at_field(v, now_ms)?),
        };
        Ok(ServerPatch {
            name,
            config,
            expires_at,
        })
    }

    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.config.is_none() && self.expires_at.is_none()
    }
}

/// A config that parses and selects at least one tool of `catalog`, normalised. An explicit
/// empty `methods` or `tags` is refused: it would read as "no restriction" (every tool, writes
/// and deletes included) where the admin more likely meant "none". Records stored before this
/// rule keep their meaning, so the check is here, on what the admin API is sent, and not in
/// [`ToolFilter::parse`], which also reads stored records.
fn config_field(value: Option<&Value>, catalog: &Catalog<'_>) -> Result<Value, RegistryError> {
    if let Some(Value::Object(obj)) = value {
        for key in ["methods", "tags"] {
            if obj
                .get(key)
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                return Err(RegistryError::bad(format!(
                    "config.{key} is an empty list, which would select no tool; omit \
                     config.{key} (or set it to null) for no restriction on {key}"
                )));
            }
        }
    }
    let (filter, config) = ToolFilter::parse(value)?;
    filter.check_selects_some(catalog)?;
    Ok(config)
}

/// The body as an object holding only `allowed` fields.
fn body_object<'a>(
    body: &'a Value,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, RegistryError> {
    let obj = body
        .as_object()
        .ok_or_else(|| RegistryError::bad("the request body must be a JSON object"))?;
    if let Some(key) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(RegistryError::bad(format!(
            "unknown field `{key}`; allowed fields: {}",
            allowed.join(", ")
        )));
    }
    Ok(obj)
}

/// `name`, if present: a non-empty string (trimmed) of at most [`MAX_NAME_LEN`] characters.
fn name_field(obj: &Map<String, Value>) -> Result<Option<String>, RegistryError> {
    match obj.get("name") {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.chars().count() <= MAX_NAME_LEN)
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| {
                RegistryError::bad(format!(
                    "name must be a non-empty string of at most {MAX_NAME_LEN} characters"
                ))
            }),
    }
}

/// `expires_at`: `null` (no expiry) or an RFC 3339 time at least a minute and at most
/// [`MAX_EXPIRY_DAYS`] ahead of `now_ms`, returned normalised to UTC with milliseconds.
fn expires_at_field(value: &Value, now_ms: i64) -> Result<Option<String>, RegistryError> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s,
        _ => {
            return Err(RegistryError::bad(
                "expires_at must be an RFC 3339 date-time string (such as \
                 2025-12-31T23:59:59Z) or null",
            ))
        }
    };
    let at = clock::parse_rfc3339(text).ok_or_else(|| {
        RegistryError::bad(
            "expires_at must be an RFC 3339 date-time string (such as 2025-12-31T23:59:59Z) \
             or null",
        )
    })?;
    if at < now_ms.saturating_add(MIN_EXPIRY_MS) {
        return Err(RegistryError::bad(format!(
            "expires_at must be at least {} seconds in the future (now is {})",
            MIN_EXPIRY_MS / 1000,
            clock::format_millis(now_ms)
        )));
    }
    if at > now_ms.saturating_add(MAX_EXPIRY_DAYS * 86_400_000) {
        return Err(RegistryError::bad(format!(
            "expires_at must be at most {MAX_EXPIRY_DAYS} days (about ten years) in the future \
             (now is {}); omit it or set it to null for a server that does not expire",
            clock::format_millis(now_ms)
        )));
    }
    Ok(Some(clock::format_millis(at)))
}
