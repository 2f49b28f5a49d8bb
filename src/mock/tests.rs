//! The mock against the real fixtures, one request at a time.

use super::*;
use httparse::Header;
use std::collections::BTreeSet;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/hubspot"))
}

/// The mock on the legacy (v3/v4) paths most tests here are written with; the dated
/// schemes are tested in `every_api_version_serves_the_same_fixtures_at_its_own_paths`.
fn mock() -> MockHubSpot {
    MockHubSpot::load(fixtures())
        .expect("fixtures load")
        .with_api_version(ApiVersion::Legacy)
}

/// The fixture records of a type, read independently of the mock.
fn fixture(ty: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures().join(format!("{ty}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn send(
    mock: &MockHubSpot,
    headers: &[Header],
    method: &str,
    target: &str,
    body: &str,
) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let req = Request {
        peer: std::net::Ipv4Addr::LOCALHOST.into(),
        method,
        path,
        query,
        headers,
        body: body.as_bytes(),
    };
    mock.handle(&req)
}

/// Sends an authenticated request; the status and the parsed body (`null` when empty).
fn call(mock: &MockHubSpot, method: &str, target: &str, body: &str) -> (u16, Value) {
    let headers = [
        Header {
            name: "Host",
            value: b"mock.test:8080",
        },
        Header {
            name: "Authorization",
            value: b"Bearer pat-na1-test",
        },
    ];
    let resp = send(mock, &headers, method, target, body);
    let value = if resp.body.is_empty() {
        Value::Null
    } else {
        assert_eq!(resp.content_type, Some("application/json"));
        serde_json::from_slice(&resp.body).expect("JSON body")
    };
    (resp.status, value)
}

fn search(mock: &MockHubSpot, ty: &str, body: Value) -> (u16, Value) {
    call(
        mock,
        "POST",
        &format!("/crm/v3/objects/{ty}/search"),
        &body.to_string(),
    )
}

/// Asserts a HubSpot error body with this status and category.
fn assert_error(answer: &(u16, Value), status: u16, category: &str) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["status"], "error");
    assert_eq!(body["category"], category, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    let id = body["correlationId"].as_str().unwrap();
    let lengths: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(lengths, [8, 4, 4, 4, 12], "{id}");
}

