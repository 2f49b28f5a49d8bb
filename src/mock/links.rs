//! The mock's associations (CRM v4): the association types between two object types
//! (`definitions` in `associations.json`, each with the type id of its inverse) and the
//! links between records (`links`). A link is kept in both directions, so reading from
//! either record finds it with the association types seen from that side.

use super::store::{canonical_type, type_id, ObjectTables};
use super::{not_found, offset_page, unknown_type, validation};
use crate::http::{Request, Response};
use serde_json::{json, Value};
use std::path::Path;

/// The most links one page holds (a list's `limit` maximum; a batch read's page).
const BATCH_PAGE: usize = 500;

/// One association type from one object type to another.
struct Definition {
    from: String,
    to: String,
    category: String,
    type_id: u64,
    label: Option<String>,
    inverse: u64,
}

/// One directed link between two records, with its association type ids.
struct Link {
    from: String,
    from_id: u64,
    to: String,
    to_id: u64,
    type_ids: Vec<u64>,
}

/// All association types and links.
#[derive(Default)]
pub struct Links {
    definitions: Vec<Definition>,
    links: Vec<Link>,
}

impl Links {
    /// Loads `associations.json` (`{definitions: [...], links: [...]}`) if it exists.
    pub fn load(dir: &Path) -> Result<Links, String> {
        let mut links = Links::default();
        let Some(file) = super::meta::read_optional(dir, "associations")? else {
            return Ok(links);
        };
        let bad = |what: &str| format!("associations.json: {what}");
        for def in file["definitions"].as_array().into_iter().flatten() {
            let text = |k: &str| def[k].as_str().map(|s| canonical_type(s).to_string());
            links.definitions.push(Definition {
                from: text("from").ok_or_else(|| bad("a definition needs \"from\""))?,
                to: text("to").ok_or_else(|| bad("a definition needs \"to\""))?,
                category: def["category"]
                    .as_str()
                    .unwrap_or("HUBSPOT_DEFINED")
                    .to_string(),
                type_id: def["typeId"]
                    .as_u64()
                    .ok_or_else(|| bad("a definition needs a numeric \"typeId\""))?,
                label: def["label"].as_str().map(str::to_string),
                inverse: def["inverseTypeId"]
                    .as_u64()
                    .ok_or_else(|| bad("a definition needs a numeric \"inverseTypeId\""))?,
            });
        }
        for link in file["links"].as_array().into_iter().flatten() {
            let id = |k: &str| link[k].as_str().and_then(|s| s.parse::<u64>().ok());
            let ty = |k: &str| link[k].as_str().map(|s| canonical_type(s).to_string());
            let (Some(from), Some(from_id), Some(to), Some(to_id)) =
                (ty("from"), id("fromId"), ty("to"), id("toId"))
            else {
                return Err(bad("a link needs from, fromId, to and toId"));
            };
            let type_ids: Vec<u64> = link["typeIds"]
                .as_array()
                .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            links.add(&from, from_id, &to, to_id, &type_ids);
        }
        Ok(links)
    }

    /// The association types from `from` to `to`: those defined in that direction, and
    /// the inverses of those defined the other way.
    fn types(&self, from: &str, to: &str) -> Vec<(u64, &str, Option<&str>)> {
        let mut out = Vec::new();
        for d in &self.definitions {
            if d.from == from && d.to == to {
                out.push((d.type_id, d.category.as_str(), d.label.as_deref()));
            } else if d.from == to && d.to == from {
                out.push((d.inverse, d.category.as_str(), d.label.as_deref()));
            }
        }
        out
    }

    /// The type id seen from the other side.
    fn inverse(&self, from: &str, to: &str, type_id: u64) -> u64 {
        self.definitions
            .iter()
            .find_map(|d| {
                if d.from == from && d.to == to && d.type_id == type_id {
                    Some(d.inverse)
                } else if d.from == to && d.to == from && d.inverse == type_id {
                    Some(d.type_id)
                } else {
                    None
                }
            })
            .unwrap_or(type_id)
    }

    /// Adds (or extends) the link both ways.
    fn add(&mut self, from: &str, from_id: u64, to: &str, to_id: u64, type_ids: &[u64]) {
        let inverse: Vec<u64> = type_ids
            .iter()
            .map(|t| self.inverse(from, to, *t))
            .collect();
        self.add_one(from, from_id, to, to_id, type_ids);
        self.add_one(to, to_id, from, from_id, &inverse);
    }

