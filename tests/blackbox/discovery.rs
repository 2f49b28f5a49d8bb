//! Discovery mode over HTTP: `TOOL_EXPOSURE=discovery` and a scoped server's
//! `config.tool_exposure` list only `search_tools`, `get_tool_schema` and `call_tool`, which
//! reach exactly the tools the server exposes, in both protocol eras.

use crate::common::ADMIN;
use crate::common::{temp_dir, tool_text, Server};
use serde_json::{json, Value};

const META: [&str; 3] = ["search_tools", "get_tool_schema", "call_tool"];
const MODERN: &str = "2026-07-28";
/// A contact email in the fixtures: creating it again is HubSpot's 409.
const TAKEN_EMAIL: &str = "priya.raman@northwind-analytics.example";

fn discovery_server() -> Server {
    Server::mock(&[("TOOL_EXPOSURE", "discovery")])
}

/// A JSON-RPC request on `path` in the legacy shape (no `_meta`), or the 2026-07-28 shape
/// (`_meta` with version and capabilities, and the `MCP-Protocol-Version`, `Mcp-Method` and
/// `Mcp-Name` headers): the same answers either way.
#[derive(Clone, Copy, Debug)]
enum Era {
    Legacy,
    Modern,
}

const ERAS: [Era; 2] = [Era::Legacy, Era::Modern];

fn rpc(server: &Server, era: Era, path: &str, method: &str, mut params: Value) -> Value {
    let name = params["name"].as_str().unwrap_or_default().to_string();
    let mut headers = vec![];
    if let Era::Modern = era {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {}
        });
        headers.push(("MCP-Protocol-Version", MODERN));
        headers.push(("Mcp-Method", method));
        if method == "tools/call" {
            headers.push(("Mcp-Name", name.as_str()));
        }
    }
    let reply = server.rpc_with(
        path,
        &json!({"jsonrpc":"2.0","id":7,"method":method,"params":params}),
        &headers,
    );
    let body = reply.json();
    if let Era::Modern = era {
        if body.get("result").is_some() {
            assert_eq!(body["result"]["resultType"], "complete", "{body}");
        }
    }
    body
}

