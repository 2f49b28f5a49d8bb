//! The HubSpot CRM client: minreq over HTTPS (or HTTP to the mock), with the private app
//! token as Bearer, timeouts, typed errors, and every call run on the blocking pool.

mod error;
pub mod pool;

pub use error::HubSpotError;
use pool::{BlockingPool, PoolError};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// An HTTP method the client uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
}

/// A HubSpot API client. Cheap to clone; never prints its token.
#[derive(Clone)]
pub struct Client {
    base_url: Arc<str>,
    token: Arc<str>,
    timeout: Duration,
    pool: Arc<BlockingPool>,
}

impl Client {
    /// A client for `base_url` (no trailing slash needed) with a private app `token`.
    pub fn new(base_url: &str, token: &str, timeout: Duration, pool: Arc<BlockingPool>) -> Client {
        Client {
            base_url: base_url.trim_end_matches('/').into(),
            token: token.into(),
            timeout,
            pool,
        }
    }

    /// `GET /crm/v3/objects/{type}`: one page of records.
    pub fn list_objects(
        &self,
        object_type: &str,
        limit: u64,
        after: Option<&str>,
        properties: &[String],
    ) -> Result<Value, HubSpotError> {
        let mut path = format!("/crm/v3/objects/{}?limit={limit}", encode(object_type));
        if let Some(after) = after {
            path.push_str(&format!("&after={}", encode(after)));
        }
        if !properties.is_empty() {
            path.push_str(&format!("&properties={}", encode(&properties.join(","))));
        }
        self.call(Method::Get, path, None)
    }

    /// `POST /crm/v3/objects/{type}`: creates a record with `properties`.
    pub fn create_object(
        &self,
        object_type: &str,
        properties: Value,
    ) -> Result<Value, HubSpotError> {
        let path = format!("/crm/v3/objects/{}", encode(object_type));
        self.call(
            Method::Post,
            path,
            Some(serde_json::json!({ "properties": properties })),
        )
    }

    /// `POST /crm/v3/objects/{type}/search` with a HubSpot search body.
    pub fn search_objects(&self, object_type: &str, body: Value) -> Result<Value, HubSpotError> {
        let path = format!("/crm/v3/objects/{}/search", encode(object_type));
        self.call(Method::Post, path, Some(body))
    }

    /// Sends one request on the blocking pool and waits for it without blocking the
    /// calling coroutine's worker.
    pub fn call(
        &self,
        method: Method,
        path: String,
        body: Option<Value>,
    ) -> Result<Value, HubSpotError> {
        let client = self.clone();
        match self
            .pool
            .run(move || client.send_blocking(method, &path, body.as_ref()))
        {
            Ok(result) => result,
            Err(PoolError::Busy) => Err(HubSpotError::Busy),
            Err(PoolError::Failed) => Err(HubSpotError::InvalidResponse(
                "the HubSpot call failed inside the server (logged)".into(),
            )),
        }
    }

    /// The blocking HTTP exchange; runs on a pool thread.
    fn send_blocking(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, HubSpotError> {
        let url = format!("{}{}", self.base_url, path);
        let mut request = match method {
            Method::Get => minreq::get(url),
            Method::Post => minreq::post(url),
        }
        .with_header("Authorization", format!("Bearer {}", self.token))
        .with_header("Accept", "application/json")
        .with_header(
            "User-Agent",
            concat!("hubspot-mcp-server/", env!("CARGO_PKG_VERSION")),
        )
        .with_follow_redirects(false)
        .with_timeout(self.timeout.as_secs().max(1));
        if let Some(body) = body {
            request = request
                .with_header("Content-Type", "application/json")
                .with_body(serde_json::to_vec(body).unwrap_or_default());
        }
        let response = request.send().map_err(transport_error)?;
        let status = response.status_code;
        if !(200..300).contains(&status) {
            let retry_after = response
                .header("retry-after")
                .and_then(|v| v.trim().parse().ok());
            return Err(HubSpotError::from_response(
                status,
                response.as_bytes(),
                retry_after,
            ));
        }
        if response.as_bytes().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(response.as_bytes())
            .map_err(|err| HubSpotError::InvalidResponse(format!("status {status}, {err}")))
    }
}

/// Maps a minreq failure to a timeout or an unreachable HubSpot, without the URL's secrets.
fn transport_error(err: minreq::Error) -> HubSpotError {
    match err {
        minreq::Error::IoError(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            HubSpotError::Timeout
        }
        minreq::Error::IoError(io) => HubSpotError::Unreachable(io.to_string()),
        other => HubSpotError::Unreachable(other.to_string()),
    }
}

/// Percent-encodes a URL query or path component (RFC 3986 unreserved kept).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b',') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
