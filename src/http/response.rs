//! An HTTP response built by a handler and written straight into the connection's buffer.

use serde::Serialize;
use std::borrow::Cow;

/// One HTTP response. The connection loop adds `Server`, `Date`, `Content-Length` and
/// `Connection`.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Extra headers (besides `Content-Type` and `Content-Length`). Values are mostly
    /// constants, borrowed rather than allocated per response (as may_minihttp does).
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// The `Content-Type`, or `None` for an empty body.
    pub content_type: Option<&'static str>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a JSON body already serialized.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            content_type: Some("application/json"),
            body,
        }
    }

    /// A response whose body is `value` serialized as JSON.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Response::json_bytes(status, body)
    }

    /// A response with no body (e.g. 202 Accepted, 204 No Content).
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            content_type: None,
            body: Vec::new(),
        }
    }

    /// The body of every answer that is not JSON-RPC (admin API, routing, framing, CORS):
    /// `{statusCode, error, message}`, built here only.
    pub fn error(status: u16, message: &str) -> Response {
        Response::json(
            status,
            &serde_json::json!({
                "statusCode": status,
                "error": reason(status),
                "message": message
            }),
        )
    }

    /// Adds a header and returns the response.
    pub fn with_header(
        mut self,
        name: &'static str,
        value: impl Into<Cow<'static, str>>,
    ) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// The reason phrase for the status codes this server uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        423 => "Locked",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}
