//! The full tool catalog over HTTP against the mock HubSpot: every tool's happy path and
//! an error path, tools/list's shape and paging, structured results by protocol version.

use crate::common::{fixtures, plan, servers, tool_text, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The server with the embedded mock, search pacing off (many searches in a row).
fn server() -> Server {
    Server::mock(&[("HUBSPOT_SEARCH_RATE_PER_S", "0")])
}

/// A JSON-RPC call on `/mcp` with an `MCP-Protocol-Version` header when `version` is set.
fn rpc(server: &Server, version: Option<&str>, method: &str, params: Value) -> Value {
    let headers: Vec<(&str, &str)> = version
        .map(|v| vec![("MCP-Protocol-Version", v)])
        .unwrap_or_default();
    let reply = server.rpc_with(
        "/mcp",
        &json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}),
        &headers,
    );
    reply.json()
}

/// What a tool call gave: a result (its JSON, parsed from the text), a tool error (its
/// text), or a JSON-RPC error (code and message).
#[derive(Debug)]
enum Outcome {
    Ok(Value),
    ToolError(String),
    RpcError(i64, String),
}

fn call(server: &Server, name: &str, args: Value) -> Outcome {
    let reply = rpc(
        server,
        None,
        "tools/call",
        json!({"name": name, "arguments": args}),
    );
    if let Some(error) = reply.get("error") {
        return Outcome::RpcError(
            error["code"].as_i64().unwrap(),
            error["message"].as_str().unwrap_or_default().to_string(),
        );
    }
    let text = tool_text(&reply);
    if reply["result"]["isError"] == true {
        return Outcome::ToolError(text);
    }
    Outcome::Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}")))
}

/// The result of a call that must succeed.
fn ok(server: &Server, name: &str, args: Value) -> Value {
    match call(server, name, args.clone()) {
        Outcome::Ok(value) => value,
        other => panic!("{name} {args}: {other:?}"),
    }
}

/// Every tool listed, walking every page.
fn list_all(server: &Server, version: Option<&str>) -> Vec<Value> {
    let mut tools = Vec::new();
    let mut params = json!({});
    loop {
        let reply = rpc(server, version, "tools/list", params.clone());
        let result = &reply["result"];
        tools.extend(result["tools"].as_array().unwrap().iter().cloned());
        match result.get("nextCursor") {
            Some(cursor) => params = json!({ "cursor": cursor }),
            None => return tools,
        }
    }
}

/// The fixture records of a type, read independently of the server.
fn fixture(ty: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!("{}/{ty}.json", fixtures())).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tools_list_is_one_page_by_default_and_pages_by_mcp_page_size() {
    let whole = rpc(&server(), None, "tools/list", json!({}))["result"].clone();
    assert!(whole.get("nextCursor").is_none(), "{}", whole["tools"]);
    let paged = Server::mock(&[("MCP_PAGE_SIZE", "20")]);
    let first = rpc(&paged, None, "tools/list", json!({}))["result"].clone();
    assert_eq!(first["tools"].as_array().unwrap().len(), 20);
    assert_eq!(first["nextCursor"], "20");
    assert_eq!(&list_all(&paged, None), whole["tools"].as_array().unwrap());
    let bad = rpc(&paged, None, "tools/list", json!({"cursor": "7"}));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
}

#[test]
fn tools_list_has_the_mcp_tool_shape() {
    let server = server();
    let legacy = list_all(&server, None);
    let structured = list_all(&server, Some("2025-06-18"));
    let old = list_all(&server, Some("2024-11-05"));
    assert!(legacy.len() > 50, "{}", legacy.len());
    assert_eq!(legacy.len(), structured.len());
    let names: BTreeSet<&str> = legacy.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), legacy.len(), "names are unique");
    for tool in &structured {
        let name = tool["name"].as_str().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{name}"
        );
        assert!(tool["title"].is_string() && tool["description"].as_str().unwrap().len() > 20);
        assert_eq!(tool["inputSchema"]["type"], "object", "{name}");
        assert!(tool["inputSchema"]["properties"].is_object(), "{name}");
        for required in tool["inputSchema"]["required"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let field = required.as_str().unwrap();
            assert!(
                tool["inputSchema"]["properties"].get(field).is_some(),
                "{name}.{field}"
            );
        }
        assert_eq!(tool["outputSchema"]["type"], "object", "{name}");
        let annotations = tool["annotations"].as_object().unwrap();
        for key in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(annotations[key].is_boolean(), "{name}.{key}");
        }
        if annotations["readOnlyHint"] == true {
            assert_eq!(annotations["destructiveHint"], false, "{name}");
        }
        assert_eq!(
            annotations["destructiveHint"] == true,
            name.starts_with("delete_"),
            "{name}"
        );
        // A tool that writes carries a write method, so `read`/`custom` never select it.
        let method = tool["_meta"]["method"].as_str().expect("method");
        assert_eq!(
            annotations["readOnlyHint"] == false,
            ["create", "update", "delete"].contains(&method),
            "{name} has method {method}"
        );
        assert!(
            !tool["_meta"]["tags"].as_array().unwrap().is_empty(),
            "{name}"
        );
        // Every new tool's limit is bounded 1..100 (the first five keep their own schema).
        let limit = &tool["inputSchema"]["properties"]["limit"];
        if limit["type"] == "integer" && name != "get_associations" {
            assert_eq!(
                (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
                (Some(1), Some(100)),
                "{name}"
            );
        }
    }
    for tool in legacy.iter().chain(&old) {
        assert!(tool.get("outputSchema").is_none(), "{}", tool["name"]);
    }
    // Search tools offer every HubSpot operator.
    let search = structured
        .iter()
        .find(|t| t["name"] == "search_deals")
        .unwrap();
    let operators = &search["inputSchema"]["properties"]["filterGroups"]["items"]["properties"]
        ["filters"]["items"]["properties"]["operator"]["enum"];
    assert_eq!(operators.as_array().unwrap().len(), 13);
    // A cursor the server never gave out is -32602.
    for bad in [json!("nope"), json!("0"), json!("5000"), json!(3)] {
        let reply = rpc(&server, None, "tools/list", json!({ "cursor": bad }));
        assert_eq!(reply["error"]["code"], -32602, "{bad}: {reply}");
    }
    let reply = rpc(&server, None, "resources/list", json!({ "cursor": "x" }));
    assert_eq!(reply["error"]["code"], -32602);
}

