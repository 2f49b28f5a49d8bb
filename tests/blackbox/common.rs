//! Test harness: starts the built binary on a free loopback port and talks raw HTTP/1.1
//! to it, so every test drives the server the way a client would.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An `MCP_API_KEYS` key the tests configure where `/mcp` needs a credential.
pub const API_KEY: &str = "test-api-key-0123456789abcdef";
/// The `Authorization` header carrying [`API_KEY`].
pub const API_KEY_AUTH: (&str, &str) = ("Authorization", "Bearer test-api-key-0123456789abcdef");

/// The admin API token the tests configure (`ADMIN_API_TOKEN`).
pub const ADMIN: &str = "admin-secret-0123456789abcdef";
/// 64 hex digits: a `REGISTRY_KEY_FILE` sealing key (every replica of a test shares it).
pub const SEAL_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A free loopback port (released before the caller's server binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The fixtures shipped with the repository.
pub fn fixtures() -> String {
    format!("{}/fixtures/hubspot", env!("CARGO_MANIFEST_DIR"))
}

/// A running server process; killed when dropped. Derefs to a [`Client`] for it.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
    /// The server's own `DATA_DIR` (removed on drop unless the test passed its own).
    pub data_dir: Option<std::path::PathBuf>,
    client: Client,
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(label: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hubspot-mcp-test-{label}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl std::ops::Deref for Server {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Talks HTTP to a server address; cheap to copy into threads.
#[derive(Clone, Copy)]
pub struct Client {
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `hubspot-mcp-server` on the embedded mock with extra environment.
    pub fn mock(env: &[(&str, &str)]) -> Server {
        let mut all = vec![("HUBSPOT_MOCK", fixtures())];
        all.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        Server::start(&["serve"], &all, "listening on http://")
    }

    /// Starts the standalone mock HubSpot with `extra` flags.
    pub fn mock_hubspot(extra: &[&str]) -> Server {
        let fixtures = fixtures();
        let mut args = vec!["mock-hubspot", "--fixtures", &fixtures, "--port", "0"];
        args.extend_from_slice(extra);
        Server::start(&args, &[], "listening on http://")
    }

    /// Starts the binary with `args` and `env` (plus PORT=0, HOST=127.0.0.1) and waits for
    /// the log line containing `marker` followed by the address.
    pub fn start(args: &[&str], env: &[(&str, String)], marker: &str) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"));
        cmd.args(args)
            .env_clear()
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let own_data_dir = (!env.iter().any(|(k, _)| *k == "DATA_DIR")).then(|| temp_dir("data"));
        if let Some(dir) = &own_data_dir {
            cmd.env("DATA_DIR", dir);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the server binary starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        let marker = marker.to_string();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
                if !sent {
                    if let Some(pos) = line.find(&marker) {
                        let rest = &line[pos + marker.len()..];
                        let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr.parse().expect("a socket address in the log"),
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start; log:\n{}", log.lock().unwrap());
            }
        };
        Server {
            child,
            addr,
            log,
            data_dir: own_data_dir,
            client: Client { addr },
        }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Client {
    /// A new connection to the server.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
    }

    /// A new connection to the server from the loopback address `from` (`127.0.0.2`, ...),
    /// so a test can be several clients.
    pub fn connect_from(&self, from: &str) -> TcpStream {
        let from: SocketAddr = format!("{from}:0").parse().unwrap();
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(from),
            socket2::Type::STREAM,
            None,
        )
        .unwrap();
        socket.bind(&from.into()).unwrap();
        socket.connect(&self.addr.into()).unwrap();
        let stream: TcpStream = socket.into();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
    }

    /// A new connection on which `bytes` went out exactly as given (raw HTTP, malformed
    /// or pipelined as a test needs).
    pub fn send_raw(&self, bytes: &[u8]) -> TcpStream {
        let mut stream = self.connect();
        stream.write_all(bytes).unwrap();
        stream
    }

    /// The reply to `bytes` sent as they are on a new connection.
    pub fn raw(&self, bytes: &[u8]) -> Reply {
        read_reply(&mut self.send_raw(bytes)).expect("an answer")
    }

    /// All the server writes back to `bytes` sent on a new connection, until it closes it.
    pub fn raw_until_close(&self, bytes: &[u8]) -> String {
        let mut all = String::new();
        self.send_raw(bytes).read_to_string(&mut all).unwrap();
        all
    }

    /// One request on a fresh connection from the loopback address `from`.
    pub fn request_from(
        &self,
        from: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut stream = self.connect_from(from);
        send(&mut stream, method, path, headers, body);
        read_reply(&mut stream).expect("a response")
    }

    /// One request on a fresh connection.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut stream = self.connect();
        send(&mut stream, method, path, headers, body);
        read_reply(&mut stream).expect("a response")
    }

    /// One request on a fresh connection; `None` when the server is gone.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<Reply> {
        let mut stream = TcpStream::connect(self.addr).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .ok()?;
        let mut out = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        stream.write_all(out.as_bytes()).ok()?;
        stream.write_all(body).ok()?;
        read_reply(&mut stream)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], b"")
    }

    /// A JSON-RPC POST of `body` to `path` with JSON headers.
    pub fn rpc(&self, path: &str, body: &Value) -> Reply {
        self.rpc_with(path, body, &[])
    }

    /// A JSON-RPC POST with extra headers.
    pub fn rpc_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let mut all = vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ];
        all.extend_from_slice(headers);
        self.request("POST", path, &all, body.to_string().as_bytes())
    }

    /// One admin API call with `Authorization: Bearer <admin_token>` and a JSON `body`;
    /// the status and the JSON answer (`null` when empty).
    pub fn admin(
        &self,
        admin_token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let auth = format!("Bearer {admin_token}");
        let body = body.map(Value::to_string).unwrap_or_default();
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        let reply = self.request(method, path, &headers, body.as_bytes());
        let json = if reply.body.is_empty() {
            Value::Null
        } else {
            reply.json()
        };
        (reply.status, json)
    }

    /// `tools/call` of `name` with `arguments` on `/mcp`; returns the JSON-RPC response.
    pub fn call_tool(&self, name: &str, arguments: Value) -> Value {
        self.call_tool_with(name, arguments, &[])
    }

    /// [`Client::call_tool`] with extra headers (such as `Authorization`).
    pub fn call_tool_with(&self, name: &str, arguments: Value, headers: &[(&str, &str)]) -> Value {
        let reply = self.rpc_with(
            "/mcp",
            &serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":name,"arguments":arguments}}),
            headers,
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failing test shows what the server said (tests capture it otherwise).
            eprintln!("--- log of the server on {} ---\n{}", self.addr, self.log());
            if let Ok(Some(status)) = self.child.try_wait() {
                eprintln!("--- the server had exited: {status} ---");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Writes one request with a Content-Length.
pub fn send(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).unwrap();
}

/// An HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Reads one response (Content-Length framed, or up to close); `None` if the connection
/// closed before a status line.
pub fn read_reply(stream: &mut TcpStream) -> Option<Reply> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (status, headers, header_end) = loop {
        let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..pos]).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        if status == 100 {
            // An interim response: skip it, the final one follows.
            buf.drain(..pos + 4);
            continue;
        }
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        break (status, headers, pos + 4);
    };
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = buf[header_end..].to_vec();
    if status == 204 || status == 304 {
        return Some(Reply {
            status,
            headers,
            body: Vec::new(),
        });
    }
    match length {
        Some(n) => {
            while body.len() < n {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => body.extend_from_slice(&chunk[..k]),
                }
            }
            body.truncate(n);
        }
        None => {
            let _ = stream.read_to_end(&mut body);
        }
    }
    Some(Reply {
        status,
        headers,
        body,
    })
}

/// A standalone mock HubSpot and the server pointed at it with a token and `env`.
pub fn servers(env: &[(&str, &str)]) -> (Server, Server) {
    let upstream = Server::mock_hubspot(&[]);
    let mut all = vec![
        (
            "HUBSPOT_PRIVATE_APP_ACCESS_TOKEN",
            "pat-na1-test".to_string(),
        ),
        ("HUBSPOT_API_URL", format!("http://{}", upstream.addr)),
    ];
    all.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    let server = Server::start(&["serve"], &all, "listening on http://");
    (upstream, server)
}

/// Replaces the standalone mock's fault plan.
pub fn plan(upstream: &Server, faults: Value) {
    let reply = upstream.request(
        "POST",
        "/__mock/faults",
        &[("Content-Type", "application/json")],
        faults.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// The text of a tool result's first content item.
pub fn tool_text(response: &Value) -> String {
    response["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
