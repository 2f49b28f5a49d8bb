//! The HubSpot client layer, above HTTP and the runtime: the only code that speaks to
//! HubSpot, with blocking I/O only on the blocking pool and never a thread per call.
//!
//! The HubSpot CRM client: HTTPS (or HTTP to the mock) on pooled keep-alive connections via
//! [`transport`], with the private app token as Bearer, timeouts, typed errors, and every
//! call run on the blocking pool.
//!
//! [`Client::call`] paces calls to the account's rate limits ([`ratelimit`]), in turn
//! with the account's other callers ([`Client::for_server`]), and retries
//! the failures that are safe to retry ([`retry`]). Each attempt is one job on the
//! blocking pool; the waits between them (for a rate-limit slot or a back-off) happen on
//! the calling coroutine with [`crate::runtime::timer::sleep`], which parks the coroutine and frees
//! its worker. Waiting inside a pool thread instead would hold one of the few pool threads
//! idle, so a burst of rate-limited calls would starve every other HubSpot call.

pub mod dns;
mod error;
pub mod paths;
pub mod ratelimit;
pub mod retry;
pub mod transport;

use crate::runtime::pool::{BlockingPool, PoolError};
pub use error::HubSpotError;
pub use paths::{ApiVersion, Endpoint};
use ratelimit::{RateLimiter, Refusal, Replicas};
use retry::Backoff;
use serde_json::value::RawValue;
use serde_json::Value;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An HTTP method the client uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

/// How a client paces and retries its calls. The defaults are HubSpot's limits for a
/// private app on a Free or Starter account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallPolicy {
    /// Calls in any 10 s (`HUBSPOT_RATE_LIMIT_PER_10S`, default 100; 0: no limit).
    pub per_10s: u32,
    /// Searches in any second (`HUBSPOT_SEARCH_RATE_PER_S`, default 5; 0: no limit).
    pub search_per_s: u32,
    /// Retries after the first attempt (`HUBSPOT_MAX_RETRIES`, default 2).
    pub max_retries: u32,
    /// The longest single wait for a rate-limit slot or before a retry
    /// (`HUBSPOT_MAX_WAIT_MS`, default 2 s); beyond it the call fails with "retry after N s".
    pub max_wait: Duration,
}

impl Default for CallPolicy {
    fn default() -> CallPolicy {
        CallPolicy {
            per_10s: 100,
            search_per_s: 5,
            max_retries: 2,
            max_wait: Duration::from_secs(2),
        }
    }
}

impl CallPolicy {
    /// The account's shared limiter, paced at its share among `replicas`, keyed by a hash
    /// (the token is not kept a second time).
    fn limiter(&self, base_url: &str, token: &str, replicas: &Arc<Replicas>) -> Arc<RateLimiter> {
        let mut hasher = std::hash::DefaultHasher::new();
        (
            base_url,
            token,
            self.per_10s,
            self.search_per_s,
            self.max_wait,
            Arc::as_ptr(replicas),
        )
            .hash(&mut hasher);
        ratelimit::shared(hasher.finish(), || {
            RateLimiter::new(self.per_10s, self.search_per_s, self.max_wait)
                .shared_by(replicas.clone())
        })
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            max_retries: self.max_retries,
            max_wait: self.max_wait,
            base: BACKOFF_BASE,
        }
    }
}

/// How every client of the server reaches HubSpot, from the config; each client carries
/// its own copy, so nothing process-wide has to be set before the first call.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `HUBSPOT_TIMEOUT_MS`: one exchange's time limit, connect to last byte.
    pub timeout: Duration,
    /// How calls are paced and retried (each account has its own rate limiter).
    pub policy: CallPolicy,
    /// `HUBSPOT_API_VERSION`: the HubSpot paths the client calls.
    pub api_version: ApiVersion,
    /// `HUBSPOT_MAX_RESPONSE_BYTES`: the largest answer body read; a larger one is refused
    /// after reading at most this many bytes.
    pub max_response_bytes: u64,
    /// The replicas sharing every account's rate limits (one unless `REGISTRY=etcd`).
    pub replicas: Arc<Replicas>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            timeout: Duration::from_secs(30),
            policy: CallPolicy::default(),
            api_version: ApiVersion::default(),
            max_response_bytes: transport::DEFAULT_MAX_RESPONSE_BYTES,
            replicas: Arc::default(),
        }
    }
}

