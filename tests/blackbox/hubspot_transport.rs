//! The HubSpot client's connections, seen from a fake HubSpot on 127.0.0.1 that counts
//! connections and can answer like a broken or hostile server: keep-alive reuse, the
//! answer-size cap, malformed answers, and what a lost answer to a create says. Every
//! call goes over real HTTP to the server's `POST /mcp`.

use crate::common::{tool_text, Server};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the fake answers one request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// 200 with a small JSON record, connection kept.
    Json,
    /// 200 with JSON, then the connection closed (no `Connection: close` said).
    JsonThenClose,
    /// `100 Continue`, then the 200 with JSON.
    Continue,
    /// A chunked body whose second chunk size is near `u64::MAX`, then close (a size that
    /// fits in 64 bits is a size: the answer is cut short, or stopped at the cap).
    HugeChunkSize,
    /// A chunked body whose chunk size is not hex, then close.
    BadChunkSize,
    /// Header lines without end.
    EndlessHeaders,
    /// A 50 MB body, written until the reader goes away.
    Huge,
    /// Part of the body, then a TCP reset.
    ResetMidBody,
    /// Part of the body, then a clean close.
    CloseMidBody,
    /// A reset before any answer.
    Reset,
    /// Nothing for 3 s, then close.
    Silent,
    /// 200 with a complete body that is not JSON.
    NotJson,
}

const RECORD: &str = r#"{"id":"501","properties":{"email":"pooled@example.com"},"results":[{"id":"501","properties":{"email":"pooled@example.com"}}],"status":"COMPLETE"}"#;

/// The fake HubSpot: answers `default` unless an answer was queued with [`Fake::then`].
struct Fake {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    queued: Arc<Mutex<VecDeque<Answer>>>,
}

impl Fake {
    fn start(default: Answer) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let fake = Fake {
            addr: listener.local_addr().unwrap(),
            connections: Arc::default(),
            requests: Arc::default(),
            queued: Arc::default(),
        };
        let (connections, requests, queued) = (
            fake.connections.clone(),
            fake.requests.clone(),
            fake.queued.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                connections.fetch_add(1, Ordering::SeqCst);
                let (requests, queued) = (requests.clone(), queued.clone());
                std::thread::spawn(move || serve(stream, default, &requests, &queued));
            }
        });
        fake
    }

    fn then(&self, answer: Answer) {
        self.queued.lock().unwrap().push_back(answer);
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Reads requests on one connection and answers each as told, until a closing answer.
fn serve(
    mut stream: TcpStream,
    default: Answer,
    requests: &Mutex<Vec<String>>,
    queued: &Mutex<VecDeque<Answer>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        requests
            .lock()
            .unwrap()
            .push(head.lines().next().unwrap_or_default().to_string());
        let answer = queued.lock().unwrap().pop_front().unwrap_or(default);
        if !answer_with(&mut stream, answer) {
            return;
        }
    }
}

fn json_answer() -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{RECORD}",
        RECORD.len()
    )
}

/// Writes `answer`; false when the connection is done.
fn answer_with(stream: &mut TcpStream, answer: Answer) -> bool {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(20)));
    match answer {
        Answer::Json => stream.write_all(json_answer().as_bytes()).is_ok(),
        Answer::JsonThenClose => {
            let _ = stream.write_all(json_answer().as_bytes());
            false
        }
        Answer::Continue => {
            let answer = format!("HTTP/1.1 100 Continue\r\n\r\n{}", json_answer());
            stream.write_all(answer.as_bytes()).is_ok()
        }
        Answer::HugeChunkSize | Answer::BadChunkSize => {
            let size = match answer {
                Answer::HugeChunkSize => "fffffffffffffffe",
                _ => "zz",
            };
            let answer = format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{{\"a\"\r\n{size}\r\n:1}}\r\n"
            );
            let _ = stream.write_all(answer.as_bytes());
            std::thread::sleep(Duration::from_millis(200));
            false
        }
        Answer::EndlessHeaders => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n");
            let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
            while stream.write_all(line.as_bytes()).is_ok() {}
            false
        }
        Answer::Huge => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n[");
            let block = vec![b' '; 64 * 1024];
            for _ in 0..800 {
                if stream.write_all(&block).is_err() {
                    break;
                }
            }
            false
        }
        Answer::ResetMidBody | Answer::CloseMidBody => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"id\":\"5");
            std::thread::sleep(Duration::from_millis(100));
            if let Answer::ResetMidBody = answer {
                reset(stream);
            }
            false
        }
        Answer::Reset => {
            reset(stream);
            false
        }
        Answer::Silent => {
            std::thread::sleep(Duration::from_secs(3));
            false
        }
        Answer::NotJson => {
            let body = "<html>upstream gateway says hi</html>";
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
            false
        }
    }
}

