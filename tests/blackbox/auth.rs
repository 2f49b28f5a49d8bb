//! Who may call the MCP endpoints, tried the way a client and an attacker would: the
//! `MCP_AUTH` matrix, API keys and scoped tokens in `Authorization`, the reproductions of
//! the ways around a scoped server, slowed guessing, and the admin API kept away from
//! browsers.

use crate::common::ADMIN;
use crate::common::{temp_dir, tool_text, Client, Server, API_KEY, API_KEY_AUTH};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn list_body() -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})
}

fn call_body(name: &str, arguments: Value) -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":name,"arguments":arguments}})
}

/// Asserts a 401 as the MCP endpoints give it: the Bearer challenge and a JSON-RPC error.
fn assert_refused(reply: &crate::common::Reply) {
    assert_eq!(reply.status, 401, "{}", reply.text());
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"hubspot-mcp\"")
    );
    let body = reply.json();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["code"], -32001, "{body}");
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn admin(server: &Client, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    server.admin(ADMIN, method, path, body.as_ref())
}

/// The start-up account's id.
fn account(server: &Client) -> String {
    let (status, list) = admin(server, "GET", "/integrated-account", None);
    assert_eq!(status, 200, "{list}");
    list["result"][0]["id"].as_str().unwrap().to_string()
}

/// Mints a scoped server with `config`; returns (id, token).
fn mint(server: &Client, config: Value) -> (String, String) {
    let account = account(server);
    let (status, created) = admin(
        server,
        "POST",
        &format!("/integrated-account/{account}/mcp"),
        Some(json!({"name": "scoped", "config": config})),
    );
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_str().unwrap().to_string(),
        created["token"].as_str().unwrap().to_string(),
    )
}

fn delete_server(server: &Client, id: &str) {
    let account = account(server);
    let (status, body) = admin(
        server,
        "DELETE",
        &format!("/integrated-account/{account}/mcp/{id}"),
        None,
    );
    assert_eq!(status, 200, "{body}");
}

