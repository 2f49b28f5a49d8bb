//! The MCP protocol: version negotiation across both eras, `initialize`,
//! `server/discover`, `ping`, tools, resources and prompts, served from one catalog.

mod exchange;
mod paging;
mod prompts;
mod resources;
pub mod version;

use crate::catalog::{self, ObjectType, Tool, ToolError, OBJECT_TYPES};
use crate::hubspot::Client;
use crate::jsonrpc::RpcError;
pub use exchange::exchange;
use serde_json::{json, Map, Value};
use version::{Era, Headers};

/// The seed's `instructions`.
const INSTRUCTIONS: &str = "HubSpot MCP Server - Access to CRM contacts, companies, and deals data";
/// How long a client may cache list and read results (modern era).
const LIST_TTL_MS: u64 = 60_000;

/// Which tools and object types one MCP server exposes (all of them for `/mcp`, a
/// filtered set for a scoped `/mcp/<token>` server).
pub struct Exposure {
    tools: Vec<&'static Tool>,
    objects: Vec<&'static ObjectType>,
    /// The `tools/list` pages, built once: `[0]` without `outputSchema` (before
    /// 2025-06-18), `[1]` with it.
    tools_pages: [Vec<Value>; 2],
}

impl Exposure {
    /// Exposes the tools for which `keep` is true, and the object types they touch.
    pub fn new(keep: impl Fn(&Tool) -> bool) -> Exposure {
        let tools: Vec<&'static Tool> = catalog::tools().iter().filter(|t| keep(t)).collect();
        let objects = OBJECT_TYPES
            .iter()
            .filter(|o| tools.iter().any(|t| t.tags.contains(&o.name)))
            .collect();
        let tools_pages = [false, true].map(|structured| {
            paging::pages(
                "tools",
                tools.iter().map(|t| t.to_json(structured)).collect(),
            )
        });
        Exposure {
            tools,
            objects,
            tools_pages,
        }
    }

    /// Every tool in the catalog.
    pub fn all() -> Exposure {
        Exposure::new(|_| true)
    }

    /// How many tools are exposed.
    pub fn len(&self) -> usize {
        self.tools.len()
    }
}

/// One MCP server: an exposure and the HubSpot account its tools call.
pub struct Server<'a> {
    /// What this server exposes.
    pub exposure: &'a Exposure,
    /// The HubSpot account behind it.
    pub client: &'a Client,
}

/// The methods this server implements (a body on `/mcp/<path>` must name the same).
pub const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "prompts/list",
    "prompts/get",
];

impl Server<'_> {
    /// Answers one request (not a notification).
    pub fn handle(
        &self,
        method: &str,
        params: &Map<String, Value>,
        headers: Headers,
    ) -> Result<Value, RpcError> {
        let era = version::detect(method, params, headers)?;
        let modern = matches!(era, Era::Modern(_));
        let structured = structured_content(era);
        let (mut result, cacheable) = match method {
            "initialize" => (initialize(era), false),
            "server/discover" => (discover(), true),
            "ping" => (json!({}), false),
            "tools/list" => (
                paging::select(&self.exposure.tools_pages[usize::from(structured)], params)?,
                true,
            ),
            "tools/call" => (self.call_tool(params, structured)?, false),
            "resources/list" => (
                page("resources", resources::list(self.exposure), params)?,
                true,
            ),
            "resources/templates/list" => (
                page(
                    "resourceTemplates",
                    resources::templates(self.exposure),
                    params,
                )?,
                true,
            ),
            "resources/read" => (
                resources::read(self.exposure, self.client, params, modern)?,
                true,
            ),
            "prompts/list" => (page("prompts", prompts::list(), params)?, true),
            "prompts/get" => (prompts::get(params)?, false),
            _ => {
                let err = RpcError::method_not_found(method);
                return Err(if modern { err.with_status(404) } else { err });
            }
        };
        if modern {
            if let Value::Object(obj) = &mut result {
                obj.insert("resultType".into(), "complete".into());
                stamp_server_info(obj);
                if cacheable {
                    obj.insert("ttlMs".into(), LIST_TTL_MS.into());
                    obj.insert("cacheScope".into(), cache_scope(method).into());
                }
            }
        }
        Ok(result)
    }

    /// `tools/call`: checks the tool is exposed and its arguments fit the schema, runs it,
    /// and turns a HubSpot failure into a result with `isError: true`. The result is the
    /// answer as pretty JSON text, and for `structured` clients also `structuredContent`.
    fn call_tool(&self, params: &Map<String, Value>, structured: bool) -> Result<Value, RpcError> {
        let name = params.get("name").and_then(Value::as_str).ok_or_else(|| {
            RpcError::invalid_params("'name' must be the name of a tool (string)")
        })?;
        let tool = match catalog::find(name) {
            Some(tool) if self.exposure.tools.iter().any(|t| t.name == name) => tool,
            Some(_) => {
                return Err(RpcError::invalid_params(format!(
                    "tool not available on this server: '{name}'"
                )))
            }
            None => {
                let names: Vec<&str> = self.exposure.tools.iter().map(|t| t.name).collect();
                return Err(RpcError::invalid_params(format!(
                    "Unknown tool: '{name}'; available tools: {}",
                    names.join(", ")
                )));
            }
        };
        let empty = Map::new();
        let args = match params.get("arguments") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(args)) => args,
            Some(_) => return Err(RpcError::invalid_params("'arguments' must be an object")),
        };
        catalog::check_arguments(args, &tool.input_schema)
            .map_err(|why| RpcError::invalid_params(format!("{name}: {why}")))?;
        match tool.run(self.client, args) {
            Ok(value) => {
                let text = serde_json::to_string_pretty(&value).unwrap_or_default();
                let mut result = json!({ "content": [{ "type": "text", "text": text }] });
                if structured {
                    result["structuredContent"] = value;
                }
                Ok(result)
            }
            Err(ToolError::InvalidArguments(why)) => {
                Err(RpcError::invalid_params(format!("{name}: {why}")))
            }
            Err(ToolError::HubSpot(err)) => Ok(json!({
                "content": [{ "type": "text", "text": err.to_string() }],
                "isError": true
            })),
        }
    }
}

