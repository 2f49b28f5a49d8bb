//! Who may call the MCP endpoints: the `MCP_AUTH` mode, the API keys of `MCP_API_KEYS`
//! (kept only as SHA-256 hashes, looked up in a set), and the per-request rule that says
//! whether a request without a credential is let in.

use crate::http::Response;
use crate::mcp::jsonrpc::{self, ErrorCode, RpcError};
use crate::registry::token::hash_token;
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

/// The JSON-RPC error code of a refused credential (401) or of too many failed attempts
/// (429); in the implementation-defined server error range.
pub const UNAUTHORIZED: ErrorCode = ErrorCode::UNAUTHORIZED;
/// The `WWW-Authenticate` challenge of every 401 on the MCP endpoints.
pub const CHALLENGE: &str = "Bearer realm=\"hubspot-mcp\"";
/// The shortest API key accepted (characters).
pub const MIN_KEY_LEN: usize = 16;

/// When a request to `/mcp` needs a credential (`MCP_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum McpAuth {
    /// Needed when `ADMIN_API_TOKEN` or `MCP_API_KEYS` is set, or when the request came
    /// through a proxy; otherwise (a loopback bind, nothing configured) `/mcp` is open.
    #[default]
    Auto,
    /// Always needed.
    Required,
    /// Never needed (a warning at start names the exposure).
    None,
}

impl McpAuth {
    /// The accepted values, for error messages.
    pub const ALLOWED: &'static str = "auto, required or none";

    /// Parses `MCP_AUTH` (any case).
    pub fn parse(text: &str) -> Option<McpAuth> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(McpAuth::Auto),
            "required" => Some(McpAuth::Required),
            "none" => Some(McpAuth::None),
            _ => None,
        }
    }
}

/// The API keys that give full access to the start-up account, as SHA-256 hashes: a
/// presented key is hashed and looked up, so no key is ever compared byte by byte or kept
/// in the clear.
#[derive(Clone, Default, PartialEq)]
pub struct ApiKeys {
    hashes: HashSet<String>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} keys, redacted)", self.hashes.len())
    }
}

impl ApiKeys {
    /// Adds the keys of `text`, separated by commas or new lines (blank entries and lines
    /// starting with `#` are skipped). The error names `source` and the entry's position,
    /// never the key.
    pub fn add(&mut self, source: &str, text: &str) -> Result<(), String> {
        let entries = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.starts_with('#'));
        for (i, key) in entries.enumerate() {
            if key.len() < MIN_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "{source}: key {} is not valid: expected at least {MIN_KEY_LEN} printable \
                     characters without spaces (e.g. openssl rand -hex 32)",
                    i + 1
                ));
            }
            self.hashes.insert(hash_token(key));
        }
        Ok(())
    }

    /// True when no key is configured.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// True when `presented` is one of the keys.
    pub fn contains(&self, presented: &str) -> bool {
        !self.hashes.is_empty() && self.hashes.contains(&hash_token(presented))
    }
}

/// What decides, per request, whether a caller without a credential gets in.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `MCP_AUTH`.
    pub mode: McpAuth,
    /// `MCP_API_KEYS` and `MCP_API_KEYS_FILE`.
    pub keys: ApiKeys,
    /// True when `ADMIN_API_TOKEN` is set (scoped servers can be minted).
    pub admin_on: bool,
}

impl Policy {
    /// True when a request must carry a credential. `proxied` is true when it came through
    /// a proxy (`Forwarded` or `X-Forwarded-For`), where every caller looks local. A
    /// non-loopback bind with a real HubSpot key and nothing configured never gets here:
    /// start-up refuses it.
    pub fn credential_required(&self, proxied: bool) -> bool {
        match self.mode {
            McpAuth::Required => true,
            McpAuth::None => false,
            McpAuth::Auto => self.admin_on || !self.keys.is_empty() || proxied,
        }
    }

    /// True when some credential could be presented at all (a key, or scoped servers).
    pub fn has_credentials(&self) -> bool {
        self.admin_on || !self.keys.is_empty()
    }
}

/// A refused credential on the MCP endpoints: 401, the Bearer challenge and a JSON-RPC
/// error body (code [`UNAUTHORIZED`]).
pub fn unauthorized(message: &str) -> Response {
    rpc_refusal(401, message).with_header("WWW-Authenticate", CHALLENGE)
}

