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
        /// HubSpot's `message`, or the start of the body when it was not HubSpot JSON.
        message: String,
        /// HubSpot's `category` (e.g. `CONFLICT`, `MISSING_SCOPES`).
        category: Option<String>,
        /// HubSpot's `correlationId`, for their support.
        correlation_id: Option<String>,
        /// The `Retry-After` header, in seconds, when present.
        retry_after: Option<u64>,
    },
    /// No answer within the configured timeout.
    Timeout,
    /// HubSpot could not be reached (DNS, refused connection, TLS failure).
    Unreachable(String),
    /// HubSpot answered something that is not the JSON it should be.
    InvalidResponse(String),
    /// Too many HubSpot calls are already waiting in this server.
    Busy,
}

impl HubSpotError {
    /// Builds a `Status` error from an error response's status, body and headers.
    pub fn from_response(status: u16, body: &[u8], retry_after: Option<u64>) -> HubSpotError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let message = field("message").unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                "no details were given".to_string()
            } else {
                text.chars().take(300).collect()
            }
        });
        let mut message = message;
        if let Some(scopes) = parsed.as_ref().and_then(required_scopes) {
            message.push_str(&format!(" (required scopes: {scopes})"));
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

/// What a status means, in a few words.
fn status_hint(status: u16) -> &'static str {
    match status {
        400 => "HubSpot rejected the request as invalid",
        401 => "the HubSpot access token is missing, invalid or expired",
        403 => "the HubSpot token lacks a required scope",
        404 => "HubSpot has no such record or endpoint",
        409 => "the record conflicts with an existing one",
        423 => "the record is locked; try again shortly",
        429 => "HubSpot's rate limit was reached",
        500..=599 => "HubSpot had a temporary problem",
        _ => "HubSpot returned an error",
    }
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
                let message = message.trim_end_matches('.');
                write!(f, ": {message} ({})", status_hint(*status))?;
                if let Some(secs) = retry_after {
                    write!(f, "; retry after {secs} s")?;
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                && text.contains("Bad gateway")
                && text.contains("retry after 3 s"),
            "{text}"
        );
    }
}
