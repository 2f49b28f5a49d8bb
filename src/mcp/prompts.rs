//! The seed's two prompts: `analyze_contacts` and `company_research`.

use crate::jsonrpc::RpcError;
use serde_json::{json, Map, Value};

struct Prompt {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    argument: &'static str,
    argument_description: &'static str,
    /// The message text; `{}` is replaced by the argument (or its default).
    template: &'static str,
    default: &'static str,
}

const PROMPTS: &[Prompt] = &[
    Prompt {
        name: "analyze_contacts",
        title: "Analyze contacts",
        description: "Analyze contact data for insights and patterns",
        argument: "criteria",
        argument_description: "Analysis criteria (e.g., activity, demographics)",
        template: "Analyze the HubSpot contacts with a focus on {}. Use the get_contacts and search_contacts tools to fetch the data (ask only for the properties you need), then summarise the patterns you find, notable segments, gaps in the data, and concrete next steps for the sales team.",
        default: "overall activity and demographics",
    },
    Prompt {
        name: "company_research",
        title: "Company research",
        description: "Research companies and their contact information",
        argument: "industry",
        argument_description: "Target industry for research",
        template: "Research the companies in HubSpot in the {} industry. Use get_companies to list them and search_contacts to find the people at each one; report each company with its size, location and key contacts, and point out companies that have no contacts yet.",
        default: "any",
    },
];

/// The prompts `prompts/list` pages.
pub fn list() -> Vec<Value> {
    PROMPTS
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "title": p.title,
                "description": p.description,
                "arguments": [{
                    "name": p.argument,
                    "description": p.argument_description,
                    "required": false
                }]
            })
        })
        .collect()
}

/// The `prompts/get` result: the prompt's messages with its argument filled in.
pub fn get(params: &Map<String, Value>) -> Result<Value, RpcError> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("'name' must be a prompt name (string)"))?;
    let prompt = PROMPTS.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = PROMPTS.iter().map(|p| p.name).collect();
        RpcError::invalid_params(format!(
            "unknown prompt '{name}'; available: {}",
            names.join(", ")
        ))
    })?;
    let args = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(args)) => args.clone(),
        Some(_) => return Err(RpcError::invalid_params("'arguments' must be an object")),
    };
    if let Some(unknown) = args.keys().find(|k| *k != prompt.argument) {
        return Err(RpcError::invalid_params(format!(
            "prompt '{name}' has no argument '{unknown}'; it takes '{}'",
            prompt.argument
        )));
    }
    let value = match args.get(prompt.argument) {
        None | Some(Value::Null) => prompt.default.to_string(),
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::String(_)) => prompt.default.to_string(),
        Some(_) => {
            return Err(RpcError::invalid_params(format!(
                "argument '{}' must be a string",
                prompt.argument
            )))
        }
    };
    Ok(json!({
        "description": prompt.description,
        "messages": [{
            "role": "user",
            "content": { "type": "text", "text": prompt.template.replace("{}", &value) }
        }]
    }))
}
