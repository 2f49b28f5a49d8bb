//! The file registry's journal over HTTP: kill -9 the real server in the middle of a stream
//! of admin writes, start it again on the same `DATA_DIR`, and every acknowledged create is
//! there and every acknowledged delete is still gone.

#[allow(dead_code, reason = "the test uses only part of the server's journal")]
#[path = "../../src/registry/journal.rs"]
mod journal;
use crate::common::ADMIN;
use crate::common::{temp_dir, Client, Server};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Writers in the stream, each creating servers and deleting every other one it created.
const WRITERS: usize = 4;
/// Acknowledged writes in the stream before the kill.
const KILL_AFTER: usize = 300;

fn admin_server(dir: &std::path::Path) -> Server {
    Server::mock(&[
        ("ADMIN_API_TOKEN", ADMIN),
        ("DATA_DIR", &dir.display().to_string()),
    ])
}

/// One admin call; `None` once the server is gone.
fn admin(client: &Client, method: &str, path: &str, body: &Value) -> Option<(u16, Value)> {
    let auth = format!("Bearer {ADMIN}");
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let reply = client.try_request(
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )?;
    let json = if reply.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&reply.body).ok()?
    };
    Some((reply.status, json))
}

/// A created server's id and token, if the create was acknowledged.
fn create(client: &Client, path: &str, name: &str) -> Option<(String, String)> {
    let body = json!({"name": name, "config": {"methods": ["read"]}});
    match admin(client, "POST", path, &body)? {
        (201, created) => Some((
            created["id"].as_str()?.to_string(),
            created["token"].as_str()?.to_string(),
        )),
        _ => None,
    }
}

/// Every server id of `account` (all pages).
fn listed(client: &Client, account: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/integrated-account/{account}/mcp?limit=100&next_cursor={cursor}");
        let (status, page) = admin(client, "GET", &path, &Value::Null).expect("list");
        assert_eq!(status, 200, "{page}");
        for server in page["result"].as_array().expect("result") {
            ids.insert(server["id"].as_str().expect("id").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => return ids,
        }
    }
}

#[test]
fn kill_9_during_creates_and_deletes_loses_no_acknowledged_write() {
    let dir = temp_dir("journal-kill9");
    let mut server = admin_server(&dir);
    let client = *server;
    let (_, accounts) = admin(&client, "GET", "/integrated-account", &Value::Null).expect("up");
    let account = accounts["result"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/integrated-account/{account}/mcp");
    // Enough servers that changes go to the journal, not into a rewritten registry.json.
    let mut created: Vec<(String, String)> = (0..60)
        .map(|i| create(&client, &path, &format!("before {i}")).expect("create"))
        .collect();

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (path, acknowledged) = (path.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let (mut made, mut deleted, mut in_flight) = (Vec::new(), Vec::new(), None);
                for i in 0.. {
                    let Some(server) = create(&client, &path, &format!("writer {w} #{i}")) else {
                        break;
                    };
                    made.push(server);
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                    if i % 2 == 1 {
                        let (id, token) = made[made.len() - 2].clone();
                        match admin(&client, "DELETE", &format!("{path}/{id}"), &Value::Null) {
                            Some((200, _)) => deleted.push((id, token)),
                            // Killed with the delete in flight: it may or may not be done.
                            _ => {
                                in_flight = Some(id);
                                break;
                            }
                        }
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                    }
                }
                (made, deleted, in_flight)
            })
        })
        .collect();
    let started = std::time::Instant::now();
    while acknowledged.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the writes did not get going"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    server.child.kill().expect("kill -9"); // SIGKILL, writes in flight
    let _ = server.child.wait();
    let (mut deleted, mut unsure) = (Vec::new(), HashSet::new());
    for writer in writers {
        let (made, gone, in_flight) = writer.join().expect("writer");
        created.extend(made);
        deleted.extend(gone);
        unsure.extend(in_flight);
    }
    created.retain(|(id, _)| !unsure.contains(id));
    drop(server);
    let journal = std::fs::read_to_string(dir.join("registry.json.journal")).expect("journal");
    assert!(!journal.is_empty(), "the writes went to the journal");
    for (_, token) in created.iter().chain(&deleted) {
        assert!(!journal.contains(token), "the journal holds no MCP token");
    }

    let server = admin_server(&dir);
    let after = listed(&server, &account);
    let gone: HashSet<&String> = deleted.iter().map(|(id, _)| id).collect();
    for (id, _) in &created {
        if gone.contains(id) {
            assert!(!after.contains(id), "acknowledged delete of {id} came back");
        } else {
            assert!(after.contains(id), "acknowledged create of {id} was lost");
        }
    }
    assert!(deleted.len() > 50, "deletes were in the stream");
    // The tokens too: every kept server's serves, a few deleted ones' are refused (a few:
    // refused tokens count as failed credential attempts, which are throttled).
    let tools_list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
    for (id, token) in created.iter().filter(|(id, _)| !gone.contains(id)) {
        let reply = server.rpc(&format!("/mcp/{token}"), &tools_list);
        assert_eq!(reply.status, 200, "token of {id}: {}", reply.text());
    }
    for (id, token) in deleted.iter().take(3) {
        let reply = server.rpc(&format!("/mcp/{token}"), &tools_list);
        assert_eq!(reply.status, 404, "token of deleted {id}: {}", reply.text());
    }
}

