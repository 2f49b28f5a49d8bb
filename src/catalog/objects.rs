//! Record tools, generated from one table: every object type of [`OBJECT_TYPES`] times
//! the operations of [`PER_TYPE`] (`get_contacts`, `get_contact`, `create_ticket`,
//! `search_deals`, ...), the pipelines of the types that have them, and the same
//! operations on any object type, custom ones (`2-xxxx`) included, with an `objectType`
//! argument ([`GENERIC`]: `get_records`, `batch_create_records`, ...).

use super::args::{self, push_query};
use super::{
    leak, output, values, Answer, Echo, Effect, ObjectType, Tool, ToolError, ToolFn, ToolSpec,
    OBJECT_TYPES,
};
use crate::hubspot::{Client, Endpoint, Method};
use serde_json::{json, Map, Value};

/// An operation on records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// One page of records.
    List,
    /// One record by id (contacts also by email).
    Get,
    /// A new record.
    Create,
    /// Changed properties of one record.
    Update,
    /// Archive one record.
    Delete,
    /// Filters, sorts and a free-text query.
    Search,
    /// Up to 100 records by id.
    BatchRead,
    /// Up to 100 new records.
    BatchCreate,
    /// Up to 100 changed records.
    BatchUpdate,
}

/// The operations every object type gets its own tool for.
const PER_TYPE: [Op; 6] = [
    Op::List,
    Op::Get,
    Op::Create,
    Op::Update,
    Op::Delete,
    Op::Search,
];

/// The operations offered on any object type through an `objectType` argument.
const GENERIC: [Op; 6] = [
    Op::List,
    Op::Get,
    Op::Search,
    Op::BatchRead,
    Op::BatchCreate,
    Op::BatchUpdate,
];

/// HubSpot's search operators.
pub const OPERATORS: [&str; 13] = [
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
];

/// Which records a tool works on.
#[derive(Clone, Copy)]
pub enum Target {
    /// One object type, fixed by the tool.
    Fixed(&'static ObjectType),
    /// Any object type, named by the `objectType` argument.
    Any,
}

impl Target {
    /// The object type path segment for this call.
    fn path_type<'a>(&self, args: &'a Map<String, Value>) -> Result<&'a str, ToolError> {
        match self {
            Target::Fixed(object) => Ok(object.name),
            Target::Any => args::object_type(args, "objectType"),
        }
    }
}

impl Op {
    /// The Truto method. Whatever writes is `create`, `update` or `delete` (batches
    /// included), so the groups `read` and `custom` only ever select tools that read.
    fn method(self) -> &'static str {
        match self {
            Op::List => "list",
            Op::Get => "get",
            Op::Create | Op::BatchCreate => "create",
            Op::Update | Op::BatchUpdate => "update",
            Op::Delete => "delete",
            Op::Search => "search",
            Op::BatchRead => "batch_read",
        }
    }

    /// The verb in the tool's name (`create_contact`, `batch_create_records`).
    fn verb(self) -> &'static str {
        match self {
            Op::BatchCreate => "batch_create",
            Op::BatchUpdate => "batch_update",
            other => other.method(),
        }
    }

    fn effect(self) -> Effect {
        match self {
            Op::List | Op::Get | Op::Search | Op::BatchRead => Effect::Read,
            Op::Create | Op::BatchCreate => Effect::Create,
            Op::Update | Op::BatchUpdate => Effect::Update,
            Op::Delete => Effect::Delete,
        }
    }
}

/// The generated record tools, leaving out those already in `existing` (as first specified).
pub fn tools(existing: &[Tool]) -> Vec<Tool> {
    let mut out = Vec::new();
    for object in OBJECT_TYPES {
        for op in PER_TYPE {
            let name = tool_name(Target::Fixed(object), op);
            if !existing.iter().any(|t| t.name == name) {
                out.push(tool(Target::Fixed(object), op));
            }
        }
        if object.pipelines {
            out.push(pipelines_tool(object));
        }
    }
    out.extend(GENERIC.iter().map(|op| tool(Target::Any, *op)));
    out
}