fn ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn keys(record: &Value) -> BTreeSet<String> {
    record["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Ids of the fixture records of `ty` for which `pred` holds, in id order.
fn expected(ty: &str, pred: impl Fn(&Value) -> bool) -> Vec<String> {
    fixture(ty)
        .iter()
        .filter(|r| pred(&r["properties"]))
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Ids of every search hit, walking all pages.
fn search_all(mock: &MockHubSpot, ty: &str, mut body: Value) -> Vec<String> {
    let mut all = Vec::new();
    loop {
        let (status, page) = search(mock, ty, body.clone());
        assert_eq!(status, 200, "{page}");
        all.extend(ids(&page));
        match page["paging"]["next"]["after"].as_str() {
            Some(after) => body["after"] = after.into(),
            None => break,
        }
    }
    all
}

fn filters(filters: Value) -> Value {
    json!({ "filterGroups": [{ "filters": filters }], "limit": 200 })
}

#[test]
fn loads_every_fixture_type() {
    let mock = mock();
    for (ty, count) in [("contacts", 60), ("companies", 24), ("deals", 36)] {
        let (status, body) = call(&mock, "GET", &format!("/crm/v3/objects/{ty}?limit=100"), "");
        assert_eq!(status, 200);
        assert_eq!(body["results"].as_array().unwrap().len(), count, "{ty}");
        assert!(body.get("paging").is_none());
    }
}

#[test]
fn load_errors_name_the_directory_or_file() {
    let missing = MockHubSpot::load(Path::new("/no/such/fixtures"))
        .err()
        .unwrap();
    assert!(missing.contains("/no/such/fixtures"), "{missing}");

    let dir = std::env::temp_dir().join(format!("mock-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("{\"not\": \"an array\"}", "array"),
        ("[{\"id\": \"x1\", \"properties\": {}}]", "numeric"),
        ("[{\"id\": \"1\", \"properties\": {\"a\": [1]}}]", "\"a\""),
        ("[1,", "invalid JSON"),
    ];
    for (text, hint) in cases {
        std::fs::write(dir.join("tickets.json"), text).unwrap();
        let err = MockHubSpot::load(&dir).err().unwrap();
        assert!(err.contains("tickets.json") && err.contains(hint), "{err}");
    }
    std::fs::write(
        dir.join("tickets.json"),
        r#"[{"id":"7","properties":{"subject":"Printer on fire","hs_pipeline":0},
            "createdAt":"2024-01-01T00:00:00.000Z","updatedAt":"2024-01-02T00:00:00.000Z"}]"#,
    )
    .unwrap();
    let tickets = MockHubSpot::load(&dir)
        .unwrap()
        .with_api_version(ApiVersion::Legacy);
    let (status, body) = call(&tickets, "GET", "/crm/v3/objects/tickets/7", "");
    assert_eq!(status, 200);
    // Other types answer every property, numbers as strings.
    assert_eq!(body["properties"]["hs_pipeline"], "0");
    assert_eq!(body["properties"]["subject"], "Printer on fire");
    assert_eq!(body["properties"]["createdate"], "2024-01-01T00:00:00.000Z");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_api_version_serves_the_same_fixtures_at_its_own_paths() {
    let mut answers = Vec::new();
    for version in ApiVersion::ALL {
        let mock = MockHubSpot::load(fixtures())
            .unwrap()
            .with_api_version(version);
        let list = paths::build(version, Endpoint::ListObjects, &["contacts"]);
        let (status, page) = call(&mock, "GET", &format!("{list}?limit=3"), "");
        assert_eq!(status, 200, "{version} {list}: {page}");
        let first = ids(&page)[0].clone();
        let get = paths::build(version, Endpoint::GetObject, &["contacts", &first]);
        let (status, one) = call(&mock, "GET", &get, "");
        assert_eq!(status, 200, "{version} {get}: {one}");
        let labels = paths::build(
            version,
            Endpoint::AssociationLabels,
            &["contacts", "companies"],
        );
        let (status, types) = call(&mock, "GET", &labels, "");
        assert_eq!(status, 200, "{version} {labels}: {types}");
        answers.push((ids(&page), one["id"].clone(), types));
        // Every other version's record path is refused, naming both versions.
        for other in ApiVersion::ALL.into_iter().filter(|v| *v != version) {
            let wrong = paths::build(other, Endpoint::ListObjects, &["contacts"]);
            let (status, body) = call(&mock, "GET", &wrong, "");
            assert_eq!(status, 404, "{version} serves {wrong}");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("API version {other} path"))
                    && message.contains(&format!("this mock serves {version}")),
                "{message}"
            );
        }
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let dated = mock().with_api_version(ApiVersion::V2026_09);
    assert_eq!(
        call(&dated, "GET", "/crm/objects/2026-09/contacts?limit=1", "").0,
        200
    );
    assert_eq!(
        call(&dated, "GET", "/crm/v3/objects/contacts?limit=1", "").0,
        404
    );
    let (status, body) = call(&dated, "GET", "/crm/nothing/here", "");
    assert_eq!(status, 404);
    assert!(
        !body["message"].as_str().unwrap().contains("API version"),
        "{body}"
    );
}

#[test]
fn list_pages_walk_to_the_end() {
    let mock = mock();
    let mut target = "/crm/v3/objects/contacts?limit=7".to_string();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, body) = call(&mock, "GET", &target, "");
        assert_eq!(status, 200, "{body}");
        let page = ids(&body);
        assert!(page.len() <= 7);
        seen.extend(page);
        pages += 1;
        let Some(next) = body.get("paging") else {
            break;
        };
        let after = next["next"]["after"].as_str().unwrap();
        let link = next["next"]["link"].as_str().unwrap();
        assert!(link.starts_with("http://mock.test:8080/crm/v3/objects/contacts?"));
        assert!(link.contains("limit=7") && link.ends_with(&format!("after={after}")));
        target = link.trim_start_matches("http://mock.test:8080").to_string();
    }
    let all: Vec<String> = (101..=160).map(|n| n.to_string()).collect();
    assert_eq!(seen, all);
    assert_eq!(pages, 9);

    // Default page size is 10, and a page of exactly the rest has no paging.
    let (_, first) = call(&mock, "GET", "/crm/v3/objects/deals", "");
    assert_eq!(ids(&first).len(), 10);
    let (_, last) = call(
        &mock,
        "GET",
        "/crm/v3/objects/deals?after=9027&limit=10",
        "",
    );
    assert_eq!(ids(&last).len(), 10);
    assert!(last.get("paging").is_none());
}

#[test]
fn list_limit_and_cursor_errors() {
    let mock = mock();
    for target in [
        "/crm/v3/objects/contacts?limit=101",
        "/crm/v3/objects/contacts?limit=0",
        "/crm/v3/objects/contacts?limit=ten",
        "/crm/v3/objects/contacts?after=abc",
    ] {
        assert_error(&call(&mock, "GET", target, ""), 400, "VALIDATION_ERROR");
    }
    let (status, body) = call(&mock, "GET", "/crm/v3/objects/contacts?limit=100", "");
    assert_eq!(status, 200);
    assert_eq!(ids(&body).len(), 60);
}

