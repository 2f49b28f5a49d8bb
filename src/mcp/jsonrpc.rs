//! JSON-RPC 2.0, hand-written: parsing, validation, batches, and the error codes of the
//! first specification (-32700, -32600, -32601, -32602, -32603), MCP's own (-32020, -32022, -32002) and
//! this server's -32001 and -32010 (see [`ErrorCode`]).

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::fmt;

/// A JSON-RPC error code (a newtype, as rmcp has, so a code is never mixed up with
/// another number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub i64);

impl ErrorCode {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: ErrorCode = ErrorCode(-32700);
    /// The JSON sent is not a valid Request object.
    pub const INVALID_REQUEST: ErrorCode = ErrorCode(-32600);
    /// The method does not exist.
    pub const METHOD_NOT_FOUND: ErrorCode = ErrorCode(-32601);
    /// Invalid method parameters.
    pub const INVALID_PARAMS: ErrorCode = ErrorCode(-32602);
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(-32603);
    /// A resource was not found (MCP).
    pub const RESOURCE_NOT_FOUND: ErrorCode = ErrorCode(-32002);
    /// MCP 2026-07-28: an HTTP header disagrees with the request body.
    pub const HEADER_MISMATCH: ErrorCode = ErrorCode(-32020);
    /// MCP 2026-07-28: the requested protocol version is not supported.
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(-32022);
    /// This server's own (JSON-RPC's -32000 to -32099 are the server's to define): the
    /// credential is missing or no longer valid (a scoped server deleted mid-request).
    pub const UNAUTHORIZED: ErrorCode = ErrorCode(-32001);
    /// This server's own: a request of a batch was not run because the batch's replies
    /// were already too large; sending it again is safe.
    pub const BATCH_REPLY_FULL: ErrorCode = ErrorCode(-32010);
    /// This server's own: a scoped server's token cannot be checked because the registry
    /// (etcd) has been unreachable longer than `ETCD_MAX_STALENESS_MS` (HTTP 503).
    pub const REGISTRY_UNREACHABLE: ErrorCode = ErrorCode(-32011);
}

/// A JSON-RPC error object. It carries no HTTP status: the HTTP edge decides that
/// ([`crate::mcp::http_status`]); stdio has none.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The JSON-RPC error code.
    pub code: ErrorCode,
    /// A message a person can act on.
    pub message: String,
    /// Extra machine-readable details.
    pub data: Option<Box<Value>>,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// -32700 for a body that is not JSON.
    pub fn parse(detail: impl fmt::Display) -> RpcError {
        RpcError::new(ErrorCode::PARSE_ERROR, format!("Parse error: {detail}"))
    }

    /// -32600 with a reason.
    pub fn invalid_request(reason: impl fmt::Display) -> RpcError {
        RpcError::new(
            ErrorCode::INVALID_REQUEST,
            format!("Invalid Request: {reason}"),
        )
    }

    /// -32601 naming the method.
    pub fn method_not_found(method: &str) -> RpcError {
        RpcError::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }

    /// -32602 with a reason.
    pub fn invalid_params(reason: impl fmt::Display) -> RpcError {
        RpcError::new(
            ErrorCode::INVALID_PARAMS,
            format!("Invalid params: {reason}"),
        )
    }

    /// -32603 with a reason.
    pub fn internal(reason: impl fmt::Display) -> RpcError {
        RpcError::new(
            ErrorCode::INTERNAL_ERROR,
            format!("Internal error: {reason}"),
        )
    }

    /// Attaches `data`.
    pub fn with_data(mut self, data: Value) -> RpcError {
        self.data = Some(Box::new(data));
        self
    }

    fn to_json(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code.0.into());
        error.insert("message".into(), self.message.clone().into());
        if let Some(data) = &self.data {
            error.insert("data".into(), (**data).clone());
        }
        Value::Object(error)
    }
}

/// A request id exactly as the client wrote it: the raw JSON text of a string or a
/// number, echoed byte for byte (never re-encoded: `12345678901234567890123` stays that,
/// `"a\u00e9"` keeps its escape). `None` is answered as `null`.
pub type Id<'a> = Option<&'a RawValue>;

/// One valid incoming JSON-RPC message.
#[derive(Debug)]
pub enum Message<'a> {
    /// A request, which gets a response with the same id.
    Request {
        /// The id, a string or a number, as raw JSON.
        id: &'a RawValue,
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
pub struct Rejected<'a> {
    /// The id found in the message, or none (null).
    pub id: Id<'a>,
    /// What was wrong.
    pub error: RpcError,
}

