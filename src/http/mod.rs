//! The HTTP layer, above the runtime: it knows nothing of MCP or HubSpot, bounds and times
//! every read, and answers a malformed request itself, before any handler sees it.
//!
//! Our HTTP/1.1 layer: a small connection loop on `may` coroutines and `httparse`,
//! in may_minihttp's style (one coroutine per connection, keep-alive, pipelining,
//! buffers reused), plus the request and response types that handlers see.
//!
//! Why not may_minihttp itself: see docs/design.md ("Why our own HTTP loop, not may_minihttp").

mod budget;
mod conn;
mod cors;
mod framing;
mod idle;
mod peers;
mod request;
mod response;
mod socket;

pub use budget::BodyBudget;
pub use conn::{default_max_connections, serve, Limits, Shutdown};
pub use cors::CorsPolicy;
pub use peers::{client_key, IpRange};
pub use request::Request;
pub use response::{reason, Response};

/// Something that turns one parsed request into one response.
///
/// Called on a may coroutine: it must not block the worker thread (hand blocking
/// work to [`crate::runtime::pool`]).
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, req: &Request) -> Response;

    /// The answer to a request whose head has arrived with its body still to come, when
    /// the head alone decides it (a refused credential, no such route): it is sent at once
    /// and the connection closes without reading the body, so a client that may not call
    /// a route cannot make the server hold its body. `req.body` is empty. `None` (the
    /// default): the body is read and [`Handler::handle`] answers.
    fn precheck(&self, _req: &Request) -> Option<Response> {
        None
    }
}

/// A client-chosen string as it may appear in a log line: control characters (a newline
/// that would start a forged line, terminal escapes) and backslashes escaped, and at most
/// `.1` characters kept (`…` marks the cut).
pub struct LogField<'a>(pub &'a str, pub usize);

impl std::fmt::Display for LogField<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        for (i, c) in self.0.chars().enumerate() {
            if i == self.1 {
                return f.write_char('…');
            }
            match c {
                '\\' => f.write_str("\\\\")?,
                c if c.is_control() => write!(f, "\\x{:02x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// `path` as it may be logged or echoed: any segment that could be a token or a key (16 or
/// more hex digits, any case) replaced by `<redacted>`.
pub fn redacted_path(path: &str) -> std::borrow::Cow<'_, str> {
    let secret = |s: &str| s.len() >= 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !path.split('/').any(secret) {
        return path.into();
    }
    path.split('/')
        .map(|s| if secret(s) { "<redacted>" } else { s })
        .collect::<Vec<_>>()
        .join("/")
        .into()
}

#[cfg(test)]
mod tests {
    use super::LogField;

    #[test]
    fn log_fields_cannot_break_the_line_and_are_capped() {
        let forged = "get_contacts\n2026-01-01T00:00:00Z WARN admin token rotated\r\x1b[2J\\";
        let shown = LogField(forged, 500).to_string();
        assert!(!shown.contains(['\n', '\r', '\x1b']), "{shown}");
        assert!(
            shown.contains("\\x0a2026") && shown.ends_with("\\\\"),
            "{shown}"
        );
        assert_eq!(LogField("abcdef", 3).to_string(), "abc…");
    }
}
