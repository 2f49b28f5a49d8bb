//! etcd's gateway answers read as data: JSON text to a value or to etcd's refusal, int64s
//! written as strings, keys and values in base64. No I/O and nothing else of the server but
//! `crate::runtime::base64`, so the fuzz target `fuzz/fuzz_targets/etcd_gateway.rs` compiles this
//! file as it is (with `src/runtime/base64.rs` at its root).

use crate::runtime::base64;
use serde_json::Value;

/// What one answer (a unary call's body, or one line of a watch stream) says.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// JSON that is not a refusal.
    Value(Value),
    /// etcd's error answer: the gRPC code and etcd's message.
    Refused(i64, String),
    /// Not JSON.
    NotJson,
}

/// Reads one answer's text.
pub fn read(text: &str) -> Answer {
    match serde_json::from_str(text) {
        Err(_) => Answer::NotJson,
        Ok(value) => match refusal(&value) {
            Some((code, message)) => Answer::Refused(code, message),
            None => Answer::Value(value),
        },
    }
}

/// etcd's error answer `{"error": ..., "code": n}` (also inside a watch's `result`) as its
/// gRPC code and message. etcd 3.4's gateway puts the code and message at the top
/// (`{"error": "...", "code": 14, "message": "..."}`) or, for a refusal before the call (a
/// member with no leader, on a stream), inside the error (`{"error": {"grpc_code": 14,
/// "message": "..."}}`).
pub fn refusal(answer: &Value) -> Option<(i64, String)> {
    let error = answer.get("error")?;
    let message = [&answer["message"], &error["message"], error]
        .into_iter()
        .filter_map(Value::as_str)
        .find(|message| !message.trim().is_empty())
        .unwrap_or("unknown error")
        .to_string();
    let code = match int(&answer["code"]) {
        0 => int(&error["grpc_code"]),
        code => code,
    };
    Some((code, message))
}

/// An int64 as the gateway writes it (a string, or absent for zero).
pub fn int(value: &Value) -> i64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    }
}

/// A key-value of a range or a watch event: its key as text (`None` when the key is not
/// base64 of UTF-8) and its value's bytes. A value that is absent or not base64 comes as
/// empty bytes, which no reader takes for a record (so it is refused, fail closed).
pub fn key_value(kv: &Value) -> Option<(String, Vec<u8>)> {
    let key = String::from_utf8(base64::decode(kv["key"].as_str()?)?).ok()?;
    let value = base64::decode(kv["value"].as_str().unwrap_or("")).unwrap_or_default();
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Both shapes of etcd 3.4's refusals: a member without a leader (code 14) must read as
    /// "try the next endpoint", not as an unknown error that stops the call.
    #[test]
    fn refusals_are_read_at_the_top_and_nested() {
        let top =
            r#"{"error": "etcdserver: no leader", "code": 14, "message": "etcdserver: no leader"}"#;
        let nested = r#"{"error": {"grpc_code": 14, "http_code": 503, "message": "etcdserver: no leader", "http_status": "Service Unavailable"}}"#;
        for answer in [top, nested] {
            assert_eq!(
                read(answer),
                Answer::Refused(14, "etcdserver: no leader".into()),
                "{answer}"
            );
        }
        assert_eq!(read(r#"{"kvs": []}"#), Answer::Value(json!({"kvs": []})));
        // Found by fuzzing: an empty message is no message (the error would say nothing).
        for empty in [
            r#"{"error":""}"#,
            r#"{"error":{"message":" "},"message":""}"#,
        ] {
            assert_eq!(
                read(empty),
                Answer::Refused(0, "unknown error".into()),
                "{empty}"
            );
        }
        assert_eq!(read("{\"kvs\": ["), Answer::NotJson);
    }

    #[test]
    fn int64s_and_key_values() {
        assert_eq!(int(&json!("42")), 42);
        assert_eq!(int(&json!(7)), 7);
        assert_eq!(int(&json!("x")), 0);
        assert_eq!(int(&Value::Null), 0);
        let kv = json!({"key": base64::encode(b"/p/k"), "value": base64::encode(b"{}")});
        assert_eq!(key_value(&kv), Some(("/p/k".into(), b"{}".to_vec())));
        let bad_value = json!({"key": base64::encode(b"/p/k"), "value": "%%%"});
        assert_eq!(key_value(&bad_value), Some(("/p/k".into(), Vec::new())));
        assert_eq!(key_value(&json!({"key": base64::encode(&[0xff])})), None);
        assert_eq!(key_value(&json!({"value": "e30="})), None);
    }
}
