//! Each JSON-RPC error code is produced by an input that should produce it, batches are
//! answered as arrays, ids are echoed exactly; hostile bodies (huge batches, millions of
//! tiny values, endless search queries, dot-segment ids) cost little and reach nothing.

use crate::common::{tool_text, Server};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

fn post_raw(server: &Server, path: &str, body: &str) -> (u16, Value) {
    let reply = server.request(
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    (reply.status, reply.json())
}

/// The answer is HTTP 400 with JSON-RPC -32600 (Invalid Request) whose message says `says`.
fn assert_invalid_request(status: u16, reply: &Value, says: &str) {
    assert_eq!(
        (status, reply["error"]["code"].clone()),
        (400, json!(-32600)),
        "{reply}"
    );
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains(says), "{message} should say {says}");
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
    assert_invalid_request(status, &body, "/mcp/tools/list");
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

/// The server process's peak resident memory so far in KiB (`VmHWM` of
/// /proc/<pid>/status): the peak, because a reply built and freed leaves `VmRSS` low
/// again (a 12,000-item batch peaked at 727 MB and fell back to 15 MB).
fn peak_rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// Warms the server up (first tools/list, first big read) so that later RSS growth is
/// what the hostile request cost.
fn warm(server: &Server) -> u64 {
    for _ in 0..3 {
        let body = json!([{"jsonrpc":"2.0","id":1,"method":"tools/list"}]).to_string();
        assert_eq!(post_raw(server, "/mcp", &body).0, 200);
    }
    peak_rss_kib(server)
}

#[test]
fn a_batch_past_max_batch_is_refused_whole_without_building_replies() {
    let server = Server::mock(&[]);
    let before = warm(&server);
    // 12,000 tools/list (564 KB) built a 1.0 GB reply before.
    let item = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let body = format!("[{}]", vec![item; 12_000].join(","));
    assert!(body.len() > 500_000);
    let (status, reply) = post_raw(&server, "/mcp", &body);
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["code"], -32600);
    assert_eq!(reply["id"], Value::Null);
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("at most 20 messages (MAX_BATCH)"),
        "{message}"
    );
    let grown = peak_rss_kib(&server).saturating_sub(before);
    assert!(grown < 8 * 1024, "peak RSS grew {grown} KiB");
    // 20 is fine, 21 is not; MAX_BATCH moves the line.
    for (n, status) in [(20, 200), (21, 400)] {
        let body = format!("[{}]", vec![item; n].join(","));
        assert_eq!(post_raw(&server, "/mcp", &body).0, status, "{n} items");
    }
    let server = Server::mock(&[("MAX_BATCH", "2")]);
    let body = format!(
        "[{}]",
        [r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#; 3].join(",")
    );
    let (status, reply) = post_raw(&server, "/mcp", &body);
    assert_invalid_request(status, &reply, "at most 2 messages");
}

#[test]
fn a_batch_whose_replies_pass_the_cap_answers_the_rest_not_run() {
    // 80 tools/list pages of ~90 KB each would be ~7 MB; the cap is 4 MiB.
    let server = Server::mock(&[("MAX_BATCH", "80")]);
    let items: Vec<String> = (0..80)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/list"}}"#))
        .collect();
    let reply = server.request(
        "POST",
        "/mcp",
        &[("Content-Type", "application/json")],
        format!("[{}]", items.join(",")).as_bytes(),
    );
    assert_eq!(reply.status, 200);
    assert!(reply.body.len() < 5 << 20, "{} bytes", reply.body.len());
    let replies = reply.json();
    let replies = replies.as_array().unwrap();
    assert_eq!(replies.len(), 80, "every request is answered");
    let full = replies
        .iter()
        .take_while(|r| r.get("result").is_some())
        .count();
    assert!((20..80).contains(&full), "{full} answered in full");
    for (i, r) in replies.iter().enumerate().skip(full) {
        assert_eq!(r["id"], i, "{r}");
        assert_eq!(r["error"]["code"], -32010, "{r}");
        assert!(r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("send this request again"));
    }
}

