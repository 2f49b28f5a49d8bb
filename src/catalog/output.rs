//! The output schemas of tool results (`outputSchema`, which `structuredContent` follows).
//! Every result is the HubSpot answer as JSON, so these describe HubSpot's shapes; a
//! result cut to fit the size limit also carries `truncated` (see `cap`).

use serde_json::{json, Value};

/// The note added to a result that was cut to fit the size limit.
fn truncated() -> Value {
    json!({
        "type": "object",
        "description": "Present when records were left out to keep the answer small: how many, and how to continue.",
        "properties": {
            "omitted": { "type": "integer" },
            "note": { "type": "string" },
            "after": { "type": "string" }
        }
    })
}

/// HubSpot's `paging` object: `next.after` is the cursor for the next page.
fn paging() -> Value {
    json!({
        "type": "object",
        "properties": {
            "next": {
                "type": "object",
                "properties": { "after": { "type": "string" }, "link": { "type": "string" } }
            }
        }
    })
}

/// One CRM record.
pub fn record() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": { "type": "string" },
            "properties": { "type": "object", "additionalProperties": { "type": ["string", "null"] } },
            "createdAt": { "type": "string" },
            "updatedAt": { "type": "string" },
            "archived": { "type": "boolean" }
        },
        "required": ["id", "properties"]
    })
}

/// A page of `item`s: `{results, paging?}`, plus `total` for searches.
pub fn page(item: Value, with_total: bool) -> Value {
    let mut schema = json!({
        "type": "object",
        "properties": {
            "results": { "type": "array", "items": item },
            "paging": paging(),
            "truncated": truncated()
        },
        "required": ["results"]
    });
    if with_total {
        schema["properties"]["total"] =
            json!({ "type": "integer", "description": "How many records match in all." });
        schema["required"] = json!(["total", "results"]);
    }
    schema
}

/// A batch answer: `{status, results, errors?}` (some ids missing: `errors`).
pub fn batch() -> Value {
    json!({
        "type": "object",
        "properties": {
            "status": { "type": "string" },
            "results": { "type": "array", "items": record() },
            "errors": { "type": "array", "items": { "type": "object" } },
            "truncated": truncated()
        },
        "required": ["results"]
    })
}

/// The answer of a delete: which record, now archived.
pub fn deleted() -> Value {
    json!({
        "type": "object",
        "properties": { "id": { "type": "string" }, "archived": { "type": "boolean" } },
        "required": ["id", "archived"]
    })
}

/// An object with these required fields (of any type) and no further promise.
pub fn with_fields(fields: &[&str]) -> Value {
    let properties: serde_json::Map<String, Value> =
        fields.iter().map(|f| (f.to_string(), json!({}))).collect();
    json!({ "type": "object", "properties": properties, "required": fields })
}

/// A linked record as the v4 associations API lists it.
pub fn association() -> Value {
    json!({
        "type": "object",
        "properties": {
            "toObjectId": { "type": ["integer", "string"] },
            "associationTypes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "category": { "type": "string" },
                        "typeId": { "type": "integer" },
                        "label": { "type": ["string", "null"] }
                    }
                }
            }
        },
        "required": ["toObjectId"]
    })
}
