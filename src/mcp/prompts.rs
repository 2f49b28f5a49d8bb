//! The two prompts first specified: `analyze_contacts` and `company_research`.
//!
//! A prompt tells the model which tools to use, so a server offers it only when it has
//! every one of them (`prompts/list` leaves the others out and `prompts/get` refuses them
//! with -32602): a prompt naming a tool the server refuses would only lead to errors.

use super::{params, Exposure};
use crate::mcp::jsonrpc::RpcError;
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
    /// The tools the template names; the prompt is offered only with all of them.
    tools: &'static [&'static str],
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
        tools: &["get_contacts", "search_contacts"],
    },
    Prompt {
        name: "company_research",
        title: "Company research",
        description: "Research companies and their contact information",
        argument: "industry",
        argument_description: "Target industry for research",
        template: "Research the companies in HubSpot in the {} industry. Use get_companies to list them and search_contacts to find the people at each one; report each company with its size, location and key contacts, and point out companies that have no contacts yet.",
        default: "any",
        tools: &["get_companies", "search_contacts"],
    },
];

/// The prompts `exposure` offers: those whose tools it all has.
fn offered(exposure: &Exposure) -> impl Iterator<Item = &'static Prompt> + '_ {
    PROMPTS
        .iter()
        .filter(|p| p.tools.iter().all(|t| exposure.has_tool(t)))
}

/// The prompts `prompts/list` pages.
pub fn list(exposure: &Exposure) -> Vec<Value> {
    offered(exposure)
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
/// A prompt this server does not offer is refused like an unknown one, naming the
/// tools it lacks.
pub fn get(exposure: &Exposure, params: &Map<String, Value>) -> Result<Value, RpcError> {
    let call: params::Call = params::parse(params)?;
    let name = call
        .name
        .given()
        .ok_or_else(|| RpcError::invalid_params("'name' must be a prompt name (string)"))?;
    let prompt = offered(exposure).find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = offered(exposure).map(|p| p.name).collect();
        let names = if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        };
        RpcError::invalid_params(match PROMPTS.iter().find(|p| p.name == name) {
            Some(p) => format!(
                "prompt not available on this server: '{name}' (it uses {}, which this server \
                 does not all have); available: {names}",
                p.tools.join(", ")
            ),
            None => format!("unknown prompt '{name}'; available: {names}"),
        })
    })?;
    let args = call.arguments.object()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    /// Each prompt's `tools` are exactly the catalog tools its text names, so the rule
    /// "offered only with all its tools" cannot drift from what the prompt says.
    #[test]
    fn each_prompt_lists_exactly_the_tools_its_text_names() {
        for p in PROMPTS {
            let mut named: Vec<&str> = p
                .template
                .split(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .filter(|word| catalog::find(word).is_some())
                .collect();
            named.sort();
            named.dedup();
            let mut declared = p.tools.to_vec();
            declared.sort();
            assert_eq!(named, declared, "{}", p.name);
        }
    }

    #[test]
    fn a_prompt_is_offered_only_with_all_its_tools() {
        let names =
            |e: &Exposure| -> Vec<Value> { list(e).iter().map(|p| p["name"].clone()).collect() };
        let all = Exposure::all(Default::default(), Default::default());
        assert_eq!(names(&all), ["analyze_contacts", "company_research"]);
        let contacts_read = Exposure::new(Default::default(), Default::default(), |t| {
            ["get_contacts", "search_contacts"].contains(&t.name)
        });
        assert_eq!(names(&contacts_read), ["analyze_contacts"]);
        let params = |name: &str| json!({ "name": name }).as_object().unwrap().clone();
        assert!(get(&contacts_read, &params("analyze_contacts")).is_ok());
        let err = get(&contacts_read, &params("company_research")).unwrap_err();
        assert!(
            err.message.contains("not available on this server"),
            "{err:?}"
        );
        let writes = Exposure::new(Default::default(), Default::default(), |t| !t.read_only);
        assert!(list(&writes).is_empty());
    }
}
