//! Upstream behaviour over HTTP: rate limits, retries and HubSpot's error categories,
//! against the standalone mock HubSpot told to fail through its fault plan
//! (`POST /__mock/faults`), counting attempts with `GET /__mock/requests`.

use crate::common::{plan, servers, tool_text, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How many `method path` requests the mock answered.
fn attempts(upstream: &Server, method: &str, path: &str) -> usize {
    let log = upstream.get("/__mock/requests").json();
    log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == method && r["path"] == path)
        .count()
}

/// The tool result's text, asserting whether it is an error.
fn call(server: &Server, tool: &str, args: Value, error: bool) -> String {
    let reply = server.call_tool(tool, args);
    let text = tool_text(&reply);
    assert_eq!(reply["result"]["isError"] == true, error, "{reply}");
    text
}

const CONTACTS: &str = "/crm/objects/2026-09/contacts";

#[test]
fn a_429_is_retried_after_retry_after_and_the_call_succeeds() {
    let (upstream, server) = servers(&[]);
    plan(
        &upstream,
        json!({"method":"GET","path":CONTACTS,"status":429,"retryAfter":1}),
    );
    let started = Instant::now();
    let text = call(&server, "get_contacts", json!({"limit": 2}), false);
    assert!(text.contains("results"), "{text}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(950),
        "Retry-After: 1 honoured ({took:?})"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(attempts(&upstream, "GET", CONTACTS), 2);
    assert!(server.log().contains("retry 1"), "{}", server.log());
}

#[test]
fn a_create_is_not_retried_after_a_503_but_is_after_a_429() {
    let (upstream, server) = servers(&[]);
    plan(
        &upstream,
        json!({"method":"POST","path":CONTACTS,"status":503,"times":5}),
    );
    let text = call(
        &server,
        "create_contact",
        json!({"email":"once@example.com"}),
        true,
    );
    assert!(text.contains("HubSpot error 503"), "{text}");
    assert!(
        text.contains("not retried") && text.contains("search for it"),
        "{text}"
    );
    assert_eq!(
        attempts(&upstream, "POST", CONTACTS),
        1,
        "a create is sent once"
    );

    // A 429 means HubSpot did not process the request: safe to send again.
    plan(
        &upstream,
        json!({"method":"POST","path":CONTACTS,"status":429,"retryAfter":1}),
    );
    let text = call(
        &server,
        "create_contact",
        json!({"email":"twice@example.com"}),
        false,
    );
    assert!(text.contains("twice@example.com"), "{text}");
    assert_eq!(attempts(&upstream, "POST", CONTACTS), 3);
}

#[test]
fn a_create_that_times_out_is_not_retried() {
    let (upstream, server) = servers(&[("HUBSPOT_TIMEOUT_MS", "1000")]);
    plan(
        &upstream,
        json!({"method":"POST","path":CONTACTS,"delayMs":2500,"times":3}),
    );
    let text = call(
        &server,
        "create_contact",
        json!({"email":"slow@example.com"}),
        true,
    );
    assert!(
        text.contains("did not answer in time") && text.contains("not retried"),
        "{text}"
    );
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(attempts(&upstream, "POST", CONTACTS), 1);
}

#[test]
fn reads_and_searches_are_retried_after_502_and_504_within_a_bound() {
    let (upstream, server) = servers(&[]);
    plan(
        &upstream,
        json!([
            {"method":"GET","path":"/crm/objects/2026-09/companies","status":502,"times":2},
            {"method":"POST","path":"/crm/objects/2026-09/contacts/search","status":504},
            {"method":"GET","path":"/crm/objects/2026-09/deals","status":503,"times":10},
        ]),
    );
    let text = call(&server, "get_companies", json!({"limit": 1}), false);
    assert!(text.contains("results"), "{text}");
    assert_eq!(
        attempts(&upstream, "GET", "/crm/objects/2026-09/companies"),
        3
    );

    let text = call(&server, "search_contacts", json!({"query":"Maria"}), false);
    assert!(text.contains("total"), "{text}");
    assert_eq!(
        attempts(&upstream, "POST", "/crm/objects/2026-09/contacts/search"),
        2
    );

    // HUBSPOT_MAX_RETRIES (default 2): three attempts, then the error says so.
    let text = call(&server, "get_deals", json!({}), true);
    assert!(
        text.contains("HubSpot error 503") && text.contains("gave up after 3 attempts"),
        "{text}"
    );
    assert_eq!(attempts(&upstream, "GET", "/crm/objects/2026-09/deals"), 3);
}

#[test]
fn a_long_retry_after_and_the_daily_limit_end_the_call_at_once() {
    let (upstream, server) = servers(&[]);
    plan(
        &upstream,
        json!([
            {"method":"GET","path":CONTACTS,"status":429,"retryAfter":30},
            {"method":"GET","path":"/crm/objects/2026-09/deals","status":429,"policy":"DAILY","times":5},
        ]),
    );
    let started = Instant::now();
    let text = call(&server, "get_contacts", json!({}), true);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        text.contains("429") && text.contains("TEN_SECONDLY_ROLLING"),
        "{text}"
    );
    assert!(text.contains("retry after 30 s"), "{text}");
    assert_eq!(attempts(&upstream, "GET", CONTACTS), 1);

    let text = call(&server, "get_deals", json!({}), true);
    assert!(
        text.contains("DAILY") && text.contains("resets at midnight"),
        "{text}"
    );
    assert_eq!(attempts(&upstream, "GET", "/crm/objects/2026-09/deals"), 1);
}

