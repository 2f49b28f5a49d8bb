//! Registry behaviour against a real data directory: what the admin routes will rely on.

use super::backend::{Commit, CommitError};
use super::seal::Kind;
use super::state::Version;
use super::*;
use crate::registry::store::tests::TempDir;
use crate::registry::store::{FILE_NAME, JOURNAL_NAME, TMP_NAME};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// The first five tools as (method, tags).
const CATALOG: &Catalog<'static> = &[
    ("list", &["contacts"]),
    ("list", &["companies"]),
    ("list", &["deals"]),
    ("create", &["contacts"]),
    ("search", &["contacts"]),
];

/// 2024-01-15T10:30:00.000Z
const NOW: i64 = 1_705_314_600_000;
const BASE: &str = "https://mcp.example.com/";
const HUBSPOT_KEY: &str = "pat-na1-11111111-2222-3333-4444-555555555555";

fn open(dir: &TempDir) -> Registry {
    Registry::open(Store::open(&dir.0).expect("store"), false).expect("registry")
}

fn file_text(dir: &TempDir) -> String {
    fs::read_to_string(dir.0.join(FILE_NAME)).expect("registry file")
}

/// A registry with the start-up account; returns it and the account id.
fn with_default(dir: &TempDir) -> (Registry, String) {
    let reg = open(dir);
    let id = reg
        .ensure_default_account(AccountAuth::Token(HUBSPOT_KEY.into()), NOW)
        .expect("default account");
    (reg, id)
}

fn create(reg: &Registry, account: &str, body: Value) -> Result<Value, RegistryError> {
    reg.create_server(account, &body, CATALOG, ADMIN_IDENTITY, BASE, NOW)
}

fn token_of(created: &Value) -> String {
    created["token"].as_str().expect("token").to_string()
}

#[test]
fn create_server_returns_the_seed_shape_once() {
    let dir = TempDir::new("reg-create");
    let (reg, account) = with_default(&dir);
    let created = create(
        &reg,
        &account,
        json!({"name": "Read-only HubSpot", "config": {"methods": ["read"], "tags": ["contacts"]}}),
    )
    .expect("create");
    let keys: Vec<&str> = created
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "config",
            "integrated_account_id",
            "created_by",
            "created_at",
            "updated_at",
            "expires_at",
            "url",
            "token"
        ]
    );
    let token = token_of(&created);
    assert!(token::is_token_format(&token));
    assert_eq!(
        created["url"],
        format!("https://mcp.example.com/mcp/{token}")
    );
    assert_eq!(created["created_by"], "admin");
    assert_eq!(created["created_at"], "2024-01-15T10:30:00.000Z");
    assert_eq!(created["expires_at"], Value::Null);
    assert_eq!(created["integrated_account_id"], account.as_str());
    assert_eq!(
        created["config"],
        json!({"methods": ["read"], "tags": ["contacts"]})
    );
    let id = created["id"].as_str().expect("id");
    assert!(token::is_uuid(id));

    // Nothing after the create holds the token or the URL.
    let got = reg.get_server(&account, id, NOW).expect("get");
    let listed = reg
        .list_servers(&account, &Page::first(), NOW)
        .expect("list");
    let patched = reg
        .update_server(&account, id, &json!({"name": "Renamed"}), CATALOG, NOW + 1)
        .expect("patch");
    for v in [&got, &listed, &patched] {
        let text = v.to_string();
        assert!(!text.contains(&token), "{text}");
        assert!(
            !text.contains("\"url\"") && !text.contains("\"token\""),
            "{text}"
        );
    }
    assert_eq!(patched["name"], "Renamed");
    assert_eq!(patched["updated_at"], "2024-01-15T10:30:00.001Z");
    assert_eq!(patched["created_at"], "2024-01-15T10:30:00.000Z");

    // The token resolves to the server with its filter.
    let scoped = reg.resolve_token(&token, NOW).live().expect("resolves");
    assert_eq!(scoped.id, id);
    assert_eq!(scoped.auth, AccountAuth::Token(HUBSPOT_KEY.into()));
    assert!(scoped.filter.allows("list", &["contacts"]));
    assert!(!scoped.filter.allows("create", &["contacts"]));
    assert!(!scoped.filter.allows("list", &["deals"]));
    assert_eq!(
        reg.resolve_token("0123456789abcdef0123456789abcdef", NOW)
            .live(),
        None
    );
    assert_eq!(reg.resolve_token("initialize", NOW).live(), None);
}

