//! The mock layer, beside the server's front: HubSpot's stand-in, built on the HTTP layer
//! and the catalog's tables; the server reaches it only over HTTP, as it would HubSpot.
//!
//! A fake HubSpot CRM HTTP API driven by fixture files, for tests and demos
//! (`mock-hubspot` or `HUBSPOT_MOCK=<dir>`).
//!
//! It serves the paths of one HubSpot API version ([`ApiVersion`]: `2026-09`, `2026-03` or
//! `legacy` v3/v4, routed by the client's own table, [`paths::PATHS`]) from the same
//! fixtures, and answers 404 to another version's paths, so a client calling the wrong
//! scheme fails a test. It answers list, get, create, update, archive and search on
//! records like HubSpot does, with HubSpot's error bodies (`{status, message, correlationId, category}`).
//! Any non-empty bearer token is accepted. Writes live only in memory. Where HubSpot
//! is vague the mock is strict and clear: archiving a missing record is a 404, and
//! an unknown object type is a 404 `OBJECT_NOT_FOUND`. Faults (429, 5xx, slow answers)
//! and a request log for tests: see [`faults`].

mod batch;
pub mod faults;
mod links;
mod meta;
mod search;
mod store;

use crate::http::{Handler, Request, Response};
use crate::hubspot::paths::{self, ApiVersion, Endpoint};
use crate::runtime::clock::now_rfc3339;
use links::Links;
use meta::Meta;
use search::Search;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use store::{property_string, ObjectTables, Properties, Record, SYSTEM_PROPERTIES};

/// The largest page a list answers.
const MAX_LIST_LIMIT: usize = 100;

/// A fake HubSpot: the fixture records, account data and associations in memory. Locks
/// are always taken in the order store, meta, links.
pub struct MockHubSpot {
    store: Mutex<ObjectTables>,
    meta: Mutex<Meta>,
    links: Mutex<Links>,
    latency: Duration,
    faults: faults::Faults,
    /// The HubSpot API version whose paths it serves; other schemes get a 404.
    version: ApiVersion,
}

impl MockHubSpot {
    /// Loads every `<type>.json` file in `dir` as object type `<type>`, and the account
    /// data files of [`meta::FILES`] when present.
    pub fn load(dir: &Path) -> Result<MockHubSpot, String> {
        Ok(MockHubSpot {
            store: Mutex::new(ObjectTables::load(dir, &meta::FILES)?),
            meta: Mutex::new(Meta::load(dir)?),
            links: Mutex::new(Links::load(dir)?),
            latency: Duration::ZERO,
            faults: faults::Faults::default(),
            version: ApiVersion::default(),
        })
    }

    /// Serves the paths of this HubSpot API version (default: 2026-09) and answers 404 to
    /// the others'.
    pub fn with_api_version(self, version: ApiVersion) -> MockHubSpot {
        MockHubSpot { version, ..self }
    }

    /// Starts with this fault plan (see [`faults`]).
    pub fn with_faults(self, faults: faults::Faults) -> MockHubSpot {
        MockHubSpot { faults, ..self }
    }

