//! One JSON-RPC exchange: a POST body or a stdio line in, the reply (if any) out, with
//! batches, notifications and the per-method path check.

use super::version::Headers;
use super::Server;
use crate::jsonrpc::{self, Body, Message, RpcError};
use serde_json::value::RawValue;
use serde_json::Value;

/// The most bytes of replies one batch collects. Each message of a batch is answered
/// in turn; once the replies pass this, the messages left are not run and each gets a
/// [`jsonrpc::BATCH_REPLY_FULL`] error saying to send it again (alone or in a smaller
/// batch). So a batch costs at most this plus one reply, whatever it asks for.
pub const MAX_BATCH_REPLY_BYTES: usize = 4 << 20;

/// Answers one body: `None` when nothing goes back (only notifications and client
/// responses: HTTP 202), else the HTTP status and the reply as JSON text (an object, or an
/// array for a batch). `method_path` is the `<method>` of `/mcp/<method>`, which the body
/// must name. The methods seen are pushed onto `methods` for the log line.
///
/// The reply comes back serialized so that static results (see [`Server::prebuilt`]) are
/// copied as bytes instead of being cloned and serialized again on every request, and
/// ids are echoed as the client wrote them.
pub fn exchange(
    server: &Server,
    body: &[u8],
    method_path: Option<&str>,
    headers: Headers,
    methods: &mut Vec<String>,
) -> Option<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let status = match jsonrpc::parse_body(body) {
        Err(err) => {
            jsonrpc::write_failure(&mut out, None, &err);
            err.http_status
        }
        Ok(Body::Single(raw)) => answer(server, raw, method_path, headers, methods, &mut out)?,
        Ok(Body::Batch(items)) => {
            out.push(b'[');
            for item in items {
                let mark = out.len();
                if mark > 1 {
                    out.push(b',');
                }
                let answered = if mark > MAX_BATCH_REPLY_BYTES {
                    refuse_unrun(item, methods, &mut out)
                } else {
                    answer(server, item, method_path, headers, methods, &mut out)
                };
                if answered.is_none() {
                    out.truncate(mark);
                }
            }
            if out.len() == 1 {
                return None;
            }
            out.push(b']');
            200
        }
    };
    Some((status, out))
}

/// A message of a batch whose replies are already past [`MAX_BATCH_REPLY_BYTES`]: a
/// request gets an error saying it was not run; anything else is left unanswered.
fn refuse_unrun(raw: &RawValue, methods: &mut Vec<String>, out: &mut Vec<u8>) -> Option<u16> {
    let Ok(Message::Request { id, method, .. }) = jsonrpc::classify(raw) else {
        return None;
    };
    methods.push(method);
    let err = RpcError::new(
        jsonrpc::BATCH_REPLY_FULL,
        format!(
            "Not run: this batch's replies passed {MAX_BATCH_REPLY_BYTES} bytes, the most one batch reply holds; send this request again, alone or in a smaller batch"
        ),
    );
    jsonrpc::write_failure(out, Some(id), &err);
    Some(200)
}

/// Answers one JSON-RPC message onto `out`: `None` (nothing written) for notifications
/// and client responses (202), else the HTTP status it would get alone.
fn answer(
    server: &Server,
    raw: &RawValue,
    method_path: Option<&str>,
    headers: Headers,
    methods: &mut Vec<String>,
    out: &mut Vec<u8>,
) -> Option<u16> {
    let message = match jsonrpc::classify(raw) {
        Ok(message) => message,
        Err(rejected) => {
            methods.push("invalid".into());
            jsonrpc::write_failure(out, rejected.id, &rejected.error);
            return Some(if rejected.error.http_status == 200 {
                400
            } else {
                rejected.error.http_status
            });
        }
    };
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (id, method, params),
        Message::Notification { method } => {
            methods.push(method);
            return None;
        }
        Message::Response => return None,
    };
    methods.push(match params.get("name").and_then(Value::as_str) {
        Some(name) if method == "tools/call" => format!("{method}:{name}"),
        _ => method.clone(),
    });
    if let Some(path) = method_path {
        if path != method {
            let err = RpcError::invalid_request(format!(
                "the body's method '{method}' does not match the path /mcp/{path}; POST it to /mcp/{method} or /mcp"
            ))
            .with_status(400);
            jsonrpc::write_failure(out, Some(id), &err);
            return Some(err.http_status);
        }
    }
    if let Some(result) = server.prebuilt(&method, &params, headers) {
        jsonrpc::write_success_text(out, id, result);
        return Some(200);
    }
    Some(match server.handle(&method, &params, headers) {
        Ok(result) => {
            jsonrpc::write_success(out, id, &result);
            200
        }
        Err(err) => {
            jsonrpc::write_failure(out, Some(id), &err);
            err.http_status
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::discovery::ToolExposure;
    use crate::hubspot::{pool::BlockingPool, Client};
    use crate::mcp::Exposure;
    use serde_json::json;
    use std::sync::Arc;
    use std::time::Duration;

    /// What the reply would be without the prebuilt path: handle() and serialize.
    fn by_value(server: &Server, id: i64, params: Value, headers: Headers) -> Value {
        let params = params.as_object().cloned().unwrap_or_default();
        let result = server.handle("tools/list", &params, headers).unwrap();
        json!({"jsonrpc": "2.0", "id": id, "result": result})
    }

    #[test]
    fn prebuilt_tools_list_is_byte_identical_to_the_value_path() {
        let pool = Arc::new(BlockingPool::new(1, 1));
        let client = Client::new("http://127.0.0.1:9", "t", Duration::from_secs(1), pool);
        let exposures = [
            Exposure::all(ToolExposure::All),
            Exposure::all(ToolExposure::Discovery),
            Exposure::new(ToolExposure::All, |tool| tool.name == "get_contacts"),
        ];
        for exposure in &exposures {
            same_bytes_both_ways(&Server {
                exposure,
                client: &client,
            });
        }
    }

    fn same_bytes_both_ways(server: &Server) {
        let modern = json!({"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        }});
        // Plain (no header, 2024-11-05), structured (2025-06-18) and modern first pages.
        for (params, version) in [
            (json!({}), None),
            (json!({}), Some("2024-11-05")),
            (json!({}), Some("2025-06-18")),
            (modern.clone(), None),
        ] {
            let headers = Headers {
                protocol_version: version,
                ..Headers::default()
            };
            let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": params});
            let (status, bytes) = exchange(
                server,
                body.to_string().as_bytes(),
                None,
                headers,
                &mut Vec::new(),
            )
            .unwrap();
            assert_eq!(status, 200);
            let expected = serde_json::to_vec(&by_value(server, 7, params, headers)).unwrap();
            assert_eq!(String::from_utf8(bytes), String::from_utf8(expected));
        }
        // A batch: replies joined in order, notifications leave no trace.
        let batch = json!([
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": modern},
        ]);
        let (_, bytes) = exchange(
            server,
            batch.to_string().as_bytes(),
            None,
            Headers::default(),
            &mut Vec::new(),
        )
        .unwrap();
        let expected = json!([
            by_value(server, 1, json!({}), Headers::default()),
            by_value(server, 2, modern, Headers::default())
        ]);
        assert_eq!(bytes, serde_json::to_vec(&expected).unwrap());
        let only_notes = br#"[{"jsonrpc":"2.0","method":"notifications/initialized"}]"#;
        assert!(exchange(
            server,
            only_notes,
            None,
            Headers::default(),
            &mut Vec::new()
        )
        .is_none());
    }
}
