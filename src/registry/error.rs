//! The admin API's errors: each one an HTTP status and a message; the admin API answers
//! them with the Truto-style `{statusCode, error, message}` body (`Response::error`).

use crate::registry::store::StoreError;
use std::fmt;

/// Why a registry operation was refused or failed. Messages are written for the admin who
/// sent the request; none contains a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// 400: the input is malformed or invalid; the message names the field.
    BadRequest(String),
    /// 404: no such integrated account or MCP server.
    NotFound(String),
    /// 409: the request conflicts with the current state (deleting the start-up account, an
    /// account at `MAX_SERVERS_PER_ACCOUNT`, a change that kept losing races).
    Conflict(String),
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

    pub(crate) fn bad(message: impl Into<String>) -> RegistryError {
        RegistryError::BadRequest(message.into())
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status();
        write!(
            f,
            "{status} {}: {}",
            crate::http::reason(status),
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
    fn each_error_has_its_status_and_says_it() {
        let cases = [
            (
                RegistryError::BadRequest("b".into()),
                400,
                "400 Bad Request: b",
            ),
            (RegistryError::NotFound("n".into()), 404, "404 Not Found: n"),
            (RegistryError::Conflict("c".into()), 409, "409 Conflict: c"),
            (
                RegistryError::Internal("i".into()),
                500,
                "500 Internal Server Error: i",
            ),
            (
                RegistryError::Unavailable("u".into()),
                503,
                "503 Service Unavailable: u",
            ),
        ];
        for (err, status, shown) in cases {
            assert_eq!(err.status(), status);
            assert_eq!(err.to_string(), shown);
        }
    }
}