#[test]
fn properties_selection() {
    let mock = mock();
    let system = ["hs_object_id", "createdate", "lastmodifieddate"];
    let (_, body) = call(&mock, "GET", "/crm/v3/objects/contacts?limit=3", "");
    for record in body["results"].as_array().unwrap() {
        let want = [&["firstname", "lastname", "email"][..], &system].concat();
        assert_eq!(keys(record), set(&want));
        assert_eq!(record["properties"]["hs_object_id"], record["id"]);
        assert_eq!(record["properties"]["createdate"], record["createdAt"]);
        assert_eq!(record["archived"], false);
    }
    let (_, deal) = call(&mock, "GET", "/crm/v3/objects/deals/9001", "");
    let want = ["dealname", "amount", "dealstage", "pipeline", "closedate"];
    assert_eq!(keys(&deal), set(&[&want[..], &system].concat()));

    // Asked properties, comma-separated and repeated; one the record lacks is omitted.
    let no_phone = expected("contacts", |p| p.get("phone").is_none())[0].clone();
    let target = format!(
        "/crm/v3/objects/contacts/{no_phone}?properties=phone,jobtitle&properties=city,nosuchprop"
    );
    let (status, record) = call(&mock, "GET", &target, "");
    assert_eq!(status, 200);
    assert_eq!(
        keys(&record),
        set(&[&["jobtitle", "city"][..], &system].concat())
    );
    let (_, page) = call(
        &mock,
        "GET",
        "/crm/v3/objects/companies?properties=industry%2Ccountry",
        "",
    );
    let first = &page["results"][0];
    assert_eq!(
        keys(first),
        set(&[&["industry", "country"][..], &system].concat())
    );
}

#[test]
fn rejects_missing_or_empty_bearer_token() {
    let mock = mock();
    let cases: [&[Header]; 3] = [
        &[],
        &[Header {
            name: "authorization",
            value: b"Bearer ",
        }],
        &[Header {
            name: "Authorization",
            value: b"Basic dXNlcjpwYXNz",
        }],
    ];
    for headers in cases {
        let resp = send(&mock, headers, "GET", "/crm/v3/objects/contacts", "");
        assert_eq!(resp.content_type, Some("application/json"));
        let body: Value = serde_json::from_slice(&resp.body).unwrap();
        assert_error(&(resp.status, body), 401, "INVALID_AUTHENTICATION");
    }
}