#[test]
fn omitted_config_exposes_everything_and_bad_configs_are_400() {
    let dir = TempDir::new("reg-config");
    let (reg, account) = with_default(&dir);
    let created = create(&reg, &account, json!({"name": "All"})).expect("create");
    assert_eq!(created["config"], json!({}));
    let scoped = reg
        .resolve_token(&token_of(&created), NOW)
        .live()
        .expect("resolves");
    assert!(scoped.filter.is_all());

    let seed = json!({
        "name": "My MCP server",
        "config": {"methods": ["GET", "POST", "READ", "DOWNLAOD"], "tags": ["api", "webhook"]}
    });
    let err = create(&reg, &account, seed).expect_err("selects nothing");
    assert_eq!(err.status(), 400);
    assert!(
        err.message()
            .contains("valid tags: contacts, companies, deals"),
        "{err}"
    );
    assert!(
        err.message()
            .contains("Valid methods: list, create, search"),
        "{err}"
    );

    let err = create(
        &reg,
        &account,
        json!({"name": "x", "config": {"scopes": []}}),
    )
    .expect_err("unknown config field");
    assert!(err.message().contains("config.scopes"), "{err}");
    // Refused creates leave nothing behind.
    let listed = reg
        .list_servers(&account, &Page::first(), NOW)
        .expect("list");
    assert_eq!(listed["result"].as_array().map(Vec::len), Some(1));
}

#[test]
fn input_errors_name_the_field() {
    let dir = TempDir::new("reg-input");
    let (reg, account) = with_default(&dir);
    let cases = [
        (json!([]), "JSON object"),
        (json!({}), "name is required"),
        (json!({"name": ""}), "name must be"),
        (json!({"name": "   "}), "name must be"),
        (json!({"name": 5}), "name must be"),
        (json!({"name": "x".repeat(201)}), "name must be"),
        (
            json!({"name": "x", "config": []}),
            "config must be an object",
        ),
        (
            json!({"name": "x", "config": {"methods": "read"}}),
            "config.methods",
        ),
        (json!({"name": "x", "expires_at": 12}), "expires_at must be"),
        (
            json!({"name": "x", "expires_at": "tomorrow"}),
            "expires_at must be",
        ),
        (
            json!({"name": "x", "expiresAt": "2030-01-01T00:00:00Z"}),
            "unknown field `expiresAt`",
        ),
    ];
    for (body, want) in cases {
        let err = create(&reg, &account, body.clone()).expect_err("must fail");
        assert_eq!(err.status(), 400, "{body}");
        assert!(err.message().contains(want), "{want} not in {err}");
    }
    assert!(create(&reg, &account, json!({"name": "x".repeat(200)})).is_ok());
    let err = create(
        &reg,
        "1ba1f401-7183-47c5-9e39-e8e257e3c795",
        json!({"name": "x"}),
    )
    .expect_err("unknown account");
    assert_eq!(err.status(), 404);
    assert_eq!(err.status(), 404);
}

#[test]
fn expiry_must_be_a_minute_ahead_and_expired_servers_vanish() {
    let dir = TempDir::new("reg-expiry");
    let (reg, account) = with_default(&dir);
    let at = |ms: i64| clock::format_millis(NOW + ms);
    let err = create(
        &reg,
        &account,
        json!({"name": "x", "expires_at": at(59_999)}),
    )
    .expect_err("too soon");
    assert!(err.message().contains("at least 60 seconds"), "{err}");
    assert!(create(
        &reg,
        &account,
        json!({"name": "x", "expires_at": at(-1000)})
    )
    .is_err());

    // An offset time is accepted and shown normalised to UTC.
    let created = create(
        &reg,
        &account,
        json!({"name": "x", "expires_at": "2024-01-15T12:31:00+02:00"}),
    )
    .expect("one minute ahead");
    assert_eq!(created["expires_at"], "2024-01-15T10:31:00.000Z");
    let id = created["id"].as_str().expect("id").to_string();
    let token = token_of(&created);
    assert!(reg.resolve_token(&token, NOW + 59_999).live().is_some());
    assert!(file_text(&dir).contains(&id));

    // Once passed: gone from lookups at once (without a write: lookups never wait for
    // one), then from the answers and, after the purge the server runs off the
    // coroutines, from the file.
    assert_eq!(reg.resolve_token(&token, NOW + 60_000), Resolved::Expired);
    assert_eq!(reg.purge_expired(NOW + 60_000).expect("purge"), 1);
    assert!(!file_text(&dir).contains(&id));
    assert_eq!(
        reg.get_server(&account, &id, NOW).map_err(|e| e.status()),
        Err(404)
    );
    assert_eq!(reg.resolve_token(&token, NOW).live(), None);

    // Expired servers are hidden before they are deleted, and a sweep deletes them.
    let created = create(
        &reg,
        &account,
        json!({"name": "y", "expires_at": at(120_000)}),
    )
    .expect("create");
    let id = created["id"].as_str().expect("id").to_string();
    let later = NOW + 120_000;
    assert_eq!(
        reg.get_server(&account, &id, later).map_err(|e| e.status()),
        Err(404)
    );
    let listed = reg
        .list_servers(&account, &Page::first(), later)
        .expect("list");
    assert_eq!(listed["result"], json!([]));
    assert!(file_text(&dir).contains(&id));
    assert_eq!(reg.purge_expired(later).expect("purge"), 1);
    assert!(!file_text(&dir).contains(&id));
}

