//! JSON-RPC 2.0, hand-written: parsing, validation, batches, and the error codes of the
//! seed (-32700, -32600, -32601, -32602, -32603) plus MCP's own (-32020, -32022, -32002).

use serde_json::{Map, Value};
use std::fmt;

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid Request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Internal JSON-RPC error.
pub const INTERNAL_ERROR: i64 = -32603;
/// A resource was not found (MCP).
pub const RESOURCE_NOT_FOUND: i64 = -32002;
/// MCP 2026-07-28: an HTTP header disagrees with the request body.
pub const HEADER_MISMATCH: i64 = -32020;
/// MCP 2026-07-28: the requested protocol version is not supported.
pub const UNSUPPORTED_VERSION: i64 = -32022;

/// A JSON-RPC error object, with the HTTP status it is answered with when it is the only
/// thing in the response.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The JSON-RPC error code.
    pub code: i64,
    /// A message a person can act on.
    pub message: String,
    /// Extra machine-readable details.
    pub data: Option<Box<Value>>,
    /// The HTTP status for a single (non-batch) response carrying this error.
    pub http_status: u16,
}

impl RpcError {
    /// An error with `code` and `message`, answered with HTTP 200.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
            http_status: 200,
        }
    }

    /// -32700 for a body that is not JSON.
    pub fn parse(detail: impl fmt::Display) -> RpcError {
        RpcError::new(PARSE_ERROR, format!("Parse error: {detail}")).with_status(400)
    }

    /// -32600 with a reason.
    pub fn invalid_request(reason: impl fmt::Display) -> RpcError {
        RpcError::new(INVALID_REQUEST, format!("Invalid Request: {reason}"))
    }

    /// -32601 naming the method.
    pub fn method_not_found(method: &str) -> RpcError {
        RpcError::new(METHOD_NOT_FOUND, format!("Method not found: {method}"))
    }

    /// -32602 with a reason.
    pub fn invalid_params(reason: impl fmt::Display) -> RpcError {
        RpcError::new(INVALID_PARAMS, format!("Invalid params: {reason}"))
    }

    /// -32603 with a reason.
    pub fn internal(reason: impl fmt::Display) -> RpcError {
        RpcError::new(INTERNAL_ERROR, format!("Internal error: {reason}"))
    }

    /// Sets the HTTP status used when this error is the whole response.
    pub fn with_status(mut self, status: u16) -> RpcError {
        self.http_status = status;
        self
    }

    /// Attaches `data`.
    pub fn with_data(mut self, data: Value) -> RpcError {
        self.data = Some(Box::new(data));
        self
    }

    fn to_json(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.clone().into());
        if let Some(data) = &self.data {
            error.insert("data".into(), (**data).clone());
        }
        Value::Object(error)
    }
}

/// One valid incoming JSON-RPC message.
#[derive(Debug)]
pub enum Message {
    /// A request, which gets a response with the same id.
    Request {
        /// The id, a string or a number, echoed exactly.
        id: Value,
        /// The method name.
        method: String,
        /// The params object (empty when absent).
        params: Map<String, Value>,
    },
    /// A notification (no id): no response.
    Notification {
        /// The method name.
        method: String,
    },
    /// A response from the client to a server request: accepted and ignored.
    Response,
}

/// A message that could not be accepted, with the id to answer it under (null if unknown).
#[derive(Debug)]
pub struct Rejected {
    /// The id found in the message, or null.
    pub id: Value,
    /// What was wrong.
    pub error: RpcError,
}

/// The body of a POST: one message or a batch.
pub enum Body {
    /// A single JSON value (an object when valid).
    Single(Value),
    /// A non-empty JSON array of values.
    Batch(Vec<Value>),
}

/// Parses a request body. Errors: -32700 when it is not JSON, -32600 for an empty batch.
pub fn parse_body(body: &[u8]) -> Result<Body, RpcError> {
    let value: Value = serde_json::from_slice(body).map_err(|err| {
        if body.iter().all(u8::is_ascii_whitespace) {
            RpcError::parse("the request body is empty; send a JSON-RPC 2.0 object")
        } else {
            RpcError::parse(err)
        }
    })?;
    match value {
        Value::Array(items) if items.is_empty() => {
            Err(RpcError::invalid_request("an empty batch is not allowed").with_status(400))
        }
        Value::Array(items) => Ok(Body::Batch(items)),
        other => Ok(Body::Single(other)),
    }
}