    /// Makes every answer wait this long first (slow-upstream tests). The wait parks
    /// the coroutine, not the worker thread.
    pub fn with_latency(self, latency: Duration) -> MockHubSpot {
        MockHubSpot { latency, ..self }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, ObjectTables> {
        // A panic elsewhere cannot leave a record half-written, so a poisoned lock is fine.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn meta(&self) -> std::sync::MutexGuard<'_, Meta> {
        self.meta.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn links(&self) -> std::sync::MutexGuard<'_, Links> {
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Handler for MockHubSpot {
    fn handle(&self, req: &Request) -> Response {
        self.faults.handle(req, || self.answer(req))
    }
}

impl MockHubSpot {
    /// The answer of the fake HubSpot itself (faults aside).
    fn answer(&self, req: &Request) -> Response {
        if !self.latency.is_zero() {
            crate::runtime::timer::sleep(self.latency);
        }
        if req.bearer_token().is_none_or(str::is_empty) {
            return error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            );
        }
        let Some((endpoint, params)) = paths::route(self.version, req.method, req.path) else {
            return self.no_route(req);
        };
        let p = |i: usize| params.get(i).copied().unwrap_or_default();
        match endpoint {
            Endpoint::ListObjects => self.list(req, p(0)),
            Endpoint::CreateObject => self.create(req, p(0)),
            Endpoint::SearchObjects => self.search(req, p(0)),
            Endpoint::GetObject => self.get(req, p(0), p(1)),
            Endpoint::UpdateObject => self.update(req, p(0), p(1)),
            Endpoint::ArchiveObject => self.archive(p(0), p(1)),
            Endpoint::BatchObjects => self.batch(p(0), p(1), req.body),
            Endpoint::ListAssociations => {
                let store = self.store();
                self.links().list(req, &store, p(0), p(1), p(2))
            }
            Endpoint::ReadAssociations => {
                let store = self.store();
                self.links().batch_read(&store, p(0), p(1), req.body)
            }
            Endpoint::CreateDefaultAssociation => {
                let store = self.store();
                self.links()
                    .create_default(&store, (p(0), p(1)), (p(2), p(3)))
            }
            Endpoint::CreateLabeledAssociation => {
                let store = self.store();
                self.links()
                    .create_labeled(&store, (p(0), p(1)), (p(2), p(3)), req.body)
            }
            Endpoint::AssociationLabels => {
                let store = self.store();
                self.links().labels(&store, p(0), p(1))
            }
            Endpoint::ListOwners => self.meta().owners(req),
            Endpoint::GetOwner => self.meta().owner(p(0)),
            Endpoint::ListPipelines => self.meta().pipelines(p(0)),
            Endpoint::GetPipeline => self.meta().pipeline(p(0), p(1)),
            Endpoint::ListProperties => {
                let known = self.store().table(p(0)).is_some();
                self.meta().properties(p(0), known)
            }
            Endpoint::GetProperty => self.meta().property(p(0), p(1)),
            Endpoint::CreateProperty => {
                let known = self.store().table(p(0)).is_some();
                self.meta().create_property(p(0), req.body, known)
            }
            Endpoint::UpdateProperty => self.meta().update_property(p(0), p(1), req.body),
            Endpoint::ListWorkflows => self.meta().workflows(req),
            Endpoint::GetWorkflow => self.meta().workflow(p(0)),
            Endpoint::AccountDetails => self.meta().account(),
            Endpoint::TokenInfo => self.meta().token_info(req.body),
        }
    }

    /// The 404 for a path this mock does not serve, saying when it is another HubSpot
    /// API version's path (so a client calling the wrong scheme fails loudly).
    fn no_route(&self, req: &Request) -> Response {
        let other = ApiVersion::ALL
            .into_iter()
            .find(|v| paths::route(*v, req.method, req.path).is_some());
        let why = match other {
            Some(other) => format!(
                ": that is the HubSpot API version {other} path, and this mock serves {} (HUBSPOT_API_VERSION / --api-version)",
                self.version
            ),
            None => String::new(),
        };
        error(
            404,
            "OBJECT_NOT_FOUND",
            &format!(
                "No route for {} {} in this mock HubSpot{why}",
                req.method, req.path
            ),
        )
    }
}

impl MockHubSpot {
    /// `GET /crm/v3/objects/{type}`: one page, cursor = the next record's id.
    fn list(&self, req: &Request, ty: &str) -> Response {
        let limit = match req.query_param("limit") {
            None => 10,
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n @ 1..=MAX_LIST_LIMIT) => n,
                _ => {
                    return validation(&format!(
                        "limit must be an integer from 1 to {MAX_LIST_LIMIT} (got {text:?})"
                    ))
                }
            },
        };
        let from = match req.query_param("after").filter(|a| !a.is_empty()) {
            None => 0,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(id) => id,
                Err(_) => return validation(&format!("after is not a valid cursor: {text:?}")),
            },
        };
        let archived = req.query_param("archived").as_deref() == Some("true");
        let asked = query_list(req.query, "properties");
        let store = self.store();
        let Some(table) = store.table(ty) else {
            return unknown_type(ty);
        };
        let mut page = table.starting_at(from, archived).take(limit + 1);
        let results: Vec<Value> = page
            .by_ref()
            .take(limit)
            .map(|r| shown(r, ty, &asked))
            .collect();
        let mut body = json!({ "results": results });
        if let Some(next) = page.next() {
            let after = next.id.to_string();
            let link = next_link(req, &after);
            body["paging"] = json!({ "next": { "after": after, "link": link } });
        }
        Response::json(200, &body)
    }

    /// `GET /crm/v3/objects/{type}/{id}`, optionally by another unique property.
    fn get(&self, req: &Request, ty: &str, id: &str) -> Response {
        let asked = query_list(req.query, "properties");
        let id_property = req.query_param("idProperty");
        let store = self.store();
        let Some(table) = store.table(ty) else {
            return unknown_type(ty);
        };
        match find(table, ty, id, id_property.as_deref()) {
            Ok(record) => Response::json(200, &shown(record, ty, &asked)),
            Err(response) => response,
        }
    }

    /// `POST /crm/v3/objects/{type}`: 201 with the new record; 409 on a duplicate
    /// contact email.
    fn create(&self, req: &Request, ty: &str) -> Response {
        let properties = match body_properties(req.body) {
            Ok(p) => p,
            Err(response) => return response,
        };
        let mut store = self.store();
        let Some(table) = store.table_mut(ty) else {
            return unknown_type(ty);
        };
        if let Err(response) = self.meta().check_values(ty, &properties) {
            return response;
        }
        if let Err(response) = check_contact(ty, table, &properties, None) {
            return response;
        }
        let record = table.create(properties, &now_rfc3339());
        Response::json(201, &record.to_json(|_| true))
    }

    /// `PATCH /crm/v3/objects/{type}/{id}`: sets the given properties.
    fn update(&self, req: &Request, ty: &str, id: &str) -> Response {
        let changes = match body_properties(req.body) {
            Ok(p) => p,
            Err(response) => return response,
        };
        let id_property = req.query_param("idProperty");
        let mut store = self.store();
        let Some(table) = store.table_mut(ty) else {
            return unknown_type(ty);
        };
        let id = match find(table, ty, id, id_property.as_deref()) {
            Ok(record) => record.id,
            Err(response) => return response,
        };
        if let Err(response) = self.meta().check_values(ty, &changes) {
            return response;
        }
        if let Err(response) = check_contact(ty, table, &changes, Some(id)) {
            return response;
        }
        match table.update(id, changes, &now_rfc3339()) {
            Some(record) => Response::json(200, &record.to_json(|_| true)),
            None => not_found(ty, &format!("id {id}")),
        }
    }

    /// `DELETE /crm/v3/objects/{type}/{id}`: archives the record, 204.
    fn archive(&self, ty: &str, id: &str) -> Response {
        let mut store = self.store();
        let Some(table) = store.table_mut(ty) else {
            return unknown_type(ty);
        };
        match id.parse::<u64>() {
            Ok(n) if table.archive(n, &now_rfc3339()) => Response::empty(204),
            _ => not_found(ty, &format!("id {}", decode(id, false))),
        }
    }

    /// `POST /crm/v3/objects/{type}/search`: `{total, results, paging?}`.
    fn search(&self, req: &Request, ty: &str) -> Response {
        let body = if req.body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            match serde_json::from_slice::<Value>(req.body) {
                Ok(body) => body,
                Err(e) => return validation(&format!("Invalid input JSON: {e}")),
            }
        };
        let search = match Search::parse(&body) {
            Ok(search) => search,
            Err(message) => return validation(&message),
        };
        let store = self.store();
        let Some(table) = store.table(ty) else {
            return unknown_type(ty);
        };
        let searchable = searchable_properties(ty);
        let mut hits: Vec<&Record> = table
            .live()
            .filter(|r| search.matches(r, searchable))
            .collect();
        search.sort(&mut hits);
        let results: Vec<Value> = hits
            .iter()
            .skip(search.after)
            .take(search.limit)
            .map(|r| shown(r, ty, &search.properties))
            .collect();
        let mut body = json!({ "total": hits.len(), "results": results });
        let next = search.after + search.limit;
        if search.limit > 0 && next < hits.len() {
            body["paging"] = json!({ "next": { "after": next.to_string() } });
        }
        Response::json(200, &body)
    }
}