#[test]
fn patch_changes_and_clears_expiry_and_revalidates() {
    let dir = TempDir::new("reg-patch");
    let (reg, account) = with_default(&dir);
    let created = create(
        &reg,
        &account,
        json!({"name": "x", "expires_at": "2024-01-15T11:00:00Z"}),
    )
    .expect("create");
    let id = created["id"].as_str().expect("id");
    let cleared = reg
        .update_server(&account, id, &json!({"expires_at": null}), CATALOG, NOW)
        .expect("clear");
    assert_eq!(cleared["expires_at"], Value::Null);
    assert!(reg
        .resolve_token(&token_of(&created), NOW + 86_400_000)
        .live()
        .is_some());

    let err = reg
        .update_server(
            &account,
            id,
            &json!({"expires_at": "2024-01-15T10:30:30Z"}),
            CATALOG,
            NOW,
        )
        .expect_err("too soon");
    assert_eq!(err.status(), 400);
    let err = reg
        .update_server(
            &account,
            id,
            &json!({"config": {"tags": ["tickets"]}}),
            CATALOG,
            NOW,
        )
        .expect_err("no match");
    assert!(err.message().contains("valid tags"), "{err}");
    let err = reg
        .update_server(&account, id, &json!({"token": "x"}), CATALOG, NOW)
        .expect_err("unknown field");
    assert!(err.message().contains("`token`"), "{err}");

    let changed = reg
        .update_server(
            &account,
            id,
            &json!({"config": {"methods": ["write"]}}),
            CATALOG,
            NOW + 5,
        )
        .expect("config");
    assert_eq!(changed["config"], json!({"methods": ["write"]}));
    let scoped = reg
        .resolve_token(&token_of(&created), NOW)
        .live()
        .expect("resolves");
    assert!(scoped.filter.allows("create", &["contacts"]));
    assert!(!scoped.filter.allows("list", &["contacts"]));

    // Empty patch: no change, not even updated_at.
    let same = reg
        .update_server(&account, id, &json!({}), CATALOG, NOW + 10)
        .expect("noop");
    assert_eq!(same, changed);
    let err = reg
        .update_server(&account, "nope", &json!({"name": "y"}), CATALOG, NOW)
        .expect_err("unknown");
    assert_eq!(err.status(), 404);
}

#[test]
fn delete_server_stops_its_token() {
    let dir = TempDir::new("reg-delete");
    let (reg, account) = with_default(&dir);
    let created = create(&reg, &account, json!({"name": "x"})).expect("create");
    let id = created["id"].as_str().expect("id");
    let deleted = reg.delete_server(&account, id, NOW).expect("delete");
    assert_eq!(deleted["id"], id);
    assert!(deleted.get("token").is_none());
    assert_eq!(reg.resolve_token(&token_of(&created), NOW).live(), None);
    assert_eq!(
        reg.delete_server(&account, id, NOW).map_err(|e| e.status()),
        Err(404)
    );
}

#[test]
fn accounts_hide_their_keys_and_deleting_one_deletes_its_servers() {
    let dir = TempDir::new("reg-accounts");
    let (reg, default_id) = with_default(&dir);
    let other_key = "pat-eu1-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    let account = reg
        .create_account(
            &json!({"name": "EU portal", "private_app_token": other_key}),
            NOW + 1,
        )
        .expect("account");
    let id = account["id"].as_str().expect("id").to_string();
    assert!(token::is_uuid(&id));
    assert_eq!(account["has_token"], true);
    assert_eq!(account["mock"], false);
    assert_eq!(account["is_default"], false);
    let mock = reg
        .create_account(&json!({"name": "Mock", "mock": true}), NOW + 2)
        .expect("mock account");
    assert_eq!(mock["mock"], true);
    assert_eq!(mock["has_token"], false);

    let listed = reg.list_accounts(&Page::first());
    let text = listed.to_string();
    assert!(
        !text.contains(other_key) && !text.contains(HUBSPOT_KEY),
        "{text}"
    );
    assert_eq!(listed["result"][0]["id"], default_id.as_str());
    assert_eq!(listed["result"][0]["is_default"], true);
    assert_eq!(listed["result"].as_array().map(Vec::len), Some(3));
    assert!(!reg
        .get_account(&id)
        .expect("get")
        .to_string()
        .contains(other_key));
    assert_eq!(
        format!("{:?}", reg.account_auth(&id)),
        "Some(Token(<redacted>))"
    );

    for (body, want) in [
        (json!({"name": "x"}), "exactly one of"),
        (
            json!({"name": "x", "mock": true, "private_app_token": "pat"}),
            "exactly one of",
        ),
        (
            json!({"name": "x", "private_app_token": "pat\r\nX-Evil: 1"}),
            "printable ASCII",
        ),
        (
            json!({"name": "x", "private_app_token": ""}),
            "private_app_token must be",
        ),
        (json!({"name": "x", "mock": "yes"}), "mock must be"),
        (json!({"private_app_token": "pat"}), "name is required"),
        (
            json!({"name": "x", "token": "pat"}),
            "unknown field `token`",
        ),
    ] {
        let err = reg.create_account(&body, NOW).expect_err("must fail");
        assert_eq!(err.status(), 400);
        assert!(err.message().contains(want), "{want} not in {err}");
        assert!(!err.message().contains("pat"), "{err}");
    }

    let server = create(&reg, &id, json!({"name": "EU"})).expect("server");
    let kept = create(&reg, &default_id, json!({"name": "kept"})).expect("server");
    let deleted = reg.delete_account(&id, NOW).expect("delete");
    assert_eq!(deleted["id"], id.as_str());
    assert_eq!(reg.get_account(&id).map_err(|e| e.status()), Err(404));
    assert_eq!(reg.resolve_token(&token_of(&server), NOW).live(), None);
    assert!(reg.resolve_token(&token_of(&kept), NOW).live().is_some());
    assert!(!file_text(&dir).contains(server["id"].as_str().expect("id")));
    assert_eq!(
        reg.list_servers(&id, &Page::first(), NOW)
            .map_err(|e| e.status()),
        Err(404)
    );

    let err = reg
        .delete_account(&default_id, NOW)
        .expect_err("start-up account");
    assert_eq!(err.status(), 409);
    assert_eq!(err.status(), 409);
}