#[test]
fn get_by_id_email_and_errors() {
    let mock = mock();
    let (status, record) = call(&mock, "GET", "/crm/v3/objects/contacts/101", "");
    assert_eq!(status, 200);
    assert_eq!(record["id"], "101");
    let email = record["properties"]["email"]
        .as_str()
        .unwrap()
        .to_uppercase();
    let target = format!(
        "/crm/v3/objects/contacts/{}?idProperty=email",
        email.replace('@', "%40")
    );
    let (status, by_email) = call(&mock, "GET", &target, "");
    assert_eq!((status, &by_email["id"]), (200, &json!("101")));
    // Object type ids work like names.
    let (status, _) = call(&mock, "GET", "/crm/v3/objects/0-1/101", "");
    assert_eq!(status, 200);

    assert_error(
        &call(&mock, "GET", "/crm/v3/objects/contacts/99999", ""),
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_error(
        &call(&mock, "GET", "/crm/v3/objects/contacts/abc", ""),
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_error(
        &call(
            &mock,
            "GET",
            "/crm/v3/objects/contacts/nobody@x.example?idProperty=email",
            "",
        ),
        404,
        "OBJECT_NOT_FOUND",
    );
    let unknown = call(&mock, "GET", "/crm/v3/objects/foo", "");
    assert_error(&unknown, 404, "OBJECT_NOT_FOUND");
    assert_eq!(
        unknown.1["message"],
        "Unable to infer object type from: foo"
    );
    assert_error(
        &call(&mock, "GET", "/crm/v4/whatever", ""),
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_error(
        &call(&mock, "PUT", "/crm/v3/objects/contacts", ""),
        404,
        "OBJECT_NOT_FOUND",
    );
}

#[test]
fn create_then_duplicate_email_conflicts() {
    let mock = mock();
    let body = json!({"properties": {"firstname": "Nadia", "lastname": "Haddad",
        "email": "nadia.haddad@cedar-labs.example", "hs_object_id": "1", "phone": null}});
    let (status, created) = call(&mock, "POST", "/crm/v3/objects/contacts", &body.to_string());
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], "161");
    assert_eq!(created["properties"]["hs_object_id"], "161");
    assert_eq!(created["properties"]["firstname"], "Nadia");
    assert!(created["properties"].get("phone").is_none());
    assert_eq!(created["createdAt"], created["properties"]["createdate"]);
    assert!(crate::runtime::clock::parse_rfc3339(created["createdAt"].as_str().unwrap()).is_some());
    let (status, fetched) = call(&mock, "GET", "/crm/v3/objects/contacts/161", "");
    assert_eq!(
        (status, &fetched["properties"]["lastname"]),
        (200, &json!("Haddad"))
    );

    let dup = json!({"properties": {"email": "Nadia.Haddad@Cedar-Labs.example"}});
    let conflict = call(&mock, "POST", "/crm/v3/objects/contacts", &dup.to_string());
    assert_error(&conflict, 409, "CONFLICT");
    assert_eq!(
        conflict.1["message"],
        "Contact already exists. Existing ID: 161"
    );
    let fixture_email = fixture("contacts")[0]["properties"]["email"].clone();
    let dup = json!({"properties": {"email": fixture_email}});
    let conflict = call(&mock, "POST", "/crm/v3/objects/contacts", &dup.to_string());
    assert_eq!(
        conflict.1["message"],
        "Contact already exists. Existing ID: 101"
    );

    // Numbers and booleans become strings; ids keep counting per type.
    let deal =
        json!({"properties": {"dealname": "New deal", "amount": 1500.5, "hs_is_closed": false}});
    let (status, created) = call(&mock, "POST", "/crm/v3/objects/deals", &deal.to_string());
    assert_eq!(status, 201);
    assert_eq!(created["id"], "9037");
    assert_eq!(created["properties"]["amount"], "1500.5");
    assert_eq!(created["properties"]["hs_is_closed"], "false");

    for bad in [
        "not json",
        "{}",
        r#"{"properties": []}"#,
        r#"{"properties": {"firstname": {"nested": 1}}}"#,
        r#"{"properties": {"email": "not-an-email"}}"#,
    ] {
        let answer = call(&mock, "POST", "/crm/v3/objects/contacts", bad);
        assert_error(&answer, 400, "VALIDATION_ERROR");
    }
    let (_, list) = call(&mock, "GET", "/crm/v3/objects/contacts?limit=100", "");
    assert_eq!(ids(&list).len(), 61, "failed creates change nothing");
}

#[test]
fn update_changes_properties_and_checks_email() {
    let mock = mock();
    let (_, before) = call(&mock, "GET", "/crm/v3/objects/contacts/102", "");
    let patch =
        json!({"properties": {"jobtitle": "Chief Revenue Officer", "lifecyclestage": "customer"}});
    let (status, after) = call(
        &mock,
        "PATCH",
        "/crm/v3/objects/contacts/102",
        &patch.to_string(),
    );
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["properties"]["jobtitle"], "Chief Revenue Officer");
    assert_eq!(after["properties"]["email"], before["properties"]["email"]);
    assert_ne!(after["updatedAt"], before["updatedAt"]);
    assert_eq!(after["properties"]["lastmodifieddate"], after["updatedAt"]);
    assert_eq!(after["createdAt"], before["createdAt"]);

    // Clearing with "" removes the value; the same email on the same record is fine.
    let clear = json!({"properties": {"jobtitle": "", "email": before["properties"]["email"]}});
    let (status, cleared) = call(
        &mock,
        "PATCH",
        "/crm/v3/objects/contacts/102",
        &clear.to_string(),
    );
    assert_eq!(status, 200);
    assert!(cleared["properties"].get("jobtitle").is_none());

    let (_, other) = call(&mock, "GET", "/crm/v3/objects/contacts/103", "");
    let steal = json!({"properties": {"email": other["properties"]["email"]}});
    let conflict = call(
        &mock,
        "PATCH",
        "/crm/v3/objects/contacts/102",
        &steal.to_string(),
    );
    assert_error(&conflict, 409, "CONFLICT");
    assert_error(
        &call(
            &mock,
            "PATCH",
            "/crm/v3/objects/contacts/99999",
            &patch.to_string(),
        ),
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_error(
        &call(&mock, "PATCH", "/crm/v3/objects/contacts/102", "[]"),
        400,
        "VALIDATION_ERROR",
    );
}

#[test]
fn archive_hides_the_record_everywhere() {
    let mock = mock();
    let (status, body) = call(&mock, "DELETE", "/crm/v3/objects/contacts/101", "");
    assert_eq!((status, body), (204, Value::Null));
    assert_error(
        &call(&mock, "GET", "/crm/v3/objects/contacts/101", ""),
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_error(
        &call(&mock, "DELETE", "/crm/v3/objects/contacts/101", ""),
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_error(
        &call(
            &mock,
            "PATCH",
            "/crm/v3/objects/contacts/101",
            r#"{"properties":{"city":"X"}}"#,
        ),
        404,
        "OBJECT_NOT_FOUND",
    );
    let (_, list) = call(&mock, "GET", "/crm/v3/objects/contacts?limit=100", "");
    assert_eq!(ids(&list).len(), 59);
    assert!(!ids(&list).contains(&"101".to_string()));
    let hits = search_all(&mock, "contacts", json!({"limit": 100}));
    assert_eq!(hits.len(), 59);
    assert!(!hits.contains(&"101".to_string()));

    let (_, archived) = call(&mock, "GET", "/crm/v3/objects/contacts?archived=true", "");
    assert_eq!(ids(&archived), ["101"]);
    assert_eq!(archived["results"][0]["archived"], true);
    assert!(archived["results"][0]["archivedAt"].is_string());

    // Its email is free again, and ids are never reused.
    let (_, gone) = call(
        &mock,
        "GET",
        "/crm/v3/objects/contacts/101?archived=true",
        "",
    );
    assert_eq!(gone["status"], "error");
    let email = fixture("contacts")[0]["properties"]["email"].clone();
    let again = json!({"properties": {"email": email}});
    let (status, created) = call(
        &mock,
        "POST",
        "/crm/v3/objects/contacts",
        &again.to_string(),
    );
    assert_eq!((status, &created["id"]), (201, &json!("161")));
}

#[test]
fn search_query_matches_token_prefixes() {
    let mock = mock();
    let maria = search(&mock, "contacts", json!({"query": "MARIA", "limit": 100})).1;
    assert_eq!(maria["total"], 5);
    for r in maria["results"].as_array().unwrap() {
        assert_eq!(r["properties"]["firstname"], "Maria");
    }
    let one = search(&mock, "contacts", json!({"query": "maria rossi"})).1;
    assert_eq!(one["total"], 1);
    assert_eq!(one["results"][0]["properties"]["lastname"], "Rossi");

    let alex = search(&mock, "contacts", json!({"query": "alex"})).1;
    let names: BTreeSet<String> = alex["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["properties"]["firstname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, set(&["Alex", "Alexander", "Alexandra"]));

    // Email domain and company name tokens; jobtitle is not searchable.
    let solaria = search(&mock, "contacts", json!({"query": "solaria"})).1;
    let want = expected("contacts", |p| p["company"] == "Solaria Energía");
    assert_eq!(ids(&solaria), want);
    let title = search(&mock, "contacts", json!({"query": "engineer"})).1;
    assert_eq!(title["total"], 0);
    let by_email = search(&mock, "contacts", json!({"query": "maria.rossi@tavola"})).1;
    assert_eq!(by_email["total"], 1);

    let companies = search(&mock, "companies", json!({"query": "software"})).1;
    assert_eq!(companies["total"], 1);
    let deals = search(&mock, "deals", json!({"query": "renewal"})).1;
    let want = expected("deals", |p| {
        p["dealname"].as_str().unwrap().contains("renewal")
    });
    assert!(!want.is_empty());
    assert_eq!(ids(&deals), want);
}

#[test]
fn search_equality_operators() {
    let mock = mock();
    let eq = filters(json!([{"propertyName": "lastname", "operator": "EQ", "value": "smith"}]));
    assert_eq!(search_all(&mock, "contacts", eq).len(), 2);

    let neq =
        filters(json!([{"propertyName": "country", "operator": "NEQ", "value": "united states"}]));
    assert_eq!(
        search_all(&mock, "contacts", neq),
        expected("contacts", |p| p["country"] != "United States")
    );
    let stages = ["closedwon", "closedlost"];
    let is_closed = |p: &Value| stages.contains(&p["dealstage"].as_str().unwrap());
    let r#in = filters(json!([{"propertyName": "dealstage", "operator": "IN", "values": stages}]));
    assert_eq!(
        search_all(&mock, "deals", r#in),
        expected("deals", is_closed)
    );
    let not_in =
        filters(json!([{"propertyName": "dealstage", "operator": "NOT_IN", "values": stages}]));
    assert_eq!(
        search_all(&mock, "deals", not_in),
        expected("deals", |p| !is_closed(p))
    );
}

#[test]
fn search_range_operators_are_numeric_and_date_aware() {
    let mock = mock();
    let amount = |p: &Value| p["amount"].as_str().unwrap().parse::<f64>().unwrap();
    for (op, pred) in [
        (
            "GT",
            Box::new(|a: f64| a > 50000.0) as Box<dyn Fn(f64) -> bool>,
        ),
        ("GTE", Box::new(|a| a >= 50000.0)),
        ("LT", Box::new(|a| a < 50000.0)),
        ("LTE", Box::new(|a| a <= 50000.0)),
    ] {
        let body = filters(json!([{"propertyName": "amount", "operator": op, "value": "50000"}]));
        let want = expected("deals", |p| pred(amount(p)));
        assert!(!want.is_empty(), "{op}");
        assert_eq!(search_all(&mock, "deals", body), want, "{op}");
    }
    let between = filters(
        json!([{"propertyName": "amount", "operator": "BETWEEN", "value": 7500, "highValue": "36000"}]),
    );
    let want = expected("deals", |p| (7500.0..=36000.0).contains(&amount(p)));
    assert_eq!(search_all(&mock, "deals", between), want);

    // Dates: RFC 3339 and epoch milliseconds name the same instants.
    let created = |p: &Value| {
        crate::runtime::clock::parse_rfc3339(p["createdate"].as_str().unwrap()).unwrap()
    };
    let (low, high) = (
        crate::runtime::clock::parse_rfc3339("2024-01-01T00:00:00Z").unwrap(),
        crate::runtime::clock::parse_rfc3339("2024-06-30T23:59:59.999Z").unwrap(),
    );
    let want = expected("contacts", |p| (low..=high).contains(&created(p)));
    assert!(!want.is_empty());
    for (value, high_value) in [
        (
            json!("2024-01-01T00:00:00Z"),
            json!("2024-06-30T23:59:59.999Z"),
        ),
        (json!(low.to_string()), json!(high)),
    ] {
        let body = filters(json!([{"propertyName": "createdate", "operator": "BETWEEN",
            "value": value, "highValue": high_value}]));
        assert_eq!(search_all(&mock, "contacts", body), want);
    }
    let gte =
        filters(json!([{"propertyName": "createdate", "operator": "GTE", "value": "2025-01-01"}]));
    let since = crate::runtime::clock::parse_rfc3339("2025-01-01T00:00:00Z").unwrap();
    assert_eq!(
        search_all(&mock, "contacts", gte),
        expected("contacts", |p| created(p) >= since)
    );
}

#[test]
fn search_presence_and_token_operators() {
    let mock = mock();
    let has = filters(json!([{"propertyName": "phone", "operator": "HAS_PROPERTY"}]));
    let not_has = filters(json!([{"propertyName": "phone", "operator": "NOT_HAS_PROPERTY"}]));
    let with_phone = expected("contacts", |p| p.get("phone").is_some());
    let without = expected("contacts", |p| p.get("phone").is_none());
    assert!(!without.is_empty() && without.len() < 10);
    assert_eq!(search_all(&mock, "contacts", has), with_phone);
    assert_eq!(search_all(&mock, "contacts", not_has), without);

    let domain = "*@solaria-energia.example";
    let contains =
        filters(json!([{"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": domain}]));
    let want = expected("contacts", |p| {
        p["email"]
            .as_str()
            .unwrap()
            .ends_with("@solaria-energia.example")
    });
    assert_eq!(want.len(), 3);
    assert_eq!(search_all(&mock, "contacts", contains), want);
    let not_contains = filters(
        json!([{"propertyName": "email", "operator": "NOT_CONTAINS_TOKEN", "value": domain}]),
    );
    assert_eq!(search_all(&mock, "contacts", not_contains).len(), 57);
    // A whole token matches without a wildcard, a partial one does not.
    let token = |v: &str| {
        filters(json!([{"propertyName": "jobtitle", "operator": "CONTAINS_TOKEN", "value": v}]))
    };
    let managers = expected("contacts", |p| {
        p["jobtitle"].as_str().unwrap().contains("Manager")
    });
    assert_eq!(search_all(&mock, "contacts", token("manager")), managers);
    assert!(search_all(&mock, "contacts", token("manag")).is_empty());
    let manag = expected("contacts", |p| {
        p["jobtitle"].as_str().unwrap().contains("Manag")
    });
    assert!(manag.len() > managers.len(), "Managing Director too");
    assert_eq!(search_all(&mock, "contacts", token("manag*")), manag);
}

#[test]
fn search_groups_or_and_filters_and() {
    let mock = mock();
    let body = json!({"filterGroups": [
        {"filters": [
            {"propertyName": "country", "operator": "EQ", "value": "United States"},
            {"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"}]},
        {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "Maria"}]}
    ], "limit": 100});
    let want = expected("contacts", |p| {
        (p["country"] == "United States" && p["lifecyclestage"] == "customer")
            || p["firstname"] == "Maria"
    });
    assert_eq!(search_all(&mock, "contacts", body.clone()), want);

    // query and filters must both hold.
    let mut both = body;
    both["query"] = "chen".into();
    assert_eq!(search_all(&mock, "contacts", both).len(), 1);
}

#[test]
fn search_sorts_pages_and_selects_properties() {
    let mock = mock();
    let body = json!({"sorts": [{"propertyName": "amount", "direction": "DESCENDING"}],
        "properties": ["amount", "dealname"], "limit": 8});
    let (status, first) = search(&mock, "deals", body.clone());
    assert_eq!(status, 200);
    assert_eq!(first["total"], 36);
    assert_eq!(first["paging"]["next"]["after"], "8");
    assert_eq!(
        keys(&first["results"][0]),
        set(&[
            "amount",
            "dealname",
            "hs_object_id",
            "createdate",
            "lastmodifieddate"
        ])
    );
    let all = search_all(&mock, "deals", body);
    assert_eq!(all.len(), 36);
    let deals = fixture("deals");
    let amount_of = |id: &String| {
        let d = deals.iter().find(|d| d["id"] == json!(id)).unwrap();
        d["properties"]["amount"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    let amounts: Vec<f64> = all.iter().map(amount_of).collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "{amounts:?}");

    // Default order is id ascending; the short sort form works too.
    let (_, page) = search(&mock, "contacts", json!({"limit": 3}));
    assert_eq!(ids(&page), ["101", "102", "103"]);
    let (_, page) = search(
        &mock,
        "contacts",
        json!({"sorts": ["-lastname"], "limit": 1}),
    );
    let last = fixture("contacts")
        .iter()
        .map(|r| r["properties"]["lastname"].as_str().unwrap().to_lowercase())
        .max()
        .unwrap();
    assert_eq!(
        page["results"][0]["properties"]["lastname"]
            .as_str()
            .unwrap()
            .to_lowercase(),
        last
    );
    // The last page has no paging.
    let (_, tail) = search(&mock, "contacts", json!({"after": "55", "limit": 10}));
    assert_eq!(ids(&tail).len(), 5);
    assert!(tail.get("paging").is_none());
}

#[test]
fn search_limits_and_bad_requests() {
    let mock = mock();
    let f = json!({"propertyName": "firstname", "operator": "HAS_PROPERTY"});
    let group = |n: usize| json!({"filters": vec![f.clone(); n]});
    let cases = [
        (json!({"filterGroups": vec![group(1); 6]}), "filter groups"),
        (json!({"filterGroups": [group(7)]}), "per group"),
        (json!({"filterGroups": vec![group(5); 4]}), "at most 18"),
        (json!({"limit": 201}), "limit"),
        (json!({"limit": -1}), "limit"),
        (json!({"after": "10001"}), "after"),
        (
            json!({"filterGroups": [{"filters": [{"propertyName": "a", "operator": "LIKE", "value": "x"}]}]}),
            "Unknown operator",
        ),
        (
            json!({"filterGroups": [{"filters": [{"propertyName": "a", "operator": "EQ"}]}]}),
            "value",
        ),
        (
            json!({"filterGroups": [{"filters": [{"propertyName": "a", "operator": "BETWEEN", "value": "1"}]}]}),
            "highValue",
        ),
        (
            json!({"filterGroups": [{"filters": [{"propertyName": "a", "operator": "IN", "value": "1"}]}]}),
            "values",
        ),
        (
            json!({"filterGroups": [{"filters": [{"operator": "EQ", "value": "1"}]}]}),
            "propertyName",
        ),
        (
            json!({"sorts": [{"propertyName": "a"}, {"propertyName": "b"}]}),
            "one sort",
        ),
        (
            json!({"sorts": [{"propertyName": "a", "direction": "UP"}]}),
            "direction",
        ),
        (json!({"properties": "firstname"}), "properties"),
    ];
    for (body, hint) in cases {
        let answer = search(&mock, "contacts", body.clone());
        assert_error(&answer, 400, "VALIDATION_ERROR");
        let message = answer.1["message"].as_str().unwrap();
        assert!(message.contains(hint), "{body} -> {message}");
    }
    // The largest allowed shapes pass: 3 groups of 6 = 18 filters, limit 200.
    let ok = json!({"filterGroups": vec![group(6); 3], "limit": 200});
    let (status, body) = search(&mock, "contacts", ok);
    assert_eq!((status, body["total"].as_u64()), (200, Some(60)));
    assert_error(
        &call(&mock, "POST", "/crm/v3/objects/contacts/search", "{oops"),
        400,
        "VALIDATION_ERROR",
    );
    assert_error(
        &search(&mock, "widgets", json!({})),
        404,
        "OBJECT_NOT_FOUND",
    );
}

#[test]
fn latency_delays_every_answer() {
    let mock = mock().with_latency(Duration::from_millis(60));
    let start = std::time::Instant::now();
    let (status, _) = call(&mock, "GET", "/crm/v3/objects/contacts/101", "");
    assert_eq!(status, 200);
    assert!(start.elapsed() >= Duration::from_millis(60));
}

#[test]
fn batches_take_1_to_100_inputs_and_creates_are_all_or_nothing() {
    let mock = mock();
    let inputs = |n: usize| {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"id": (101 + i).to_string()}))
            .collect();
        json!({ "inputs": items }).to_string()
    };
    let path = "/crm/v3/objects/contacts/batch/read";
    assert_eq!(
        call(&mock, "POST", path, &inputs(100)).0,
        207,
        "only 60 contacts exist: a multi-status answer"
    );
    assert_error(
        &call(&mock, "POST", path, &inputs(101)),
        400,
        "VALIDATION_ERROR",
    );
    assert_error(
        &call(&mock, "POST", path, &inputs(0)),
        400,
        "VALIDATION_ERROR",
    );
    assert_error(
        &call(
            &mock,
            "POST",
            "/crm/v3/objects/contacts/batch/explode",
            &inputs(1),
        ),
        404,
        "OBJECT_NOT_FOUND",
    );
    // One duplicate email fails the whole create batch; nothing is written.
    let before = call(&mock, "GET", "/crm/v3/objects/contacts?limit=100", "").1["results"]
        .as_array()
        .unwrap()
        .len();
    let batch = json!({"inputs": [
        {"properties": {"email": "new.one@example.com"}},
        {"properties": {"email": "NEW.one@example.com"}}
    ]});
    assert_error(
        &call(
            &mock,
            "POST",
            "/crm/v3/objects/contacts/batch/create",
            &batch.to_string(),
        ),
        400,
        "VALIDATION_ERROR",
    );
    let after = call(&mock, "GET", "/crm/v3/objects/contacts?limit=100", "").1["results"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);
}