/// Checks that `value` is a JSON-RPC 2.0 request, notification or response.
pub fn classify(value: Value) -> Result<Message, Rejected> {
    let Value::Object(mut obj) = value else {
        return Err(reject(
            Value::Null,
            "a JSON-RPC message must be a JSON object",
        ));
    };
    let id = match obj.remove("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id),
        Some(_) => return Err(reject(Value::Null, "\"id\" must be a string or a number")),
    };
    let echo = id.clone().unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(reject(echo, "\"jsonrpc\" must be exactly \"2.0\""));
    }
    let method = match obj.remove("method") {
        Some(Value::String(method)) => method,
        Some(_) => return Err(reject(echo, "\"method\" must be a string")),
        None if id.is_some() && (obj.contains_key("result") || obj.contains_key("error")) => {
            return Ok(Message::Response)
        }
        None => return Err(reject(echo, "\"method\" is missing")),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => {
            return Err(Rejected {
                id: echo,
                error: RpcError::invalid_params("\"params\" must be an object"),
            })
        }
    };
    Ok(match id {
        Some(id) => Message::Request { id, method, params },
        None => Message::Notification { method },
    })
}

fn reject(id: Value, reason: &str) -> Rejected {
    Rejected {
        id,
        error: RpcError::invalid_request(reason),
    }
}

/// A success response object.
pub fn success(id: Value, result: Value) -> Value {
    envelope(id, "result", result)
}

/// An error response object.
pub fn failure(id: Value, error: &RpcError) -> Value {
    envelope(id, "error", error.to_json())
}

/// `{"jsonrpc":"2.0","id":id,key:value}`, moving `value` in (`json!` would deep-copy it
/// through `to_value`, which for a `tools/list` result is most of the request's cost).
fn envelope(id: Value, key: &str, value: Value) -> Value {
    let mut obj = Map::with_capacity(3);
    obj.insert("jsonrpc".into(), "2.0".into());
    obj.insert("id".into(), id);
    obj.insert(key.into(), value);
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(value: Value) -> i64 {
        classify(value).err().map(|r| r.error.code).unwrap_or(0)
    }

    #[test]
    fn classifies_messages() {
        let req = classify(json!({"jsonrpc":"2.0","id":"a-1","method":"ping"})).unwrap();
        assert!(matches!(req, Message::Request { ref id, .. } if id == "a-1"));
        let note = classify(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        assert!(matches!(note, Ok(Message::Notification { .. })));
        let reply = classify(json!({"jsonrpc":"2.0","id":7,"result":{}}));
        assert!(matches!(reply, Ok(Message::Response)));
    }

    #[test]
    fn rejects_invalid_requests_with_the_right_codes() {
        assert_eq!(code(json!([1])), INVALID_REQUEST); // a nested batch
        assert_eq!(code(json!(5)), INVALID_REQUEST);
        assert_eq!(
            code(json!({"jsonrpc":"1.0","id":1,"method":"ping"})),
            INVALID_REQUEST
        );
        assert_eq!(code(json!({"id":1,"method":"ping"})), INVALID_REQUEST);
        assert_eq!(
            code(json!({"jsonrpc":"2.0","id":1,"method":5})),
            INVALID_REQUEST
        );
        assert_eq!(
            code(json!({"jsonrpc":"2.0","id":{},"method":"ping"})),
            INVALID_REQUEST
        );
        assert_eq!(code(json!({"jsonrpc":"2.0","id":1})), INVALID_REQUEST);
        assert_eq!(
            code(json!({"jsonrpc":"2.0","id":1,"method":"x","params":3})),
            INVALID_PARAMS
        );
        let rejected = classify(json!({"jsonrpc":"2.1","id":9,"method":"ping"})).unwrap_err();
        assert_eq!(rejected.id, json!(9));
    }

    #[test]
    fn parses_bodies() {
        assert_eq!(
            parse_body(b"{oops").err().map(|e| e.code),
            Some(PARSE_ERROR)
        );
        assert_eq!(parse_body(b"").err().map(|e| e.code), Some(PARSE_ERROR));
        assert_eq!(
            parse_body(b"[]").err().map(|e| e.code),
            Some(INVALID_REQUEST)
        );
        assert!(matches!(parse_body(b"[{},{}]"), Ok(Body::Batch(v)) if v.len() == 2));
    }
}
