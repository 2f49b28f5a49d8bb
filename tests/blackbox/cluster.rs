//! Several replicas on one registry in etcd (`REGISTRY=etcd`): a real 3-member etcd cluster
//! (Debian's `etcd-server`, 3.4; `make etcd` installs it) on fresh data directories and free
//! loopback ports, and two server replicas on it. Without an `etcd` binary these tests print
//! a SKIP line and pass. `make cluster-test` runs just these.

// The server's own base64 (etcd's gateway) and RFC 3339 (expiry times) code, compiled into
// this test as well, rather than a copy of either.
#[path = "../../src/runtime/base64.rs"]
mod base64;
#[allow(dead_code, reason = "the test uses only part of the server's clock")]
#[path = "../../src/runtime/clock.rs"]
mod clock;
use crate::common::{free_port, ADMIN, SEAL_KEY};
use crate::common::{temp_dir, Server};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A 3-member etcd cluster on loopback; every member is killed (and its data removed) on drop.
struct Etcd {
    dir: PathBuf,
    /// Extra flags for every member.
    flags: Vec<String>,
    members: Vec<(String, u16, u16)>,
    children: Vec<Option<Child>>,
}

impl Etcd {
    /// Starts the cluster, or `None` (after printing SKIP) when etcd is not installed.
    fn start(test: &str) -> Option<Etcd> {
        Etcd::start_with(test, &[])
    }

    /// [`Etcd::start`] with extra flags for every member. A cluster that does not come up
    /// within 20 s (for instance a member whose free port another process took before it
    /// bound it, on a shared machine) is started again on fresh ports, up to three times;
    /// then the members' logs are shown.
    fn start_with(test: &str, flags: &[&str]) -> Option<Etcd> {
        if Command::new("etcd").arg("--version").output().is_err() {
            println!("SKIP {test}: no etcd binary (make etcd installs Debian's etcd-server)");
            return None;
        }
        let mut logs = String::new();
        for _ in 0..3 {
            let dir = temp_dir("etcd");
            let members: Vec<(String, u16, u16)> = (0..3)
                .map(|i| (format!("m{i}"), free_port(), free_port()))
                .collect();
            let mut etcd = Etcd {
                dir,
                flags: flags.iter().map(|f| f.to_string()).collect(),
                children: (0..3).map(|_| None).collect(),
                members,
            };
            for i in 0..3 {
                etcd.start_member(i);
            }
            if etcd.healthy(Duration::from_secs(20)) {
                return Some(etcd);
            }
            for (name, _, _) in &etcd.members {
                let log = std::fs::read_to_string(etcd.dir.join(format!("{name}.log")));
                let log = log.unwrap_or_default();
                let tail = &log[log.len().saturating_sub(1500)..];
                logs.push_str(&format!("--- {test} {name} ---\n{tail}\n"));
            }
        }
        panic!("etcd did not become healthy three times:\n{logs}");
    }

