//! Every request example of the server's first specification gets a response of the
//! specified shape, over HTTP,
//! against the embedded mock HubSpot.

use crate::common::{tool_text, Server};
use serde_json::{json, Value};

fn rpc(server: &Server, path: &str, id: Value, method: &str, params: Value) -> Value {
    let reply = server.rpc(
        path,
        &json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], id, "ids are echoed exactly");
    body
}

#[test]
fn initialize_returns_the_seed_result_exactly() {
    let server = Server::mock(&[]);
    let params = json!({"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"your-client","version":"1.0.0"}});
    let body = rpc(&server, "/mcp/initialize", json!(1), "initialize", params);
    assert_eq!(
        body["result"],
        json!({
            "protocolVersion": "2024-11-05",
            "capabilities": {
                "tools": { "listChanged": true },
                "resources": { "listChanged": true },
                "prompts": { "listChanged": true }
            },
            "serverInfo": { "name": "hubspot-mcp-server", "version": "1.0.0" },
            "instructions": "HubSpot MCP Server - Access to CRM contacts, companies, and deals data"
        })
    );
    // The first specification's quick-start call has empty params: the newest legacy version is offered.
    let body = rpc(
        &server,
        "/mcp/initialize",
        json!(1),
        "initialize",
        json!({}),
    );
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let body = rpc(
            &server,
            "/mcp",
            json!("s"),
            "initialize",
            json!({"protocolVersion": version}),
        );
        assert_eq!(body["result"]["protocolVersion"], version);
    }
}

#[test]
fn tools_list_has_the_seed_tools_with_exact_names_descriptions_and_schemas() {
    let server = Server::mock(&[]);
    let body = rpc(
        &server,
        "/mcp/tools/list",
        json!(2),
        "tools/list",
        json!({}),
    );
    let tools = body["result"]["tools"].as_array().unwrap();
    let seed: Value = json!([
        {"name":"get_contacts","description":"Retrieve HubSpot contacts with optional filtering","inputSchema":{"type":"object","properties":{"limit":{"type":"number","description":"Maximum number of contacts to retrieve","default":10},"properties":{"type":"array","items":{"type":"string"},"description":"Contact properties to include"}}}},
        {"name":"get_companies","description":"Retrieve HubSpot companies with optional filtering","inputSchema":{"type":"object","properties":{"limit":{"type":"number","description":"Maximum number of companies to retrieve","default":10},"properties":{"type":"array","items":{"type":"string"},"description":"Company properties to include"}}}},
        {"name":"get_deals","description":"Retrieve HubSpot deals with optional filtering","inputSchema":{"type":"object","properties":{"limit":{"type":"number","description":"Maximum number of deals to retrieve","default":10},"properties":{"type":"array","items":{"type":"string"},"description":"Deal properties to include"}}}},
        {"name":"create_contact","description":"Create a new contact in HubSpot","inputSchema":{"type":"object","properties":{"firstname":{"type":"string","description":"Contact first name"},"lastname":{"type":"string","description":"Contact last name"},"email":{"type":"string","description":"Contact email address"},"company":{"type":"string","description":"Contact company name"}},"required":["email"]}},
        {"name":"search_contacts","description":"Search HubSpot contacts by query","inputSchema":{"type":"object","properties":{"query":{"type":"string","description":"Search query string"},"properties":{"type":"array","items":{"type":"string"},"description":"Contact properties to include"}},"required":["query"]}}
    ]);
    for expected in seed.as_array().unwrap() {
        let name = expected["name"].as_str().unwrap();
        let tool = tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} is listed"));
        assert_eq!(tool["description"], expected["description"], "{name}");
        // The first schema exactly, plus (list tools only) an optional `after` cursor.
        let mut schema = tool["inputSchema"].clone();
        if name.starts_with("get_") {
            let after = schema["properties"]
                .as_object_mut()
                .unwrap()
                .remove("after");
            assert_eq!(after.unwrap()["type"], "string", "{name}");
        }
        assert_eq!(schema, expected["inputSchema"], "{name}");
    }
}