    fn add_one(&mut self, from: &str, from_id: u64, to: &str, to_id: u64, type_ids: &[u64]) {
        let existing = self
            .links
            .iter_mut()
            .find(|l| l.from == from && l.from_id == from_id && l.to == to && l.to_id == to_id);
        let link = match existing {
            Some(link) => link,
            None => {
                self.links.push(Link {
                    from: from.to_string(),
                    from_id,
                    to: to.to_string(),
                    to_id,
                    type_ids: Vec::new(),
                });
                self.links.last_mut().expect("just pushed")
            }
        };
        for t in type_ids {
            if !link.type_ids.contains(t) {
                link.type_ids.push(*t);
            }
        }
    }

    /// `GET /crm/v4/associations/{from}/{to}/labels`.
    pub fn labels(&self, store: &ObjectTables, from: &str, to: &str) -> Response {
        if let Err(response) = known_types(store, from, to) {
            return response;
        }
        let results: Vec<Value> = self
            .types(canonical_type(from), canonical_type(to))
            .into_iter()
            .map(
                |(id, category, label)| json!({"category": category, "typeId": id, "label": label}),
            )
            .collect();
        Response::json(200, &json!({ "results": results }))
    }

    /// `GET /crm/v4/objects/{from}/{id}/associations/{to}`: one page of linked records.
    pub fn list(
        &self,
        req: &Request,
        store: &ObjectTables,
        from: &str,
        id: &str,
        to: &str,
    ) -> Response {
        match self.linked(store, from, id, to) {
            Ok(items) => offset_page(req, &items, BATCH_PAGE, Value::clone),
            Err(response) => response,
        }
    }

    /// `POST .../associations/{from}/{to}/batch/read` with `{inputs: [{id, after?}]}`:
    /// each record's links, [`BATCH_PAGE`] at a time (`paging.next.after` when more); ids
    /// that are not live records go to `errors` and make the status 207, like HubSpot's.
    pub fn batch_read(&self, store: &ObjectTables, from: &str, to: &str, body: &[u8]) -> Response {
        if let Err(response) = known_types(store, from, to) {
            return response;
        }
        let inputs = match serde_json::from_slice::<Value>(body) {
            Ok(body) => body["inputs"].as_array().cloned().unwrap_or_default(),
            Err(e) => return validation(&format!("Invalid input JSON: {e}")),
        };
        let (mut results, mut errors) = (Vec::new(), Vec::new());
        for input in &inputs {
            let id = match &input["id"] {
                Value::String(id) => id.clone(),
                other => other.to_string(),
            };
            let after = input["after"]
                .as_str()
                .and_then(|a| a.parse::<usize>().ok());
            let items = match self.linked(store, from, &id, to) {
                Ok(items) => items,
                Err(_) => {
                    errors.push(json!({"status": "error", "category": "OBJECT_NOT_FOUND",
                        "message": format!("Object not found: no {from} record with id {id}"),
                        "context": {"id": [id]}}));
                    continue;
                }
            };
            let start = after.unwrap_or(0).min(items.len());
            let end = (start + BATCH_PAGE).min(items.len());
            let mut result = json!({"from": {"id": id}, "to": items[start..end]});
            if end < items.len() {
                result["paging"] = json!({"next": {"after": end.to_string()}});
            }
            results.push(result);
        }
        let mut answer = json!({"status": "COMPLETE", "results": results});
        let status = if errors.is_empty() {
            200
        } else {
            answer["numErrors"] = json!(errors.len());
            answer["errors"] = json!(errors);
            207
        };
        Response::json(status, &answer)
    }

    /// The links of one record to records of type `to`, as HubSpot lists them
    /// (`{toObjectId, associationTypes}`), by `toObjectId`.
    fn linked(
        &self,
        store: &ObjectTables,
        from: &str,
        id: &str,
        to: &str,
    ) -> Result<Vec<Value>, Response> {
        let from_id = live_id(store, from, id)?;
        if store.table(to).is_none() {
            return Err(unknown_type(to));
        }
        let (from, to) = (canonical_type(from), canonical_type(to));
        let types = self.types(from, to);
        let mut found: Vec<&Link> = self
            .links
            .iter()
            .filter(|l| l.from == from && l.from_id == from_id && l.to == to)
            .filter(|l| store.table(to).and_then(|t| t.get(l.to_id)).is_some())
            .collect();
        found.sort_by_key(|l| l.to_id);
        Ok(found
            .iter()
            .map(|link| {
                let association_types: Vec<Value> = link
                    .type_ids
                    .iter()
                    .map(|t| {
                        let (category, label) = types
                            .iter()
                            .find(|(id, _, _)| id == t)
                            .map_or(("HUBSPOT_DEFINED", None), |(_, c, l)| (*c, *l));
                        json!({"category": category, "typeId": t, "label": label})
                    })
                    .collect();
                json!({"toObjectId": link.to_id, "associationTypes": association_types})
            })
            .collect())
    }