#[test]
fn paging_walks_every_item_once() {
    let dir = TempDir::new("reg-paging");
    let (reg, account) = with_default(&dir);
    let mut ids = Vec::new();
    for i in 0..7 {
        let created = reg
            .create_server(
                &account,
                &json!({"name": format!("s{i}")}),
                CATALOG,
                ADMIN_IDENTITY,
                BASE,
                NOW + i,
            )
            .expect("create");
        ids.push(created["id"].as_str().expect("id").to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = Page::from_query(Some("3"), cursor.as_deref()).expect("page");
        let listed = reg.list_servers(&account, &page, NOW).expect("list");
        let result = listed["result"].as_array().expect("result");
        assert!(result.len() <= 3);
        seen.extend(
            result
                .iter()
                .map(|s| s["id"].as_str().expect("id").to_string()),
        );
        match &listed["next_cursor"] {
            Value::String(c) => cursor = Some(c.clone()),
            Value::Null => break,
            other => panic!("bad cursor {other}"),
        }
    }
    assert_eq!(seen, ids);
    // The default page holds all seven and no cursor.
    let listed = reg
        .list_servers(&account, &Page::first(), NOW)
        .expect("list");
    assert_eq!(listed["next_cursor"], Value::Null);

    for (limit, cursor) in [
        (Some("0"), None),
        (Some("101"), None),
        (Some("ten"), None),
        (None, Some("zz")),
        (None, Some("abc")),
    ] {
        let err = Page::from_query(limit, cursor).expect_err("bad page");
        assert_eq!(err.status(), 400);
    }
    assert_eq!(Page::from_query(Some(""), Some("")), Ok(Page::first()));
}

#[test]
fn registry_survives_reopen_and_the_file_holds_no_clear_secret() {
    let dir = TempDir::new("reg-reopen");
    let (reg, default_id) = with_default(&dir);
    let other_key = "pat-na1-99999999-8888-7777-6666-555555555555";
    let account = reg
        .create_account(
            &json!({"name": "Other", "private_app_token": other_key}),
            NOW,
        )
        .expect("account");
    let other_id = account["id"].as_str().expect("id").to_string();
    let on_default = create(&reg, &default_id, json!({"name": "a"})).expect("server");
    let on_other = create(&reg, &other_id, json!({"name": "b"})).expect("server");

    let path = dir.0.join(FILE_NAME);
    let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = file_text(&dir);
    for created in [&on_default, &on_other] {
        let token = token_of(created);
        assert!(!text.contains(&token), "clear MCP token in the file");
        assert!(text.contains(&token::hash_token(&token)));
    }
    assert!(!text.contains(HUBSPOT_KEY), "start-up key in the file");
    drop(reg);

    // Same directory, new run with a new start-up key: same id, same servers.
    let reg = open(&dir);
    assert_eq!(reg.account_auth(&default_id), None);
    assert_eq!(reg.resolve_token(&token_of(&on_default), NOW).live(), None);
    let again = reg
        .ensure_default_account(AccountAuth::Token("pat-new".into()), NOW + 1)
        .expect("default");
    assert_eq!(again, default_id);
    let scoped = reg
        .resolve_token(&token_of(&on_default), NOW)
        .live()
        .expect("resolves");
    assert_eq!(scoped.auth, AccountAuth::Token("pat-new".into()));
    let scoped = reg
        .resolve_token(&token_of(&on_other), NOW)
        .live()
        .expect("resolves");
    assert_eq!(scoped.auth, AccountAuth::Token(other_key.into()));
    assert_eq!(scoped.integrated_account_id, other_id);
    assert_eq!(
        reg.list_accounts(&Page::first())["result"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // Switching the start-up account to the mock is recorded.
    reg.ensure_default_account(AccountAuth::Mock, NOW + 2)
        .expect("mock");
    assert_eq!(reg.account_auth(&default_id), Some(AccountAuth::Mock));
    drop(reg);
    let reg = open(&dir);
    assert_eq!(reg.account_auth(&default_id), Some(AccountAuth::Mock));
}

#[test]
fn a_failed_save_changes_nothing() {
    let dir = TempDir::new("reg-rollback");
    let (reg, account) = with_default(&dir);
    let kept = create(&reg, &account, json!({"name": "kept"})).expect("create");
    let before = file_text(&dir);
    // A directory where the temporary file goes makes every save fail, even as root.
    fs::create_dir(dir.0.join(TMP_NAME)).expect("mkdir");

    let err = create(&reg, &account, json!({"name": "lost"})).expect_err("save fails");
    assert_eq!(err.status(), 500);
    let kept_id = kept["id"].as_str().expect("id");
    let err = reg
        .delete_server(&account, kept_id, NOW)
        .expect_err("save fails");
    assert_eq!(err.status(), 500);
    let err = reg
        .update_server(&account, kept_id, &json!({"name": "renamed"}), CATALOG, NOW)
        .expect_err("save fails");
    assert_eq!(err.status(), 500);

    // Memory still matches the file: one server, unchanged, still serving.
    let listed = reg
        .list_servers(&account, &Page::first(), NOW)
        .expect("list");
    assert_eq!(listed["result"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["result"][0]["name"], "kept");
    assert!(reg.resolve_token(&token_of(&kept), NOW).live().is_some());
    assert_eq!(file_text(&dir), before);

    // Once the disk is fine again, changes go through.
    fs::remove_dir(dir.0.join(TMP_NAME)).expect("rmdir");
    reg.delete_server(&account, kept_id, NOW).expect("delete");
    assert_eq!(reg.resolve_token(&token_of(&kept), NOW).live(), None);
}

#[test]
fn unusable_files_stop_start_up_and_are_left_alone() {
    for (label, contents, want) in [
        ("notjson", "{\"version\": 1,", "invalid JSON"),
        (
            "shape",
            "{\"version\": 1, \"accounts\": {}}",
            "not a registry",
        ),
        (
            "version",
            "{\"version\": 9, \"accounts\": [], \"servers\": []}",
            "version 9",
        ),
        (
            "orphan",
            r#"{"version": 1, "accounts": [], "servers": [{"id": "s", "name": "n",
               "config": {}, "integrated_account_id": "gone", "created_by": "admin",
               "created_at": "2024-01-15T10:30:00.000Z", "updated_at": "2024-01-15T10:30:00.000Z",
               "token_sha256": "00"}]}"#,
            "integrated account gone",
        ),
    ] {
        let dir = TempDir::new(&format!("reg-bad-{label}"));
        fs::create_dir_all(&dir.0).expect("mkdir");
        fs::write(dir.0.join(FILE_NAME), contents).expect("write");
        // Hand-written records carry no MAC: accepted here, to reach the checks behind it.
        let err = match Registry::open(Store::open(&dir.0).expect("store"), true) {
            Ok(_) => panic!("{label}: must be refused"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(want), "{label}: {err}");
        assert!(err.contains(FILE_NAME), "{label}: {err}");
        assert_eq!(file_text(&dir), contents, "{label}: file changed");
    }
}

#[test]
fn concurrent_changes_are_all_kept() {
    let dir = TempDir::new("reg-concurrent");
    let (reg, account) = with_default(&dir);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (reg, account) = (&reg, &account);
            s.spawn(move || {
                for i in 0..5 {
                    create(reg, account, json!({"name": format!("t{t}-{i}")})).expect("create");
                }
            });
        }
    });
    drop(reg);
    let reg = open(&dir);
    let page = Page::from_query(Some("100"), None).expect("page");
    let listed = reg.list_servers(&account, &page, NOW).expect("list");
    assert_eq!(listed["result"].as_array().map(Vec::len), Some(40));
}

