//! The JSON-RPC layer under arbitrary bodies, as the exchange drives it: the byte scan and
//! parse of a body (`parse_body`), each message's check (`classify`), and the replies built
//! from them. No panic; a batch holds 1 to `max_batch` messages; every reply, and the batch
//! of them, is JSON whose id is the one sent, byte for byte. The first byte picks
//! `max_batch` (1 to 32); the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use serde_json::{json, Value};

#[path = "../../src/mcp/jsonrpc.rs"]
#[allow(dead_code)]
mod jsonrpc;

use jsonrpc::{Body, Message, RpcError};

/// The reply the exchange would write for `raw`: a result for a request, an error for a
/// rejected message, nothing for a notification or a response.
fn reply(raw: &RawValue) -> Option<(Vec<u8>, Option<String>)> {
    let mut out = Vec::new();
    let id = match jsonrpc::classify(raw) {
        Ok(Message::Request { id, method, params }) => {
            jsonrpc::write_success(&mut out, id, &json!({"method": method, "params": params}));
            Some(id.get().to_string())
        }
        Ok(Message::Notification { .. } | Message::Response) => return None,
        Err(rejected) => {
            jsonrpc::write_failure(&mut out, rejected.id, &rejected.error);
            rejected.id.map(|id| id.get().to_string())
        }
    };
    Some((out, id))
}

/// Checks one reply: JSON, and its id the one sent (`null` when none could be read).
fn check(reply: &[u8], id: &Option<String>) {
    let value: Value = serde_json::from_slice(reply).expect("a reply is JSON");
    let echoed: Box<RawValue> = {
        let raw: std::collections::BTreeMap<String, Box<RawValue>> =
            serde_json::from_slice(reply).expect("a reply is an object");
        raw.get("id").expect("a reply has an id").clone()
    };
    assert_eq!(echoed.get(), id.as_deref().unwrap_or("null"), "{value}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let max_batch = usize::from(first % 32) + 1;
    let messages = match jsonrpc::parse_body(body, max_batch) {
        Ok(Body::Single(raw)) => vec![raw],
        Ok(Body::Batch(items)) => {
            assert!(!items.is_empty() && items.len() <= max_batch);
            items
        }
        Err(RpcError { .. }) => return,
    };
    let mut batch = Vec::new();
    for raw in messages {
        if let Some((out, id)) = reply(raw) {
            check(&out, &id);
            batch.push(String::from_utf8(out).expect("a reply is UTF-8"));
        }
    }
    let joined = format!("[{}]", batch.join(","));
    serde_json::from_str::<Value>(&joined).expect("the batch of replies is JSON");
});
