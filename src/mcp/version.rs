//! Protocol versions and eras. Legacy clients open with `initialize`; modern clients
//! (2026-07-28) are stateless and name their version in every request's `_meta`. The era
//! is decided per request, so no session state exists anywhere.

use super::params::{self, Initialize};
use super::Method;
use crate::mcp::jsonrpc::{ErrorCode, RpcError};
use serde_json::{json, Map, Value};

/// A protocol version this server speaks (a small newtype, as rmcp's
/// `ProtocolVersion`): only the constants below exist, and they compare in date order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProtocolVersion(&'static str);

impl ProtocolVersion {
    /// The first MCP revision.
    pub const V_2024_11_05: ProtocolVersion = ProtocolVersion("2024-11-05");
    /// Streamable HTTP.
    pub const V_2025_03_26: ProtocolVersion = ProtocolVersion("2025-03-26");
    /// `outputSchema` and `structuredContent`.
    pub const V_2025_06_18: ProtocolVersion = ProtocolVersion("2025-06-18");
    /// The last `initialize`-era revision.
    pub const V_2025_11_25: ProtocolVersion = ProtocolVersion("2025-11-25");
    /// The stateless revision.
    pub const V_2026_07_28: ProtocolVersion = ProtocolVersion("2026-07-28");

    /// The version's name on the wire.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The supported version called `name`.
    pub fn known(name: &str) -> Option<ProtocolVersion> {
        SUPPORTED.into_iter().find(|v| v.0 == name)
    }

    /// True for the `initialize`-era versions.
    pub fn is_legacy(self) -> bool {
        self < MODERN
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for ProtocolVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// The stateless revision this server speaks.
pub const MODERN: ProtocolVersion = ProtocolVersion::V_2026_07_28;
/// Every supported version, newest first: [`MODERN`], then the `initialize`-era ones.
pub const SUPPORTED: [ProtocolVersion; 5] = [
    MODERN,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2024_11_05,
];
/// What a legacy request without `MCP-Protocol-Version` is taken as (per the spec).
pub const LEGACY_DEFAULT: ProtocolVersion = ProtocolVersion::V_2025_03_26;
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
    Legacy(ProtocolVersion),
    /// 2026-07-28 and later: stateless, `_meta` on every request.
    Modern(ProtocolVersion),
}

impl Era {
    /// The protocol version.
    pub fn version(self) -> ProtocolVersion {
        match self {
            Era::Legacy(v) | Era::Modern(v) => v,
        }
    }
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
    /// True over Streamable HTTP, where a modern request must carry the headers above;
    /// false on stdio, which has none.
    pub http: bool,
}

/// The unsupported-version error: -32022, `data.supported`.
pub fn unsupported(version: &str) -> RpcError {
    RpcError::new(
        ErrorCode::UNSUPPORTED_VERSION,
        format!(
            "Unsupported protocol version '{version}'; this server supports {}",
            SUPPORTED.map(ProtocolVersion::as_str).join(", ")
        ),
    )
    .with_data(json!({ "supported": SUPPORTED, "requested": version }))
}

fn mismatch(what: String) -> RpcError {
    RpcError::new(
        ErrorCode::HEADER_MISMATCH,
        format!("Header mismatch: {what}"),
    )
}

/// Decides the era of one request and checks it, in the order of the 2026-07-28 spec:
/// the required `_meta` fields (-32602), then over HTTP the request metadata headers
/// against the body (-32020), then the version itself (-32022). Over HTTP, any error here
/// is answered with status 400 (see [`super::http_status`]).
pub fn detect(
    method: &str,
    params: &Map<String, Value>,
    headers: Headers,
) -> Result<Era, RpcError> {
    let meta = params.get("_meta");
    let Some(meta_version) = meta.and_then(|meta| meta.get(META_VERSION)) else {
        return legacy(method, params, headers);
    };
    let malformed = RpcError::invalid_params;
    let requested = meta_version
        .as_str()
        .ok_or_else(|| malformed(format!("_meta.{META_VERSION} must be a string")))?;
    match meta.and_then(|meta| meta.get(META_CAPABILITIES)) {
        Some(Value::Object(_)) => {}
        Some(_) => {
            return Err(malformed(format!(
                "_meta.{META_CAPABILITIES} must be an object"
            )))
        }
        None => {
            return Err(malformed(format!(
            "_meta.{META_CAPABILITIES} is required on a {requested} request (send {{}} for none)"
        )))
        }
    }
    if headers.http {
        check_headers(method, params, requested, headers)?;
    }
    match ProtocolVersion::known(requested) {
        Some(v) if !v.is_legacy() => Ok(Era::Modern(v)),
        _ => Err(unsupported(requested)),
    }
}

/// The params field a method's `Mcp-Name` header mirrors.
fn name_field(method: &str) -> Option<&'static str> {
    match Method::named(method)? {
        Method::ToolsCall | Method::PromptsGet => Some("name"),
        Method::ResourcesRead => Some("uri"),
        _ => None,
    }
}

