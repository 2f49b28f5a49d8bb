//! The admin API's errors: each one an HTTP status and the Truto-style envelope
//! `{statusCode, error, message}`.

use crate::store::StoreError;
use serde_json::{json, Value};
use std::fmt;

/// Why a registry operation was refused or failed. Messages are written for the admin who
/// sent the request; none contains a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// 400: the input is malformed or invalid; the message names the field.
    BadRequest(String),
    /// 401: missing or wrong admin credentials (for the HTTP layer; the registry itself
    /// 404: no such integrated account or MCP server.
    NotFound(String),
    /// 409: the request conflicts with the current state (deleting the start-up account).
    Conflict(String),
    /// 422: well-formed but unprocessable (kept for the HTTP layer; the registry answers 400
    /// 500: the registry could not be saved (the change was not applied) or no random bytes
    /// could be drawn.
    Internal(String),
    /// 503: the registry's store (etcd) is unreachable; the change was not confirmed.
    Unavailable(String),
}

impl RegistryError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            RegistryError::BadRequest(_) => 400,
            RegistryError::NotFound(_) => 404,
            RegistryError::Conflict(_) => 409,
            RegistryError::Internal(_) => 500,
            RegistryError::Unavailable(_) => 503,
        }
    }

    /// The HTTP reason phrase, used as the envelope's `error`.
    pub fn error_name(&self) -> &'static str {
        match self {
            RegistryError::BadRequest(_) => "Bad Request",
            RegistryError::NotFound(_) => "Not Found",
            RegistryError::Conflict(_) => "Conflict",
            RegistryError::Internal(_) => "Internal Server Error",
            RegistryError::Unavailable(_) => "Service Unavailable",
        }
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        match self {
            RegistryError::BadRequest(m)
            | RegistryError::NotFound(m)
            | RegistryError::Conflict(m)
            | RegistryError::Internal(m)
            | RegistryError::Unavailable(m) => m,
        }
    }

    /// The response body: `{"statusCode": 404, "error": "Not Found", "message": "..."}`.
    pub fn to_json(&self) -> Value {
        json!({
            "statusCode": self.status(),
            "error": self.error_name(),
            "message": self.message(),
        })
    }

    pub(crate) fn bad(message: impl Into<String>) -> RegistryError {
        RegistryError::BadRequest(message.into())
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status(),
            self.error_name(),
            self.message()
        )
    }
}

impl std::error::Error for RegistryError {}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> RegistryError {
        RegistryError::Internal(format!("the change was not saved: {e}"))
    }
}

impl From<super::token::RandomError> for RegistryError {
    fn from(e: super::token::RandomError) -> RegistryError {
        RegistryError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_status_name_and_message() {
        let cases = [
            (RegistryError::BadRequest("b".into()), 400, "Bad Request"),
            (RegistryError::NotFound("n".into()), 404, "Not Found"),
            (RegistryError::Conflict("c".into()), 409, "Conflict"),
            (
                RegistryError::Internal("i".into()),
                500,
                "Internal Server Error",
            ),
        ];
        for (err, status, name) in cases {
            assert_eq!(err.status(), status);
            let body = err.to_json();
            assert_eq!(body["statusCode"], status);
            assert_eq!(body["error"], name);
            assert_eq!(body["message"], err.message());
        }
    }
}