/// The body of a POST: one message or a batch, each still raw JSON (borrowed from the
/// body) so that ids can be echoed exactly.
pub enum Body<'a> {
    /// A single JSON value (an object when valid).
    Single(&'a RawValue),
    /// A non-empty JSON array of at most `max_batch` values.
    Batch(Vec<&'a RawValue>),
}

/// The default of `MAX_BATCH`: the most messages one batch may hold.
pub const DEFAULT_MAX_BATCH: usize = 20;
/// The most JSON values (strings, numbers, literals, arrays and objects; object keys
/// count too) one body may hold. Parsing costs memory per value (a 10 MB body of `[]`
/// took 250 MB as a `Value` tree), so a body is counted before it is parsed. The largest
/// legitimate request, a `batch_create_records` of 100 records with 200 properties each,
/// holds about 40,000.
pub const MAX_VALUES: usize = 100_000;
/// The deepest nesting of arrays and objects a body may have. Below serde_json's own 128:
/// parsing, checking and answering recurse per level on a coroutine's fixed stack, and a
/// body 100 levels deep overflowed it (a debug build); MCP messages nest a few levels.
pub const MAX_DEPTH: usize = 64;

/// Parses a request body. Errors: -32700 when it is not JSON or nests deeper than
/// [`MAX_DEPTH`]; -32600 for an empty batch, a batch of more than `max_batch` messages
/// (`MAX_BATCH`; a larger batch is refused whole), or more than [`MAX_VALUES`] values. The limits are checked
/// by a pass over the bytes before anything is built, so a hostile body costs no more
/// than its own size.
pub fn parse_body(body: &[u8], max_batch: usize) -> Result<Body<'_>, RpcError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(RpcError::parse(
            "the request body is empty; send a JSON-RPC 2.0 object",
        ));
    }
    let batch = scan(body, max_batch)?;
    let text = std::str::from_utf8(body).map_err(|_| RpcError::parse("the body is not UTF-8"))?;
    let raw: &RawValue = serde_json::from_str(text).map_err(RpcError::parse)?;
    if !batch {
        return Ok(Body::Single(raw));
    }
    let items: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(RpcError::parse)?;
    if items.is_empty() {
        return Err(RpcError::invalid_request("an empty batch is not allowed"));
    }
    Ok(Body::Batch(items))
}

/// Counts the values of a body without building them, and refuses it past
/// [`MAX_VALUES`], [`MAX_DEPTH`] or (a batch) `max_batch` items, stopping at the first
/// limit passed. True when the body is a batch (an array). Only an upper bound on
/// malformed input: the parser that follows reports what is wrong with it.
fn scan(body: &[u8], max_batch: usize) -> Result<bool, RpcError> {
    let batch = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let (mut values, mut depth, mut items) = (0usize, 0usize, 0usize);
    let (mut in_string, mut escaped, mut in_scalar) = (false, false, false);
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        let scalar = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.');
        let level = depth;
        let starts = match b {
            b'"' => {
                in_string = true;
                true
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(RpcError::parse(format!(
                        "arrays and objects nest deeper than {MAX_DEPTH} levels"
                    )));
                }
                true
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                false
            }
            _ => scalar && !in_scalar,
        };
        in_scalar = scalar;
        if !starts {
            continue;
        }
        values += 1;
        if values > MAX_VALUES {
            return Err(RpcError::invalid_request(format!(
                "the body holds more than {MAX_VALUES} JSON values (strings, numbers, arrays, objects and keys), the most one request may hold; send smaller requests"
            ))
            );
        }
        if batch && level == 1 {
            items += 1;
            if items > max_batch {
                return Err(RpcError::invalid_request(format!(
                    "a batch holds at most {max_batch} messages (MAX_BATCH) and this one holds more; send them in batches of {max_batch} or fewer"
                ))
                );
            }
        }
    }
    Ok(batch)
}

/// One message as read: its `id` kept raw, every other member parsed, or not an object.
enum Parsed<'a> {
    Object {
        id: Option<&'a RawValue>,
        members: Map<String, Value>,
    },
    NotObject,
}

impl<'de> Deserialize<'de> for Parsed<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParsedVisitor)
    }
}

struct ParsedVisitor;

