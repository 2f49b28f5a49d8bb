//! HTTPS to HubSpot: the server's TLS client verifies certificates against its built-in
//! roots plus `SSL_CERT_FILE`. A throwaway CA signs a certificate for `localhost`; a TLS
//! front on 127.0.0.1 holding it relays to the mock HubSpot, so a tool call crosses a real
//! TLS handshake without touching the internet.

use crate::common::{temp_dir, tool_text, Server};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A TLS front for `upstream`: where it listens, the test CA's PEM file, and how many
/// requests it relayed after a completed handshake.
struct TlsFront {
    addr: SocketAddr,
    ca_file: std::path::PathBuf,
    relayed: Arc<AtomicUsize>,
}

impl TlsFront {
    fn start(upstream: SocketAddr) -> TlsFront {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let dir = temp_dir("tls");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();

        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let relayed = Arc::new(AtomicUsize::new(0));
        let count = relayed.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming().map_while(Result::ok) {
                let (config, count) = (config.clone(), count.clone());
                std::thread::spawn(move || relay(tcp, config, upstream, &count));
            }
        });
        TlsFront {
            addr,
            ca_file,
            relayed,
        }
    }
}

/// Terminates TLS on `tcp`, passes one request to `upstream` in the clear and the answer
/// back re-framed as HubSpot sends it: chunked, in several TLS records. A failed handshake
/// just drops the connection.
fn relay(tcp: TcpStream, config: Arc<ServerConfig>, upstream: SocketAddr, count: &AtomicUsize) {
    let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), tcp);
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let Ok(n) = tls.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(head_end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if request.len() >= head_end + 4 + length {
                break;
            }
        }
    }
    count.fetch_add(1, Ordering::SeqCst);
    // One request per upstream connection: asking the mock to close lets read_to_end see
    // the end of its answer (the server's own request may ask to keep the connection).
    let line_end = request.windows(2).position(|w| w == b"\r\n").unwrap();
    request.splice(
        line_end + 2..line_end + 2,
        b"Connection: close\r\n".iter().copied(),
    );
    let mut plain = TcpStream::connect(upstream).unwrap();
    plain.write_all(&request).unwrap();
    let mut answer = Vec::new();
    plain.read_to_end(&mut answer).unwrap();
    let head_end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..head_end]);
    let head: Vec<&str> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .collect();
    tls.write_all(
        format!(
            "{}\r\nTransfer-Encoding: chunked\r\n\r\n",
            head.join("\r\n")
        )
        .as_bytes(),
    )
    .unwrap();
    for chunk in answer[head_end + 4..].chunks(100) {
        tls.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .unwrap();
        tls.write_all(chunk).unwrap();
        tls.write_all(b"\r\n").unwrap();
        tls.flush().unwrap();
    }
    tls.write_all(b"0\r\n\r\n").unwrap();
    tls.conn.send_close_notify();
    tls.flush().unwrap();
}

/// The MCP server with its HubSpot at `https://localhost:<front>` and `extra` env.
fn server_behind(front: &TlsFront, extra: &[(&str, String)]) -> Server {
    let mut env = vec![
        (
            "HUBSPOT_PRIVATE_APP_ACCESS_TOKEN",
            "tls-test-token".to_string(),
        ),
        (
            "HUBSPOT_API_URL",
            format!("https://localhost:{}", front.addr.port()),
        ),
        ("HUBSPOT_MAX_RETRIES", "0".to_string()),
    ];
    env.extend(extra.iter().cloned());
    Server::start(&["serve"], &env, "listening on http://")
}

