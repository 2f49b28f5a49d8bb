//! Each JSON-RPC error code is produced by an input that should produce it, batches are
//! answered as arrays, ids are echoed exactly.

mod common;
use common::Server;
use serde_json::{json, Value};

fn post_raw(server: &Server, path: &str, body: &str) -> (u16, Value) {
    let reply = server.request(
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    (reply.status, reply.json())
}

#[test]
fn parse_error_is_32700() {
    let server = Server::mock(&[]);
    let (status, body) = post_raw(&server, "/mcp", r#"{"jsonrpc":"2.0","id":1,"method":"#);
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32700);
    assert_eq!(body["id"], Value::Null);
    let (_, body) = post_raw(&server, "/mcp", "");
    assert_eq!(body["error"]["code"], -32700);
}

#[test]
fn invalid_requests_are_32600() {
    let server = Server::mock(&[]);
    for bad in [
        r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        r#"{"id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":42}"#,
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#""just a string""#,
        "[]",
    ] {
        let (status, body) = post_raw(&server, "/mcp", bad);
        assert_eq!(body["error"]["code"], -32600, "{bad}: {body}");
        assert_eq!(status, 400, "{bad}");
    }
    let (_, body) = post_raw(
        &server,
        "/mcp",
        r#"{"jsonrpc":"1.0","id":"keep-me","method":"ping"}"#,
    );
    assert_eq!(body["id"], "keep-me");
    // A body whose method disagrees with its path.
    let (status, body) = post_raw(
        &server,
        "/mcp/tools/list",
        r#"{"jsonrpc":"2.0","id":1,"method":"prompts/list"}"#,
    );
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!(-32600))
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/mcp/tools/list"));
}

#[test]
fn unknown_method_is_32601_and_bad_params_are_32602() {
    let server = Server::mock(&[]);
    let (status, body) = post_raw(
        &server,
        "/mcp",
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/destroy"}"#,
    );
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (200, json!(-32601))
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("tools/destroy"));
    for (params, needle) in [
        (json!({"name":"no_such_tool"}), "no_such_tool"),
        (json!({"name":"create_contact","arguments":{}}), "'email'"),
        (
            json!({"name":"get_contacts","arguments":{"limit":"ten"}}),
            "'limit'",
        ),
        (
            json!({"name":"get_contacts","arguments":{"limit":1000}}),
            "'limit'",
        ),
        (
            json!({"name":"get_contacts","arguments":{"properties":"email"}}),
            "'properties'",
        ),
        (
            json!({"name":"search_contacts","arguments":{"query":"a","colour":"red"}}),
            "'colour'",
        ),
        (
            json!({"name":"create_contact","arguments":{"email":"not-an-email"}}),
            "'email'",
        ),
        (json!({"arguments":{}}), "'name'"),
    ] {
        let body =
            json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":params}).to_string();
        let (_, reply) = post_raw(&server, "/mcp", &body);
        assert_eq!(reply["error"]["code"], -32602, "{params}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{message} should name {needle}");
    }
    let (_, reply) = post_raw(
        &server,
        "/mcp",
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"hubspot://unicorns"}}"#,
    );
    assert_eq!(reply["error"]["code"], -32002);
    let (_, reply) = post_raw(
        &server,
        "/mcp",
        r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"nope"}}"#,
    );
    assert_eq!(reply["error"]["code"], -32602);
}

#[test]
fn batches_are_answered_as_arrays_with_ids_echoed() {
    let server = Server::mock(&[]);
    let batch = r#"[
        {"jsonrpc":"2.0","id":"a","method":"ping"},
        {"jsonrpc":"2.0","method":"notifications/initialized"},
        {"jsonrpc":"2.0","id":2,"method":"nope"},
        {"jsonrpc":"2.0","id":3.5,"method":"tools/list"},
        {"foo":"bar"}
    ]"#;
    let (status, body) = post_raw(&server, "/mcp", batch);
    assert_eq!(status, 200);
    let replies = body.as_array().unwrap();
    assert_eq!(replies.len(), 4, "the notification gets no reply: {body}");
    assert_eq!(replies[0]["id"], "a");
    assert_eq!(replies[0]["result"], json!({}));
    assert_eq!(
        (
            replies[1]["id"].clone(),
            replies[1]["error"]["code"].clone()
        ),
        (json!(2), json!(-32601))
    );
    assert_eq!(replies[2]["id"], json!(3.5));
    assert!(replies[2]["result"]["tools"].is_array());
    assert_eq!(replies[3]["error"]["code"], -32600);
    // Only notifications and client responses: 202 with no body.
    let reply = server.request(
        "POST",
        "/mcp",
        &[("Content-Type", "application/json")],
        br#"[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":9,"result":{}}]"#,
    );
    assert_eq!(reply.status, 202);
    assert!(reply.body.is_empty());
}