impl<'de> Visitor<'de> for ParsedVisitor {
    type Value = Parsed<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed<'de>, A::Error> {
        let (mut id, mut members) = (None, Map::new());
        while let Some(key) = map.next_key::<String>()? {
            if key == "id" {
                id = Some(map.next_value::<&RawValue>()?);
            } else {
                members.insert(key, map.next_value()?);
            }
        }
        Ok(Parsed::Object { id, members })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Parsed::NotObject)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Parsed<'de>, E> {
        Ok(Parsed::NotObject)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Parsed<'de>, E> {
        Ok(Parsed::NotObject)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Parsed<'de>, E> {
        Ok(Parsed::NotObject)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Parsed<'de>, E> {
        Ok(Parsed::NotObject)
    }

    fn visit_str<E>(self, _: &str) -> Result<Parsed<'de>, E> {
        Ok(Parsed::NotObject)
    }

    fn visit_unit<E>(self) -> Result<Parsed<'de>, E> {
        Ok(Parsed::NotObject)
    }
}

/// Checks that `raw` (one message of a body [`parse_body`] accepted) is a JSON-RPC 2.0
/// request, notification or response.
pub fn classify(raw: &RawValue) -> Result<Message<'_>, Rejected<'_>> {
    let (id, mut obj) = match serde_json::from_str::<Parsed>(raw.get()) {
        Ok(Parsed::Object { id, members }) => (id, members),
        Ok(Parsed::NotObject) => {
            return Err(reject(None, "a JSON-RPC message must be a JSON object"))
        }
        Err(err) => return Err(reject(None, &err.to_string())),
    };
    let id = match id {
        None => None,
        Some(id) if valid_id(id.get()) => Some(id),
        Some(_) => {
            return Err(reject(
                None,
                "\"id\" must be a string or a number (within a double's range, which JSON parsers can read back)",
            ))
        }
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(reject(id, "\"jsonrpc\" must be exactly \"2.0\""));
    }
    let method = match obj.remove("method") {
        Some(Value::String(method)) => method,
        Some(_) => return Err(reject(id, "\"method\" must be a string")),
        None if id.is_some() && (obj.contains_key("result") || obj.contains_key("error")) => {
            return Ok(Message::Response)
        }
        None => return Err(reject(id, "\"method\" is missing")),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => {
            return Err(Rejected {
                id,
                error: RpcError::invalid_params("\"params\" must be an object"),
            })
        }
    };
    Ok(match id {
        Some(id) => Message::Request { id, method, params },
        None => Message::Notification { method },
    })
}

/// A string, or a number that JSON parsers can read back (`1e400` is JSON but most
/// parsers refuse it, so a reply echoing it could not be read).
fn valid_id(raw: &str) -> bool {
    raw.starts_with('"') || raw.parse::<f64>().is_ok_and(f64::is_finite)
}

fn reject<'a>(id: Id<'a>, reason: &str) -> Rejected<'a> {
    Rejected {
        id,
        error: RpcError::invalid_request(reason),
    }
}

/// Writes a success response: `{"jsonrpc":"2.0","id":<id as sent>,"result":<result>}`.
pub fn write_success(out: &mut Vec<u8>, id: &RawValue, result: &Value) {
    open(out, Some(id), "result");
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, result);
    out.push(b'}');
}

/// [`write_success`] with a result already serialized (a prebuilt `tools/list` page, a
/// tool's result).
pub fn write_success_text(out: &mut Vec<u8>, id: &RawValue, result: &[u8]) {
    open(out, Some(id), "result");
    out.extend_from_slice(result);
    out.push(b'}');
}

/// Writes an error response: `{"jsonrpc":"2.0","id":<id as sent, or null>,"error":{...}}`.
pub fn write_failure(out: &mut Vec<u8>, id: Id, error: &RpcError) {
    open(out, id, "error");
    let _ = serde_json::to_writer(&mut *out, &error.to_json());
    out.push(b'}');
}