/// Makes the coming close a TCP reset (SO_LINGER 0).
#[allow(unsafe_code, reason = "SO_LINGER 0 has no safe std setter")]
fn reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// The MCP server with its HubSpot at `http://addr` and `extra` env.
fn server_for(addr: SocketAddr, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        (
            "HUBSPOT_PRIVATE_APP_ACCESS_TOKEN",
            "pat-na1-transport".to_string(),
        ),
        ("HUBSPOT_API_URL", format!("http://{addr}")),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Server::start(&["serve"], &env, "listening on http://")
}

/// The tool call's text and whether it is an error.
fn call(server: &Server, tool: &str, args: Value) -> (String, bool) {
    let reply = server.call_tool(tool, args);
    (tool_text(&reply), reply["result"]["isError"] == true)
}

#[test]
fn sequential_calls_share_one_upstream_connection_and_reconnect_after_a_close() {
    let fake = Fake::start(Answer::Json);
    let server = server_for(fake.addr, &[]);
    for _ in 0..5 {
        let (text, error) = call(&server, "get_contacts", json!({"limit": 1}));
        assert!(!error && text.contains("pooled@example.com"), "{text}");
    }
    assert_eq!(fake.requests().len(), 5);
    assert_eq!(fake.connections(), 1, "5 calls, 1 connection");

    // The upstream closes the connection after its next answer: the call after it opens
    // a fresh one, and both succeed.
    fake.then(Answer::JsonThenClose);
    for _ in 0..3 {
        let (text, error) = call(&server, "get_contacts", json!({"limit": 1}));
        assert!(!error, "{text}");
    }
    assert_eq!(fake.requests().len(), 8);
    assert_eq!(fake.connections(), 2);
}

#[test]
fn an_interim_100_continue_is_skipped() {
    let fake = Fake::start(Answer::Continue);
    let server = server_for(fake.addr, &[]);
    let (text, error) = call(&server, "get_contacts", json!({"limit": 1}));
    assert!(!error && text.contains("pooled@example.com"), "{text}");
    let (text, error) = call(&server, "create_contact", json!({"email": "c@example.com"}));
    assert!(!error && text.contains("501"), "{text}");
}

#[test]
fn hostile_answers_become_tool_errors_without_a_panic() {
    let cases = [
        (Answer::HugeChunkSize, "did not arrive in full"),
        (Answer::BadChunkSize, "could not be read"),
        (
            Answer::EndlessHeaders,
            "header block is larger than 32768 bytes",
        ),
        (
            Answer::Huge,
            "larger than HUBSPOT_MAX_RESPONSE_BYTES (65536 bytes)",
        ),
        (Answer::ResetMidBody, "did not arrive in full"),
        (Answer::CloseMidBody, "did not arrive in full"),
        (Answer::Reset, "did not arrive in full"),
        (Answer::NotJson, "could not be read"),
    ];
    for (answer, expected) in cases {
        let fake = Fake::start(answer);
        let server = server_for(
            fake.addr,
            &[
                ("HUBSPOT_MAX_RETRIES", "0"),
                ("HUBSPOT_MAX_RESPONSE_BYTES", "65536"),
            ],
        );
        let (text, error) = call(&server, "get_contacts", json!({"limit": 1}));
        assert!(error, "{answer:?}: {text}");
        assert!(
            text.contains(expected),
            "{answer:?}: missing {expected:?} in {text}"
        );
        assert!(!text.contains("pat-na1-transport"), "{text}");
        // The server is still there, and never panicked.
        assert_eq!(server.get("/health").status, 200);
        let log = server.log();
        assert!(!log.contains("panicked"), "{answer:?}: {log}");
    }
}

#[test]
fn a_read_whose_answer_was_lost_is_retried_on_a_fresh_connection() {
    let fake = Fake::start(Answer::Json);
    fake.then(Answer::ResetMidBody);
    let server = server_for(fake.addr, &[]);
    let (text, error) = call(&server, "get_contacts", json!({"limit": 1}));
    assert!(!error && text.contains("pooled@example.com"), "{text}");
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(fake.connections(), 2);
}

#[test]
fn every_lost_answer_to_a_create_says_the_record_may_exist() {
    let creates = [
        ("create_contact", json!({"email": "lost@example.com"})),
        (
            "batch_create_records",
            json!({"objectType": "contacts", "inputs": [{"properties": {"email": "lost@example.com"}}]}),
        ),
        (
            "create_property",
            json!({"objectType": "contacts", "name": "lost_field", "label": "Lost", "type": "string", "fieldType": "text", "groupName": "contactinformation"}),
        ),
    ];
    let answers = [
        (Answer::ResetMidBody, "did not arrive in full"),
        (Answer::CloseMidBody, "did not arrive in full"),
        (Answer::Reset, "did not arrive in full"),
        (Answer::Silent, "did not answer in time"),
        (Answer::NotJson, "could not be read"),
        (Answer::HugeChunkSize, "did not arrive in full"),
        (Answer::BadChunkSize, "could not be read"),
        (Answer::EndlessHeaders, "header block"),
        (Answer::Huge, "HUBSPOT_MAX_RESPONSE_BYTES"),
    ];
    for (answer, cause) in answers {
        let fake = Fake::start(answer);
        let server = server_for(
            fake.addr,
            &[
                ("HUBSPOT_TIMEOUT_MS", "1000"),
                ("HUBSPOT_MAX_RESPONSE_BYTES", "65536"),
            ],
        );
        for (tool, args) in &creates {
            let sent = fake.requests().len();
            let (text, error) = call(&server, tool, args.clone());
            let case = format!("{tool} / {answer:?}");
            assert!(error, "{case}: {text}");
            assert!(text.contains(cause), "{case}: missing {cause:?} in {text}");
            assert!(
                text.contains("may have made the record")
                    && text.contains("before creating it again"),
                "{case}: {text}"
            );
            assert_eq!(fake.requests().len(), sent + 1, "{case}: sent once");
        }
        assert!(!server.log().contains("panicked"), "{}", server.log());
    }
}

