//! The mock's account-level data, each from an optional fixture file: owners
//! (`owners.json`), pipelines (`pipelines.json`, by object type), property definitions
//! (`properties.json`, by object type; they also validate record writes), workflows
//! (`workflows.json`) and the account and token details (`account.json`).

use super::store::{canonical_type, Properties, SYSTEM_PROPERTIES};
use super::{error, not_found, offset_page, validation};
use crate::catalog::PROPERTY_TYPES;
use crate::http::{Request, Response};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The fixture files this module reads; the object store skips them.
pub const FILES: [&str; 6] = [
    "owners",
    "pipelines",
    "properties",
    "workflows",
    "account",
    "associations",
];

/// Owners, pipelines, properties, workflows and account details.
#[derive(Default)]
pub struct Meta {
    owners: Vec<Value>,
    pipelines: Map<String, Value>,
    properties: BTreeMap<String, Vec<Value>>,
    workflows: Vec<Value>,
    account: Option<Value>,
}

/// Reads `<name>.json` in `dir`: `None` when the file does not exist.
pub fn read_optional(dir: &Path, name: &str) -> Result<Option<Value>, String> {
    let path = dir.join(format!("{name}.json"));
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: invalid JSON: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn array(value: Option<Value>, what: &str) -> Result<Vec<Value>, String> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{what}.json must be a JSON array")),
    }
}

fn object(value: Option<Value>, what: &str) -> Result<Map<String, Value>, String> {
    match value {
        None => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(format!(
            "{what}.json must be a JSON object keyed by object type"
        )),
    }
}

impl Meta {
    /// Loads whichever of the files exist in `dir`.
    pub fn load(dir: &Path) -> Result<Meta, String> {
        let mut properties = BTreeMap::new();
        for (ty, defs) in object(read_optional(dir, "properties")?, "properties")? {
            let Value::Array(defs) = defs else {
                return Err(format!("properties.json: {ty} must be an array"));
            };
            properties.insert(canonical_type(&ty).to_string(), defs);
        }
        Ok(Meta {
            owners: array(read_optional(dir, "owners")?, "owners")?,
            pipelines: object(read_optional(dir, "pipelines")?, "pipelines")?,
            properties,
            workflows: array(read_optional(dir, "workflows")?, "workflows")?,
            account: read_optional(dir, "account")?,
        })
    }

    /// `GET /crm/v3/owners?limit&after&email`.
    pub fn owners(&self, req: &Request) -> Response {
        let email = req.query_param("email");
        let owners: Vec<&Value> = self
            .owners
            .iter()
            .filter(|o| {
                email.as_deref().is_none_or(|e| {
                    o["email"]
                        .as_str()
                        .is_some_and(|x| x.eq_ignore_ascii_case(e))
                })
            })
            .collect();
        offset_page(req, &owners, 100, |o| (*o).clone())
    }

    /// `GET /crm/v3/owners/{id}`.
    pub fn owner(&self, id: &str) -> Response {
        match self.owners.iter().find(|o| o["id"] == id) {
            Some(owner) => Response::json(200, owner),
            None => not_found("owners", &format!("id {id}")),
        }
    }

    /// `GET /crm/v3/pipelines/{type}`.
    pub fn pipelines(&self, ty: &str) -> Response {
        match self.pipelines_of(ty) {
            Some(list) => Response::json(200, &json!({ "results": list })),
            None => pipeline_type_error(ty),
        }
    }

    /// `GET /crm/v3/pipelines/{type}/{id}`.
    pub fn pipeline(&self, ty: &str, id: &str) -> Response {
        let Some(list) = self.pipelines_of(ty) else {
            return pipeline_type_error(ty);
        };
        match list.iter().find(|p| p["id"] == id) {
            Some(pipeline) => Response::json(200, pipeline),
            None => not_found("pipelines", &format!("id {id}")),
        }
    }

    fn pipelines_of(&self, ty: &str) -> Option<&Vec<Value>> {
        let ty = canonical_type(ty);
        self.pipelines.get(ty).and_then(Value::as_array)
    }

