//! The MCP layer, above the catalog: the protocol and its transports (JSON-RPC over HTTP
//! bodies, `jsonrpc`; stdio, `stdio`), with no HTTP status and no credentials here.
//!
//! The MCP protocol: version negotiation across both eras, `initialize`,
//! `server/discover`, `ping`, tools, resources and prompts, served from one catalog.

pub mod jsonrpc;
pub mod stdio;

mod exchange;
mod method;
pub mod paging;
mod params;
mod prompts;
mod resources;
pub mod version;

use crate::catalog::discovery::{self, MetaTool, ToolExposure};
use crate::catalog::{self, ObjectType, Tool, ToolError, OBJECT_TYPES};
use crate::hubspot::{Client, HubSpotError};
use crate::mcp::jsonrpc::{ErrorCode, RpcError};
pub use exchange::{exchange, http_status};
pub use method::Method;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use version::{Era, ProtocolVersion};

/// The `instructions` first specified.
const INSTRUCTIONS: &str = "HubSpot MCP Server - Access to CRM contacts, companies, and deals data";
/// How long a client may cache list and read results (modern era).
const LIST_TTL_MS: u64 = 60_000;

/// The limits of the MCP endpoints, from the config. Each [`Exposure`] carries them, so
/// the pages it prebuilds, the results it returns and the batches it answers all follow
/// the same settings and nothing process-wide has to be set first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// `MCP_PAGE_SIZE`: items per list page.
    pub page_size: usize,
    /// `TOOL_RESULT_MAX_BYTES`: the most bytes of one tool result's text (a longer one
    /// keeps fewer records, see `catalog::cap`).
    pub result_limit: usize,
    /// `MAX_BATCH`: the most messages one JSON-RPC batch may hold.
    pub max_batch: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            page_size: paging::DEFAULT_PAGE_SIZE,
            result_limit: catalog::DEFAULT_RESULT_LIMIT,
            max_batch: crate::mcp::jsonrpc::DEFAULT_MAX_BATCH,
        }
    }
}

/// Which tools and object types one MCP server exposes (all of them for `/mcp`, a
/// filtered set for a scoped `/mcp/<token>` server), and how `tools/list` shows the tools:
/// each one, or in discovery mode only the meta-tools that search, describe and call them.
pub struct Exposure {
    tools: Vec<&'static Tool>,
    /// The object types whose list tool is exposed: resources `hubspot://<type>`.
    listable: Vec<&'static ObjectType>,
    /// The object types whose get tool is exposed: templates `hubspot://<type>/{id}`.
    gettable: Vec<&'static ObjectType>,
    /// The tags of the exposed tools that read: a tool that writes records of no such tag
    /// answers only what its caller sent (see [`Exposure::echoes_only`]).
    readable: Vec<&'static str>,
    /// The meta-tools and their definitions in discovery mode; empty otherwise.
    meta: Vec<(MetaTool, Value)>,
    /// How `tools/list` shows the tools.
    mode: ToolExposure,
    /// Every `tools/list` page serialized once per way of showing it (`[0]` plain, `[1]`
    /// structured, `[2]` modern): answers copy these bytes instead of building the list
    /// and serializing it each time, and no copy of the list is kept as a JSON tree.
    pages_json: [Vec<String>; 3],
    /// The limits it is served with.
    settings: Settings,
}

impl Exposure {
    /// Exposes the tools for which `keep` is true, listed as `mode` says, and the resources
    /// that read what those tools read (a resource never reads more than the tools allow).
    /// `settings` are the limits it is served with.
    pub fn new(settings: Settings, mode: ToolExposure, keep: impl Fn(&Tool) -> bool) -> Exposure {
        let tools: Vec<&'static Tool> = catalog::tools().iter().filter(|t| keep(t)).collect();
        let having = |tool: fn(&'static ObjectType) -> String| {
            OBJECT_TYPES
                .iter()
                .filter(|o| {
                    let name = tool(o);
                    tools.iter().any(|t| t.name == name)
                })
                .collect()
        };
        let (listable, gettable) = (having(ObjectType::list_tool), having(ObjectType::get_tool));
        let mut readable: Vec<&'static str> = Vec::new();
        for tag in tools.iter().filter(|t| t.read_only).flat_map(|t| t.tags) {
            if !readable.contains(tag) {
                readable.push(tag);
            }
        }
        let meta: Vec<(MetaTool, Value)> = match mode {
            ToolExposure::All => Vec::new(),
            ToolExposure::Discovery => MetaTool::ALL
                .into_iter()
                .map(|m| (m, m.definition(&tools)))
                .collect(),
        };
        let mut exposure = Exposure {
            tools,
            listable,
            gettable,
            readable,
            meta,
            mode,
            pages_json: Default::default(),
            settings,
        };
        exposure.pages_json =
            [(false, false), (true, false), (true, true)].map(|(structured, modern)| {
                let mut pages =
                    paging::pages("tools", exposure.listed(structured), settings.page_size);
                pages
                    .iter_mut()
                    .map(|page| {
                        if modern {
                            mark_modern(page, Method::ToolsList, true);
                        }
                        page.to_string()
                    })
                    .collect()
            });
        exposure
    }