/// An HTTP `status` whose body is the JSON-RPC error [`UNAUTHORIZED`] with `message` and
/// `id: null` (the request was not read).
fn rpc_refusal(status: u16, message: &str) -> Response {
    rpc_error(status, &RpcError::new(UNAUTHORIZED, message))
}

fn rpc_error(status: u16, error: &RpcError) -> Response {
    let mut body = Vec::new();
    jsonrpc::write_failure(&mut body, None, error);
    Response::json_bytes(status, body)
}

/// Why a scoped server's token is refused while the registry has been unreachable for
/// `down_for`, longer than `ETCD_MAX_STALENESS_MS` (code
/// [`ErrorCode::REGISTRY_UNREACHABLE`]; HTTP 503).
pub fn unverifiable(down_for: Duration) -> RpcError {
    RpcError::new(
        ErrorCode::REGISTRY_UNREACHABLE,
        format!(
            "the registry (etcd) has not answered for {} s, longer than ETCD_MAX_STALENESS_MS, so this scoped server's token cannot be checked (it may have been revoked); nothing more was sent to HubSpot; try again when the registry is back",
            down_for.as_secs()
        ),
    )
}

/// 503 with `Retry-After` and [`unverifiable`]'s JSON-RPC error: a scoped server's token
/// refused before its request was read.
pub fn unverifiable_response(down_for: Duration) -> Response {
    rpc_error(503, &unverifiable(down_for)).with_header("Retry-After", "5")
}

/// 429 for an address that failed too many credential attempts, with `Retry-After`: a
/// JSON-RPC error (code [`UNAUTHORIZED`]) on the MCP endpoints (`rpc`), the
/// `{statusCode, error, message}` envelope elsewhere.
pub fn too_many_attempts(wait: Duration, rpc: bool) -> Response {
    let seconds = wait.as_secs() + 1;
    let message =
        format!("too many failed credential attempts from your address; try again in {seconds} s");
    let response = if rpc {
        rpc_refusal(429, &message)
    } else {
        Response::error(429, &message)
    };
    response.with_header("Retry-After", seconds.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hashed_looked_up_and_checked_without_echo() {
        let mut keys = ApiKeys::default();
        assert!(!keys.contains("anything-at-all-16"));
        keys.add(
            "MCP_API_KEYS",
            " first-key-0123456789 ,# comment\n\nsecond-key-0123456789",
        )
        .unwrap();
        assert!(keys.contains("first-key-0123456789"));
        assert!(keys.contains("second-key-0123456789"));
        assert!(!keys.contains("first-key-012345678"));
        assert!(
            !format!("{keys:?}").contains("first"),
            "Debug never shows a key"
        );
        let err = keys
            .add("MCP_API_KEYS_FILE line", "ok-key-0123456789abc,short")
            .unwrap_err();
        assert!(err.contains("key 2") && !err.contains("short"), "{err}");
        assert!(keys.add("x", "has space in it 0123").is_err());
    }

    #[test]
    fn the_auth_matrix() {
        let mut keys = ApiKeys::default();
        keys.add("t", "0123456789abcdef0123").unwrap();
        let policy = |mode, keys: &ApiKeys, admin_on| Policy {
            mode,
            keys: keys.clone(),
            admin_on,
        };
        let none = ApiKeys::default();
        // (mode, keys, admin token, proxied) -> required
        let cases = [
            (McpAuth::Auto, &none, false, false, false),
            (McpAuth::Auto, &none, false, true, true),
            (McpAuth::Auto, &none, true, false, true),
            (McpAuth::Auto, &keys, false, false, true),
            (McpAuth::Required, &none, false, false, true),
            (McpAuth::None, &keys, true, true, false),
        ];
        for (mode, keys, admin_on, proxied, want) in cases {
            assert_eq!(
                policy(mode, keys, admin_on).credential_required(proxied),
                want,
                "{mode:?} keys={} admin={admin_on} proxied={proxied}",
                !keys.is_empty()
            );
        }
        assert_eq!(McpAuth::parse(" Required "), Some(McpAuth::Required));
        assert_eq!(McpAuth::parse("off"), None);
    }
}
