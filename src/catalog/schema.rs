//! Checks tool arguments against a tool's JSON Schema (the subset our schemas use:
//! type (one or a list), properties, required, additionalProperties, items, enum,
//! minimum, maximum, minItems, maxItems, maxLength), with messages that name the offending
//! field. A type outside JSON Schema's seven fails rather than passing, and a test walks
//! every catalog schema so none uses a keyword this checker does not implement.

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
        // A type this checker does not know refuses every value: a typo in a schema
        // must not let anything through (the catalog test below keeps them out).
        _ => false,
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

/// The property tests run on proptest ([`crate::testing::property_tests`]): a failure is shrunk to a
/// minimal case, and its seed is kept in `proptest-regressions/catalog/schema.txt` and replayed first.
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

    #[test]
    fn an_unknown_type_refuses_instead_of_passing() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "strnig"},
            "b": {"type": ["strnig", "null"]}
        }});
        let args = |v: Value| v.as_object().cloned().unwrap();
        let err = check_arguments(&args(json!({"a": "x"})), &schema).unwrap_err();
        assert!(err.contains("'a' must be a strnig"), "{err}");
        let err = check_arguments(&args(json!({"b": "x"})), &schema).unwrap_err();
        assert!(err.contains("'b' must be one of: strnig, null"), "{err}");
        assert_eq!(check_arguments(&args(json!({"b": null})), &schema), Ok(()));
    }

    /// The keywords [`check_value`] and [`check_object`] enforce.
    const ENFORCED: [&str; 11] = [
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "maxLength",
    ];
    /// Keywords that only describe (for people and models) and constrain nothing.
    const DESCRIPTIVE: [&str; 4] = ["description", "title", "default", "examples"];
    /// The types [`is_type`] knows.
    const TYPES: [&str; 7] = [
        "string", "number", "integer", "boolean", "array", "object", "null",
    ];

    /// Every keyword in `schema` and its subschemas that the checker does not implement,
    /// and every unknown type, as `path: keyword` lines.
    fn unimplemented(path: &str, schema: &Value, out: &mut Vec<String>) {
        let Some(fields) = schema.as_object() else {
            out.push(format!("{path}: not a schema object"));
            return;
        };
        for keyword in fields.keys() {
            if !ENFORCED.contains(&keyword.as_str()) && !DESCRIPTIVE.contains(&keyword.as_str()) {
                out.push(format!("{path}: {keyword}"));
            }
        }
        match fields.get("type") {
            Some(Value::String(t)) if !TYPES.contains(&t.as_str()) => {
                out.push(format!("{path}: type {t}"))
            }
            Some(Value::Array(list)) => {
                for t in list {
                    if !t.as_str().is_some_and(|t| TYPES.contains(&t)) {
                        out.push(format!("{path}: type {t}"));
                    }
                }
            }
            _ => {}
        }
        if let Some(props) = fields.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                unimplemented(&format!("{path}.{name}"), prop, out);
            }
        }
        if let Some(extra @ Value::Object(_)) = fields.get("additionalProperties") {
            unimplemented(&format!("{path}.*"), extra, out);
        }
        if let Some(items) = fields.get("items") {
            unimplemented(&format!("{path}[]"), items, out);
        }
    }

    #[test]
    fn every_catalog_schema_uses_only_keywords_the_checker_implements() {
        let tools: Vec<&crate::catalog::Tool> = crate::catalog::tools().iter().collect();
        let mut schemas: Vec<(String, Value)> = Vec::new();
        for tool in &tools {
            let listed = tool.to_json(true);
            schemas.push((
                format!("{} input", tool.name),
                listed["inputSchema"].clone(),
            ));
            schemas.push((
                format!("{} output", tool.name),
                listed["outputSchema"].clone(),
            ));
        }
        for meta in MetaTool::ALL {
            let listed = meta.definition(&tools);
            schemas.push((
                format!("{} input", meta.name()),
                listed["inputSchema"].clone(),
            ));
            if let Some(output) = listed.get("outputSchema") {
                schemas.push((format!("{} output", meta.name()), output.clone()));
            }
        }
        let mut found = Vec::new();
        for (name, schema) in &schemas {
            unimplemented(name, schema, &mut found);
        }
        assert!(
            found.is_empty(),
            "keywords or types the checker does not implement:\n{}",
            found.join("\n")
        );
        // The walk reaches nested schemas: a keyword deep inside is found.
        let mut deep = Vec::new();
        let nested = json!({"type": "object", "properties": {"a": {"type": "array",
            "items": {"type": "object", "additionalProperties": {"type": "string", "pattern": "x"}}}}});
        unimplemented("t", &nested, &mut deep);
        assert_eq!(deep, ["t.a[].*: pattern"]);
        assert!(schemas.len() > 2 * tools.len(), "{}", schemas.len());
    }

    #[test]
    fn generated_input_schemas_say_unknown_arguments_are_refused() {
        let seed = [
            "get_contacts",
            "get_companies",
            "get_deals",
            "create_contact",
            "search_contacts",
        ];
        let tools: Vec<&crate::catalog::Tool> = crate::catalog::tools().iter().collect();
        let mut generated = 0;
        for tool in &tools {
            let closed = tool.input_schema["additionalProperties"] == json!(false);
            // The first five keep their first schemas exactly, which do not say it.
            assert_eq!(closed, !seed.contains(&tool.name), "{}", tool.name);
            generated += usize::from(closed);
            // Either way, an unknown argument is refused.
            let unknown = json!({"zz_unknown": 1}).as_object().cloned().unwrap();
            assert!(
                check_arguments(&unknown, &tool.input_schema).is_err(),
                "{}",
                tool.name
            );
        }
        for meta in MetaTool::ALL {
            let schema = &meta.definition(&tools)["inputSchema"];
            assert_eq!(
                schema["additionalProperties"],
                json!(false),
                "{}",
                meta.name()
            );
        }
        assert!(generated > 40, "{generated}");
    }

    use crate::catalog::discovery::MetaTool;
    use crate::testing::property_tests::for_all;
    use proptest::collection::vec;
    use proptest::option;
    use proptest::prelude::*;
    use proptest::sample::{select, Index};
    use proptest::strategy::{Union, ValueTree};
    use proptest::test_runner::TestRunner;
    use std::cell::Cell;

    /// Every input schema in the catalog, the meta-tools' included, by tool name.
    fn every_schema() -> Vec<(String, Value)> {
        let tools: Vec<&crate::catalog::Tool> = crate::catalog::tools().iter().collect();
        let mut all: Vec<(String, Value)> = tools
            .iter()
            .map(|t| (t.name.to_string(), t.input_schema.clone()))
            .collect();
        for meta in MetaTool::ALL {
            all.push((
                meta.name().into(),
                meta.definition(&tools)["inputSchema"].clone(),
            ));
        }
        all
    }

    fn types(schema: &Value) -> Vec<&str> {
        match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    fn number_in(schema: &Value) -> std::ops::RangeInclusive<i64> {
        let bound = |key, default| schema.get(key).and_then(Value::as_i64).unwrap_or(default);
        bound("minimum", -1000)..=bound("maximum", 1000)
    }

    /// Values `schema` accepts (no nulls: a null counts as missing when required).
    fn valid(schema: &Value, top: bool) -> BoxedStrategy<Value> {
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            return select(options.clone()).boxed();
        }
        let all = ["string", "number", "integer", "boolean"];
        let allowed = types(schema);
        let choices = if allowed.is_empty() {
            &all
        } else {
            &allowed[..]
        };
        Union::new(choices.iter().map(|ty| of_type(schema, ty, top))).boxed()
    }

    /// Values of type `ty` that `schema` accepts.
    fn of_type(schema: &Value, ty: &str, top: bool) -> BoxedStrategy<Value> {
        let size =
            |key, default| schema.get(key).and_then(Value::as_u64).unwrap_or(default) as usize;
        match ty {
            "string" => {
                let chars = select(vec!['a', 'é', '"', '/', '.', ' ']);
                vec(chars, 0..=size("maxLength", 12).min(12))
                    .prop_map(|chars| json!(chars.into_iter().collect::<String>()))
                    .boxed()
            }
            "integer" => number_in(schema).prop_map(Value::from).boxed(),
            "number" => number_in(schema).prop_map(|n| json!(n as f64)).boxed(),
            "boolean" => any::<bool>().prop_map(Value::from).boxed(),
            "array" => {
                let min = size("minItems", 0);
                let max = size("maxItems", 4).min(min + 3);
                let items = schema.get("items").cloned().unwrap_or(json!({}));
                vec(valid(&items, false), min..=max)
                    .prop_map(Value::Array)
                    .boxed()
            }
            "object" => {
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut members = Vec::new();
                if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    for (name, prop) in props {
                        let name = name.clone();
                        let value = valid(prop, false);
                        members.push(if required.contains(&name.as_str()) {
                            value.prop_map(move |v| Some((name.clone(), v))).boxed()
                        } else {
                            option::of(value)
                                .prop_map(move |v| v.map(|v| (name.clone(), v)))
                                .boxed()
                        });
                    }
                }
                let extra = match schema.get("additionalProperties") {
                    _ if top => Just(None).boxed(),
                    Some(Value::Bool(false)) => Just(None).boxed(),
                    Some(extra @ Value::Object(_)) => valid(extra, false).prop_map(Some).boxed(),
                    _ => (0..9).prop_map(|n| Some(json!(n))).boxed(),
                };
                (members, extra)
                    .prop_map(|(members, extra)| {
                        let extra = extra.map(|v| ("extra_field".to_string(), v));
                        Value::Object(members.into_iter().flatten().chain(extra).collect())
                    })
                    .boxed()
            }
            _ => Just(Value::Null).boxed(),
        }
    }

    /// Values of the types `schema` does not allow, if it names its types.
    fn wrong_types(schema: &Value) -> Vec<Value> {
        let allowed = types(schema);
        if allowed.is_empty() {
            return Vec::new();
        }
        [
            (json!("s"), !allowed.contains(&"string")),
            (json!(1.5), !allowed.contains(&"number")),
            (
                json!(7),
                !allowed.contains(&"number") && !allowed.contains(&"integer"),
            ),
            (json!(true), !allowed.contains(&"boolean")),
            (json!([]), !allowed.contains(&"array")),
            (json!({}), !allowed.contains(&"object")),
            (Value::Null, !allowed.contains(&"null")),
        ]
        .into_iter()
        .filter_map(|(v, wrong)| wrong.then_some(v))
        .collect()
    }

    /// A value `schema` refuses for a bound it states (enum, range, items, length).
    fn out_of_bounds(schema: &Value) -> Option<Value> {
        if schema.get("enum").is_some() {
            return Some(json!("zz-not-a-choice"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            return Some(json!(max + 1.0));
        }
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            return Some(json!(min - 1.0));
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            let item = schema.get("items").map_or(json!("x"), |items| {
                let mut runner = TestRunner::deterministic();
                valid(items, false).new_tree(&mut runner).unwrap().current()
            });
            return Some(Value::Array(vec![item; max as usize + 1]));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            return Some(json!("x".repeat(max as usize + 1)));
        }
        None
    }

    /// One change a schema refuses, at a place drawn by [`Index`].
    #[derive(Debug, Clone, Copy)]
    enum Change {
        Unknown,
        Missing,
        WrongType,
        OutOfBounds,
    }

    #[test]
    fn every_catalog_schema_accepts_what_it_allows_and_refuses_what_it_does_not() {
        let schemas = every_schema();
        let (accepted, refused) = (Cell::new(0), Cell::new(0));
        let change = select(vec![
            Change::Unknown,
            Change::Missing,
            Change::WrongType,
            Change::OutOfBounds,
        ]);
        // Junk arguments: names of the schema's (or "x") with values of any type but object.
        let junk = vec((any::<Index>(), any::<Index>()), 0..4);
        let args: Vec<_> = schemas.iter().map(|(_, s)| valid(s, true)).collect();
        let cases = (0..schemas.len()).prop_flat_map(move |i| {
            let args = args[i].clone();
            (
                Just(i),
                args,
                change.clone(),
                any::<(Index, Index)>(),
                junk.clone(),
            )
        });
        let cases_per_schema = 60;
        let count = cases_per_schema * schemas.len() as u32;
        for_all(file!(), count, cases, |(i, args, change, (a, b), junk)| {
            let (tool, schema) = &schemas[i];
            let props = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let required: Vec<String> = schema["required"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|n| n.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let names: Vec<&String> = props.keys().collect();
            // Any junk: an answer, never a panic.
            let junk_names: Vec<String> = props.keys().cloned().chain(["x".into()]).collect();
            let junk_values = wrong_types(&json!({"type": "object"}));
            let junk: Map<String, Value> = junk
                .iter()
                .map(|(n, v)| (n.get(&junk_names).clone(), v.get(&junk_values).clone()))
                .collect();
            let _ = check_arguments(&junk, schema);

            let args = args.as_object().unwrap();
            assert_eq!(check_arguments(args, schema), Ok(()), "{tool}: {args:?}");
            accepted.set(accepted.get() + 1);
            // One change the schema refuses; the message names the argument.
            let mut bad = args.clone();
            let (name, why) = match change {
                Change::Unknown => {
                    bad.insert("zz_unknown".into(), json!(1));
                    ("zz_unknown".to_string(), "unknown")
                }
                Change::Missing if !required.is_empty() => {
                    let name = a.get(&required).clone();
                    bad.remove(&name);
                    (name, "missing")
                }
                Change::WrongType if !names.is_empty() => {
                    let name = (*a.get(&names)).clone();
                    let wrong = wrong_types(&props[&name]);
                    if wrong.is_empty() {
                        return Ok(());
                    }
                    bad.insert(name.clone(), b.get(&wrong).clone());
                    (name, "type")
                }
                _ if !names.is_empty() => {
                    let name = (*a.get(&names)).clone();
                    let Some(value) = out_of_bounds(&props[&name]) else {
                        return Ok(());
                    };
                    bad.insert(name.clone(), value);
                    (name, "bound")
                }
                _ => return Ok(()),
            };
            let err = check_arguments(&bad, schema)
                .expect_err(&format!("{tool}: {why} {name} refused: {bad:?}"));
            assert!(
                err.contains(&format!("'{name}")),
                "{tool}: {err} names {name}"
            );
            refused.set(refused.get() + 1);
            Ok(())
        });
        let (accepted, refused) = (accepted.get(), refused.get());
        assert!(
            accepted > 3_000 && refused > 1_500,
            "{accepted} accepted, {refused} refused"
        );
    }
}