/// The name of the tool for `op` on `target`.
pub fn tool_name(target: Target, op: Op) -> String {
    match (target, op) {
        (Target::Fixed(o), Op::List) => format!("get_{}", o.name),
        (Target::Fixed(o), Op::Get) => format!("get_{}", o.singular),
        (Target::Fixed(o), Op::Search) => format!("search_{}", o.name),
        (Target::Fixed(o), other) => format!("{}_{}", other.verb(), o.singular),
        (Target::Any, Op::List) => "get_records".into(),
        (Target::Any, Op::Get) => "get_record".into(),
        (Target::Any, Op::Search) => "search_records".into(),
        (Target::Any, Op::BatchRead) => "batch_get_records".into(),
        (Target::Any, other) => format!("{}_records", other.verb()),
    }
}

/// The tool for `op` on `target`, with generated metadata.
pub fn tool(target: Target, op: Op) -> Tool {
    let (title, description) = describe(target, op);
    let tags: &'static [&'static str] = match target {
        Target::Fixed(object) => std::slice::from_ref(&object.name),
        Target::Any => &["records"],
    };
    let tool = Tool::new(ToolSpec {
        name: leak(tool_name(target, op)),
        title: leak(title),
        description: leak(description),
        effect: op.effect(),
        method: op.method(),
        tags,
        input_schema: input_schema(target, op),
        output_schema: output_schema(op),
        handler: handler(target, op),
    });
    match op {
        Op::Create | Op::Update => tool.echoing(Echo::Record),
        Op::BatchCreate | Op::BatchUpdate => tool.echoing(Echo::Batch),
        _ => tool,
    }
}

/// The title and model-facing description of a generated tool.
fn describe(target: Target, op: Op) -> (String, String) {
    let (plural, noun, defaults, hint) = match target {
        Target::Fixed(o) => (
            o.name.to_string(),
            o.singular.to_string(),
            o.default_properties.join(", "),
            o.write_hint,
        ),
        Target::Any => (
            "records of any object type".to_string(),
            "record".to_string(),
            "the type's defaults".to_string(),
            "Learn the property names with get_properties first.",
        ),
    };
    let any = matches!(target, Target::Any);
    let custom = if any {
        " Works for every object type, custom objects (objectType 2-xxxx) included."
    } else {
        ""
    };
    match op {
        Op::List => (
            format!("List {plural}"),
            format!("Lists {plural}, one page at a time, oldest first. Use it to browse; use a search tool to find specific records. Returns {{results, paging}}: pass paging.next.after back as `after` for the next page (absent on the last page). Default properties: {defaults}.{custom}"),
        ),
        Op::Get => {
            let by_email = match target {
                Target::Fixed(o) if o.name == "contacts" => " Set idProperty to email to look the contact up by email address instead of id.",
                _ => "",
            };
            (
                format!("Get a {noun}"),
                format!("Gets one {noun} by its record id.{by_email} Returns the record {{id, properties, createdAt, updatedAt, archived}}; a missing record is an error naming the id. Default properties: {defaults}.{custom}"),
            )
        }
        Op::Create => (
            format!("Create a {noun}"),
            format!("Creates a {noun} with the given properties (all values as strings) and returns the new record with its id. {hint} Invalid properties are refused with the property names and reasons. Not idempotent: calling twice makes two records."),
        ),
        Op::Update => (
            format!("Update a {noun}"),
            format!("Sets properties of one existing {noun} (an empty string clears a value) and returns the updated record. {hint}"),
        ),
        Op::Delete => (
            format!("Delete a {noun}"),
            format!("Archives one {noun} by id (HubSpot keeps archived records restorable for 90 days). Returns {{id, archived: true}}; a missing record is an error."),
        ),
        Op::Search => (
            format!("Search {plural}"),
            format!("Finds {plural} with filters (filterGroups: groups are OR'ed, filters inside a group AND'ed; operators EQ, NEQ, LT, LTE, GT, GTE, BETWEEN with value and highValue, IN and NOT_IN with values, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN and NOT_CONTAINS_TOKEN with * wildcards), an optional free-text query, one sort, and paging. Dates compare as ISO 8601 or epoch milliseconds. Returns {{total, results, paging}}: total counts every match; pass paging.next.after back as `after` for the next page. Default properties: {defaults}.{custom}"),
        ),
        Op::BatchRead => (
            "Get records by id".to_string(),
            format!("Reads up to 100 {plural} by id in one call (or by another unique property with idProperty). Returns {{status, results, errors}}: ids that do not exist are listed in errors, the rest are in results.{custom}"),
        ),
        Op::BatchCreate => (
            "Create records".to_string(),
            format!("Creates up to 100 {plural} in one call, each with its own properties. All or nothing: one invalid input fails the batch with the reason. Returns {{status, results}} with the new ids. Not idempotent. {hint}{custom}"),
        ),
        Op::BatchUpdate => (
            "Update records".to_string(),
            format!("Sets properties on up to 100 existing {plural} in one call, each by id. Returns {{status, results, errors}}: ids that do not exist are listed in errors, the rest are updated.{custom}"),
        ),
    }
}

