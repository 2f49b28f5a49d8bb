//! The first five tools, with their originally specified names, descriptions and input schemas
//! (plus an optional `after` cursor on the list tools).
//! They run the same code as the generated record tools ([`super::objects`]); only their
//! arguments are as first specified.

use super::args::{self, DEFAULT_LIMIT};
use super::objects::{self, Op};
use super::{
    leak, output, values, Echo, Effect, ObjectType, Tool, ToolError, ToolFn, ToolSpec, OBJECT_TYPES,
};
use serde_json::{json, Map, Value};

/// The first five tools, in their first order.
pub fn first_five() -> Vec<Tool> {
    let [contacts, companies, deals] = [0, 1, 2].map(|i| &OBJECT_TYPES[i]);
    vec![
        list_tool(
            contacts,
            "Retrieve HubSpot contacts with optional filtering",
        ),
        list_tool(
            companies,
            "Retrieve HubSpot companies with optional filtering",
        ),
        list_tool(deals, "Retrieve HubSpot deals with optional filtering"),
        Tool::new(ToolSpec {
            name: "create_contact",
            title: "Create a contact",
            description: "Create a new contact in HubSpot",
            effect: Effect::Create,
            method: "create",
            tags: std::slice::from_ref(&contacts.name),
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
            output_schema: output::record(),
            handler: values(create_contact),
        })
        .echoing(Echo::Fields(&CONTACT_FIELDS)),
        Tool::new(ToolSpec {
            name: "search_contacts",
            title: "Search contacts",
            description: "Search HubSpot contacts by query",
            effect: Effect::Read,
            method: "search",
            tags: std::slice::from_ref(&contacts.name),
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
            output_schema: output::page(output::record(), true),
            handler: Box::new(|client, args| objects::search(client, "contacts", args)),
        }),
    ]
}

/// One of the first list tools (`get_contacts`, `get_companies`, `get_deals`).
fn list_tool(object: &'static ObjectType, description: &'static str) -> Tool {
    let name = object.name;
    let handler: ToolFn = Box::new(move |client, args| objects::list(client, name, args));
    Tool::new(ToolSpec {
        name: leak(objects::tool_name(objects::Target::Fixed(object), Op::List)),
        title: leak(format!("Get {name}")),
        description,
        effect: Effect::Read,
        method: "list",
        tags: std::slice::from_ref(&object.name),
        input_schema: json!({
            "type": "object",
            "properties": {
                "limit": {
                    "type": "number",
                    "description": format!("Maximum number of {name} to retrieve"),
                    "default": DEFAULT_LIMIT
                },
                "properties": {
                    "type": "array",
                    "items": { "type": "string" },
                    "description": format!("{} properties to include", object.noun)
                },
                // Not in the first specification: an added optional property keeps every first call
                // valid and lets a model read page two with the same tool.
                "after": args::after_schema()
            }
        }),
        output_schema: output::page(output::record(), false),
        handler,
    })
}

/// `create_contact`'s arguments, each a contact property.
const CONTACT_FIELDS: [&str; 4] = ["firstname", "lastname", "email", "company"];

fn create_contact(
    client: &crate::hubspot::Client,
    args: &Map<String, Value>,
) -> Result<Value, ToolError> {
    let email = args::text(args, "email").unwrap_or_default().trim();
    if !looks_like_email(email) {
        return Err(ToolError::InvalidArguments(format!(
            "argument 'email' must be an email address like name@example.com, got '{email}'"
        )));
    }
    let properties: Map<String, Value> = CONTACT_FIELDS
        .iter()
        .filter_map(|key| Some((key.to_string(), args.get(*key)?.clone())))
        .collect();
    Ok(client.create_object("contacts", Value::Object(properties))?)
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