/// `MAX_SERVERS_PER_ACCOUNT`: the create past the cap is a 409 naming the setting; the
/// cap is per account, and deleting (or expiry) frees a place.
#[test]
fn servers_per_account_are_capped() {
    let dir = TempDir::new("reg-cap");
    let (reg, account) = with_default(&dir);
    let reg = reg.with_max_servers_per_account(2);
    let a = create(&reg, &account, json!({"name": "a"})).expect("first");
    create(
        &reg,
        &account,
        json!({"name": "b", "expires_at": "2024-01-15T10:32:00Z"}),
    )
    .expect("second");
    let err = create(&reg, &account, json!({"name": "c"})).expect_err("third");
    assert_eq!(err.status(), 409);
    let msg = err.message();
    assert!(
        msg.contains("MAX_SERVERS_PER_ACCOUNT=2") && msg.contains("already has 2"),
        "{msg}"
    );
    // Nothing was written for the refused one.
    assert_eq!(file_text(&dir).matches("\"token_sha256\"").count(), 2);
    // Another account has its own count.
    let other = reg
        .create_account(&json!({"name": "other", "mock": true}), NOW)
        .expect("account");
    let other = other["id"].as_str().unwrap();
    create(&reg, other, json!({"name": "x"})).expect("other account");
    // Deleting one frees a place.
    reg.delete_server(&account, a["id"].as_str().unwrap(), NOW)
        .expect("delete");
    create(&reg, &account, json!({"name": "c"})).expect("after delete");
    // So does expiry: the second server expires at 10:32.
    let later = NOW + 3 * 60_000;
    reg.create_server(
        &account,
        &json!({"name": "d"}),
        CATALOG,
        ADMIN_IDENTITY,
        BASE,
        later,
    )
    .expect("after expiry");
    assert_eq!(
        DEFAULT_MAX_SERVERS_PER_ACCOUNT, 1000,
        "the documented default"
    );
}