#[test]
fn a_body_of_millions_of_tiny_values_is_refused_before_it_is_parsed() {
    let server = Server::mock(&[]);
    let before = warm(&server);
    // 10 MB of `[],`: 250 MB as a serde_json::Value tree before.
    let mut body =
        String::from("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":[");
    while body.len() < 10_000_000 {
        body.push_str("[],");
    }
    body.push_str("[]]}}");
    let (status, reply) = post_raw(&server, "/mcp", &body);
    assert_invalid_request(status, &reply, "100000 JSON values");
    // The 10 MB body itself is read into memory; nothing is built from it.
    let grown = peak_rss_kib(&server).saturating_sub(before);
    assert!(grown < 40 * 1024, "peak RSS grew {grown} KiB");
    // The largest legitimate call, a batch create of 100 records with 200 properties each,
    // still fits.
    let inputs: Vec<Value> = (0..100)
        .map(|i| {
            let props: serde_json::Map<String, Value> = (0..200)
                .map(|p| (format!("p{p}"), json!(format!("v{i}"))))
                .collect();
            json!({ "properties": props })
        })
        .collect();
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"batch_create_records","arguments":{"objectType":"2-3508482","inputs":inputs}}});
    let (status, reply) = post_raw(&server, "/mcp", &call.to_string());
    assert_eq!(status, 200, "{reply}");
    assert!(reply.get("result").is_some(), "{reply}");
}

/// Ids as a client may write them; each must come back as the same bytes.
const IDS: [&str; 8] = [
    "12345678901234567890123",
    "-9007199254740993",
    "-0",
    "1.50",
    "2.5e-300",
    r#""a\"b\u00e9\/c""#,
    r#""é \\ \ud83d\ude00""#,
    r#""""#,
];

fn echoed_id(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply);
    let start = text.find(r#""id":"#).expect("an id") + 5;
    let end = text[start..]
        .find(r#","result""#)
        .or_else(|| text[start..].find(r#","error""#));
    text[start..start + end.expect("id then result or error")].to_string()
}

#[test]
fn ids_are_echoed_byte_for_byte_over_http() {
    let server = Server::mock(&[]);
    for id in IDS {
        for body in [
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"nope"}}"#),
            format!(r#"{{"jsonrpc":"1.0","id":{id},"method":"ping"}}"#),
        ] {
            let reply = server.request(
                "POST",
                "/mcp",
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            );
            assert_eq!(echoed_id(&reply.body), id, "{body}");
        }
        let batch = format!(r#"[{{"jsonrpc":"2.0","id":{id},"method":"ping"}}]"#);
        let reply = server.request("POST", "/mcp", &[], batch.as_bytes());
        assert_eq!(
            reply.text(),
            format!(r#"[{{"jsonrpc":"2.0","id":{id},"result":{{}}}}]"#)
        );
    }
}

#[test]
fn ids_are_echoed_byte_for_byte_over_stdio() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
        .args(["stdio", "--mock", &crate::common::fixtures()])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for id in IDS {
        writeln!(stdin, r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#).unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let lines: Vec<&[u8]> = output
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), IDS.len());
    for (line, id) in lines.iter().zip(IDS) {
        assert_eq!(echoed_id(line), id);
    }
}

#[test]
fn search_tools_queries_are_capped_and_fast() {
    let server = Server::mock(&[("TOOL_EXPOSURE", "discovery")]);
    let search = |query: &str| server.call_tool("search_tools", json!({ "query": query }));
    // 80,000 distinct words took 22-26 s before; now refused at once by length.
    let flood: Vec<String> = (0..80_000).map(|i| format!("w{i}")).collect();
    let reply = search(&flood.join(" "));
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'query' must be at most 1000 characters"),
        "{message}"
    );
    // Short words under 1,000 characters, but more than 32 of them.
    let reply = search(&flood[..100].join(" "));
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("more than 32 distinct words"), "{message}");
    // The same word many times is one word.
    let reply = search(&vec!["contacts"; 100].join(" "));
    assert!(tool_text(&reply).contains("get_contacts"), "{reply}");
    assert_eq!(server.get("/health").status, 200);
}

/// A fake HubSpot on loopback that records each request line and answers `{}`.
fn recording_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            seen.lock().unwrap().push(line.trim_end().to_string());
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader.get_mut().write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            );
        }
    });
    (url, lines)
}