    /// The tool definitions `tools/list` shows, with `outputSchema` when `structured`.
    fn listed(&self, structured: bool) -> Vec<Value> {
        match self.mode {
            ToolExposure::All => self.tools.iter().map(|t| t.to_json(structured)).collect(),
            ToolExposure::Discovery => self.meta.iter().map(|(_, d)| d.clone()).collect(),
        }
    }

    /// The serialized `tools/list` page that `params.cursor` names, as `era` shows it.
    fn tools_page(&self, era: Era, params: &Map<String, Value>) -> Result<&str, RpcError> {
        let kind = match era {
            Era::Modern(_) => 2,
            legacy => usize::from(structured_content(legacy)),
        };
        let pages = &self.pages_json[kind];
        Ok(&pages[paging::index(pages.len(), params, self.settings.page_size)?])
    }

    /// How `tools/list` shows the tools.
    pub fn mode(&self) -> ToolExposure {
        self.mode
    }

    /// The limits it is served with.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Every tool in the catalog, listed as `mode` says.
    pub fn all(settings: Settings, mode: ToolExposure) -> Exposure {
        Exposure::new(settings, mode, |_| true)
    }

    /// How many tools are exposed (reachable, whether listed or found through discovery).
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// True when `tool` writes and no exposed tool reads what it writes (none shares a tag
    /// with it): its answer then carries only what the caller sent ([`Tool::echo`]), or the
    /// write would read what the server was not given (an update-only contacts server
    /// reading any contact by id). `/mcp`, which reads everything, never cuts an answer.
    fn echoes_only(&self, tool: &Tool) -> bool {
        !tool.read_only && !tool.tags.iter().any(|tag| self.readable.contains(tag))
    }

    /// True when the tool called `name` is exposed (listed or reachable through discovery).
    fn has_tool(&self, name: &str) -> bool {
        self.tools.iter().any(|t| t.name == name)
    }

    /// The exposed tool called `name`, or the -32602 a direct call of it gets: a catalog
    /// tool outside this server's filter is "not available", any other name unknown.
    fn tool(&self, name: &str) -> Result<&'static Tool, RpcError> {
        if let Some(tool) = self.tools.iter().find(|t| t.name == name) {
            return Ok(tool);
        }
        Err(RpcError::invalid_params(if catalog::find(name).is_some() {
            format!("tool not available on this server: '{name}'")
        } else if self.meta.is_empty() {
            let names: Vec<&str> = self.tools.iter().map(|t| t.name).collect();
            format!(
                "Unknown tool: '{name}'; available tools: {}",
                names.join(", ")
            )
        } else {
            format!("Unknown tool: '{name}'; call search_tools to find this server's tools")
        }))
    }
}

/// A check run before each request of a body (each item of a batch) and again right before
/// each HubSpot read or tool run (each `call_tool` in discovery mode, each `resources/read`):
/// a scoped server asks the registry again whether it still exists and still allows the
/// tool (`None`: only whether it exists), so a deletion, expiry or narrowing stops the next
/// call, not the next request.
pub type Recheck<'a> = &'a dyn Fn(Option<&Tool>) -> Result<(), RpcError>;

/// One MCP server: an exposure and the HubSpot account its tools call.
pub struct Server<'a> {
    /// What this server exposes.
    pub exposure: &'a Exposure,
    /// The HubSpot account behind it.
    pub client: &'a Client,
    /// Run before every tool call (scoped servers); `None` for `/mcp` and stdio.
    pub recheck: Option<Recheck<'a>>,
}

