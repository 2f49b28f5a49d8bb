//! The etcd client must not send its traffic
//! (`/v3/auth/authenticate` with `ETCD_PASSWORD`, sealed records, token hashes) through
//! the HubSpot egress proxy that `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` configure: ureq's
//! default config reads those variables, and the etcd agents are built from it.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn etcd_traffic_never_goes_through_the_hubspot_proxy() {
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    proxy.set_nonblocking(true).unwrap();
    // A closed port stands for etcd: the replica fails to start, which is fine here.
    let etcd_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("review-etcd-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("seal.key");
    std::fs::write(
        &key,
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
        .arg("serve")
        .env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("DATA_DIR", &dir)
        .env(
            "HUBSPOT_MOCK",
            concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/hubspot"),
        )
        .env("REGISTRY", "etcd")
        .env("ETCD_ENDPOINTS", format!("http://127.0.0.1:{etcd_port}"))
        .env("ETCD_USERNAME", "root")
        .env("ETCD_PASSWORD", "etcd-password-that-must-stay-private")
        .env("REGISTRY_KEY_FILE", &key)
        .env("HTTPS_PROXY", format!("http://{proxy_addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok((mut conn, _)) = proxy.accept() {
            conn.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut buf = [0u8; 512];
            let n = conn.read(&mut buf).unwrap_or(0);
            seen.push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        seen.is_empty(),
        "etcd calls went to the HubSpot proxy: {seen:?}"
    );
}
