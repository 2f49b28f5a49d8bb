//! The catalog layer, above the HubSpot client: it knows tools and HubSpot, not MCP's
//! transport or who is calling.
//!
//! The one tool table. `tools/list`, tool calls, scoped-server filtering, resources and
//! README's tool list and docs/tools.md's table are all derived from it; nothing lists tools by hand twice.
//!
//! Most tools are generated: one per object type and operation ([`objects`]), plus tools
//! that take any object type, custom ones (`2-xxxx`) included, and the account-level
//! tools ([`context`]). The first five tools keep their originally specified names, descriptions
//! and input schemas ([`tools`]).

mod args;
mod cap;
mod context;
pub mod discovery;
mod echo;
mod objects;
mod output;
mod pretty;
mod schema;
mod scopes;
mod tools;

use crate::hubspot::{Client, HubSpotError};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

pub use cap::{Fitted, DEFAULT_RESULT_LIMIT};
pub use context::PROPERTY_TYPES;
pub use echo::Echo;
pub use schema::check_arguments;

/// What a tool runs: the HubSpot client and the already-checked arguments in, the result
/// (a JSON object) out. (Not an HTTP handler: those implement [`crate::http::Handler`].)
pub type ToolFn =
    Box<dyn Fn(&Client, &Map<String, Value>) -> Result<Answer, ToolError> + Send + Sync>;

/// A tool's answer: HubSpot's JSON as it came, for tools that pass it on unchanged (it is
/// then shown without ever becoming a `Value` tree, see [`cap::pass_through`]), or a value
/// the tool built or changed.
pub enum Answer {
    /// HubSpot's answer, unchanged (checked to be JSON).
    Raw(Box<serde_json::value::RawValue>),
    /// A value the tool made.
    Value(Value),
}

impl From<Value> for Answer {
    fn from(value: Value) -> Answer {
        Answer::Value(value)
    }
}

impl Answer {
    /// The answer as a `Value` (parsed, for an answer that came raw); an answer serde_json
    /// refuses (nested too deep, a number out of range, a lone surrogate) is HubSpot's
    /// invalid answer, as it was before answers came raw.
    pub fn into_value(self) -> Result<Value, ToolError> {
        match self {
            Answer::Value(value) => Ok(value),
            Answer::Raw(raw) => serde_json::from_str(raw.get()).map_err(|err| {
                ToolError::HubSpot(HubSpotError::InvalidResponse(format!(
                    "HubSpot's answer cannot be read as JSON: {err}"
                )))
            }),
        }
    }
}

/// A [`ToolFn`] from a handler that builds its answer as a `Value`.
pub fn values(
    handler: impl Fn(&Client, &Map<String, Value>) -> Result<Value, ToolError> + Send + Sync + 'static,
) -> ToolFn {
    Box::new(move |client, args| handler(client, args).map(Answer::Value))
}

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

/// What a tool does to HubSpot data, for the MCP annotations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect {
    /// Only reads.
    Read,
    /// Adds something new (not idempotent: twice makes two).
    Create,
    /// Sets values (idempotent: twice is the same as once).
    Update,
    /// Removes or archives (destructive, idempotent).
    Delete,
}

/// What a tool module writes down about one tool, as a struct literal; [`Tool::new`]
/// derives the rest.
pub struct ToolSpec {
    /// The tool name (`get_contacts`).
    pub name: &'static str,
    /// A short human-readable title.
    pub title: &'static str,
    /// What the tool does, when to use it and what it returns, written for a model.
    pub description: &'static str,
    /// What the tool does to the data.
    pub effect: Effect,
    /// The Truto method (`list`, `get`, `create`, `update`, `delete`, or a custom name
    /// such as `search`).
    pub method: &'static str,
    /// Tags for scoped-server filtering (`contacts`, `companies`, ...).
    pub tags: &'static [&'static str],
    /// The JSON Schema of the arguments.
    pub input_schema: Value,
    /// The JSON Schema of the result (`structuredContent`).
    pub output_schema: Value,
    /// Runs the tool.
    pub handler: ToolFn,
}

