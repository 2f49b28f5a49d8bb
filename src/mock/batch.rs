//! Batch read, create and update (`POST /crm/v3/objects/{type}/batch/{op}`), at most 100
//! inputs each. A create batch is all or nothing (one bad input fails it, as HubSpot's
//! validation does); reads and updates of ids that do not exist answer 207 with the
//! others done and an `errors` entry naming the missing ids.

use super::store::Properties;
use super::{body_properties, check_contact, find, shown, unknown_type, validation, MockHubSpot};
use crate::http::Response;
use crate::runtime::clock::now_rfc3339;
use serde_json::{json, Value};

/// The most inputs one batch takes.
const MAX_INPUTS: usize = 100;

impl MockHubSpot {
    /// Answers one batch operation on `ty`.
    pub(super) fn batch(&self, ty: &str, op: &str, body: &[u8]) -> Response {
        let body: Value = match serde_json::from_slice(body) {
            Ok(body) => body,
            Err(e) => return validation(&format!("Invalid input JSON: {e}")),
        };
        let Some(inputs) = body.get("inputs").and_then(Value::as_array) else {
            return validation("The request body must have an \"inputs\" array");
        };
        if inputs.is_empty() || inputs.len() > MAX_INPUTS {
            return validation(&format!(
                "A batch takes 1 to {MAX_INPUTS} inputs (got {})",
                inputs.len()
            ));
        }
        match op {
            "read" => self.batch_read(ty, &body, inputs),
            "create" => self.batch_create(ty, inputs),
            "update" => self.batch_update(ty, inputs),
            _ => super::error(
                404,
                "OBJECT_NOT_FOUND",
                &format!("No batch operation {op:?}; use read, create or update"),
            ),
        }
    }

    fn batch_read(&self, ty: &str, body: &Value, inputs: &[Value]) -> Response {
        let asked: Vec<String> = body["properties"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let id_property = body["idProperty"].as_str();
        let store = self.store();
        let Some(table) = store.table(ty) else {
            return unknown_type(ty);
        };
        let mut results = Vec::new();
        let mut missing = Vec::new();
        for input in inputs {
            let Some(id) = input_id(input) else {
                return validation("Each input needs an \"id\"");
            };
            match find(table, ty, &id, id_property) {
                Ok(record) => results.push(shown(record, ty, &asked)),
                Err(_) => missing.push(id),
            }
        }
        answer(results, &missing, 200)
    }

    fn batch_create(&self, ty: &str, inputs: &[Value]) -> Response {
        let mut all: Vec<Properties> = Vec::new();
        for input in inputs {
            let properties = match body_properties(input.to_string().as_bytes()) {
                Ok(p) => p,
                Err(response) => return response,
            };
            all.push(properties);
        }
        let mut store = self.store();
        let Some(table) = store.table_mut(ty) else {
            return unknown_type(ty);
        };
        let meta = self.meta();
        for (i, properties) in all.iter().enumerate() {
            if let Err(response) = meta.check_values(ty, properties) {
                return response;
            }
            if let Err(response) = check_contact(ty, table, properties, None) {
                return response;
            }
            let email = |p: &Properties| p.get("email").map(|e| e.to_lowercase());
            let twin = email(properties)
                .filter(|e| !e.is_empty() && all[..i].iter().any(|p| email(p).as_ref() == Some(e)));
            if let Some(email) = twin.filter(|_| store_is_contacts(ty)) {
                return validation(&format!("Duplicate email in this batch: {email}"));
            }
        }
        let now = now_rfc3339();
        let results: Vec<Value> = all
            .into_iter()
            .map(|p| table.create(p, &now).to_json(|_| true))
            .collect();
        answer(results, &[], 201)
    }

    fn batch_update(&self, ty: &str, inputs: &[Value]) -> Response {
        let mut changes = Vec::new();
        for input in inputs {
            let Some(id) = input_id(input) else {
                return validation("Each input needs an \"id\"");
            };
            let properties = match body_properties(input.to_string().as_bytes()) {
                Ok(p) => p,
                Err(response) => return response,
            };
            changes.push((id, properties));
        }
        let mut store = self.store();
        let Some(table) = store.table_mut(ty) else {
            return unknown_type(ty);
        };
        let meta = self.meta();
        let mut missing = Vec::new();
        let mut found = Vec::new();
        for (id, properties) in changes {
            match id.parse::<u64>().ok().filter(|n| table.get(*n).is_some()) {
                Some(n) => {
                    if let Err(response) = meta.check_values(ty, &properties) {
                        return response;
                    }
                    if let Err(response) = check_contact(ty, table, &properties, Some(n)) {
                        return response;
                    }
                    found.push((n, properties));
                }
                None => missing.push(id),
            }
        }
        let now = now_rfc3339();
        let results: Vec<Value> = found
            .into_iter()
            .filter_map(|(n, p)| Some(table.update(n, p, &now)?.to_json(|_| true)))
            .collect();
        answer(results, &missing, 200)
    }
}

fn store_is_contacts(ty: &str) -> bool {
    super::store::canonical_type(ty) == "contacts"
}

/// An input's `id` (a string or a number).
fn input_id(input: &Value) -> Option<String> {
    match input.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `{status, results, errors?}`: 207 when some ids were missing.
fn answer(results: Vec<Value>, missing: &[String], status: u16) -> Response {
    let now = now_rfc3339();
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": now,
        "completedAt": now
    });
    if missing.is_empty() {
        return Response::json(status, &body);
    }
    body["numErrors"] = json!(1);
    body["errors"] = json!([{
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": "Could not get some objects, they may be deleted or not exist. Check that ids are valid.",
        "context": { "ids": missing }
    }]);
    Response::json(207, &body)
}