/// A check run right before each request is sent: after any wait for a rate-limit slot,
/// and again before each retry. An `Err` ends the call with [`HubSpotError::Withdrawn`]
/// and nothing more is sent, so a scoped server deleted while its call waits stops there.
pub type Gate = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The first retry's back-off (doubled for each further retry, with jitter).
const BACKOFF_BASE: Duration = Duration::from_millis(250);

/// A HubSpot API client for one account. Cheap to clone (clones share the account's rate
/// limiter); never prints its token.
#[derive(Clone)]
pub struct Client {
    base_url: Arc<str>,
    token: Arc<str>,
    timeout: Duration,
    pool: Arc<BlockingPool>,
    limiter: Arc<RateLimiter>,
    backoff: Backoff,
    /// Who the calls are for, so the account's rate limit is shared fairly between its
    /// scoped servers ([`ratelimit`]): a server id, or [`DEFAULT_CALLER`].
    caller: Arc<str>,
    /// Which HubSpot paths it calls (`HUBSPOT_API_VERSION`).
    version: ApiVersion,
    /// The largest answer body read (`HUBSPOT_MAX_RESPONSE_BYTES`).
    max_response_bytes: u64,
    /// Asked right before each request is sent (a scoped server's: is it still live?).
    gate: Option<Gate>,
}

/// The caller of `/mcp` and stdio (the server's own, unscoped client).
pub const DEFAULT_CALLER: &str = "default";

impl Client {
    /// A client for `base_url` (no trailing slash needed) with a private app `token`,
    /// paced, retried and bounded as `settings` say. Every client of the same account
    /// (base URL and token) and policy shares one rate limiter.
    pub fn new(
        base_url: &str,
        token: &str,
        pool: Arc<BlockingPool>,
        settings: &Settings,
    ) -> Client {
        let base_url: Arc<str> = base_url.trim_end_matches('/').into();
        Client {
            limiter: settings
                .policy
                .limiter(&base_url, token, &settings.replicas),
            backoff: settings.policy.backoff(),
            base_url,
            token: token.into(),
            timeout: settings.timeout,
            pool,
            version: settings.api_version,
            caller: DEFAULT_CALLER.into(),
            max_response_bytes: settings.max_response_bytes,
            gate: None,
        }
    }

    /// The same client calling for scoped server `server_id`: while calls wait for a
    /// rate-limit slot, each server of the account gets its turn (see [`ratelimit`]).
    pub fn for_server(self, server_id: &str) -> Client {
        Client {
            caller: server_id.into(),
            ..self
        }
    }

    /// The same client asking `gate` right before each request it sends (see [`Gate`]).
    pub fn gated(self, gate: Gate) -> Client {
        Client {
            gate: Some(gate),
            ..self
        }
    }

    /// The path of `endpoint` under this client's API version (see [`paths`]), its
    /// placeholders filled with `params`, percent-encoded.
    pub fn path(&self, endpoint: Endpoint, params: &[&str]) -> String {
        paths::build(self.version, endpoint, params)
    }

    /// [`Endpoint::ListObjects`]: one page of records.
    pub fn list_objects(
        &self,
        object_type: &str,
        limit: u64,
        after: Option<&str>,
        properties: &[String],
    ) -> Result<Value, HubSpotError> {
        let mut path = self.path(Endpoint::ListObjects, &[object_type]);
        path.push_str(&format!("?limit={limit}"));
        if let Some(after) = after {
            path.push_str(&format!("&after={}", encode(after)));
        }
        if !properties.is_empty() {
            path.push_str(&format!("&properties={}", encode(&properties.join(","))));
        }
        self.call(Method::Get, path, None)
    }

    /// [`Endpoint::CreateObject`]: creates a record with `properties`.
    pub fn create_object(
        &self,
        object_type: &str,
        properties: Value,
    ) -> Result<Value, HubSpotError> {
        let path = self.path(Endpoint::CreateObject, &[object_type]);
        self.call(
            Method::Post,
            path,
            Some(serde_json::json!({ "properties": properties })),
        )
    }

    /// [`Endpoint::TokenInfo`]: this client's own token's
    /// hub (portal) id, user, app and scopes. The token goes in the body, as HubSpot asks;
    /// it is never part of the answer.
    pub fn token_info(&self) -> Result<Value, HubSpotError> {
        let body = serde_json::json!({ "tokenKey": &*self.token });
        self.call(
            Method::Post,
            self.path(Endpoint::TokenInfo, &[]),
            Some(body),
        )
    }

