//! Which tools a scoped MCP server exposes: Truto's `config.methods` and `config.tags`.
//!
//! - `methods` keeps tools whose Truto method is listed, compared case-insensitively, plus
//!   three groups: `read` (get, list), `write` (create, update, delete) and `custom` (any
//!   method that is not one of those five, such as `search`).
//! - `tags` keeps tools carrying any listed tag (also case-insensitive).
//! - Both given: a tool must pass both (AND). Omitted: no restriction, so an omitted or
//!   empty config exposes every tool. The admin API refuses an explicit empty list
//!   (`registry::input`); one in a record stored before that rule still reads as omitted.
//!
//! - `tool_exposure` (`all`, the default, or `discovery`) says how the selected tools are
//!   listed: each one, or only the meta-tools that search, describe and call them (see
//!   `catalog::discovery`). It selects nothing, so it is kept beside the filter.
//! - `require_api_token_auth` (Truto's name; default false): the server's URL token alone
//!   is not enough, callers must also send an `MCP_API_KEYS` key in `Authorization`. It
//!   selects nothing either and is kept beside the filter for the same reason.
//!
//! A config that selects no tool at all is refused with a 400 naming the valid methods and
//! tags, so a typo cannot mint a server that does nothing. Entries that match nothing on
//! their own are tolerated when the config as a whole still selects tools (the issue asks
//! only for the no-match refusal); the refusal message names them.

use super::RegistryError;
use crate::catalog::discovery::ToolExposure;
use serde_json::{Map, Value};

/// The five standard Truto methods; anything else is `custom`.
pub const STANDARD_METHODS: [&str; 5] = ["list", "get", "create", "update", "delete"];
/// The most entries `config.methods` or `config.tags` may hold.
pub const MAX_ENTRIES: usize = 100;
/// The longest entry, in characters.
pub const MAX_ENTRY_LEN: usize = 100;

/// The tool catalog as the registry sees it: one `(method, tags)` pair per tool.
pub type Catalog<'a> = [(&'a str, &'a [&'a str])];

/// A parsed `config`: lowercased method and tag lists, empty meaning "no restriction",
/// and how the tools they select are listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFilter {
    methods: Vec<String>,
    tags: Vec<String>,
    tool_exposure: ToolExposure,
    require_api_key: bool,
}

impl ToolFilter {
    /// The filter that allows every tool (an omitted or empty config).
    pub fn all() -> ToolFilter {
        ToolFilter::default()
    }

    /// Validates `config` (absent, `null` or an object with optional `methods` and `tags`
    /// arrays of strings and `tool_exposure`; any other field is refused) and returns the
    /// filter with the config as it is stored and shown: the given object minus `null`
    /// members, or `{}`.
    pub fn parse(config: Option<&Value>) -> Result<(ToolFilter, Value), RegistryError> {
        const FIELDS: &str =
            "config takes `methods`, `tags`, `tool_exposure` and `require_api_token_auth`";
        let obj = match config {
            None | Some(Value::Null) => return Ok((ToolFilter::all(), Value::Object(Map::new()))),
            Some(Value::Object(obj)) => obj,
            Some(_) => {
                return Err(RegistryError::bad(format!(
                    "config must be an object; {FIELDS}"
                )))
            }
        };
        let mut filter = ToolFilter::all();
        let mut stored = Map::new();
        for (key, value) in obj {
            let field = format!("config.{key}");
            match (key.as_str(), value) {
                ("methods" | "tags" | "tool_exposure" | "require_api_token_auth", Value::Null) => {
                    continue
                }
                ("require_api_token_auth", Value::Bool(b)) => filter.require_api_key = *b,
                ("require_api_token_auth", _) => {
                    return Err(RegistryError::bad(format!(
                        "{field} must be true or false, got {value}"
                    )))
                }
                ("methods", _) => filter.methods = string_list(&field, value)?,
                ("tags", _) => filter.tags = string_list(&field, value)?,
                ("tool_exposure", _) => {
                    filter.tool_exposure =
                        value
                            .as_str()
                            .and_then(ToolExposure::parse)
                            .ok_or_else(|| {
                                RegistryError::bad(format!(
                                    "{field} must be {}, got {value}",
                                    ToolExposure::ALLOWED
                                ))
                            })?
                }
                _ => {
                    return Err(RegistryError::bad(format!(
                        "{field} is not a known field; {FIELDS}"
                    )))
                }
            }
            stored.insert(key.clone(), value.clone());
        }
        Ok((filter, Value::Object(stored)))
    }

