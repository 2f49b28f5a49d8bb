//! Fault injection and a request log for the mock HubSpot, so that rate limits, retries
//! and slow answers can be tested offline.
//!
//! A plan of rules says "the next N requests matching METHOD and a path prefix answer
//! STATUS (with `Retry-After`, a body) and/or answer only after a delay". Set it with
//! `POST /__mock/faults` (a rule, an array of rules, or `{"faults": [...]}`; it replaces
//! the plan), read what is left with `GET /__mock/faults`, clear it with `DELETE`, or
//! start the mock with `mock-hubspot --faults FILE`. `GET /__mock/requests` lists every
//! request answered (method, path, status, whether a rule answered it, and `at_ms`, when)
//! so tests can count attempts, also per window; `DELETE /__mock/requests` clears the
//! list. `/__mock/` needs no token.
//!
//! A rule: `{"method": "POST", "path": "/crm/v3/objects/contacts", "status": 503,
//! "times": 1, "retryAfter": 1, "delayMs": 0, "policy": "DAILY", "body": ...}`; only
//! `status` or `delayMs` is needed. Without `body` the answer is HubSpot's: for 429 the
//! rate-limit body of `policy` (`TEN_SECONDLY_ROLLING` by default, `DAILY`, `SECONDLY`),
//! for 5xx a gateway's HTML page, otherwise `{status, message, correlationId, category}`.
//! `"validation": "required"` (or `"conditional"`, with `"property"`) answers API 2026-09's
//! 400 for a write that misses a property the account's rules require;
//! `"echoAuthorization": true` answers like a gateway that echoes the request's
//! `Authorization` header (status 502 unless `status` says otherwise), spelled as sent or as
//! `"echoAs"` says: `upper`, `percent` (every byte) or `base64`.
//!
//! Like HubSpot, answers other than searches carry `X-HubSpot-RateLimit-*` headers from a
//! rolling count of the mock's requests (100 per 10 s; the mock reports, never enforces).

use super::correlation_id;
use crate::http::{reason, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The rolling limit the headers report.
const REPORTED_MAX: usize = 100;
/// Its window.
const WINDOW: Duration = Duration::from_secs(10);
/// The daily limit the headers report.
const REPORTED_DAILY: u64 = 250_000;
/// The most requests the log keeps (the oldest go first).
const LOG_LIMIT: usize = 10_000;

/// One fault rule.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rule {
    /// The method to match (any case); any method when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    /// The path prefix to match.
    #[serde(default = "root")]
    path: String,
    /// The status to answer; when absent the request is answered normally (after `delayMs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    /// How many matching requests this rule answers.
    #[serde(default = "once")]
    times: u32,
    /// The `Retry-After` header (seconds, or any text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_after: Option<Value>,
    /// Wait this long before answering.
    #[serde(default)]
    delay_ms: u64,
    /// For a 429: `TEN_SECONDLY_ROLLING` (default), `DAILY` or `SECONDLY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    /// The body to answer instead of HubSpot's (a string is sent as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<Value>,
    /// 2026-09's write validation: `required` (a property the account's create-record form
    /// requires) or `conditional` (required by a conditional property rule) answers a 400
    /// `VALIDATION_ERROR` naming `property`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    validation: Option<Validation>,
    /// The property a `validation` fault names (default `firstname`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    property: Option<String>,
    /// Answer like a misbehaving gateway that echoes the request's `Authorization` header
    /// in its error message (status `status`, default 502), to test redaction.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    echo_authorization: bool,
    /// How an `echoAuthorization` answer spells the header it echoes (default: as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    echo_as: Option<Spelling>,
}

/// A spelling of an echoed header, as gateways mangle them.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Spelling {
    /// In capitals.
    Upper,
    /// Every byte percent-encoded.
    Percent,
    /// Base64 of the whole value (`Bearer <token>`).
    Base64,
}

/// Which of 2026-09's required-property rules a fault breaks.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Validation {
    /// `MISSING_REQUIRED_PROPERTY`.
    Required,
    /// `MISSING_CONDITIONAL_REQUIRED_PROPERTY`.
    Conditional,
}

fn root() -> String {
    "/".into()
}

fn once() -> u32 {
    1
}

impl Rule {
    fn matches(&self, req: &Request) -> bool {
        self.times > 0
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(req.method))
            && req.path.starts_with(&self.path)
    }
}