    fn start_member(&mut self, i: usize) {
        let cluster: Vec<String> = self
            .members
            .iter()
            .map(|(name, _, peer)| format!("{name}=http://127.0.0.1:{peer}"))
            .collect();
        let (name, client, peer) = &self.members[i];
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new("etcd")
            .args(["--name", name])
            .args(["--data-dir", &self.dir.join(name).display().to_string()])
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args([
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
            ])
            .args(["--initial-cluster", &cluster.join(",")])
            .args(["--initial-cluster-token", "hubspot-mcp-test"])
            .args(["--initial-cluster-state", "new"])
            .args(&self.flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        self.children[i] = Some(child);
    }

    /// Waits (up to 30 s) until a write through the gateway of a running member succeeds.
    fn wait_healthy(&self) {
        assert!(
            self.healthy(Duration::from_secs(30)),
            "etcd did not become healthy"
        );
    }

    /// Whether a write through the gateway of a running member succeeds within `limit`.
    fn healthy(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let running = self.children.iter().position(Option::is_some).unwrap();
        let (_, client, _) = &self.members[running];
        while Instant::now() < deadline {
            let stream = std::net::TcpStream::connect(("127.0.0.1", *client));
            if let Ok(mut stream) = stream {
                let body = r#"{"key":"aGVhbHRo","value":"b2s="}"#;
                crate::common::send(&mut stream, "POST", "/v3/kv/put", &[], body.as_bytes());
                if let Some(reply) = crate::common::read_reply(&mut stream) {
                    if reply.status == 200 && reply.text().contains("revision") {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|(_, client, _)| format!("http://127.0.0.1:{client}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// kill -9 every member.
    fn kill_all(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }

    /// The index of the current leader (asked through `/v3/maintenance/status`).
    fn leader(&self) -> Option<usize> {
        self.members.iter().position(|(_, port, _)| {
            let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", *port)) else {
                return false;
            };
            crate::common::send(&mut stream, "POST", "/v3/maintenance/status", &[], b"{}");
            crate::common::read_reply(&mut stream).is_some_and(|reply| {
                let status = reply.json();
                status["leader"] == status["header"]["member_id"]
            })
        })
    }

    /// kill -9 one member.
    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts every stopped member on its data directory.
    fn restart_all(&mut self) {
        for i in 0..3 {
            if self.children[i].is_none() {
                self.start_member(i);
            }
        }
        self.wait_healthy();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill_all();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A replica on the cluster (the embedded mock HubSpot, admin API on).
fn replica(etcd: &Etcd, prefix: &str) -> Server {
    replica_with(etcd, prefix, &[])
}

/// The environment of a replica on the cluster, plus `extra`.
fn replica_env(etcd: &Etcd, prefix: &str, extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
    let key_file = etcd.dir.join("seal.key");
    std::fs::write(&key_file, SEAL_KEY).unwrap();
    let mut env = vec![
        ("HUBSPOT_MOCK", crate::common::fixtures()),
        ("ADMIN_API_TOKEN", ADMIN.into()),
        ("MCP_API_KEYS", crate::common::API_KEY.into()),
        ("REGISTRY", "etcd".into()),
        ("ETCD_ENDPOINTS", etcd.endpoints()),
        ("ETCD_PREFIX", prefix.into()),
        ("REGISTRY_KEY_FILE", key_file.display().to_string()),
    ];
    for (name, value) in extra {
        let name: &'static str = Box::leak(name.to_string().into_boxed_str());
        env.push((name, value.to_string()));
    }
    env
}

fn replica_with(etcd: &Etcd, prefix: &str, extra: &[(&str, &str)]) -> Server {
    Server::start(
        &["serve"],
        &replica_env(etcd, prefix, extra),
        "listening on http://",
    )
}

/// POSTs `body` to etcd's gateway on the first running member; the answer's JSON. The
/// connection is closed after the answer, since error answers come chunked.
fn gateway(etcd: &Etcd, path: &str, body: Value) -> Value {
    let running = etcd.children.iter().position(Option::is_some).unwrap();
    let (_, port, _) = &etcd.members[running];
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", *port)).unwrap();
    let close = [("Connection", "close")];
    crate::common::send(
        &mut stream,
        "POST",
        path,
        &close,
        body.to_string().as_bytes(),
    );
    let text = crate::common::read_reply(&mut stream).unwrap().text();
    let json = &text[text.find('{').unwrap_or(0)..text.rfind('}').map_or(0, |i| i + 1)];
    serde_json::from_str(json).unwrap_or(Value::Null)
}

fn admin(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let auth = format!("Bearer {ADMIN}");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let reply = server.request(
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    let value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    (reply.status, value)
}

fn default_account(server: &Server) -> String {
    let (status, list) = admin(server, "GET", "/integrated-account", None);
    assert_eq!(status, 200, "{list}");
    list["result"][0]["id"].as_str().unwrap().to_string()
}

fn mint(server: &Server, account: &str, body: Value) -> Value {
    let (status, created) = admin(
        server,
        "POST",
        &format!("/integrated-account/{account}/mcp"),
        Some(body),
    );
    assert_eq!(status, 201, "{created}");
    created
}

/// The status of `tools/list` on a scoped server's URL.
fn list_status(server: &Server, token: &str) -> u16 {
    server
        .rpc(
            &format!("/mcp/{token}"),
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .status
}

/// Waits (up to 10 s) until `server` has the server `created` (polled on the admin API:
/// unknown tokens on `/mcp/<token>` would count as guessing and be slowed down), then
/// checks that its token works there.
fn serves(server: &Server, created: &Value) -> bool {
    let path = format!(
        "/integrated-account/{}/mcp/{}",
        created["integrated_account_id"].as_str().unwrap(),
        created["id"].as_str().unwrap()
    );
    within(Duration::from_secs(10), || {
        admin(server, "GET", &path, None).0 == 200
    })
    .is_some()
        && list_status(server, created["token"].as_str().unwrap()) == 200
}

/// Polls `done` every 5 ms for up to `limit`; returns how long it took.
fn within(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

#[test]
fn two_replicas_share_mints_deletes_and_patches_without_losing_updates() {
    let Some(etcd) = Etcd::start("two_replicas_share") else {
        return;
    };
    let a = replica(&etcd, "/share-test/");
    let b = replica(&etcd, "/share-test/");
    let account = default_account(&a);
    assert_eq!(default_account(&b), account);

    // Minted on A, usable on B at once (A answered only after etcd committed, and B's watch
    // brings it within a generous bound).
    let created = mint(
        &a,
        &account,
        json!({"name": "shared", "config": {"methods": ["read"]}}),
    );
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(list_status(&a, &token), 200);
    assert!(serves(&b, &created), "B never saw the server minted on A");

    // PATCH on A is seen on B.
    let path = format!("/integrated-account/{account}/mcp/{id}");
    let (status, patched) = admin(&a, "PATCH", &path, Some(json!({"name": "renamed on A"})));
    assert_eq!(status, 200, "{patched}");
    assert!(
        within(Duration::from_secs(10), || admin(&b, "GET", &path, None).1
            ["name"]
            == "renamed on A")
        .is_some(),
        "B never saw A's PATCH"
    );

    // Concurrent PATCHes from both replicas: A renames, B changes the config; every one is
    // acknowledged, and the final record holds the last of each (a lost update would show
    // as one replica's field reverted by the other's write).
    const ROUNDS: usize = 500;
    let configs = [json!({"methods": ["read"]}), json!({"methods": ["write"]})];
    let conflicts = std::sync::atomic::AtomicUsize::new(0);
    let conflict = |status: u16| {
        if status == 409 {
            conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let (last_a, last_b) = std::thread::scope(|scope| {
        let on_a = scope.spawn(|| {
            let mut last = String::new();
            for i in 0..ROUNDS {
                let name = format!("a-{i}");
                let (status, body) = admin(&a, "PATCH", &path, Some(json!({ "name": name })));
                assert!(status == 200 || status == 409, "{status} {body}");
                conflict(status);
                if status == 200 {
                    last = name;
                }
            }
            last
        });
        let on_b = scope.spawn(|| {
            let mut last = Value::Null;
            for i in 0..ROUNDS {
                let config = configs[i % 2].clone();
                let (status, body) = admin(&b, "PATCH", &path, Some(json!({ "config": config })));
                assert!(status == 200 || status == 409, "{status} {body}");
                conflict(status);
                if status == 200 {
                    last = config;
                }
            }
            last
        });
        (on_a.join().unwrap(), on_b.join().unwrap())
    });
    println!(
        "{ROUNDS} concurrent PATCHes per replica: {} answered 409",
        conflicts.into_inner()
    );
    assert!(
        !last_a.is_empty() && !last_b.is_null(),
        "no PATCH was acknowledged"
    );
    for replica in [&a, &b] {
        let settled = within(Duration::from_secs(10), || {
            let record = admin(replica, "GET", &path, None).1;
            record["name"] == last_a.as_str() && record["config"]["methods"] == last_b["methods"]
        });
        let record = admin(replica, "GET", &path, None).1;
        assert!(
            settled.is_some(),
            "lost update: {record} (want name {last_a}, config {last_b})"
        );
    }

    // Deleted on B, refused on A within 1 s.
    let (status, _) = admin(&b, "DELETE", &path, None);
    assert_eq!(status, 200);
    let took = within(Duration::from_secs(10), || list_status(&a, &token) != 200)
        .expect("A still serves a server deleted on B");
    println!("delete on B refused on A after {} ms", took.as_millis());
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(list_status(&a, &token), 404);
}

/// `tools/list` with an `MCP_API_KEYS` key on `/mcp`: its status.
fn api_key_status(server: &Server) -> u16 {
    let bearer = format!("Bearer {}", crate::common::API_KEY);
    server
        .rpc_with(
            "/mcp",
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            &[("Authorization", &bearer)],
        )
        .status
}

/// Also: a replica with a short `ETCD_MAX_STALENESS_MS` (B) serves scoped servers from
/// memory at first, refuses them (503, -32011) once etcd has been gone longer, keeps
/// serving API keys, and serves the tokens again when etcd is back; the default (A) keeps
/// serving throughout. Then a record overwritten with garbage is refused (fail closed).
#[test]
fn etcd_down_keeps_mcp_serving_from_memory_and_refuses_admin_writes_with_503() {
    let Some(mut etcd) = Etcd::start("etcd_down") else {
        return;
    };
    let a = replica(&etcd, "/down-test/");
    let b = replica_with(&etcd, "/down-test/", &[("ETCD_MAX_STALENESS_MS", "3000")]);
    let account = default_account(&a);
    let before = mint(&a, &account, json!({"name": "before the outage"}));
    let token = before["token"].as_str().unwrap().to_string();
    assert!(serves(&b, &before));

    etcd.kill_all();
    // B (the short bound) first, while its bound has surely not run out.
    for replica in [&b, &a] {
        // MCP keeps flowing from memory.
        for _ in 0..20 {
            assert_eq!(list_status(replica, &token), 200);
        }
        // Admin writes answer 503 naming etcd.
        let (status, body) = admin(
            replica,
            "POST",
            &format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "during the outage"})),
        );
        assert_eq!(status, 503, "{body}");
        assert!(body["message"].as_str().unwrap().contains("etcd"), "{body}");
        // /ready reports it.
        let ready = replica.get("/ready").json();
        assert_eq!(
            ready["checks"]["registry"]["status"], "unreachable",
            "{ready}"
        );
    }
    assert!(a.log().contains("etcd is unreachable"), "{}", a.log());

    // Past its bound, B refuses the scoped token (a revocation could not be seen), says
    // why, and /ready says so; API keys still work there; A (5 min) still serves it.
    let refused = within(Duration::from_secs(20), || list_status(&b, &token) == 503);
    assert!(
        refused.is_some(),
        "B kept serving past ETCD_MAX_STALENESS_MS"
    );
    let reply = b.rpc(
        &format!("/mcp/{token}"),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    let body = reply.json();
    assert_eq!(body["error"]["code"], -32011, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("etcd") && message.contains("ETCD_MAX_STALENESS_MS"),
        "{message}"
    );
    assert_eq!(reply.header("retry-after"), Some("5"));
    let bearer = format!("Bearer {token}");
    let by_header = b.rpc_with(
        "/mcp",
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        &[("Authorization", &bearer)],
    );
    assert_eq!(by_header.status, 503, "{}", by_header.text());
    let ready = b.get("/ready");
    assert_eq!(ready.status, 200);
    assert_eq!(
        ready.json()["checks"]["registry"]["scoped_servers"],
        "refused",
        "{}",
        ready.text()
    );
    assert_eq!(api_key_status(&b), 200);
    assert_eq!(list_status(&a, &token), 200);

    etcd.restart_all();
    for replica in [&a, &b] {
        let back = within(Duration::from_secs(20), || {
            replica.get("/ready").json()["checks"]["registry"]["status"] == "ok"
        });
        assert!(back.is_some(), "{}", replica.log());
    }
    assert!(a.log().contains("etcd reachable again"), "{}", a.log());
    assert_eq!(list_status(&b, &token), 200, "B serves the token again");
    // Writes work again and reach the other replica.
    let after = mint(&b, &account, json!({"name": "after the outage"}));
    assert!(serves(&a, &after));

    // A record overwritten with something no replica can read is refused everywhere, not
    // served in its old version; the log names its key, /ready counts it.
    let key = format!("servers/{account}/{}", after["id"].as_str().unwrap());
    let put = json!({"key": base64::encode(format!("/down-test/{key}").as_bytes()), "value": base64::encode(b"{garbage")});
    assert!(gateway(&etcd, "/v3/kv/put", put)["header"]["revision"].is_string());
    let after_token = after["token"].as_str().unwrap();
    for replica in [&a, &b] {
        let gone = within(Duration::from_secs(10), || {
            list_status(replica, after_token) == 404
        });
        assert!(gone.is_some(), "an unreadable record kept being served");
        // /ready needs no credential: it counts such records and names none (no account
        // or server id); the log names the key.
        let ready = replica.get("/ready");
        let shown = ready.json();
        assert_eq!(
            shown["checks"]["registry"]["unreadable_records"], 1,
            "{shown}"
        );
        for id in [account.as_str(), after["id"].as_str().unwrap()] {
            assert!(!ready.text().contains(id), "{shown}");
        }
        assert!(
            replica.log().contains(&format!("key {key}")),
            "{}",
            replica.log()
        );
        assert!(!replica.log().contains("garbage"));
    }
}

#[test]
fn a_server_expiring_in_a_minute_disappears_from_every_replica_and_from_etcd() {
    let Some(etcd) = Etcd::start("expiry") else {
        return;
    };
    let a = replica(&etcd, "/expiry-test/");
    let b = replica(&etcd, "/expiry-test/");
    let account = default_account(&a);
    let expires_ms = clock::now_millis() + 62_000;
    let created = mint(
        &a,
        &account,
        json!({"name": "short-lived", "expires_at": clock::format_millis(expires_ms)}),
    );
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(serves(&b, &created));
    // Past the upper bound: the same 400 as on the file store, not etcd's failure.
    let (status, error) = admin(
        &a,
        "POST",
        &format!("/integrated-account/{account}/mcp"),
        Some(json!({"name": "forever", "expires_at": "9999-12-31T23:59:59Z"})),
    );
    assert_eq!(status, 400, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("at most 3650 days"),
        "{error}"
    );
    // The server and its token index are under a lease (etcd deletes them itself).
    let key = format!("/expiry-test/servers/{account}/{id}");
    let token_key = format!(
        "/expiry-test/tokens/{}",
        created_hash(&etcd, &key).expect("the server's record in etcd")
    );
    for key in [&key, &token_key] {
        let kvs = etcd_kvs(&etcd, key).expect("etcd answers");
        assert_eq!(kvs.len(), 1, "{key}: {kvs:?}");
        assert!(
            !matches!(kvs[0]["lease"].as_str(), None | Some("0")),
            "{key} has no lease: {kvs:?}"
        );
    }
    // PATCHing expires_at moves a server to a new lease; null detaches it (and its index).
    let other = mint(
        &a,
        &account,
        json!({"name": "patched", "expires_at": clock::format_millis(clock::now_millis() + 600_000)}),
    );
    let other_id = other["id"].as_str().unwrap();
    let other_key = format!("/expiry-test/servers/{account}/{other_id}");
    let other_token_key = format!(
        "/expiry-test/tokens/{}",
        created_hash(&etcd, &other_key).unwrap()
    );
    let lease_of = |key: &str| {
        let kvs = etcd_kvs(&etcd, key).expect("etcd answers");
        assert_eq!(kvs.len(), 1, "{key}: {kvs:?}");
        kvs[0]["lease"].as_str().unwrap_or("0").to_string()
    };
    let first_lease = lease_of(&other_key);
    assert_ne!(first_lease, "0");
    let path = format!("/integrated-account/{account}/mcp/{other_id}");
    // B learns of it through its watch (milliseconds; not at the instant A answered).
    assert!(serves(&b, &other));
    let later = json!({ "expires_at": clock::format_millis(clock::now_millis() + 900_000) });
    assert_eq!(admin(&b, "PATCH", &path, Some(later)).0, 200);
    let moved = lease_of(&other_key);
    assert!(
        moved != "0" && moved != first_lease,
        "{first_lease} -> {moved}"
    );
    assert_eq!(lease_of(&other_token_key), moved);
    let renamed = json!({ "name": "renamed, same expiry" });
    assert_eq!(admin(&b, "PATCH", &path, Some(renamed)).0, 200);
    assert_eq!(
        lease_of(&other_key),
        moved,
        "a PATCH without expires_at keeps the lease"
    );
    let never = json!({ "expires_at": null });
    assert_eq!(admin(&a, "PATCH", &path, Some(never)).0, 200);
    assert_eq!(lease_of(&other_key), "0");
    assert_eq!(lease_of(&other_token_key), "0");

    // Gone everywhere after it expires (lease granularity is a second; a leader change
    // renews leases, so allow a generous margin for etcd's own deletion).
    let wait = Duration::from_millis((expires_ms - clock::now_millis()).max(0) as u64);
    std::thread::sleep(wait);
    for replica in [&a, &b] {
        assert_eq!(list_status(replica, &token), 404);
    }
    let gone = within(Duration::from_secs(30), || {
        [&key, &token_key]
            .iter()
            .all(|k| etcd_kvs(&etcd, k).is_some_and(|kvs| kvs.is_empty()))
    });
    assert!(gone.is_some(), "etcd still holds {key} or {token_key}");
}

#[test]
fn killing_the_leader_during_writes_loses_no_acknowledged_change_nor_does_killing_a_replica() {
    let Some(mut etcd) = Etcd::start("leader_kill") else {
        return;
    };
    let mut a = replica(&etcd, "/leader-test/");
    let b = replica(&etcd, "/leader-test/");
    let account = default_account(&a);
    // Each replica: 500 admin writes, creates with every third a delete of an earlier one.
    const WRITES: usize = 500;
    let writes = |server: &Server| {
        let (mut created, mut deleted, mut refused) = (Vec::new(), Vec::new(), 0);
        // Deletes answered 503: etcd may have committed them before the answer was lost.
        let mut maybe_deleted = std::collections::HashSet::new();
        for i in 0..WRITES {
            let (status, body) = if i % 3 == 2 && !created.is_empty() {
                let (id, token): (String, String) = created.swap_remove(0);
                let path = format!("/integrated-account/{account}/mcp/{id}");
                let mut answer = admin(server, "DELETE", &path, None);
                if answer.0 == 404 && maybe_deleted.contains(&id) {
                    answer.0 = 200;
                }
                match answer.0 {
                    200 => deleted.push((id, token)),
                    _ => {
                        maybe_deleted.insert(id.clone());
                        created.push((id, token));
                    }
                }
                answer
            } else {
                let answer = admin(
                    server,
                    "POST",
                    &format!("/integrated-account/{account}/mcp"),
                    Some(json!({ "name": format!("w{i}") })),
                );
                if answer.0 == 201 {
                    let body = &answer.1;
                    created.push((
                        body["id"].as_str().unwrap().to_string(),
                        body["token"].as_str().unwrap().to_string(),
                    ));
                }
                answer
            };
            assert!([200, 201, 503].contains(&status), "{status} {body}");
            refused += usize::from(status == 503);
        }
        (created, deleted, refused)
    };
    let (on_a, on_b) = std::thread::scope(|scope| {
        let on_a = scope.spawn(|| writes(&a));
        let on_b = scope.spawn(|| writes(&b));
        std::thread::sleep(Duration::from_millis(1500));
        let leader = etcd.leader().expect("a leader");
        etcd.kill(leader);
        (on_a.join().unwrap(), on_b.join().unwrap())
    });
    println!(
        "writes refused with 503 while the leader was replaced: {} on A, {} on B",
        on_a.2, on_b.2
    );
    etcd.restart_all();
    // Replica A dies: B serves every server, whoever minted it.
    let _ = a.child.kill();
    let _ = a.child.wait();
    let created: Vec<&(String, String)> = on_a.0.iter().chain(&on_b.0).collect();
    let deleted: Vec<&(String, String)> = on_a.1.iter().chain(&on_b.1).collect();
    println!(
        "{} acknowledged creates kept, {} acknowledged deletes",
        created.len(),
        deleted.len()
    );
    assert!(created.len() > WRITES / 2, "too few acknowledged creates");
    for (id, token) in &created {
        let record = json!({"integrated_account_id": account, "id": id, "token": token});
        assert!(serves(&b, &record), "an acknowledged create is missing");
    }
    // Deleted stays deleted: every one on the admin API, a few on their URL (more unknown
    // tokens from one address would be slowed down as guessing).
    for (id, _) in &deleted {
        let path = format!("/integrated-account/{account}/mcp/{id}");
        assert_eq!(
            admin(&b, "GET", &path, None).0,
            404,
            "an acknowledged delete came back"
        );
    }
    for (_, token) in deleted.iter().take(5) {
        assert_eq!(list_status(&b, token), 404);
    }
    // A fresh replica reads the same registry from etcd.
    let c = replica(&etcd, "/leader-test/");
    for (_, token) in created.iter().take(50) {
        assert_eq!(list_status(&c, token), 200);
    }
}

#[test]
fn replicas_authenticate_to_etcd_and_renew_an_expired_auth_token() {
    // Auth tokens that expire after 2 s idle, so the renewal is exercised.
    let Some(etcd) = Etcd::start_with(
        "etcd_auth",
        &["--auth-token", "simple", "--auth-token-ttl", "2"],
    ) else {
        return;
    };
    for (path, body) in [
        (
            "/v3/auth/user/add",
            json!({"name": "root", "password": "root-pw-0123"}),
        ),
        ("/v3/auth/role/add", json!({"name": "root"})),
        (
            "/v3/auth/user/grant",
            json!({"user": "root", "role": "root"}),
        ),
        ("/v3/auth/enable", json!({})),
    ] {
        let answer = gateway(&etcd, path, body);
        assert!(answer.get("error").is_none(), "{path}: {answer}");
    }
    // Without credentials etcd refuses, and so does the replica's start-up.
    let refused = gateway(
        &etcd,
        "/v3/kv/range",
        json!({"key": base64::encode(b"/auth-test/")}),
    );
    assert!(refused.get("error").is_some(), "{refused}");
    let wrong = std::process::Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
        .arg("serve")
        .env_clear()
        .envs(replica_env(
            &etcd,
            "/auth-test/",
            &[
                ("ETCD_USERNAME", "root"),
                ("ETCD_PASSWORD", "wrong"),
                ("PORT", "0"),
                ("HOST", "127.0.0.1"),
            ],
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success(), "{stderr}");
    assert!(
        stderr.contains("etcd") && stderr.contains("authentication failed"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wrong"),
        "the password must not be logged: {stderr}"
    );

    let credentials = [("ETCD_USERNAME", "root"), ("ETCD_PASSWORD", "root-pw-0123")];
    let a = replica_with(&etcd, "/auth-test/", &credentials);
    let b = replica_with(&etcd, "/auth-test/", &credentials);
    let account = default_account(&a);
    let first = mint(&a, &account, json!({"name": "with auth"}));
    assert!(serves(&b, &first));
    // Past the token's TTL: the next write authenticates again and succeeds.
    std::thread::sleep(Duration::from_secs(4));
    let second = mint(&a, &account, json!({"name": "after the token expired"}));
    assert!(serves(&b, &second));
    assert!(!a.log().contains("root-pw-0123"));
}

#[test]
fn registry_export_from_the_file_and_import_into_etcd_keeps_every_token_working() {
    let Some(etcd) = Etcd::start("export_import") else {
        return;
    };
    let data = temp_dir("export-data");
    let data_env = ("DATA_DIR", data.display().to_string());
    let (token, id) = {
        let single = Server::mock(&[
            ("ADMIN_API_TOKEN", ADMIN),
            ("MCP_API_KEYS", crate::common::API_KEY),
            ("DATA_DIR", &data_env.1),
        ]);
        let account = default_account(&single);
        let created = mint(&single, &account, json!({"name": "moved to etcd"}));
        (
            created["token"].as_str().unwrap().to_string(),
            created["id"].as_str().unwrap().to_string(),
        )
    };
    let cli = |args: &[&str], env: &[(&str, String)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
            .args(args)
            .env_clear()
            .envs(env.iter().cloned())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}: {stderr}");
        (String::from_utf8(out.stdout).unwrap(), stderr)
    };
    let (export, _) = cli(&["registry", "export"], std::slice::from_ref(&data_env));
    assert!(export.contains(&id) && !export.contains(&token), "{export}");
    let file = data.join("export.json");
    std::fs::write(&file, &export).unwrap();
    let key = data.join("registry.key").display().to_string();
    let etcd_env = [
        ("REGISTRY", "etcd".to_string()),
        ("ETCD_ENDPOINTS", etcd.endpoints()),
        ("ETCD_PREFIX", "/import-test/".into()),
        ("REGISTRY_KEY_FILE", key.clone()),
    ];
    let (_, said) = cli(
        &["registry", "import", &file.display().to_string()],
        &etcd_env,
    );
    assert!(said.contains("1 MCP servers"), "{said}");
    let replica = replica_with(&etcd, "/import-test/", &[("REGISTRY_KEY_FILE", &key)]);
    assert_eq!(list_status(&replica, &token), 200);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_replica_whose_watch_missed_compacted_history_reads_the_registry_again() {
    let Some(mut etcd) = Etcd::start("compaction") else {
        return;
    };
    let a = replica(&etcd, "/compact-test/");
    let b = replica(&etcd, "/compact-test/");
    let account = default_account(&a);
    let old = mint(&b, &account, json!({"name": "deleted while A slept"}));
    let old_token = old["token"].as_str().unwrap().to_string();
    assert!(serves(&a, &old));

    // A is frozen, the member its watch uses dies, B changes the registry and etcd compacts
    // its history past A's last revision.
    let signal = |name: &str| {
        let pid = a.child.id().to_string();
        assert!(Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap()
            .success());
    };
    signal("-STOP");
    etcd.kill(0);
    let path = format!(
        "/integrated-account/{account}/mcp/{}",
        old["id"].as_str().unwrap()
    );
    assert_eq!(admin(&b, "DELETE", &path, None).0, 200);
    let new = mint(&b, &account, json!({"name": "minted while A slept"}));
    let new_token = new["token"].as_str().unwrap().to_string();
    let revision = gateway(
        &etcd,
        "/v3/kv/range",
        json!({"key": base64::encode(b"/compact-test/")}),
    )["header"]["revision"]
        .clone();
    let compacted = gateway(&etcd, "/v3/kv/compaction", json!({ "revision": revision }));
    assert!(compacted.get("error").is_none(), "{compacted}");
    signal("-CONT");

    // Polled on the admin API: unknown tokens on /mcp/<token> would count as guessing.
    let new_path = format!(
        "/integrated-account/{account}/mcp/{}",
        new["id"].as_str().unwrap()
    );
    let caught_up = within(Duration::from_secs(15), || {
        admin(&a, "GET", &new_path, None).0 == 200 && admin(&a, "GET", &path, None).0 == 404
    });
    assert!(caught_up.is_some(), "{}", a.log());
    assert_eq!(list_status(&a, &new_token), 200);
    assert_eq!(list_status(&a, &old_token), 404);
    assert!(a.log().contains("compacted"), "{}", a.log());
}

#[test]
fn the_server_cap_per_account_holds_across_replicas_creating_at_once() {
    let Some(etcd) = Etcd::start("cap") else {
        return;
    };
    let cap = [("MAX_SERVERS_PER_ACCOUNT", "5")];
    let a = replica_with(&etcd, "/cap-test/", &cap);
    let b = replica_with(&etcd, "/cap-test/", &cap);
    let account = default_account(&a);
    let path = format!("/integrated-account/{account}/mcp");
    let creates = |server: &Server| {
        (0..10)
            .map(|i| {
                let (status, body) = admin(
                    server,
                    "POST",
                    &path,
                    Some(json!({ "name": format!("c{i}") })),
                );
                assert!(status == 201 || status == 409, "{status} {body}");
                usize::from(status == 201)
            })
            .sum::<usize>()
    };
    let made = std::thread::scope(|scope| {
        let on_a = scope.spawn(|| creates(&a));
        let on_b = scope.spawn(|| creates(&b));
        on_a.join().unwrap() + on_b.join().unwrap()
    });
    assert_eq!(made, 5, "acknowledged creates past the cap of 5");
    for replica in [&a, &b] {
        let listed = within(Duration::from_secs(10), || {
            admin(replica, "GET", &path, None).1["result"]
                .as_array()
                .is_some_and(|servers| servers.len() == 5)
        });
        assert!(listed.is_some(), "{}", admin(replica, "GET", &path, None).1);
    }
}

/// Two replicas and one HubSpot account (the standalone mock) split its
/// rate limit. Hammered at once, together they never send more than the limit in any 10 s
/// (each paces at half); one stopped with SIGTERM leaves at once (its lease revoked), and
/// the other takes the whole limit back once the leaver's calls are out of the window.
#[test]
fn two_replicas_split_an_accounts_rate_limit_and_one_takes_it_back_when_the_other_stops() {
    let Some(etcd) = Etcd::start("budget") else {
        return;
    };
    let upstream = Server::mock_hubspot(&[]);
    let a = limited_replica(&etcd, "/budget/", &upstream);
    let mut b = limited_replica(&etcd, "/budget/", &upstream);
    for server in [&a, &b] {
        let split = within(Duration::from_secs(10), || replicas(server)["live"] == 2);
        assert!(split.is_some(), "{}", replicas(server));
        assert_eq!(replicas(server)["rate_limit_per_10s"], 10);
    }
    // B joined A: it makes no HubSpot call for one window (the joining test below).
    let joined = within(Duration::from_secs(25), || {
        replicas(&b)["status"] == "ok" && replicas(&a)["status"] == "ok"
    });
    assert!(joined.is_some(), "{}", replicas(&b));
    let served = hammer(&[&a, &b]);
    println!("48 calls at once on two replicas with a limit of 20 per 10 s: served {served:?}");
    assert!(served.iter().all(|n| (1..=10).contains(n)), "{served:?}");

    // B stops cleanly: its lease is revoked before it exits, so etcd counts one at once.
    b.terminate();
    assert_eq!(b.wait_exit(Duration::from_secs(10)), Some(0), "{}", b.log());
    let dir = "/budget/replicas/";
    let count = gateway(
        &etcd,
        "/v3/kv/range",
        json!({"key": base64::encode(dir.as_bytes()), "range_end": base64::encode(b"/budget/replicas0"), "count_only": true}),
    );
    assert_eq!(count["count"], "1", "{count}");
    let alone = within(Duration::from_secs(10), || replicas(&a)["live"] == 1);
    assert!(alone.is_some(), "{}", replicas(&a));
    // The whole limit comes back once B's calls have left the window (10 s).
    let whole = within(Duration::from_secs(20), || {
        replicas(&a)["rate_limit_per_10s"] == 20
    });
    assert!(whole.is_some(), "{}", replicas(&a));
    let served = hammer(&[&a]);
    assert!(served[0] > 10, "A alone still paced at half: {served:?}");
    assert_busiest_window_within_the_limit(&upstream);
}

/// A replica on `prefix` calling the standalone mock HubSpot `upstream`, with the account
/// limited to 20 calls per 10 s.
fn limited_replica(etcd: &Etcd, prefix: &str, upstream: &Server) -> Server {
    let url = format!("http://{}", upstream.addr);
    let extra = [
        ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "pat-na1-test"),
        ("HUBSPOT_API_URL", url.as_str()),
        ("HUBSPOT_RATE_LIMIT_PER_10S", "20"),
    ];
    let mut env = replica_env(etcd, prefix, &extra);
    env.retain(|(name, _)| *name != "HUBSPOT_MOCK");
    Server::start(&["serve"], &env, "listening on http://")
}

/// `checks.replicas` of a replica's `/ready`.
fn replicas(server: &Server) -> Value {
    server.get("/ready").json()["checks"]["replicas"].clone()
}

/// Three clients per replica, 8 tool calls each, all at once: how many each replica served.
fn hammer(servers: &[&Server]) -> Vec<usize> {
    std::thread::scope(|scope| {
        let runs: Vec<_> = servers
            .iter()
            .flat_map(|server| (0..3).map(move |_| server))
            .map(|server| {
                scope.spawn(move || {
                    (0..8)
                        .filter(|_| {
                            let reply = server.call_tool_with(
                                "get_contacts",
                                json!({"limit": 1}),
                                &[crate::common::API_KEY_AUTH],
                            );
                            reply["result"]["isError"] != true
                        })
                        .count()
                })
            })
            .collect();
        let served: Vec<usize> = runs.into_iter().map(|r| r.join().unwrap()).collect();
        served.chunks(3).map(|c| c.iter().sum()).collect()
    })
}

/// What the mock HubSpot `upstream` saw: never more than the limit (20) in any 10 s.
fn assert_busiest_window_within_the_limit(upstream: &Server) {
    let log = upstream.get("/__mock/requests").json();
    let mut at: Vec<i64> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["at_ms"].as_i64().unwrap())
        .collect();
    at.sort_unstable();
    let busiest = (0..at.len())
        .map(|i| at[i..].iter().take_while(|t| **t < at[i] + 10_000).count())
        .max()
        .unwrap_or(0);
    println!(
        "upstream: {} calls, at most {busiest} in one 10 s window",
        at.len()
    );
    assert!(busiest <= 20, "{busiest} calls within 10 s: {at:?}");
}

/// The key-values etcd holds at `key` (empty when none), through the gateway; `None` when
/// etcd did not answer.
fn etcd_kvs(etcd: &Etcd, key: &str) -> Option<Vec<Value>> {
    let (_, port, _) = &etcd.members[0];
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", *port)).ok()?;
    let body = json!({ "key": base64::encode(key.as_bytes()) }).to_string();
    crate::common::send(&mut stream, "POST", "/v3/kv/range", &[], body.as_bytes());
    let reply = crate::common::read_reply(&mut stream)?;
    (reply.status == 200).then(|| reply.json()["kvs"].as_array().cloned().unwrap_or_default())
}

/// The `token_sha256` of the server stored at `key` (never shown by the admin API).
fn created_hash(etcd: &Etcd, key: &str) -> Option<String> {
    let kvs = etcd_kvs(etcd, key)?;
    let value = base64::decode(kvs.first()?["value"].as_str()?)?;
    let record: Value = serde_json::from_slice(&value).ok()?;
    record["token_sha256"].as_str().map(str::to_string)
}

/// A replica that joins while another has just spent the whole limit
/// cannot know it; it makes no call for one window, so HubSpot never sees more than the
/// account's limit within 10 s (before: 30 calls against a limit of 20).
#[test]
fn a_replica_joining_after_the_other_spent_the_limit_does_not_exceed_it() {
    let Some(etcd) = Etcd::start("join-burst") else {
        return;
    };
    let upstream = Server::mock_hubspot(&[]);
    let a = limited_replica(&etcd, "/join/", &upstream);
    let by_a = hammer(&[&a]);
    let b = limited_replica(&etcd, "/join/", &upstream);
    assert!(within(Duration::from_secs(10), || replicas(&b)["live"] == 2).is_some());
    let by_b = hammer(&[&b]);
    println!("A served {by_a:?}, then B (joined) served {by_b:?}");
    assert_busiest_window_within_the_limit(&upstream);
}

/// A replica whose etcd member lost its
/// leader (a member cut off from the others by a partition, while the majority goes on
/// and may revoke tokens) keeps its watch: etcd's gateway creates watches on a leaderless
/// member unless asked for a leader (`Grpc-Metadata-hasleader: true`), so the watch
/// renewal every 30 s succeeds, the staleness clock never starts and scoped tokens are
/// served for as long as the partition lasts.
#[test]
fn a_replica_on_a_leaderless_member_stops_serving_scoped_tokens_past_the_staleness_bound() {
    let Some(mut etcd) = Etcd::start("leaderless") else {
        return;
    };
    let mut env = replica_env(&etcd, "/leaderless/", &[("ETCD_MAX_STALENESS_MS", "3000")]);
    let only_m0 = format!("http://127.0.0.1:{}", etcd.members[0].1);
    for (name, value) in &mut env {
        if *name == "ETCD_ENDPOINTS" {
            *value = only_m0.clone();
        }
    }
    let a = Server::start(&["serve"], &env, "listening on http://");
    let account = default_account(&a);
    let created = mint(&a, &account, json!({"name": "partitioned", "config": {}}));
    let token = created["token"].as_str().unwrap();
    assert_eq!(list_status(&a, token), 200);
    // m0 alone: no leader, no quorum; what the others decide meanwhile cannot reach it.
    etcd.kill(1);
    etcd.kill(2);
    // Refused once the member has lost its leader (its election timeout) and the bound
    // has passed; before the fix, still served after a watch renewal (30 s) and beyond.
    let refused = within(Duration::from_secs(40), || list_status(&a, token) != 200);
    println!(
        "scoped token on a replica whose only member lost its leader: refused after {refused:?}; /ready: {}",
        a.get("/ready").json()["checks"]["registry"]
    );
    assert!(
        refused.is_some(),
        "served 40 s after the member lost its leader, with ETCD_MAX_STALENESS_MS=3000"
    );
}

/// A record written into etcd by someone without the registry key (no MAC, or a genuine
/// record changed under its MAC) is not served, by a replica watching nor by one starting,
/// and `/ready` lists its key.
#[test]
fn a_record_written_into_etcd_without_the_registry_key_is_not_served() {
    let Some(etcd) = Etcd::start("forged_record") else {
        return;
    };
    let prefix = "/forged-test/";
    let a = replica(&etcd, prefix);
    let account = default_account(&a);
    let genuine = mint(
        &a,
        &account,
        json!({"name": "read-only", "config": {"methods": ["read"]}}),
    );
    let genuine_id = genuine["id"].as_str().unwrap();
    let genuine_key = format!("servers/{account}/{genuine_id}");
    let kvs = etcd_kvs(&etcd, &format!("{prefix}{genuine_key}")).expect("etcd answers");
    let stored: Value =
        serde_json::from_slice(&base64::decode(kvs[0]["value"].as_str().unwrap()).unwrap())
            .unwrap();
    assert!(
        stored["mac"].is_string(),
        "records in etcd carry a MAC: {stored}"
    );

    // A new full-access server with a token the forger knows, and its index key.
    let forged_token = "f0".repeat(32);
    let digest = ring::digest::digest(&ring::digest::SHA256, forged_token.as_bytes());
    let hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let forged_id = "00000000-0000-4000-8000-00000000f04d";
    let forged_key = format!("servers/{account}/{forged_id}");
    let mut forged = stored.clone();
    forged.as_object_mut().unwrap().remove("mac");
    forged["id"] = json!(forged_id);
    forged["config"] = json!({});
    forged["token_sha256"] = json!(hash);
    // The genuine read-only server widened to everything, its MAC kept.
    let mut widened = stored.clone();
    widened["config"] = json!({});
    let put = |key: &str, value: &[u8]| {
        let body = json!({"key": base64::encode(format!("{prefix}{key}").as_bytes()), "value": base64::encode(value)});
        assert!(gateway(&etcd, "/v3/kv/put", body)["header"]["revision"].is_string());
    };
    put(
        &format!("tokens/{hash}"),
        format!("{prefix}{forged_key}").as_bytes(),
    );
    put(&forged_key, forged.to_string().as_bytes());
    put(&genuine_key, widened.to_string().as_bytes());

    let refused = |replica: &Server| {
        let listed = within(Duration::from_secs(10), || {
            let ready = replica.get("/ready").json();
            ready["checks"]["registry"]["unreadable_records"] == 2
        });
        assert!(listed.is_some(), "{}", replica.get("/ready").text());
        // /ready only counts them; the log names each one.
        let log = replica.log();
        assert!(
            log.contains(&forged_key) && log.contains(&genuine_key),
            "{log}"
        );
        assert!(matches!(list_status(replica, &forged_token), 401 | 404));
        // The widened record is dropped (fail closed), not served in either version.
        assert!(matches!(
            list_status(replica, genuine["token"].as_str().unwrap()),
            401 | 404
        ));
    };
    refused(&a);
    let b = replica(&etcd, prefix);
    refused(&b);
}
