//! The one tool table. `tools/list`, tool calls, scoped-server filtering and resources
//! are all derived from it; nothing lists tools by hand twice.

pub mod discovery;
mod schema;
mod tools;

use crate::hubspot::{Client, HubSpotError};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

pub use schema::check_arguments;

/// What a tool's handler gets: the HubSpot client and the already-checked arguments.
pub type Handler = fn(&Client, &Map<String, Value>) -> Result<Value, ToolError>;

/// Why a tool call failed.
#[derive(Debug)]
pub enum ToolError {
    /// The arguments are wrong in a way the schema cannot say (answered as -32602).
    InvalidArguments(String),
    /// HubSpot failed (answered as a tool result with `isError: true`).
    HubSpot(HubSpotError),
}

impl From<HubSpotError> for ToolError {
    fn from(err: HubSpotError) -> ToolError {
        ToolError::HubSpot(err)
    }
}

/// One tool: what `tools/list` shows, what scoped servers filter on, and what it runs.
pub struct Tool {
    /// The tool name (`get_contacts`).
    pub name: &'static str,
    /// A short human-readable title.
    pub title: &'static str,
    /// What the tool does, written for a model.
    pub description: &'static str,
    /// The JSON Schema of the arguments.
    pub input_schema: Value,
    /// True when the tool only reads.
    pub read_only: bool,
    /// The Truto method (`list`, `get`, `create`, `update`, `delete`, or a custom name).
    pub method: &'static str,
    /// Tags for scoped-server filtering (`contacts`, `companies`, ...).
    pub tags: &'static [&'static str],
    /// Runs the tool.
    pub handler: Handler,
}

impl Tool {
    /// The tool as `tools/list` shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.read_only,
                "destructiveHint": false,
                "idempotentHint": self.read_only,
                "openWorldHint": true
            },
            "_meta": { "method": self.method, "tags": self.tags }
        })
    }
}

/// A HubSpot object type that is also an MCP resource (`hubspot://contacts`).
pub struct ObjectType {
    /// HubSpot's object type name, also the resource URI host and the tag.
    pub name: &'static str,
    /// The resource's display name.
    pub title: &'static str,
    /// The resource's description.
    pub description: &'static str,
}

/// The object types served as resources, in the seed's order.
pub static OBJECT_TYPES: &[ObjectType] = &[
    ObjectType {
        name: "contacts",
        title: "HubSpot Contacts",
        description: "Access to HubSpot CRM contacts database",
    },
    ObjectType {
        name: "companies",
        title: "HubSpot Companies",
        description: "Access to HubSpot CRM companies database",
    },
    ObjectType {
        name: "deals",
        title: "HubSpot Deals",
        description: "Access to HubSpot CRM deals database",
    },
];

/// Every tool, built once.
pub fn tools() -> &'static [Tool] {
    static TOOLS: OnceLock<Vec<Tool>> = OnceLock::new();
    TOOLS.get_or_init(tools::all)
}

/// Every tool's Truto method and tags, the shape the registry filters on.
pub fn filter_view() -> &'static [(&'static str, &'static [&'static str])] {
    static VIEW: OnceLock<Vec<(&'static str, &'static [&'static str])>> = OnceLock::new();
    VIEW.get_or_init(|| tools().iter().map(|t| (t.method, t.tags)).collect())
}

/// The tool called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Tool> {
    tools().iter().find(|tool| tool.name == name)
}