/// The input schema of a generated tool.
fn input_schema(target: Target, op: Op) -> Value {
    let (noun, defaults) = match target {
        Target::Fixed(o) => (o.singular, o.default_properties.join(", ")),
        Target::Any => ("record", "the type's default properties".to_string()),
    };
    let mut props = Map::new();
    let mut required: Vec<&str> = Vec::new();
    if let Target::Any = target {
        props.insert(
            "objectType".into(),
            args::object_type_schema("The object type"),
        );
        required.push("objectType");
    }
    let values = || {
        json!({
            "type": "object",
            "additionalProperties": { "type": ["string", "number", "boolean"] },
            "description": "Property names and values, e.g. {\"firstname\": \"Ada\"}; values are stored as strings."
        })
    };
    match op {
        Op::List => {
            props.insert("limit".into(), args::limit_schema("records"));
            props.insert("after".into(), args::after_schema());
            props.insert("properties".into(), args::properties_schema(&defaults));
            props.insert(
                "archived".into(),
                json!({"type": "boolean", "default": false, "description": "true lists archived (deleted) records instead."}),
            );
        }
        Op::Get => {
            props.insert("id".into(), args::id_schema(noun));
            props.insert("properties".into(), args::properties_schema(&defaults));
            let by_email = matches!(target, Target::Fixed(o) if o.name == "contacts");
            if by_email || matches!(target, Target::Any) {
                props.insert(
                    "idProperty".into(),
                    json!({"type": "string", "description": "Look the record up by this unique property instead of the record id (for contacts: email)."}),
                );
            }
            required.push("id");
        }
        Op::Create => {
            props.insert("properties".into(), values());
            required.push("properties");
        }
        Op::Update => {
            props.insert("id".into(), args::id_schema(noun));
            props.insert("properties".into(), values());
            required.extend(["id", "properties"]);
        }
        Op::Delete => {
            props.insert("id".into(), args::id_schema(noun));
            required.push("id");
        }
        Op::Search => {
            let filter = json!({
                "type": "object",
                "properties": {
                    "propertyName": { "type": "string", "description": "The property to test." },
                    "operator": { "type": "string", "enum": OPERATORS },
                    "value": { "type": ["string", "number", "boolean"], "description": "The value to compare with (not for IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY)." },
                    "highValue": { "type": ["string", "number"], "description": "The upper bound of BETWEEN (inclusive)." },
                    "values": { "type": "array", "items": { "type": ["string", "number"] }, "description": "The list for IN and NOT_IN." }
                },
                "required": ["propertyName", "operator"],
                "additionalProperties": false
            });
            props.insert("query".into(), json!({"type": "string", "description": "Free-text words matched against the type's main text properties (e.g. name, email, domain)."}));
            props.insert("filterGroups".into(), json!({
                "type": "array",
                "maxItems": 5,
                "description": "Up to 5 groups, OR'ed; up to 6 filters per group (18 in all), AND'ed.",
                "items": {
                    "type": "object",
                    "properties": { "filters": { "type": "array", "minItems": 1, "maxItems": 6, "items": filter } },
                    "required": ["filters"],
                    "additionalProperties": false
                }
            }));
            props.insert(
                "sorts".into(),
                json!({
                    "type": "array",
                    "maxItems": 1,
                    "description": "At most one sort.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "propertyName": { "type": "string" },
                            "direction": { "type": "string", "enum": ["ASCENDING", "DESCENDING"] }
                        },
                        "required": ["propertyName"],
                        "additionalProperties": false
                    }
                }),
            );
            props.insert("properties".into(), args::properties_schema(&defaults));
            props.insert("limit".into(), args::limit_schema("records"));
            props.insert("after".into(), args::after_schema());
        }
        Op::BatchRead => {
            props.insert("ids".into(), json!({"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": args::MAX_LIMIT, "description": "The record ids (1 to 100)."}));
            props.insert("properties".into(), args::properties_schema(&defaults));
            props.insert("idProperty".into(), json!({"type": "string", "description": "Treat ids as values of this unique property (e.g. email) instead of record ids."}));
            required.push("ids");
        }
        Op::BatchCreate => {
            props.insert("inputs".into(), json!({
                "type": "array", "minItems": 1, "maxItems": args::MAX_LIMIT,
                "description": "The records to create (1 to 100), each {properties}.",
                "items": {"type": "object", "properties": {"properties": values()}, "required": ["properties"], "additionalProperties": false}
            }));
            required.push("inputs");
        }
        Op::BatchUpdate => {
            props.insert("inputs".into(), json!({
                "type": "array", "minItems": 1, "maxItems": args::MAX_LIMIT,
                "description": "The changes (1 to 100), each {id, properties}.",
                "items": {"type": "object", "properties": {"id": {"type": "string"}, "properties": values()}, "required": ["id", "properties"], "additionalProperties": false}
            }));
            required.push("inputs");
        }
    }
    args::object_schema(Value::Object(props), &required)
}