    /// `PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}`: links the
    /// records with the pair's default (unlabeled) association type.
    pub fn create_default(
        &mut self,
        store: &ObjectTables,
        (from, id): (&str, &str),
        (to, to_id): (&str, &str),
    ) -> Response {
        let (from_id, to_id) = match (live_id(store, from, id), live_id(store, to, to_id)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(response), _) | (_, Err(response)) => return response,
        };
        let (from, to) = (canonical_type(from), canonical_type(to));
        let Some((type_id, category)) = self
            .types(from, to)
            .into_iter()
            .find(|(_, _, label)| label.is_none())
            .map(|(id, category, _)| (id, category.to_string()))
        else {
            return validation(&format!(
                "There is no default association between {from} and {to}"
            ));
        };
        self.add(from, from_id, to, to_id, &[type_id]);
        Response::json(
            200,
            &json!({
                "status": "COMPLETE",
                "results": [{
                    "from": {"id": from_id.to_string()},
                    "to": {"id": to_id.to_string()},
                    "associationSpec": {"associationCategory": category, "associationTypeId": type_id}
                }]
            }),
        )
    }

    /// `PUT /crm/v4/objects/{from}/{id}/associations/{to}/{toId}` with a body of
    /// `[{associationCategory, associationTypeId}]`: links with those (labeled) types.
    pub fn create_labeled(
        &mut self,
        store: &ObjectTables,
        (from, id): (&str, &str),
        (to, to_id): (&str, &str),
        body: &[u8],
    ) -> Response {
        let (from_id, to_id) = match (live_id(store, from, id), live_id(store, to, to_id)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(response), _) | (_, Err(response)) => return response,
        };
        let (from, to) = (canonical_type(from), canonical_type(to));
        let Ok(Value::Array(specs)) = serde_json::from_slice::<Value>(body) else {
            return validation(
                "The body must be an array of {associationCategory, associationTypeId}",
            );
        };
        let types = self.types(from, to);
        let mut ids = Vec::new();
        for spec in &specs {
            let id = spec["associationTypeId"].as_u64();
            let category = spec["associationCategory"].as_str();
            match types
                .iter()
                .find(|(t, c, _)| Some(*t) == id && Some(*c) == category)
            {
                Some((t, _, _)) => ids.push(*t),
                None => {
                    let valid: Vec<String> = types
                        .iter()
                        .map(|(t, c, l)| format!("{c}/{t} ({})", l.unwrap_or("unlabeled")))
                        .collect();
                    return validation(&format!(
                        "Association type {spec} is not defined from {from} to {to}; valid: {}",
                        valid.join(", ")
                    ));
                }
            }
        }
        if ids.is_empty() {
            return validation("Give at least one association type");
        }
        let labels: Vec<Value> = types
            .iter()
            .filter(|(t, _, _)| ids.contains(t))
            .filter_map(|(_, _, l)| l.map(Value::from))
            .collect();
        self.add(from, from_id, to, to_id, &ids);
        Response::json(
            201,
            &json!({
                "fromObjectTypeId": type_id(from),
                "fromObjectId": from_id,
                "toObjectTypeId": type_id(to),
                "toObjectId": to_id,
                "labels": labels
            }),
        )
    }
}

/// Both object types exist.
fn known_types(store: &ObjectTables, from: &str, to: &str) -> Result<(), Response> {
    for ty in [from, to] {
        if store.table(ty).is_none() {
            return Err(unknown_type(ty));
        }
    }
    Ok(())
}

/// The id of a live record of `ty`, or the 404 to answer.
fn live_id(store: &ObjectTables, ty: &str, id: &str) -> Result<u64, Response> {
    let Some(table) = store.table(ty) else {
        return Err(unknown_type(ty));
    };
    id.parse::<u64>()
        .ok()
        .filter(|n| table.get(*n).is_some())
        .ok_or_else(|| not_found(ty, &format!("id {id}")))
}