/// One tool: what `tools/list` shows, what scoped servers filter on, and what it runs.
pub struct Tool {
    /// The tool name (`get_contacts`).
    pub name: &'static str,
    /// A short human-readable title.
    pub title: &'static str,
    /// What the tool does, when to use it and what it returns, written for a model.
    pub description: &'static str,
    /// The JSON Schema of the arguments.
    pub input_schema: Value,
    /// The JSON Schema of the result (`structuredContent`).
    pub output_schema: Value,
    /// What the tool does to the data.
    pub effect: Effect,
    /// True when the tool only reads (`effect == Read`).
    pub read_only: bool,
    /// The Truto method (see [`ToolSpec::method`]).
    pub method: &'static str,
    /// Tags for scoped-server filtering (`contacts`, `companies`, ...).
    pub tags: &'static [&'static str],
    /// Runs the tool.
    pub handler: ToolFn,
    /// The HubSpot scopes it needs (from its tags and effect; see [`scopes`]).
    pub scopes: Vec<scopes::Scope>,
    /// What it answers on a server that cannot read what it writes (see [`echo`]).
    pub echo: Echo,
}

impl Tool {
    /// A tool; `read_only` and `scopes` follow from the spec's effect and tags, and so does
    /// `echo` until [`Tool::echoing`] says better: a tool that creates or updates answers its
    /// arguments on a server that cannot read what it writes.
    fn new(spec: ToolSpec) -> Tool {
        let ToolSpec {
            name,
            title,
            description,
            effect,
            method,
            tags,
            input_schema,
            output_schema,
            handler,
        } = spec;
        Tool {
            name,
            title,
            description,
            input_schema,
            output_schema,
            effect,
            read_only: effect == Effect::Read,
            method,
            tags,
            handler,
            scopes: scopes::required(tags, effect),
            echo: match effect {
                Effect::Read | Effect::Delete => Echo::Whole,
                Effect::Create | Effect::Update => Echo::Arguments,
            },
        }
    }

    /// The same tool answering as `echo` says on a server that cannot read what it writes.
    fn echoing(self, echo: Echo) -> Tool {
        Tool { echo, ..self }
    }

    /// The tool as `tools/list` shows it; `structured` adds the `outputSchema` (protocol
    /// 2025-06-18 and newer, whose results carry `structuredContent`).
    pub fn to_json(&self, structured: bool) -> Value {
        let mut tool = json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.read_only,
                "destructiveHint": self.effect == Effect::Delete,
                "idempotentHint": self.effect != Effect::Create,
                "openWorldHint": true
            },
            "_meta": { "method": self.method, "tags": self.tags }
        });
        if structured {
            tool["outputSchema"] = self.output_schema.clone();
        }
        tool
    }

    /// Runs the tool and fits its result under `result_limit` bytes of pretty JSON
    /// (`TOOL_RESULT_MAX_BYTES`, see [`cap`]), returned with that text; `echo_only` (a
    /// server that cannot read what this tool writes) cuts the answer as [`Tool::echo`]
    /// says. A 401 or 403 from HubSpot names the scopes this call needs and where to add
    /// them.
    pub fn run(
        &self,
        client: &Client,
        args: &Map<String, Value>,
        result_limit: usize,
        echo_only: bool,
    ) -> Result<cap::Fitted, ToolError> {
        // Into a value, cut to what the caller sent on a server that cannot read it.
        let shaped = |args: &Map<String, Value>, answer: Answer| {
            let value = answer.into_value()?;
            Ok(if echo_only {
                self.echo.apply(args, value)
            } else {
                value
            })
        };
        let again = |args: &Map<String, Value>| shaped(args, (self.handler)(client, args)?);
        let run = || {
            let answer = match (self.handler)(client, args)? {
                Answer::Raw(raw) if !echo_only => match cap::pass_through(raw, result_limit) {
                    Ok(fitted) => return Ok(fitted),
                    Err(raw) => Answer::Raw(raw),
                },
                other => other,
            };
            let value = shaped(args, answer)?;
            cap::fit(value, &self.input_schema, args, result_limit, again).map(Fitted::Value)
        };
        run().map_err(|err| match err {
            ToolError::HubSpot(err) => ToolError::HubSpot(
                err.needing_scopes(&scopes::for_call(&self.scopes, args), scopes::WHERE),
            ),
            other => other,
        })
    }
}

/// A HubSpot object type served by per-type tools and as an MCP resource
/// (`hubspot://contacts`, `hubspot://contacts/{id}`).
pub struct ObjectType {
    /// HubSpot's object type name, also the resource URI host and the tag.
    pub name: &'static str,
    /// HubSpot's object type id (`0-1`).
    pub type_id: &'static str,
    /// One record, lowercase (`contact`), for tool names.
    pub singular: &'static str,
    /// One record, capitalized (`Contact`), for titles.
    pub noun: &'static str,
    /// The resource's display name.
    pub title: &'static str,
    /// The resource's description.
    pub description: &'static str,
    /// The properties HubSpot (and the mock) answer when none are asked for.
    pub default_properties: &'static [&'static str],
    /// Properties worth knowing when writing one (for the create tool's description).
    pub write_hint: &'static str,
    /// True when the type has pipelines (deals, tickets).
    pub pipelines: bool,
}

