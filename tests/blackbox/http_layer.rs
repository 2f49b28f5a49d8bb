//! The HTTP/1.1 layer: header limits, framing errors, chunked bodies, pipelining,
//! timeouts, body limits, routes, CORS and Origin checks.

use crate::common::{read_reply, send, Server};
use std::io::{Read, Write};
use std::time::Duration;

const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

#[test]
fn accepts_64_headers_and_refuses_a_header_block_over_8_kib() {
    let server = Server::mock(&[]);
    let names: Vec<String> = (0..70).map(|i| format!("X-Proxy-Hop-{i}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "value")).collect();
    let reply = server.request("GET", "/health", &headers, b"");
    assert_eq!(reply.status, 200);
    let big = "a".repeat(9000);
    let reply = server.request("GET", "/health", &[("X-Big", &big)], b"");
    assert_eq!(reply.status, 431);
}

#[test]
fn bad_content_length_is_400_and_the_server_stays_up() {
    let server = Server::mock(&[]);
    let reply = server.raw(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n");
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("Content-Length"));
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn chunked_bodies_are_read() {
    let server = Server::mock(&[]);
    let (a, b) = PING.split_at(10);
    let raw = format!(
        "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let reply = server.raw(raw.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["result"], serde_json::json!({}));
}

#[test]
fn oversized_bodies_get_413_without_being_read() {
    let server = Server::mock(&[("MAX_REQUEST_SIZE", "2048")]);
    // Announce 50 MB and send none of it: the answer must come anyway.
    let reply = server.raw(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n");
    assert_eq!(reply.status, 413);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(3000)
    );
    let reply = server.request(
        "POST",
        "/mcp",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 413);
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn pipelined_requests_on_one_connection_are_answered_in_order() {
    let server = Server::mock(&[]);
    let one = format!("POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{PING}", PING.len());
    let last = one.replacen("Host: x\r\n", "Host: x\r\nConnection: close\r\n", 1);
    let raw = format!("{one}GET /health HTTP/1.1\r\nHost: x\r\n\r\n{last}");
    let all = server.raw_until_close(raw.as_bytes());
    let replies: Vec<&str> = all.split("HTTP/1.1 200 OK").skip(1).collect();
    assert_eq!(replies.len(), 3, "{all}");
    assert!(replies[0].ends_with(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
    assert!(replies[1].contains(r#""status":"healthy""#));
    assert!(replies[2].contains("Connection: close") && replies[2].contains(r#""id":1"#));
}

#[test]
fn a_large_body_between_pipelined_requests_keeps_every_reply_whole_and_in_order() {
    let server = Server::mock(&[]);
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let post = |body: &str, extra: &str| {
        format!("POST /mcp HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
    };
    let raw = format!(
        "{}{}GET /health HTTP/1.1\r\nHost: x\r\n\r\n{}",
        post(PING, ""),
        post(list, ""),
        post(list, "Connection: close\r\n")
    );
    let all = server.raw_until_close(raw.as_bytes());
    let replies: Vec<&str> = all.split("HTTP/1.1 200 OK").skip(1).collect();
    assert_eq!(replies.len(), 4, "{all}");
    assert!(replies[0].ends_with(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
    assert!(replies[2].contains(r#""status":"healthy""#));
    for reply in [replies[1], replies[3]] {
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            length > 16 * 1024,
            "a body large enough to be written on its own"
        );
        assert_eq!(body.len(), length, "{head}");
        let tools: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(tools["result"]["tools"].as_array().unwrap().len() > 50);
    }
}

#[test]
fn expect_100_continue_gets_an_interim_response() {
    let server = Server::mock(&[]);
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        PING.len()
    );
    let mut stream = server.send_raw(head.as_bytes());
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(PING.as_bytes()).unwrap();
    assert_eq!(read_reply(&mut stream).unwrap().status, 200);
}

#[test]
fn idle_connections_close_and_slow_requests_get_408() {
    let server = Server::mock(&[
        ("HTTP_IDLE_TIMEOUT_MS", "1000"),
        ("HTTP_REQUEST_TIMEOUT_MS", "2000"),
    ]);
    let mut idle = server.connect();
    let mut buf = [0u8; 16];
    assert_eq!(
        idle.read(&mut buf).unwrap(),
        0,
        "an idle connection is closed"
    );
    let reply = server.raw(b"POST /mcp HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(reply.status, 408);
}

#[test]
fn a_client_that_never_reads_its_answers_is_dropped_after_the_request_timeout() {
    let server = Server::mock(&[("HTTP_REQUEST_TIMEOUT_MS", "1000")]);
    let mut stalled = server.connect();
    // Pipelined batches of tools/list whose answers (MBs each) fill both socket buffers
    // while the client reads nothing: the server's write must give up, not wait forever.
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let batch = format!("[{}]", vec![list; 20].join(","));
    let one = format!(
        "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{batch}",
        batch.len()
    );
    stalled.write_all(one.repeat(30).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(server.get("/health").status, 200, "others are still served");
    // Now read: what was sent before the timeout, then the end of the stream.
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut received = Vec::new();
    let end = stalled.read_to_end(&mut received);
    assert!(
        end.is_ok()
            || end
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the connection ends instead of hanging: {end:?}"
    );
    let answers = received
        .windows(15)
        .filter(|w| w == b"HTTP/1.1 200 OK")
        .count();
    assert!(answers < 30, "the stalled client got all {answers} answers");
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let server = Server::mock(&[]);
    let mut stream = server.connect();
    // Far past a pipelining turn (32): a client that waits for each answer is never closed.
    for _ in 0..200 {
        send(&mut stream, "GET", "/health", &[], b"");
        assert_eq!(read_reply(&mut stream).unwrap().status, 200);
    }
}

#[test]
fn unknown_routes_get_a_json_404_and_get_mcp_gets_405_with_allow() {
    let server = Server::mock(&[]);
    let reply = server.get("/nope");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["statusCode"], 404);
    let reply = server.get("/mcp");
    assert_eq!(reply.status, 405);
    assert!(reply.header("allow").unwrap().contains("POST"));
    let reply = server.request(
        "POST",
        "/mcp",
        &[("Content-Type", "text/plain")],
        PING.as_bytes(),
    );
    assert_eq!(reply.status, 415);
}

#[test]
fn cors_preflight_allowed_origins_and_forbidden_origins() {
    let server = Server::mock(&[("CORS_ORIGIN", "https://app.example.com")]);
    let reply = server.request(
        "OPTIONS",
        "/mcp",
        &[
            ("Origin", "https://app.example.com"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "content-type, mcp-protocol-version",
            ),
        ],
        b"",
    );
    assert_eq!(reply.status, 204);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(reply
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert!(reply
        .header("access-control-allow-headers")
        .unwrap()
        .contains("mcp-protocol-version"));
    let reply = server.request(
        "POST",
        "/mcp",
        &[
            ("Origin", "https://app.example.com"),
            ("Content-Type", "application/json"),
        ],
        PING.as_bytes(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let reply = server.request(
        "POST",
        "/mcp",
        &[
            ("Origin", "http://evil.example"),
            ("Content-Type", "application/json"),
        ],
        PING.as_bytes(),
    );
    assert_eq!(reply.status, 403);
    assert!(reply.text().contains("CORS_ORIGIN"));
    // Non-browser clients send no Origin and are served.
    assert_eq!(
        server
            .rpc("/mcp", &serde_json::from_str(PING).unwrap())
            .status,
        200
    );
}

#[test]
fn sse_only_clients_get_one_message_event() {
    let server = Server::mock(&[]);
    let reply = server.request(
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "text/event-stream"),
        ],
        PING.as_bytes(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let text = reply.text();
    assert!(text.starts_with("event: message\ndata: {"), "{text}");
    let data = text
        .trim_end()
        .strip_prefix("event: message\ndata: ")
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(data).unwrap()["id"],
        1
    );
    let _ = Duration::ZERO;
}

/// Sends raw bytes on a fresh connection and reads one reply.
#[test]
fn a_chunk_size_that_overflows_is_refused_without_a_panic() {
    let server = Server::mock(&[]);
    let head = "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    // The sum of 2 and fffffffffffffffe wrapped and panicked before.
    for sizes in [
        "2\r\nab\r\nfffffffffffffffe\r\n",
        "2\r\nab\r\n1fffffffffffffffff\r\n",
    ] {
        let reply = server.raw(format!("{head}{sizes}").as_bytes());
        assert!(matches!(reply.status, 400 | 413), "{}", reply.status);
    }
    // A valid ping behind a size with a leading `+` or a bare LF is still refused.
    let len = PING.len();
    for bad in [
        format!("+{len:x}\r\n{PING}\r\n0\r\n\r\n"),
        format!("{len:x}\n{PING}\r\n0\r\n\r\n"),
    ] {
        let reply = server.raw(format!("{head}{bad}").as_bytes());
        assert_eq!(reply.status, 400, "{bad:?}");
        assert!(reply.text().contains("chunk"), "{}", reply.text());
    }
    assert_eq!(server.get("/health").status, 200);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn endless_trailers_are_cut_at_the_header_limit_not_the_request_timeout() {
    let server = Server::mock(&[("HTTP_REQUEST_TIMEOUT_MS", "60000")]);
    let mut stream = server
        .send_raw(b"POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
    // Write trailer lines until the server answers (it stops reading at 8 KiB).
    let line = "X-Trailer: 0123456789012345678901234567890123456789\r\n".repeat(20);
    for _ in 0..100 {
        if stream.write_all(line.as_bytes()).is_err() {
            break;
        }
    }
    let reply = read_reply(&mut stream).expect("an answer before the request timeout");
    assert_eq!(reply.status, 431);
}

#[test]
fn head_answers_have_no_body_so_the_next_pipelined_answer_parses() {
    let server = Server::mock(&[]);
    let all = server.raw_until_close(b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (head, rest) = all.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 "), "{all}");
    assert!(head.contains("Content-Length: "), "{head}");
    assert!(
        rest.starts_with("HTTP/1.1 200 "),
        "a body after HEAD: {all}"
    );
    assert!(rest.contains(r#""status":"ready""#), "{all}");
}

#[test]
fn malformed_versions_and_host_headers_are_400_and_unsupported_versions_505() {
    let server = Server::mock(&[]);
    let cases: &[(&str, u16)] = &[
        ("GET /health HTTP/1\r\nHost: x\r\n\r\n", 400),
        ("GET /health http/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("GET /health HTTP/1.1\r\n\r\n", 400),
        ("GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET /health HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        ("GET /health HTTP/1.0\r\n\r\n", 200),
        ("GET /health HTTP/1.2\r\nHost: x\r\n\r\n", 200),
    ];
    for (request, want) in cases {
        assert_eq!(server.raw(request.as_bytes()).status, *want, "{request:?}");
    }
}

#[test]
fn pipelining_clients_do_not_hold_up_another_clients_health_check() {
    let server = Server::mock(&[("WORKERS", "1")]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut threads = Vec::new();
    for _ in 0..2 {
        let mut writer = server.connect();
        let mut reader = writer.try_clone().unwrap();
        let burst = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200);
        let stop_w = stop.clone();
        threads.push(std::thread::spawn(move || {
            while !stop_w.load(std::sync::atomic::Ordering::Relaxed) {
                if writer.write_all(burst.as_bytes()).is_err() {
                    break;
                }
            }
            let _ = writer.shutdown(std::net::Shutdown::Both);
        }));
        threads.push(std::thread::spawn(move || {
            let mut sink = vec![0u8; 64 * 1024];
            while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    // A generous bound (the machine is shared): before the fix this waited 4-12 s.
    for _ in 0..5 {
        let started = std::time::Instant::now();
        assert_eq!(server.get("/health").status, 200);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "/health took {took:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn past_max_connections_only_health_ready_and_admin_are_served() {
    let server = Server::mock(&[("MAX_CONNECTIONS", "2")]);
    let mut held: Vec<_> = (0..2).map(|_| server.connect()).collect();
    for stream in &mut held {
        // A request answered on each shows both are accepted and counted.
        send(stream, "GET", "/health", &[], b"");
        assert_eq!(read_reply(stream).unwrap().status, 200);
    }
    let reply = server.rpc("/mcp", &serde_json::from_str(PING).unwrap());
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(reply.text().contains("MAX_CONNECTIONS"));
    // Its body is not read either: the 503 comes from the head (before, the 9 MB were
    // waited for until the 2 s timeout, then 408).
    let reply = server.raw(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000\r\n\r\n");
    assert_eq!(reply.status, 503);
    let health = server.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.header("connection"), Some("close"));
    assert_eq!(server.get("/ready").status, 200);
    assert!(
        server.log().contains("past MAX_CONNECTIONS=2"),
        "{}",
        server.log()
    );
    // Freed places are served in full again.
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = server.rpc("/mcp", &serde_json::from_str(PING).unwrap());
        if reply.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", reply.status);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_tool_name_with_a_newline_cannot_forge_a_log_line() {
    let server = Server::mock(&[]);
    let forged =
        "get_contacts\n2026-01-01T00:00:00.000Z WARN [hubspot_mcp_server] admin token rotated";
    let call = serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":forged,"arguments":{}}});
    server.rpc("/mcp", &call);
    let batch = serde_json::json!([PING, PING, PING]
        .iter()
        .map(|p| serde_json::from_str::<serde_json::Value>(p).unwrap())
        .collect::<Vec<_>>());
    server.rpc("/mcp", &batch);
    // The access log is written after the answer: wait for both lines.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server.log().contains("rpc=batch(3)") {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = server.log();
    assert!(
        !log.lines()
            .any(|l| l.starts_with("2026-01-01T00:00:00.000Z")),
        "{log}"
    );
    assert!(log.contains(r"get_contacts\x0a2026-01-01"), "{log}");
}

#[test]
fn a_preflight_answer_carries_one_allow_origin_header() {
    let server = Server::mock(&[("CORS_ORIGIN", "https://app.example.com")]);
    let reply = server.request(
        "OPTIONS",
        "/mcp",
        &[
            ("Origin", "https://app.example.com"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    assert_eq!(reply.status, 204);
    let count = |name: &str| {
        reply
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
    };
    assert_eq!(
        count("access-control-allow-origin"),
        1,
        "{:?}",
        reply.headers
    );
    assert_eq!(count("vary"), 1, "{:?}", reply.headers);
}

#[test]
fn a_connection_that_rested_while_idle_serves_requests_as_before() {
    let server = Server::mock(&[]);
    let mut stream = server.connect();
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    for _ in 0..2 {
        send(
            &mut stream,
            "POST",
            "/mcp",
            &[("Content-Type", "application/json")],
            list.as_bytes(),
        );
        let reply = read_reply(&mut stream).unwrap();
        assert_eq!(reply.status, 200);
        assert!(reply.json()["result"]["tools"].as_array().unwrap().len() > 50);
        // Past the 1 s rest: buffers shrink and the stack pages are given back.
        std::thread::sleep(Duration::from_millis(1300));
        send(&mut stream, "GET", "/health", &[], b"");
        assert_eq!(read_reply(&mut stream).unwrap().status, 200);
        std::thread::sleep(Duration::from_millis(1300));
    }
}

#[test]
#[allow(
    unsafe_code,
    reason = "pre_exec and setrlimit in the child have no safe std form"
)]
fn out_of_descriptors_accept_failures_are_logged_at_most_once_a_second() {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let data = crate::common::temp_dir("fds");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"));
    cmd.arg("serve")
        .env_clear()
        .env("HUBSPOT_MOCK", crate::common::fixtures())
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("DATA_DIR", &data)
        // Far past what 64 descriptors allow, so accept() itself fails.
        .env("MAX_CONNECTIONS", "1000")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe and only changes the child's own limit.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let (stderr, sink) = (child.stderr.take().unwrap(), log.clone());
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some((_, rest)) = line.split_once("listening on http://") {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let addr: std::net::SocketAddr = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap()
        .parse()
        .unwrap();
    let held: Vec<_> = (0..100)
        .filter_map(|_| std::net::TcpStream::connect(addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(2500));
    let failures = log.lock().unwrap().matches("accept failed").count();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
    drop(held);
    assert!(
        (1..=4).contains(&failures),
        "{failures} lines:\n{}",
        log.lock().unwrap()
    );
}

/// A connection in the reserve past `MAX_CONNECTIONS` cannot hold its place by sending a
/// byte at a time: its whole request must arrive within 2 s.
#[test]
fn a_reserve_place_cannot_be_held_by_a_slow_request() {
    let server = Server::mock(&[("MAX_CONNECTIONS", "1")]);
    let mut held = server.connect();
    send(&mut held, "GET", "/health", &[], b"");
    assert_eq!(read_reply(&mut held).unwrap().status, 200);
    let mut slow = server.send_raw(b"G");
    let started = std::time::Instant::now();
    let reply = read_reply(&mut slow);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the reserve place was held for {:?}",
        started.elapsed()
    );
    if let Some(reply) = reply {
        assert_eq!(reply.status, 408);
    }
}

/// `close` among the options of any `Connection` header closes the connection after the
/// answer (RFC 9110 7.6.1); before, only a header whose whole value was `close` did.
#[test]
fn a_close_option_in_any_connection_header_closes() {
    let server = Server::mock(&[]);
    for headers in [
        "Connection: keep-alive, close\r\n",
        "Connection: keep-alive\r\nConnection: Close\r\n",
    ] {
        let request = format!("GET /health HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        let all = server.raw_until_close(request.as_bytes());
        assert!(all.starts_with("HTTP/1.1 200"), "{all}");
        assert!(all.contains("Connection: close"), "{headers}: {all}");
    }
    // HTTP/1.0 asking for keep-alive among other options stays open.
    let mut stream = server.connect();
    for _ in 0..2 {
        stream
            .write_all(b"GET /health HTTP/1.0\r\nConnection: Keep-Alive, x-other\r\n\r\n")
            .unwrap();
        assert_eq!(read_reply(&mut stream).unwrap().status, 200);
    }
}

#[test]
fn transfer_encoding_must_name_chunked_once_as_its_last_coding() {
    let server = Server::mock(&[]);
    let head = "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
    let chunked = format!("{:x}\r\n{PING}\r\n0\r\n\r\n", PING.len());
    // Twice chunked (two lines or one list) was read as once: a proxy in front that
    // de-chunks once would see another body than we do (request smuggling).
    for (te, want) in [
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            400,
        ),
        ("Transfer-Encoding: chunked, chunked\r\n", 400),
        ("Transfer-Encoding: chunked, gzip\r\n", 400),
        ("Transfer-Encoding: identity\r\n", 400),
        ("Transfer-Encoding: gzip, chunked\r\n", 501),
    ] {
        let reply = server.raw(format!("{head}{te}\r\n{chunked}").as_bytes());
        assert_eq!(reply.status, want, "{te:?}: {}", reply.text());
        assert_eq!(reply.header("connection"), Some("close"), "{te:?}");
    }
    let reply = server.raw(format!("{head}Transfer-Encoding: chunked\r\n\r\n{chunked}").as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[test]
fn a_malformed_request_line_is_400_and_only_a_well_formed_unsupported_version_505() {
    // Before, a space inside the target or two before the version read as an unsupported
    // version (505), inviting a client to retry with another one.
    let server = Server::mock(&[]);
    let cases: &[(&str, u16)] = &[
        ("GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /health  HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /a b HTTP/2.0\r\nHost: x\r\n\r\n", 400),
        ("GET /a b HTTP/1.2\r\nHost: x\r\n\r\n", 400),
        ("GET /health HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    ];
    for (request, want) in cases {
        let reply = server.raw(request.as_bytes());
        assert_eq!(reply.status, *want, "{request:?}: {}", reply.text());
    }
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn an_origin_that_is_not_utf8_is_refused_like_a_disallowed_one() {
    // Before, an Origin that was not UTF-8 read as no Origin at all: served, as a
    // non-browser client would be.
    for cors in ["https://app.example.com", "*"] {
        let server = Server::mock(&[("CORS_ORIGIN", cors)]);
        let mut request =
            b"POST /mcp HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.com\xff\r\n".to_vec();
        request.extend_from_slice(
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{PING}",
                PING.len()
            )
            .as_bytes(),
        );
        let reply = server.raw(&request);
        assert_eq!(reply.status, 403, "CORS_ORIGIN={cors}: {}", reply.text());
        assert!(reply.text().contains("Origin"), "{}", reply.text());
        assert_eq!(reply.header("access-control-allow-origin"), None);
    }
}

#[test]
fn one_client_cannot_take_every_connection() {
    // Before, one address holding MAX_CONNECTIONS idle sockets made /mcp answer 503 to
    // everyone. Now it holds at most MAX_CONNECTIONS_PER_CLIENT, its oldest idle one shed
    // for a new one.
    let server = Server::mock(&[
        ("MAX_CONNECTIONS", "4"),
        ("MAX_CONNECTIONS_PER_CLIENT", "3"),
    ]);
    let ping: serde_json::Value = serde_json::from_str(PING).unwrap();
    let mut held: Vec<_> = (0..3).map(|_| server.connect_from("127.0.0.3")).collect();
    for stream in &mut held {
        send(stream, "GET", "/health", &[], b"");
        assert_eq!(read_reply(stream).unwrap().status, 200);
    }
    // A fourth from the same address is served, and its oldest idle one is closed.
    let mut fourth = server.connect_from("127.0.0.3");
    send(&mut fourth, "GET", "/health", &[], b"");
    assert_eq!(read_reply(&mut fourth).unwrap().status, 200);
    let mut byte = [0u8; 1];
    held[0]
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        held[0].read(&mut byte).unwrap(),
        0,
        "the oldest idle one closed"
    );
    for stream in &mut held[1..] {
        send(stream, "GET", "/health", &[], b"");
        assert_eq!(read_reply(stream).unwrap().status, 200, "the others stay");
    }
    // Another client still gets a full place (once the shed one's place is given back:
    // its coroutine ends a moment after the client saw it close).
    let body = ping.to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = server.request_from(
            "127.0.0.2",
            "POST",
            "/mcp",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        if reply.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", reply.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!server.log().contains("panicked"));
}

#[test]
fn request_bodies_share_a_global_budget() {
    // Before, every connection could hold MAX_REQUEST_SIZE whatever the others held: 20
    // connections of 10 MB took 190 MB more.
    let server = Server::mock(&[
        ("MAX_REQUEST_SIZE", "1048576"),
        ("MAX_BUFFERED_BODY_BYTES", "2621440"),
        ("HTTP_REQUEST_TIMEOUT_MS", "60000"),
    ]);
    let pad = "x".repeat(1_000_000);
    let body = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"ping","params":{{"pad":"{pad}"}}}}"#);
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let half = body.len() / 2;
    // Two clients are let in (100 Continue: their bodies have room) and send half.
    let mut slow: Vec<_> = (0..2)
        .map(|_| {
            let mut stream = server.send_raw(head.as_bytes());
            let mut interim = [0u8; 25];
            stream.read_exact(&mut interim).unwrap();
            assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
            stream.write_all(&body.as_bytes()[..half]).unwrap();
            stream
        })
        .collect();
    // A third would take the held bytes past the budget: 503 with Retry-After, from its
    // head, with no 100 Continue.
    let refused = server.raw(head.as_bytes());
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        refused.text().contains("MAX_BUFFERED_BODY_BYTES"),
        "{}",
        refused.text()
    );
    // The two finish and are answered.
    for stream in &mut slow {
        stream.write_all(&body.as_bytes()[half..]).unwrap();
        let reply = read_reply(stream).expect("an answer");
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    // Their bytes were given back: a later body as large is taken.
    let mut later = server.send_raw(head.as_bytes());
    let mut interim = [0u8; 25];
    later.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    later.write_all(body.as_bytes()).unwrap();
    let reply = read_reply(&mut later).expect("an answer");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["id"], 7);
}

#[test]
fn partial_heads_do_not_hold_an_addresss_places() {
    // Found by an attacker's review: connections that sent only part of a request head
    // counted as busy, so whoever shared an address (a NAT) could hold all its places
    // without a credential, and the next client from it got 503. Until its head is whole a
    // connection can be shed like an idle one.
    let server = Server::mock(&[
        ("MAX_CONNECTIONS", "8"),
        ("MAX_CONNECTIONS_PER_CLIENT", "3"),
    ]);
    let mut partial: Vec<_> = (0..3).map(|_| server.connect_from("127.0.0.5")).collect();
    for stream in &mut partial {
        stream
            .write_all(b"POST /mcp HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut next = server.connect_from("127.0.0.5");
    send(&mut next, "GET", "/health", &[], b"");
    assert_eq!(read_reply(&mut next).unwrap().status, 200);
    let mut byte = [0u8; 1];
    partial[0]
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        partial[0].read(&mut byte).unwrap_or(0),
        0,
        "the oldest partial one was closed"
    );
}