/// One page of `items` with HubSpot's `limit` (1..=`max`, default 10) and an `after`
/// cursor that is the offset of the page's first item: `{results, paging?}`.
fn offset_page<T>(req: &Request, items: &[T], max: usize, show: impl Fn(&T) -> Value) -> Response {
    let limit = match req.query_param("limit") {
        None => 10.min(max),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return validation(&format!(
                    "limit must be an integer from 1 to {max} (got {text:?})"
                ))
            }
        },
    };
    let after = match req.query_param("after").filter(|a| !a.is_empty()) {
        None => 0,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) => n,
            Err(_) => return validation(&format!("after is not a valid cursor: {text:?}")),
        },
    };
    let results: Vec<Value> = items.iter().skip(after).take(limit).map(show).collect();
    let mut body = json!({ "results": results });
    if after + limit < items.len() {
        let next = (after + limit).to_string();
        let link = next_link(req, &next);
        body["paging"] = json!({ "next": { "after": next, "link": link } });
    }
    Response::json(200, &body)
}

/// The live record named by `id`: an object id, or a value of `id_property`.
fn find<'t>(
    table: &'t store::Table,
    ty: &str,
    id: &str,
    id_property: Option<&str>,
) -> Result<&'t Record, Response> {
    let id = decode(id, false);
    let found = match id_property.filter(|p| *p != "hs_object_id") {
        Some(property) => table.find_by(property, &id),
        None => id.parse::<u64>().ok().and_then(|n| table.get(n)),
    };
    let by = id_property.unwrap_or("id");
    found.ok_or_else(|| not_found(ty, &format!("{by} {id}")))
}

