//! Tools for the links and context around records: associations, owners,
//! properties (the schema of an object type), workflows, links into HubSpot's UI and
//! the token's own details.

use super::args::{self, push_query};
use super::{output, values, Effect, Tool, ToolError, ToolSpec};
use crate::hubspot::{encode, Client, Endpoint, Method};
use serde_json::{json, Map, Value};

/// The property types HubSpot accepts (the mock refuses others too) and the field types
/// that go with them.
pub const PROPERTY_TYPES: [&str; 6] = [
    "string",
    "number",
    "date",
    "datetime",
    "enumeration",
    "bool",
];
const FIELD_TYPES: [&str; 11] = [
    "text",
    "textarea",
    "number",
    "date",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "phonenumber",
    "html",
    "file",
];

/// The context tools.
pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new(ToolSpec {
            name: "get_associations",
            title: "List associated records",
            description: "Lists the records of toObjectType linked to one record, with each link's association types and labels. Use it to find a contact's company, a deal's contacts, a ticket's notes, and so on. Returns {results: [{toObjectId, associationTypes}], paging}; fetch the linked records with get_record or batch_get_records.",
            effect: Effect::Read,
            method: "list",
            tags: &["associations"],
            input_schema: args::object_schema(
                json!({
                    "objectType": args::object_type_schema("The type of the record to start from"),
                    "id": args::id_schema("record"),
                    "toObjectType": args::object_type_schema("The type of the linked records to list"),
                    "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100, "description": "How many links to return (1 to 500, default 100)."},
                    "after": args::after_schema()
                }),
                &["objectType", "id", "toObjectType"],
            ),
            output_schema: output::page(output::association(), false),
            handler: values(list_associations),
        }),
        Tool::new(ToolSpec {
            name: "create_association",
            title: "Link two records",
            description: "Links two records. Without associationTypeId the pair's default association is made; with it (and associationCategory), a labeled one: find the ids and labels with get_association_labels. Linking twice is harmless. Returns HubSpot's confirmation.",
            effect: Effect::Update,
            method: "create",
            tags: &["associations"],
            input_schema: args::object_schema(
                json!({
                    "objectType": args::object_type_schema("The type of the first record"),
                    "id": args::id_schema("first record"),
                    "toObjectType": args::object_type_schema("The type of the second record"),
                    "toId": args::id_schema("second record"),
                    "associationTypeId": {"type": "integer", "minimum": 1, "description": "A labeled association type id from get_association_labels; leave out for the default link."},
                    "associationCategory": {"type": "string", "enum": ["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"], "default": "HUBSPOT_DEFINED", "description": "The category of associationTypeId."}
                }),
                &["objectType", "id", "toObjectType", "toId"],
            ),
            output_schema: json!({"type": "object"}),
            handler: values(create_association),
        }),
        Tool::new(ToolSpec {
            name: "get_association_labels",
            title: "Get association labels",
            description: "Lists the association types (typeId, category and label; an unlabeled one is the default) from one object type to another, e.g. contacts to companies. Use the typeId with create_association to make a labeled link.",
            effect: Effect::Read,
            method: "list",
            tags: &["associations"],
            input_schema: args::object_schema(
                json!({
                    "objectType": args::object_type_schema("The type links start from"),
                    "toObjectType": args::object_type_schema("The type links go to")
                }),
                &["objectType", "toObjectType"],
            ),
            output_schema: output::page(output::with_fields(&["typeId", "category"]), false),
            handler: values(|client, args| {
                let path = client.path(
                    Endpoint::AssociationLabels,
                    &[
                        args::object_type(args, "objectType")?,
                        args::object_type(args, "toObjectType")?,
                    ],
                );
                Ok(client.call(Method::Get, path, None)?)
            }),
        }),
        Tool::new(ToolSpec {
            name: "get_owners",
            title: "List owners",
            description: "Lists the account's owners (users who can own records): id, email, first and last name, userId and teams. Use an owner's id as hubspot_owner_id when assigning records; filter by email to find one person.",
            effect: Effect::Read,
            method: "list",
            tags: &["owners"],
            input_schema: args::object_schema(
                json!({
                    "email": {"type": "string", "description": "Only the owner with this email address."},
                    "limit": args::limit_schema("owners"),
                    "after": args::after_schema()
                }),
                &[],
            ),
            output_schema: output::page(output::with_fields(&["id"]), false),
            handler: values(|client, args| {
                let mut path = client.path(Endpoint::ListOwners, &[]);
                push_query(&mut path, "limit", &args::limit(args)?.to_string());
                for key in ["after", "email"] {
                    if let Some(value) = args::text(args, key).filter(|v| !v.is_empty()) {
                        push_query(&mut path, key, value);
                    }
                }
                Ok(client.call(Method::Get, path, None)?)
            }),
        }),
        Tool::new(ToolSpec {
            name: "get_properties",
            title: "List properties",
            description: "Lists the property definitions of an object type: name (what tools take), label, type, fieldType, groupName and, for enumerations, the allowed option values. Call it before writing records or building search filters. Give names to get only those.",
            effect: Effect::Read,
            method: "list",
            tags: &["properties"],
            input_schema: args::object_schema(
                json!({
                    "objectType": args::object_type_schema("The object type"),
                    "names": {"type": "array", "items": {"type": "string"}, "description": "Only these properties (all when left out)."}
                }),
                &["objectType"],
            ),
            output_schema: output::page(output::with_fields(&["name", "label", "type"]), false),
            handler: values(get_properties),
        }),
        Tool::new(ToolSpec {
            name: "create_property",
            title: "Create a property",
            description: "Creates a custom property on an object type. name must be lowercase letters, digits and _; type and fieldType go together (string: text, textarea, phonenumber, html; number: number; date/datetime: date; enumeration: select, radio or checkbox with options; bool: booleancheckbox). A name already taken is a 409. Returns the new definition.",
            effect: Effect::Create,
            method: "create",
            tags: &["properties"],
            input_schema: args::object_schema(
                property_fields(true),
                &["objectType", "name", "label", "type", "fieldType", "groupName"],
            ),
            output_schema: output::with_fields(&["name", "label", "type"]),
            handler: values(|client, args| property_call(client, args, true)),
        }),
        Tool::new(ToolSpec {
            name: "update_property",
            title: "Update a property",
            description: "Changes a property's label, description, group, field type, options or visibility; the name cannot change. Returns the updated definition.",
            effect: Effect::Update,
            method: "update",
            tags: &["properties"],
            input_schema: args::object_schema(property_fields(false), &["objectType", "name"]),
            output_schema: output::with_fields(&["name", "label", "type"]),
            handler: values(|client, args| property_call(client, args, false)),
        }),
        Tool::new(ToolSpec {
            name: "get_workflows",
            title: "List workflows",
            description: "Lists the account's automation workflows: id, name, whether enabled, object type and dates (no actions; get one with get_workflow for those). Returns {results, paging}.",
            effect: Effect::Read,
            method: "list",
            tags: &["workflows"],
            input_schema: args::object_schema(
                json!({ "limit": args::limit_schema("workflows"), "after": args::after_schema() }),
                &[],
            ),
            output_schema: output::page(output::with_fields(&["id", "name"]), false),
            handler: values(|client, args| {
                let mut path = client.path(Endpoint::ListWorkflows, &[]);
                push_query(&mut path, "limit", &args::limit(args)?.to_string());
                if let Some(after) = args::text(args, "after").filter(|a| !a.is_empty()) {
                    push_query(&mut path, "after", after);
                }
                Ok(client.call(Method::Get, path, None)?)
            }),
        }),
        Tool::new(ToolSpec {
            name: "get_workflow",
            title: "Get a workflow",
            description: "Gets one workflow by id with its enrollment criteria and actions, to explain what it does.",
            effect: Effect::Read,
            method: "get",
            tags: &["workflows"],
            input_schema: args::object_schema(
                json!({ "id": {"type": "string", "description": "The workflow (flow) id from get_workflows."} }),
                &["id"],
            ),
            output_schema: output::with_fields(&["id", "name"]),
            handler: values(|client, args| {
                let path = client.path(Endpoint::GetWorkflow, &[args::required(args, "id")?]);
                Ok(client.call(Method::Get, path, None)?)
            }),
        }),
        Tool::new(ToolSpec {
            name: "get_record_links",
            title: "Get HubSpot UI links",
            description: "Builds links to records' pages in the HubSpot web app (and to the object type's list page), for the person using this server to open. Uses the account's portal id and UI domain. Returns {listUrl, links: [{id, url}]}.",
            effect: Effect::Read,
            method: "get_links",
            tags: &["links"],
            input_schema: args::object_schema(
                json!({
                    "objectType": args::object_type_schema("The records' type"),
                    "ids": {"type": "array", "items": {"type": "string"}, "maxItems": args::MAX_LIMIT, "description": "Record ids to link to (up to 100; none for just the list page)."}
                }),
                &["objectType"],
            ),
            output_schema: output::with_fields(&["listUrl", "links"]),
            handler: values(record_links),
        }),
        Tool::new(ToolSpec {
            name: "get_token_details",
            title: "Get token details",
            description: "Describes the HubSpot access this server has: hub (portal) id, UI domain, the user and app behind the token, and its scopes. Use it to explain what you may read or change, or why a call failed with missing scopes.",
            effect: Effect::Read,
            method: "get",
            tags: &["account"],
            input_schema: args::object_schema(json!({}), &[]),
            output_schema: output::with_fields(&["hubId", "uiDomain", "scopes"]),
            handler: values(token_details),
        }),
    ]
}

