//! Resources: one per exposed HubSpot object type (`hubspot://contacts`), whose read is
//! the first page of records as JSON.

use super::Exposure;
use crate::hubspot::Client;
use crate::jsonrpc::{RpcError, INVALID_PARAMS, RESOURCE_NOT_FOUND};
use serde_json::{json, Map, Value};

/// How many records a resource read returns.
const PAGE: u64 = 10;

/// The `resources/list` result.
pub fn list(exposure: &Exposure) -> Value {
    let resources: Vec<Value> = exposure
        .objects
        .iter()
        .map(|object| {
            json!({
                "uri": format!("hubspot://{}", object.name),
                "name": object.title,
                "description": object.description,
                "mimeType": "application/json"
            })
        })
        .collect();
    json!({ "resources": resources })
}

/// The `resources/templates/list` result (no templates yet).
pub fn templates() -> Value {
    json!({ "resourceTemplates": [] })
}

/// The `resources/read` result for `params.uri`. An unknown URI is -32002 for legacy
/// clients and -32602 on 2026-07-28, which retires -32002 (resources.mdx, Error Handling).
pub fn read(
    exposure: &Exposure,
    client: &Client,
    params: &Map<String, Value>,
    modern: bool,
) -> Result<Value, RpcError> {
    let uri = params.get("uri").and_then(Value::as_str).ok_or_else(|| {
        RpcError::invalid_params("'uri' must be a resource URI such as hubspot://contacts")
    })?;
    let object = uri
        .strip_prefix("hubspot://")
        .and_then(|name| exposure.objects.iter().find(|o| o.name == name))
        .ok_or_else(|| {
            let known: Vec<String> = exposure
                .objects
                .iter()
                .map(|o| format!("hubspot://{}", o.name))
                .collect();
            RpcError::new(
                if modern {
                    INVALID_PARAMS
                } else {
                    RESOURCE_NOT_FOUND
                },
                format!("Resource not found: {uri}; available: {}", known.join(", ")),
            )
            .with_data(json!({ "uri": uri }))
        })?;
    let page = client
        .list_objects(object.name, PAGE, None, &[])
        .map_err(|err| RpcError::internal(err.to_string()))?;
    Ok(json!({
        "contents": [{
            "uri": uri,
            "mimeType": "application/json",
            "text": serde_json::to_string_pretty(&page).unwrap_or_default()
        }]
    }))
}