impl ObjectType {
    /// The name of the tool that lists this type (`get_contacts`): resource
    /// `hubspot://<type>` reads what it reads, so only a server that has it shows it.
    pub fn list_tool(&'static self) -> String {
        objects::tool_name(objects::Target::Fixed(self), objects::Op::List)
    }

    /// The name of the tool that gets one record of this type (`get_contact`), which
    /// template `hubspot://<type>/{id}` likewise needs.
    pub fn get_tool(&'static self) -> String {
        objects::tool_name(objects::Target::Fixed(self), objects::Op::Get)
    }
}

/// The object types with their own tools and resources, in their first order first.
pub static OBJECT_TYPES: &[ObjectType] = &[
    ObjectType {
        name: "contacts",
        type_id: "0-1",
        singular: "contact",
        noun: "Contact",
        title: "HubSpot Contacts",
        description: "Access to HubSpot CRM contacts database",
        default_properties: &["firstname", "lastname", "email"],
        write_hint: "Common properties: email (unique; a duplicate is a 409 naming the existing contact), firstname, lastname, phone, company, jobtitle, lifecyclestage.",
        pipelines: false,
    },
    ObjectType {
        name: "companies",
        type_id: "0-2",
        singular: "company",
        noun: "Company",
        title: "HubSpot Companies",
        description: "Access to HubSpot CRM companies database",
        default_properties: &["name", "domain"],
        write_hint: "Common properties: name, domain, website, industry (an enumeration), city, country, numberofemployees, annualrevenue.",
        pipelines: false,
    },
    ObjectType {
        name: "deals",
        type_id: "0-3",
        singular: "deal",
        noun: "Deal",
        title: "HubSpot Deals",
        description: "Access to HubSpot CRM deals database",
        default_properties: &["dealname", "amount", "dealstage", "pipeline", "closedate"],
        write_hint: "Common properties: dealname, amount, pipeline and dealstage (ids from get_deal_pipelines), closedate, hubspot_owner_id (from get_owners).",
        pipelines: true,
    },
    ObjectType {
        name: "tickets",
        type_id: "0-5",
        singular: "ticket",
        noun: "Ticket",
        title: "HubSpot Tickets",
        description: "Access to HubSpot CRM support tickets",
        default_properties: &[
            "subject",
            "content",
            "hs_pipeline",
            "hs_pipeline_stage",
            "hs_ticket_priority",
            "hs_ticket_category",
        ],
        write_hint: "Common properties: subject, content, hs_pipeline and hs_pipeline_stage (ids from get_ticket_pipelines), hs_ticket_priority (LOW, MEDIUM, HIGH, URGENT), hubspot_owner_id.",
        pipelines: true,
    },
    ObjectType {
        name: "notes",
        type_id: "0-46",
        singular: "note",
        noun: "Note",
        title: "HubSpot Notes",
        description: "Access to HubSpot CRM notes (engagements)",
        default_properties: &["hs_note_body", "hs_timestamp"],
        write_hint: "Properties: hs_note_body (the text, HTML allowed), hs_timestamp (when it happened, ISO 8601), hubspot_owner_id. Link it to a record with create_association.",
        pipelines: false,
    },
    ObjectType {
        name: "tasks",
        type_id: "0-27",
        singular: "task",
        noun: "Task",
        title: "HubSpot Tasks",
        description: "Access to HubSpot CRM tasks (engagements)",
        default_properties: &[
            "hs_task_subject",
            "hs_task_status",
            "hs_task_priority",
            "hs_timestamp",
        ],
        write_hint: "Properties: hs_task_subject, hs_task_body, hs_task_status (NOT_STARTED, IN_PROGRESS, WAITING, COMPLETED, DEFERRED), hs_task_priority (LOW, MEDIUM, HIGH), hs_task_type (CALL, EMAIL, TODO), hs_timestamp (due date, ISO 8601), hubspot_owner_id.",
        pipelines: false,
    },
];

/// The object type called `name` (or with type id `name`), if it has its own tools.
pub fn object_type(name: &str) -> Option<&'static ObjectType> {
    OBJECT_TYPES
        .iter()
        .find(|o| o.name == name || o.type_id == name)
}

/// Every tool, built once.
pub fn tools() -> &'static [Tool] {
    static TOOLS: OnceLock<Vec<Tool>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let mut all = tools::first_five();
        all.extend(objects::tools(&all));
        all.extend(context::tools());
        all
    })
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

/// Gives a string built once, while the static table is made, the table's lifetime.
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}
