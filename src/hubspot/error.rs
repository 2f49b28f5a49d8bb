//! What can go wrong talking to HubSpot, as messages a model (or a person) can act on.

use serde_json::Value;
use std::fmt;

/// A failed HubSpot call.
#[derive(Debug, Clone, PartialEq)]
pub enum HubSpotError {
    /// HubSpot answered with an error status.
    Status {
        /// The HTTP status.
        status: u16,
        /// HubSpot's `message` (with the missing scopes or the invalid properties added when
        /// HubSpot names them), or the start of the body when it was not HubSpot JSON.
        message: String,
        /// HubSpot's `category` (e.g. `CONFLICT`, `MISSING_SCOPES`).
        category: Option<String>,
        /// HubSpot's `correlationId`, for their support.
        correlation_id: Option<String>,
        /// The `Retry-After` header, in seconds, when present.
        retry_after: Option<u64>,
    },
    /// A rate limit: HubSpot's (a 429) or this server's own pacing, which refuses a call
    /// rather than wait too long for a free slot.
    RateLimited {
        /// The limit: `TEN_SECONDLY_ROLLING`, `SECONDLY` (search), `DAILY`, or another
        /// policy name HubSpot gave.
        policy: String,
        /// Seconds to wait before trying again, when known.
        retry_after: Option<u64>,
        /// True when this server refused the call before sending it.
        local: bool,
        /// HubSpot's `correlationId`, when HubSpot answered.
        correlation_id: Option<String>,
    },
    /// No answer within the configured timeout.
    Timeout,
    /// HubSpot could not be reached (DNS, refused connection, TLS failure).
    Unreachable(String),
    /// HubSpot answered something that is not the JSON it should be.
    InvalidResponse(String),
    /// Too many HubSpot calls are already waiting in this server.
    Busy,
    /// A create failed in a way that may have happened after HubSpot made the record (a 5xx,
    /// a timeout, or an answer lost or unreadable), so it was not retried.
    MaybeCreated(Box<HubSpotError>),
    /// The request was sent, then the connection failed before HubSpot's whole answer came
    /// (a reset, a close mid-body).
    Lost(String),
    /// The client's gate ([`super::Gate`]) stopped the call before a request was sent: the
    /// caller's access was withdrawn (a scoped server deleted or expired) while it waited.
    Withdrawn(String),
}

