//! The stdio transport: newline-delimited JSON-RPC on stdin/stdout, logs only on stderr,
//! a clean exit at end of input.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

#[test]
fn speaks_json_rpc_lines_and_exits_cleanly_at_eof() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
        .args(["stdio", "--mock", &crate::common::fixtures()])
        .env_clear()
        .env("LOG_LEVEL", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_deals","arguments":{"limit":2}}}),
        json!({"jsonrpc":"2.0","id":3,"method":"nope"}),
    ];
    for line in &lines {
        writeln!(stdin, "{line}").unwrap();
    }
    writeln!(stdin, "{{broken").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let replies: Vec<Value> = BufReader::new(&output.stdout[..])
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).expect("stdout holds only JSON-RPC lines"))
        .collect();
    assert_eq!(
        replies.len(),
        4,
        "no reply to the notification: {replies:?}"
    );
    assert_eq!(replies[0]["result"]["protocolVersion"], "2025-06-18");
    let text = replies[1]["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("dealname"));
    assert!(
        replies[1]["result"]["structuredContent"]["results"].is_array(),
        "the version initialize agreed on (2025-06-18) holds for the calls after it: {}",
        replies[1]
    );
    assert_eq!(replies[2]["error"]["code"], -32601);
    assert_eq!(replies[3]["error"]["code"], -32700);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("on stdio"), "logs go to stderr: {stderr}");
}