#[test]
fn ids_that_would_be_dot_segments_never_reach_hubspot() {
    let (url, lines) = recording_upstream();
    let server = Server::start(
        &["serve"],
        &[
            (
                "HUBSPOT_PRIVATE_APP_ACCESS_TOKEN",
                "pat-na1-test".to_string(),
            ),
            ("HUBSPOT_API_URL", url),
            ("HUBSPOT_MAX_RETRIES", "0".to_string()),
        ],
        "listening on http://",
    );
    let sent = |tool: &str, args: Value| -> (Value, Vec<String>) {
        lines.lock().unwrap().clear();
        let reply = server.call_tool(tool, args);
        // The fake upstream answers at once; the call has returned before we look.
        (reply, lines.lock().unwrap().clone())
    };
    let record_tools = [
        ("get_contact", json!({})),
        ("update_contact", json!({"properties": {"a": "b"}})),
        ("delete_contact", json!({})),
        ("get_record", json!({"objectType": "contacts"})),
        (
            "get_associations",
            json!({"objectType": "contacts", "toObjectType": "companies"}),
        ),
        ("get_workflow", json!({})),
    ];
    for bad in ["", " ", ".", "..", " .. "] {
        for (tool, base) in &record_tools {
            let mut args = base.clone();
            args["id"] = json!(bad);
            let (reply, lines) = sent(tool, args);
            assert_eq!(reply["error"]["code"], -32602, "{tool} {bad:?}: {reply}");
            assert!(lines.is_empty(), "{tool} {bad:?} sent {lines:?}");
        }
        let args =
            json!({"objectType": "deals", "id": "1", "toObjectType": "tickets", "toId": bad});
        let (reply, lines) = sent("create_association", args);
        assert_eq!(reply["error"]["code"], -32602, "toId {bad:?}: {reply}");
        assert!(lines.is_empty(), "{lines:?}");
        let args = json!({"objectType": "contacts", "name": bad, "label": "x"});
        let (reply, lines) = sent("update_property", args);
        assert_eq!(reply["error"]["code"], -32602, "name {bad:?}: {reply}");
        assert!(lines.is_empty(), "{lines:?}");
    }
    for bad in [".", "..", "a/b", "contacts/../deals", "x?y"] {
        let (reply, lines) = sent("get_records", json!({"objectType": bad}));
        assert_eq!(
            reply["error"]["code"], -32602,
            "objectType {bad:?}: {reply}"
        );
        assert!(lines.is_empty(), "{lines:?}");
    }
    // What is sent: every reserved character encoded inside its one segment.
    for (id, segment) in [
        ("101", "101"),
        ("...", "..."),
        ("../deals", "..%2Fdeals"),
        ("a/../../b", "a%2F..%2F..%2Fb"),
        ("%2e%2e", "%252e%252e"),
        ("1?archived=true#x", "1%3Farchived%3Dtrue%23x"),
    ] {
        let (reply, lines) = sent("delete_contact", json!({ "id": id }));
        assert!(reply.get("result").is_some(), "{id}: {reply}");
        assert_eq!(
            lines,
            [format!(
                "DELETE /crm/objects/2026-09/contacts/{segment} HTTP/1.1"
            )],
            "{id}"
        );
    }
    let (_, lines) = sent(
        "update_property",
        json!({"objectType": "contacts", "name": "a/b#c", "label": "x"}),
    );
    assert_eq!(
        lines,
        ["PATCH /crm/properties/2026-03/contacts/a%2Fb%23c HTTP/1.1"]
    );
}

#[test]
fn an_overlong_stdio_line_is_refused_and_the_next_one_answered() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
        .args(["stdio", "--mock", &crate::common::fixtures()])
        .env_clear()
        .env("MAX_REQUEST_SIZE", "1024")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let long = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":"{}"}}}}"#,
        "y".repeat(200_000)
    );
    writeln!(stdin, "{long}").unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"ping"}}"#).unwrap();
    stdin.write_all(&[0xff, b'\n']).unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":3,"method":"ping"}}"#).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let replies: Vec<Value> = output
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(replies.len(), 4, "{replies:?}");
    assert_eq!(replies[0]["error"]["code"], -32600);
    assert!(replies[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("longer than 1024 bytes (MAX_REQUEST_SIZE)"));
    assert_eq!(replies[1]["id"], 2);
    assert_eq!(replies[2]["error"]["code"], -32700, "not UTF-8");
    assert_eq!(replies[3]["id"], 3);
}

/// Nesting up to the limit is parsed, checked and answered on a coroutine's stack (a body
/// 101 levels deep, under the old limit of 128, overflowed it: no answer, a leaked
/// connection); one level more is refused before parsing.
#[test]
fn nesting_up_to_the_limit_is_answered_and_one_more_is_refused() {
    let server = Server::mock(&[]);
    let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    // The message object and `params` are two levels; `arguments` one more.
    let ping = |depth: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":{}}}}}"#,
            nested(depth - 2)
        )
    };
    let call = |depth: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"get_contacts","arguments":{{"limit":{}}}}}}}"#,
            nested(depth - 3)
        )
    };
    let (status, reply) = post_raw(&server, "/mcp", &ping(64));
    assert_eq!((status, &reply["result"]), (200, &json!({})), "{reply}");
    let (status, reply) = post_raw(&server, "/mcp", &call(64));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    for body in [ping(65), call(65)] {
        let (status, reply) = post_raw(&server, "/mcp", &body);
        assert_eq!(status, 400, "{reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .contains("64 levels"),
            "{reply}"
        );
    }
    assert!(!server.log().contains("overflow"), "{}", server.log());
}