/// The output schema of a generated tool.
fn output_schema(op: Op) -> Value {
    match op {
        Op::List => output::page(output::record(), false),
        Op::Search => output::page(output::record(), true),
        Op::Get | Op::Create | Op::Update => output::record(),
        Op::Delete => output::deleted(),
        Op::BatchRead | Op::BatchCreate | Op::BatchUpdate => output::batch(),
    }
}

/// What a generated tool runs.
fn handler(target: Target, op: Op) -> ToolFn {
    Box::new(move |client, args| {
        let ty = target.path_type(args)?;
        match op {
            Op::List => list(client, ty, args),
            Op::Get => get(client, ty, args),
            Op::Search => search(client, ty, args),
            Op::Create => {
                let properties = args.get("properties").cloned().unwrap_or(json!({}));
                Ok(client.create_object(ty, properties)?.into())
            }
            Op::Update => {
                let id = args::required(args, "id")?;
                let properties = args::changes(args.get("properties"), "properties")?;
                let path = client.path(Endpoint::UpdateObject, &[ty, id]);
                let body = json!({ "properties": properties });
                Ok(Answer::Raw(client.call_raw(
                    Method::Patch,
                    path,
                    Some(body),
                )?))
            }
            Op::Delete => {
                let id = args::required(args, "id")?;
                let path = client.path(Endpoint::ArchiveObject, &[ty, id]);
                client.call_raw(Method::Delete, path, None)?;
                Ok(json!({ "id": id, "archived": true }).into())
            }
            Op::BatchRead => {
                let inputs: Vec<Value> = args::string_list(args, "ids")
                    .into_iter()
                    .map(|id| json!({ "id": id }))
                    .collect();
                let mut body = json!({ "inputs": inputs, "properties": args::string_list(args, "properties") });
                if let Some(id_property) = args::text(args, "idProperty") {
                    body["idProperty"] = json!(id_property);
                }
                batch(client, ty, "read", body)
            }
            Op::BatchCreate => batch(
                client,
                ty,
                "create",
                json!({ "inputs": args.get("inputs") }),
            ),
            Op::BatchUpdate => {
                let inputs = args.get("inputs").and_then(Value::as_array);
                for (i, input) in inputs.into_iter().flatten().enumerate() {
                    args::changes(input.get("properties"), &format!("inputs[{i}].properties"))?;
                }
                batch(
                    client,
                    ty,
                    "update",
                    json!({ "inputs": args.get("inputs") }),
                )
            }
        }
    })
}