impl Server<'_> {
    /// Answers one request (not a notification) of `era` (see [`version::detect`]). A
    /// scoped server is rechecked first, then the method looked up (-32601 if unknown).
    pub fn handle(
        &self,
        era: Era,
        method: &str,
        params: &Map<String, Value>,
    ) -> Result<Reply, RpcError> {
        if let Some(recheck) = self.recheck {
            recheck(None)?;
        }
        let method: Method = method.parse()?;
        let modern = matches!(era, Era::Modern(_));
        let structured = structured_content(era);
        let size = self.exposure.settings.page_size;
        if method == Method::ToolsCall {
            return Ok(match self.call_tool(params, structured)? {
                Reply::Value(mut result) if modern => {
                    mark_modern(&mut result, method, false);
                    Reply::Value(result)
                }
                Reply::Bytes(mut result) if modern => {
                    mark_modern_bytes(&mut result);
                    Reply::Bytes(result)
                }
                reply => reply,
            });
        }
        let (mut result, cacheable) = match method {
            Method::Initialize => (initialize(era), false),
            Method::ServerDiscover => (discover(), true),
            Method::Ping => (json!({}), false),
            Method::ToolsList => (
                serde_json::from_str(self.exposure.tools_page(era, params)?)
                    .map_err(RpcError::internal)?,
                true,
            ),
            Method::ToolsCall => unreachable!("answered above"),
            Method::ResourcesList => (
                page("resources", resources::list(self.exposure), params, size)?,
                true,
            ),
            Method::ResourceTemplatesList => (
                page(
                    "resourceTemplates",
                    resources::templates(self.exposure),
                    params,
                    size,
                )?,
                true,
            ),
            Method::ResourcesRead => (
                resources::read(self.exposure, self.client, self.recheck, params, modern)?,
                true,
            ),
            Method::PromptsList => (
                page("prompts", prompts::list(self.exposure), params, size)?,
                true,
            ),
            Method::PromptsGet => (prompts::get(self.exposure, params)?, false),
        };
        if modern {
            mark_modern(&mut result, method, cacheable);
        }
        Ok(Reply::Value(result))
    }

    /// The result of a request whose answer never changes, as JSON text serialized once
    /// (a `tools/list` page, a legacy `initialize`); the same bytes [`Server::handle`]'s
    /// result serializes to. `None` means "call `handle`", which also reports every error
    /// (a scoped server that was deleted meanwhile among them).
    pub fn prebuilt(&self, era: Era, method: &str, params: &Map<String, Value>) -> Option<&str> {
        if self.recheck.is_some_and(|recheck| recheck(None).is_err()) {
            return None;
        }
        match era {
            _ if method == Method::ToolsList.as_str() => self.exposure.tools_page(era, params).ok(),
            Era::Legacy(version) if method == Method::Initialize.as_str() => {
                Some(initialize_text(version))
            }
            _ => None,
        }
    }

    /// `tools/call`: a meta-tool in discovery mode, else an exposed tool (also callable
    /// directly in discovery mode: the meta-tools only save listing it). `structured`
    /// clients (2025-06-18 and newer) also get `structuredContent`.
    fn call_tool(&self, params: &Map<String, Value>, structured: bool) -> Result<Reply, RpcError> {
        let call: params::Call = params::parse(params)?;
        let name = call.name.given().ok_or_else(|| {
            RpcError::invalid_params("'name' must be the name of a tool (string)")
        })?;
        let args = call.arguments.object()?;
        match self.exposure.meta.iter().find(|(m, _)| m.name() == name) {
            Some((meta, definition)) => {
                catalog::check_arguments(args, &definition["inputSchema"])
                    .map_err(|why| RpcError::invalid_params(format!("{name}: {why}")))?;
                self.call_meta(*meta, args, structured)
            }
            None => self.run_tool(self.exposure.tool(name)?, args, structured),
        }
    }

    /// Runs a meta-tool with checked arguments. `get_tool_schema` and `call_tool` resolve
    /// the tool as a direct call does, so they refuse the same tools with the same message.
    fn call_meta(
        &self,
        meta: MetaTool,
        args: &Map<String, Value>,
        structured: bool,
    ) -> Result<Reply, RpcError> {
        // The arguments were checked against the meta-tool's schema.
        let call: params::Call = params::parse(args)?;
        let name = call.name.given().unwrap_or_default();
        match meta {
            MetaTool::SearchTools => discovery::search(&self.exposure.tools, args)
                .map(|found| Reply::Value(tool_result(&found)))
                .map_err(|why| RpcError::invalid_params(format!("search_tools: {why}"))),
            MetaTool::GetToolSchema => Ok(Reply::Value(tool_result(
                &self.exposure.tool(name)?.to_json(structured),
            ))),
            MetaTool::CallTool => {
                let tool = self.exposure.tool(name)?;
                self.run_tool(tool, call.arguments.object()?, structured)
            }
        }
    }

    /// Checks the arguments fit the tool's schema, runs it, and turns a HubSpot failure
    /// into a result with `isError: true`.
    fn run_tool(
        &self,
        tool: &Tool,
        args: &Map<String, Value>,
        structured: bool,
    ) -> Result<Reply, RpcError> {
        let name = tool.name;
        if let Some(recheck) = self.recheck {
            recheck(Some(tool))?;
        }
        catalog::check_arguments(args, &tool.input_schema)
            .map_err(|why| RpcError::invalid_params(format!("{name}: {why}")))?;
        let limit = self.exposure.settings.result_limit;
        match tool.run(self.client, args, limit, self.exposure.echoes_only(tool)) {
            Ok(fitted) => {
                let mut result = Vec::new();
                fitted.write_result(structured, &mut result);
                Ok(Reply::Bytes(result))
            }
            Err(ToolError::InvalidArguments(why)) => {
                Err(RpcError::invalid_params(format!("{name}: {why}")))
            }
            Err(ToolError::HubSpot(HubSpotError::Withdrawn(why))) => {
                Err(withdrawn(self.recheck, Some(tool), why))
            }
            Err(ToolError::HubSpot(err)) => Ok(Reply::Value(json!({
                "content": [{ "type": "text", "text": err.to_string() }],
                "isError": true
            }))),
        }
    }
}