#[test]
fn a_tool_call_reaches_hubspot_over_tls_trusting_ssl_cert_file() {
    let upstream = Server::mock_hubspot(&[]);
    let front = TlsFront::start(upstream.addr);
    let ssl_cert_file = front.ca_file.display().to_string();
    let server = server_behind(&front, &[("SSL_CERT_FILE", ssl_cert_file)]);

    let reply = server.call_tool("get_contacts", json!({"limit": 2}));
    let text = tool_text(&reply);
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    assert!(
        text.contains("priya.raman@northwind-analytics.example"),
        "{text}"
    );
    assert_eq!(front.relayed.load(Ordering::SeqCst), 1);
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_with_a_clear_error() {
    let upstream = Server::mock_hubspot(&[]);
    let front = TlsFront::start(upstream.addr);
    let server = server_behind(&front, &[]);

    let reply = server.call_tool("get_contacts", json!({"limit": 2}));
    let text = tool_text(&reply);
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert_eq!(front.relayed.load(Ordering::SeqCst), 0);
    assert!(!text.contains("tls-test-token"), "{text}");
}

/// Each CONNECT line the proxy saw, with its `Proxy-Authorization`.
type Connects = std::sync::Mutex<Vec<(String, Option<String>)>>;

/// A CONNECT proxy on 127.0.0.1 that tunnels to the named port on 127.0.0.1 and records
/// each CONNECT line with its `Proxy-Authorization`.
struct ConnectProxy {
    addr: SocketAddr,
    seen: Arc<Connects>,
}

impl ConnectProxy {
    fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Connects> = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let log = log.clone();
                std::thread::spawn(move || tunnel(client, &log));
            }
        });
        ConnectProxy { addr, seen }
    }

    fn connects(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

fn tunnel(mut client: TcpStream, log: &Connects) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let line = head.lines().next().unwrap_or_default().to_string();
    let auth = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .starts_with("proxy-authorization:")
            .then(|| l["proxy-authorization:".len()..].trim().to_string())
    });
    log.lock().unwrap().push((line.clone(), auth));
    let Some(port) = line
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|target| target.rsplit(':').next())
        .and_then(|port| port.parse::<u16>().ok())
    else {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let upstream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(std::net::Shutdown::Write);
    });
    let (mut client, mut upstream) = (client, upstream);
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Write);
}

#[test]
fn https_proxy_carries_the_calls_and_no_proxy_bypasses_it() {
    let upstream = Server::mock_hubspot(&[]);
    let front = TlsFront::start(upstream.addr);
    let proxy = ConnectProxy::start();
    let ssl_cert_file = front.ca_file.display().to_string();
    let proxy_url = format!("http://proxyuser:pr0xy-s3cret@{}", proxy.addr);
    let server = server_behind(
        &front,
        &[
            ("SSL_CERT_FILE", ssl_cert_file.clone()),
            ("HTTPS_PROXY", proxy_url.clone()),
            ("LOG_LEVEL", "debug".to_string()),
        ],
    );
    let reply = server.call_tool("get_contacts", json!({"limit": 2}));
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    assert!(tool_text(&reply).contains("priya.raman@northwind-analytics.example"));
    let connects = proxy.connects();
    assert_eq!(connects.len(), 1, "{connects:?}");
    let (line, auth) = &connects[0];
    assert_eq!(
        line,
        &format!("CONNECT localhost:{} HTTP/1.1", front.addr.port())
    );
    // base64("proxyuser:pr0xy-s3cret")
    assert_eq!(
        auth.as_deref(),
        Some("Basic cHJveHl1c2VyOnByMHh5LXMzY3JldA==")
    );
    assert_eq!(front.relayed.load(Ordering::SeqCst), 1);
    let log = server.log();
    assert!(
        log.contains(&format!(
            "through the proxy 127.0.0.1:{} (HTTPS_PROXY)",
            proxy.addr.port()
        )),
        "{log}"
    );
    assert!(
        !log.contains("pr0xy-s3cret") && !log.contains("cHJveHl1c2Vy"),
        "{log}"
    );

    // NO_PROXY names the host: the same call goes straight to the TLS front.
    let direct = server_behind(
        &front,
        &[
            ("SSL_CERT_FILE", ssl_cert_file),
            ("https_proxy", proxy_url),
            ("NO_PROXY", "example.com, localhost".to_string()),
        ],
    );
    let reply = direct.call_tool("get_contacts", json!({"limit": 2}));
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    assert_eq!(proxy.connects().len(), 1, "the proxy saw nothing more");
    assert_eq!(front.relayed.load(Ordering::SeqCst), 2);
}

#[test]
fn a_proxy_that_refuses_is_a_clear_error_without_its_credentials() {
    let upstream = Server::mock_hubspot(&[]);
    let front = TlsFront::start(upstream.addr);
    // Something that is not a proxy: the mock HubSpot answers CONNECT with an error.
    let server = server_behind(
        &front,
        &[(
            "HTTPS_PROXY",
            format!("http://u:hidden-pass@{}", upstream.addr),
        )],
    );
    let reply = server.call_tool("create_contact", json!({"email": "p@example.com"}));
    let text = tool_text(&reply);
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    assert!(
        text.contains("could not be reached") && text.contains("proxy"),
        "{text}"
    );
    assert!(
        !text.contains("may have made the record"),
        "nothing was sent: {text}"
    );
    assert!(!text.contains("hidden-pass") && !server.log().contains("hidden-pass"));
    assert_eq!(front.relayed.load(Ordering::SeqCst), 0);
}