/// Runs the binary on `dir` and asserts that it refused to start (exited non-zero within
/// 20 s; `what` names the failure otherwise); returns what it printed.
fn refused_start(dir: &std::path::Path, what: &str) -> String {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
        .arg("serve")
        .env_clear()
        .env("HUBSPOT_MOCK", crate::common::fixtures())
        .env("ADMIN_API_TOKEN", ADMIN)
        .env("DATA_DIR", dir)
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let log = reader.join().expect("stderr");
    assert!(matches!(code, Some(c) if c != 0), "{what}: {log}");
    log
}

/// A registry on `dir` past the size where changes go only to the journal, whose last
/// record revokes a server: that server's token, and a kept server's.
fn journal_ending_in_a_revocation(dir: &std::path::Path) -> (String, String) {
    let mut server = admin_server(dir);
    let (_, accounts) = admin(&server, "GET", "/integrated-account", &Value::Null).expect("up");
    let account = accounts["result"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/integrated-account/{account}/mcp");
    let made: Vec<(String, String)> = (0..60)
        .map(|i| create(&server, &path, &format!("server {i}")).expect("create"))
        .collect();
    let (revoked_id, revoked) = made[7].clone();
    let (status, _) = admin(
        &server,
        "DELETE",
        &format!("{path}/{revoked_id}"),
        &Value::Null,
    )
    .expect("delete");
    assert_eq!(status, 200);
    server.terminate();
    assert_eq!(
        server.wait_exit(std::time::Duration::from_secs(10)),
        Some(0)
    );
    let journal = std::fs::read_to_string(dir.join("registry.json.journal")).expect("journal");
    assert!(
        journal.ends_with("\n") && journal.lines().last().unwrap().contains(&revoked_id),
        "the revocation is the journal's last record"
    );
    (revoked, made[0].1.clone())
}

#[test]
fn a_damaged_last_record_stops_start_up_and_is_kept_but_a_torn_one_is_dropped() {
    let tools_list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
    // Damaged: a whole, newline-terminated revocation whose checksum fails (one bit flipped
    // in its checksum). Dropping it would bring the revoked token back.
    let dir = temp_dir("journal-damaged-last");
    let (revoked, _) = journal_ending_in_a_revocation(&dir);
    let path = dir.join("registry.json.journal");
    let mut bytes = std::fs::read(&path).expect("journal");
    let last_line = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    bytes[last_line] = if bytes[last_line] == b'0' { b'1' } else { b'0' };
    std::fs::write(&path, &bytes).expect("damage");
    let log = refused_start(&dir, "started over a damaged journal");
    assert!(
        log.contains(&path.display().to_string()) && log.contains(&format!("line {lines}")),
        "the refusal names the journal and the line: {log}"
    );
    assert!(!log.contains(&revoked), "no token in the log");
    assert_eq!(
        std::fs::read(&path).expect("journal"),
        bytes,
        "the evidence is kept"
    );

    // Torn: the same record without its newline was never acknowledged; it is dropped
    // silently (a warning) and cut off, and the server starts.
    let dir = temp_dir("journal-torn-last");
    let (revoked, kept) = journal_ending_in_a_revocation(&dir);
    let path = dir.join("registry.json.journal");
    let mut bytes = std::fs::read(&path).expect("journal");
    bytes.pop();
    std::fs::write(&path, &bytes).expect("tear");
    let server = admin_server(&dir);
    assert!(
        server.log().contains("dropped its last record"),
        "{}",
        server.log()
    );
    let reply = server.rpc(&format!("/mcp/{kept}"), &tools_list);
    assert_eq!(reply.status, 200, "{}", reply.text());
    // The unacknowledged revocation did not happen.
    let reply = server.rpc(&format!("/mcp/{revoked}"), &tools_list);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let cut = std::fs::read(&path).expect("journal");
    assert!(
        cut.ends_with(b"\n") && cut.len() < bytes.len(),
        "the torn line was cut off"
    );
}

/// Lowercase hex of SHA-256, as the registry keeps a token.
fn sha256_hex(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A server record as the registry stores it (a real one from the journal, MAC included).
fn stored_server(dir: &std::path::Path) -> Value {
    let journal = std::fs::read_to_string(dir.join("registry.json.journal")).expect("journal");
    journal
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.split_once(' ')?.1).ok())
        .find_map(|change| change["servers"].get(0).cloned())
        .expect("a server record in the journal")
}