/// One record's links through HubSpot's association batch read (the only dated way to
/// read them; see `hubspot::paths`), as `{results: [{toObjectId, associationTypes}],
/// paging}`. The batch read has no page size, so a longer page is cut to `limit` and says
/// how many links were left out (its cursor would skip them, so none is given).
fn list_associations(client: &Client, args: &Map<String, Value>) -> Result<Value, ToolError> {
    let id = args::required(args, "id")?;
    let path = client.path(
        Endpoint::ReadAssociations,
        &[
            args::object_type(args, "objectType")?,
            args::object_type(args, "toObjectType")?,
        ],
    );
    let mut input = json!({ "id": id });
    if let Some(after) = args::text(args, "after").filter(|a| !a.is_empty()) {
        input["after"] = json!(after);
    }
    let answer = client.call(Method::Post, path, Some(json!({ "inputs": [input] })))?;
    // One input, so one result (or, for an id HubSpot could not read, none).
    let found = answer["results"].get(0);
    let Some(found) = found else {
        // HubSpot lists an id it could not read in `errors` (a 207), not as a failure.
        let error = match &answer["errors"][0] {
            Value::Object(error) => Value::Object(error.clone()),
            _ => json!({ "message": "HubSpot returned no links for this record" }),
        };
        return Err(client.reported_error(404, &error).into());
    };
    let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(100) as usize;
    let mut links = found["to"].as_array().cloned().unwrap_or_default();
    let omitted = links.len().saturating_sub(limit);
    links.truncate(limit);
    let mut page = json!({ "results": links });
    if omitted > 0 {
        page["truncated"] = json!({
            "omitted": omitted,
            "note": format!("{omitted} more link(s) were left out: call again with a larger limit (up to 500) to see them")
        });
    } else if let Some(paging) = found.get("paging") {
        page["paging"] = paging.clone();
    }
    Ok(page)
}