impl HubSpotError {
    /// Builds the error for an error response from its status, body and `Retry-After`
    /// (seconds): a 429 becomes [`HubSpotError::RateLimited`], anything else `Status`.
    pub fn from_response(status: u16, body: &[u8], retry_after: Option<u64>) -> HubSpotError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        HubSpotError::from_body(
            status,
            parsed.as_ref(),
            || String::from_utf8_lossy(body).into_owned(),
            retry_after,
        )
    }

    /// An error HubSpot reported inside a successful answer (a batch's `errors[]` item),
    /// read as if `error` had been the body of an error status.
    pub(super) fn reported(status: u16, error: &Value) -> HubSpotError {
        HubSpotError::from_body(status, Some(error), || error.to_string(), None)
    }

    /// The one place HubSpot's error body is read: `parsed` is the body as JSON (`None`
    /// when it is not), `text` the body as sent, for when it holds no `message`.
    fn from_body(
        status: u16,
        parsed: Option<&Value>,
        text: impl FnOnce() -> String,
        retry_after: Option<u64>,
    ) -> HubSpotError {
        let field = |name: &str| {
            parsed
                .and_then(|v| v.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let message = field("message").unwrap_or_else(|| {
            let text = text();
            let text = plain_text(text.trim());
            if text.is_empty() {
                "no details were given".to_string()
            } else {
                text.chars().take(300).collect()
            }
        });
        if status == 429 {
            return HubSpotError::RateLimited {
                policy: field("policyName").unwrap_or_else(|| policy_from(&message)),
                retry_after,
                local: false,
                correlation_id: field("correlationId"),
            };
        }
        let mut message = message;
        if let Some(scopes) = parsed.and_then(required_scopes) {
            message.push_str(&format!(" (required scopes: {scopes})"));
        }
        let invalid = parsed.map(invalid_properties).unwrap_or_default();
        if !invalid.is_empty() {
            // The list replaces the raw JSON HubSpot puts after "...not valid: ".
            if let Some(pos) = message.find(": [") {
                message.truncate(pos);
            }
            message = format!(
                "{}; invalid properties: {}",
                message.trim_end_matches('.'),
                invalid.join("; ")
            );
        }
        HubSpotError::Status {
            status,
            message,
            category: field("category"),
            correlation_id: field("correlationId"),
            retry_after,
        }
    }
}

/// The most characters of HubSpot's `message` (and of any other text from upstream) a
/// tool error passes on: a proxy or gateway may answer a page of text.
pub const MAX_MESSAGE_CHARS: usize = 2_000;

/// What replaces the account's token when an upstream echoes it back.
const REDACTED: &str = "[redacted]";

/// Shorter secrets are not searched for: replacing a few common letters would garble the
/// text and protect nothing (HubSpot tokens and Service Keys are far longer).
const MIN_SECRET_CHARS: usize = 8;

/// `text` with every form of `secret` an upstream might echo replaced by `[redacted]`: the
/// secret itself in any letter case, with any of its bytes percent-encoded (`%2D`, `%2d`),
/// and base64 of it or of `Bearer <secret>` (standard or URL-safe alphabet). A secret
/// shorter than [`MIN_SECRET_CHARS`] is not searched for.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.chars().count() < MIN_SECRET_CHARS {
        return text.to_string();
    }
    let mut text = redact_spelled(text, secret.as_bytes());
    for plain in [secret.to_string(), format!("Bearer {secret}")] {
        let padded = crate::runtime::base64::encode(plain.as_bytes());
        let url_safe = padded.replace('+', "-").replace('/', "_");
        for form in [&padded, &url_safe] {
            let unpadded = form.trim_end_matches('=');
            for form in [form.as_str(), unpadded] {
                if text.contains(form) {
                    text = text.replace(form, REDACTED);
                }
            }
        }
    }
    text
}