#[test]
fn the_rate_limiter_refuses_calls_past_a_tiny_limit() {
    let (upstream, server) = servers(&[("HUBSPOT_RATE_LIMIT_PER_10S", "2")]);
    call(&server, "get_contacts", json!({"limit": 1}), false);
    call(&server, "get_companies", json!({"limit": 1}), false);
    let started = Instant::now();
    let text = call(&server, "get_deals", json!({"limit": 1}), true);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused, not waited"
    );
    assert!(text.starts_with("rate limited, retry after "), "{text}");
    assert!(text.contains("HUBSPOT_RATE_LIMIT_PER_10S"), "{text}");
    let secs: u64 = text["rate limited, retry after ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((8..=10).contains(&secs), "{text}");
    let log = upstream.get("/__mock/requests").json();
    assert_eq!(log["count"], 2, "HubSpot never saw the third call");
}

#[test]
fn searches_wait_for_a_slot_on_the_coroutine_without_stalling_health() {
    let (upstream, server) = servers(&[
        ("HUBSPOT_SEARCH_RATE_PER_S", "1"),
        ("HUBSPOT_MAX_WAIT_MS", "3000"),
        ("WORKERS", "1"),
    ]);
    let addr = server.addr;
    let started = Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let client = crate::common::Client { addr };
            std::thread::spawn(move || {
                client.call_tool("search_contacts", json!({"query":"Maria"}))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let asked = Instant::now();
        assert_eq!(server.get("/health").status, 200);
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "/health waited {:?} while searches waited for a slot",
            asked.elapsed()
        );
    }
    for call in calls {
        let reply = call.join().unwrap();
        assert!(tool_text(&reply).contains("total"), "{reply}");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900),
        "1 search per second: {took:?}"
    );
    assert_eq!(
        attempts(&upstream, "POST", "/crm/objects/2026-09/contacts/search"),
        3
    );
}

#[test]
fn every_hubspot_error_category_becomes_a_message_a_model_can_act_on() {
    let (upstream, server) = servers(&[]);
    let validation = json!({
        "status": "error",
        "message": "Property values were not valid: [{\"isValid\":false,\"message\":\"Property \\\"favorite_color\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"favorite_color\"}]",
        "correlationId": "5f1c1a2e-0000-4000-8000-000000000001",
        "category": "VALIDATION_ERROR",
        "errors": [{"message": "Property \"favorite_color\" does not exist", "code": "PROPERTY_DOESNT_EXIST", "context": {"propertyName": ["favorite_color"]}}]
    });
    let scopes = json!({
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
        "correlationId": "5f1c1a2e-0000-4000-8000-000000000002",
        "category": "MISSING_SCOPES",
        "errors": [{"message": "One or more of the following scopes are required.", "context": {"requiredGranularScopes": ["crm.objects.deals.read"]}}]
    });
    let cases = [
        (
            json!({"status":401}),
            "get_contacts",
            vec![
                "HubSpot error 401",
                "INVALID_AUTHENTICATION",
                "check HUBSPOT_PRIVATE_APP_ACCESS_TOKEN",
            ],
        ),
        (
            json!({"status":403,"body":scopes}),
            "get_deals",
            vec![
                "MISSING_SCOPES",
                "required scopes: crm.objects.deals.read",
                "add the scope",
            ],
        ),
        (
            json!({"status":404}),
            "get_companies",
            vec!["HubSpot error 404", "OBJECT_NOT_FOUND", "list or search"],
        ),
        (
            json!({"status":423}),
            "get_contacts",
            vec!["HubSpot error 423", "LOCKED", "try again in a few seconds"],
        ),
        (
            json!({"status":400,"body":validation}),
            "create_contact",
            vec![
                "VALIDATION_ERROR",
                "invalid properties: favorite_color (PROPERTY_DOESNT_EXIST",
                "5f1c1a2e-0000-4000-8000-000000000001",
            ],
        ),
        (
            json!({"status":429,"policy":"SECONDLY","retryAfter":60}),
            "search_contacts",
            vec!["SECONDLY", "retry after 60 s"],
        ),
    ];
    for (fault, tool, expected) in cases {
        plan(&upstream, fault);
        let args = match tool {
            "create_contact" => json!({"email":"new.person@example.com"}),
            "search_contacts" => json!({"query":"x"}),
            _ => json!({}),
        };
        let text = call(&server, tool, args, true);
        for part in expected {
            assert!(text.contains(part), "{tool}: missing {part:?} in {text}");
        }
        assert!(!text.contains("pat-na1-test"), "{text}");
    }
    // 409 from the mock itself: an existing contact's email; the message gives its id.
    plan(&upstream, json!([]));
    let text = call(
        &server,
        "create_contact",
        json!({"email":"dup@example.com"}),
        false,
    );
    let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let text = call(
        &server,
        "create_contact",
        json!({"email":"dup@example.com"}),
        true,
    );
    assert!(
        text.contains("409") && text.contains(&format!("read or update record {id} instead")),
        "{text}"
    );
}