#[test]
fn export_then_import_moves_every_record_and_only_under_the_same_key() {
    let from = TempDir::new("reg-export");
    let (reg, account) = with_default(&from);
    let sales = reg
        .create_account(
            &json!({"name": "Sales", "private_app_token": HUBSPOT_KEY}),
            NOW,
        )
        .expect("account")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mine = token_of(&create(&reg, &account, json!({"name": "default's"})).unwrap());
    let theirs = token_of(&create(&reg, &sales, json!({"name": "sales'"})).unwrap());
    let export = reg.export().expect("export");
    let text = export.to_string();
    assert!(!text.contains(HUBSPOT_KEY) && !text.contains(&mine) && !text.contains(&theirs));

    // Another store with the same key takes everything, twice without harm.
    let to = TempDir::new("reg-import");
    fs::create_dir_all(&to.0).unwrap();
    fs::copy(
        from.0.join(crate::registry::store::KEY_NAME),
        to.0.join(crate::registry::store::KEY_NAME),
    )
    .unwrap();
    let (target, _) = with_default(&to);
    assert_eq!(target.import(export.clone(), NOW), Ok((2, 2)));
    assert_eq!(target.import(export.clone(), NOW), Ok((2, 2)));
    for token in [&mine, &theirs] {
        assert!(target.resolve_token(token, NOW).live().is_some());
    }
    assert_eq!(
        target.account_auth(&sales),
        Some(AccountAuth::Token(HUBSPOT_KEY.into()))
    );
    assert_eq!(
        target.list_servers(&sales, &Page::first(), NOW).unwrap()["result"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A store with another key refuses it, naming the key, and changes nothing.
    let other = TempDir::new("reg-import-other");
    let (stranger, _) = with_default(&other);
    let err = stranger.import(export, NOW).unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.message().contains("REGISTRY_KEY_FILE"), "{err}");
    assert!(stranger.resolve_token(&mine, NOW).live().is_none());
}

/// A store with a watch as the registry sees it: commits install at once, `/ready` shows
/// `{"store": "fake"}`, and the test says how long it has been unreachable past its bound.
struct FakeRemote {
    stale: Mutex<Option<Duration>>,
}

impl Backend for FakeRemote {
    fn describe(&self) -> String {
        "fake".into()
    }

    fn commit(&self, _: &State, _: &State, _: &Sealer) -> Result<Commit, CommitError> {
        Ok(Commit::Install)
    }

    fn check(&self) -> Option<Value> {
        Some(json!({"store": "fake"}))
    }

    fn stale_for(&self) -> Option<Duration> {
        *lock(&self.stale)
    }
}

/// A registry on a [`FakeRemote`] with the start-up account (a HubSpot key) and one
/// server: the registry, the store, the server's id and token.
fn on_fake_remote() -> (Registry, Arc<FakeRemote>, String, String) {
    let remote = Arc::new(FakeRemote {
        stale: Mutex::new(None),
    });
    let reg = Registry::with_backend(
        remote.clone(),
        Sealer::new(&[7u8; 32]).unwrap(),
        State::empty(),
    );
    let account = reg
        .ensure_default_account(AccountAuth::Token(HUBSPOT_KEY.into()), NOW)
        .unwrap();
    let created = create(&reg, &account, json!({"name": "remote"})).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    (reg, remote, id, token_of(&created))
}

/// `record` as a store holds it: signed by `sealer`.
fn signed_bytes(sealer: &Sealer, kind: Kind, record: &impl serde::Serialize) -> Vec<u8> {
    let mut value = serde_json::to_value(record).unwrap();
    sealer.sign(kind, &mut value);
    serde_json::to_vec(&value).unwrap()
}

fn remote_event(key: &str, record: RemoteRecord, value: Option<Vec<u8>>) -> RemoteEvent {
    RemoteEvent {
        key: key.to_string(),
        record,
        value,
        version: Version::default(),
    }
}

#[test]
fn tokens_are_refused_while_the_store_is_unreachable_past_its_bound_and_work_again_after() {
    let (reg, remote, _, token) = on_fake_remote();
    assert!(reg.resolve_token(&token, NOW).live().is_some());
    *lock(&remote.stale) = Some(Duration::from_secs(301));
    assert_eq!(
        reg.resolve_token(&token, NOW),
        Resolved::Unverifiable(Duration::from_secs(301))
    );
    // An unknown token stays unknown (nothing to check), an expired one expired.
    assert_eq!(reg.resolve_token(&"x".repeat(64), NOW), Resolved::Unknown);
    *lock(&remote.stale) = None;
    assert!(reg.resolve_token(&token, NOW).live().is_some());
}

#[test]
fn an_unreadable_server_record_is_refused_not_kept_in_its_old_version() {
    let (reg, _, id, token) = on_fake_remote();
    let record = lock(&reg.state).servers[0].clone();
    let stored = signed_bytes(&reg.sealer, Kind::Server, &record);
    let key = format!("servers/acct/{id}");
    let server = || RemoteRecord::Server(id.clone());
    let mut wrong_config = serde_json::to_value(&record).unwrap();
    wrong_config["config"] = json!({"methods": 5});
    // Written by someone without the key: no MAC, or a MAC that is not for this content.
    let unsigned = serde_json::to_vec(&record).unwrap();
    let mut changed: Value = serde_json::from_slice(&stored).unwrap();
    changed["integrated_account_id"] = json!("another account");
    let elsewhere = Sealer::new(&[9u8; 32]).unwrap();
    for garbage in [
        b"{not json".to_vec(),
        Vec::new(),
        signed_bytes(&reg.sealer, Kind::Server, &wrong_config),
        unsigned,
        serde_json::to_vec(&changed).unwrap(),
        signed_bytes(&elsewhere, Kind::Server, &record),
        signed_bytes(&reg.sealer, Kind::Account, &record),
    ] {
        reg.apply_remote(1, vec![remote_event(&key, server(), Some(garbage))], false);
        assert_eq!(reg.resolve_token(&token, NOW), Resolved::Unknown);
        let check = reg.check().unwrap();
        assert_eq!(check, json!({"store": "fake", "unreadable_records": 1}));
        // A readable value puts it back, and /ready no longer counts it.
        reg.apply_remote(
            2,
            vec![remote_event(&key, server(), Some(stored.clone()))],
            false,
        );
        assert!(reg.resolve_token(&token, NOW).live().is_some());
        assert_eq!(reg.check().unwrap(), json!({"store": "fake"}));
    }
    // A delete also clears it.
    reg.apply_remote(
        3,
        vec![remote_event(&key, server(), Some(vec![b'x']))],
        false,
    );
    reg.apply_remote(4, vec![remote_event(&key, server(), None)], false);
    assert_eq!(reg.check().unwrap(), json!({"store": "fake"}));
    assert_eq!(reg.resolve_token(&token, NOW), Resolved::Unknown);
}

#[test]
fn an_account_sealed_under_another_key_takes_its_servers_tokens_with_it() {
    let (reg, _, _, _) = on_fake_remote();
    let mut other = lock(&reg.state).accounts[0].clone();
    other.id = "acct-2".into();
    other.is_default = false;
    let created = {
        let bytes = signed_bytes(&reg.sealer, Kind::Account, &other.stored(&reg.sealer));
        let event = remote_event(
            "accounts/acct-2",
            RemoteRecord::Account("acct-2".into()),
            Some(bytes),
        );
        reg.apply_remote(1, vec![event], false);
        create(&reg, "acct-2", json!({"name": "on acct-2"})).unwrap()
    };
    let token = token_of(&created);
    assert!(reg.resolve_token(&token, NOW).live().is_some());
    let elsewhere = Sealer::new(&[9u8; 32]).unwrap();
    let bytes = signed_bytes(&elsewhere, Kind::Account, &other.stored(&elsewhere));
    let event = remote_event(
        "accounts/acct-2",
        RemoteRecord::Account("acct-2".into()),
        Some(bytes),
    );
    reg.apply_remote(2, vec![event], false);
    assert_eq!(reg.resolve_token(&token, NOW), Resolved::Unknown);
    assert!(reg.get_account("acct-2").is_err());
    assert_eq!(reg.check().unwrap()["unreadable_records"], 1);
}

/// Opens the registry in `dir` folding its journal from `compact_min` bytes on.
fn open_folding_at(dir: &TempDir, compact_min: u64) -> Registry {
    let store = Store::open(&dir.0)
        .expect("store")
        .with_compact_min(compact_min);
    Registry::open(store, false).expect("registry")
}

/// Mints `n` servers on `account`; returns their ids.
fn mint_many(reg: &Registry, account: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let created = create(reg, account, json!({"name": format!("server {i}")}));
            created.expect("create")["id"]
                .as_str()
                .expect("id")
                .to_string()
        })
        .collect()
}