    /// How the selected tools are listed (`config.tool_exposure`).
    pub fn tool_exposure(&self) -> ToolExposure {
        self.tool_exposure
    }

    /// True when callers must also present an `MCP_API_KEYS` key
    /// (`config.require_api_token_auth`).
    pub fn requires_api_key(&self) -> bool {
        self.require_api_key
    }

    /// True when the filter restricts nothing.
    pub fn is_all(&self) -> bool {
        self.methods.is_empty() && self.tags.is_empty()
    }

    /// True when a tool with this Truto `method` and these `tags` is exposed.
    pub fn allows(&self, method: &str, tags: &[&str]) -> bool {
        self.method_ok(method) && self.tags_ok(tags)
    }

    fn method_ok(&self, method: &str) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|m| method_matches(m, method))
    }

    fn tags_ok(&self, tags: &[&str]) -> bool {
        self.tags.is_empty()
            || tags
                .iter()
                .any(|t| self.tags.iter().any(|want| want.eq_ignore_ascii_case(t)))
    }

    /// Ok when at least one tool of `catalog` is allowed; otherwise a 400 that names the
    /// entries matching nothing and lists the valid methods, groups and tags.
    pub fn check_selects_some(&self, catalog: &Catalog<'_>) -> Result<(), RegistryError> {
        if catalog.iter().any(|(m, tags)| self.allows(m, tags)) {
            return Ok(());
        }
        let mut methods: Vec<String> = Vec::new();
        let mut tags: Vec<String> = Vec::new();
        for (m, ts) in catalog {
            push_unique(&mut methods, &m.to_ascii_lowercase());
            for t in *ts {
                push_unique(&mut tags, &t.to_ascii_lowercase());
            }
        }
        let unknown_methods: Vec<&str> = self
            .methods
            .iter()
            .filter(|want| !catalog.iter().any(|(m, _)| method_matches(want, m)))
            .map(String::as_str)
            .collect();
        let unknown_tags: Vec<&str> = self
            .tags
            .iter()
            .filter(|want| !tags.contains(want))
            .map(String::as_str)
            .collect();
        let mut message = String::from("config selects no tool");
        if !self.methods.is_empty() && !self.tags.is_empty() {
            message.push_str(" (a tool must match both methods and tags)");
        }
        if !unknown_methods.is_empty() {
            message.push_str(&format!(
                "; no tool has method {}",
                quoted(&unknown_methods)
            ));
        }
        if !unknown_tags.is_empty() {
            message.push_str(&format!("; no tool has tag {}", quoted(&unknown_tags)));
        }
        message.push_str(&format!(
            ". Valid methods: {} (or the groups read = get + list, write = create + update + \
             delete, custom = any other method); valid tags: {}",
            methods.join(", "),
            tags.join(", ")
        ));
        Err(RegistryError::BadRequest(message))
    }
}

/// True when the config entry `want` (lowercase) selects a tool whose method is `method`.
fn method_matches(want: &str, method: &str) -> bool {
    let method = method.to_ascii_lowercase();
    match want {
        "read" => matches!(method.as_str(), "get" | "list"),
        "write" => matches!(method.as_str(), "create" | "update" | "delete"),
        "custom" => !STANDARD_METHODS.contains(&method.as_str()),
        _ => want == method,
    }
}