/// A model pages a seed list tool with the cursor the tool itself returned.
#[test]
fn seed_list_tools_page_with_after() {
    let server = Server::mock(&[]);
    for name in ["get_contacts", "get_companies", "get_deals"] {
        let call = |arguments: Value| {
            let params = json!({"name": name, "arguments": arguments});
            let body = rpc(&server, "/mcp/tools/call", json!(4), "tools/call", params);
            assert!(body["result"].get("isError").is_none(), "{body}");
            serde_json::from_str::<Value>(&tool_text(&body)).unwrap()
        };
        let first = call(json!({"limit": 2}));
        let after = first["paging"]["next"]["after"]
            .as_str()
            .unwrap()
            .to_string();
        let second = call(json!({"limit": 2, "after": after}));
        let ids = |page: &Value| -> Vec<String> {
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect()
        };
        let (one, two) = (ids(&first), ids(&second));
        assert_eq!(two.len(), 2, "{name}: {second}");
        assert!(
            one.iter().all(|id| !two.contains(id)),
            "{name}: {one:?} {two:?}"
        );
        let both = call(json!({"limit": 4}));
        assert_eq!(
            ids(&both),
            [one, two].concat(),
            "{name}: page 2 follows page 1"
        );
    }
}

#[test]
fn get_contacts_returns_pretty_hubspot_json_with_the_asked_properties() {
    let server = Server::mock(&[]);
    let params = json!({"name":"get_contacts","arguments":{"limit":5,"properties":["firstname","lastname","email","company"]}});
    let body = rpc(&server, "/mcp/tools/call", json!(3), "tools/call", params);
    assert_eq!(body["result"]["content"][0]["type"], "text");
    assert!(body["result"].get("isError").is_none());
    let text = tool_text(&body);
    assert!(text.contains("\n  \"results\""), "pretty-printed: {text}");
    let page: Value = serde_json::from_str(&text).unwrap();
    let results = page["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert!(results[0]["properties"]["company"].is_string());
    assert!(
        results[0]["properties"].get("phone").is_none(),
        "only the asked properties"
    );
    for (name, count) in [("get_companies", 10), ("get_deals", 3)] {
        let args = if count == 10 {
            json!({})
        } else {
            json!({"limit": count})
        };
        let body = server.call_tool(name, args);
        let page: Value = serde_json::from_str(&tool_text(&body)).unwrap();
        assert_eq!(page["results"].as_array().unwrap().len(), count, "{name}");
    }
}

#[test]
fn create_then_search_finds_the_new_contact_and_a_duplicate_is_an_error_result() {
    let server = Server::mock(&[]);
    let args = json!({"firstname":"John","lastname":"Doe","email":"john.doe@example.com","company":"Example Corp"});
    let body = rpc(
        &server,
        "/mcp/tools/call",
        json!(4),
        "tools/call",
        json!({"name":"create_contact","arguments":args}),
    );
    let created: Value = serde_json::from_str(&tool_text(&body)).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["properties"]["email"], "john.doe@example.com");

    let found = server.call_tool(
        "search_contacts",
        json!({"query":"john.doe@example.com","properties":["email","company"]}),
    );
    let found: Value = serde_json::from_str(&tool_text(&found)).unwrap();
    assert_eq!(found["total"], 1);
    assert_eq!(found["results"][0]["id"], id.as_str());
    assert_eq!(found["results"][0]["properties"]["company"], "Example Corp");

    let again = server.call_tool("create_contact", json!({"email":"JOHN.DOE@example.com"}));
    assert_eq!(again["result"]["isError"], true);
    let text = tool_text(&again);
    assert!(text.contains("409") && text.contains("CONFLICT"), "{text}");
    assert!(text.contains(&format!("Existing ID: {id}")), "{text}");
    assert!(text.contains("correlationId"), "{text}");
}