#[test]
fn structured_content_follows_the_protocol_version() {
    let server = server();
    let args = json!({"name": "get_deal", "arguments": {"id": "9001", "properties": ["dealname"]}});
    for (version, structured) in [
        (Some("2024-11-05"), false),
        (Some("2025-03-26"), false),
        (None, false),
        (Some("2025-06-18"), true),
        (Some("2025-11-25"), true),
    ] {
        let reply = rpc(&server, version, "tools/call", args.clone());
        let result = &reply["result"];
        let text: Value = serde_json::from_str(&tool_text(&reply)).unwrap();
        assert_eq!(text["id"], "9001", "{version:?}");
        match structured {
            true => assert_eq!(result["structuredContent"], text, "{version:?}"),
            false => assert!(result.get("structuredContent").is_none(), "{version:?}"),
        }
    }
    // The modern era (stateless 2026-07-28) has structured results too.
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}});
    let mut params = args.clone();
    params["_meta"] = meta.clone();
    let reply = server.rpc_with(
        "/mcp",
        &json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":params}),
        &[
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "get_deal"),
        ],
    );
    let body = reply.json();
    assert_eq!(body["result"]["structuredContent"]["id"], "9001", "{body}");
    let reply = server.rpc_with(
        "/mcp",
        &json!({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta": meta}}),
        &[
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/list"),
        ],
    );
    let tools = reply.json()["result"]["tools"].clone();
    assert!(tools
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["outputSchema"]["type"] == "object"));
}

