//! Resources: one per HubSpot object type whose list tool the server exposes
//! (`hubspot://contacts` needs `get_contacts`), whose read is the first page of records as
//! JSON, and one template per type whose get tool it exposes (`hubspot://contacts/{id}`
//! needs `get_contact`), whose read is that record. So a scoped server's resources never
//! read more than its tools could: a write-only or search-only server has none.

use super::{params, Exposure, Recheck};
use crate::catalog::ObjectType;
use crate::hubspot::{Client, HubSpotError};
use crate::mcp::jsonrpc::{ErrorCode, RpcError};
use serde_json::{json, Map, Value};

/// How many records a resource read returns.
const PAGE: u64 = 10;

/// The resources `resources/list` pages.
pub fn list(exposure: &Exposure) -> Vec<Value> {
    exposure
        .listable
        .iter()
        .map(|object| {
            json!({
                "uri": format!("hubspot://{}", object.name),
                "name": object.title,
                "description": object.description,
                "mimeType": "application/json"
            })
        })
        .collect()
}

/// The templates `resources/templates/list` pages: one record of each exposed type.
pub fn templates(exposure: &Exposure) -> Vec<Value> {
    exposure
        .gettable
        .iter()
        .map(|object| {
            json!({
                "uriTemplate": format!("hubspot://{}/{{id}}", object.name),
                "name": format!("HubSpot {}", object.noun),
                "description": format!("One HubSpot {} by record id, with its default properties", object.singular),
                "mimeType": "application/json"
            })
        })
        .collect()
}

/// The `resources/read` result for `params.uri`: `hubspot://<type>` or
/// `hubspot://<type>/<id>`. An unknown URI or record, or one this server does not expose,
/// is -32002 for legacy clients and -32602 on 2026-07-28, which retires -32002
/// (resources.mdx, Error Handling).
pub fn read(
    exposure: &Exposure,
    client: &Client,
    recheck: Option<Recheck>,
    params: &Map<String, Value>,
    modern: bool,
) -> Result<Value, RpcError> {
    let read: params::Read = params::parse(params)?;
    let uri = read.uri.given().ok_or_else(|| {
        RpcError::invalid_params("'uri' must be a resource URI such as hubspot://contacts")
    })?;
    let not_found = |why: String| {
        RpcError::new(
            if modern {
                ErrorCode::INVALID_PARAMS
            } else {
                ErrorCode::RESOURCE_NOT_FOUND
            },
            format!("Resource not found: {uri}; {why}"),
        )
        .with_data(json!({ "uri": uri }))
    };
    let rest = uri.strip_prefix("hubspot://").unwrap_or_default();
    let (name, id) = match rest.split_once('/') {
        Some((name, id)) => (name, Some(id)),
        None => (rest, None),
    };
    let exposed = if id.is_some() {
        &exposure.gettable
    } else {
        &exposure.listable
    };
    let object: &ObjectType = exposed
        .iter()
        .find(|o| o.name == name)
        .ok_or_else(|| not_found(available(exposure)))?;
    let tool = crate::catalog::find(&if id.is_some() {
        object.get_tool()
    } else {
        object.list_tool()
    });
    if let (Some(recheck), Some(tool)) = (recheck, tool) {
        recheck(Some(tool))?;
    }
    let answer = match id {
        None => client.list_objects(object.name, PAGE, None, &[]),
        Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
            let path = client.path(crate::hubspot::Endpoint::GetObject, &[object.name, id]);
            client.call(crate::hubspot::Method::Get, path, None)
        }
        Some(id) => return Err(not_found(format!("'{id}' is not a record id (digits)"))),
    };
    let page = match answer {
        Ok(page) => page,
        Err(HubSpotError::Status { status: 404, .. }) => {
            return Err(not_found(format!(
                "no {} record with that id",
                object.singular
            )))
        }
        Err(HubSpotError::Withdrawn(why)) => return Err(super::withdrawn(recheck, tool, why)),
        Err(err) => return Err(RpcError::internal(err.to_string())),
    };
    Ok(json!({
        "contents": [{
            "uri": uri,
            "mimeType": "application/json",
            "text": serde_json::to_string_pretty(&page).unwrap_or_default()
        }]
    }))
}

/// What a server that cannot read a URI says instead: the URIs it can read.
fn available(exposure: &Exposure) -> String {
    let uris: Vec<String> = exposure
        .listable
        .iter()
        .map(|o| format!("hubspot://{}", o.name))
        .chain(
            exposure
                .gettable
                .iter()
                .map(|o| format!("hubspot://{}/<id>", o.name)),
        )
        .collect();
    if uris.is_empty() {
        "this server exposes no resources (its tools read no object type)".into()
    } else {
        format!("this server exposes {}", uris.join(", "))
    }
}