/// `text` with each run that spells `secret` (each byte as itself in either ASCII case, or
/// as a `%XX` escape of either) replaced by [`REDACTED`].
fn redact_spelled(text: &str, secret: &[u8]) -> String {
    let bytes = text.as_bytes();
    // The byte at `at` and how many text bytes spell it, when it is `want` in some form.
    let spelled = |at: usize, want: u8| -> Option<usize> {
        let b = *bytes.get(at)?;
        if b.eq_ignore_ascii_case(&want) {
            return Some(1);
        }
        let hex = bytes.get(at + 1..at + 3)?;
        let decoded = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        (b == b'%' && decoded.eq_ignore_ascii_case(&want)).then_some(3)
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let end = secret
            .iter()
            .try_fold(at, |pos, &want| spelled(pos, want).map(|n| pos + n));
        match end {
            Some(end) => {
                out.extend_from_slice(REDACTED.as_bytes());
                at = end;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    // Only whole ASCII runs were replaced, so the rest is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

impl HubSpotError {
    /// The error as it may leave the server: every form of each of `secrets` (the account's
    /// token, proxy credentials, should an upstream echo them) replaced by `[redacted]`
    /// ([`redact`]), then each text from upstream cut to [`MAX_MESSAGE_CHARS`]. Redacting
    /// first means a cut never leaves half a token.
    pub fn sanitized(self, secrets: &[&str]) -> HubSpotError {
        let clean = |text: String| {
            let text = secrets
                .iter()
                .fold(text, |text, secret| redact(&text, secret));
            match text.char_indices().nth(MAX_MESSAGE_CHARS) {
                None => text,
                Some((at, _)) => {
                    format!("{}... (cut at {MAX_MESSAGE_CHARS} characters)", &text[..at])
                }
            }
        };
        match self {
            HubSpotError::Status {
                status,
                message,
                category,
                correlation_id,
                retry_after,
            } => HubSpotError::Status {
                status,
                message: clean(message),
                category: category.map(clean),
                correlation_id: correlation_id.map(clean),
                retry_after,
            },
            HubSpotError::RateLimited {
                policy,
                retry_after,
                local,
                correlation_id,
            } => HubSpotError::RateLimited {
                policy: clean(policy),
                retry_after,
                local,
                correlation_id: correlation_id.map(clean),
            },
            HubSpotError::Unreachable(why) => HubSpotError::Unreachable(clean(why)),
            HubSpotError::InvalidResponse(why) => HubSpotError::InvalidResponse(clean(why)),
            HubSpotError::Lost(why) => HubSpotError::Lost(clean(why)),
            HubSpotError::MaybeCreated(cause) => {
                HubSpotError::MaybeCreated(Box::new(cause.sanitized(secrets)))
            }
            other @ (HubSpotError::Timeout | HubSpotError::Busy | HubSpotError::Withdrawn(_)) => {
                other
            }
        }
    }

    /// A 401 or 403 with the scopes the failed call needs and where to add them
    /// (`place`) appended to its message; any other error unchanged.
    pub fn needing_scopes(self, scopes: &[String], place: &str) -> HubSpotError {
        match self {
            HubSpotError::Status {
                status: 401 | 403, ..
            } if !scopes.is_empty() => self.noted(format_args!(
                "this tool needs the scopes {} ({place})",
                scopes.join(", ")
            )),
            other => other,
        }
    }

    /// An error status with `note` added to its message (after `; `, its final full stop
    /// dropped); any other error unchanged.
    pub(super) fn noted(mut self, note: impl fmt::Display) -> HubSpotError {
        if let HubSpotError::Status { message, .. } = &mut self {
            *message = format!("{}; {note}", message.trim_end_matches('.'));
        }
        self
    }
}

/// A body that is not JSON, as text: an HTML page (a gateway's 502) becomes its title,
/// or its words without tags.
fn plain_text(body: &str) -> String {
    if !body.starts_with('<') {
        return body.to_string();
    }
    let lower = body.to_ascii_lowercase();
    if let (Some(start), Some(end)) = (lower.find("<title>"), lower.find("</title>")) {
        if start + 7 < end {
            return body[start + 7..end].trim().to_string();
        }
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The policy of a 429 whose body has no `policyName` (search answers have none).
fn policy_from(message: &str) -> String {
    let message = message.to_ascii_lowercase();
    if message.contains("daily") {
        "DAILY"
    } else if message.contains("ten_secondly") {
        "TEN_SECONDLY_ROLLING"
    } else if message.contains("secondly") {
        "SECONDLY"
    } else {
        "TEN_SECONDLY_ROLLING"
    }
    .to_string()
}

/// The scopes named in a MISSING_SCOPES error body, comma separated.
fn required_scopes(body: &Value) -> Option<String> {
    let scopes: Vec<&str> = body
        .get("errors")?
        .as_array()?
        .iter()
        .filter_map(|e| e.pointer("/context/requiredGranularScopes"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    (!scopes.is_empty()).then(|| scopes.join(", "))
}

/// The properties a VALIDATION_ERROR names, each as `name (CODE: why)`: from `errors[]`
/// (`context.propertyName`, `code`, `message`), else from the JSON list HubSpot puts in
/// `message` ("Property values were not valid: [{name, error, message}]").
fn invalid_properties(body: &Value) -> Vec<String> {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, code: Option<&str>, why: Option<&str>| {
        if name.is_empty() || found.iter().any(|(n, _)| n == name) {
            return;
        }
        let detail = match (code, why) {
            (Some(code), Some(why)) => format!("{code}: {why}"),
            (Some(one), None) | (None, Some(one)) => one.to_string(),
            (None, None) => "invalid".to_string(),
        };
        found.push((name.to_string(), detail));
    };
    for error in body
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let code = error.get("code").and_then(Value::as_str);
        let why = error.get("message").and_then(Value::as_str);
        match error.pointer("/context/propertyName") {
            Some(Value::String(name)) => add(name, code, why),
            Some(Value::Array(names)) => names
                .iter()
                .filter_map(Value::as_str)
                .for_each(|name| add(name, code, why)),
            _ => {}
        }
    }
    let message = body.get("message").and_then(Value::as_str).unwrap_or("");
    let embedded = message
        .find(": [")
        .and_then(|pos| serde_json::from_str::<Value>(&message[pos + 2..]).ok());
    for item in embedded
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = item.get("name").and_then(Value::as_str) {
            let code = item.get("error").and_then(Value::as_str);
            add(name, code, item.get("message").and_then(Value::as_str));
        }
    }
    found
        .into_iter()
        .map(|(name, detail)| format!("{name} ({detail})"))
        .collect()
}

/// What to do about an error status, for a model.
fn status_hint(status: u16, category: Option<&str>, message: &str) -> String {
    match (status, category) {
        (400, _) if message.contains("REQUIRED_PROPERTY") => "the account's HubSpot settings require the properties listed (required on the create-record form, or by a conditional property rule, which HubSpot enforces on every write since API version 2026-09): include them with values and try again; get_properties shows their options".into(),
        (400, _) if message.contains("'Edit Associations' permission") => "the HubSpot user behind the token lacks the Edit Associations permission (enforced since API version 2026-09): a HubSpot super admin must grant it; retrying will not help".into(),
        (400, _) if message.contains("invalid properties:") => "HubSpot rejected the request as invalid: fix the properties listed (list the object's properties to see valid names and options) and try again".into(),
        (400, _) => "HubSpot rejected the request as invalid: check the arguments and try again".into(),
        (401, _) => "the HubSpot access token is missing, invalid, revoked or expired: check HUBSPOT_PRIVATE_APP_ACCESS_TOKEN (or HUBSPOT_ACCESS_TOKEN) holds a valid Service Key (HubSpot: Development > Keys > Service keys) or private app token; the server's operator must fix it, retrying will not help".into(),
        (403, Some("MISSING_SCOPES") | None) => "the Service Key (or private app) lacks a scope this call needs: add the scopes named here to it in HubSpot (a private app then needs its new token); retrying will not help".into(),
        (403, _) => "HubSpot refused access to this record or feature".into(),
        (404, _) => "HubSpot has no such record or endpoint: check the id, or list or search to find the record".into(),
        (409, _) => match existing_id(message) {
            Some(id) => format!("a record with these values already exists (id {id}): read or update record {id} instead of creating another"),
            None => "the record conflicts with an existing one: search for it and update it instead".into(),
        },
        (423, _) => "the record is locked by another HubSpot operation (locks last about 2 s): try again in a few seconds".into(),
        (500..=599, _) => "HubSpot had a temporary problem: try again in a little while".into(),
        _ => "HubSpot returned an error".into(),
    }
}

/// The id in HubSpot's conflict message `... Existing ID: 12345`.
fn existing_id(message: &str) -> Option<&str> {
    let rest = &message[message.find("Existing ID:")? + "Existing ID:".len()..];
    let id = rest.trim_start();
    let end = id
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(id.len());
    (end > 0).then(|| &id[..end])
}

impl fmt::Display for HubSpotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HubSpotError::Status {
                status,
                message,
                category,
                correlation_id,
                retry_after,
            } => {
                write!(f, "HubSpot error {status}")?;
                if let Some(category) = category {
                    write!(f, " ({category})")?;
                }
                let hint = status_hint(*status, category.as_deref(), message);
                let message = message.trim_end_matches('.');
                write!(f, ": {message} ({hint})")?;
                if let Some(secs) = retry_after {
                    write!(f, "; retry after {secs} s")?;
                }
                if let Some(id) = correlation_id {
                    write!(f, " [correlationId: {id}]")?;
                }
                Ok(())
            }
            HubSpotError::RateLimited {
                policy,
                retry_after,
                local,
                correlation_id,
            } => {
                let after = match retry_after {
                    Some(secs) => format!("retry after {secs} s"),
                    None => "retry in a few seconds".to_string(),
                };
                match (*local, policy.as_str()) {
                    (true, "SECONDLY") => write!(f, "rate limited, {after}: this server keeps searches within HubSpot's per-second search limit (HUBSPOT_SEARCH_RATE_PER_S) and the next free slot is further away than it waits")?,
                    (true, _) => write!(f, "rate limited, {after}: this server keeps HubSpot calls within the account's 10-second limit (HUBSPOT_RATE_LIMIT_PER_10S) and the next free slot is further away than it waits")?,
                    (false, "DAILY") => write!(f, "HubSpot error 429 (RATE_LIMIT, DAILY): the account's daily API limit is used up; it resets at midnight in the account's time zone, so do not retry today")?,
                    (false, "SECONDLY") => write!(f, "HubSpot error 429 (RATE_LIMIT, SECONDLY): HubSpot's search limit (5 searches per second) was reached; {after}")?,
                    (false, policy) => write!(f, "HubSpot error 429 (RATE_LIMIT, {policy}): the account's HubSpot rate limit was reached (other apps using the account share it); {after}")?,
                }
                if let Some(id) = correlation_id {
                    write!(f, " [correlationId: {id}]")?;
                }
                Ok(())
            }
            HubSpotError::Timeout => write!(f, "HubSpot did not answer in time; try again later"),
            HubSpotError::Unreachable(why) => write!(f, "HubSpot could not be reached: {why}"),
            HubSpotError::InvalidResponse(why) => {
                write!(f, "HubSpot sent an answer that could not be read: {why}")
            }
            HubSpotError::Busy => write!(
                f,
                "too many HubSpot calls are waiting in this server; try again in a few seconds"
            ),
            HubSpotError::Lost(why) => {
                write!(f, "HubSpot's answer did not arrive in full: {why}")
            }
            HubSpotError::Withdrawn(why) => write!(f, "{why}"),
            HubSpotError::MaybeCreated(cause) => write!(
                f,
                "{cause}. This create was not retried because HubSpot may have made the record anyway: search for it (e.g. by email or name) before creating it again"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A batch's `errors[]` item reads exactly as the same JSON sent as an error status,
    /// whatever it holds: a message, missing scopes, invalid properties, a policy, nothing.
    #[test]
    fn a_reported_error_reads_like_the_same_body_sent_as_a_status() {
        let items = [
            json!({"status": "error", "message": "Object not found. objectId are usually numeric.", "correlationId": "c-1", "category": "OBJECT_NOT_FOUND"}),
            json!({"message": "no scopes", "category": "MISSING_SCOPES", "errors": [{"context": {"requiredGranularScopes": ["crm.objects.deals.read"]}}]}),
            json!({"message": "Property values were not valid: [{}]", "errors": [{"message": "bad", "code": "INVALID_EMAIL", "context": {"propertyName": ["email"]}}]}),
            json!({"message": "You have reached your daily limit.", "policyName": "DAILY"}),
            json!({"status": "error", "id": "7"}),
            json!({}),
        ];
        for item in items {
            for status in [404, 403, 400, 429] {
                let body = serde_json::to_vec(&item).unwrap();
                assert_eq!(
                    HubSpotError::reported(status, &item),
                    HubSpotError::from_response(status, &body, None),
                    "{status} {item}"
                );
            }
        }
    }

    /// A note goes after the message of an error status only.
    #[test]
    fn a_note_extends_an_error_status_and_nothing_else() {
        let err = HubSpotError::from_response(500, br#"{"message":"Boom."}"#, None);
        let HubSpotError::Status { message, .. } = err.noted("gave up after 3 attempts") else {
            panic!("still a status");
        };
        assert_eq!(message, "Boom; gave up after 3 attempts");
        assert_eq!(HubSpotError::Timeout.noted("x"), HubSpotError::Timeout);
    }

    #[test]
    fn conflict_message_names_status_category_id_and_correlation() {
        let body = br#"{"status":"error","message":"Contact already exists. Existing ID: 101","correlationId":"abc-123","category":"CONFLICT"}"#;
        let text = HubSpotError::from_response(409, body, None).to_string();
        assert!(text.contains("409"), "{text}");
        assert!(text.contains("CONFLICT"), "{text}");
        assert!(text.contains("Existing ID: 101"), "{text}");
        assert!(text.contains("abc-123"), "{text}");
    }

    #[test]
    fn missing_scopes_are_named_and_plain_bodies_survive() {
        let body = br#"{"status":"error","message":"This app hasn't been granted all required scopes","category":"MISSING_SCOPES","errors":[{"message":"x","context":{"requiredGranularScopes":["crm.objects.deals.read"]}}]}"#;
        let text = HubSpotError::from_response(403, body, None).to_string();
        assert!(text.contains("crm.objects.deals.read"), "{text}");
        let text =
            HubSpotError::from_response(502, b"<html>Bad gateway</html>", Some(3)).to_string();
        assert!(
            text.contains("502")
                && text.contains(": Bad gateway (")
                && text.contains("retry after 3 s"),
            "tags are dropped: {text}"
        );
        let page =
            b"<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>";
        let text = HubSpotError::from_response(502, page, None).to_string();
        assert!(
            text.starts_with("HubSpot error 502: 502 Bad Gateway ("),
            "{text}"
        );
    }

    fn text(status: u16, body: &str) -> String {
        HubSpotError::from_response(status, body.as_bytes(), None).to_string()
    }

    #[test]
    fn validation_errors_list_the_bad_properties() {
        // The current shape: errors[].context.propertyName, plus the old list in message.
        let body = r#"{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Property \\\"favcolor\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"favcolor\"}]","correlationId":"c-1","errors":[{"message":"Property \"favcolor\" does not exist","code":"PROPERTY_DOESNT_EXIST","context":{"propertyName":["favcolor"]}}],"category":"VALIDATION_ERROR"}"#;
        let text = text(400, body);
        assert!(
            text.contains(r#"invalid properties: favcolor (PROPERTY_DOESNT_EXIST: Property "favcolor" does not exist)"#),
            "{text}"
        );
        assert!(
            !text.contains("isValid"),
            "the raw JSON list is replaced: {text}"
        );
        assert!(text.contains("fix the properties listed"), "{text}");
        // The older shape (and the mock's): only the list inside message.
        let body = r#"{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Email address x@y is invalid\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"},{\"isValid\":false,\"message\":\"bad\",\"error\":\"INVALID_OPTION\",\"name\":\"lifecyclestage\"}]","category":"VALIDATION_ERROR"}"#;
        let text = super::tests::text(400, body);
        assert!(
            text.contains("email (INVALID_EMAIL: Email address x@y is invalid); lifecyclestage (INVALID_OPTION: bad)"),
            "{text}"
        );
        // propertyName as a plain string, and a 400 that names no property.
        let body = r#"{"message":"One or more validation errors occurred","category":"VALIDATION_ERROR","errors":[{"message":"must be a number","context":{"propertyName":"amount"}}]}"#;
        assert!(super::tests::text(400, body).contains("amount (must be a number)"));
        let plain = super::tests::text(
            400,
            r#"{"message":"Invalid input JSON","category":"VALIDATION_ERROR"}"#,
        );
        assert!(plain.contains("check the arguments"), "{plain}");
    }

    #[test]
    fn required_property_rules_of_2026_09_name_the_property_and_the_rule() {
        let required = r#"{"status":"error","message":"Property values were not valid","correlationId":"c-2","category":"VALIDATION_ERROR","errors":[{"message":"A value for firstname must be provided","code":"MISSING_REQUIRED_PROPERTY","context":{"propertyName":["firstname"]}}]}"#;
        let text = text(400, required);
        assert!(
            text.contains("invalid properties: firstname (MISSING_REQUIRED_PROPERTY: A value for firstname must be provided)")
                && text.contains("create-record form")
                && text.contains("include them with values"),
            "{text}"
        );
        let conditional = r#"{"status":"error","message":"Property values were not valid","category":"VALIDATION_ERROR","errors":[{"message":"my_property is required because of a conditional property rule based on [country]","code":"MISSING_CONDITIONAL_REQUIRED_PROPERTY","context":{"propertyName":["my_property"]}}]}"#;
        let text = super::tests::text(400, conditional);
        assert!(
            text.contains("my_property (MISSING_CONDITIONAL_REQUIRED_PROPERTY: my_property is required because of a conditional property rule based on [country])")
                && text.contains("conditional property rule, which HubSpot enforces"),
            "{text}"
        );
        let permission = super::tests::text(
            400,
            r#"{"status":"error","message":"Missing 'Edit Associations' permission.","category":"VALIDATION_ERROR"}"#,
        );
        assert!(
            permission.contains("super admin must grant it"),
            "{permission}"
        );
    }

    #[test]
    fn upstream_text_is_capped_and_the_token_redacted() {
        let token = "pat-na1-11111111-2222-3333-4444-555555555555";
        let body = format!(
            r#"{{"message":"bad request from Bearer {token} {}","category":"{}","correlationId":"{token}"}}"#,
            "x".repeat(10_000),
            "C".repeat(5_000)
        );
        let err = HubSpotError::from_response(400, body.as_bytes(), None).sanitized(&[token]);
        let text = err.to_string();
        assert!(!text.contains(token), "{text}");
        assert!(text.contains("Bearer [redacted]"), "{text}");
        assert!(text.contains("(cut at 2000 characters)"), "{text}");
        assert!(
            text.chars().count() < 2 * MAX_MESSAGE_CHARS + 1_000,
            "{}",
            text.len()
        );
        // A token straddling the cut is redacted before the cut, never left half visible.
        let body = format!(r#"{{"message":"{}{token}"}}"#, "y".repeat(1_990));
        let text = HubSpotError::from_response(502, body.as_bytes(), None)
            .sanitized(&[token])
            .to_string();
        assert!(!text.contains("pat-na1-1111"), "{text}");
        let plain = HubSpotError::Unreachable(format!("proxy said {token}")).sanitized(&[token]);
        assert_eq!(
            plain.to_string(),
            "HubSpot could not be reached: proxy said [redacted]"
        );
        // A tiny secret is not searched for (it would garble the text).
        let short = HubSpotError::Unreachable("a test".into()).sanitized(&["t"]);
        assert_eq!(short.to_string(), "HubSpot could not be reached: a test");
    }

    #[test]
    fn every_spelling_of_the_token_is_redacted() {
        let token = "pat-na1-11111111-2222-3333-4444-555555555555";
        let percent: String = token.bytes().map(|b| format!("%{b:02X}")).collect();
        let mixed = "PAT%2dna1-11111111-2222-3333-4444-555555555555";
        let b64 = crate::runtime::base64::encode(format!("Bearer {token}").as_bytes());
        let url_safe = crate::runtime::base64::encode(token.as_bytes())
            .replace('+', "-")
            .replace('/', "_");
        for echoed in [
            token.to_uppercase(),
            percent.to_lowercase(),
            percent,
            mixed.into(),
            b64.clone(),
            b64.trim_end_matches('=').into(),
            url_safe,
        ] {
            let text = redact(&format!("échoed « {echoed} » here"), token);
            assert_eq!(text, "échoed « [redacted] » here", "{echoed}");
        }
        // Near misses stay as they are; text around the token is kept whole.
        let near = "pat-na1-11111111-2222-3333-4444-55555555555 %zz %";
        assert_eq!(redact(near, token), near);
        assert_eq!(redact("a:b", "a:b"), "a:b", "too short to search for");
        let proxy = "user:s3cret-password";
        let basic = crate::runtime::base64::encode(proxy.as_bytes());
        let text = HubSpotError::Unreachable(format!("proxy said {proxy} / Basic {basic}"))
            .sanitized(&[token, proxy]);
        assert_eq!(
            text.to_string(),
            "HubSpot could not be reached: proxy said [redacted] / Basic [redacted]"
        );
    }

    #[test]
    fn each_category_says_what_to_do() {
        let cases = [
            (
                401,
                r#"{"message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION"}"#,
                "check HUBSPOT_PRIVATE_APP_ACCESS_TOKEN",
            ),
            (
                403,
                r#"{"message":"This app hasn't been granted all required scopes","category":"MISSING_SCOPES","errors":[{"context":{"requiredGranularScopes":["crm.objects.deals.read"]}}]}"#,
                "required scopes: crm.objects.deals.read",
            ),
            (
                404,
                r#"{"message":"Object not found","category":"OBJECT_NOT_FOUND"}"#,
                "check the id, or list or search",
            ),
            (
                409,
                r#"{"message":"Contact already exists. Existing ID: 951","category":"CONFLICT"}"#,
                "read or update record 951 instead",
            ),
            (
                423,
                r#"{"message":"locked","category":"LOCKED"}"#,
                "try again in a few seconds",
            ),
            (503, "<html>Service Unavailable</html>", "temporary problem"),
        ];
        for (status, body, expected) in cases {
            let text = text(status, body);
            assert!(text.contains(expected), "{status}: {text}");
            assert!(text.contains(&format!("HubSpot error {status}")), "{text}");
        }
    }

    #[test]
    fn rate_limits_name_their_policy() {
        let ten = r#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"c-9","policyName":"TEN_SECONDLY_ROLLING","groupName":"g"}"#;
        let err = HubSpotError::from_response(429, ten.as_bytes(), Some(3));
        assert_eq!(
            err,
            HubSpotError::RateLimited {
                policy: "TEN_SECONDLY_ROLLING".into(),
                retry_after: Some(3),
                local: false,
                correlation_id: Some("c-9".into()),
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("429")
                && text.contains("TEN_SECONDLY_ROLLING")
                && text.contains("retry after 3 s")
                && text.contains("c-9"),
            "{text}"
        );
        let daily =
            text_429(r#"{"message":"You have reached your daily limit.","policyName":"DAILY"}"#);
        assert!(
            daily.contains("resets at midnight") && daily.contains("do not retry today"),
            "{daily}"
        );
        let search = text_429(
            r#"{"message":"You have reached your secondly limit.","errorType":"RATE_LIMIT"}"#,
        );
        assert!(
            search.contains("SECONDLY") && search.contains("5 searches per second"),
            "{search}"
        );
        let local = HubSpotError::RateLimited {
            policy: "TEN_SECONDLY_ROLLING".into(),
            retry_after: Some(4),
            local: true,
            correlation_id: None,
        };
        let local = local.to_string();
        assert!(
            local.starts_with("rate limited, retry after 4 s")
                && local.contains("HUBSPOT_RATE_LIMIT_PER_10S"),
            "{local}"
        );
    }

    fn text_429(body: &str) -> String {
        HubSpotError::from_response(429, body.as_bytes(), None).to_string()
    }

    #[test]
    fn a_create_that_may_have_happened_says_so() {
        let cause = HubSpotError::from_response(503, b"", None);
        let text = HubSpotError::MaybeCreated(Box::new(cause)).to_string();
        assert!(
            text.contains("HubSpot error 503")
                && text.contains("not retried")
                && text.contains("search for it"),
            "{text}"
        );
    }
}