/// An admin-enabled server whose start-up account is a standalone mock HubSpot that answers
/// every call after `latency_ms` (so a test can act while a call is in flight); returns both.
fn behind_a_slow_hubspot(latency_ms: u64, extra: &[(&str, &str)]) -> (Server, Server) {
    let upstream = Server::mock_hubspot(&["--latency-ms", &latency_ms.to_string()]);
    let mut env = vec![
        (
            "HUBSPOT_PRIVATE_APP_ACCESS_TOKEN",
            "pat-na1-test".to_string(),
        ),
        ("HUBSPOT_API_URL", format!("http://{}", upstream.addr)),
        ("ADMIN_API_TOKEN", ADMIN.to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let server = Server::start(&["serve"], &env, "listening on http://");
    (upstream, server)
}

/// Posts `batch` to the scoped server of `token` on another thread, so the test can change
/// the server while the batch runs; join it for the reply.
fn batch_in_flight(
    server: &Server,
    token: &str,
    batch: &Value,
) -> std::thread::JoinHandle<crate::common::Reply> {
    let client = Client { addr: server.addr };
    let (url, batch) = (format!("/mcp/{token}"), batch.clone());
    std::thread::spawn(move || client.rpc(&url, &batch))
}

/// A batch of two reads: `get_contacts` (id 1), then `get_deals` (id 2).
fn two_reads() -> Value {
    json!([
        call_body("get_contacts", json!({"limit": 1})),
        {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_deals","arguments":{"limit":1}}}
    ])
}

/// An admin-enabled server on the embedded mock with `extra` environment.
fn admin_server(extra: &[(&str, &str)]) -> Server {
    let mut env = vec![("ADMIN_API_TOKEN", ADMIN)];
    env.extend_from_slice(extra);
    Server::mock(&env)
}

fn tool_names(reply: &crate::common::Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn auto_on_loopback_is_open_but_a_wrong_credential_is_refused() {
    let server = Server::mock(&[]);
    assert_eq!(server.rpc("/mcp", &list_body()).status, 200);
    assert_eq!(server.rpc("/mcp/tools/list", &list_body()).status, 200);
    let wrong = server.rpc_with(
        "/mcp",
        &list_body(),
        &[("Authorization", "Bearer not-a-key-of-this-server")],
    );
    assert_refused(&wrong);
}

#[test]
fn auto_requires_a_credential_once_the_admin_api_is_on() {
    let server = admin_server(&[("MCP_API_KEYS", API_KEY)]);
    assert_refused(&server.rpc("/mcp", &list_body()));
    assert_refused(&server.rpc("/mcp/tools/list", &list_body()));
    let admin_as_key = server.rpc_with("/mcp", &list_body(), &[("Authorization", &bearer(ADMIN))]);
    assert_refused(&admin_as_key);
    let with_key = server.rpc_with("/mcp", &list_body(), &[API_KEY_AUTH]);
    assert!(tool_names(&with_key).len() > 50);
    let per_method = server.rpc_with("/mcp/tools/list", &list_body(), &[API_KEY_AUTH]);
    assert_eq!(per_method.status, 200);
    assert!(!server.log().contains(API_KEY), "keys are never logged");
}

#[test]
fn a_scoped_client_cannot_drop_its_token_to_reach_every_tool() {
    // The reproduction: a read-only contacts URL, the token dropped, delete_deal on /mcp.
    let server = admin_server(&[]);
    let (_, token) = mint(&server, json!({"methods": ["read"], "tags": ["contacts"]}));
    let delete = call_body("delete_deal", json!({"id": "9036"}));
    assert_refused(&server.rpc("/mcp", &delete));
    assert_refused(&server.rpc("/mcp/tools/call", &delete));
    // The same token, in the header or the URL, serves only its own server.
    for (path, headers) in [
        ("/mcp".to_string(), vec![("Authorization", bearer(&token))]),
        (format!("/mcp/{token}"), vec![]),
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = server.rpc_with(&path, &delete, &headers).json();
        assert_eq!(refused["error"]["code"], -32602, "{refused}");
        let names = tool_names(&server.rpc_with(&path, &list_body(), &headers));
        assert!(names.contains(&"get_contacts".to_string()), "{names:?}");
        assert!(names.iter().all(|n| !n.contains("deal")), "{names:?}");
    }
    // Deal 9036 is still there.
    let scoped_all = mint(&server, json!({})).1;
    let deal = server.rpc_with(
        "/mcp",
        &call_body("get_deal", json!({"id": "9036"})),
        &[("Authorization", &bearer(&scoped_all))],
    );
    assert!(tool_text(&deal.json()).contains("9036"), "{}", deal.text());
    assert!(!server.log().contains(&token), "tokens are never logged");
}

#[test]
fn auto_requires_a_credential_through_a_proxy() {
    let server = Server::mock(&[]);
    for header in [
        ("X-Forwarded-For", "203.0.113.7"),
        ("Forwarded", "for=203.0.113.7;proto=https"),
    ] {
        assert_refused(&server.rpc_with("/mcp", &list_body(), &[header]));
    }
    assert_eq!(server.rpc("/mcp", &list_body()).status, 200);
    let server = Server::mock(&[("MCP_API_KEYS", API_KEY)]);
    let proxied = server.rpc_with(
        "/mcp",
        &list_body(),
        &[("X-Forwarded-For", "203.0.113.7"), API_KEY_AUTH],
    );
    assert_eq!(proxied.status, 200, "{}", proxied.text());
}

#[test]
fn required_and_none_modes() {
    let server = Server::mock(&[("MCP_AUTH", "required"), ("MCP_API_KEYS", API_KEY)]);
    assert_refused(&server.rpc("/mcp", &list_body()));
    assert_eq!(
        server
            .rpc_with("/mcp", &list_body(), &[API_KEY_AUTH])
            .status,
        200
    );
    let server = admin_server(&[("MCP_AUTH", "none")]);
    assert_eq!(server.rpc("/mcp", &list_body()).status, 200);
    assert!(
        server.log().contains("MCP_AUTH=none: anyone who reaches"),
        "{}",
        server.log()
    );
}

/// Runs the binary with `env` and returns its exit code and what it printed on stderr.
fn start_and_exit(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let data = temp_dir("refused");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
        .arg("serve")
        .env_clear()
        .env("PORT", "0")
        .env("DATA_DIR", &data)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_dir_all(&data);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_real_key_beyond_loopback_without_credentials_does_not_start() {
    let token = "pat-na1-REAL-KEY-0123456789";
    for host in ["0.0.0.0", "::", "mcp.internal.example"] {
        let (code, stderr) =
            start_and_exit(&[("HOST", host), ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", token)]);
        assert_eq!(code, Some(2), "{stderr}");
        for name in ["MCP_API_KEYS", "ADMIN_API_TOKEN", "MCP_AUTH=none"] {
            assert!(stderr.contains(name), "{name} not named: {stderr}");
        }
        assert!(!stderr.contains(token), "{stderr}");
    }
    let (code, stderr) = start_and_exit(&[
        ("MCP_AUTH", "required"),
        ("HUBSPOT_MOCK", "fixtures/hubspot"),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("MCP_AUTH=required, but no credential"),
        "{stderr}"
    );
}

#[test]
fn require_api_token_auth_needs_the_api_key_beside_the_url() {
    let server = admin_server(&[("MCP_API_KEYS", API_KEY)]);
    let (_, token) = mint(
        &server,
        json!({"methods": ["read"], "require_api_token_auth": true}),
    );
    let url = format!("/mcp/{token}");
    assert_refused(&server.rpc(&url, &list_body()));
    assert_refused(&server.rpc_with(&url, &list_body(), &[("Authorization", &bearer(&token))]));
    assert_refused(&server.rpc_with("/mcp", &list_body(), &[("Authorization", &bearer(&token))]));
    let names = tool_names(&server.rpc_with(&url, &list_body(), &[API_KEY_AUTH]));
    assert!(names.iter().all(|n| n.starts_with("get_")), "{names:?}");
    // A wrong Bearer beside a good URL token is refused too.
    assert_refused(&server.rpc_with(
        &format!("/mcp/{}", mint(&server, json!({})).1),
        &list_body(),
        &[("Authorization", "Bearer 0123456789abcdef0123456789abcdef")],
    ));
    let (status, body) = admin(
        &server,
        "POST",
        &format!("/integrated-account/{}/mcp", account(&server)),
        Some(json!({"name": "x", "config": {"require_api_token_auth": "yes"}})),
    );
    assert_eq!(status, 400, "{body}");
}

#[test]
fn guessing_credentials_is_slowed_per_address() {
    let server = admin_server(&[("MCP_API_KEYS", API_KEY)]);
    for i in 0..10 {
        let guess = format!("Bearer guess-{i:02}-0123456789abcdef");
        assert_refused(&server.rpc_with("/mcp", &list_body(), &[("Authorization", &guess)]));
    }
    // The eleventh failure blocks the address's wrong credentials for a while.
    let unknown_url = server.rpc("/mcp/0123456789abcdef0123456789abcdef", &list_body());
    assert_eq!(
        unknown_url.status, 404,
        "unknown URL tokens count as failures"
    );
    let wrong = ("Authorization", "Bearer guess-99-0123456789abcdef");
    let blocked = server.rpc_with("/mcp", &list_body(), &[wrong]);
    assert_eq!(blocked.status, 429, "{}", blocked.text());
    assert_eq!(
        blocked.json()["error"]["code"],
        -32001,
        "{}",
        blocked.text()
    );
    let wait: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=61).contains(&wait), "{wait}");
    // The admin token is counted apart: guessing MCP keys does not lock the admin out.
    assert_eq!(admin(&server, "GET", "/integrated-account", None).0, 200);
    // /health is never throttled.
    assert_eq!(server.get("/health").status, 200);
    // Behind the (trusted, loopback) proxy, another client is its own address.
    let other_client = server.rpc_with(
        "/mcp",
        &list_body(),
        &[wrong, ("X-Forwarded-For", "198.51.100.20")],
    );
    assert_refused(&other_client);
    // A forged left-most entry does not help the blocked one: the proxy appends the truth.
    let server = admin_server(&[("MCP_API_KEYS", API_KEY)]);
    for i in 0..11 {
        let guess = format!("Bearer guess-{i:02}-0123456789abcdef");
        let forged = format!("10.9.8.{i}, 203.0.113.66");
        server.rpc_with(
            "/mcp",
            &list_body(),
            &[("Authorization", &guess), ("X-Forwarded-For", &forged)],
        );
    }
    let again = server.rpc_with(
        "/mcp",
        &list_body(),
        &[wrong, ("X-Forwarded-For", "1.1.1.1, 203.0.113.66")],
    );
    assert_eq!(again.status, 429, "{}", again.text());

    // Wrong admin tokens count the same way.
    let server = admin_server(&[]);
    for _ in 0..11 {
        let reply = server.request(
            "GET",
            "/integrated-account",
            &[("Authorization", "Bearer wrong-admin-token-0123")],
            b"",
        );
        assert_eq!(reply.status, 401);
    }
    let reply = server.request(
        "GET",
        "/integrated-account",
        &[("Authorization", "Bearer wrong-admin-token-0123")],
        b"",
    );
    assert_eq!(reply.status, 429, "{}", reply.text());
    assert!(reply.header("retry-after").is_some());
}

#[test]
fn a_valid_credential_is_served_whatever_its_address_failed() {
    // Before, the 429 was decided before the credential: behind a proxy that is not
    // trusted every client shares one count, so 11 bad tokens from 11 forwarded
    // addresses locked out a valid key from a twelfth.
    let server = admin_server(&[("MCP_API_KEYS", API_KEY), ("TRUSTED_PROXIES", "none")]);
    let (_, token) = mint(&server, json!({"methods": ["read"]}));
    for i in 0..11 {
        let guess = format!("Bearer guess-{i:02}-0123456789abcdef");
        let from = format!("198.51.100.{i}");
        assert_refused(&server.rpc_with(
            "/mcp",
            &list_body(),
            &[("Authorization", &guess), ("X-Forwarded-For", &from)],
        ));
    }
    let twelfth = ("X-Forwarded-For", "198.51.100.12");
    let key = server.rpc_with("/mcp", &list_body(), &[API_KEY_AUTH, twelfth]);
    assert_eq!(key.status, 200, "{}", key.text());
    let scoped = bearer(&token);
    let by_header = server.rpc_with("/mcp", &list_body(), &[("Authorization", &scoped), twelfth]);
    assert_eq!(by_header.status, 200, "{}", by_header.text());
    let by_url = server.rpc_with(&format!("/mcp/{token}"), &list_body(), &[twelfth]);
    assert_eq!(by_url.status, 200, "{}", by_url.text());
    // Wrong credentials from the blocked address are still refused with 429, cheaply:
    // from the head, before any body.
    let guess = ("Authorization", "Bearer guess-99-0123456789abcdef");
    let blocked = server.rpc_with("/mcp", &list_body(), &[guess, twelfth]);
    assert_eq!(blocked.status, 429, "{}", blocked.text());
    assert!(blocked.header("retry-after").is_some());
    let unknown = server.rpc_with(
        "/mcp/0123456789abcdef0123456789abcdef",
        &list_body(),
        &[twelfth],
    );
    assert_eq!(unknown.status, 429, "{}", unknown.text());
    // The admin token the same way, on its own count.
    for _ in 0..11 {
        let reply = server.request(
            "GET",
            "/integrated-account",
            &[("Authorization", "Bearer wrong-admin-token-0123")],
            b"",
        );
        assert_eq!(reply.status, 401, "{}", reply.text());
    }
    assert_eq!(admin(&server, "GET", "/integrated-account", None).0, 200);
    let reply = server.request(
        "GET",
        "/integrated-account",
        &[("Authorization", "Bearer wrong-admin-token-0123")],
        b"",
    );
    assert_eq!(reply.status, 429, "{}", reply.text());
}

#[test]
fn trusted_proxies_take_ranges_and_the_client_is_read_right_to_left() {
    // Before, TRUSTED_PROXIES took single addresses only, so a proxy in a container
    // network could not be named and every client behind it shared one count.
    let server = admin_server(&[
        ("MCP_API_KEYS", API_KEY),
        ("TRUSTED_PROXIES", "127.0.0.2/31, ::1"),
    ]);
    let guess = |from: &str, forwarded: &str| {
        let body = list_body().to_string();
        let headers = [
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer guess-00-0123456789abcdef"),
            ("X-Forwarded-For", forwarded),
        ];
        let reply = server.request_from(from, "POST", "/mcp", &headers, body.as_bytes());
        reply.status
    };
    // Two proxies in the range (127.0.0.2 and 127.0.0.3, one in front of the other):
    // trusted hops are skipped from the right, and the first other address is the client.
    for i in 0..11 {
        let proxy = if i % 2 == 0 { "127.0.0.2" } else { "127.0.0.3" };
        assert_eq!(guess(proxy, "203.0.113.9, 127.0.0.3"), 401, "attempt {i}");
    }
    assert_eq!(guess("127.0.0.3", "6.6.6.6, 203.0.113.9"), 429);
    assert_eq!(guess("127.0.0.2", "203.0.113.9"), 429);
    // Another client behind the same proxies has its own count.
    assert_eq!(guess("127.0.0.2", "203.0.113.10"), 401);
    // A peer outside the range is not believed: its attempts count for itself.
    for i in 0..11 {
        assert_eq!(guess("127.0.0.4", &format!("198.51.100.{i}")), 401);
    }
    assert_eq!(guess("127.0.0.4", "198.51.100.99"), 429);
    assert_eq!(guess("127.0.0.5", "198.51.100.99"), 401);
    // And a valid key from the blocked peer is served.
    let body = list_body().to_string();
    let headers = [("Content-Type", "application/json"), API_KEY_AUTH];
    let reply = server.request_from("127.0.0.4", "POST", "/mcp", &headers, body.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// Revocation is asked again right before each request goes to HubSpot, not only before
/// the tool: a call waiting to retry a 429, or waiting for a rate-limit slot, sends nothing
/// once its server is deleted, and answers as a deleted server does.
#[test]
fn a_call_waiting_to_retry_or_for_a_rate_limit_slot_sends_nothing_once_deleted() {
    let refused = |reply: crate::common::Reply| {
        let answer = reply.json();
        assert_eq!(answer["error"]["code"], -32001, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("deleted or has expired"), "{message}");
    };
    let sent = |upstream: &Server| upstream.get("/__mock/requests").json()["count"].clone();
    // HubSpot answers 429 with Retry-After: 3, so the call waits 3 s before its retry.
    let (upstream, server) = behind_a_slow_hubspot(0, &[("HUBSPOT_MAX_WAIT_MS", "15000")]);
    let (id, token) = mint(&server, json!({"methods": ["read"]}));
    crate::common::plan(
        &upstream,
        json!({"method": "GET", "path": "/crm/", "status": 429, "retryAfter": 3}),
    );
    let call = call_body("get_contacts", json!({"limit": 1}));
    let in_flight = batch_in_flight(&server, &token, &call);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sent(&upstream) != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first try never came"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    delete_server(&server, &id);
    refused(in_flight.join().unwrap());
    assert_eq!(sent(&upstream), 1, "the retry was not sent");

    // One call per 10 s: the second waits about 10 s for its slot.
    let (upstream, server) = behind_a_slow_hubspot(
        0,
        &[
            ("HUBSPOT_RATE_LIMIT_PER_10S", "1"),
            ("HUBSPOT_MAX_WAIT_MS", "15000"),
        ],
    );
    let (id, token) = mint(&server, json!({"methods": ["read"]}));
    let first = batch_in_flight(&server, &token, &call).join().unwrap();
    assert!(
        tool_text(&first.json()).contains("results"),
        "{}",
        first.text()
    );
    let in_flight = batch_in_flight(&server, &token, &call);
    std::thread::sleep(Duration::from_secs(1));
    delete_server(&server, &id);
    refused(in_flight.join().unwrap());
    assert_eq!(sent(&upstream), 1, "the waiting call was not sent");
}

#[test]
fn deleting_a_server_stops_the_next_call_of_a_batch_in_flight() {
    // Every upstream answer takes 1.5 s, so the delete lands while item one runs.
    let (upstream, server) = behind_a_slow_hubspot(1500, &[]);
    let (id, token) = mint(&server, json!({"methods": ["read"]}));
    let in_flight = batch_in_flight(&server, &token, &two_reads());
    std::thread::sleep(Duration::from_millis(400));
    delete_server(&server, &id);
    let reply = in_flight.join().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let items = reply.json();
    assert!(tool_text(&items[0]).contains("results"), "{items}");
    assert_eq!(items[1]["error"]["code"], -32001, "{items}");
    let message = items[1]["error"]["message"].as_str().unwrap();
    assert!(message.contains("deleted or has expired"), "{message}");
    assert_eq!(
        upstream.get("/__mock/requests").json()["count"],
        1,
        "the second call never reached HubSpot"
    );
    // And the token is refused from now on.
    assert_eq!(
        server.rpc(&format!("/mcp/{token}"), &list_body()).status,
        404
    );
}

#[test]
fn a_scoped_token_resolves_while_hubspot_is_slow() {
    let (_upstream, server) = behind_a_slow_hubspot(
        4000,
        &[("HUBSPOT_POOL_THREADS", "2"), ("HUBSPOT_POOL_QUEUE", "64")],
    );
    let (_, token) = mint(&server, json!({"methods": ["read"]}));
    let url = format!("/mcp/{token}");
    let addr = server.addr;
    // Fill the HubSpot pool (2 threads) and its queue with slow calls.
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                Client { addr }.rpc(&url, &call_body("get_contacts", json!({"limit": 1})))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    for path in [url.clone(), "/mcp".to_string()] {
        let auth = bearer(&token);
        let headers: &[(&str, &str)] = if path == "/mcp" {
            &[("Authorization", &auth)]
        } else {
            &[]
        };
        let ping = server.rpc_with(
            &path,
            &json!({"jsonrpc":"2.0","id":9,"method":"ping"}),
            headers,
        );
        assert_eq!(ping.status, 200, "{}", ping.text());
    }
    // Generous: the pool is busy for about 16 s; a resolution waiting on it would show.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "scoped ping waited {:?} for the HubSpot pool",
        started.elapsed()
    );
    for call in calls {
        assert_eq!(call.join().unwrap().status, 200);
    }
}

/// The resident set of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[test]
fn minting_using_and_deleting_servers_leaves_memory_where_it_was() {
    let server = admin_server(&[]);
    let configs = [
        json!({"methods": ["read"]}),
        json!({"tags": ["deals"]}),
        json!({"methods": ["list"], "tags": ["contacts", "tickets"]}),
        json!({"tool_exposure": "discovery", "methods": ["get"]}),
    ];
    let cycle = |i: usize| {
        let (id, token) = mint(&server, configs[i % configs.len()].clone());
        assert_eq!(
            server.rpc(&format!("/mcp/{token}"), &list_body()).status,
            200
        );
        delete_server(&server, &id);
    };
    for i in 0..30 {
        cycle(i);
    }
    let before = rss_kib(server.child.id());
    for i in 0..300 {
        cycle(i);
    }
    let after = rss_kib(server.child.id());
    // Before the cache was keyed by filter, 300 cycles added about 67 MB.
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} KiB to {after} KiB over 300 cycles"
    );
}

#[test]
fn the_admin_api_is_not_a_browser_target() {
    let server = admin_server(&[]);
    let preflight = server.request(
        "OPTIONS",
        "/integrated-account",
        &[
            ("Origin", "http://localhost:5173"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    assert_eq!(preflight.status, 403, "{}", preflight.text());
    assert_eq!(preflight.header("access-control-allow-origin"), None);
    let auth = bearer(ADMIN);
    let from_page = server.request(
        "GET",
        "/integrated-account",
        &[
            ("Origin", "http://localhost:5173"),
            ("Authorization", &auth),
        ],
        b"",
    );
    assert_eq!(from_page.status, 403);
    assert_eq!(from_page.header("access-control-allow-origin"), None);
    assert_eq!(admin(&server, "GET", "/integrated-account", None).0, 200);
    // The MCP endpoint still serves allowed browser origins.
    let mcp = server.request(
        "OPTIONS",
        "/mcp",
        &[
            ("Origin", "http://localhost:5173"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    assert_eq!(mcp.status, 204);
}

#[test]
fn the_admin_api_can_have_its_own_listener() {
    let server = admin_server(&[("ADMIN_PORT", "0")]);
    let log = server.log();
    let marker = "admin API on http://";
    let admin_addr = log
        .lines()
        .find_map(|l| l.split(marker).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no admin listener in the log:\n{log}"))
        .parse()
        .unwrap();
    let admin_port = Client { addr: admin_addr };
    assert_eq!(admin(&server, "GET", "/integrated-account", None).0, 404);
    assert_eq!(
        admin(&admin_port, "GET", "/integrated-account", None).0,
        200
    );
    assert_eq!(admin_port.get("/health").status, 200);
    assert_eq!(admin_port.rpc("/mcp", &list_body()).status, 404);
    // A server minted on the admin port is served on the public one.
    let (_, token) = mint(&admin_port, json!({"methods": ["read"]}));
    assert_eq!(
        server.rpc(&format!("/mcp/{token}"), &list_body()).status,
        200
    );
}

/// Resource reads too: a delete, a narrowing PATCH or the account's deletion stops the next
/// read of a batch already running (reads used to go on with the account's HubSpot key).
#[test]
fn revocation_and_narrowing_stop_resource_reads_in_flight() {
    let (_upstream, server) = behind_a_slow_hubspot(700, &[]);
    let read = |i: u32| json!({"jsonrpc":"2.0","id":i,"method":"resources/read","params":{"uri":"hubspot://deals/9001"}});
    let batch = json!([read(1), read(2), read(3), read(4)]);
    let account = account(&server);
    let changes: [(&str, Option<Value>); 2] = [
        ("DELETE", None),
        (
            "PATCH",
            Some(json!({"config": {"methods": ["read"], "tags": ["contacts"]}})),
        ),
    ];
    for (method, body) in changes {
        let (id, token) = mint(&server, json!({"methods": ["read"]}));
        let in_flight = batch_in_flight(&server, &token, &batch);
        std::thread::sleep(Duration::from_millis(300));
        let path = format!("/integrated-account/{account}/mcp/{id}");
        assert_eq!(admin(&server, method, &path, body).0, 200);
        let items = in_flight.join().unwrap().json();
        assert!(items[0]["result"]["contents"].is_array(), "{items}");
        let refused = &items[3]["error"];
        assert!(
            refused["code"] == -32001 || refused["code"] == -32602,
            "{method}: {items}"
        );
    }
    // The account itself deleted: its servers stop too.
    let (status, other) = admin(
        &server,
        "POST",
        "/integrated-account",
        Some(json!({"name": "other", "private_app_token": "pat-na1-other-0123"})),
    );
    assert_eq!(status, 201, "{other}");
    let other = other["id"].as_str().unwrap().to_string();
    let (_, created) = admin(
        &server,
        "POST",
        &format!("/integrated-account/{other}/mcp"),
        Some(json!({"name": "x", "config": {"methods": ["read"]}})),
    );
    let token = created["token"].as_str().unwrap().to_string();
    let in_flight = batch_in_flight(&server, &token, &batch);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        admin(
            &server,
            "DELETE",
            &format!("/integrated-account/{other}"),
            None
        )
        .0,
        200
    );
    let items = in_flight.join().unwrap().json();
    assert_eq!(items[3]["error"]["code"], -32001, "{items}");
}

#[test]
fn no_header_value_hides_a_proxy() {
    use std::io::Write;
    let server = Server::mock(&[]);
    for header in [
        &b"X-Forwarded-For: \xff, 203.0.113.9"[..],
        b"Forwarded: for=\"\xfe\"",
        b"X-Real-IP: 203.0.113.9",
        b"Via: 1.1 proxy",
        b"x-forwarded-for:",
    ] {
        let body = list_body().to_string();
        let mut request = format!(
            "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(header);
        request.extend_from_slice(b"\r\n\r\n");
        request.extend_from_slice(body.as_bytes());
        let mut stream = server.connect();
        stream.write_all(&request).unwrap();
        let reply = crate::common::read_reply(&mut stream).expect("an answer");
        assert_eq!(
            reply.status,
            401,
            "{}: {}",
            String::from_utf8_lossy(header),
            reply.text()
        );
    }
}

#[test]
fn a_token_in_an_odd_path_is_never_logged() {
    let server = admin_server(&[]);
    let (_, token) = mint(&server, json!({"methods": ["read"]}));
    for path in [
        format!("//mcp/{token}"),
        format!("/api/{}/x", token.to_uppercase()),
    ] {
        let reply = server.rpc(&path, &list_body());
        assert_eq!(reply.status, 404);
        assert!(
            !reply.text().to_lowercase().contains(&token),
            "{}",
            reply.text()
        );
    }
    let log = server.log().to_lowercase();
    assert!(!log.contains(&token), "{log}");
    assert!(log.contains("<redacted>"), "{log}");
}

#[test]
fn turning_require_api_token_auth_on_stops_a_running_batch() {
    let (_upstream, server) = behind_a_slow_hubspot(700, &[("MCP_API_KEYS", API_KEY)]);
    let (id, token) = mint(&server, json!({"methods": ["read"]}));
    let in_flight = batch_in_flight(&server, &token, &two_reads());
    std::thread::sleep(Duration::from_millis(300));
    let path = format!("/integrated-account/{}/mcp/{id}", account(&server));
    let patch = json!({"config": {"methods": ["read"], "require_api_token_auth": true}});
    assert_eq!(admin(&server, "PATCH", &path, Some(patch)).0, 200);
    let items = in_flight.join().unwrap().json();
    assert_eq!(items[1]["error"]["code"], -32001, "{items}");
    assert!(
        items[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API key"),
        "{items}"
    );
}

/// Sends `head` (a request head whose body never follows) on a fresh connection and returns
/// the status, the head and the body of what the server sent before closing, which it
/// must do within 10 s (the request timeout is a minute in these tests).
fn answer_to_head(server: &Client, head: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = server.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut out = Vec::new();
    let closed = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(
        closed.is_ok(),
        "no answer and close within 10 s to {head:?}; got {text:?}"
    );
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// A head announcing a 9 MB body.
fn big_head(method: &str, path: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}Content-Length: 9000000\r\n\r\n")
}

/// A server that needs a credential on /mcp (admin API on, an API key), whose request
/// timeout (a minute) is far past the 10 s the tests wait.
fn guarded_server() -> Server {
    admin_server(&[
        ("MCP_API_KEYS", API_KEY),
        ("HTTP_REQUEST_TIMEOUT_MS", "60000"),
    ])
}

#[test]
fn a_request_refused_by_its_head_is_answered_without_reading_its_body() {
    // Before, each of these waited for the whole 9 MB body (held in memory) before the
    // refusal, or for the request timeout when it never came.
    let server = guarded_server();
    let wrong = "Authorization: Bearer wrong-key-0123456789abcdef\r\n";
    for (head, want) in [
        (big_head("POST", "/mcp", ""), 401),
        (big_head("POST", "/mcp", wrong), 401),
        (big_head("POST", "/mcp/tools/list", ""), 401),
        // No 100 Continue for a client that may not send its body.
        (big_head("POST", "/mcp", "Expect: 100-continue\r\n"), 401),
        (
            big_head("POST", &format!("/mcp/{}", "ab".repeat(16)), ""),
            404,
        ),
        (big_head("POST", "/integrated-account", ""), 401),
        (big_head("POST", "/integrated-account", wrong), 401),
        (big_head("POST", "/nowhere", ""), 404),
        (big_head("PUT", "/mcp", ""), 405),
    ] {
        let (status, answer, body) = answer_to_head(&server, &head);
        assert_eq!(status, want, "{head:?}: {answer}\n{body}");
        assert!(answer.starts_with("HTTP/1.1 "), "{head:?}: {answer}");
        assert!(answer.contains("Connection: close"), "{answer}");
        if want == 401 && head.contains("/mcp") {
            assert!(
                answer.contains("WWW-Authenticate: Bearer realm=\"hubspot-mcp\""),
                "{answer}"
            );
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"]["code"], -32001, "{body}");
        }
    }
    // Failed attempts refused from the head still count: the guesser is blocked (429).
    let blocked = (0..12).find_map(|_| {
        let (status, answer, _) = answer_to_head(&server, &big_head("POST", "/mcp", wrong));
        (status == 429).then_some(answer)
    });
    let blocked = blocked.expect("429 after 10 failed attempts");
    assert!(blocked.contains("Retry-After: "), "{blocked}");
    assert!(!server.log().contains("panicked"));
}

#[test]
fn an_admitted_client_still_sends_a_large_body() {
    use std::io::{Read, Write};
    let server = guarded_server();
    let pad = "x".repeat(9_000_000);
    let body = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"ping","params":{{"pad":"{pad}"}}}}"#);
    for expect in ["", "Expect: 100-continue\r\n"] {
        let mut stream = server.connect();
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer {API_KEY}\r\n{expect}Content-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        if !expect.is_empty() {
            let mut interim = [0u8; 25];
            stream.read_exact(&mut interim).unwrap();
            assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        for piece in body.as_bytes().chunks(256 * 1024) {
            stream.write_all(piece).unwrap();
        }
        let reply = crate::common::read_reply(&mut stream).expect("an answer");
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["id"], 7);
    }
}

/// The server's peak resident memory so far, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[test]
fn unauthenticated_bodies_are_not_held_in_memory() {
    use std::io::Write;
    let server = guarded_server();
    assert_eq!(server.get("/health").status, 200);
    let before = peak_rss_kib(server.child.id());
    // 8 clients without a credential each send a 9 MB body as fast as they can; before,
    // the server held every body whole (72 MB) to answer 401.
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let client = Client { addr: server.addr };
            std::thread::spawn(move || {
                let mut stream = client.connect();
                stream
                    .write_all(big_head("POST", "/mcp", "").as_bytes())
                    .unwrap();
                let piece = vec![b' '; 64 * 1024];
                for _ in 0..9_000_000 / piece.len() {
                    if stream.write_all(&piece).is_err() {
                        break;
                    }
                }
                crate::common::read_reply(&mut stream).map(|reply| reply.status)
            })
        })
        .collect();
    for client in clients {
        // The 401 comes while the client is still sending; the connection then closes
        // with the body unread, which a client may see as a reset before reading the 401.
        let status = client.join().unwrap();
        assert!(matches!(status, Some(401) | None), "{status:?}");
    }
    let after = peak_rss_kib(server.child.id());
    assert!(
        after < before + 24 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
    assert_eq!(server.get("/health").status, 200);
}