    /// `GET /crm/v3/properties/{type}` (`known`: the type exists in the store).
    pub fn properties(&self, ty: &str, known: bool) -> Response {
        match self.properties.get(canonical_type(ty)) {
            Some(defs) => Response::json(200, &json!({ "results": defs })),
            None if known => Response::json(200, &json!({ "results": [] })),
            None => super::unknown_type(ty),
        }
    }

    /// `GET /crm/v3/properties/{type}/{name}`.
    pub fn property(&self, ty: &str, name: &str) -> Response {
        match self.find_property(ty, name) {
            Some(def) => Response::json(200, def),
            None => property_missing(ty, name),
        }
    }

    fn find_property(&self, ty: &str, name: &str) -> Option<&Value> {
        self.properties
            .get(canonical_type(ty))?
            .iter()
            .find(|d| d["name"] == name)
    }

    /// `POST /crm/v3/properties/{type}`: 201, or 409 when the name is taken.
    pub fn create_property(&mut self, ty: &str, body: &[u8], known: bool) -> Response {
        if !known {
            return super::unknown_type(ty);
        }
        let def = match property_body(body, true) {
            Ok(def) => def,
            Err(response) => return response,
        };
        let name = def["name"].as_str().unwrap_or_default().to_string();
        if self.find_property(ty, &name).is_some() {
            return error(
                409,
                "OBJECT_ALREADY_EXISTS",
                &format!("A property named '{name}' already exists."),
            );
        }
        let mut def = Value::Object(def);
        for (key, default) in [
            ("description", json!("")),
            ("options", json!([])),
            ("hidden", json!(false)),
            ("formField", json!(false)),
            ("calculated", json!(false)),
            ("hasUniqueValue", json!(false)),
            ("hubspotDefined", json!(false)),
            ("displayOrder", json!(-1)),
        ] {
            if def.get(key).is_none() {
                def[key] = default;
            }
        }
        self.properties
            .entry(canonical_type(ty).to_string())
            .or_default()
            .push(def.clone());
        Response::json(201, &def)
    }

    /// `PATCH /crm/v3/properties/{type}/{name}`: changes label, description, options...
    pub fn update_property(&mut self, ty: &str, name: &str, body: &[u8]) -> Response {
        let changes = match property_body(body, false) {
            Ok(changes) => changes,
            Err(response) => return response,
        };
        if changes.contains_key("name") {
            return validation("A property's name cannot be changed");
        }
        let Some(def) = self
            .properties
            .get_mut(canonical_type(ty))
            .and_then(|defs| defs.iter_mut().find(|d| d["name"] == name))
        else {
            return property_missing(ty, name);
        };
        if def["hubspotDefined"] == true && changes.contains_key("type") {
            return validation(&format!(
                "The type of HubSpot-defined property '{name}' cannot be changed"
            ));
        }
        for (key, value) in changes {
            def[key] = value;
        }
        Response::json(200, def)
    }