fn list_tools(server: &Server, era: Era, path: &str) -> Vec<Value> {
    let body = rpc(server, era, path, "tools/list", json!({}));
    body["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .clone()
}

fn call(server: &Server, era: Era, path: &str, name: &str, arguments: Value) -> Value {
    rpc(
        server,
        era,
        path,
        "tools/call",
        json!({"name": name, "arguments": arguments}),
    )
}

/// A result's text parsed as JSON.
fn text_json(response: &Value) -> Value {
    let text = tool_text(response);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {response}"))
}

/// `search_tools` with `arguments`; returns the found tools' names and the whole answer.
fn search(server: &Server, era: Era, path: &str, arguments: Value) -> (Vec<String>, Value) {
    let response = call(server, era, path, "search_tools", arguments);
    assert!(response["result"]["isError"].is_null(), "{response}");
    let found = text_json(&response);
    let names = found["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    (names, found)
}

/// The message of a -32602 error, without its "Invalid params: " prefix.
fn error_message(response: &Value) -> String {
    assert_eq!(response["error"]["code"], -32602, "{response}");
    let message = response["error"]["message"].as_str().unwrap();
    message
        .strip_prefix("Invalid params: ")
        .unwrap_or(message)
        .to_string()
}

/// A tool result without the per-request `correlationId` HubSpot puts in errors.
fn without_correlation_id(result: &Value) -> String {
    let text = result.to_string();
    match text.find("[correlationId:") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[test]
fn tools_list_shows_exactly_the_three_meta_tools_with_full_metadata() {
    let server = discovery_server();
    for era in ERAS {
        let tools = list_tools(&server, era, "/mcp");
        let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, META, "{era:?}");
        for tool in &tools {
            assert!(tool["title"].as_str().is_some_and(|t| !t.is_empty()));
            assert!(tool["description"].as_str().unwrap().len() > 80, "{tool}");
            assert_eq!(tool["inputSchema"]["type"], "object");
            let hints = &tool["annotations"];
            for hint in [
                "readOnlyHint",
                "destructiveHint",
                "idempotentHint",
                "openWorldHint",
            ] {
                assert!(hints[hint].is_boolean(), "{hint} in {tool}");
            }
            assert!(tool["_meta"]["method"].is_string(), "{tool}");
            assert_eq!(tool["_meta"]["tags"], json!(["discovery"]));
        }
        assert_eq!(tools[0]["annotations"]["readOnlyHint"], true);
        // The default server exposes create_contact: call_tool may write.
        assert_eq!(tools[2]["annotations"]["readOnlyHint"], false);
        assert_eq!(tools[2]["inputSchema"]["required"], json!(["name"]));
    }
    // The per-method path serves the same list.
    let tools = list_tools(&server, Era::Legacy, "/mcp/tools/list");
    assert_eq!(tools.len(), 3);
}

#[test]
fn search_finds_tools_by_words_method_and_tag() {
    let server = discovery_server();
    for era in ERAS {
        let (names, found) = search(&server, era, "/mcp", json!({"query": "create a contact"}));
        assert_eq!(names[0], "create_contact", "{found}");
        let first = &found["tools"][0];
        assert_eq!(first["method"], "create");
        assert_eq!(first["tags"], json!(["contacts"]));
        assert_eq!(first["readOnly"], false);
        assert_eq!(first["title"], "Create a contact");
        assert_eq!(first["description"], "Create a new contact in HubSpot");

        let (names, found) = search(&server, era, "/mcp", json!({"method": "list", "limit": 50}));
        for seed in ["get_contacts", "get_companies", "get_deals"] {
            assert!(names.contains(&seed.to_string()), "{seed}: {found}");
        }
        assert!(found["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["method"] == "list"));

        let (names, found) = search(
            &server,
            era,
            "/mcp",
            json!({"tag": "contacts", "limit": 50}),
        );
        for seed in ["get_contacts", "create_contact", "search_contacts"] {
            assert!(names.contains(&seed.to_string()), "{seed}: {found}");
        }
        assert!(!names.contains(&"get_deals".to_string()), "{found}");

        let (names, found) = search(&server, era, "/mcp", json!({"query": "deals"}));
        assert!(names.contains(&"get_deals".to_string()), "{found}");
        assert!(!names.contains(&"create_contact".to_string()), "{found}");

        let (names, found) = search(&server, era, "/mcp", json!({"limit": 1}));
        assert_eq!(names.len(), 1, "the limit bounds the answer: {found}");
        assert!(found["total"].as_u64().unwrap() >= 5);
        assert!(found["note"].as_str().unwrap().contains("more tools match"));

        let (names, found) = search(&server, era, "/mcp", json!({"query": "xylophone"}));
        assert!(names.is_empty());
        assert_eq!(found["total"], 0);
    }
}

#[test]
fn search_arguments_are_checked_against_its_schema() {
    let server = discovery_server();
    let too_many = call(
        &server,
        Era::Legacy,
        "/mcp",
        "search_tools",
        json!({"limit": 500}),
    );
    assert!(error_message(&too_many).contains("'limit' must be at most 50"));
    let bad_method = call(
        &server,
        Era::Legacy,
        "/mcp",
        "search_tools",
        json!({"method": "download"}),
    );
    let message = error_message(&bad_method);
    assert!(
        message.contains("'method' must be one of") && message.contains("\"list\""),
        "{message}"
    );
}

#[test]
fn get_tool_schema_returns_the_definition_tools_list_shows_elsewhere() {
    let plain = Server::mock(&[]);
    let server = discovery_server();
    for era in ERAS {
        let listed = list_tools(&plain, era, "/mcp");
        for name in ["get_contacts", "create_contact", "search_contacts"] {
            let response = call(
                &server,
                era,
                "/mcp",
                "get_tool_schema",
                json!({"name": name}),
            );
            let definition = text_json(&response);
            let expected = listed.iter().find(|t| t["name"] == name).unwrap();
            assert_eq!(&definition, expected, "{era:?} {name}");
        }
    }
}

#[test]
fn call_tool_gives_the_same_result_as_a_direct_call() {
    let server = discovery_server();
    for era in ERAS {
        let args = json!({"limit": 2, "properties": ["email"]});
        let direct = call(&server, era, "/mcp", "get_contacts", args.clone());
        assert!(tool_text(&direct).contains("results"), "{direct}");
        let via = call(
            &server,
            era,
            "/mcp",
            "call_tool",
            json!({"name": "get_contacts", "arguments": args}),
        );
        assert_eq!(via["result"], direct["result"], "{era:?}");

        // A HubSpot error is the same isError result both ways.
        let args = json!({"email": TAKEN_EMAIL});
        let direct = call(&server, era, "/mcp", "create_contact", args.clone());
        assert_eq!(direct["result"]["isError"], true, "{direct}");
        assert!(tool_text(&direct).contains("409"), "{direct}");
        let via = call(
            &server,
            era,
            "/mcp",
            "call_tool",
            json!({"name": "create_contact", "arguments": args}),
        );
        assert_eq!(via["result"]["isError"], true, "{via}");
        assert_eq!(
            without_correlation_id(&via["result"]),
            without_correlation_id(&direct["result"])
        );

        // Bad arguments are refused with the direct call's message.
        let args = json!({"limit": "ten"});
        let direct = error_message(&call(&server, era, "/mcp", "get_deals", args.clone()));
        let via = error_message(&call(
            &server,
            era,
            "/mcp",
            "call_tool",
            json!({"name": "get_deals", "arguments": args}),
        ));
        assert_eq!(via, direct);
        assert!(via.contains("'limit' must be a number"), "{via}");
    }
}

#[test]
fn unknown_tools_and_malformed_meta_calls_are_clear_errors() {
    let server = discovery_server();
    for era in ERAS {
        for meta in ["call_tool", "get_tool_schema"] {
            let message = error_message(&call(
                &server,
                era,
                "/mcp",
                meta,
                json!({"name": "send_fax"}),
            ));
            assert_eq!(
                message,
                "Unknown tool: 'send_fax'; call search_tools to find this server's tools"
            );
        }
        let message = error_message(&call(&server, era, "/mcp", "send_fax", json!({})));
        assert!(message.contains("call search_tools"), "{message}");
        let message = error_message(&call(&server, era, "/mcp", "call_tool", json!({})));
        assert_eq!(message, "call_tool: missing required argument 'name'");
        let message = error_message(&call(
            &server,
            era,
            "/mcp",
            "call_tool",
            json!({"name": "get_deals", "arguments": "{\"limit\": 1}"}),
        ));
        assert_eq!(
            message,
            "call_tool: argument 'arguments' must be an object, got a string"
        );
    }
    // Without discovery mode the meta-tools do not exist.
    let plain = Server::mock(&[]);
    let message = error_message(&plain.call_tool("search_tools", json!({})));
    assert!(
        message.starts_with("Unknown tool: 'search_tools'"),
        "{message}"
    );
}

#[test]
fn a_bad_tool_exposure_stops_start_up_with_exit_2() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
        .env_clear()
        .env("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "pat-x")
        .env("TOOL_EXPOSURE", "minimal")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("TOOL_EXPOSURE=minimal is not valid: expected all or discovery"),
        "{stderr}"
    );
}

#[test]
fn stdio_follows_tool_exposure_too() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
        .args(["stdio", "--mock", &crate::common::fixtures()])
        .env_clear()
        .env("TOOL_EXPOSURE", "discovery")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in [
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"call_tool","arguments":{"name":"get_deals","arguments":{"limit":1}}}}),
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let replies: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = replies[0]["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, META);
    assert_eq!(
        text_json(&replies[1])["results"].as_array().unwrap().len(),
        1
    );
}

// --- Scoped servers ----------------------------------------------------------------------

fn admin_server() -> (Server, std::path::PathBuf) {
    let dir = temp_dir("discovery");
    let server = Server::start(
        &["serve"],
        &[
            ("HUBSPOT_MOCK", crate::common::fixtures()),
            ("ADMIN_API_TOKEN", ADMIN.into()),
            ("MCP_API_KEYS", crate::common::API_KEY.into()),
            ("DATA_DIR", dir.display().to_string()),
        ],
        "listening on http://",
    );
    (server, dir)
}

fn admin(server: &Server, method: &str, path: &str, body: Value) -> (u16, Value) {
    server.admin(ADMIN, method, path, Some(&body))
}

/// The start-up account's id and a server minted for it with `config`.
fn mint(server: &Server, config: Value) -> (String, Value) {
    let list = server
        .request(
            "GET",
            "/integrated-account",
            &[("Authorization", &format!("Bearer {ADMIN}"))],
            b"",
        )
        .json();
    let account = list["result"][0]["id"].as_str().unwrap().to_string();
    let (status, created) = admin(
        server,
        "POST",
        &format!("/integrated-account/{account}/mcp"),
        json!({"name": "discovery", "config": config}),
    );
    assert_eq!(status, 201, "{created}");
    (account, created)
}

#[test]
fn a_scoped_discovery_server_never_reveals_or_runs_tools_outside_its_filter() {
    let (server, _dir) = admin_server();
    let config = json!({"tool_exposure": "discovery", "methods": ["read"], "tags": ["contacts"]});
    let (_, created) = mint(&server, config.clone());
    assert_eq!(created["config"], config);
    let path = format!("/mcp/{}", created["token"].as_str().unwrap());
    for era in ERAS {
        let tools = list_tools(&server, era, &path);
        let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, META);
        // Only read tools are reachable, so call_tool only reads; the search offers only
        // the exposed methods and tags.
        assert_eq!(tools[2]["annotations"]["readOnlyHint"], true);
        let props = &tools[0]["inputSchema"]["properties"];
        assert_eq!(props["tag"]["enum"], json!(["contacts"]));
        assert!(!props["method"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "create"));

        for query in [json!({"limit": 50}), json!({"query": "create contact"})] {
            let (names, found) = search(&server, era, &path, query);
            assert!(!names.contains(&"create_contact".to_string()), "{found}");
            for tool in found["tools"].as_array().unwrap() {
                assert!(
                    matches!(tool["method"].as_str(), Some("get" | "list")),
                    "{tool}"
                );
                assert!(tool["tags"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("contacts")));
            }
        }
        let (names, _) = search(&server, era, &path, json!({"limit": 50}));
        assert!(names.contains(&"get_contacts".to_string()));

        let refusal = "tool not available on this server: 'create_contact'";
        let args = json!({"email": "new.person@example.com"});
        let direct = error_message(&call(&server, era, &path, "create_contact", args.clone()));
        assert_eq!(direct, refusal);
        let via = error_message(&call(
            &server,
            era,
            &path,
            "call_tool",
            json!({"name": "create_contact", "arguments": args}),
        ));
        assert_eq!(via, refusal);
        let schema = error_message(&call(
            &server,
            era,
            &path,
            "get_tool_schema",
            json!({"name": "get_deals"}),
        ));
        assert_eq!(schema, "tool not available on this server: 'get_deals'");

        let via = call(
            &server,
            era,
            &path,
            "call_tool",
            json!({"name": "get_contacts", "arguments": {"limit": 1}}),
        );
        assert_eq!(text_json(&via)["results"].as_array().unwrap().len(), 1);
    }
    // Nothing was created behind the refusals.
    let found = server.call_tool_with(
        "search_contacts",
        json!({"query": "new.person@example.com"}),
        &[crate::common::API_KEY_AUTH],
    );
    assert_eq!(text_json(&found)["total"], 0, "{found}");
}