    /// `err` with the account's token and any proxy credentials redacted, in every form an
    /// echo may take ([`error::redact`]).
    fn sanitized(&self, err: HubSpotError) -> HubSpotError {
        let proxy = transport::proxy_credentials();
        let secrets: Vec<&str> = std::iter::once(&*self.token)
            .chain(proxy.iter().map(String::as_str))
            .collect();
        err.sanitized(&secrets)
    }

    /// An error HubSpot reported inside a successful answer (a batch's `errors[]` item),
    /// read and sanitized like an error status ([`HubSpotError::reported`]).
    pub fn reported_error(&self, status: u16, error: &Value) -> HubSpotError {
        self.sanitized(HubSpotError::reported(status, error))
    }

    /// Sends one request and returns HubSpot's JSON answer, pacing it to the account's rate
    /// limits and retrying what is safe to retry (see [`retry`]); the gate, if any, is asked
    /// right before each try. Every wait parks the
    /// calling coroutine, never its worker thread, and the HTTP exchange runs on the pool.
    pub fn call(
        &self,
        method: Method,
        path: String,
        body: Option<Value>,
    ) -> Result<Value, HubSpotError> {
        let raw = self.call_raw(method, path, body)?;
        serde_json::from_str(raw.get())
            .map_err(|err| HubSpotError::InvalidResponse(format!("{err}")))
    }

    /// [`Client::call`], with HubSpot's answer as it came (checked to be JSON; `null` for
    /// an empty body): a tool that passes it on unchanged never builds a `Value` tree.
    pub fn call_raw(
        &self,
        method: Method,
        path: String,
        body: Option<Value>,
    ) -> Result<Box<RawValue>, HubSpotError> {
        // Serialized once, whatever the retries.
        let body: Option<Arc<[u8]>> =
            body.map(|body| serde_json::to_vec(&body).unwrap_or_default().into());
        let path: Arc<str> = path.into();
        let idempotent = retry::is_idempotent(method, &path);
        let search = retry::is_search(method, &path);
        let mut retries = 0;
        loop {
            self.limiter
                .wait_turn(&self.caller, search, crate::runtime::timer::sleep)
                .map_err(refused)?;
            // After the wait and before every try, retries included.
            if let Some(gate) = &self.gate {
                gate().map_err(HubSpotError::Withdrawn)?;
            }
            let err = match self.attempt(method, path.clone(), body.clone()) {
                Ok(value) => return Ok(value),
                // Before it is logged or returned: no echoed token, no page of text.
                Err(err) => self.sanitized(err),
            };
            match self
                .backoff
                .delay(&err, idempotent, retries, retry::jitter())
            {
                Some(delay) => {
                    retries += 1;
                    log::info!(
                        "HubSpot {} {} failed ({}); retry {retries} in {delay:?}",
                        format!("{method:?}").to_uppercase(),
                        log_path(&path),
                        short(&err)
                    );
                    crate::runtime::timer::sleep(delay);
                }
                None => return Err(final_error(err, idempotent, retries)),
            }
        }
    }