    /// Checks written property values against the type's definitions (when the fixtures
    /// have them): every property must exist, enumeration values must be options, numbers
    /// must be numbers. The error lists every bad property as HubSpot does.
    pub fn check_values(&self, ty: &str, values: &Properties) -> Result<(), Response> {
        let Some(defs) = self.properties.get(canonical_type(ty)) else {
            return Ok(());
        };
        let mut problems = Vec::new();
        for (name, value) in values {
            if SYSTEM_PROPERTIES.contains(&name.as_str()) || value.is_empty() {
                continue;
            }
            let Some(def) = defs.iter().find(|d| d["name"] == name.as_str()) else {
                problems.push(json!({"isValid": false, "message": format!("Property \"{name}\" does not exist"),
                    "error": "PROPERTY_DOESNT_EXIST", "name": name}));
                continue;
            };
            let options: Vec<&str> = def["options"]
                .as_array()
                .map(|o| o.iter().filter_map(|o| o["value"].as_str()).collect())
                .unwrap_or_default();
            let bad_option = def["type"] == "enumeration"
                && !options.is_empty()
                && value.split(';').any(|v| !options.contains(&v));
            if bad_option {
                problems.push(json!({"isValid": false,
                    "message": format!("{value} was not one of the allowed options: [{}]", options.join(", ")),
                    "error": "INVALID_OPTION", "name": name}));
            } else if def["type"] == "number" && value.trim().parse::<f64>().is_err() {
                problems.push(json!({"isValid": false,
                    "message": format!("{value} is not a valid number"),
                    "error": "INVALID_INTEGER", "name": name}));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(validation(&format!(
                "Property values were not valid: {}",
                Value::Array(problems)
            )))
        }
    }

    /// `GET /automation/v4/flows?limit&after`: summaries without actions.
    pub fn workflows(&self, req: &Request) -> Response {
        let flows: Vec<&Value> = self.workflows.iter().collect();
        offset_page(req, &flows, 100, |flow| {
            let mut summary = (*flow).clone();
            if let Value::Object(map) = &mut summary {
                map.remove("actions");
                map.remove("enrollmentCriteria");
            }
            summary
        })
    }

    /// `GET /automation/v4/flows/{id}`.
    pub fn workflow(&self, id: &str) -> Response {
        match self.workflows.iter().find(|f| f["id"] == id) {
            Some(flow) => Response::json(200, flow),
            None => not_found("flows", &format!("id {id}")),
        }
    }

    /// `GET /account-info/v3/details`.
    pub fn account(&self) -> Response {
        match &self.account {
            Some(account) => {
                let mut details = account.clone();
                if let Value::Object(map) = &mut details {
                    map.remove("token");
                }
                Response::json(200, &details)
            }
            None => not_found("account", "these fixtures (no account.json)"),
        }
    }

    /// `POST /oauth/v2/private-apps/get/access-token-info` `{tokenKey}`: the token's
    /// user, hub (portal), app and scopes. The mock accepts any token it is given.
    pub fn token_info(&self, body: &[u8]) -> Response {
        let key = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|b| b.get("tokenKey")?.as_str().map(str::to_string))
            .filter(|k| !k.is_empty());
        if key.is_none() {
            return validation("tokenKey is required: the private app access token to describe");
        }
        let Some(account) = &self.account else {
            return not_found("account", "these fixtures (no account.json)");
        };
        let token = &account["token"];
        Response::json(
            200,
            &json!({
                "userId": token["userId"],
                "hubId": account["portalId"],
                "appId": token["appId"],
                "userEmail": token["userEmail"],
                "scopes": token["scopes"],
                "trialScopes": [],
                "trialScopeToScopeGroupPks": []
            }),
        )
    }
}

/// The fields a property definition may carry; `complete` requires the ones a create needs.
fn property_body(body: &[u8], complete: bool) -> Result<Map<String, Value>, Response> {
    const FIELDS: [&str; 9] = [
        "name",
        "label",
        "type",
        "fieldType",
        "groupName",
        "description",
        "options",
        "hidden",
        "formField",
    ];
    let Ok(Value::Object(def)) = serde_json::from_slice::<Value>(body) else {
        return Err(validation("The request body must be a JSON object"));
    };
    if let Some(key) = def.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(validation(&format!(
            "Unknown field {key:?}; a property takes {}",
            FIELDS.join(", ")
        )));
    }
    if complete {
        let missing: Vec<&str> = FIELDS[..5]
            .iter()
            .copied()
            .filter(|f| {
                def.get(*f)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            })
            .collect();
        if !missing.is_empty() {
            return Err(validation(&format!(
                "Missing required fields: {}",
                missing.join(", ")
            )));
        }
        let name = def["name"].as_str().unwrap_or_default();
        let valid = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && name.starts_with(|c: char| c.is_ascii_lowercase());
        if !valid {
            return Err(validation(&format!(
                "Property name {name:?} must start with a lowercase letter and hold only lowercase letters, digits and _"
            )));
        }
    }
    if let Some(ty) = def.get("type") {
        if !ty.as_str().is_some_and(|t| PROPERTY_TYPES.contains(&t)) {
            return Err(validation(&format!(
                "type must be one of {}, got {ty}",
                PROPERTY_TYPES.join(", ")
            )));
        }
    }
    Ok(def)
}

fn property_missing(ty: &str, name: &str) -> Response {
    error(
        404,
        "OBJECT_NOT_FOUND",
        &format!("Unable to find property {name} for object type {ty}"),
    )
}

fn pipeline_type_error(ty: &str) -> Response {
    validation(&format!(
        "Object type {ty} has no pipelines; pipelines exist for deals and tickets"
    ))
}
