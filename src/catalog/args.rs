//! Reading tool arguments (already checked against the tool's schema) and the schema
//! pieces many tools share.

use super::ToolError;
use crate::hubspot::encode;
use serde_json::{json, Map, Value};

/// HubSpot's largest page.
pub const MAX_LIMIT: u64 = 100;
/// The page size when none is asked.
pub const DEFAULT_LIMIT: u64 = 10;

/// The `limit` argument: a whole number from 1 to 100, default 10.
pub fn limit(args: &Map<String, Value>) -> Result<u64, ToolError> {
    let Some(value) = args.get("limit") else {
        return Ok(DEFAULT_LIMIT);
    };
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && (1.0..=MAX_LIMIT as f64).contains(&n) => Ok(n as u64),
        _ => Err(ToolError::InvalidArguments(format!(
            "argument 'limit' must be a whole number from 1 to {MAX_LIMIT}, got {value}"
        ))),
    }
}

/// A string-array argument, or empty.
pub fn string_list(args: &Map<String, Value>, name: &str) -> Vec<String> {
    args.get(name)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A string argument, `None` when absent.
pub fn text<'a>(args: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    args.get(name).and_then(Value::as_str)
}

/// A required string argument that must not be blank. Every such argument is an id that
/// becomes one segment of a HubSpot URL path (a record, flow or property id), so `.` and
/// `..` are refused too: percent-encoding leaves them as they are, and HubSpot (or any
/// proxy on the way) would read them as "this" and "the parent" path segment, turning
/// `DELETE .../contacts/{id}` into a call the tool never meant. Everything else is kept
/// and must go through [`encode`] into the path (`/`, `?`, `#` and `%` then cannot act).
pub fn required<'a>(args: &'a Map<String, Value>, name: &str) -> Result<&'a str, ToolError> {
    let value = text(args, name)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ToolError::InvalidArguments(format!("argument '{name}' must not be empty"))
        })?;
    if value == "." || value == ".." {
        return Err(ToolError::InvalidArguments(format!(
            "argument '{name}' must be an id, not '{value}'"
        )));
    }
    Ok(value)
}

/// The properties an update sets (`name` says where, for the error): at least one. An
/// update that sets nothing changes nothing and only reads the record back, so it is
/// refused before HubSpot is called.
pub fn changes<'a>(properties: Option<&'a Value>, name: &str) -> Result<&'a Value, ToolError> {
    match properties {
        Some(value @ Value::Object(set)) if !set.is_empty() => Ok(value),
        _ => Err(ToolError::InvalidArguments(format!(
            "argument '{name}' must set at least one property, such as {{\"jobtitle\": \"CEO\"}}: an update that sets nothing is refused"
        ))),
    }
}

/// An object type argument: a name (`contacts`, `p_machines`) or an id (`0-1`,
/// `2-3508482`), checked to be one path segment.
pub fn object_type<'a>(args: &'a Map<String, Value>, name: &str) -> Result<&'a str, ToolError> {
    let ty = required(args, name)?;
    if ty
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(ty)
    } else {
        Err(ToolError::InvalidArguments(format!(
            "argument '{name}' must be an object type name such as contacts or an id such as 2-3508482, got '{ty}'"
        )))
    }
}

/// Appends `&name=value` (encoded) to a query under construction.
pub fn push_query(path: &mut String, name: &str, value: &str) {
    path.push(if path.contains('?') { '&' } else { '?' });
    path.push_str(name);
    path.push('=');
    path.push_str(&encode(value));
}

/// The `limit` property of an input schema.
pub fn limit_schema(what: &str) -> Value {
    json!({
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_LIMIT,
        "default": DEFAULT_LIMIT,
        "description": format!("How many {what} to return (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}).")
    })
}

/// The `after` property of an input schema.
pub fn after_schema() -> Value {
    json!({
        "type": "string",
        "description": "The paging cursor: pass `paging.next.after` of the previous result to get the next page; leave out for the first page."
    })
}

/// The `properties` property of an input schema.
pub fn properties_schema(defaults: &str) -> Value {
    json!({
        "type": "array",
        "items": { "type": "string" },
        "maxItems": 200,
        "description": format!("Property names to return; ask only for what you need to keep the answer small. Default: {defaults}. Learn the names with get_properties.")
    })
}

/// The `objectType` property of an input schema, for tools that take any object type.
pub fn object_type_schema(role: &str) -> Value {
    json!({
        "type": "string",
        "description": format!("{role}: contacts, companies, deals, tickets, notes, tasks, another standard type name, or a custom object's type id such as 2-3508482.")
    })
}

/// The `id` property of an input schema.
pub fn id_schema(noun: &str) -> Value {
    json!({ "type": "string", "description": format!("The {noun}'s record id (hs_object_id).") })
}

/// An object input schema with `properties` and `required`. It says
/// `additionalProperties: false` because [`super::check_arguments`] refuses unknown
/// arguments: a client reading the schema learns what the server enforces.
pub fn object_schema(properties: Value, required: &[&str]) -> Value {
    let mut schema = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema["additionalProperties"] = json!(false);
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_refuse_blanks_and_dot_segments() {
        let args = |id: &str| json!({ "id": id }).as_object().cloned().unwrap();
        for bad in ["", "  ", ".", "..", " .. "] {
            assert!(
                matches!(
                    required(&args(bad), "id"),
                    Err(ToolError::InvalidArguments(_))
                ),
                "{bad:?} is refused"
            );
        }
        for good in ["101", "...", ".a", "a/..", "%2e%2e"] {
            assert_eq!(required(&args(good), "id").ok(), Some(good));
        }
    }
}