#[test]
fn a_record_written_without_the_registry_key_mints_no_token_and_widens_no_filter() {
    let dir = temp_dir("journal-forged");
    let (_, kept) = journal_ending_in_a_revocation(&dir);
    let journal_path = dir.join("registry.json.journal");
    let snapshot_path = dir.join("registry.json");
    let (journal_bytes, snapshot_bytes) = (
        std::fs::read(&journal_path).expect("journal"),
        std::fs::read(&snapshot_path).expect("snapshot"),
    );
    let genuine = stored_server(&dir);
    assert!(
        genuine["mac"].is_string(),
        "records at rest carry a MAC: {genuine}"
    );
    // A full-access server with a token the forger knows, written with a valid checksum by
    // someone who can write the data directory but has no registry key.
    let forged_token = "f0".repeat(32);
    let mut forged = genuine.clone();
    forged["id"] = json!("00000000-0000-4000-8000-00000000f04d");
    forged["config"] = json!({});
    forged["token_sha256"] = json!(sha256_hex(&forged_token));
    let unsigned = {
        let mut record = forged.clone();
        record.as_object_mut().unwrap().remove("mac");
        record
    };
    let lines = journal_bytes.iter().filter(|&&b| b == b'\n').count();
    // Without a MAC, with another record's MAC, and a genuine record widened in place.
    let mut widened = genuine.clone();
    widened["config"] = json!({});
    for (record, why) in [
        (&unsigned, "carries no MAC"),
        (&forged, "does not match"),
        (&widened, "does not match"),
    ] {
        std::fs::write(&journal_path, &journal_bytes).expect("restore");
        let (mut journal, _) = journal::Journal::open(&journal_path).expect("journal");
        journal
            .append(&json!({ "servers": [record] }))
            .expect("append");
        drop(journal);
        let log = refused_start(&dir, "started with a forged record");
        assert!(
            log.contains(&journal_path.display().to_string())
                && log.contains(&format!("line {}", lines + 1))
                && log.contains(why),
            "the refusal names the journal, the line and why: {log}"
        );
    }
    // The same record forged into the snapshot.
    std::fs::write(&journal_path, &journal_bytes).expect("restore");
    let mut snapshot: Value = serde_json::from_slice(&snapshot_bytes).expect("snapshot");
    snapshot["servers"]
        .as_array_mut()
        .expect("servers")
        .push(unsigned);
    std::fs::write(&snapshot_path, snapshot.to_string()).expect("forge");
    let log = refused_start(&dir, "started with a forged record");
    assert!(
        log.contains(&snapshot_path.display().to_string()) && log.contains("carries no MAC"),
        "{log}"
    );
    // Put back as the server wrote it, it starts; the forged token was never served.
    std::fs::write(&snapshot_path, &snapshot_bytes).expect("restore");
    let server = admin_server(&dir);
    let tools_list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
    assert_eq!(server.rpc(&format!("/mcp/{kept}"), &tools_list).status, 200);
    let reply = server.rpc(&format!("/mcp/{forged_token}"), &tools_list);
    assert!(matches!(reply.status, 401 | 404), "{}", reply.text());
}

