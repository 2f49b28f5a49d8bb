//! The Truto-compatible admin API and scoped `/mcp/<token>` servers, over HTTP.

use crate::common::ADMIN;
use crate::common::{temp_dir, tool_text, Server};
use serde_json::{json, Value};

fn admin_server(data_dir: &std::path::Path) -> Server {
    admin_server_with(data_dir, "http://127.0.0.1:9")
}

/// An admin-enabled server on the embedded mock whose token accounts call `api_url`.
fn admin_server_with(data_dir: &std::path::Path, api_url: &str) -> Server {
    Server::start(
        &["serve"],
        &[
            ("HUBSPOT_MOCK", crate::common::fixtures()),
            ("ADMIN_API_TOKEN", ADMIN.into()),
            ("MCP_API_KEYS", crate::common::API_KEY.into()),
            ("DATA_DIR", data_dir.display().to_string()),
            ("HUBSPOT_API_URL", api_url.into()),
        ],
        "listening on http://",
    )
}

fn admin(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    server.admin(ADMIN, method, path, body.as_ref())
}

fn default_account(server: &Server) -> String {
    let (status, list) = admin(server, "GET", "/integrated-account", None);
    assert_eq!(status, 200, "{list}");
    list["result"][0]["id"].as_str().unwrap().to_string()
}

fn mint(server: &Server, account: &str, config: Value) -> (u16, Value) {
    admin(
        server,
        "POST",
        &format!("/integrated-account/{account}/mcp"),
        Some(json!({"name": "test", "config": config})),
    )
}