#[test]
fn a_create_that_never_left_says_hubspot_was_not_reached() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = server_for(closed, &[("HUBSPOT_MAX_RETRIES", "0")]);
    let (text, error) = call(
        &server,
        "create_contact",
        json!({"email": "never@example.com"}),
    );
    assert!(error, "{text}");
    assert!(text.contains("could not be reached"), "{text}");
    assert!(!text.contains("may have made the record"), "{text}");
}

#[test]
fn concurrent_large_answers_cost_at_most_the_cap_each() {
    let fake = Fake::start(Answer::Huge);
    let server = server_for(
        fake.addr,
        &[
            ("HUBSPOT_MAX_RETRIES", "0"),
            ("HUBSPOT_MAX_RESPONSE_BYTES", "1048576"),
        ],
    );
    let client = *std::ops::Deref::deref(&server);
    let calls: Vec<_> = (0..16)
        .map(|_| std::thread::spawn(move || client.call_tool("get_contacts", json!({}))))
        .collect();
    for call in calls {
        let text = tool_text(&call.join().unwrap());
        assert!(text.contains("HUBSPOT_MAX_RESPONSE_BYTES"), "{text}");
    }
    // 16 answers of 50 MB each: the old client buffered up to 32 MiB of each (690 MB
    // peak); capped at 1 MiB each, the whole process stays far below that.
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(peak_kb < 100 * 1024, "peak RSS {peak_kb} kB");
}

#[test]
fn a_loopback_hubspot_is_reached_directly_whatever_the_proxy_variables_say() {
    // A corporate machine's proxy settings must not send calls for the in-process mock (or
    // any loopback address) to a proxy, which would reach its own loopback, not ours.
    let nowhere = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = format!("http://{nowhere}");
    let fake = Fake::start(Answer::Json);
    let server = server_for(
        fake.addr,
        &[
            ("HTTP_PROXY", &proxy),
            ("http_proxy", &proxy),
            ("ALL_PROXY", &proxy),
        ],
    );
    let (text, error) = call(&server, "get_contacts", json!({"limit": 1}));
    assert!(!error && text.contains("pooled@example.com"), "{text}");
    assert_eq!(fake.connections(), 1);
}

/// Calls through a kept-alive connection cost no thread: HubSpot's host name (here
/// `localhost`, a name, not an address) is looked up when a connection is opened, from a
/// cache, on long-lived lookup threads. The server is watched with strace for any thread
/// or process it creates while it serves calls after a warm-up.
#[test]
fn tool_calls_after_warm_up_create_no_thread() {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("SKIP: strace is not installed (make test installs it)");
        return;
    }
    let fake = Fake::start(Answer::Json);
    let by_name = format!("http://localhost:{}", fake.addr.port());
    let server = Server::start(
        &["serve"],
        &[
            (
                "HUBSPOT_PRIVATE_APP_ACCESS_TOKEN",
                "pat-na1-transport".to_string(),
            ),
            ("HUBSPOT_API_URL", by_name),
            ("HUBSPOT_RATE_LIMIT_PER_10S", "0".to_string()),
        ],
        "listening on http://",
    );
    let calls = |n: usize| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let client: crate::common::Client = *server;
                std::thread::spawn(move || {
                    for _ in 0..n {
                        let reply = client.call_tool("get_contacts", json!({"limit": 1}));
                        assert!(tool_text(&reply).contains("pooled@example.com"), "{reply}");
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
    };
    calls(3);
    let trace = crate::common::temp_dir("strace").join("clones");
    let mut strace = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-o"])
        .arg(&trace)
        .args(["-p", &server.child.id().to_string()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // strace attaches to every thread before it traces: wait until it has.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .unwrap()
        .lines()
        .any(|l| l.starts_with("TracerPid:\t0"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "strace did not attach"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    calls(25);
    let _ = Command::new("kill")
        .args(["-INT", &strace.id().to_string()])
        .status();
    let _ = strace.wait();
    let clones = std::fs::read_to_string(&trace).unwrap_or_default();
    assert_eq!(fake.requests().len(), 4 * 28);
    assert!(
        !clones.contains("clone") && !clones.contains("fork"),
        "100 calls created threads:\n{clones}"
    );
}