#[test]
fn the_mock_reports_rate_limit_headers_like_hubspot() {
    let upstream = Server::mock_hubspot(&[]);
    let auth = [("Authorization", "Bearer pat-na1-test")];
    let reply = upstream.request("GET", "/crm/objects/2026-09/contacts?limit=1", &auth, b"");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-hubspot-ratelimit-max"), Some("100"));
    assert_eq!(reply.header("x-hubspot-ratelimit-remaining"), Some("99"));
    assert_eq!(
        reply.header("x-hubspot-ratelimit-interval-milliseconds"),
        Some("10000")
    );
    let search = upstream.request(
        "POST",
        "/crm/objects/2026-09/contacts/search",
        &[auth[0], ("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(search.status, 200);
    assert_eq!(search.header("x-hubspot-ratelimit-max"), None);
}

#[test]
fn scoped_servers_share_their_accounts_rate_limit_with_mcp() {
    let admin_token = "admin-secret-0123456789abcdef";
    let (upstream, server) = servers(&[
        ("HUBSPOT_RATE_LIMIT_PER_10S", "2"),
        ("ADMIN_API_TOKEN", admin_token),
        ("MCP_API_KEYS", crate::common::API_KEY),
    ]);
    let auth = format!("Bearer {admin_token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let accounts = server.request("GET", "/integrated-account", &headers, b"");
    assert_eq!(accounts.status, 200, "{}", accounts.text());
    let account = accounts.json()["result"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let minted = server.request(
        "POST",
        &format!("/integrated-account/{account}/mcp"),
        &headers,
        json!({"name": "limits", "config": {}})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(minted.status, 201, "{}", minted.text());
    let scoped = format!("/mcp/{}", minted.json()["token"].as_str().unwrap());
    let call_scoped = || {
        let reply = server.rpc(
            &scoped,
            &json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_deals","arguments":{"limit":1}}}),
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    };
    let first = server.call_tool_with(
        "get_contacts",
        json!({"limit": 1}),
        &[crate::common::API_KEY_AUTH],
    );
    assert!(first["result"]["isError"].is_null(), "{first}");
    let second = call_scoped();
    assert!(second["result"]["isError"].is_null(), "{second}");
    // Each scoped request builds its own client, yet the account's limit holds.
    let third = call_scoped();
    assert_eq!(third["result"]["isError"], true, "{third}");
    assert!(tool_text(&third).starts_with("rate limited, retry after"));
    assert_eq!(upstream.get("/__mock/requests").json()["count"], 2);
}

/// One scoped server's batch took the account's whole budget and the
/// account's other servers waited behind all of it. Two servers on one account (2 calls per
/// 10 s): one floods with three concurrent batches of `get_contact`, the other makes one
/// `get_deal` call while the flood waits. Its call goes out with the first slots that free
/// up, not after the flood's queued calls (before the fix: after at least four of them).
#[test]
fn a_flooding_scoped_server_does_not_starve_another_on_the_same_account() {
    let admin_token = "admin-secret-0123456789abcdef";
    let (upstream, server) = servers(&[
        ("HUBSPOT_RATE_LIMIT_PER_10S", "2"),
        ("HUBSPOT_MAX_WAIT_MS", "60000"),
        ("ADMIN_API_TOKEN", admin_token),
    ]);
    let auth = format!("Bearer {admin_token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let account = server
        .request("GET", "/integrated-account", &headers, b"")
        .json()["result"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mint = || {
        let minted = server.request(
            "POST",
            &format!("/integrated-account/{account}/mcp"),
            &headers,
            json!({"name": "fair", "config": {}}).to_string().as_bytes(),
        );
        assert_eq!(minted.status, 201, "{}", minted.text());
        format!("/mcp/{}", minted.json()["token"].as_str().unwrap())
    };
    let (flood, other) = (mint(), mint());
    let batch: Vec<Value> = (0..3)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":"get_contact","arguments":{"id":"101"}}}))
        .collect();
    let body = Value::Array(batch).to_string();
    for _ in 0..3 {
        let (client, path, body) = (*server, flood.clone(), body.clone());
        // Left running: the server is stopped when the test ends.
        std::thread::spawn(move || {
            client.try_request(
                "POST",
                &path,
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            )
        });
    }
    // Let the flood spend the window and queue its next calls.
    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream.get("/__mock/requests").json()["count"] != 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let reply = server.rpc(
        &other,
        &json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_deal","arguments":{"id":"9002"}}}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = reply.json();
    assert!(reply["result"]["isError"].is_null(), "{reply}");
    let log = upstream.get("/__mock/requests").json();
    let paths: Vec<&str> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    let deal = paths
        .iter()
        .position(|p| p.starts_with("/crm/objects/2026-09/deals/9002"))
        .expect("the deal call reached HubSpot");
    // Two flood calls spent the window; when it frees, the other server's call goes first
    // (one flood call may share that instant and be logged before it).
    assert!(
        deal <= 3,
        "flood calls before the other server's: {paths:?}"
    );
}

/// What a 200 from HubSpot (or a proxy in its place) cannot do to a tool result, now that a
/// read's answer is passed on without a `Value` tree: a small, deeply nested body cannot
/// make the server write megabytes of indentation (it once grew to hundreds of MB and
/// aborted), whitespace cannot carry `structuredContent` past `TOOL_RESULT_MAX_BYTES`, and
/// what serde_json refuses (too deep, a lone surrogate, a number out of range) is a tool
/// error, as before, never `null` or a reply a strict client cannot parse.
#[test]
fn odd_successful_answers_stay_bounded_and_readable() {
    let (upstream, server) = servers(&[
        ("HUBSPOT_RATE_LIMIT_PER_10S", "0"),
        ("TOOL_RESULT_MAX_BYTES", "20000"),
    ]);
    let answer = |body: String| {
        plan(
            &upstream,
            json!([{ "path": CONTACTS, "status": 200, "body": body }]),
        );
        let reply = server.rpc_with(
            "/mcp",
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "get_contacts", "arguments": {"limit": 1}}}),
            &[("MCP-Protocol-Version", "2025-06-18")],
        );
        assert_eq!(reply.status, 200);
        (reply.body.len(), reply.json())
    };
    for (name, body) in [
        (
            "nested 20,000 deep",
            "[".repeat(20_000) + &"]".repeat(20_000),
        ),
        (
            "a lone surrogate",
            r#"{"results":[{"id":"\ud800"}]}"#.to_string(),
        ),
        (
            "a number out of range",
            r#"{"results":[{"id":1e400}]}"#.to_string(),
        ),
    ] {
        let (size, reply) = answer(body);
        assert_eq!(reply["result"]["isError"], true, "{name}: {reply}");
        assert!(size < 2_000, "{name}: {size} bytes");
        let text = tool_text(&reply);
        assert!(
            text.contains("cannot be read") || text.contains("nests more than 64 levels"),
            "{name}: {reply}"
        );
    }
    // At the nesting limit, read into a value on the coroutine's stack: answered.
    let (_, reply) = answer("[".repeat(64) + &"]".repeat(64));
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    // 300 kB of whitespace inside a small answer: shown compact, under the limit.
    let padded = format!(r#"{{"results":[{{"id":"7"{}}}]}}"#, " ".repeat(300_000));
    let (size, reply) = answer(padded);
    assert!(size < 20_000, "{size} bytes past TOOL_RESULT_MAX_BYTES");
    assert_eq!(
        reply["result"]["structuredContent"]["results"][0]["id"],
        "7"
    );
    // A valid surrogate pair and a large integer still pass through as HubSpot sent them.
    let (_, reply) = answer(
        r#"{"results":[{"id":"\ud83d\ude00","n":123456789012345678901234567890}]}"#.to_string(),
    );
    assert_eq!(
        reply["result"]["structuredContent"]["results"][0]["id"],
        "😀"
    );
    assert!(server.get("/health").status == 200);
}