fn create_association(client: &Client, args: &Map<String, Value>) -> Result<Value, ToolError> {
    let ends = [
        args::object_type(args, "objectType")?,
        args::required(args, "id")?,
        args::object_type(args, "toObjectType")?,
        args::required(args, "toId")?,
    ];
    let result = match args.get("associationTypeId").and_then(Value::as_u64) {
        None => {
            let path = client.path(Endpoint::CreateDefaultAssociation, &ends);
            client.call(Method::Put, path, None)?
        }
        Some(type_id) => {
            let category = args::text(args, "associationCategory").unwrap_or("HUBSPOT_DEFINED");
            let path = client.path(Endpoint::CreateLabeledAssociation, &ends);
            let body = json!([{ "associationCategory": category, "associationTypeId": type_id }]);
            client.call(Method::Put, path, Some(body))?
        }
    };
    Ok(result)
}

fn get_properties(client: &Client, args: &Map<String, Value>) -> Result<Value, ToolError> {
    let path = client.path(
        Endpoint::ListProperties,
        &[args::object_type(args, "objectType")?],
    );
    let mut answer = client.call(Method::Get, path, None)?;
    let names = args::string_list(args, "names");
    if !names.is_empty() {
        if let Some(Value::Array(results)) = answer.get_mut("results") {
            results.retain(|p| {
                p["name"]
                    .as_str()
                    .is_some_and(|n| names.iter().any(|w| w == n))
            });
        }
    }
    Ok(answer)
}

