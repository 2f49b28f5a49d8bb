//! One JSON-RPC exchange: a POST body or a stdio line in, the reply (if any) out, with
//! batches, notifications and the per-method path check.

use super::version::Headers;
use super::Server;
use crate::jsonrpc::{self, Body, Message, RpcError};
use serde_json::Value;

/// Answers one body: `None` when nothing goes back (only notifications and client
/// responses: HTTP 202), else the HTTP status and the reply (an object, or an array for a
/// batch). `method_path` is the `<method>` of `/mcp/<method>`, which the body must name.
/// The methods seen are pushed onto `methods` for the log line.
pub fn exchange(
    server: &Server,
    body: &[u8],
    method_path: Option<&str>,
    headers: Headers,
    methods: &mut Vec<String>,
) -> Option<(u16, Value)> {
    match jsonrpc::parse_body(body) {
        Err(err) => Some((err.http_status, jsonrpc::failure(Value::Null, &err))),
        Ok(Body::Single(value)) => answer(server, value, method_path, headers, methods),
        Ok(Body::Batch(items)) => {
            let replies: Vec<Value> = items
                .into_iter()
                .filter_map(|item| answer(server, item, method_path, headers, methods))
                .map(|(_, reply)| reply)
                .collect();
            (!replies.is_empty()).then_some((200, Value::Array(replies)))
        }
    }
}

/// Answers one JSON-RPC message: `None` for notifications and client responses (202),
/// else the HTTP status it would get alone and the response object.
fn answer(
    server: &Server,
    value: Value,
    method_path: Option<&str>,
    headers: Headers,
    methods: &mut Vec<String>,
) -> Option<(u16, Value)> {
    let message = match jsonrpc::classify(value) {
        Ok(message) => message,
        Err(rejected) => {
            methods.push("invalid".into());
            let status = if rejected.error.http_status == 200 {
                400
            } else {
                rejected.error.http_status
            };
            return Some((status, jsonrpc::failure(rejected.id, &rejected.error)));
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
            return Some((err.http_status, jsonrpc::failure(id, &err)));
        }
    }
    Some(match server.handle(&method, &params, headers) {
        Ok(result) => (200, jsonrpc::success(id, result)),
        Err(err) => (err.http_status, jsonrpc::failure(id, &err)),
    })
}
