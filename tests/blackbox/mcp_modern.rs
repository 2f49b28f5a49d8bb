//! The stateless 2026-07-28 revision: `server/discover`, `_meta` on every request,
//! `resultType`, cache hints, version and header errors, served beside the legacy era.

use crate::common::Server;
use serde_json::{json, Value};

const MODERN: &str = "2026-07-28";

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

fn modern(
    server: &Server,
    method: &str,
    mut params: Value,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    params["_meta"] = meta();
    let mut all = vec![("MCP-Protocol-Version", MODERN), ("Mcp-Method", method)];
    all.extend_from_slice(headers);
    let reply = server.rpc_with(
        "/mcp",
        &json!({"jsonrpc":"2.0","id":"m-1","method":method,"params":params}),
        &all,
    );
    (reply.status, reply.json())
}

#[test]
fn server_discover_lists_versions_capabilities_and_server_info() {
    let server = Server::mock(&[]);
    let (status, body) = modern(&server, "server/discover", json!({}), &[]);
    assert_eq!(status, 200, "{body}");
    let result = &body["result"];
    let versions: Vec<&str> = result["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        versions.contains(&MODERN) && versions.contains(&"2024-11-05"),
        "{versions:?}"
    );
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "hubspot-mcp-server"
    );
    assert!(result["capabilities"]["tools"].is_object());
    assert_eq!(result["resultType"], "complete");
}

#[test]
fn modern_results_carry_result_type_and_cache_hints() {
    let server = Server::mock(&[]);
    let (status, body) = modern(&server, "tools/list", json!({}), &[]);
    assert_eq!(status, 200);
    let result = &body["result"];
    assert_eq!(result["resultType"], "complete");
    assert!(result["ttlMs"].as_u64().is_some());
    assert!(
        matches!(result["cacheScope"].as_str(), Some("public" | "private")),
        "the spec allows only public and private: {result}"
    );
    assert!(result["tools"].as_array().unwrap().len() >= 5);
    let (_, body) = modern(
        &server,
        "tools/call",
        json!({"name":"get_deals","arguments":{"limit":1}}),
        &[("Mcp-Name", "get_deals")],
    );
    assert_eq!(body["result"]["resultType"], "complete");
    assert!(body["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("dealname"));
    assert!(
        body["result"].get("ttlMs").is_none(),
        "a tool call is not cacheable"
    );
    // The same server still answers a legacy client, without any hint fields.
    let legacy = server
        .rpc(
            "/mcp",
            &json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .json();
    assert!(legacy["result"].get("resultType").is_none());
    let init = server
        .rpc("/mcp", &json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}))
        .json();
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
}

#[test]
fn an_unsupported_version_is_400_with_32022_and_the_supported_list() {
    let server = Server::mock(&[]);
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}});
    let reply = server.rpc_with(
        "/mcp",
        &body,
        &[
            ("MCP-Protocol-Version", "2099-01-01"),
            ("Mcp-Method", "tools/list"),
        ],
    );
    assert_eq!(reply.status, 400);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], -32022);
    assert!(error["data"]["supported"]
        .as_array()
        .unwrap()
        .contains(&json!(MODERN)));
    // An unknown MCP-Protocol-Version header on a legacy request is refused too.
    let reply = server.rpc_with(
        "/mcp",
        &json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
        &[("MCP-Protocol-Version", "1999-12-31")],
    );
    assert_eq!(reply.status, 400);
}

#[test]
fn headers_that_disagree_with_the_body_are_400_with_32020() {
    let server = Server::mock(&[]);
    for (header, value) in [
        ("MCP-Protocol-Version", "2025-06-18"),
        ("Mcp-Method", "prompts/list"),
    ] {
        let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta": meta()}});
        let reply = server.rpc_with("/mcp", &body, &[(header, value)]);
        assert_eq!(reply.status, 400, "{header}");
        assert_eq!(reply.json()["error"]["code"], -32020, "{header}");
    }
    for name in [
        Some("get_contacts"),
        None,
        Some("=?base64?bm90IGJhc2U2NA?="),
    ] {
        let headers: Vec<(&str, &str)> = name.iter().map(|n| ("Mcp-Name", *n)).collect();
        let (status, body) = modern(&server, "tools/call", json!({"name":"get_deals"}), &headers);
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!(-32020)),
            "Mcp-Name {name:?}"
        );
    }
    // Over HTTP the protocol headers are required on a modern request.
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta": meta()}});
    let reply = server.rpc("/mcp", &body);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["code"], -32020);
    // A name outside the header-safe set comes base64-encoded and is decoded.
    let (status, body) = modern(
        &server,
        "tools/call",
        json!({"name":"get_deals","arguments":{"limit":1}}),
        &[("Mcp-Name", "=?base64?Z2V0X2RlYWxz?=")],
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_modern_request_without_client_capabilities_is_400_with_32602() {
    let server = Server::mock(&[]);
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":MODERN}}});
    let reply = server.rpc_with(
        "/mcp",
        &body,
        &[
            ("MCP-Protocol-Version", MODERN),
            ("Mcp-Method", "tools/list"),
        ],
    );
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["code"], -32602);
}

#[test]
fn modern_method_not_found_is_http_404() {
    let server = Server::mock(&[]);
    let (status, body) = modern(&server, "tools/teleport", json!({}), &[]);
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], -32601);
}