/// The plan, the request log and the rolling count behind the rate-limit headers.
#[derive(Default)]
pub struct Faults {
    plan: Mutex<Vec<Rule>>,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    total: u64,
    requests: VecDeque<Value>,
    recent: VecDeque<Instant>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Faults {
    /// A plan from JSON text (a rule, an array, or `{"faults": [...]}`).
    pub fn parse(text: &str) -> Result<Faults, String> {
        let faults = Faults::default();
        *lock(&faults.plan) = parse_plan(text.as_bytes())?;
        Ok(faults)
    }

    /// Answers `req`: the admin routes under `/__mock/`, a planned fault, or `answer()`,
    /// then logs it and adds the rate-limit headers.
    pub fn handle(&self, req: &Request, answer: impl FnOnce() -> Response) -> Response {
        if let Some(rest) = req.path.strip_prefix("/__mock/") {
            return self.admin(req, rest);
        }
        let rule = {
            let mut plan = lock(&self.plan);
            let found = plan.iter_mut().find(|rule| rule.matches(req));
            found.map(|rule| {
                rule.times -= 1;
                rule.clone()
            })
        };
        if let Some(delay) = rule.as_ref().map(|r| r.delay_ms).filter(|ms| *ms > 0) {
            crate::runtime::timer::sleep(Duration::from_millis(delay));
        }
        let faulted = rule
            .as_ref()
            .is_some_and(|r| r.status.is_some() || r.validation.is_some() || r.echo_authorization);
        let mut response = match rule.as_ref().filter(|_| faulted) {
            Some(rule) => fault_response(rule, req),
            None => answer(),
        };
        let (used, total) = self.record(req, response.status, faulted);
        if !req.path.ends_with("/search") {
            let remaining = if response.status == 429 {
                0
            } else {
                REPORTED_MAX.saturating_sub(used)
            };
            response = response
                .with_header("X-HubSpot-RateLimit-Max", REPORTED_MAX.to_string())
                .with_header("X-HubSpot-RateLimit-Remaining", remaining.to_string())
                .with_header("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
                .with_header("X-HubSpot-RateLimit-Daily", REPORTED_DAILY.to_string())
                .with_header(
                    "X-HubSpot-RateLimit-Daily-Remaining",
                    REPORTED_DAILY.saturating_sub(total).to_string(),
                );
        }
        response
    }

    /// Logs one answered request; the requests in the rolling window and in all.
    fn record(&self, req: &Request, status: u16, faulted: bool) -> (usize, u64) {
        let now = Instant::now();
        let mut log = lock(&self.log);
        log.total += 1;
        log.requests.push_back(json!({
            "method": req.method,
            "path": req.path,
            "status": status,
            "fault": faulted,
            "at_ms": crate::runtime::clock::now_millis(),
        }));
        if log.requests.len() > LOG_LIMIT {
            log.requests.pop_front();
        }
        while log.recent.front().is_some_and(|t| *t + WINDOW <= now) {
            log.recent.pop_front();
        }
        log.recent.push_back(now);
        // Past the maximum the headers say 0 either way: keep the memory bounded.
        if log.recent.len() > REPORTED_MAX {
            log.recent.pop_front();
        }
        (log.recent.len(), log.total)
    }

    /// `/__mock/faults` and `/__mock/requests`.
    fn admin(&self, req: &Request, rest: &str) -> Response {
        match (req.method, rest.trim_end_matches('/')) {
            ("GET", "faults") => Response::json(200, &json!({ "faults": *lock(&self.plan) })),
            ("POST" | "PUT", "faults") => match parse_plan(req.body) {
                Ok(plan) => {
                    let count = plan.len();
                    *lock(&self.plan) = plan;
                    Response::json(200, &json!({ "faults": count }))
                }
                Err(why) => Response::json(400, &json!({ "status": "error", "message": why })),
            },
            ("DELETE", "faults") => {
                lock(&self.plan).clear();
                Response::empty(204)
            }
            ("GET", "requests") => {
                let log = lock(&self.log);
                Response::json(
                    200,
                    &json!({ "count": log.total, "requests": log.requests }),
                )
            }
            ("DELETE", "requests") => {
                let mut log = lock(&self.log);
                log.total = 0;
                log.requests.clear();
                Response::empty(204)
            }
            _ => Response::json(
                404,
                &json!({ "status": "error", "message": "mock admin routes: GET|POST|DELETE /__mock/faults, GET|DELETE /__mock/requests" }),
            ),
        }
    }
}

/// A plan from a rule, an array of rules, or `{"faults": [...]}`.
fn parse_plan(body: &[u8]) -> Result<Vec<Rule>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the fault plan is not JSON: {e}"))?;
    let rules = match value {
        Value::Object(mut map) if map.contains_key("faults") => {
            map.remove("faults").unwrap_or_default()
        }
        Value::Array(_) => value,
        rule => Value::Array(vec![rule]),
    };
    let rules: Vec<Rule> =
        serde_json::from_value(rules).map_err(|e| format!("a fault rule is not valid: {e}"))?;
    match rules.iter().find(|r| {
        r.status.is_none() && r.validation.is_none() && !r.echo_authorization && r.delay_ms == 0
    }) {
        Some(rule) => Err(format!(
            "a fault rule needs a status, validation, echoAuthorization or delayMs: {}",
            json!(rule)
        )),
        None => Ok(rules),
    }
}

/// The answer a rule gives to `req`.
fn fault_response(rule: &Rule, req: &Request) -> Response {
    if let Some(kind) = rule.validation {
        let property = rule.property.as_deref().unwrap_or("firstname");
        return validation_error(kind, property);
    }
    if rule.echo_authorization {
        let sent = req.header("authorization").unwrap_or_default();
        let sent = match rule.echo_as {
            None => sent.to_string(),
            Some(Spelling::Upper) => sent.to_uppercase(),
            Some(Spelling::Percent) => sent.bytes().map(|b| format!("%{b:02X}")).collect(),
            Some(Spelling::Base64) => crate::runtime::base64::encode(sent.as_bytes()),
        };
        return super::error(
            rule.status.unwrap_or(502),
            "GATEWAY_ERROR",
            &format!("gateway refused the request; it carried Authorization: {sent}"),
        );
    }
    let status = rule.status.unwrap_or(500);
    let mut response = match &rule.body {
        Some(Value::String(text)) => Response {
            content_type: Some("text/plain; charset=utf-8"),
            ..Response::json_bytes(status, text.clone().into_bytes())
        },
        Some(body) => Response::json(status, body),
        None => hubspot_body(status, rule.policy.as_deref()),
    };
    if let Some(after) = &rule.retry_after {
        let text = match after {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        response = response.with_header("Retry-After", text);
    }
    response
}

/// HubSpot 2026-09's 400 for a write that breaks one of the account's required-property
/// rules (the shape of its `using-object-apis` reference and write-validation changelog).
fn validation_error(kind: Validation, property: &str) -> Response {
    let (code, message) = match kind {
        Validation::Required => (
            "MISSING_REQUIRED_PROPERTY",
            format!("A value for {property} must be provided"),
        ),
        Validation::Conditional => (
            "MISSING_CONDITIONAL_REQUIRED_PROPERTY",
            format!(
                "{property} is required because of a conditional property rule based on [country]"
            ),
        ),
    };
    Response::json(
        400,
        &json!({
            "status": "error",
            "message": "Property values were not valid",
            "correlationId": correlation_id(),
            "category": "VALIDATION_ERROR",
            "errors": [{"message": message, "code": code, "context": {"propertyName": [property]}}],
        }),
    )
}

/// HubSpot's answer for `status`.
fn hubspot_body(status: u16, policy: Option<&str>) -> Response {
    match status {
        429 => {
            let id = correlation_id();
            Response::json(
                429,
                &match policy.unwrap_or("TEN_SECONDLY_ROLLING") {
                    "DAILY" => json!({
                        "status": "error",
                        "message": "You have reached your daily limit.",
                        "errorType": "RATE_LIMIT",
                        "correlationId": id,
                        "policyName": "DAILY",
                    }),
                    "SECONDLY" => json!({
                        "status": "error",
                        "message": "You have reached your secondly limit.",
                        "errorType": "RATE_LIMIT",
                        "correlationId": id,
                    }),
                    policy => json!({
                        "status": "error",
                        "message": format!("You have reached your {} limit.", policy.to_ascii_lowercase()),
                        "errorType": "RATE_LIMIT",
                        "correlationId": id,
                        "policyName": policy,
                        "groupName": "publicapi:private_app-api-calls-ten-secondly:1000001:2000002",
                    }),
                },
            )
        }
        500..=599 => {
            let title = format!("{status} {}", reason(status));
            let page = format!(
                "<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
            );
            Response {
                content_type: Some("text/html; charset=utf-8"),
                ..Response::json_bytes(status, page.into_bytes())
            }
        }
        _ => {
            let (category, message) = match status {
                400 => ("VALIDATION_ERROR", "Invalid input"),
                401 => (
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                ),
                403 => (
                    "MISSING_SCOPES",
                    "This app hasn't been granted all required scopes to make this call.",
                ),
                404 => ("OBJECT_NOT_FOUND", "Object not found"),
                409 => ("CONFLICT", "Conflict"),
                423 => ("LOCKED", "The resource is locked; try again in 2 seconds"),
                _ => ("ERROR", reason(status)),
            };
            super::error(status, category, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(method: &'a str, path: &'a str, body: &'a [u8]) -> Request<'a> {
        Request {
            peer: std::net::Ipv4Addr::LOCALHOST.into(),
            method,
            path,
            query: "",
            headers: &[],
            body,
        }
    }

    fn send(faults: &Faults, method: &str, path: &str, body: &str) -> Response {
        faults.handle(&request(method, path, body.as_bytes()), || {
            Response::json(200, &json!({"ok": true}))
        })
    }

    fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
        response
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    fn json_of(response: &Response) -> Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    #[test]
    fn a_rule_answers_the_next_matching_requests_then_steps_aside() {
        let faults = Faults::parse(
            r#"{"method":"post","path":"/crm/v3/objects/contacts","status":503,"times":2}"#,
        )
        .unwrap();
        assert_eq!(
            send(&faults, "GET", "/crm/v3/objects/contacts", "").status,
            200
        );
        let failed = send(&faults, "POST", "/crm/v3/objects/contacts", "{}");
        assert_eq!(failed.status, 503);
        assert!(String::from_utf8_lossy(&failed.body).contains("503 Service Unavailable"));
        assert_eq!(
            send(&faults, "POST", "/crm/v3/objects/contacts/search", "").status,
            503
        );
        assert_eq!(
            send(&faults, "POST", "/crm/v3/objects/contacts", "{}").status,
            200
        );
        let log = json_of(&send(&faults, "GET", "/__mock/requests", ""));
        assert_eq!(log["count"], 4, "admin calls are not counted");
        let mut second = log["requests"][1].clone();
        let at_ms = second.as_object_mut().unwrap().remove("at_ms");
        assert!(at_ms.and_then(|t| t.as_i64()).is_some_and(|t| t > 0));
        assert_eq!(
            second,
            json!({"method":"POST","path":"/crm/v3/objects/contacts","status":503,"fault":true})
        );
        assert_eq!(log["requests"][3]["fault"], false);
    }

    #[test]
    fn rate_limit_answers_look_like_hubspot() {
        let faults = Faults::default();
        let plan = r#"{"faults":[{"status":429,"retryAfter":1},{"status":429,"policy":"DAILY"},{"status":429,"policy":"SECONDLY","path":"/crm/v3/objects/deals/search"}]}"#;
        assert_eq!(send(&faults, "POST", "/__mock/faults", plan).status, 200);
        let limited = send(&faults, "GET", "/crm/v3/objects/deals", "");
        assert_eq!(limited.status, 429);
        assert_eq!(header(&limited, "retry-after"), Some("1"));
        assert_eq!(header(&limited, "x-hubspot-ratelimit-remaining"), Some("0"));
        let body = json_of(&limited);
        assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
        assert_eq!(body["errorType"], "RATE_LIMIT");
        assert_eq!(
            body["message"],
            "You have reached your ten_secondly_rolling limit."
        );
        assert!(body["correlationId"].is_string() && body["groupName"].is_string());
        let daily = json_of(&send(&faults, "GET", "/crm/v3/objects/deals", ""));
        assert_eq!(daily["policyName"], "DAILY");
        let search = send(&faults, "POST", "/crm/v3/objects/deals/search", "{}");
        assert_eq!(
            json_of(&search)["message"],
            "You have reached your secondly limit."
        );
        assert_eq!(
            header(&search, "x-hubspot-ratelimit-max"),
            None,
            "searches carry no headers"
        );
    }

    #[test]
    fn normal_answers_report_the_rolling_count() {
        let faults = Faults::default();
        let first = send(&faults, "GET", "/crm/v3/objects/contacts", "");
        assert_eq!(header(&first, "x-hubspot-ratelimit-max"), Some("100"));
        assert_eq!(header(&first, "x-hubspot-ratelimit-remaining"), Some("99"));
        assert_eq!(
            header(&first, "x-hubspot-ratelimit-interval-milliseconds"),
            Some("10000")
        );
        let second = send(&faults, "GET", "/crm/v3/objects/contacts", "");
        assert_eq!(header(&second, "x-hubspot-ratelimit-remaining"), Some("98"));
        assert_eq!(
            header(&second, "x-hubspot-ratelimit-daily-remaining"),
            Some("249998")
        );
    }

    #[test]
    fn slow_rules_delay_the_normal_answer_and_bodies_can_be_given() {
        let faults = Faults::parse(
            r#"[{"delayMs":150,"path":"/crm/v3/objects/companies"},{"status":400,"body":{"status":"error","category":"VALIDATION_ERROR"}},{"status":502,"body":"bad gateway"}]"#,
        )
        .unwrap();
        let started = Instant::now();
        let slow = send(&faults, "GET", "/crm/v3/objects/companies", "");
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert_eq!(slow.status, 200);
        let given = send(&faults, "GET", "/crm/v3/objects/companies", "");
        assert_eq!(json_of(&given)["category"], "VALIDATION_ERROR");
        let text = send(&faults, "GET", "/x", "");
        assert_eq!(
            (text.status, text.body.as_slice()),
            (502, &b"bad gateway"[..])
        );
    }

    #[test]
    fn the_admin_routes_check_plans_and_clear() {
        let faults = Faults::default();
        for bad in ["not json", r#"{"path":"/"}"#, r#"{"status":429,"tmes":2}"#] {
            let reply = send(&faults, "POST", "/__mock/faults", bad);
            assert_eq!(reply.status, 400, "{bad}");
        }
        send(
            &faults,
            "POST",
            "/__mock/faults",
            r#"{"status":423,"times":5}"#,
        );
        let plan = json_of(&send(&faults, "GET", "/__mock/faults", ""));
        assert_eq!(plan["faults"][0]["times"], 5);
        assert_eq!(
            send(&faults, "GET", "/crm/v3/objects/deals", "").status,
            423
        );
        assert_eq!(send(&faults, "DELETE", "/__mock/faults", "").status, 204);
        assert_eq!(
            send(&faults, "GET", "/crm/v3/objects/deals", "").status,
            200
        );
        assert_eq!(send(&faults, "DELETE", "/__mock/requests", "").status, 204);
        assert_eq!(
            json_of(&send(&faults, "GET", "/__mock/requests", ""))["count"],
            0
        );
        assert_eq!(send(&faults, "GET", "/__mock/other", "").status, 404);
    }

    #[test]
    fn a_validation_fault_answers_2026_09s_required_property_error() {
        let faults = Faults::parse(
            r#"[{"method":"POST","validation":"required"},{"validation":"conditional","property":"vat_id"}]"#,
        )
        .unwrap();
        let required = send(&faults, "POST", "/crm/objects/2026-09/contacts", "{}");
        assert_eq!(required.status, 400);
        let body = json_of(&required);
        assert_eq!(body["category"], "VALIDATION_ERROR");
        assert_eq!(body["errors"][0]["code"], "MISSING_REQUIRED_PROPERTY");
        assert_eq!(body["errors"][0]["context"]["propertyName"][0], "firstname");
        let conditional = json_of(&send(
            &faults,
            "PATCH",
            "/crm/objects/2026-09/companies/1",
            "{}",
        ));
        assert_eq!(
            conditional["errors"][0]["code"],
            "MISSING_CONDITIONAL_REQUIRED_PROPERTY"
        );
        assert_eq!(
            conditional["errors"][0]["context"]["propertyName"][0],
            "vat_id"
        );
        assert!(Faults::parse(r#"{"validation":"sometimes"}"#).is_err());
    }
}