/// Streamable HTTP, "Server Validation": `MCP-Protocol-Version` and `Mcp-Method` are
/// required on every modern request, `Mcp-Name` on `tools/call`, `prompts/get` and
/// `resources/read`; each must equal the body (`Mcp-Name` after decoding the
/// `=?base64?...?=` form); a missing, undecodable or different header is -32020.
fn check_headers(
    method: &str,
    params: &Map<String, Value>,
    requested: &str,
    headers: Headers,
) -> Result<(), RpcError> {
    match headers.protocol_version {
        Some(header) if header == requested => {}
        Some(header) => {
            return Err(mismatch(format!(
                "MCP-Protocol-Version is '{header}' but _meta.{META_VERSION} is '{requested}'"
            )))
        }
        None => {
            return Err(mismatch(format!(
                "the MCP-Protocol-Version header is required (send '{requested}')"
            )))
        }
    }
    match headers.method {
        Some(header) if header == method => {}
        Some(header) => {
            return Err(mismatch(format!(
                "Mcp-Method is '{header}' but the body's method is '{method}'"
            )))
        }
        None => {
            return Err(mismatch(format!(
                "the Mcp-Method header is required (send '{method}')"
            )))
        }
    }
    let Some(field) = name_field(method) else {
        return Ok(());
    };
    let Some(body) = params.get(field).and_then(Value::as_str) else {
        return Ok(()); // the body itself is wrong: the method answers -32602
    };
    match headers.name.map(decode_header_value) {
        Some(Some(header)) if header == body => Ok(()),
        Some(Some(header)) => Err(mismatch(format!(
            "Mcp-Name is '{header}' but the body's {field} is '{body}'"
        ))),
        Some(None) => Err(mismatch(
            "Mcp-Name is not a valid =?base64?...?= value".to_string(),
        )),
        None => Err(mismatch(format!(
            "the Mcp-Name header is required on {method} (send the {field} '{body}')"
        ))),
    }
}

/// A header value as sent: plain, or `=?base64?<standard base64 of UTF-8>?=` (Streamable
/// HTTP, "Value Encoding"). `None` when the encoded form is not valid base64 or UTF-8.
pub fn decode_header_value(value: &str) -> Option<std::borrow::Cow<'_, str>> {
    let Some(payload) = value
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    else {
        return Some(std::borrow::Cow::Borrowed(value));
    };
    let bytes = base64_decode(payload.as_bytes())?;
    String::from_utf8(bytes).ok().map(std::borrow::Cow::Owned)
}

/// Standard base64 with `=` padding, strictly: `None` on anything else.
fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    if !input.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let chunks = input.chunks(4).count();
    for (i, chunk) in input.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != chunks) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = n << 6 | sextet(c)?;
        }
        n <<= 6 * pad as u32;
        // Canonical form only: the bits below the last full byte must be zero.
        if n & ((1 << (8 * pad as u32)) - 1) != 0 {
            return None;
        }
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    Some(out)
}