/// Starts a response object as `serde_json` writes one (compact), with the id raw;
/// the caller writes the value of `key` and the closing brace.
fn open(out: &mut Vec<u8>, id: Id, key: &str) {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    const INVALID_REQUEST: ErrorCode = ErrorCode::INVALID_REQUEST;
    const INVALID_PARAMS: ErrorCode = ErrorCode::INVALID_PARAMS;
    const PARSE_ERROR: ErrorCode = ErrorCode::PARSE_ERROR;

    fn code(text: &str) -> ErrorCode {
        classify(raw(text))
            .err()
            .map_or(ErrorCode(0), |r| r.error.code)
    }

    fn body_code(text: &str) -> Option<ErrorCode> {
        parse_body(text.as_bytes(), DEFAULT_MAX_BATCH)
            .err()
            .map(|e| e.code)
    }

    #[test]
    fn classifies_messages() {
        let req = classify(raw(r#"{"jsonrpc":"2.0","id":"a-1","method":"ping"}"#)).unwrap();
        assert!(matches!(req, Message::Request { id, .. } if id.get() == r#""a-1""#));
        let note = classify(raw(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        ));
        assert!(matches!(note, Ok(Message::Notification { .. })));
        let reply = classify(raw(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#));
        assert!(matches!(reply, Ok(Message::Response)));
    }

    #[test]
    fn rejects_invalid_requests_with_the_right_codes() {
        assert_eq!(code("[1]"), INVALID_REQUEST); // a nested batch
        assert_eq!(code("5"), INVALID_REQUEST);
        assert_eq!(code("null"), INVALID_REQUEST);
        assert_eq!(
            code(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#),
            INVALID_REQUEST
        );
        assert_eq!(code(r#"{"id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":5}"#),
            INVALID_REQUEST
        );
        for id in ["{}", "[]", "null", "true", "1e400", "-1e309"] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            assert_eq!(code(&text), INVALID_REQUEST, "{text}");
        }
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1}"#), INVALID_REQUEST);
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":3}"#),
            INVALID_PARAMS
        );
        let rejected =
            classify(raw(r#"{"jsonrpc":"2.1","id": 9e0 ,"method":"ping"}"#)).unwrap_err();
        assert_eq!(rejected.id.map(RawValue::get), Some("9e0"));
    }

    #[test]
    fn parses_bodies() {
        assert_eq!(body_code("{oops"), Some(PARSE_ERROR));
        assert_eq!(body_code(""), Some(PARSE_ERROR));
        assert_eq!(body_code("[]"), Some(INVALID_REQUEST));
        assert_eq!(body_code("{} x"), Some(PARSE_ERROR));
        assert_eq!(body_code("{\"id\":\"a\u{1}\"}"), Some(PARSE_ERROR));
        assert!(
            matches!(parse_body(b"[{},{}]", DEFAULT_MAX_BATCH), Ok(Body::Batch(v)) if v.len() == 2)
        );
        assert!(matches!(
            parse_body(b" {} ", DEFAULT_MAX_BATCH),
            Ok(Body::Single(_))
        ));
    }

    #[test]
    fn bodies_past_the_limits_are_refused_before_parsing() {
        let batch = |n: usize| format!("[{}]", vec!["{}"; n].join(","));
        assert!(parse_body(batch(DEFAULT_MAX_BATCH).as_bytes(), DEFAULT_MAX_BATCH).is_ok());
        let err = parse_body(batch(DEFAULT_MAX_BATCH + 1).as_bytes(), DEFAULT_MAX_BATCH)
            .err()
            .unwrap();
        assert_eq!(err.code, INVALID_REQUEST);
        assert!(
            err.message.contains("at most 20 messages (MAX_BATCH)"),
            "{}",
            err.message
        );
        // Values inside one message count, wherever they are.
        let many = format!("{{\"a\":[{}]}}", vec!["[]"; MAX_VALUES].join(","));
        let err = parse_body(many.as_bytes(), DEFAULT_MAX_BATCH)
            .err()
            .unwrap();
        assert_eq!(err.code, INVALID_REQUEST);
        assert!(
            err.message.contains("100000 JSON values"),
            "{}",
            err.message
        );
        // Strings are skipped whole: brackets, commas and escaped quotes inside count nothing.
        let text = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":"{}\"[[[,,,"}}}}"#,
            "[{".repeat(MAX_VALUES)
        );
        assert!(parse_body(text.as_bytes(), DEFAULT_MAX_BATCH).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(body_code(&deep), Some(PARSE_ERROR));
    }

    #[test]
    fn responses_echo_the_id_as_sent() {
        for id in [
            "12345678901234567890123",
            "-0",
            "1.50",
            "-2.5e+300",
            r#""a\"b\u00e9\/c""#,
        ] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            let Ok(Message::Request { id: raw_id, .. }) = classify(raw(&text)) else {
                panic!("{text} is a request")
            };
            let mut out = Vec::new();
            write_success(&mut out, raw_id, &Value::Object(Map::new()));
            let expected = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
        let mut out = Vec::new();
        write_failure(&mut out, None, &RpcError::method_not_found("x"));
        let back: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(back["id"], Value::Null);
        assert_eq!(back["error"]["code"], ErrorCode::METHOD_NOT_FOUND.0);
    }
}
