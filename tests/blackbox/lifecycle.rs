//! Start-up errors, graceful stop on SIGTERM, isolation from a slow HubSpot, and secrets
//! kept out of logs and answers.

use crate::common::{tool_text, Client, Server};
use serde_json::json;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn run_expecting_failure(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn no_token_and_no_mock_exits_2_naming_the_variable() {
    let (code, stderr) = run_expecting_failure(&[]);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN") && stderr.contains("HUBSPOT_MOCK"));
}

#[test]
fn invalid_values_exit_2_naming_the_variable_and_what_is_allowed() {
    for (name, value, allowed) in [
        ("PORT", "http", "0 to 65535"),
        ("MAX_REQUEST_SIZE", "-1", "whole number"),
        ("GRACEFUL_SHUTDOWN_TIMEOUT", "soon", "whole number"),
        ("LOG_LEVEL", "chatty", "debug"),
        ("CORS_ORIGIN", ",", "origins"),
        ("NODE_ENV", "staging", "production"),
        ("SSL_CERT_FILE", "/nonexistent/ca.pem", "PEM file"),
        ("MCP_PAGE_SIZE", "0", "1 to 1000"),
    ] {
        let (code, stderr) =
            run_expecting_failure(&[("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "pat-x"), (name, value)]);
        assert_eq!(code, Some(2), "{name}");
        assert!(
            stderr.contains(&format!("{name}={value}")) && stderr.contains(allowed),
            "{stderr}"
        );
    }
}

#[test]
fn sigterm_finishes_in_flight_calls_then_exits_0() {
    let upstream = Server::mock_hubspot(&["--latency-ms", "800"]);
    let url = format!("http://{}", upstream.addr);
    let mut server = Server::start(
        &["serve"],
        &[
            ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "pat-test".into()),
            ("HUBSPOT_API_URL", url),
        ],
        "listening on http://",
    );
    let addr = server.addr;
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let client = Client { addr };
            std::thread::spawn(move || client.call_tool("get_deals", json!({"limit": 2})))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    server.terminate();
    for call in calls {
        let reply = call.join().unwrap();
        assert!(reply["result"]["isError"].is_null(), "{reply}");
        assert!(tool_text(&reply).contains("dealname"));
    }
    assert_eq!(
        server.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        server.log()
    );
    assert!(server.log().contains("SIGTERM"));
}

#[test]
fn a_slow_hubspot_does_not_stall_health() {
    let upstream = Server::mock_hubspot(&["--latency-ms", "3000"]);
    let url = format!("http://{}", upstream.addr);
    let server = Server::start(
        &["serve"],
        &[
            ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "pat-test".into()),
            ("HUBSPOT_API_URL", url),
            ("WORKERS", "2".into()),
            ("HUBSPOT_POOL_THREADS", "64".into()),
        ],
        "listening on http://",
    );
    let addr = server.addr;
    let done = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..60)
        .map(|_| {
            let done = done.clone();
            let client = Client { addr };
            std::thread::spawn(move || {
                let reply = client.call_tool("get_contacts", json!({}));
                done.fetch_add(1, Ordering::SeqCst);
                reply
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..20 {
        assert_eq!(server.get("/health").status, 200);
        assert_eq!(server.get("/ready").status, 200);
    }
    assert_eq!(
        done.load(Ordering::SeqCst),
        0,
        "/health answered while every tool call still waited on HubSpot"
    );
    for call in calls {
        assert!(tool_text(&call.join().unwrap()).contains("results"));
    }
}

#[test]
fn hubspot_errors_are_tool_results_and_the_token_never_leaks() {
    let upstream = Server::mock_hubspot(&[]);
    let secret = "pat-na1-SECRET-0123456789";
    let server = Server::start(
        &["serve"],
        &[
            ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", secret.into()),
            ("HUBSPOT_API_URL", format!("http://{}", upstream.addr)),
            ("LOG_LEVEL", "trace".into()),
        ],
        "listening on http://",
    );
    let ok = server.call_tool("get_companies", json!({"limit": 1}));
    assert!(tool_text(&ok).contains("\"name\""));
    let health = server.get("/health").text() + &server.get("/ready").text();
    assert!(!health.contains(secret));
    drop(upstream);
    let down = server.call_tool("get_companies", json!({}));
    assert_eq!(down["result"]["isError"], true);
    let text = tool_text(&down);
    assert!(text.contains("could not be reached"), "{text}");
    assert!(!text.contains(secret));
    assert!(
        !server.log().contains(secret),
        "the token must never be logged"
    );
}