#[test]
fn tool_exposure_is_validated_stored_shown_and_changed_by_patch() {
    let (server, _dir) = admin_server();
    let (account, created) = mint(&server, json!({"tags": ["deals"]}));
    let id = created["id"].as_str().unwrap();
    let path = format!("/mcp/{}", created["token"].as_str().unwrap());
    let names = |tools: Vec<Value>| -> Vec<String> {
        tools
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(names(list_tools(&server, Era::Legacy, &path)).contains(&"get_deals".to_string()));

    for bad in [json!("minimal"), json!(true), json!(["discovery"])] {
        let (status, body) = admin(
            &server,
            "POST",
            &format!("/integrated-account/{account}/mcp"),
            json!({"name": "bad", "config": {"tool_exposure": bad}}),
        );
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body["message"],
            format!("config.tool_exposure must be all or discovery, got {bad}")
        );
        let (status, body) = admin(
            &server,
            "PATCH",
            &format!("/integrated-account/{account}/mcp/{id}"),
            json!({"config": {"tags": ["deals"], "tool_exposure": bad}}),
        );
        assert_eq!(status, 400, "{body}");
    }
    // The refused PATCH changed nothing.
    assert!(names(list_tools(&server, Era::Legacy, &path)).contains(&"get_deals".to_string()));

    let config = json!({"tags": ["deals"], "tool_exposure": "discovery"});
    let (status, patched) = admin(
        &server,
        "PATCH",
        &format!("/integrated-account/{account}/mcp/{id}"),
        json!({ "config": config }),
    );
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["config"], config);
    let (status, got) = admin(
        &server,
        "GET",
        &format!("/integrated-account/{account}/mcp/{id}"),
        Value::Null,
    );
    assert_eq!(status, 200);
    assert_eq!(got["config"], config);
    for era in ERAS {
        assert_eq!(names(list_tools(&server, era, &path)), META);
        let (found, _) = search(&server, era, &path, json!({"limit": 50}));
        assert!(found.contains(&"get_deals".to_string()), "{found:?}");
        assert!(!found.contains(&"get_contacts".to_string()), "{found:?}");
    }

    let (status, _) = admin(
        &server,
        "PATCH",
        &format!("/integrated-account/{account}/mcp/{id}"),
        json!({"config": {"tags": ["deals"], "tool_exposure": "all"}}),
    );
    assert_eq!(status, 200);
    assert!(names(list_tools(&server, Era::Legacy, &path)).contains(&"get_deals".to_string()));
}