/// One page of records: `limit`, `after`, `properties` and `archived` arguments.
pub fn list(client: &Client, ty: &str, args: &Map<String, Value>) -> Result<Answer, ToolError> {
    let mut path = client.path(Endpoint::ListObjects, &[ty]);
    push_query(&mut path, "limit", &args::limit(args)?.to_string());
    if let Some(after) = args::text(args, "after").filter(|a| !a.is_empty()) {
        push_query(&mut path, "after", after);
    }
    let properties = args::string_list(args, "properties");
    if !properties.is_empty() {
        push_query(&mut path, "properties", &properties.join(","));
    }
    if args.get("archived") == Some(&Value::Bool(true)) {
        push_query(&mut path, "archived", "true");
    }
    Ok(Answer::Raw(client.call_raw(Method::Get, path, None)?))
}

/// One record by id (or by `idProperty`).
pub fn get(client: &Client, ty: &str, args: &Map<String, Value>) -> Result<Answer, ToolError> {
    let id = args::required(args, "id")?;
    let mut path = client.path(Endpoint::GetObject, &[ty, id]);
    let properties = args::string_list(args, "properties");
    if !properties.is_empty() {
        push_query(&mut path, "properties", &properties.join(","));
    }
    if let Some(id_property) = args::text(args, "idProperty").filter(|p| !p.is_empty()) {
        push_query(&mut path, "idProperty", id_property);
    }
    Ok(Answer::Raw(client.call_raw(Method::Get, path, None)?))
}

/// A search: the arguments are HubSpot's search body, with `limit` checked.
pub fn search(client: &Client, ty: &str, args: &Map<String, Value>) -> Result<Answer, ToolError> {
    let mut body = json!({ "limit": args::limit(args)? });
    for key in ["query", "filterGroups", "sorts", "after"] {
        if let Some(value) = args.get(key).filter(|v| !v.is_null()) {
            body[key] = value.clone();
        }
    }
    let properties = args::string_list(args, "properties");
    if !properties.is_empty() {
        body["properties"] = json!(properties);
    }
    let path = client.path(Endpoint::SearchObjects, &[ty]);
    Ok(Answer::Raw(client.call_raw(
        Method::Post,
        path,
        Some(body),
    )?))
}

fn batch(client: &Client, ty: &str, op: &str, body: Value) -> Result<Answer, ToolError> {
    let path = client.path(Endpoint::BatchObjects, &[ty, op]);
    Ok(Answer::Raw(client.call_raw(
        Method::Post,
        path,
        Some(body),
    )?))
}

/// The pipelines tool of a type that has pipelines (`get_deal_pipelines`).
fn pipelines_tool(object: &'static ObjectType) -> Tool {
    let name = object.name;
    Tool::new(ToolSpec {
        name: leak(format!("get_{}_pipelines", object.singular)),
        title: leak(format!("Get {} pipelines", object.singular)),
        description: leak(format!(
            "Lists the {name} pipelines with their stages (id, label, displayOrder, metadata such as probability or ticket state). Use the pipeline and stage ids when creating, updating or filtering {name}; labels are for people."
        )),
        effect: Effect::Read,
        method: "list",
        tags: std::slice::from_ref(&object.name),
        input_schema: args::object_schema(json!({}), &[]),
        output_schema: output::page(output::with_fields(&["id", "label", "stages"]), false),
        handler: values(move |client, _| {
            let path = client.path(Endpoint::ListPipelines, &[name]);
            Ok(client.call(Method::Get, path, None)?)
        }),
    })
}