#[test]
fn resources_and_prompts_have_the_seed_shapes() {
    let server = Server::mock(&[]);
    let body = rpc(
        &server,
        "/mcp/resources/list",
        json!(5),
        "resources/list",
        json!({}),
    );
    // The three first specified resources come first, exactly; the catalog's further object types
    // (tickets, notes, tasks) follow in the same shape.
    let resources = body["result"]["resources"].as_array().unwrap();
    assert_eq!(
        resources[..3],
        json!([
            {"uri":"hubspot://contacts","name":"HubSpot Contacts","description":"Access to HubSpot CRM contacts database","mimeType":"application/json"},
            {"uri":"hubspot://companies","name":"HubSpot Companies","description":"Access to HubSpot CRM companies database","mimeType":"application/json"},
            {"uri":"hubspot://deals","name":"HubSpot Deals","description":"Access to HubSpot CRM deals database","mimeType":"application/json"}
        ])
        .as_array()
        .unwrap()[..]
    );
    for extra in &resources[3..] {
        assert!(extra["uri"].as_str().unwrap().starts_with("hubspot://"));
        assert_eq!(extra["mimeType"], "application/json");
    }
    let body = rpc(
        &server,
        "/mcp/resources/read",
        json!(6),
        "resources/read",
        json!({"uri":"hubspot://deals"}),
    );
    let content = &body["result"]["contents"][0];
    assert_eq!(content["uri"], "hubspot://deals");
    assert_eq!(content["mimeType"], "application/json");
    let page: Value = serde_json::from_str(content["text"].as_str().unwrap()).unwrap();
    assert!(page["results"][0]["properties"]["dealname"].is_string());

    let body = rpc(
        &server,
        "/mcp/prompts/list",
        json!(6),
        "prompts/list",
        json!({}),
    );
    let prompts = body["result"]["prompts"].as_array().unwrap();
    let shape: Vec<(Value, Value, Value)> = prompts
        .iter()
        .map(|p| {
            (
                p["name"].clone(),
                p["description"].clone(),
                p["arguments"][0]["name"].clone(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (
                json!("analyze_contacts"),
                json!("Analyze contact data for insights and patterns"),
                json!("criteria")
            ),
            (
                json!("company_research"),
                json!("Research companies and their contact information"),
                json!("industry")
            ),
        ]
    );
    assert_eq!(prompts[0]["arguments"][0]["required"], false);
    let body = rpc(
        &server,
        "/mcp/prompts/get",
        json!(7),
        "prompts/get",
        json!({"name":"company_research","arguments":{"industry":"renewable energy"}}),
    );
    let text = body["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap();
    assert!(text.contains("renewable energy"), "{text}");
    assert_eq!(body["result"]["messages"][0]["role"], "user");
}

#[test]
fn health_and_ready_have_the_seed_shapes() {
    let server = Server::mock(&[]);
    let health = server.get("/health");
    assert_eq!(health.status, 200);
    let health = health.json();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service"], "hubspot-mcp-server");
    assert_eq!(health["version"], "1.0.0");
    assert!(health["uptime"].is_u64());
    let ts = health["timestamp"].as_str().unwrap();
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "{ts}"
    );
    let ready = server.get("/ready");
    assert_eq!(ready.status, 200);
    let ready = ready.json();
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        ready["checks"],
        json!({"hubspot_token": true, "server": "running"})
    );
}

#[test]
fn ping_and_the_other_method_paths_work() {
    let server = Server::mock(&[]);
    let body = rpc(&server, "/mcp/ping", json!(8), "ping", json!({}));
    assert_eq!(body["result"], json!({}));
    let body = rpc(
        &server,
        "/mcp/resources/templates/list",
        json!(9),
        "resources/templates/list",
        json!({}),
    );
    assert!(body["result"]["resourceTemplates"].is_array());
    let reply = server.rpc(
        "/mcp/notifications/initialized",
        &json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    );
    assert_eq!(reply.status, 202);
    assert!(reply.body.is_empty());
}