fn journal_len(dir: &TempDir) -> u64 {
    fs::metadata(dir.0.join(JOURNAL_NAME)).map_or(0, |m| m.len())
}

#[test]
fn past_a_small_registry_changes_go_to_the_journal_and_fold_into_the_snapshot() {
    let dir = TempDir::new("reg-journal");
    let reg = open_folding_at(&dir, 8 << 10);
    let account = reg
        .ensure_default_account(AccountAuth::Mock, NOW)
        .expect("default");
    // A small registry is rewritten whole with every change: the snapshot alone is complete.
    let first = mint_many(&reg, &account, 1);
    assert!(file_text(&dir).contains(&first[0]));
    assert_eq!(journal_len(&dir), 0);
    // Past WRITE_THROUGH_BYTES a change is one journal record...
    let mut ids = first;
    ids.extend(mint_many(&reg, &account, 40));
    let last = ids.last().expect("id").clone();
    assert!(journal_len(&dir) > 0);
    assert!(!file_text(&dir).contains(&last), "only in the journal");
    // ...until the journal outgrows the snapshot: then it is folded in and emptied.
    let mut folded = false;
    for _ in 0..60 {
        ids.extend(mint_many(&reg, &account, 1));
        if journal_len(&dir) == 0 {
            folded = true;
            break;
        }
    }
    assert!(folded, "the journal was folded into the snapshot");
    assert!(file_text(&dir).contains(&last));
    // Deletes and patches after the fold, then a restart: the same registry.
    reg.delete_server(&account, &ids[3], NOW).expect("delete");
    reg.update_server(&account, &ids[4], &json!({"name": "renamed"}), CATALOG, NOW)
        .expect("patch");
    let before = reg.export().expect("export");
    drop(reg);
    let reg = open_folding_at(&dir, 8 << 10);
    assert_eq!(reg.export().expect("export"), before);
    assert_eq!(
        reg.get_server(&account, &ids[3], NOW)
            .map_err(|e| e.status()),
        Err(404)
    );
    assert_eq!(
        reg.get_server(&account, &ids[4], NOW).expect("get")["name"],
        "renamed"
    );

    // A crash between writing a new snapshot and emptying the journal replays records the
    // snapshot already holds: nothing changes.
    let after_crash = reg.export().expect("export");
    drop(reg);
    fs::write(
        dir.0.join(FILE_NAME),
        serde_json::to_vec_pretty(&after_crash).expect("encode"),
    )
    .expect("write snapshot");
    assert!(journal_len(&dir) > 0);
    let reg = open_folding_at(&dir, 8 << 10);
    assert_eq!(reg.export().expect("export"), after_crash);
}

