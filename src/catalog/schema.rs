//! Checks tool arguments against a tool's JSON Schema (the subset our schemas use:
//! type (one or a list), properties, required, additionalProperties, items, enum,
//! minimum, maximum, minItems, maxItems, maxLength), with messages that name the offending
//! field.

use serde_json::{Map, Value};

/// Checks `args` against an object `schema`; the error names the field and the problem.
pub fn check_arguments(args: &Map<String, Value>, schema: &Value) -> Result<(), String> {
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if args.get(name).is_none_or(Value::is_null) {
                return Err(format!("missing required argument '{name}'"));
            }
        }
    }
    for (name, value) in args {
        let Some(prop) = props.get(name) else {
            let known: Vec<&str> = props.keys().map(String::as_str).collect();
            return Err(format!(
                "unknown argument '{name}'; this tool takes: {}",
                known.join(", ")
            ));
        };
        check_value(name, value, prop)?;
    }
    Ok(())
}

fn is_type(value: &Value, expected: &str) -> bool {
    match expected {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn check_value(path: &str, value: &Value, schema: &Value) -> Result<(), String> {
    match schema.get("type") {
        Some(Value::String(expected)) if !is_type(value, expected) => {
            return Err(format!(
                "argument '{path}' must be {} {expected}, got {}",
                article(expected),
                type_name(value)
            ));
        }
        Some(Value::Array(options)) => {
            let names: Vec<&str> = options.iter().filter_map(Value::as_str).collect();
            if !names.iter().any(|t| is_type(value, t)) {
                return Err(format!(
                    "argument '{path}' must be one of: {}; got {}",
                    names.join(", "),
                    type_name(value)
                ));
            }
        }
        _ => {}
    }
    if let Some(fields) = value.as_object() {
        check_object(path, fields, schema)?;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            let list: Vec<String> = options.iter().map(Value::to_string).collect();
            return Err(format!(
                "argument '{path}' must be one of {}",
                list.join(", ")
            ));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if n < min {
                return Err(format!("argument '{path}' must be at least {min}"));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if n > max {
                return Err(format!("argument '{path}' must be at most {max}"));
            }
        }
    }
    if let (Some(text), Some(max)) = (
        value.as_str(),
        schema.get("maxLength").and_then(Value::as_u64),
    ) {
        if text.chars().count() as u64 > max {
            return Err(format!(
                "argument '{path}' must be at most {max} characters long"
            ));
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < min {
                return Err(format!("argument '{path}' needs at least {min} items"));
            }
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if items.len() as u64 > max {
                return Err(format!("argument '{path}' takes at most {max} items"));
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check_value(&format!("{path}[{i}]"), item, item_schema)?;
            }
        }
    }
    Ok(())
}

/// Checks an object value's fields: `required`, each field's schema from `properties`,
/// and unknown fields against `additionalProperties` (false refuses them, a schema checks them).
fn check_object(path: &str, fields: &Map<String, Value>, schema: &Value) -> Result<(), String> {
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if fields.get(name).is_none_or(Value::is_null) {
                return Err(format!("argument '{path}' needs the field '{name}'"));
            }
        }
    }
    let props = schema.get("properties").and_then(Value::as_object);
    for (name, value) in fields {
        let field = format!("{path}.{name}");
        match (
            props.and_then(|p| p.get(name)),
            schema.get("additionalProperties"),
        ) {
            (Some(prop), _) => check_value(&field, value, prop)?,
            (None, Some(Value::Bool(false))) => {
                let known: Vec<&str> = props
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                return Err(format!(
                    "argument '{path}' has an unknown field '{name}'; it takes: {}",
                    known.join(", ")
                ));
            }
            (None, Some(extra @ Value::Object(_))) => check_value(&field, value, extra)?,
            (None, _) => {}
        }
    }
    Ok(())
}

fn article(type_name: &str) -> &'static str {
    if matches!(type_name, "array" | "object" | "integer") {
        "an"
    } else {
        "a"
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(args: Value) -> Result<(), String> {
        let schema = json!({
            "type": "object",
            "properties": {
                "limit": {"type": "number", "minimum": 1, "maximum": 100},
                "properties": {"type": "array", "items": {"type": "string"}},
                "email": {"type": "string", "maxLength": 12},
                "dir": {"type": "string", "enum": ["ASCENDING", "DESCENDING"]}
            },
            "required": ["email"]
        });
        check_arguments(args.as_object().unwrap(), &schema)
    }

    #[test]
    fn accepts_valid_arguments() {
        assert_eq!(
            check(json!({"email": "a@b.c", "limit": 5, "properties": ["x"]})),
            Ok(())
        );
    }

    #[test]
    fn names_the_field_in_every_error() {
        let err = |v| check(v).unwrap_err();
        assert!(err(json!({})).contains("'email'"));
        assert!(err(json!({"email": 3})).contains("'email' must be a string, got a number"));
        assert!(err(json!({"email": "x", "limit": "5"})).contains("'limit' must be a number"));
        assert!(err(json!({"email": "x", "limit": 500})).contains("at most 100"));
        assert!(err(json!({"email": "x", "properties": ["a", 1]})).contains("'properties[1]'"));
        assert!(err(json!({"email": "x", "dir": "UP"})).contains("one of"));
        assert!(err(json!({"email": "x", "phone": "1"})).contains("unknown argument 'phone'"));
        assert!(err(json!({"email": "ééééééé@b.com"})).contains("at most 12 characters"));
        assert_eq!(check(json!({"email": "éééééé@b.com"})), Ok(()));
    }
}
