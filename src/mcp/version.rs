//! Protocol versions and eras. Legacy clients open with `initialize`; modern clients
//! (2026-07-28) are stateless and name their version in every request's `_meta`. The era
//! is decided per request, so no session state exists anywhere.

use crate::jsonrpc::{RpcError, HEADER_MISMATCH, UNSUPPORTED_VERSION};
use serde_json::{json, Map, Value};

/// The stateless revision this server speaks.
pub const MODERN: &str = "2026-07-28";
/// The `initialize`-era versions, newest first.
pub const LEGACY: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// What a legacy request without `MCP-Protocol-Version` is taken as (per the spec).
pub const LEGACY_DEFAULT: &str = "2025-03-26";
/// The `_meta` key carrying a modern request's protocol version.
pub const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The `_meta` key carrying a modern request's client capabilities.
pub const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// The `_meta` key carrying the server's name and version on a modern result.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// Which era a request belongs to, with its version.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Era {
    /// `initialize` handshake era.
    Legacy(&'static str),
    /// 2026-07-28 and later: stateless, `_meta` on every request.
    Modern(&'static str),
}

impl Era {
    /// The protocol version string.
    pub fn version(self) -> &'static str {
        match self {
            Era::Legacy(v) | Era::Modern(v) => v,
        }
    }
}

/// Every supported version, newest first.
pub fn supported() -> Vec<&'static str> {
    std::iter::once(MODERN)
        .chain(LEGACY.iter().copied())
        .collect()
}

fn known(version: &str) -> Option<&'static str> {
    supported().into_iter().find(|v| *v == version)
}

/// The HTTP headers that speak about the protocol.
#[derive(Default, Debug, Clone, Copy)]
pub struct Headers<'a> {
    /// `MCP-Protocol-Version`.
    pub protocol_version: Option<&'a str>,
    /// `Mcp-Method` (modern).
    pub method: Option<&'a str>,
    /// `Mcp-Name` (modern).
    pub name: Option<&'a str>,
}

/// The unsupported-version error: HTTP 400, -32022, `data.supported`.
pub fn unsupported(version: &str) -> RpcError {
    RpcError::new(
        UNSUPPORTED_VERSION,
        format!(
            "Unsupported protocol version '{version}'; this server supports {}",
            supported().join(", ")
        ),
    )
    .with_data(json!({ "supported": supported(), "requested": version }))
    .with_status(400)
}

fn mismatch(what: String) -> RpcError {
    RpcError::new(HEADER_MISMATCH, format!("Header mismatch: {what}")).with_status(400)
}

/// Decides the era of one request and checks the protocol headers against the body.
pub fn detect(
    method: &str,
    params: &Map<String, Value>,
    headers: Headers,
) -> Result<Era, RpcError> {
    let meta_version = params.get("_meta").and_then(|meta| meta.get(META_VERSION));
    let Some(meta_version) = meta_version else {
        return legacy(method, params, headers);
    };
    let requested = meta_version.as_str().ok_or_else(|| {
        RpcError::invalid_params(format!("_meta.{META_VERSION} must be a string"))
    })?;
    let capabilities = params
        .get("_meta")
        .and_then(|meta| meta.get(META_CAPABILITIES));
    if capabilities.is_some_and(|c| !c.is_object()) {
        return Err(RpcError::invalid_params(format!(
            "_meta.{META_CAPABILITIES} must be an object"
        )));
    }
    let version = match known(requested) {
        Some(v) if !LEGACY.contains(&v) => v,
        _ => return Err(unsupported(requested)),
    };
    if let Some(header) = headers.protocol_version {
        if header != requested {
            return Err(mismatch(format!(
                "MCP-Protocol-Version is '{header}' but _meta.{META_VERSION} is '{requested}'"
            )));
        }
    }
    if let Some(header) = headers.method {
        if header != method {
            return Err(mismatch(format!(
                "Mcp-Method is '{header}' but the body's method is '{method}'"
            )));
        }
    }
    if let Some(header) = headers.name {
        let body_name = params
            .get("name")
            .or_else(|| params.get("uri"))
            .and_then(Value::as_str);
        if body_name != Some(header) {
            return Err(mismatch(format!(
                "Mcp-Name is '{header}' but the body names '{}'",
                body_name.unwrap_or("nothing")
            )));
        }
    }
    Ok(Era::Modern(version))
}

/// A request without `_meta` version: the legacy era. `initialize` negotiates its own
/// version; other requests may carry `MCP-Protocol-Version`, taken as 2025-03-26 when absent.
fn legacy(method: &str, params: &Map<String, Value>, headers: Headers) -> Result<Era, RpcError> {
    if method == "initialize" {
        let offered = params.get("protocolVersion").and_then(Value::as_str);
        let version = offered
            .and_then(|v| LEGACY.iter().copied().find(|l| *l == v))
            .unwrap_or(LEGACY[0]);
        return Ok(Era::Legacy(version));
    }
    match headers.protocol_version {
        None => Ok(Era::Legacy(LEGACY_DEFAULT)),
        Some(header) => match known(header) {
            Some(v) if LEGACY.contains(&v) => Ok(Era::Legacy(v)),
            Some(v) => Err(RpcError::invalid_params(format!(
                "MCP-Protocol-Version is '{v}' but the request has no _meta.{META_VERSION}; a {v} request must carry it in params._meta"
            ))
            .with_status(400)),
            None => Err(unsupported(header)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn initialize_echoes_supported_versions_and_falls_back_to_the_newest() {
        let h = Headers::default();
        let era =
            |v: &str| detect("initialize", &params(json!({"protocolVersion": v})), h).unwrap();
        assert_eq!(era("2024-11-05"), Era::Legacy("2024-11-05"));
        assert_eq!(era("2025-06-18"), Era::Legacy("2025-06-18"));
        assert_eq!(era("1999-01-01"), Era::Legacy("2025-11-25"));
    }

    #[test]
    fn modern_requests_are_checked_against_their_headers() {
        let p = params(json!({"name": "get_contacts", "_meta": {META_VERSION: MODERN}}));
        assert_eq!(
            detect("tools/call", &p, Headers::default()),
            Ok(Era::Modern(MODERN))
        );
        let bad = params(json!({"_meta": {META_VERSION: "2030-01-01"}}));
        let err = detect("tools/list", &bad, Headers::default()).unwrap_err();
        assert_eq!((err.code, err.http_status), (UNSUPPORTED_VERSION, 400));
        assert_eq!(err.data.unwrap()["supported"][0], MODERN);
        for headers in [
            Headers {
                protocol_version: Some("2025-06-18"),
                ..Default::default()
            },
            Headers {
                method: Some("tools/list"),
                ..Default::default()
            },
            Headers {
                name: Some("get_deals"),
                ..Default::default()
            },
        ] {
            let err = detect("tools/call", &p, headers).unwrap_err();
            assert_eq!((err.code, err.http_status), (HEADER_MISMATCH, 400));
        }
    }

    #[test]
    fn legacy_headers_default_and_validate() {
        let none = Map::new();
        assert_eq!(
            detect("tools/list", &none, Headers::default()),
            Ok(Era::Legacy(LEGACY_DEFAULT))
        );
        let odd = Headers {
            protocol_version: Some("2019-01-01"),
            ..Default::default()
        };
        assert_eq!(
            detect("tools/list", &none, odd).unwrap_err().code,
            UNSUPPORTED_VERSION
        );
    }
}