    /// One attempt on the blocking pool; the calling coroutine parks until it is done.
    fn attempt(
        &self,
        method: Method,
        path: Arc<str>,
        body: Option<Arc<[u8]>>,
    ) -> Result<Box<RawValue>, HubSpotError> {
        let client = self.clone();
        match self
            .pool
            .run(move || client.send_blocking(method, &path, body.as_deref()))
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
        body: Option<&[u8]>,
    ) -> Result<Box<RawValue>, HubSpotError> {
        let url = format!("{}{}", self.base_url, path);
        let authorization = format!("Bearer {}", self.token);
        let mut headers = vec![
            ("Authorization", authorization.as_str()),
            ("Accept", "application/json"),
        ];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let response = transport::send(&transport::UpstreamRequest {
            method: match method {
                Method::Get => "GET",
                Method::Post => "POST",
                Method::Put => "PUT",
                Method::Patch => "PATCH",
                Method::Delete => "DELETE",
            },
            url: &url,
            headers: &headers,
            body,
            timeout: self.timeout,
            max_body: self.max_response_bytes,
        })
        .map_err(transport_error)?;
        let status = response.status;
        if (200..300).contains(&status) {
            let number = |name: &str| {
                response
                    .header(name)
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            let ten_seconds =
                number("x-hubspot-ratelimit-interval-milliseconds").is_none_or(|ms| ms == 10_000);
            if ten_seconds {
                self.limiter.observe(
                    number("x-hubspot-ratelimit-max"),
                    number("x-hubspot-ratelimit-remaining"),
                    Instant::now(),
                );
            }
        } else {
            let retry_after = response
                .header("retry-after")
                .and_then(|v| v.trim().parse().ok());
            return Err(HubSpotError::from_response(
                status,
                &response.body,
                retry_after,
            ));
        }
        if response.body.is_empty() {
            return Ok(Box::<RawValue>::default());
        }
        if nested_deeper_than(&response.body, MAX_ANSWER_DEPTH) {
            return Err(HubSpotError::InvalidResponse(format!(
                "status {status}, the answer nests more than {MAX_ANSWER_DEPTH} levels deep"
            )));
        }
        serde_json::from_slice(&response.body)
            .map_err(|err| HubSpotError::InvalidResponse(format!("status {status}, {err}")))
    }
}

/// The deepest nesting of objects and arrays accepted in HubSpot's answer. Its own answers
/// nest a handful of levels; a tool that reads one into a `Value` does so on a coroutine's
/// stack, which a deeper one could overflow (serde_json's own limit, 128, is for a thread's).
pub const MAX_ANSWER_DEPTH: usize = 64;

/// True when `json` opens more than `max` objects or arrays inside one another (brackets in
/// strings do not count). One pass, on the pool thread, before anything parses the answer.
fn nested_deeper_than(json: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The error for a call this server's own pacing refused.
fn refused(refusal: Refusal) -> HubSpotError {
    let policy = if refusal.search {
        "SECONDLY"
    } else {
        "TEN_SECONDLY_ROLLING"
    };
    HubSpotError::RateLimited {
        policy: policy.into(),
        retry_after: Some(refusal.retry_after.as_secs_f64().ceil().max(1.0) as u64),
        local: true,
        correlation_id: None,
    }
}

/// The error a call ends with: a create that may have gone through says so (a 5xx, or no
/// complete, readable answer after it was sent), and an error status says how many
/// attempts were made.
fn final_error(err: HubSpotError, idempotent: bool, retries: u32) -> HubSpotError {
    let may_have_applied = matches!(
        err,
        HubSpotError::Status {
            status: 500..=599,
            ..
        } | HubSpotError::Timeout
            | HubSpotError::Lost(_)
            | HubSpotError::InvalidResponse(_)
    );
    if !idempotent && may_have_applied {
        return HubSpotError::MaybeCreated(Box::new(err));
    }
    if retries > 0 {
        err.noted(format_args!("gave up after {} attempts", retries + 1))
    } else {
        err
    }
}

/// A path for the log: without its query (which may hold an email or a search term).
fn log_path(path: &str) -> &str {
    path.split('?').next().unwrap_or_default()
}

/// The first words of an error, for a log line.
fn short(err: &HubSpotError) -> String {
    match err {
        HubSpotError::Status { status, .. } => format!("status {status}"),
        HubSpotError::RateLimited { policy, .. } => format!("429 {policy}"),
        other => other.to_string(),
    }
}

/// Maps a transport failure to the error a tool reports: only a request that was never
/// sent is "unreachable"; one that may have reached HubSpot keeps that fact for creates.
fn transport_error(failure: transport::Failure) -> HubSpotError {
    match failure {
        transport::Failure::NotSent(why) => HubSpotError::Unreachable(why),
        transport::Failure::Timeout => HubSpotError::Timeout,
        transport::Failure::Lost(why) => HubSpotError::Lost(why),
        transport::Failure::Unreadable(why) => HubSpotError::InvalidResponse(why),
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

#[cfg(test)]
mod nesting_tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings() {
        assert!(!nested_deeper_than(br#"{"a":[{"b":"[[[[\"{{"}]}"#, 3));
        assert!(nested_deeper_than(br#"{"a":[{"b":[1]}]}"#, 3));
        let at_limit: Vec<u8> = [b'['; 64].iter().chain(&[b']'; 64]).copied().collect();
        assert!(!nested_deeper_than(&at_limit, 64));
        assert!(nested_deeper_than(&[b'['; 65], 64));
    }
}