#[test]
fn account_data_answers_and_refuses_like_hubspot() {
    let mock = mock();
    let (status, owners) = call(
        &mock,
        "GET",
        "/crm/v3/owners?email=MEI.TANAKA@acme-crm.example",
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(owners["results"].as_array().unwrap().len(), 1);
    assert_error(
        &call(&mock, "GET", "/crm/v3/owners/1", ""),
        404,
        "OBJECT_NOT_FOUND",
    );
    let (status, pipelines) = call(&mock, "GET", "/crm/v3/pipelines/0-5", "");
    assert_eq!(
        (status, pipelines["results"][0]["id"].as_str()),
        (200, Some("0"))
    );
    assert_error(
        &call(&mock, "GET", "/crm/v3/pipelines/contacts", ""),
        400,
        "VALIDATION_ERROR",
    );
    assert_error(
        &call(&mock, "GET", "/crm/v3/pipelines/deals/nope", ""),
        404,
        "OBJECT_NOT_FOUND",
    );
    let (status, email) = call(&mock, "GET", "/crm/v3/properties/contacts/email", "");
    assert_eq!(
        (status, email["hasUniqueValue"].as_bool()),
        (200, Some(true))
    );
    for (body, hint) in [
        (json!({"name": "x"}), "Missing required fields"),
        (
            json!({"name": "Bad Name", "label": "B", "type": "string", "fieldType": "text", "groupName": "g"}),
            "lowercase",
        ),
        (
            json!({"name": "ok_name", "label": "B", "type": "text", "fieldType": "text", "groupName": "g"}),
            "type must be one of",
        ),
        (json!({"name": "ok_name", "colour": "red"}), "Unknown field"),
    ] {
        let answer = call(
            &mock,
            "POST",
            "/crm/v3/properties/contacts",
            &body.to_string(),
        );
        assert_error(&answer, 400, "VALIDATION_ERROR");
        assert!(
            answer.1["message"].as_str().unwrap().contains(hint),
            "{}",
            answer.1
        );
    }
    let rename = json!({"name": "surname"}).to_string();
    assert_error(
        &call(
            &mock,
            "PATCH",
            "/crm/v3/properties/contacts/lastname",
            &rename,
        ),
        400,
        "VALIDATION_ERROR",
    );
    assert_error(
        &call(&mock, "GET", "/crm/v3/properties/widgets", ""),
        404,
        "OBJECT_NOT_FOUND",
    );
    let (status, token) = call(
        &mock,
        "POST",
        "/oauth/v2/private-apps/get/access-token-info",
        r#"{"tokenKey":"pat-na1-test"}"#,
    );
    assert_eq!((status, token["hubId"].as_u64()), (200, Some(24680135)));
    assert_error(
        &call(
            &mock,
            "POST",
            "/oauth/v2/private-apps/get/access-token-info",
            "{}",
        ),
        400,
        "VALIDATION_ERROR",
    );
    let (status, account) = call(&mock, "GET", "/account-info/v3/details", "");
    assert_eq!(
        (status, account["uiDomain"].as_str()),
        (200, Some("app-eu1.hubspot.com"))
    );
    assert!(
        account.get("token").is_none(),
        "token details are not account details"
    );
}

#[test]
fn associations_need_both_records_and_a_defined_type() {
    let mock = mock();
    let put = |target: &str, body: &str| call(&mock, "PUT", target, body);
    assert_error(
        &put(
            "/crm/v4/objects/contacts/101/associations/default/companies/1",
            "",
        ),
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_error(
        &put(
            "/crm/v4/objects/contacts/1/associations/default/companies/5001",
            "",
        ),
        404,
        "OBJECT_NOT_FOUND",
    );
    // Companies to a custom object has only a labeled type: no default.
    assert_error(
        &put(
            "/crm/v4/objects/companies/5001/associations/default/2-3508482/3001",
            "",
        ),
        400,
        "VALIDATION_ERROR",
    );
    let labeled = r#"[{"associationCategory":"USER_DEFINED","associationTypeId":79}]"#;
    let (status, made) = put(
        "/crm/v4/objects/companies/5001/associations/2-3508482/3001",
        labeled,
    );
    assert_eq!(
        (status, made["labels"].clone()),
        (201, json!(["Owner site"]))
    );
    // Seen from the machine, the link has the inverse type id.
    let (_, back) = call(
        &mock,
        "GET",
        "/crm/v4/objects/2-3508482/3001/associations/companies",
        "",
    );
    assert_eq!(back["results"][0]["associationTypes"][0]["typeId"], 80);
    assert_error(
        &put(
            "/crm/v4/objects/companies/5001/associations/2-3508482/3001",
            "{}",
        ),
        400,
        "VALIDATION_ERROR",
    );
    assert_error(
        &call(
            &mock,
            "GET",
            "/crm/v4/associations/contacts/widgets/labels",
            "",
        ),
        404,
        "OBJECT_NOT_FOUND",
    );
}
