//! The tools themselves: the seed's five, with the seed's exact names, descriptions and
//! input schemas.

use super::{Handler, ObjectType, Tool, ToolError, OBJECT_TYPES};
use crate::hubspot::Client;
use serde_json::{json, Map, Value};

/// HubSpot's largest page for list calls.
const MAX_LIMIT: u64 = 100;
/// The seed's default page size.
const DEFAULT_LIMIT: u64 = 10;

/// Builds the tool table.
pub fn all() -> Vec<Tool> {
    let [contacts, companies, deals] = [0, 1, 2].map(|i| &OBJECT_TYPES[i]);
    vec![
        list_tool(
            "get_contacts",
            "Get contacts",
            "Retrieve HubSpot contacts with optional filtering",
            contacts,
            "Contact",
            get_contacts,
        ),
        list_tool(
            "get_companies",
            "Get companies",
            "Retrieve HubSpot companies with optional filtering",
            companies,
            "Company",
            get_companies,
        ),
        list_tool(
            "get_deals",
            "Get deals",
            "Retrieve HubSpot deals with optional filtering",
            deals,
            "Deal",
            get_deals,
        ),
        Tool {
            name: "create_contact",
            title: "Create a contact",
            description: "Create a new contact in HubSpot",
            input_schema: json!({
                "type": "object",
                "properties": {
                    "firstname": { "type": "string", "description": "Contact first name" },
                    "lastname": { "type": "string", "description": "Contact last name" },
                    "email": { "type": "string", "description": "Contact email address" },
                    "company": { "type": "string", "description": "Contact company name" }
                },
                "required": ["email"]
            }),
            read_only: false,
            method: "create",
            tags: std::slice::from_ref(&contacts.name),
            handler: create_contact,
        },
        Tool {
            name: "search_contacts",
            title: "Search contacts",
            description: "Search HubSpot contacts by query",
            input_schema: json!({
                "type": "object",
                "properties": {
                    "query": { "type": "string", "description": "Search query string" },
                    "properties": {
                        "type": "array",
                        "items": { "type": "string" },
                        "description": "Contact properties to include"
                    }
                },
                "required": ["query"]
            }),
            read_only: true,
            method: "search",
            tags: std::slice::from_ref(&contacts.name),
            handler: search_contacts,
        },
    ]
}

/// One of the seed's list tools (`get_contacts`, `get_companies`, `get_deals`).
fn list_tool(
    name: &'static str,
    title: &'static str,
    description: &'static str,
    object: &'static ObjectType,
    noun: &str,
    handler: Handler,
) -> Tool {
    Tool {
        name,
        title,
        description,
        input_schema: json!({
            "type": "object",
            "properties": {
                "limit": {
                    "type": "number",
                    "description": format!("Maximum number of {} to retrieve", object.name),
                    "default": DEFAULT_LIMIT
                },
                "properties": {
                    "type": "array",
                    "items": { "type": "string" },
                    "description": format!("{noun} properties to include")
                }
            }
        }),
        read_only: true,
        method: "list",
        tags: std::slice::from_ref(&object.name),
        handler,
    }
}

fn get_contacts(client: &Client, args: &Map<String, Value>) -> Result<Value, ToolError> {
    list(client, "contacts", args)
}

fn get_companies(client: &Client, args: &Map<String, Value>) -> Result<Value, ToolError> {
    list(client, "companies", args)
}

fn get_deals(client: &Client, args: &Map<String, Value>) -> Result<Value, ToolError> {
    list(client, "deals", args)
}

/// Lists one page of `object_type` with the `limit` and `properties` arguments.
pub fn list(
    client: &Client,
    object_type: &str,
    args: &Map<String, Value>,
) -> Result<Value, ToolError> {
    let limit = limit_arg(args)?;
    let properties = string_list(args, "properties");
    Ok(client.list_objects(object_type, limit, None, &properties)?)
}

fn create_contact(client: &Client, args: &Map<String, Value>) -> Result<Value, ToolError> {
    let email = args
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim();
    if !looks_like_email(email) {
        return Err(ToolError::InvalidArguments(format!(
            "argument 'email' must be an email address like name@example.com, got '{email}'"
        )));
    }
    let properties: Map<String, Value> = ["firstname", "lastname", "email", "company"]
        .iter()
        .filter_map(|key| Some((key.to_string(), args.get(*key)?.clone())))
        .collect();
    Ok(client.create_object("contacts", Value::Object(properties))?)
}

fn search_contacts(client: &Client, args: &Map<String, Value>) -> Result<Value, ToolError> {
    let query = args
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut body = json!({ "query": query, "limit": DEFAULT_LIMIT });
    let properties = string_list(args, "properties");
    if !properties.is_empty() {
        body["properties"] = json!(properties);
    }
    Ok(client.search_objects("contacts", body)?)
}

/// The `limit` argument: a whole number from 1 to 100, default 10.
fn limit_arg(args: &Map<String, Value>) -> Result<u64, ToolError> {
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

/// A string-array argument (already type-checked), or empty.
fn string_list(args: &Map<String, Value>, name: &str) -> Vec<String> {
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

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}