#[test]
fn a_data_directory_others_can_write_or_holding_a_symbolic_link_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("data-dir-exposed");
    let mut server = admin_server(&dir);
    server.terminate();
    assert_eq!(
        server.wait_exit(std::time::Duration::from_secs(10)),
        Some(0)
    );
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let log = refused_start(&dir, "started on a 0777 DATA_DIR");
    assert!(
        log.contains(&dir.display().to_string())
            && log.contains("mode 0777")
            && log.contains("chmod 700"),
        "the refusal names the directory, its mode and the fix: {log}"
    );
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    // registry.json a symbolic link to a file elsewhere (with the same content).
    let snapshot = dir.join("registry.json");
    let elsewhere = temp_dir("data-dir-elsewhere").join("registry.json");
    std::fs::rename(&snapshot, &elsewhere).expect("move");
    std::os::unix::fs::symlink(&elsewhere, &snapshot).expect("symlink");
    let log = refused_start(&dir, "started through a symbolic link");
    assert!(
        log.contains(&snapshot.display().to_string()) && log.contains("symbolic link"),
        "{log}"
    );
}

#[test]
fn a_registry_written_before_records_were_signed_starts_once_accepted_then_signed() {
    let dir = temp_dir("data-dir-unsigned");
    let mut server = admin_server(&dir);
    let (_, accounts) = admin(&server, "GET", "/integrated-account", &Value::Null).expect("up");
    let account = accounts["result"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/integrated-account/{account}/mcp");
    let (_, token) = create(&server, &path, "before signing").expect("create");
    server.terminate();
    assert_eq!(
        server.wait_exit(std::time::Duration::from_secs(10)),
        Some(0)
    );
    // The file as an older version wrote it: no MACs.
    let snapshot = dir.join("registry.json");
    let mut file: Value = serde_json::from_slice(&std::fs::read(&snapshot).unwrap()).unwrap();
    for field in ["accounts", "servers"] {
        for record in file[field].as_array_mut().expect("records") {
            assert!(record.as_object_mut().unwrap().remove("mac").is_some());
        }
    }
    std::fs::write(&snapshot, file.to_string()).expect("write");
    let log = refused_start(&dir, "started");
    assert!(
        log.contains("REGISTRY_ACCEPT_UNSIGNED=true"),
        "the refusal says how to migrate: {log}"
    );
    let tools_list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
    for accept in ["true", "false"] {
        let mut server = Server::mock(&[
            ("ADMIN_API_TOKEN", ADMIN),
            ("DATA_DIR", &dir.display().to_string()),
            ("REGISTRY_ACCEPT_UNSIGNED", accept),
        ]);
        assert_eq!(
            server.rpc(&format!("/mcp/{token}"), &tools_list).status,
            200
        );
        server.terminate();
        assert_eq!(
            server.wait_exit(std::time::Duration::from_secs(10)),
            Some(0)
        );
    }
}
