//! Which browser origins may call the server (`CORS_ORIGIN`), the CORS headers they get,
//! and the `Origin` check that protects a local server from DNS rebinding.

// Parses the Origin header a client sent: no arithmetic that can overflow and no index
// that can panic (Cargo.toml: [lints]).
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use super::{Request, Response};

/// The allowed origins.
#[derive(Debug, Clone, PartialEq)]
pub enum CorsPolicy {
    /// `*`: any origin.
    Any,
    /// A list of entries: a full origin (`https://app.example.com`) matches exactly; a bare
    /// host (`example.com`) matches that host on any scheme and port; `localhost` also
    /// matches the loopback addresses `127.0.0.1` and `[::1]`.
    List(Vec<String>),
}

/// The request headers a browser may send.
const ALLOWED_HEADERS: &str = "Content-Type, Authorization, Accept, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Session-Id, Last-Event-ID";
/// The response headers a browser script may read.
const EXPOSED_HEADERS: &str = "MCP-Protocol-Version, Mcp-Session-Id";

impl CorsPolicy {
    /// Parses `CORS_ORIGIN`: `*` or a comma-separated list of origins or hosts.
    pub fn parse(value: &str) -> Result<CorsPolicy, String> {
        let entries: Vec<String> = value
            .split(',')
            .map(|e| e.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        if entries.iter().any(|e| e == "*") {
            return Ok(CorsPolicy::Any);
        }
        if entries.is_empty() {
            return Err("expected '*' or a comma-separated list of origins or hosts".into());
        }
        if let Some(bad) = entries.iter().find(|e| e.contains(char::is_whitespace)) {
            return Err(format!("'{bad}' is not an origin or a host"));
        }
        Ok(CorsPolicy::List(entries))
    }

    /// Whether a request carrying `Origin: origin` is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        let entries = match self {
            CorsPolicy::Any => return true,
            CorsPolicy::List(entries) => entries,
        };
        let origin = origin.trim().to_ascii_lowercase();
        let host = origin_host(&origin);
        entries.iter().any(|entry| {
            if entry.contains("://") {
                *entry == origin
            } else if entry == "localhost" {
                matches!(host, "localhost" | "127.0.0.1" | "[::1]")
            } else {
                host == entry
            }
        })
    }

    /// The check every request passes first: a browser `Origin` that is not allowed gets
    /// 403; an allowed one gets its CORS headers on the response (`decorate`).
    pub fn check(&self, req: &Request) -> Result<(), Response> {
        // An Origin that is not UTF-8 is no origin a browser sends: refused, never read as
        // absent (which would serve it like a non-browser client).
        let raw = req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("origin"));
        if raw.is_some_and(|h| std::str::from_utf8(h.value).is_err()) {
            return Err(Response::error(
                403,
                "the Origin header is not valid UTF-8, so it cannot be an allowed origin",
            ));
        }
        match req.header("origin") {
            Some(origin) if !origin.is_empty() && origin != "null" && !self.allows(origin) => {
                Err(Response::error(
                    403,
                    &format!("origin '{origin}' is not allowed; add it to CORS_ORIGIN to let browsers on it call this server"),
                ))
            }
            Some("null") => Err(Response::error(
                403,
                "requests from an opaque origin ('null') are not allowed",
            )),
            _ => Ok(()),
        }
    }

    /// The answer to an `OPTIONS` preflight from an allowed origin.
    pub fn preflight(&self, req: &Request) -> Response {
        let headers = req
            .header("access-control-request-headers")
            .filter(|h| !h.is_empty())
            .unwrap_or(ALLOWED_HEADERS)
            .to_string();
        self.decorate(req, Response::empty(204))
            .with_header(
                "Access-Control-Allow-Methods",
                "GET, POST, PATCH, DELETE, OPTIONS",
            )
            .with_header("Access-Control-Allow-Headers", headers)
            .with_header("Access-Control-Max-Age", "600")
    }

    /// Adds the CORS headers for the request's origin, if it sent one and the response
    /// has none yet (a preflight answer already carries them; browsers reject a second
    /// `Access-Control-Allow-Origin`).
    pub fn decorate(&self, req: &Request, response: Response) -> Response {
        let decorated = response
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("access-control-allow-origin"));
        match req.header("origin") {
            Some(origin) if !origin.is_empty() && !decorated => response
                .with_header("Access-Control-Allow-Origin", origin.to_string())
                .with_header("Access-Control-Expose-Headers", EXPOSED_HEADERS)
                .with_header("Vary", "Origin"),
            _ => response,
        }
    }
}

/// The host part of an origin (`https://a.example.com:8443` -> `a.example.com`).
fn origin_host(origin: &str) -> &str {
    let rest = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    if rest.starts_with('[') {
        return rest
            .find(']')
            .map_or(rest, |end| rest.get(..=end).unwrap_or(rest));
    }
    rest.split(':').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hosts_origins_and_any() {
        let default = CorsPolicy::parse("localhost").unwrap();
        assert!(default.allows("http://localhost:6274"));
        assert!(default.allows("http://127.0.0.1:3000"));
        assert!(default.allows("http://[::1]:3000"));
        assert!(!default.allows("http://evil.example"));
        assert!(!default.allows("http://localhost.evil.example"));
        let list = CorsPolicy::parse("https://app.example.com, example.org").unwrap();
        assert!(list.allows("https://app.example.com"));
        assert!(!list.allows("http://app.example.com"));
        assert!(list.allows("http://example.org:8080"));
        assert!(CorsPolicy::parse("*")
            .unwrap()
            .allows("https://anything.example"));
        assert!(CorsPolicy::parse(" , ").is_err());
    }
}