/// The arguments of create_property (`create`) and update_property.
fn property_fields(create: bool) -> Value {
    let option = json!({
        "type": "object",
        "properties": {
            "label": {"type": "string"},
            "value": {"type": "string"},
            "displayOrder": {"type": "integer"},
            "hidden": {"type": "boolean"}
        },
        "required": ["label", "value"],
        "additionalProperties": false
    });
    let mut fields = json!({
        "objectType": args::object_type_schema("The object type"),
        "name": {"type": "string", "description": if create { "The internal name: lowercase letters, digits and _, starting with a letter." } else { "The property to change." }},
        "label": {"type": "string", "description": "The name people see."},
        "description": {"type": "string"},
        "groupName": {"type": "string", "description": "The property group, e.g. contactinformation (see groupName in get_properties)."},
        "fieldType": {"type": "string", "enum": FIELD_TYPES},
        "options": {"type": "array", "items": option, "description": "For enumerations: the allowed values."},
        "hidden": {"type": "boolean"}
    });
    if create {
        fields["type"] = json!({"type": "string", "enum": PROPERTY_TYPES});
    }
    fields
}

fn property_call(
    client: &Client,
    args: &Map<String, Value>,
    create: bool,
) -> Result<Value, ToolError> {
    let ty = args::object_type(args, "objectType")?;
    let name = args::required(args, "name")?;
    let body: Map<String, Value> = args
        .iter()
        .filter(|(k, _)| k.as_str() != "objectType" && (create || k.as_str() != "name"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !create && body.is_empty() {
        return Err(ToolError::InvalidArguments(
            "give at least one of label, description, groupName, fieldType, options or hidden \
             to change: an update that changes nothing is refused"
                .into(),
        ));
    }
    let (method, path) = if create {
        (Method::Post, client.path(Endpoint::CreateProperty, &[ty]))
    } else {
        (
            Method::Patch,
            client.path(Endpoint::UpdateProperty, &[ty, name]),
        )
    };
    Ok(client.call(method, path, Some(Value::Object(body)))?)
}

fn record_links(client: &Client, args: &Map<String, Value>) -> Result<Value, ToolError> {
    let ty = args::object_type(args, "objectType")?;
    let type_id = super::object_type(ty).map_or(ty, |o| o.type_id);
    let account = client.call(
        Method::Get,
        client.path(Endpoint::AccountDetails, &[]),
        None,
    )?;
    let portal = account["portalId"].as_u64().ok_or_else(|| {
        ToolError::HubSpot(crate::hubspot::HubSpotError::InvalidResponse(
            "the account details have no portalId".into(),
        ))
    })?;
    let domain = account["uiDomain"].as_str().unwrap_or("app.hubspot.com");
    let base = format!("https://{domain}/contacts/{portal}");
    let links: Vec<Value> = args::string_list(args, "ids")
        .iter()
        .map(|id| json!({ "id": id, "url": format!("{base}/record/{type_id}/{}", encode(id)) }))
        .collect();
    Ok(json!({
        "portalId": portal,
        "uiDomain": domain,
        "listUrl": format!("{base}/objects/{type_id}/views/all/list"),
        "links": links
    }))
}

fn token_details(client: &Client, _: &Map<String, Value>) -> Result<Value, ToolError> {
    let token = client.token_info()?;
    let account = client.call(
        Method::Get,
        client.path(Endpoint::AccountDetails, &[]),
        None,
    )?;
    let mut details = json!({
        "hubId": token["hubId"],
        "userId": token["userId"],
        "appId": token["appId"],
        "scopes": token["scopes"],
        "uiDomain": account["uiDomain"],
        "portalId": account["portalId"],
        "accountType": account["accountType"],
        "timeZone": account["timeZone"],
        "companyCurrency": account["companyCurrency"],
        "dataHostingLocation": account["dataHostingLocation"]
    });
    if let Some(email) = token.get("userEmail") {
        details["userEmail"] = email.clone();
    }
    Ok(details)
}