/// For contacts, rejects an email that is malformed or belongs to another contact.
fn check_contact(
    ty: &str,
    table: &store::Table,
    properties: &Properties,
    own_id: Option<u64>,
) -> Result<(), Response> {
    if store::canonical_type(ty) != "contacts" {
        return Ok(());
    }
    let Some(email) = properties.get("email").filter(|e| !e.is_empty()) else {
        return Ok(());
    };
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.contains('@')
    }) && !email.contains(char::is_whitespace);
    if !valid {
        let detail = json!([{"isValid": false, "message": format!("Email address {email} is invalid"),
            "error": "INVALID_EMAIL", "name": "email"}]);
        return Err(validation(&format!(
            "Property values were not valid: {detail}"
        )));
    }
    match table.find_by("email", email) {
        Some(existing) if Some(existing.id) != own_id => Err(error(
            409,
            "CONFLICT",
            &format!("Contact already exists. Existing ID: {}", existing.id),
        )),
        _ => Ok(()),
    }
}

/// The `properties` object of a create/update body, every value as a string.
fn body_properties(body: &[u8]) -> Result<Properties, Response> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| validation(&format!("Invalid input JSON: {e}")))?;
    let Some(Value::Object(given)) = body.get("properties") else {
        return Err(validation(
            "The request body must be a JSON object with a \"properties\" object",
        ));
    };
    let mut properties = Properties::new();
    for (name, value) in given {
        let text = match value {
            Value::Null => String::new(),
            other => property_string(other).ok_or_else(|| {
                validation(&format!(
                    "Property values were not valid: {name} must be a string, number or boolean"
                ))
            })?,
        };
        if !SYSTEM_PROPERTIES.contains(&name.as_str()) {
            properties.insert(name.clone(), text);
        }
    }
    Ok(properties)
}

/// The properties answered when none are asked for: the catalog's for the type.
fn default_properties(ty: &str) -> Option<&'static [&'static str]> {
    crate::catalog::object_type(ty).map(|o| o.default_properties)
}

/// The properties a free-text `query` looks at (`None`: all of them).
fn searchable_properties(ty: &str) -> Option<&'static [&'static str]> {
    match store::canonical_type(ty) {
        "contacts" => Some(&["firstname", "lastname", "email", "phone", "company"]),
        "companies" => Some(&["name", "domain", "website"]),
        "deals" => Some(&["dealname"]),
        "tickets" => Some(&["subject", "content"]),
        "notes" => Some(&["hs_note_body"]),
        "tasks" => Some(&["hs_task_subject", "hs_task_body"]),
        _ => None,
    }
}

/// A record with the asked properties (or the type's defaults) plus the system ones.
fn shown(record: &Record, ty: &str, asked: &[String]) -> Value {
    let defaults = default_properties(ty);
    record.to_json(|name| {
        SYSTEM_PROPERTIES.contains(&name)
            || if asked.is_empty() {
                defaults.is_none_or(|d| d.contains(&name))
            } else {
                asked.iter().any(|a| a == name)
            }
    })
}

/// All values of a repeatable, comma-separated query parameter (`properties=a,b&properties=c`).
fn query_list(query: &str, name: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| decode(key, true) == name)
        .flat_map(|(_, value)| {
            decode(value, true)
                .split(',')
                .map(|p| p.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// The list's `paging.next.link`: this request with `after` replaced.
fn next_link(req: &Request, after: &str) -> String {
    let mut query: Vec<&str> = req
        .query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("after"))
        .collect();
    let after = format!("after={after}");
    query.push(&after);
    let base = req
        .header("host")
        .map(|host| format!("http://{host}"))
        .unwrap_or_default();
    format!("{base}{}?{}", req.path, query.join("&"))
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, for query strings).
fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
        match bytes[i] {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A HubSpot error body: `{status, message, correlationId, category}`.
fn error(status: u16, category: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({
            "status": "error",
            "message": message,
            "correlationId": correlation_id(),
            "category": category,
        }),
    )
}

fn validation(message: &str) -> Response {
    error(400, "VALIDATION_ERROR", message)
}

fn unknown_type(ty: &str) -> Response {
    error(
        404,
        "OBJECT_NOT_FOUND",
        &format!("Unable to infer object type from: {ty}"),
    )
}

fn not_found(ty: &str, which: &str) -> Response {
    error(
        404,
        "OBJECT_NOT_FOUND",
        &format!("Object not found: no {ty} record with {which}"),
    )
}

/// A random-looking UUID (v4 layout) for `correlationId`, from the clock and a counter.
fn correlation_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let a = mix(nanos ^ COUNTER.fetch_add(1, Ordering::Relaxed).rotate_left(32));
    let b = mix(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// splitmix64's finalizer: spreads every input bit over the output.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests;