/// A list result built per request (resources, templates, prompts), paged.
fn page(key: &str, items: Vec<Value>, params: &Map<String, Value>) -> Result<Value, RpcError> {
    paging::select(&paging::pages(key, items), params)
}

/// True for protocol versions whose tools have `outputSchema` and whose results carry
/// `structuredContent` (2025-06-18 and newer). A legacy request without the
/// `MCP-Protocol-Version` header counts as 2025-03-26, as the spec says.
fn structured_content(era: Era) -> bool {
    era.version() >= "2025-06-18"
}

/// The `cacheScope` of a cacheable modern result: the spec allows only `"public"` and
/// `"private"`. Whatever depends on the exposure (a scoped server filters tools and
/// resources per token) or holds CRM records is `"private"`; the rest is the same for
/// every caller.
fn cache_scope(method: &str) -> &'static str {
    match method {
        "tools/list" | "resources/list" | "resources/read" => "private",
        _ => "public",
    }
}

/// The capabilities this server claims (the seed's).
fn capabilities() -> Value {
    json!({
        "tools": { "listChanged": true },
        "resources": { "listChanged": true },
        "prompts": { "listChanged": true }
    })
}

/// The capabilities claimed on 2026-07-28. There, `listChanged: true` promises
/// `notifications/*/list_changed` on a `subscriptions/listen` stream, which this server
/// does not offer (its lists are fixed for its lifetime), so the claim is left out;
/// clients fall back on the `ttlMs` of each list (caching.mdx, "Interaction with
/// Notifications").
fn modern_capabilities() -> Value {
    json!({ "tools": {}, "resources": {}, "prompts": {} })
}

fn server_info() -> Value {
    json!({ "name": "hubspot-mcp-server", "version": env!("CARGO_PKG_VERSION") })
}

/// The legacy handshake result (the seed's shape).
fn initialize(era: Era) -> Value {
    json!({
        "protocolVersion": era.version(),
        "capabilities": capabilities(),
        "serverInfo": server_info(),
        "instructions": INSTRUCTIONS
    })
}

/// The modern discovery result: versions and capabilities (who we are goes in `_meta`,
/// as on every modern result).
fn discover() -> Value {
    json!({
        "supportedVersions": version::supported(),
        "capabilities": modern_capabilities(),
        "instructions": INSTRUCTIONS
    })
}

/// Puts `_meta["io.modelcontextprotocol/serverInfo"]` on a modern result: 2026-07-28 has
/// no `initialize` result to carry `serverInfo`, so servers SHOULD stamp it on every
/// result (basic/index.mdx, "Per-response protocol fields"), and clients read it from
/// there (the discover result has no top-level `serverInfo`).
fn stamp_server_info(result: &mut Map<String, Value>) {
    let meta = result
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert(version::META_SERVER_INFO.into(), server_info());
    }
}