/// Checks `value` is an array of at most [`MAX_ENTRIES`] non-empty strings and returns them
/// trimmed and lowercased.
fn string_list(field: &str, value: &Value) -> Result<Vec<String>, RegistryError> {
    let items = value
        .as_array()
        .ok_or_else(|| RegistryError::bad(format!("{field} must be an array of strings")))?;
    if items.len() > MAX_ENTRIES {
        return Err(RegistryError::bad(format!(
            "{field} has {} entries; at most {MAX_ENTRIES} are allowed",
            items.len()
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let s = item
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.chars().count() <= MAX_ENTRY_LEN)
            .ok_or_else(|| {
                RegistryError::bad(format!(
                    "{field}[{i}] must be a non-empty string of at most {MAX_ENTRY_LEN} characters"
                ))
            })?;
        push_unique(&mut out, &s.to_lowercase());
    }
    Ok(out)
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_string());
    }
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A catalog with every kind of method: the first five tools plus standard CRUD.
    const CATALOG: &Catalog<'static> = &[
        ("list", &["contacts"]),
        ("list", &["companies"]),
        ("list", &["deals"]),
        ("get", &["contacts"]),
        ("create", &["contacts"]),
        ("update", &["deals"]),
        ("delete", &["companies"]),
        ("search", &["contacts"]),
    ];

    fn filter(config: Value) -> ToolFilter {
        ToolFilter::parse(Some(&config)).expect("valid config").0
    }

    /// Indexes of the catalog tools the config allows.
    fn allowed(config: Value) -> Vec<usize> {
        let f = filter(config);
        CATALOG
            .iter()
            .enumerate()
            .filter(|(_, (m, t))| f.allows(m, t))
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn filter_table() {
        let all: Vec<usize> = (0..CATALOG.len()).collect();
        let cases = [
            (json!({}), all.clone()),
            // Stored before the admin API refused empty lists: still no restriction.
            (json!({"methods": [], "tags": []}), all.clone()),
            (json!({"methods": null}), all.clone()),
            (json!({"methods": ["read"]}), vec![0, 1, 2, 3]),
            (json!({"methods": ["write"]}), vec![4, 5, 6]),
            (json!({"methods": ["custom"]}), vec![7]),
            (json!({"methods": ["list"]}), vec![0, 1, 2]),
            (json!({"methods": ["GET", "Search"]}), vec![3, 7]),
            (json!({"methods": [" DELETE "]}), vec![6]),
            (json!({"tags": ["contacts"]}), vec![0, 3, 4, 7]),
            (json!({"tags": ["deals", "Companies"]}), vec![1, 2, 5, 6]),
            (
                json!({"methods": ["read"], "tags": ["contacts"]}),
                vec![0, 3],
            ),
            (
                json!({"methods": ["write", "custom"], "tags": ["contacts"]}),
                vec![4, 7],
            ),
            // Truto's documented example config.
            (
                json!({"methods": ["list", "get"], "tags": ["contacts", "companies"]}),
                vec![0, 1, 3],
            ),
        ];
        for (config, want) in cases {
            assert_eq!(allowed(config.clone()), want, "{config}");
        }
        assert!(filter(json!({})).is_all());
        assert!(!filter(json!({"tags": ["deals"]})).is_all());
        assert!(ToolFilter::parse(None).expect("none").0.is_all());
    }

    #[test]
    fn tool_exposure_is_all_unless_discovery_is_asked_for() {
        assert_eq!(filter(json!({})).tool_exposure(), ToolExposure::All);
        let f = filter(json!({"tool_exposure": "discovery", "methods": ["read"]}));
        assert_eq!(f.tool_exposure(), ToolExposure::Discovery);
        assert!(f.allows("list", &["contacts"]) && !f.allows("create", &["contacts"]));
        assert!(!f.is_all());
        let f = filter(json!({"tool_exposure": "discovery"}));
        assert!(f.is_all(), "the listing mode selects nothing");
        assert_ne!(f, filter(json!({})));
        assert_eq!(
            filter(json!({"tool_exposure": null})).tool_exposure(),
            ToolExposure::All
        );
    }

    #[test]
    fn stored_config_keeps_what_was_given_minus_nulls() {
        let (_, stored) =
            ToolFilter::parse(Some(&json!({"methods": ["READ"], "tags": null}))).expect("ok");
        assert_eq!(stored, json!({"methods": ["READ"]}));
        assert_eq!(ToolFilter::parse(None).expect("ok").1, json!({}));
        assert_eq!(
            ToolFilter::parse(Some(&Value::Null)).expect("ok").1,
            json!({})
        );
    }

    #[test]
    fn no_match_is_refused_naming_valid_methods_and_tags() {
        let f = filter(json!({"methods": ["write"], "tags": ["nothing"]}));
        let err = f.check_selects_some(CATALOG).expect_err("no match");
        assert_eq!(err.status(), 400);
        let msg = err.message();
        for want in [
            "list, get, create, update, delete, search",
            "read = get + list",
            "contacts, companies, deals",
            "no tool has tag \"nothing\"",
        ] {
            assert!(msg.contains(want), "{want} not in {msg}");
        }
        // Valid parts that just do not overlap.
        let f = filter(json!({"methods": ["custom"], "tags": ["deals"]}));
        let msg = f
            .check_selects_some(CATALOG)
            .expect_err("no match")
            .to_string();
        assert!(msg.contains("must match both"), "{msg}");
        assert!(!msg.contains("no tool has"), "{msg}");
        assert!(filter(json!({"methods": ["read"]}))
            .check_selects_some(CATALOG)
            .is_ok());
        assert!(filter(json!({})).check_selects_some(CATALOG).is_ok());
    }

    #[test]
    fn seed_example_gets_a_clear_400() {
        let config =
            json!({"methods": ["GET", "POST", "READ", "DOWNLAOD"], "tags": ["api", "webhook"]});
        let f = filter(config);
        // GET and READ are fine methods; the tags match nothing, so nothing is selected.
        assert!(!CATALOG.iter().any(|(m, t)| f.allows(m, t)));
        let err = f.check_selects_some(CATALOG).expect_err("no match");
        let msg = err.message();
        assert!(
            msg.contains("no tool has method \"post\", \"downlaod\""),
            "{msg}"
        );
        assert!(
            msg.contains("no tool has tag \"api\", \"webhook\""),
            "{msg}"
        );
        assert!(
            msg.contains("valid tags: contacts, companies, deals"),
            "{msg}"
        );
        // The first tools' methods with a real tag do select tools (GET and READ).
        let f =
            filter(json!({"methods": ["GET", "POST", "READ", "DOWNLAOD"], "tags": ["contacts"]}));
        assert!(f.check_selects_some(CATALOG).is_ok());
        assert!(f.allows("get", &["contacts"]) && !f.allows("create", &["contacts"]));
    }

    #[test]
    fn malformed_configs_are_400_naming_the_field() {
        let cases = [
            (json!("all"), "config must be an object"),
            (json!([]), "config must be an object"),
            (
                json!({"method": ["list"]}),
                "config.method is not a known field",
            ),
            (
                json!({"method": null}),
                "config.method is not a known field",
            ),
            (
                json!({"methods": "list"}),
                "config.methods must be an array",
            ),
            (json!({"tags": {"a": 1}}), "config.tags must be an array"),
            (json!({"methods": ["list", 3]}), "config.methods[1]"),
            (json!({"tags": [""]}), "config.tags[0]"),
            (json!({"tags": ["x".repeat(101)]}), "config.tags[0]"),
            (json!({"tags": vec!["a"; 101]}), "at most 100"),
            (
                json!({"tool_exposure": "some"}),
                "config.tool_exposure must be all or discovery, got \"some\"",
            ),
            (
                json!({"tool_exposure": true}),
                "config.tool_exposure must be all or discovery, got true",
            ),
        ];
        for (config, want) in cases {
            let err = ToolFilter::parse(Some(&config)).expect_err("must fail");
            assert_eq!(err.status(), 400);
            assert!(
                err.message().contains(want),
                "{want} not in {}",
                err.message()
            );
        }
    }

    /// The groups keep Truto's meaning over the real catalog: `read` and `custom` select
    /// only tools that read, and every tool that writes is `create`, `update` or `delete`,
    /// so `{"methods":["read","custom"]}` ("read and search") can change nothing.
    #[test]
    fn read_and_custom_select_only_read_only_tools_of_the_catalog() {
        let tools = crate::catalog::tools();
        for group in ["read", "custom"] {
            let f = filter(json!({ "methods": [group] }));
            let selected: Vec<_> = tools
                .iter()
                .filter(|t| f.allows(t.method, t.tags))
                .collect();
            assert!(!selected.is_empty(), "{group} selects something");
            for tool in selected {
                assert!(tool.read_only, "{group} selects {} which writes", tool.name);
            }
        }
        let write = filter(json!({"methods": ["write"]}));
        for tool in tools {
            assert_eq!(
                write.allows(tool.method, tool.tags),
                !tool.read_only,
                "{} (method {})",
                tool.name,
                tool.method
            );
        }
    }
}