/// The search filters of one case, and the fixture records it must find.
type OperatorCase = (&'static str, Value, Box<dyn Fn(&Value) -> bool>);

#[test]
fn search_operators_match_the_fixtures() {
    let server = server();
    let deals = fixture("deals");
    let contacts = fixture("contacts");
    let num = |r: &Value, p: &str| r["properties"][p].as_str().unwrap().parse::<f64>().unwrap();
    let text = |r: &Value, p: &str| r["properties"][p].as_str().unwrap_or("").to_lowercase();
    let has_token = move |r: &Value, p: &str, t: &str| {
        text(r, p)
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == t)
    };
    let cases: Vec<OperatorCase> = vec![
        (
            "deals",
            json!({"propertyName":"amount","operator":"EQ","value":"24000"}),
            Box::new(move |r| num(r, "amount") == 24000.0),
        ),
        (
            "deals",
            json!({"propertyName":"amount","operator":"NEQ","value":24000}),
            Box::new(move |r| num(r, "amount") != 24000.0),
        ),
        (
            "deals",
            json!({"propertyName":"amount","operator":"LT","value":"12000"}),
            Box::new(move |r| num(r, "amount") < 12000.0),
        ),
        (
            "deals",
            json!({"propertyName":"amount","operator":"LTE","value":"12000"}),
            Box::new(move |r| num(r, "amount") <= 12000.0),
        ),
        (
            "deals",
            json!({"propertyName":"amount","operator":"GT","value":"95000"}),
            Box::new(move |r| num(r, "amount") > 95000.0),
        ),
        (
            "deals",
            json!({"propertyName":"amount","operator":"GTE","value":"95000"}),
            Box::new(move |r| num(r, "amount") >= 95000.0),
        ),
        (
            "deals",
            json!({"propertyName":"amount","operator":"BETWEEN","value":"18500","highValue":"50000"}),
            Box::new(move |r| (18500.0..=50000.0).contains(&num(r, "amount"))),
        ),
        (
            "deals",
            json!({"propertyName":"dealstage","operator":"IN","values":["closedwon","closedlost"]}),
            Box::new(move |r| text(r, "dealstage").starts_with("closed")),
        ),
        (
            "deals",
            json!({"propertyName":"dealstage","operator":"NOT_IN","values":["closedwon","closedlost"]}),
            Box::new(move |r| !text(r, "dealstage").starts_with("closed")),
        ),
        (
            "deals",
            json!({"propertyName":"dealname","operator":"CONTAINS_TOKEN","value":"renewal"}),
            Box::new(move |r| has_token(r, "dealname", "renewal")),
        ),
        (
            "deals",
            json!({"propertyName":"dealname","operator":"NOT_CONTAINS_TOKEN","value":"renewal"}),
            Box::new(move |r| !has_token(r, "dealname", "renewal")),
        ),
        (
            "deals",
            json!({"propertyName":"closedate","operator":"GTE","value":"2024-06-01"}),
            Box::new(move |r| text(r, "closedate").as_str() >= "2024-06-01"),
        ),
        (
            "contacts",
            json!({"propertyName":"phone","operator":"HAS_PROPERTY"}),
            Box::new(|r| r["properties"].get("phone").is_some()),
        ),
        (
            "contacts",
            json!({"propertyName":"phone","operator":"NOT_HAS_PROPERTY"}),
            Box::new(|r| r["properties"].get("phone").is_none()),
        ),
    ];
    let mut seen = BTreeSet::new();
    for (ty, filter, keep) in cases {
        seen.insert(filter["operator"].as_str().unwrap().to_string());
        let records = if ty == "deals" { &deals } else { &contacts };
        let expected: Vec<String> = records
            .iter()
            .filter(|r| keep(r))
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        assert!(
            !expected.is_empty() && expected.len() < records.len(),
            "{filter}"
        );
        // search_contacts is one of the first five (query only): contacts go through search_records.
        let page = ok(
            &server,
            "search_records",
            json!({"objectType": ty, "filterGroups": [{"filters": [filter]}], "limit": 100}),
        );
        assert_eq!(page["total"], expected.len(), "{filter}");
        assert_eq!(ids(&page), expected, "{filter}");
    }
    assert_eq!(seen.len(), 13, "every operator is tested");

    // Groups are OR'ed, filters in a group AND'ed; one sort; query words.
    let page = ok(
        &server,
        "search_deals",
        json!({
            "filterGroups": [
                {"filters": [{"propertyName":"amount","operator":"GTE","value":"250000"}]},
                {"filters": [{"propertyName":"amount","operator":"LT","value":"5000"},
                             {"propertyName":"dealstage","operator":"NEQ","value":"x"}]}
            ],
            "sorts": [{"propertyName": "amount", "direction": "DESCENDING"}],
            "properties": ["amount"],
            "limit": 100
        }),
    );
    let amounts: Vec<f64> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| num(r, "amount"))
        .collect();
    assert_eq!(
        amounts,
        vec![250000.0, 250000.0, 250000.0, 250000.0, 250000.0, 4800.0, 2500.0]
    );
    assert_eq!(
        page["results"][0]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !["hs_object_id", "createdate", "lastmodifieddate"].contains(&k.as_str()))
            .collect::<Vec<_>>(),
        vec!["amount"],
        "only the asked properties"
    );
    let page = ok(&server, "search_companies", json!({"query": "northwind"}));
    assert_eq!(page["total"], 1);
    // A bad operator or too many groups is refused before HubSpot is called.
    for bad in [
        json!({"filterGroups": [{"filters": [{"propertyName":"amount","operator":"ABOUT","value":"1"}]}]}),
        json!({"filterGroups": [{"filters": [{"propertyName":"amount","operator":"EQ","value":"1","extra":1}]}]}),
        json!({"filterGroups": (0..6).map(|_| json!({"filters": [{"propertyName":"amount","operator":"HAS_PROPERTY"}]})).collect::<Vec<_>>()}),
        json!({"sorts": [{"propertyName": "amount", "direction": "UP"}]}),
        json!({"limit": 101}),
    ] {
        match call(&server, "search_deals", bad.clone()) {
            Outcome::RpcError(-32602, message) => {
                assert!(message.contains("search_deals"), "{message}")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    // HubSpot's own check: a BETWEEN without highValue is a VALIDATION_ERROR result.
    match call(
        &server,
        "search_deals",
        json!({"filterGroups": [{"filters": [{"propertyName":"amount","operator":"BETWEEN","value":"1"}]}]}),
    ) {
        Outcome::ToolError(text) => assert!(
            text.contains("VALIDATION_ERROR") && text.contains("highValue"),
            "{text}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn list_and_search_paging_walks_to_the_end() {
    let server = server();
    for ty in ["tickets", "notes", "tasks"] {
        let expected: Vec<String> = fixture(ty)
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        let mut seen = Vec::new();
        let mut args = json!({"limit": 7});
        loop {
            let page = ok(&server, &format!("get_{ty}"), args.clone());
            seen.extend(ids(&page));
            match page.pointer("/paging/next/after") {
                Some(after) => args["after"] = after.clone(),
                None => break,
            }
        }
        assert_eq!(seen, expected, "{ty}");
    }
    // Search: the cursor is an offset; total is the full count on every page.
    let mut seen = Vec::new();
    let mut args = json!({"objectType": "deals", "limit": 10,
        "filterGroups": [{"filters": [{"propertyName":"amount","operator":"GT","value":"10000"}]}]});
    loop {
        let page = ok(&server, "search_records", args.clone());
        assert_eq!(page["total"], 31);
        seen.extend(ids(&page));
        match page.pointer("/paging/next/after") {
            Some(after) => args["after"] = after.clone(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 31);
    // Owners and workflows page too.
    let mut owners = 0;
    let mut args = json!({"limit": 3});
    loop {
        let page = ok(&server, "get_owners", args.clone());
        owners += ids(&page).len();
        match page.pointer("/paging/next/after") {
            Some(after) => args["after"] = after.clone(),
            None => break,
        }
    }
    assert_eq!(owners, 7);
}

#[test]
fn associations_are_created_and_read_back() {
    let server = server();
    let linked = |from: &str, id: &str, to: &str| -> Vec<u64> {
        let page = ok(
            &server,
            "get_associations",
            json!({"objectType": from, "id": id, "toObjectType": to}),
        );
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["toObjectId"].as_u64().unwrap())
            .collect()
    };
    assert!(linked("tickets", "7025", "companies").is_empty());
    ok(
        &server,
        "create_association",
        json!({"objectType": "tickets", "id": "7025", "toObjectType": "companies", "toId": "5003"}),
    );
    assert_eq!(linked("tickets", "7025", "companies"), vec![5003]);
    assert!(
        linked("companies", "5003", "tickets").contains(&7025),
        "both ways"
    );
    // A labeled association: the label's type id from get_association_labels.
    let labels = ok(
        &server,
        "get_association_labels",
        json!({"objectType": "contacts", "toObjectType": "companies"}),
    );
    let primary = labels["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == "Primary")
        .unwrap()["typeId"]
        .clone();
    let made = ok(
        &server,
        "create_association",
        json!({"objectType": "contacts", "id": "160", "toObjectType": "companies", "toId": "5010",
               "associationTypeId": primary, "associationCategory": "HUBSPOT_DEFINED"}),
    );
    assert_eq!(made["labels"], json!(["Primary"]));
    let page = ok(
        &server,
        "get_associations",
        json!({"objectType": "companies", "id": "5010", "toObjectType": "contacts"}),
    );
    let link = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["toObjectId"] == 160)
        .unwrap();
    assert!(link["associationTypes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["label"] == "Primary"));
    // A note linked to a deal is found from the deal.
    let note = ok(
        &server,
        "create_note",
        json!({"properties": {"hs_note_body": "Called about the renewal", "hs_timestamp": "2025-01-10T10:00:00Z"}}),
    );
    let note_id = note["id"].as_str().unwrap();
    ok(
        &server,
        "create_association",
        json!({"objectType": "notes", "id": note_id, "toObjectType": "deals", "toId": "9001"}),
    );
    assert!(linked("deals", "9001", "notes").contains(&note_id.parse().unwrap()));
}

#[test]
fn long_results_are_cut_to_whole_records_with_a_cursor() {
    let server = Server::mock(&[("TOOL_RESULT_MAX_BYTES", "6000")]);
    let page = ok(&server, "get_contacts", json!({"limit": 100}));
    let text = serde_json::to_string_pretty(&page).unwrap();
    assert!(text.len() <= 6000, "{}", text.len());
    let kept = ids(&page);
    assert!(!kept.is_empty() && kept.len() < 60, "{}", kept.len());
    let note = &page["truncated"];
    assert_eq!(
        note["omitted"],
        60 - kept.len(),
        "the page had all 60 contacts"
    );
    let after = note["after"].as_str().unwrap();
    assert_eq!(page["paging"]["next"]["after"], after);
    // get_contacts takes the cursor itself, so the note says to call it again.
    assert!(
        note["note"]
            .as_str()
            .unwrap()
            .contains(&format!("call again with after=\"{after}\"")),
        "{note}"
    );
    // The cursor continues exactly after the kept records.
    let next = ok(&server, "get_contacts", json!({"after": after, "limit": 1}));
    let all: Vec<String> = fixture("contacts")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids(&next)[0], all[kept.len()]);
    // A batch read has no cursor: the note says how many were left out.
    let batch = ok(
        &server,
        "batch_get_records",
        json!({"objectType": "contacts", "ids": all}),
    );
    let kept = ids(&batch).len();
    assert!(kept < 60);
    assert_eq!(batch["truncated"]["omitted"], 60 - kept);
    // Asking for fewer properties fits more records.
    let slim = ok(
        &server,
        "get_contacts",
        json!({"limit": 100, "properties": ["email"]}),
    );
    assert!(ids(&slim).len() > ids(&page).len());
}

#[test]
fn resource_templates_read_single_records() {
    let server = server();
    let reply = rpc(&server, None, "resources/templates/list", json!({}));
    let templates: Vec<&str> = reply["result"]["resourceTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["uriTemplate"].as_str().unwrap())
        .collect();
    assert_eq!(
        templates,
        vec![
            "hubspot://contacts/{id}",
            "hubspot://companies/{id}",
            "hubspot://deals/{id}",
            "hubspot://tickets/{id}",
            "hubspot://notes/{id}",
            "hubspot://tasks/{id}"
        ]
    );
    let reply = rpc(
        &server,
        None,
        "resources/read",
        json!({"uri": "hubspot://tickets/7003"}),
    );
    let content = &reply["result"]["contents"][0];
    assert_eq!(content["uri"], "hubspot://tickets/7003");
    let record: Value = serde_json::from_str(content["text"].as_str().unwrap()).unwrap();
    assert_eq!(record["id"], "7003");
    assert!(record["properties"]["subject"].is_string());
    for uri in [
        "hubspot://tickets/999999",
        "hubspot://tickets/abc",
        "hubspot://widgets/1",
    ] {
        let reply = rpc(&server, None, "resources/read", json!({ "uri": uri }));
        assert_eq!(reply["error"]["code"], -32002, "{uri}: {reply}");
    }
}

/// What the error path of a case must produce.
enum Fails {
    /// A JSON-RPC -32602 whose message holds this.
    Rpc(&'static str),
    /// A tool result with `isError: true` whose text holds this.
    Tool(&'static str),
}

/// One tool's happy call (and what its result must show) and one failing call.
struct Case {
    tool: &'static str,
    args: Value,
    check: Box<dyn Fn(&Value) -> bool>,
    bad: Value,
    fails: Fails,
}

fn case(
    tool: &'static str,
    args: Value,
    check: impl Fn(&Value) -> bool + 'static,
    bad: Value,
    fails: Fails,
) -> Case {
    Case {
        tool,
        args,
        check: Box::new(check),
        bad,
        fails,
    }
}

fn record_cases() -> Vec<Case> {
    use Fails::*;
    let id_is = |id: &'static str| move |r: &Value| r["id"] == id;
    let n_results = |n: usize| move |p: &Value| p["results"].as_array().map(Vec::len) == Some(n);
    let mut cases = vec![
        case(
            "get_contacts",
            json!({"limit": 3}),
            n_results(3),
            json!({"limit": "3"}),
            Rpc("'limit'"),
        ),
        case(
            "get_companies",
            json!({}),
            n_results(10),
            json!({"limit": 0}),
            Rpc("limit"),
        ),
        case(
            "get_deals",
            json!({"limit": 2}),
            n_results(2),
            json!({"limit": 2.5}),
            Rpc("limit"),
        ),
        case(
            "create_contact",
            json!({"email": "ines.duarte@lisboa-labs.example", "firstname": "Inês"}),
            |r| r["properties"]["firstname"] == "Inês",
            json!({"email": "not-an-email"}),
            Rpc("email"),
        ),
        case(
            "search_contacts",
            json!({"query": "priya"}),
            |p| p["total"] == 1,
            json!({}),
            Rpc("'query'"),
        ),
        case(
            "get_contact",
            json!({"id": "101"}),
            id_is("101"),
            json!({"id": "999999"}),
            Tool("404"),
        ),
        case(
            "update_contact",
            json!({"id": "102", "properties": {"jobtitle": "CEO"}}),
            |r| r["properties"]["jobtitle"] == "CEO",
            json!({"id": "102", "properties": {"lifecyclestage": "royalty"}}),
            Tool("lifecyclestage"),
        ),
        case(
            "delete_contact",
            json!({"id": "159"}),
            |r| r["archived"] == true,
            json!({"id": "159"}),
            Tool("404"),
        ),
        case(
            "get_company",
            json!({"id": "5001", "properties": ["name"]}),
            |r| r["properties"]["name"] == "Northwind Analytics",
            json!({"id": "1"}),
            Tool("OBJECT_NOT_FOUND"),
        ),
        case(
            "create_company",
            json!({"properties": {"name": "Fjord Freight", "domain": "fjordfreight.example", "numberofemployees": 40}}),
            |r| r["properties"]["numberofemployees"] == "40",
            json!({"properties": {"numberofemployees": "many"}}),
            Tool("numberofemployees"),
        ),
        case(
            "update_company",
            json!({"id": "5002", "properties": {"city": "Bergen"}}),
            |r| r["properties"]["city"] == "Bergen",
            json!({"id": "404404", "properties": {"city": "X"}}),
            Tool("404"),
        ),
        case(
            "delete_company",
            json!({"id": "5024"}),
            |r| r["id"] == "5024",
            json!({}),
            Rpc("'id'"),
        ),
        case(
            "search_companies",
            json!({"filterGroups": [{"filters": [{"propertyName": "country", "operator": "EQ", "value": "Germany"}]}], "properties": ["name", "country"]}),
            |p| {
                p["total"].as_u64() > Some(0)
                    && p["results"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|r| r["properties"]["country"] == "Germany")
            },
            json!({"query": 5}),
            Rpc("'query'"),
        ),
        case(
            "get_deal",
            json!({"id": "9001"}),
            |r| r["properties"]["dealstage"].is_string(),
            json!({"id": "0"}),
            Tool("404"),
        ),
        case(
            "create_deal",
            json!({"properties": {"dealname": "Fjord Freight — Pilot", "amount": "18000", "pipeline": "default", "dealstage": "qualifiedtobuy"}}),
            |r| r["properties"]["dealstage"] == "qualifiedtobuy",
            json!({"properties": {"dealstage": "won-ish"}}),
            Tool("INVALID_OPTION"),
        ),
        case(
            "update_deal",
            json!({"id": "9002", "properties": {"dealstage": "closedwon"}}),
            |r| r["properties"]["dealstage"] == "closedwon",
            json!({"id": "9002", "properties": {"nosuchprop": "1"}}),
            Tool("nosuchprop"),
        ),
        case(
            "delete_deal",
            json!({"id": "9036"}),
            |r| r["archived"] == true,
            json!({"id": "9036"}),
            Tool("404"),
        ),
        case(
            "search_deals",
            json!({"query": "renewal", "limit": 2}),
            |p| p["total"].as_u64() > Some(2) && p["paging"]["next"]["after"] == "2",
            json!({"after": 10}),
            Rpc("'after'"),
        ),
        case(
            "get_deal_pipelines",
            json!({}),
            |p| p["results"][0]["stages"].as_array().map(Vec::len) == Some(7),
            json!({"type": "deals"}),
            Rpc("unknown argument"),
        ),
        case(
            "get_tickets",
            json!({"limit": 5}),
            n_results(5),
            json!({"limit": 500}),
            Rpc("at most 100"),
        ),
        case(
            "get_ticket",
            json!({"id": "7001", "properties": ["subject"]}),
            |r| r["properties"]["subject"] == "Cannot export invoices to CSV",
            json!({"id": "7999"}),
            Tool("404"),
        ),
        case(
            "create_ticket",
            json!({"properties": {"subject": "Export stuck at 99%", "hs_pipeline": "0", "hs_pipeline_stage": "1", "hs_ticket_priority": "HIGH"}}),
            |r| r["properties"]["hs_ticket_priority"] == "HIGH",
            json!({"properties": {"hs_ticket_priority": "SOMEDAY"}}),
            Tool("hs_ticket_priority"),
        ),
        case(
            "update_ticket",
            json!({"id": "7002", "properties": {"hs_pipeline_stage": "4"}}),
            |r| r["properties"]["hs_pipeline_stage"] == "4",
            json!({"id": "7002", "properties": "closed"}),
            Rpc("'properties'"),
        ),
        case(
            "delete_ticket",
            json!({"id": "7030"}),
            |r| r["id"] == "7030",
            json!({"id": "7030"}),
            Tool("404"),
        ),
        case(
            "search_tickets",
            json!({"filterGroups": [{"filters": [{"propertyName": "hs_ticket_priority", "operator": "IN", "values": ["URGENT", "HIGH"]}]}]}),
            |p| p["total"].as_u64() > Some(0),
            json!({"filterGroups": [{"filters": [{"operator": "EQ"}]}]}),
            Rpc("propertyName"),
        ),
        case(
            "get_ticket_pipelines",
            json!({}),
            |p| p["results"][0]["stages"][3]["label"] == "Closed",
            json!({"limit": 1}),
            Rpc("unknown argument"),
        ),
        case(
            "get_notes",
            json!({"limit": 4, "properties": ["hs_note_body"]}),
            n_results(4),
            json!({"properties": "hs_note_body"}),
            Rpc("'properties'"),
        ),
        case(
            "get_note",
            json!({"id": "8001"}),
            |r| r["properties"]["hs_note_body"].is_string(),
            json!({"id": "1"}),
            Tool("404"),
        ),
        case(
            "create_note",
            json!({"properties": {"hs_note_body": "Kick-off booked", "hs_timestamp": "2025-02-01T09:00:00Z"}}),
            |r| r["properties"]["hs_note_body"] == "Kick-off booked",
            json!({"properties": {"hs_body": "x"}}),
            Tool("hs_body"),
        ),
        case(
            "update_note",
            json!({"id": "8002", "properties": {"hs_note_body": "Edited"}}),
            |r| r["properties"]["hs_note_body"] == "Edited",
            json!({"id": "1", "properties": {"hs_note_body": "x"}}),
            Tool("404"),
        ),
        case(
            "delete_note",
            json!({"id": "8040"}),
            |r| r["archived"] == true,
            json!({"id": "abc"}),
            Tool("404"),
        ),
        case(
            "search_notes",
            json!({"query": "pilot"}),
            |p| p["total"].as_u64() > Some(0),
            json!({"sorts": [{"propertyName": "a"}, {"propertyName": "b"}]}),
            Rpc("at most 1"),
        ),
        case(
            "get_tasks",
            json!({}),
            n_results(10),
            json!({"archived": "yes"}),
            Rpc("'archived'"),
        ),
        case(
            "get_task",
            json!({"id": "6001"}),
            |r| r["properties"]["hs_task_status"].is_string(),
            json!({"id": "6999"}),
            Tool("404"),
        ),
        case(
            "create_task",
            json!({"properties": {"hs_task_subject": "Send the proposal", "hs_task_status": "NOT_STARTED", "hs_timestamp": "2025-03-01T09:00:00Z"}}),
            |r| r["properties"]["hs_task_status"] == "NOT_STARTED",
            json!({"properties": {"hs_task_status": "DONE"}}),
            Tool("INVALID_OPTION"),
        ),
        case(
            "update_task",
            json!({"id": "6002", "properties": {"hs_task_status": "COMPLETED"}}),
            |r| r["properties"]["hs_task_status"] == "COMPLETED",
            json!({"id": "6002"}),
            Rpc("'properties'"),
        ),
        case(
            "delete_task",
            json!({"id": "6030"}),
            |r| r["id"] == "6030",
            json!({"id": "6030"}),
            Tool("404"),
        ),
        case(
            "search_tasks",
            json!({"filterGroups": [{"filters": [{"propertyName": "hs_task_status", "operator": "EQ", "value": "COMPLETED"}]}]}),
            |p| {
                p["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|r| r["properties"]["hs_task_status"] == "COMPLETED")
            },
            json!({"limit": -1}),
            Rpc("limit"),
        ),
    ];
    cases.extend(generic_cases());
    cases
}

fn generic_cases() -> Vec<Case> {
    use Fails::*;
    vec![
        case(
            "get_records",
            json!({"objectType": "2-3508482", "limit": 5, "properties": ["machine_name"]}),
            |p| {
                p["results"][0]["properties"]["machine_name"].is_string()
                    && p["paging"]["next"]["after"].is_string()
            },
            json!({"objectType": "widgets"}),
            Tool("widgets"),
        ),
        case(
            "get_record",
            json!({"objectType": "contacts", "id": "priya.raman@northwind-analytics.example", "idProperty": "email"}),
            |r| r["id"] == "101",
            json!({"objectType": "contacts/../deals", "id": "1"}),
            Rpc("objectType"),
        ),
        case(
            "search_records",
            json!({"objectType": "2-3508482", "filterGroups": [{"filters": [{"propertyName": "status", "operator": "EQ", "value": "retired"}]}]}),
            |p| {
                p["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|r| r["properties"]["status"] == "retired")
            },
            json!({}),
            Rpc("'objectType'"),
        ),
        case(
            "batch_get_records",
            json!({"objectType": "deals", "ids": ["9003", "9004", "123"], "properties": ["dealname"]}),
            |p| {
                p["results"].as_array().map(Vec::len) == Some(2)
                    && p["errors"][0]["context"]["ids"] == json!(["123"])
            },
            json!({"objectType": "deals", "ids": (0..101).map(|i| i.to_string()).collect::<Vec<_>>()}),
            Rpc("at most 100"),
        ),
        case(
            "batch_create_records",
            json!({"objectType": "2-3508482", "inputs": [
                {"properties": {"machine_name": "Kiln K-200 #200", "status": "running"}},
                {"properties": {"machine_name": "Kiln K-200 #201", "status": "running"}}]}),
            |p| p["results"].as_array().map(Vec::len) == Some(2),
            json!({"objectType": "contacts", "inputs": [{"properties": {"email": "priya.raman@northwind-analytics.example"}}]}),
            Tool("Existing ID: 101"),
        ),
        case(
            "batch_update_records",
            json!({"objectType": "tasks", "inputs": [{"id": "6003", "properties": {"hs_task_priority": "HIGH"}}, {"id": "1", "properties": {"hs_task_priority": "LOW"}}]}),
            |p| {
                p["results"][0]["properties"]["hs_task_priority"] == "HIGH"
                    && p["errors"][0]["context"]["ids"] == json!(["1"])
            },
            json!({"objectType": "tasks", "inputs": [{"id": "6003", "properties": {"hs_task_priority": "NOW"}}]}),
            Tool("VALIDATION_ERROR"),
        ),
        case(
            "get_associations",
            json!({"objectType": "contacts", "id": "101", "toObjectType": "companies"}),
            |p| p["results"][0]["toObjectId"] == 5001,
            json!({"objectType": "contacts", "id": "999", "toObjectType": "companies"}),
            Tool("404"),
        ),
        case(
            "create_association",
            json!({"objectType": "deals", "id": "9005", "toObjectType": "tickets", "toId": "7004"}),
            |r| r["status"] == "COMPLETE",
            json!({"objectType": "deals", "id": "9005", "toObjectType": "tickets", "toId": "7004", "associationTypeId": 9999}),
            Tool("not defined"),
        ),
        case(
            "get_association_labels",
            json!({"objectType": "contacts", "toObjectType": "2-3508482"}),
            |p| p["results"][0]["label"] == "Operator",
            json!({"objectType": "contacts", "toObjectType": "gadgets"}),
            Tool("gadgets"),
        ),
        case(
            "get_owners",
            json!({"email": "mei.tanaka@acme-crm.example"}),
            |p| p["results"][0]["firstName"] == "Mei",
            json!({"limit": 101}),
            Rpc("at most 100"),
        ),
        case(
            "get_properties",
            json!({"objectType": "deals", "names": ["dealstage", "amount"]}),
            |p| {
                p["results"].as_array().map(Vec::len) == Some(2)
                    && p["results"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|d| d["options"].as_array().map(Vec::len) == Some(11))
            },
            json!({"objectType": "gizmos"}),
            Tool("gizmos"),
        ),
        case(
            "create_property",
            json!({"objectType": "contacts", "name": "favorite_color", "label": "Favorite color", "type": "enumeration", "fieldType": "select", "groupName": "contactinformation",
                "options": [{"label": "Teal", "value": "teal"}, {"label": "Amber", "value": "amber"}]}),
            |d| d["name"] == "favorite_color",
            json!({"objectType": "contacts", "name": "email", "label": "E", "type": "string", "fieldType": "text", "groupName": "contactinformation"}),
            Tool("409"),
        ),
        case(
            "update_property",
            json!({"objectType": "contacts", "name": "jobtitle", "label": "Role"}),
            |d| d["label"] == "Role",
            json!({"objectType": "contacts", "name": "no_such_property", "label": "x"}),
            Tool("no_such_property"),
        ),
        case(
            "get_workflows",
            json!({"limit": 3}),
            |p| {
                p["results"].as_array().map(Vec::len) == Some(3)
                    && p["results"][0].get("actions").is_none()
            },
            json!({"after": "soon"}),
            Tool("VALIDATION_ERROR"),
        ),
        case(
            "get_workflow",
            json!({"id": "585051914"}),
            |w| w["name"] == "Deal won: create onboarding ticket" && w["actions"].is_array(),
            json!({"id": "1"}),
            Tool("404"),
        ),
        case(
            "get_record_links",
            json!({"objectType": "deals", "ids": ["9001"]}),
            |r| {
                r["links"][0]["url"] == "https://app-eu1.hubspot.com/contacts/24680135/record/0-3/9001"
                && r["listUrl"] == "https://app-eu1.hubspot.com/contacts/24680135/objects/0-3/views/all/list"
            },
            json!({"objectType": "deals?x=1"}),
            Rpc("objectType"),
        ),
        case(
            "get_token_details",
            json!({}),
            |t| {
                t["hubId"] == 24680135
                    && t["uiDomain"] == "app-eu1.hubspot.com"
                    && t["scopes"]
                        .as_array()
                        .is_some_and(|s| s.contains(&json!("tickets")))
            },
            json!({"verbose": true}),
            Rpc("unknown argument"),
        ),
    ]
}

#[test]
fn every_tool_has_a_happy_path_and_an_error_path() {
    let server = server();
    let cases = record_cases();
    let listed: BTreeSet<String> = list_all(&server, None)
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    let covered: BTreeSet<String> = cases.iter().map(|c| c.tool.to_string()).collect();
    assert_eq!(covered, listed, "every listed tool has a case");
    for case in &cases {
        let result = ok(&server, case.tool, case.args.clone());
        assert!(
            (case.check)(&result),
            "{} {}: {result}",
            case.tool,
            case.args
        );
        match (call(&server, case.tool, case.bad.clone()), &case.fails) {
            (Outcome::RpcError(-32602, message), Fails::Rpc(part)) => {
                assert!(message.contains(part), "{}: {message}", case.tool)
            }
            (Outcome::ToolError(text), Fails::Tool(part)) => {
                assert!(text.contains(part), "{}: {text}", case.tool)
            }
            (other, _) => panic!("{} {}: {other:?}", case.tool, case.bad),
        }
    }
}

#[test]
fn upstream_errors_reach_the_model_as_tool_errors() {
    let (upstream, server) = servers(&[]);
    plan(
        &upstream,
        json!({"method": "POST", "path": "/oauth/v2/private-apps/get/access-token-info", "status": 403,
               "body": {"status": "error", "message": "This app hasn't been granted all required scopes to make this call.",
                        "correlationId": "c0ffee00-0000-4000-8000-000000000001", "category": "MISSING_SCOPES",
                        "errors": [{"message": "missing", "context": {"requiredGranularScopes": ["oauth"]}}]}}),
    );
    match call(&server, "get_token_details", json!({})) {
        Outcome::ToolError(text) => {
            assert!(text.contains("403") && text.contains("oauth"), "{text}")
        }
        other => panic!("{other:?}"),
    }
    // Without the fault the same call describes the token, never echoing it.
    let reply = server.call_tool("get_token_details", json!({}));
    let text = tool_text(&reply);
    assert!(
        text.contains("24680135") && !text.contains("pat-na1-test"),
        "{text}"
    );
    assert!(
        !server.log().contains("pat-na1-test"),
        "the token is never logged"
    );
}

/// docs/tools.md's tool table, rendered from the listed tools and the cases' example arguments.
fn tool_table(server: &Server) -> String {
    let examples: Vec<(&str, Value)> = record_cases()
        .into_iter()
        .map(|c| (c.tool, c.args))
        .collect();
    let mut table = String::from(
        "| tool | method | tags | read-only | example `arguments` |\n| --- | --- | --- | --- | --- |\n",
    );
    for tool in list_all(server, None) {
        let name = tool["name"].as_str().unwrap();
        let tags: Vec<&str> = tool["_meta"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let example = &examples.iter().find(|(n, _)| *n == name).unwrap().1;
        let read_only = if tool["annotations"]["readOnlyHint"] == true {
            "yes"
        } else {
            "no"
        };
        table.push_str(&format!(
            "| `{name}` | {} | {} | {read_only} | `{example}` |\n",
            tool["_meta"]["method"].as_str().unwrap(),
            tags.join(", ")
        ));
    }
    table
}

#[test]
fn docs_tool_table_matches_the_catalog() {
    const BEGIN: &str =
        "<!-- tool-table:begin (tests/blackbox/catalog.rs renders this; UPDATE_DOCS=1 rewrites it) -->\n";
    const END: &str = "<!-- tool-table:end -->";
    let server = server();
    let path = format!("{}/docs/tools.md", env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc
        .find(BEGIN)
        .expect("docs/tools.md has the table markers")
        + BEGIN.len();
    let end = doc.find(END).unwrap();
    let table = tool_table(&server);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{table}{}", &doc[..start], &doc[end..]);
        std::fs::write(&path, updated).unwrap();
    } else {
        assert_eq!(
            doc[start..end],
            table,
            "docs/tools.md's tool table is stale: run UPDATE_DOCS=1 cargo test --test blackbox -- catalog::docs_tool_table"
        );
    }
}

/// The happy path of every tool on the other HubSpot API versions: each calls its own
/// paths, which the embedded mock (started with the same version) serves.
#[test]
fn every_tool_works_on_2026_03_and_legacy_paths() {
    for version in ["2026-03", "legacy"] {
        let server = Server::mock(&[
            ("HUBSPOT_SEARCH_RATE_PER_S", "0"),
            ("HUBSPOT_API_VERSION", version),
        ]);
        for case in record_cases() {
            let result = ok(&server, case.tool, case.args.clone());
            assert!(
                (case.check)(&result),
                "{version} {} {}: {result}",
                case.tool,
                case.args
            );
        }
    }
}

/// A server calling one version's paths against a mock serving another's fails with
/// HubSpot's 404, and the mock names the mismatch: a wrong path cannot pass unnoticed.
#[test]
fn a_path_of_the_wrong_api_version_gets_a_404() {
    let upstream = Server::mock_hubspot(&["--api-version", "legacy"]);
    assert!(upstream.log().contains("HubSpot API version legacy"));
    let auth = [("Authorization", "Bearer pat-na1-test")];
    let wrong = upstream.request("GET", "/crm/objects/2026-09/contacts?limit=1", &auth, b"");
    assert_eq!(wrong.status, 404, "{}", wrong.text());
    assert!(
        wrong.text().contains("API version 2026-09 path")
            && wrong.text().contains("this mock serves legacy"),
        "{}",
        wrong.text()
    );
    let right = upstream.request("GET", "/crm/v3/objects/contacts?limit=1", &auth, b"");
    assert_eq!(right.status, 200, "{}", right.text());
    let server = Server::start(
        &["serve"],
        &[
            ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "pat-na1-test".into()),
            ("HUBSPOT_API_URL", format!("http://{}", upstream.addr)),
        ],
        "listening on http://",
    );
    match call(&server, "get_contacts", json!({"limit": 1})) {
        Outcome::ToolError(text) => assert!(text.contains("404"), "{text}"),
        other => panic!("the default 2026-09 paths reached a legacy mock: {other:?}"),
    }
}

/// API 2026-09 refuses a write that misses a property the account's rules require; the
/// model gets the property, the rule and what to do.
#[test]
fn required_property_rules_of_2026_09_become_actionable_tool_errors() {
    let (upstream, server) = servers(&[]);
    plan(
        &upstream,
        json!([{"method": "POST", "path": "/crm/objects/2026-09/contacts", "validation": "required"},
               {"method": "PATCH", "path": "/crm/objects/2026-09/companies/", "validation": "conditional", "property": "vat_id"}]),
    );
    match call(
        &server,
        "create_contact",
        json!({"email": "rule@example.com"}),
    ) {
        Outcome::ToolError(text) => assert!(
            text.contains("400")
                && text.contains(
                    "firstname (MISSING_REQUIRED_PROPERTY: A value for firstname must be provided)"
                )
                && text.contains("include them with values"),
            "{text}"
        ),
        other => panic!("{other:?}"),
    }
    let id = ids(&ok(&server, "get_companies", json!({"limit": 1})))[0].clone();
    match call(
        &server,
        "update_company",
        json!({"id": id, "properties": {"country": "Germany"}}),
    ) {
        Outcome::ToolError(text) => assert!(
            text.contains("vat_id (MISSING_CONDITIONAL_REQUIRED_PROPERTY")
                && text.contains("conditional property rule"),
            "{text}"
        ),
        other => panic!("{other:?}"),
    }
}

/// A 401 or 403 names the scopes the tool needs for this call and where to add them.
#[test]
fn missing_scopes_are_named_per_tool_with_where_to_add_them() {
    let (upstream, server) = servers(&[]);
    plan(
        &upstream,
        json!([{"method": "GET", "path": "/crm/objects/2026-09/deals", "status": 403},
               {"method": "POST", "path": "/crm/objects/2026-09/contacts", "status": 401},
               {"method": "GET", "path": "/crm/objects/2026-09/2-3508482", "status": 403}]),
    );
    let cases = [
        ("get_deals", json!({}), "crm.objects.deals.read"),
        (
            "create_contact",
            json!({"email": "scope@example.com"}),
            "crm.objects.contacts.write",
        ),
        (
            "get_records",
            json!({"objectType": "2-3508482"}),
            "crm.objects.custom.read",
        ),
    ];
    for (tool, args, scope) in cases {
        match call(&server, tool, args) {
            Outcome::ToolError(text) => assert!(
                text.contains(&format!("this tool needs the scopes {scope}"))
                    && text.contains("Development > Keys > Service keys"),
                "{tool}: {text}"
            ),
            other => panic!("{tool}: {other:?}"),
        }
    }
}

/// `HUBSPOT_ACCESS_TOKEN` alone (a Service Key) is enough to start and call HubSpot.
#[test]
fn hubspot_access_token_alone_is_accepted() {
    let upstream = Server::mock_hubspot(&[]);
    let server = Server::start(
        &["serve"],
        &[
            ("HUBSPOT_ACCESS_TOKEN", "svc-key-test".into()),
            ("HUBSPOT_API_URL", format!("http://{}", upstream.addr)),
        ],
        "listening on http://",
    );
    let page = ok(&server, "get_contacts", json!({"limit": 1}));
    assert_eq!(page["results"].as_array().unwrap().len(), 1, "{page}");
    assert!(
        !server.log().contains("svc-key-test"),
        "the key is never logged"
    );
}

/// An upstream that echoes the Authorization header in capitals, percent-encoded or as
/// base64 gets none of those spellings of the token into a tool error or the log.
#[test]
fn an_echoed_token_is_redacted_in_every_spelling() {
    let (upstream, server) = servers(&[]);
    let token = "pat-na1-test";
    let percent: String = token.bytes().map(|b| format!("%{b:02X}")).collect();
    let base64 = "QmVhcmVyIHBhdC1uYTEtdGVzdA"; // "Bearer pat-na1-test", unpadded
    for (spelling, leak) in [
        ("upper", "PAT-NA1-TEST"),
        ("percent", &percent[..]),
        ("base64", base64),
    ] {
        plan(
            &upstream,
            json!([{"method": "GET", "path": "/crm/objects/2026-09/contacts", "echoAuthorization": true, "echoAs": spelling, "times": 3}]),
        );
        match call(&server, "get_contacts", json!({})) {
            Outcome::ToolError(text) => assert!(
                text.contains("502") && text.contains("[redacted]") && !text.contains(leak),
                "{spelling}: {text}"
            ),
            other => panic!("{spelling}: {other:?}"),
        }
        assert!(!server.log().contains(leak), "{spelling}: {}", server.log());
    }
}

/// An upstream that echoes the Authorization header (a misbehaving gateway) never gets the
/// token into a tool error or the log, and a page-long message is cut to 2,000 characters.
#[test]
fn upstream_text_is_capped_and_an_echoed_token_redacted() {
    let (upstream, server) = servers(&[]);
    plan(
        &upstream,
        json!([{"method": "GET", "path": "/crm/objects/2026-09/contacts", "echoAuthorization": true, "times": 3},
               {"method": "GET", "path": "/crm/objects/2026-09/deals", "status": 400,
                "body": {"status": "error", "message": "z".repeat(50_000), "category": "VALIDATION_ERROR"}}]),
    );
    match call(&server, "get_contacts", json!({})) {
        Outcome::ToolError(text) => assert!(
            text.contains("502")
                && text.contains("Authorization: Bearer [redacted]")
                && !text.contains("pat-na1-test"),
            "{text}"
        ),
        other => panic!("{other:?}"),
    }
    let echoed = upstream.get("/__mock/requests").json()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["fault"] == true)
        .count();
    assert_eq!(
        echoed, 3,
        "the gateway did echo the token, on every attempt"
    );
    match call(&server, "get_deals", json!({})) {
        Outcome::ToolError(text) => {
            assert!(text.contains("(cut at 2000 characters)"), "{text}");
            assert!(text.len() < 3_000, "{} bytes", text.len());
        }
        other => panic!("{other:?}"),
    }
    assert!(!server.log().contains("pat-na1-test"), "{}", server.log());
}

/// The association batch read has no page size: a page longer than `limit` is cut to it and
/// says how many links were left out, with no cursor that would skip them.
#[test]
fn get_associations_cuts_a_long_page_to_limit() {
    let server = server();
    let args = json!({"objectType": "companies", "id": "5010", "toObjectType": "contacts"});
    let all = ok(&server, "get_associations", args.clone());
    let count = all["results"].as_array().unwrap().len();
    assert!(count >= 2, "{all}");
    let mut one = args.clone();
    one["limit"] = json!(1);
    let cut = ok(&server, "get_associations", one);
    assert_eq!(cut["results"], json!([all["results"][0]]), "{cut}");
    assert_eq!(cut["truncated"]["omitted"], count - 1, "{cut}");
    assert!(cut.get("paging").is_none(), "{cut}");
}