/// The error of a call whose HubSpot client's gate stopped it while it waited
/// ([`HubSpotError::Withdrawn`]): what the recheck says now (deleted, expired, narrowed,
/// or the registry out of reach), else -32001 with the gate's reason.
fn withdrawn(recheck: Option<Recheck>, tool: Option<&Tool>, why: String) -> RpcError {
    recheck
        .and_then(|recheck| recheck(tool).err())
        .unwrap_or_else(|| RpcError::new(ErrorCode::UNAUTHORIZED, why))
}

/// A list result built per request (resources, templates, prompts), paged.
fn page(
    key: &str,
    items: Vec<Value>,
    params: &Map<String, Value>,
    size: usize,
) -> Result<Value, RpcError> {
    paging::select(&paging::pages(key, items, size), params, size)
}

/// True for protocol versions whose tools have `outputSchema` and whose results carry
/// `structuredContent` (2025-06-18 and newer). A legacy request without the
/// `MCP-Protocol-Version` header counts as 2025-03-26, as the spec says.
fn structured_content(era: Era) -> bool {
    era.version() >= ProtocolVersion::V_2025_06_18
}

/// A successful tool result: the value as pretty JSON text.
fn tool_result(value: &Value) -> Value {
    text_result(serde_json::to_string_pretty(value).unwrap_or_default())
}

/// A successful tool result whose text is already printed.
fn text_result(text: String) -> Value {
    json!({ "content": [{ "type": "text", "text": text }] })
}

/// A result as [`Server::handle`] gives it to be written: a value, or bytes already
/// serialized (a tool's result, written straight from HubSpot's answer).
pub enum Reply {
    /// A result to serialize.
    Value(Value),
    /// A result already serialized as a JSON object.
    Bytes(Vec<u8>),
}

/// [`mark_modern`] for a tool's result already serialized (never cacheable): the same
/// members, in the same order, before its closing brace.
fn mark_modern_bytes(result: &mut Vec<u8>) {
    if result.last() != Some(&b'}') {
        return;
    }
    result.pop();
    result.extend_from_slice(br#","resultType":"complete","_meta":{"#);
    let _ = serde_json::to_writer(&mut *result, version::META_SERVER_INFO);
    result.push(b':');
    let _ = serde_json::to_writer(&mut *result, &server_info());
    result.extend_from_slice(b"}}");
}

/// Adds what every modern-era result carries: `resultType` and `serverInfo` in `_meta`,
/// and for cacheable (list and read) results `ttlMs` and `cacheScope`.
fn mark_modern(result: &mut Value, method: Method, cacheable: bool) {
    if let Value::Object(obj) = result {
        obj.insert("resultType".into(), "complete".into());
        stamp_server_info(obj);
        if cacheable {
            obj.insert("ttlMs".into(), LIST_TTL_MS.into());
            obj.insert("cacheScope".into(), cache_scope(method).into());
        }
    }
}

/// The `cacheScope` of a cacheable modern result: the spec allows only `"public"` and
/// `"private"`. Whatever depends on the exposure (a scoped server filters tools,
/// resources and prompts per token) or holds CRM records is `"private"`; the rest is the
/// same for every caller.
fn cache_scope(method: Method) -> &'static str {
    match method {
        Method::ToolsList
        | Method::ResourcesList
        | Method::ResourceTemplatesList
        | Method::ResourcesRead
        | Method::PromptsList => "private",
        _ => "public",
    }
}

/// The capabilities this server claims (as first specified).
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

/// The legacy handshake result (its first specified shape).
/// [`initialize`]'s result in the legacy era for `version`, serialized once per version.
fn initialize_text(version: ProtocolVersion) -> &'static str {
    static TEXTS: OnceLock<Vec<(ProtocolVersion, String)>> = OnceLock::new();
    TEXTS
        .get_or_init(|| {
            version::SUPPORTED
                .iter()
                .map(|v| (*v, initialize(Era::Legacy(*v)).to_string()))
                .collect()
        })
        .iter()
        .find(|(v, _)| *v == version)
        .map_or("{}", |(_, text)| text.as_str())
}

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
        "supportedVersions": version::SUPPORTED,
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