/// Every tool a server lists (all pages).
/// Every tool `path` lists; `/mcp` (which needs a credential once the admin API is on) is
/// asked with the API key, scoped URLs with nothing but their token.
fn tools(server: &Server, path: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = Value::Null;
    let auth: &[(&str, &str)] = if path == "/mcp" {
        &[crate::common::API_KEY_AUTH]
    } else {
        &[]
    };
    loop {
        let reply = server.rpc_with(
            path,
            &json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":cursor}}),
            auth,
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
        let result = reply.json()["result"].clone();
        all.extend(result["tools"].as_array().unwrap().iter().cloned());
        match result.get("nextCursor") {
            Some(next) => cursor = next.clone(),
            None => return all,
        }
    }
}

fn tool_names(server: &Server, path: &str) -> Vec<String> {
    let mut names: Vec<String> = tools(server, path)
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn create_returns_the_seed_shape_and_the_token_only_once() {
    let dir = temp_dir("scoped");
    let server = admin_server(&dir);
    let account = default_account(&server);
    let (status, created) = admin(
        &server,
        "POST",
        &format!("/integrated-account/{account}/mcp"),
        Some(
            json!({"name": "Read-only HubSpot", "config": {"methods": ["read"], "tags": ["contacts"]}}),
        ),
    );
    assert_eq!(status, 201, "{created}");
    for field in [
        "id",
        "name",
        "config",
        "integrated_account_id",
        "created_by",
        "created_at",
        "updated_at",
        "expires_at",
        "token",
        "url",
    ] {
        assert!(created.get(field).is_some(), "{field} in {created}");
    }
    let token = created["token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(created["url"], format!("http://localhost/mcp/{token}"));
    assert_eq!(created["integrated_account_id"], account.as_str());
    assert_eq!(created["created_by"], "admin");
    assert_eq!(created["expires_at"], Value::Null);
    let id = created["id"].as_str().unwrap();

    let (_, got) = admin(
        &server,
        "GET",
        &format!("/integrated-account/{account}/mcp/{id}"),
        None,
    );
    let (_, listed) = admin(
        &server,
        "GET",
        &format!("/integrated-account/{account}/mcp"),
        None,
    );
    let (_, patched) = admin(
        &server,
        "PATCH",
        &format!("/integrated-account/{account}/mcp/{id}"),
        Some(json!({"name": "Renamed"})),
    );
    assert_eq!(got["name"], "Read-only HubSpot");
    assert_eq!(listed["result"][0]["id"], id);
    assert!(listed.get("next_cursor").is_some());
    assert_eq!(patched["name"], "Renamed");
    for body in [&got, &listed, &patched] {
        assert!(
            !body.to_string().contains(token),
            "the token is shown only at create: {body}"
        );
    }
    let file = std::fs::read_to_string(dir.join("registry.json")).unwrap();
    assert!(
        !file.contains(token),
        "the registry holds only the token's hash"
    );

    // The scoped URL serves only the allowed tools, and refuses the others.
    assert_eq!(
        tool_names(&server, &format!("/mcp/{token}")),
        vec!["get_contact", "get_contacts"]
    );
    let reply = server.rpc(
        &format!("/mcp/{token}/tools/call"),
        &json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_contacts","arguments":{"limit":2}}}),
    );
    assert!(tool_text(&reply.json()).contains("results"));
    let reply = server.rpc(
        &format!("/mcp/{token}"),
        &json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"create_contact","arguments":{"email":"x@y.example"}}}),
    );
    let error = &reply.json()["error"];
    assert_eq!(error["code"], -32602);
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("not available on this server"));
    let resources = server
        .rpc(
            &format!("/mcp/{token}"),
            &json!({"jsonrpc":"2.0","id":4,"method":"resources/list"}),
        )
        .json();
    assert_eq!(
        resources["result"]["resources"].as_array().unwrap().len(),
        1
    );
    let reply = server.rpc(&format!("/mcp/{token}"), &json!({"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"hubspot://deals"}}));
    assert_eq!(reply.json()["error"]["code"], -32002);
    // A matching Bearer is accepted; a different one is refused.
    let auth = format!("Bearer {token}");
    let ok = server.rpc_with(
        &format!("/mcp/{token}"),
        &json!({"jsonrpc":"2.0","id":6,"method":"ping"}),
        &[("Authorization", &auth)],
    );
    assert_eq!(ok.status, 200);
    let wrong = server.rpc_with(
        &format!("/mcp/{token}"),
        &json!({"jsonrpc":"2.0","id":6,"method":"ping"}),
        &[("Authorization", "Bearer 0123")],
    );
    assert_eq!(wrong.status, 401);

    let (status, _) = admin(
        &server,
        "DELETE",
        &format!("/integrated-account/{account}/mcp/{id}"),
        None,
    );
    assert_eq!(status, 200);
    let gone = server.rpc(
        &format!("/mcp/{token}"),
        &json!({"jsonrpc":"2.0","id":7,"method":"tools/list"}),
    );
    assert_eq!(gone.status, 404);
    assert!(!server.log().contains(token), "tokens are never logged");
}

#[test]
fn filter_semantics_table() {
    let server = admin_server(&temp_dir("filters"));
    let account = default_account(&server);
    // The unscoped catalog, with each tool's Truto method and tags, is the oracle.
    let catalog: Vec<(String, String, Vec<String>)> = tools(&server, "/mcp")
        .iter()
        .map(|t| {
            let tags = t["_meta"]["tags"].as_array().unwrap();
            (
                t["name"].as_str().unwrap().to_string(),
                t["_meta"]["method"].as_str().unwrap().to_string(),
                tags.iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let select = |keep: &dyn Fn(&str, &[String]) -> bool| -> Vec<String> {
        let mut names: Vec<String> = catalog
            .iter()
            .filter(|(_, m, tags)| keep(m, tags))
            .map(|(n, _, _)| n.clone())
            .collect();
        names.sort();
        names
    };
    let standard = ["get", "list", "create", "update", "delete"];
    let has = |tags: &[String], t: &str| tags.iter().any(|x| x == t);
    let cases: Vec<(Value, Vec<String>)> = vec![
        (json!({}), select(&|_, _| true)),
        (
            json!({"methods": ["read"]}),
            select(&|m, _| m == "get" || m == "list"),
        ),
        (
            json!({"methods": ["write"]}),
            select(&|m, _| ["create", "update", "delete"].contains(&m)),
        ),
        (
            json!({"methods": ["custom"]}),
            select(&|m, _| !standard.contains(&m)),
        ),
        (
            json!({"methods": ["LIST", "Search"]}),
            select(&|m, _| m == "list" || m == "search"),
        ),
        (
            json!({"tags": ["deals", "companies"]}),
            select(&|_, t| has(t, "deals") || has(t, "companies")),
        ),
        (
            json!({"methods": ["read", "create"], "tags": ["contacts"]}),
            select(&|m, t| ["get", "list", "create"].contains(&m) && has(t, "contacts")),
        ),
    ];
    for (config, expected) in cases {
        assert!(!expected.is_empty(), "{config}");
        let (status, created) = mint(&server, &account, config.clone());
        assert_eq!(status, 201, "{config}: {created}");
        let names = tool_names(
            &server,
            &format!("/mcp/{}", created["token"].as_str().unwrap()),
        );
        assert_eq!(names, expected, "{config}");
    }
    // Spot checks that do not depend on the oracle.
    let (_, created) = mint(
        &server,
        &account,
        json!({"methods": ["list"], "tags": ["deals", "companies"]}),
    );
    assert_eq!(
        tool_names(
            &server,
            &format!("/mcp/{}", created["token"].as_str().unwrap())
        ),
        vec!["get_companies", "get_deal_pipelines", "get_deals"]
    );
    let (_, created) = mint(
        &server,
        &account,
        json!({"methods": ["delete"], "tags": ["contacts"]}),
    );
    assert_eq!(
        tool_names(
            &server,
            &format!("/mcp/{}", created["token"].as_str().unwrap())
        ),
        vec!["delete_contact"]
    );
    // No tool matches: 400 naming the valid methods and tags; the first specification's example too.
    for config in [
        json!({"methods": ["delete"], "tags": ["owners"]}),
        json!({"methods": ["GET","POST","READ","DOWNLAOD"], "tags": ["api","webhook"]}),
    ] {
        let (status, error) = mint(&server, &account, config.clone());
        assert_eq!(status, 400, "{config}: {error}");
        assert_eq!(error["statusCode"], 400);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("contacts") && message.contains("list"),
            "{message}"
        );
    }
    let (status, _) = mint(&server, &account, json!({"methods": "read"}));
    assert_eq!(status, 400);
}

/// `POST /integrated-account/{account}/mcp` sent with `host` as the `Host` header (and
/// `extra` headers); the status and the JSON answer.
fn mint_with_host(server: &Server, account: &str, host: &str, extra: &str) -> (u16, Value) {
    use std::io::Write;
    let body = json!({"name": "by host"}).to_string();
    let mut stream = server.connect();
    write!(
        stream,
        "POST /integrated-account/{account}/mcp HTTP/1.1\r\nHost: {host}\r\n{extra}\
         Authorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let reply = crate::common::read_reply(&mut stream).expect("a response");
    (reply.status, reply.json())
}

/// A minted URL is built from `PUBLIC_URL`, else from `Host` only when it names this machine
/// (loopback): any other `Host` is the client's word, and a URL built from it could send
/// the token's holder (and the token) elsewhere. The server is still minted, with `url: null`
/// and a note saying to set `PUBLIC_URL`.
#[test]
fn minted_urls_come_from_public_url_or_a_loopback_host_only() {
    let server = admin_server(&temp_dir("url-host"));
    let account = default_account(&server);
    for host in [
        "localhost",
        "LOCALHOST:3000",
        "127.0.0.1:8080",
        "127.1.2.3",
        "[::1]:3000",
        "[::1]",
    ] {
        let (status, created) = mint_with_host(&server, &account, host, "");
        assert_eq!(status, 201, "{host}: {created}");
        let token = created["token"].as_str().unwrap();
        assert_eq!(
            created["url"],
            format!("http://{host}/mcp/{token}"),
            "{host}"
        );
    }
    let (_, created) = mint_with_host(
        &server,
        &account,
        "127.0.0.1",
        "X-Forwarded-Proto: https\r\n",
    );
    assert!(created["url"]
        .as_str()
        .unwrap()
        .starts_with("https://127.0.0.1/mcp/"));
    for host in [
        "evil.example.com",
        "evil.example.com:3000",
        "localhost.evil.example.com",
        "localhost:80@evil.example.com",
        "127.0.0.1:80@evil.example.com",
        "localhost:3000/evil",
        "[::1]x",
        "10.0.0.1",
        "[::2]:3000",
    ] {
        let (status, created) = mint_with_host(&server, &account, host, "");
        if status == 400 {
            // Not a host[:port] at all: the HTTP layer refused it before the admin API.
            assert!(
                created["message"].as_str().unwrap().contains("Host"),
                "{created}"
            );
            continue;
        }
        assert_eq!(status, 201, "{host}: {created}");
        assert!(created["token"].is_string(), "{host}: {created}");
        assert_eq!(created["url"], Value::Null, "{host}: {created}");
        let note = created["url_note"].as_str().unwrap_or_default();
        assert!(note.contains("PUBLIC_URL"), "{host}: {created}");
        assert!(!note.contains("evil"), "{host}: {created}");
    }
    // PUBLIC_URL wins over any Host.
    let dir = temp_dir("url-public");
    let server = Server::start(
        &["serve"],
        &[
            ("HUBSPOT_MOCK", crate::common::fixtures()),
            ("ADMIN_API_TOKEN", ADMIN.into()),
            ("DATA_DIR", dir.display().to_string()),
            ("PUBLIC_URL", "https://mcp.example.com/".into()),
        ],
        "listening on http://",
    );
    let account = default_account(&server);
    for host in ["evil.example.com", "localhost"] {
        let (status, created) = mint_with_host(&server, &account, host, "");
        assert_eq!(status, 201, "{created}");
        let token = created["token"].as_str().unwrap();
        assert_eq!(
            created["url"],
            format!("https://mcp.example.com/mcp/{token}")
        );
        assert!(created.get("url_note").is_none(), "{created}");
    }
}

/// An explicit empty list would read as "no restriction" (a full read/write/delete
/// server) where the admin most likely meant "nothing": it is refused, on create and on
/// PATCH, with the way to ask for no restriction; so is a config that selects no tool.
#[test]
fn empty_lists_and_configs_matching_nothing_are_refused_on_create_and_patch() {
    let server = admin_server(&temp_dir("empty-filter"));
    let account = default_account(&server);
    let (status, created) = mint(&server, &account, json!({"methods": ["read"]}));
    assert_eq!(status, 201, "{created}");
    let patch_path = format!(
        "/integrated-account/{account}/mcp/{}",
        created["id"].as_str().unwrap()
    );
    let cases = [
        (json!({"methods": []}), "config.methods"),
        (json!({"tags": []}), "config.tags"),
        (
            json!({"methods": [], "tags": ["contacts"]}),
            "config.methods",
        ),
        (json!({"methods": ["read"], "tags": []}), "config.tags"),
    ];
    for (config, field) in cases {
        let (status, error) = mint(&server, &account, config.clone());
        let (patch_status, patch_error) = admin(
            &server,
            "PATCH",
            &patch_path,
            Some(json!({"config": config.clone()})),
        );
        for (status, error) in [(status, error), (patch_status, patch_error)] {
            assert_eq!(status, 400, "{config}: {error}");
            let message = error["message"].as_str().unwrap();
            assert!(
                message.contains(field) && message.contains("omit"),
                "{config}: {message}"
            );
        }
    }
    for config in [
        json!({"methods": ["delete"], "tags": ["owners"]}),
        json!({"tags": ["nothing-has-this-tag"]}),
    ] {
        let (status, error) = admin(
            &server,
            "PATCH",
            &patch_path,
            Some(json!({"config": config.clone()})),
        );
        assert_eq!(status, 400, "{config}: {error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("selects no tool"),
            "{error}"
        );
    }
    // Nothing above changed the server; omitting the fields still means every tool.
    let (_, shown) = admin(&server, "GET", &patch_path, None);
    assert_eq!(shown["config"], json!({"methods": ["read"]}));
    let (status, created) = mint(&server, &account, json!({"methods": null}));
    assert_eq!(status, 201, "{created}");
}

#[test]
fn expiry_is_checked_at_create_and_an_expired_server_is_gone() {
    let dir = temp_dir("expiry");
    let (id, token) = {
        let server = admin_server(&dir);
        let account = default_account(&server);
        let path = format!("/integrated-account/{account}/mcp");
        for bad in [
            json!("tomorrow"),
            json!(rfc3339_in(30)),
            json!(rfc3339_in(-3600)),
            json!(12345),
        ] {
            let (status, error) = admin(
                &server,
                "POST",
                &path,
                Some(json!({"name": "x", "expires_at": bad})),
            );
            assert_eq!(status, 400, "{bad}: {error}");
            assert!(error["message"].as_str().unwrap().contains("expires_at"));
        }
        // The upper bound: ten years ahead (3650 days) is the latest, on create and PATCH.
        for far in [
            json!("9999-12-31T23:59:59Z"),
            json!(rfc3339_in(3651 * 86400)),
        ] {
            let (status, error) = admin(
                &server,
                "POST",
                &path,
                Some(json!({"name": "x", "expires_at": far})),
            );
            assert_eq!(status, 400, "{far}: {error}");
            let message = error["message"].as_str().unwrap();
            assert!(message.contains("at most 3650 days"), "{message}");
        }
        let (status, created) = admin(
            &server,
            "POST",
            &path,
            Some(json!({"name": "decade", "expires_at": rfc3339_in(3649 * 86400)})),
        );
        assert_eq!(status, 201, "{created}");
        let (status, error) = admin(
            &server,
            "PATCH",
            &format!("{path}/{}", created["id"].as_str().unwrap()),
            Some(json!({"expires_at": "9999-12-31T23:59:59Z"})),
        );
        assert_eq!(status, 400, "{error}");
        let (status, created) = admin(
            &server,
            "POST",
            &path,
            Some(json!({"name": "week", "expires_at": rfc3339_in(7 * 86400)})),
        );
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        let (status, patched) = admin(
            &server,
            "PATCH",
            &format!("{path}/{id}"),
            Some(json!({"expires_at": null})),
        );
        assert_eq!((status, patched["expires_at"].clone()), (200, Value::Null));
        let (status, patched) = admin(
            &server,
            "PATCH",
            &format!("{path}/{id}"),
            Some(json!({"expires_at": rfc3339_in(120)})),
        );
        assert_eq!(status, 200, "{patched}");
        (id, created["token"].as_str().unwrap().to_string())
    };
    // Time passes while the server is down: move the stored expiry into the past. The record
    // changed by hand no longer matches its MAC, so it goes in unsigned, accepted by the
    // setting that signs records written before records were signed.
    let file = dir.join("registry.json");
    let mut registry: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let servers = registry["servers"].as_array_mut().unwrap();
    let stored = servers.iter_mut().find(|s| s["id"] == id.as_str()).unwrap();
    stored["expires_at"] = json!(rfc3339_in(-5));
    stored.as_object_mut().unwrap().remove("mac");
    std::fs::write(&file, registry.to_string()).unwrap();

    let server = Server::start(
        &["serve"],
        &[
            ("HUBSPOT_MOCK", crate::common::fixtures()),
            ("ADMIN_API_TOKEN", ADMIN.into()),
            ("DATA_DIR", dir.display().to_string()),
            ("REGISTRY_ACCEPT_UNSIGNED", "true".into()),
        ],
        "listening on http://",
    );
    let reply = server.rpc(
        &format!("/mcp/{token}"),
        &json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    );
    assert_eq!(reply.status, 404);
    assert!(
        !std::fs::read_to_string(&file).unwrap().contains(&id),
        "the expired server was deleted"
    );
}

/// An RFC 3339 UTC time `secs` seconds from now (formatted by `date`).
fn rfc3339_in(secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let out = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{}", now + secs),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Runs a second server process on `dir` to completion (it is expected to refuse to start).
fn start_on(dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
        .env_clear()
        .env("HUBSPOT_MOCK", crate::common::fixtures())
        .env("DATA_DIR", dir)
        .env("PORT", "0")
        .output()
        .unwrap()
}

#[test]
fn admin_routes_refuse_missing_and_wrong_tokens_and_are_off_without_one() {
    let server = admin_server(&temp_dir("auth"));
    assert_eq!(server.get("/integrated-account").status, 401);
    let wrong = server.request(
        "GET",
        "/integrated-account",
        &[("Authorization", "Bearer admin-secret-0123456789abcdeX")],
        b"",
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["statusCode"], 401);
    let off = Server::mock(&[]);
    let reply = off.get("/integrated-account");
    assert_eq!(reply.status, 404);
    assert!(off.log().contains("admin API off"));
}

#[test]
fn restart_keeps_accounts_and_servers_and_seals_hubspot_keys() {
    let dir = temp_dir("restart");
    let upstream = Server::mock_hubspot(&[]);
    let api_url = format!("http://{}", upstream.addr);
    let secret = "pat-na1-restart-SECRET-42";
    let (account, token, sealed_token) = {
        let server = admin_server_with(&dir, &api_url);
        let account = default_account(&server);
        let (_, created) = mint(
            &server,
            &account,
            json!({"methods": ["list"], "tags": ["deals"]}),
        );
        let (status, other) = admin(
            &server,
            "POST",
            "/integrated-account",
            Some(json!({"name": "Sales", "private_app_token": secret})),
        );
        assert_eq!(status, 201, "{other}");
        assert!(!other.to_string().contains(secret));
        let other_id = other["id"].as_str().unwrap();
        let (_, sealed) = mint(
            &server,
            other_id,
            json!({"methods": ["list"], "tags": ["companies"]}),
        );
        // A second process on the same DATA_DIR is refused.
        let output = start_on(&dir);
        assert_eq!(output.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("lock"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!server.log().contains(secret));
        (
            account,
            created["token"].as_str().unwrap().to_string(),
            sealed["token"].as_str().unwrap().to_string(),
        )
    };
    let file = std::fs::read_to_string(dir.join("registry.json")).unwrap();
    assert!(
        !file.contains(secret),
        "HubSpot keys are sealed in the registry file"
    );
    let server = admin_server_with(&dir, &api_url);
    assert_eq!(
        default_account(&server),
        account,
        "the start-up account keeps its id"
    );
    let (_, accounts) = admin(&server, "GET", "/integrated-account", None);
    assert_eq!(accounts["result"].as_array().unwrap().len(), 2);
    assert_eq!(
        tool_names(&server, &format!("/mcp/{token}")),
        vec!["get_deal_pipelines", "get_deals"]
    );
    // The sealed key opens after the restart: the account's server reaches its HubSpot.
    let reply = server.rpc(
        &format!("/mcp/{sealed_token}"),
        &json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_companies","arguments":{"limit":1}}}),
    );
    assert!(
        tool_text(&reply.json()).contains("results"),
        "{}",
        reply.text()
    );
}

#[test]
fn a_corrupt_registry_stops_start_up_and_is_left_alone() {
    let dir = temp_dir("corrupt");
    std::fs::write(dir.join("registry.json"), b"{ not json").unwrap();
    let output = start_on(&dir);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("registry.json"));
    assert_eq!(
        std::fs::read(dir.join("registry.json")).unwrap(),
        b"{ not json"
    );
}

#[test]
fn kill_9_during_writes_leaves_a_readable_registry() {
    let dir = temp_dir("kill9");
    let (account, ids) = {
        let mut server = admin_server(&dir);
        let account = default_account(&server);
        let client = *server;
        let path = format!("/integrated-account/{account}/mcp");
        let writer = std::thread::spawn(move || {
            let mut ids = Vec::new();
            for i in 0..400 {
                let auth = format!("Bearer {ADMIN}");
                let body = json!({"name": format!("server {i}")}).to_string();
                let reply = client.try_request(
                    "POST",
                    &path,
                    &[
                        ("Authorization", &auth),
                        ("Content-Type", "application/json"),
                    ],
                    body.as_bytes(),
                );
                match reply {
                    Some(r) if r.status == 201 => {
                        ids.push(r.json()["id"].as_str().unwrap().to_string())
                    }
                    _ => break,
                }
            }
            ids
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        server.child.kill().unwrap(); // SIGKILL, mid-write
        let _ = server.child.wait();
        (account, writer.join().unwrap())
    };
    assert!(!ids.is_empty(), "some servers were created before the kill");
    let server = admin_server(&dir);
    let (status, listed) = admin(
        &server,
        "GET",
        &format!("/integrated-account/{account}/mcp?limit=100"),
        None,
    );
    assert_eq!(status, 200, "{listed}");
    let mut count = listed["result"].as_array().unwrap().len();
    let mut cursor = listed["next_cursor"].clone();
    while let Some(c) = cursor.as_str() {
        let (_, page) = admin(
            &server,
            "GET",
            &format!("/integrated-account/{account}/mcp?limit=100&next_cursor={c}"),
            None,
        );
        count += page["result"].as_array().unwrap().len();
        cursor = page["next_cursor"].clone();
    }
    assert!(
        count >= ids.len(),
        "every acknowledged create survived: {count} < {}",
        ids.len()
    );
}

/// A JSON-RPC request on `path`; returns the response object.
fn rpc(server: &Server, path: &str, method: &str, params: Value) -> Value {
    let reply = server.rpc(
        path,
        &json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}),
    );
    assert_eq!(reply.status, 200, "{method}: {}", reply.text());
    reply.json()
}

/// Mints a server with `config` and returns its `/mcp/<token>` path.
fn scoped_path(server: &Server, account: &str, config: Value) -> String {
    let (status, created) = mint(server, account, config.clone());
    assert_eq!(status, 201, "{config}: {created}");
    format!("/mcp/{}", created["token"].as_str().unwrap())
}

/// The `name`s (or `uri`s, `uriTemplate`s) of a list result.
fn listed(response: &Value, key: &str, field: &str) -> Vec<String> {
    response["result"][key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {response}"))
        .iter()
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect()
}

/// A server minted with `{"methods":["create"],"tags":["contacts"]}` listed and
/// read contacts through resources, and `{"methods":["write"]}` read deals. Resources now
/// need the type's list (or get) tool, and prompts all the tools they name.
#[test]
fn resources_and_prompts_show_only_what_the_scope_allows() {
    let server = admin_server(&temp_dir("resources"));
    let account = default_account(&server);
    let refused = |path: &str, uri: &str| {
        let response = rpc(&server, path, "resources/read", json!({ "uri": uri }));
        assert_eq!(
            response["error"]["code"], -32002,
            "{path} {uri}: {response}"
        );
        assert!(response.get("result").is_none(), "{response}");
    };
    let create_only = scoped_path(
        &server,
        &account,
        json!({"methods": ["create"], "tags": ["contacts"]}),
    );
    let write = scoped_path(&server, &account, json!({"methods": ["write"]}));
    for path in [&create_only, &write] {
        let list = rpc(&server, path, "resources/list", json!({}));
        assert_eq!(
            listed(&list, "resources", "uri"),
            Vec::<String>::new(),
            "{path}"
        );
        let templates = rpc(&server, path, "resources/templates/list", json!({}));
        assert!(
            listed(&templates, "resourceTemplates", "uriTemplate").is_empty(),
            "{templates}"
        );
        for uri in [
            "hubspot://contacts",
            "hubspot://contacts/101",
            "hubspot://deals",
            "hubspot://deals/9002",
        ] {
            refused(path, uri);
        }
        let prompts = rpc(&server, path, "prompts/list", json!({}));
        assert!(listed(&prompts, "prompts", "name").is_empty(), "{prompts}");
        let got = rpc(
            &server,
            path,
            "prompts/get",
            json!({"name": "analyze_contacts"}),
        );
        assert_eq!(got["error"]["code"], -32602, "{got}");
        assert!(
            got["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not available on this server"),
            "{got}"
        );
    }
    // The modern era answers the same refusal with -32602.
    let modern = server.rpc_with(
        &create_only,
        &json!({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"hubspot://contacts","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}),
        &[
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "resources/read"),
            ("Mcp-Name", "hubspot://contacts"),
        ],
    );
    assert_eq!(modern.json()["error"]["code"], -32602, "{}", modern.text());

    // A read-only contacts server still reads contacts, and nothing else.
    let read = scoped_path(
        &server,
        &account,
        json!({"methods": ["read"], "tags": ["contacts"]}),
    );
    let list = rpc(&server, &read, "resources/list", json!({}));
    assert_eq!(listed(&list, "resources", "uri"), ["hubspot://contacts"]);
    let templates = rpc(&server, &read, "resources/templates/list", json!({}));
    assert_eq!(
        listed(&templates, "resourceTemplates", "uriTemplate"),
        ["hubspot://contacts/{id}"]
    );
    for uri in ["hubspot://contacts", "hubspot://contacts/101"] {
        let response = rpc(&server, &read, "resources/read", json!({ "uri": uri }));
        let text = response["result"]["contents"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{uri}: {response}"));
        assert!(text.contains("101"), "{uri}: {text}");
    }
    refused(&read, "hubspot://deals");
    refused(&read, "hubspot://deals/9002");
    // Prompts: analyze_contacts needs get_contacts and search_contacts (search is custom).
    let prompts = rpc(&server, &read, "prompts/list", json!({}));
    assert!(listed(&prompts, "prompts", "name").is_empty(), "{prompts}");
    let search_too = scoped_path(
        &server,
        &account,
        json!({"methods": ["read", "custom"], "tags": ["contacts"]}),
    );
    let prompts = rpc(&server, &search_too, "prompts/list", json!({}));
    assert_eq!(listed(&prompts, "prompts", "name"), ["analyze_contacts"]);
    let got = rpc(
        &server,
        &search_too,
        "prompts/get",
        json!({"name": "analyze_contacts"}),
    );
    assert!(got["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap()
        .contains("search_contacts"));
    let got = rpc(
        &server,
        &search_too,
        "prompts/get",
        json!({"name": "company_research"}),
    );
    assert_eq!(got["error"]["code"], -32602, "{got}");
    // An unfiltered server keeps everything (a scoped URL: /mcp may need a credential).
    let all = scoped_path(&server, &account, json!({}));
    let prompts = rpc(&server, &all, "prompts/list", json!({}));
    assert_eq!(
        listed(&prompts, "prompts", "name"),
        ["analyze_contacts", "company_research"]
    );
    let list = rpc(&server, &all, "resources/list", json!({}));
    assert!(listed(&list, "resources", "uri").contains(&"hubspot://deals".to_string()));
}

/// `{"methods":["read","custom"]}` ("read and search") exposed
/// `batch_create_records` and `batch_update_records`; a `batch_update_records` on deal 9002
/// went through. Batch writes now carry `create` / `update`, so only write groups get them.
#[test]
fn read_and_custom_cannot_write_through_batch_tools() {
    let server = admin_server(&temp_dir("batchwrites"));
    let account = default_account(&server);
    let path = scoped_path(&server, &account, json!({"methods": ["read", "custom"]}));
    let names = tool_names(&server, &path);
    for writer in [
        "batch_create_records",
        "batch_update_records",
        "create_contact",
    ] {
        assert!(
            !names.contains(&writer.to_string()),
            "{writer} in {names:?}"
        );
    }
    assert!(names.contains(&"batch_get_records".to_string()));
    assert!(names.contains(&"search_records".to_string()));
    // Read through an unfiltered scoped server (/mcp may need a credential).
    let all = scoped_path(&server, &account, json!({}));
    let deal = || {
        crate::common::tool_text(&rpc(
            &server,
            &all,
            "tools/call",
            json!({"name": "get_deal", "arguments": {"id": "9002"}}),
        ))
    };
    let before = deal();
    assert!(before.contains("9002"), "{before}");
    for (tool, arguments) in [
        (
            "batch_update_records",
            json!({"objectType": "deals", "inputs": [{"id": "9002", "properties": {"dealname": "pwned"}}]}),
        ),
        (
            "batch_create_records",
            json!({"objectType": "deals", "inputs": [{"properties": {"dealname": "pwned"}}]}),
        ),
    ] {
        let response = rpc(
            &server,
            &path,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        );
        assert_eq!(response["error"]["code"], -32602, "{tool}: {response}");
        assert!(
            response["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not available on this server"),
            "{response}"
        );
    }
    let after = deal();
    assert_eq!(before, after);
    assert!(!after.contains("pwned"));
    // The write groups select them.
    let update = scoped_path(&server, &account, json!({"methods": ["update"]}));
    let names = tool_names(&server, &update);
    assert!(
        names.contains(&"batch_update_records".to_string()),
        "{names:?}"
    );
    assert!(
        !names.contains(&"batch_create_records".to_string()),
        "{names:?}"
    );
    let create = scoped_path(&server, &account, json!({"methods": ["create"]}));
    assert!(tool_names(&server, &create).contains(&"batch_create_records".to_string()));
}

/// `MAX_SERVERS_PER_ACCOUNT`: minting in a loop stops with a 409 that names the setting.
#[test]
fn servers_per_account_are_capped_with_a_clear_409() {
    let dir = temp_dir("cap");
    let server = Server::start(
        &["serve"],
        &[
            ("HUBSPOT_MOCK", crate::common::fixtures()),
            ("ADMIN_API_TOKEN", ADMIN.into()),
            ("DATA_DIR", dir.display().to_string()),
            ("MAX_SERVERS_PER_ACCOUNT", "2".into()),
        ],
        "listening on http://",
    );
    let account = default_account(&server);
    let first = scoped_path(&server, &account, json!({}));
    scoped_path(&server, &account, json!({}));
    let (status, error) = mint(&server, &account, json!({}));
    assert_eq!(status, 409, "{error}");
    assert_eq!(error["statusCode"], 409);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("MAX_SERVERS_PER_ACCOUNT=2"), "{message}");
    let (_, list) = admin(
        &server,
        "GET",
        &format!("/integrated-account/{account}/mcp"),
        None,
    );
    assert_eq!(list["result"].as_array().unwrap().len(), 2, "{list}");
    // The servers already minted keep working.
    let ping = rpc(&server, &first, "ping", json!({}));
    assert!(ping.get("result").is_some(), "{ping}");
}

/// A server that can write records but not read them must not read through its writes:
/// each write tool answers only what the caller sent or needs (the id, the properties it
/// set as sent, `createdAt`/`updatedAt`; for other writes, the arguments), never another
/// property HubSpot returned, and an update that sets nothing (a read by another name) is
/// refused before HubSpot. The mock answers writes with whole records, so a property that
/// was not sent shows whether the answer was cut.
#[test]
fn write_only_servers_answer_writes_with_only_what_was_sent() {
    let server = admin_server(&temp_dir("write-only"));
    let account = default_account(&server);
    let write_only = scoped_path(&server, &account, json!({"methods": ["write"]}));
    let call = |path: &str, name: &str, args: &Value| {
        rpc(
            &server,
            path,
            "tools/call",
            json!({"name": name, "arguments": args}),
        )
    };
    let answer = |path: &str, name: &str, args: &Value| -> Value {
        let reply = call(path, name, args);
        assert!(reply["result"]["isError"].is_null(), "{name}: {reply}");
        serde_json::from_str(&tool_text(&reply)).unwrap_or_else(|e| panic!("{name}: {e}: {reply}"))
    };
    let refused = |path: &str, name: &str, args: &Value, says: &str| {
        let reply = call(path, name, args);
        assert_eq!(reply["error"]["code"], -32602, "{name}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{name}: {message}");
    };
    let only = |value: &Value, allowed: &[&str]| {
        for key in value.as_object().unwrap().keys() {
            assert!(allowed.contains(&key.as_str()), "{key} in {value}");
        }
    };
    const RECORD: &[&str] = &["id", "properties", "createdAt", "updatedAt"];
    // (type, singular, create's properties, as HubSpot stores them, an id, an update)
    let types = [
        (
            "contact",
            json!({"email": "ada@lovelace.example", "firstname": "Ada"}),
            "101",
            json!({"jobtitle": "Countess"}),
        ),
        (
            "company",
            json!({"name": "Fjord Freight", "numberofemployees": 40}),
            "5002",
            json!({"city": "Bergen"}),
        ),
        (
            "deal",
            json!({"dealname": "Pilot", "amount": "18000", "pipeline": "default", "dealstage": "qualifiedtobuy"}),
            "9002",
            json!({"dealstage": "closedwon"}),
        ),
        (
            "ticket",
            json!({"subject": "Export stuck", "hs_pipeline": "0", "hs_pipeline_stage": "1"}),
            "7002",
            json!({"hs_pipeline_stage": "4"}),
        ),
        (
            "note",
            json!({"hs_note_body": "Kick-off booked", "hs_timestamp": "2025-02-01T09:00:00Z"}),
            "8002",
            json!({"hs_note_body": "Edited"}),
        ),
        (
            "task",
            json!({"hs_task_subject": "Send the proposal", "hs_timestamp": "2025-03-01T09:00:00Z"}),
            "6002",
            json!({"hs_task_status": "COMPLETED"}),
        ),
    ];
    for (singular, properties, existing, change) in types {
        let (create, update) = (format!("create_{singular}"), format!("update_{singular}"));
        // create_contact takes the properties as top-level arguments.
        let args = if singular == "contact" {
            properties.clone()
        } else {
            json!({ "properties": properties })
        };
        let created = answer(&write_only, &create, &args);
        only(&created, RECORD);
        assert!(created["id"].is_string(), "{created}");
        let stored: serde_json::Map<String, Value> = properties
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!(v.as_str().map_or_else(|| v.to_string(), str::to_string)),
                )
            })
            .collect();
        assert_eq!(created["properties"], Value::Object(stored), "{create}");
        let updated = answer(
            &write_only,
            &update,
            &json!({"id": existing, "properties": change}),
        );
        only(&updated, RECORD);
        assert_eq!(updated["id"], existing, "{updated}");
        assert_eq!(updated["properties"], change, "{update}");
        refused(
            &write_only,
            &update,
            &json!({"id": existing, "properties": {}}),
            "properties",
        );
    }
    // Batches: each result with the properties its own input set.
    let inputs = [
        json!({"email": "b1@batch.example"}),
        json!({"email": "b2@batch.example", "firstname": "Bea"}),
    ];
    let created = answer(
        &write_only,
        "batch_create_records",
        &json!({"objectType": "contacts", "inputs": inputs.iter().map(|p| json!({"properties": p})).collect::<Vec<_>>()}),
    );
    only(&created, &["status", "results", "errors", "numErrors"]);
    let results = created["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{created}");
    for result in results {
        only(result, RECORD);
        assert!(inputs.contains(&result["properties"]), "{created}");
    }
    assert_ne!(results[0]["properties"], results[1]["properties"]);
    let updated = answer(
        &write_only,
        "batch_update_records",
        &json!({"objectType": "contacts", "inputs": [{"id": "101", "properties": {"jobtitle": "Chair"}}]}),
    );
    only(&updated, &["status", "results", "errors", "numErrors"]);
    only(&updated["results"][0], RECORD);
    assert_eq!(updated["results"][0]["id"], "101");
    assert_eq!(
        updated["results"][0]["properties"],
        json!({"jobtitle": "Chair"})
    );
    refused(
        &write_only,
        "batch_update_records",
        &json!({"objectType": "contacts", "inputs": [{"id": "101", "properties": {"jobtitle": "x"}}, {"id": "102", "properties": {}}]}),
        "inputs[1]",
    );
    // Other writes answer their arguments.
    for (name, args) in [
        (
            "create_association",
            json!({"objectType": "deals", "id": "9005", "toObjectType": "tickets", "toId": "7004"}),
        ),
        (
            "create_property",
            json!({"objectType": "contacts", "name": "favorite_color", "label": "Favorite color", "type": "string", "fieldType": "text", "groupName": "contactinformation"}),
        ),
        (
            "update_property",
            json!({"objectType": "contacts", "name": "jobtitle", "label": "Role"}),
        ),
    ] {
        let mut echoed = answer(&write_only, name, &args);
        for key in ["createdAt", "updatedAt"] {
            echoed.as_object_mut().unwrap().remove(key);
        }
        assert_eq!(echoed, args, "{name}");
    }
    refused(
        &write_only,
        "update_property",
        &json!({"objectType": "contacts", "name": "jobtitle"}),
        "label",
    );
    let deleted = answer(&write_only, "delete_contact", &json!({"id": "103"}));
    only(&deleted, &["id", "archived"]);

    // The reported server: update-only on contacts could read any contact by id.
    let update_only = scoped_path(
        &server,
        &account,
        json!({"methods": ["update"], "tags": ["contacts"]}),
    );
    refused(
        &update_only,
        "update_contact",
        &json!({"id": "101", "properties": {}}),
        "properties",
    );
    let reply = call(
        &update_only,
        "update_contact",
        &json!({"id": "102", "properties": {"jobtitle": "CFO"}}),
    );
    assert!(!tool_text(&reply).contains('@'), "no email: {reply}");
    // In discovery mode too.
    let discovery = scoped_path(
        &server,
        &account,
        json!({"methods": ["update"], "tool_exposure": "discovery"}),
    );
    let reply = call(
        &discovery,
        "call_tool",
        &json!({"name": "update_contact", "arguments": {"id": "102", "properties": {"jobtitle": "CFO"}}}),
    );
    assert!(tool_text(&reply).contains("CFO"), "{reply}");
    assert!(!tool_text(&reply).contains('@'), "no email: {reply}");
    // A server that can read contacts anyway gets HubSpot's whole answer.
    let read_write = scoped_path(
        &server,
        &account,
        json!({"methods": ["read", "update"], "tags": ["contacts"]}),
    );
    let record = answer(
        &read_write,
        "update_contact",
        &json!({"id": "102", "properties": {"jobtitle": "CFO"}}),
    );
    assert!(record["properties"]["email"].is_string(), "{record}");
}