#[test]
fn a_torn_last_journal_record_is_ignored_and_damage_before_others_is_refused() {
    let dir = TempDir::new("reg-torn");
    let reg = open(&dir);
    let account = reg
        .ensure_default_account(AccountAuth::Mock, NOW)
        .expect("default");
    let ids = mint_many(&reg, &account, 45);
    let kept = reg.export().expect("export");
    drop(reg);
    let journal = dir.0.join(JOURNAL_NAME);
    let good = fs::read(&journal).expect("journal");
    assert!(
        good.split(|&b| b == b'\n').count() > 3,
        "records in the journal"
    );

    // kill -9 in the middle of an append: half a record, never acknowledged.
    let torn = [&good[..], b"0badf00d {\"servers\":[{\"id\":\"half"].concat();
    fs::write(&journal, &torn).expect("write");
    let reg = open(&dir);
    assert_eq!(reg.export().expect("export"), kept);
    assert_eq!(
        fs::read(&journal).expect("journal"),
        good,
        "torn tail cut off"
    );
    let more = mint_many(&reg, &account, 1);
    drop(reg);
    let reg = open(&dir);
    assert!(reg.get_server(&account, &more[0], NOW).is_ok());
    assert!(reg.get_server(&account, &ids[44], NOW).is_ok());
    drop(reg);

    // A flipped bit in the second record, with records after it: start-up stops, naming
    // the journal and the line, and leaves the file alone.
    let mut damaged = fs::read(&journal).expect("journal");
    let second = damaged.iter().position(|&b| b == b'\n').expect("line") + 1;
    damaged[second + 20] ^= 0x01;
    fs::write(&journal, &damaged).expect("write");
    let err = match Registry::open(Store::open(&dir.0).expect("store"), false) {
        Ok(_) => panic!("damage must stop start-up"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(JOURNAL_NAME) && err.contains("line 2"),
        "{err}"
    );
    assert_eq!(fs::read(&journal).expect("journal"), damaged);
}