/// A request without `_meta` version: the legacy era. `initialize` negotiates its own
/// version; other requests may carry `MCP-Protocol-Version`, taken as 2025-03-26 when absent.
fn legacy(method: &str, params: &Map<String, Value>, headers: Headers) -> Result<Era, RpcError> {
    if method == Method::Initialize.as_str() {
        let offered: Initialize = params::parse(params)?;
        let version = offered
            .protocol_version
            .given()
            .and_then(ProtocolVersion::known)
            .filter(|v| v.is_legacy())
            .unwrap_or(ProtocolVersion::V_2025_11_25);
        return Ok(Era::Legacy(version));
    }
    match headers.protocol_version {
        None => Ok(Era::Legacy(LEGACY_DEFAULT)),
        Some(header) => match ProtocolVersion::known(header) {
            Some(v) if v.is_legacy() => Ok(Era::Legacy(v)),
            Some(v) => Err(RpcError::invalid_params(format!(
                "MCP-Protocol-Version is '{v}' but the request has no _meta.{META_VERSION}; a {v} request must carry it in params._meta"
            ))),
            None => Err(unsupported(header)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const INVALID_PARAMS: ErrorCode = ErrorCode::INVALID_PARAMS;
    const UNSUPPORTED_VERSION: ErrorCode = ErrorCode::UNSUPPORTED_VERSION;
    const HEADER_MISMATCH: ErrorCode = ErrorCode::HEADER_MISMATCH;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn initialize_echoes_supported_versions_and_falls_back_to_the_newest() {
        let h = Headers::default();
        let era =
            |v: &str| detect("initialize", &params(json!({"protocolVersion": v})), h).unwrap();
        assert_eq!(
            era("2024-11-05"),
            Era::Legacy(ProtocolVersion::V_2024_11_05)
        );
        assert_eq!(
            era("2025-06-18"),
            Era::Legacy(ProtocolVersion::V_2025_06_18)
        );
        assert_eq!(
            era("1999-01-01"),
            Era::Legacy(ProtocolVersion::V_2025_11_25)
        );
        assert_eq!(
            era("2026-07-28"),
            Era::Legacy(ProtocolVersion::V_2025_11_25)
        );
    }

    fn meta() -> Value {
        json!({META_VERSION: MODERN, META_CAPABILITIES: {}})
    }

    /// The headers a conforming HTTP client sends with a `tools/call` of `get_contacts`.
    fn http(name: Option<&'static str>) -> Headers<'static> {
        Headers {
            protocol_version: Some(MODERN.as_str()),
            method: Some("tools/call"),
            name,
            http: true,
        }
    }

    #[test]
    fn modern_requests_need_their_meta_fields() {
        let p = params(json!({"name": "get_contacts", "_meta": meta()}));
        assert_eq!(
            detect("tools/call", &p, Headers::default()),
            Ok(Era::Modern(MODERN))
        );
        let bad = params(json!({"_meta": {META_VERSION: "2030-01-01", META_CAPABILITIES: {}}}));
        let err = detect("tools/list", &bad, Headers::default()).unwrap_err();
        assert_eq!(err.code, UNSUPPORTED_VERSION);
        assert_eq!(err.data.unwrap()["supported"][0], MODERN.as_str());
        for meta in [
            json!({META_VERSION: MODERN}),
            json!({META_VERSION: MODERN, META_CAPABILITIES: []}),
            json!({META_VERSION: 2026, META_CAPABILITIES: {}}),
        ] {
            let p = params(json!({"_meta": meta}));
            let err = detect("tools/list", &p, Headers::default()).unwrap_err();
            assert_eq!(err.code, INVALID_PARAMS, "{meta}");
        }
    }

    #[test]
    fn over_http_modern_requests_are_checked_against_their_headers() {
        let p = params(json!({"name": "get_contacts", "_meta": meta()}));
        assert_eq!(
            detect("tools/call", &p, http(Some("get_contacts"))),
            Ok(Era::Modern(MODERN))
        );
        // base64-encoded name, as a client sends a name outside the header-safe set
        assert_eq!(
            detect("tools/call", &p, http(Some("=?base64?Z2V0X2NvbnRhY3Rz?="))),
            Ok(Era::Modern(MODERN))
        );
        for headers in [
            Headers {
                protocol_version: Some("2025-06-18"),
                ..http(Some("get_contacts"))
            },
            Headers {
                protocol_version: None,
                ..http(Some("get_contacts"))
            },
            Headers {
                method: Some("tools/list"),
                ..http(Some("get_contacts"))
            },
            Headers {
                method: None,
                ..http(Some("get_contacts"))
            },
            http(Some("get_deals")),
            http(None),
            http(Some("=?base64?not base64?=")),
        ] {
            let err = detect("tools/call", &p, headers).unwrap_err();
            assert_eq!(err.code, HEADER_MISMATCH, "{headers:?}");
        }
        // a method without a name needs no Mcp-Name
        let list = params(json!({"_meta": meta()}));
        let headers = Headers {
            method: Some("tools/list"),
            ..http(None)
        };
        assert_eq!(
            detect("tools/list", &list, headers),
            Ok(Era::Modern(MODERN))
        );
    }

    #[test]
    fn decodes_base64_header_values_strictly() {
        assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(
            decode_header_value("=?base64?IHBhZGRlZCA=?=").as_deref(),
            Some(" padded ")
        );
        assert_eq!(decode_header_value("=?base64?YQ==?=").as_deref(), Some("a"));
        assert_eq!(decode_header_value("=?base64??=").as_deref(), Some(""));
        for bad in [
            "=?base64?YQ=?=",
            "=?base64?YR==?=",
            "=?base64?Y===?=",
            "=?base64?/w==?=",
        ] {
            assert_eq!(decode_header_value(bad), None, "{bad}");
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
