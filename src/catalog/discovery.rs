//! Discovery mode (Truto's `tool_exposure: discovery`): for a model with a small context,
//! `tools/list` shows three meta-tools instead of the whole catalog, and the model reaches
//! every tool through them: `search_tools` finds tools by words, method and tag,
//! `get_tool_schema` gives one tool's full definition, `call_tool` runs one.
//!
//! This module holds the mode, the meta-tools' definitions and the search, all over the
//! tools one server exposes (so a scoped server's filter holds here too). Running the
//! meta-tools is the MCP layer's job: `call_tool` is a `tools/call` of another tool.

use super::Tool;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// `search_tools`' default number of results.
const DEFAULT_RESULTS: u64 = 10;
/// The most results `search_tools` returns at once.
const MAX_RESULTS: u64 = 50;
/// The longest short description in search results, in characters.
const SHORT_DESCRIPTION: usize = 160;
/// Words of a query that say nothing about a tool (they would match almost every one).
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "all", "by", "for", "from", "i", "in", "into", "is", "it", "me", "my", "of",
    "on", "or", "the", "to", "with",
];
/// The longest `search_tools` query, in characters (a longer one is refused, -32602).
pub const MAX_QUERY_CHARS: u64 = 1_000;
/// The most distinct words a `search_tools` query may hold (after stop words are left
/// out and plurals joined); a query with more is refused (-32602). Each word costs one
/// pass over every tool's text.
pub const MAX_QUERY_WORDS: usize = 32;
/// The Truto tag of the meta-tools.
const TAG: &str = "discovery";

/// How a server lists its tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ToolExposure {
    /// `tools/list` shows every exposed tool.
    #[default]
    All,
    /// `tools/list` shows only the meta-tools.
    Discovery,
}

impl ToolExposure {
    /// The accepted values, for error messages.
    pub const ALLOWED: &'static str = "all or discovery";

    /// Parses `all` or `discovery` (surrounding spaces and letter case ignored).
    pub fn parse(text: &str) -> Option<ToolExposure> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            Some(ToolExposure::All)
        } else if text.eq_ignore_ascii_case("discovery") {
            Some(ToolExposure::Discovery)
        } else {
            None
        }
    }
}

/// One of the meta-tools of discovery mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaTool {
    /// `search_tools`: find tools by words, method and tag.
    SearchTools,
    /// `get_tool_schema`: one tool's full definition.
    GetToolSchema,
    /// `call_tool`: run a tool by name.
    CallTool,
}

impl MetaTool {
    /// The meta-tools in the order `tools/list` shows them.
    pub const ALL: [MetaTool; 3] = [
        MetaTool::SearchTools,
        MetaTool::GetToolSchema,
        MetaTool::CallTool,
    ];

    /// The tool name.
    pub fn name(self) -> &'static str {
        match self {
            MetaTool::SearchTools => "search_tools",
            MetaTool::GetToolSchema => "get_tool_schema",
            MetaTool::CallTool => "call_tool",
        }
    }

    /// The meta-tool as `tools/list` shows it on a server exposing `tools`: the search's
    /// method and tag choices and `call_tool`'s hints follow from those tools.
    pub fn definition(self, tools: &[&Tool]) -> Value {
        let (title, description, schema, mut annotations, method) = match self {
            MetaTool::SearchTools => (
                "Search tools",
                "Find the HubSpot tools this server offers. The server lists only search_tools, \
                 get_tool_schema and call_tool to keep your context small; every other tool is \
                 found here. Search by words (matched against tool names, titles and \
                 descriptions; the best matches come first), by method (what a tool does: list, \
                 get, create, search, ...) and by tag (the record type, such as contacts), or \
                 any mix; with none, tools are listed in catalog order. Returns up to `limit` \
                 tools, each with name, title, a short description, method, tags and readOnly, \
                 plus `total` (how many matched) and a note when some were left out. Next, call \
                 get_tool_schema for a tool's arguments, then call_tool to run it.",
                json!({
                    "type": "object",
                    "properties": {
                        "query": {
                            "type": "string",
                            "maxLength": MAX_QUERY_CHARS,
                            "description": format!("Words describing the task, such as \"create contact\" or \"deal pipeline stages\" (at most {MAX_QUERY_WORDS} words, {MAX_QUERY_CHARS} characters)")
                        },
                        "method": {
                            "type": "string",
                            "enum": distinct(tools.iter().map(|t| t.method)),
                            "description": "Only tools with this Truto method"
                        },
                        "tag": {
                            "type": "string",
                            "enum": distinct(tools.iter().flat_map(|t| t.tags.iter().copied())),
                            "description": "Only tools with this tag (the HubSpot object type)"
                        },
                        "limit": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_RESULTS,
                            "default": DEFAULT_RESULTS,
                            "description": format!("Most tools to return (1 to {MAX_RESULTS})")
                        }
                    },
                    "additionalProperties": false
                }),
                lookup_hints(),
                "search",
            ),
            MetaTool::GetToolSchema => (
                "Get a tool's schema",
                "Get the full definition of one tool found with search_tools: its description, \
                 inputSchema (the arguments call_tool must pass, with types, bounds and which \
                 are required), annotations (readOnlyHint, destructiveHint, ...) and, where the \
                 tool has one, outputSchema. Returns the definition exactly as tools/list would \
                 show it.",
                json!({
                    "type": "object",
                    "properties": {
                        "name": {
                            "type": "string",
                            "description": "The tool's name, as search_tools returned it (such as get_contacts)"
                        }
                    },
                    "required": ["name"],
                    "additionalProperties": false
                }),
                lookup_hints(),
                "get",
            ),
            MetaTool::CallTool => (
                "Call a tool",
                "Run one of this server's HubSpot tools by name with its arguments, exactly as \
                 if it had been called directly: the result (or the error) is that tool's. Find \
                 the tool with search_tools and its arguments with get_tool_schema first; \
                 arguments that do not fit the tool's inputSchema are refused with a message \
                 naming the field.",
                json!({
                    "type": "object",
                    "properties": {
                        "name": {
                            "type": "string",
                            "description": "The tool's name, as search_tools returned it (such as create_contact)"
                        },
                        "arguments": {
                            "type": "object",
                            "description": "The tool's arguments, as its inputSchema from get_tool_schema describes them; omit for none"
                        }
                    },
                    "required": ["name"],
                    "additionalProperties": false
                }),
                call_hints(tools),
                "call",
            ),
        };
        annotations["title"] = title.into();
        json!({
            "name": self.name(),
            "title": title,
            "description": description,
            "inputSchema": schema,
            "annotations": annotations,
            "_meta": { "method": method, "tags": [TAG] }
        })
    }
}

/// The hints of the meta-tools that only look at the tool table.
fn lookup_hints() -> Value {
    json!({
        "readOnlyHint": true,
        "destructiveHint": false,
        "idempotentHint": true,
        "openWorldHint": false
    })
}

/// `call_tool`'s hints: whatever the exposed tools may do, it may do. It reads only when
/// every tool only reads, is idempotent only when every tool is, and may destroy or reach
/// the outside world when any tool may (an absent hint counts as the spec's default).
fn call_hints(tools: &[&Tool]) -> Value {
    let definitions: Vec<Value> = tools.iter().map(|t| t.to_json(false)).collect();
    let hints = |name: &str, default: bool| -> Vec<bool> {
        definitions
            .iter()
            .map(|d| d["annotations"][name].as_bool().unwrap_or(default))
            .collect()
    };
    let every = |name, default| hints(name, default).into_iter().all(|b| b);
    let any = |name, default| hints(name, default).into_iter().any(|b| b);
    json!({
        "readOnlyHint": every("readOnlyHint", false),
        "destructiveHint": any("destructiveHint", true),
        "idempotentHint": every("idempotentHint", false),
        "openWorldHint": any("openWorldHint", true)
    })
}

/// The distinct values in first-seen order.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for value in values {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}

/// `search_tools` over `tools` with arguments already checked against its schema:
/// `{tools: [...], total, note?}`, or why the query is refused (more than
/// [`MAX_QUERY_WORDS`] words).
///
/// A tool must have the `method` and `tag` when given. Each word of `query` (lower-cased,
/// an `s`, `ies` or `y` ending dropped so "contact" finds "contacts" and "company" finds
/// "companies") scores 3 when found in the name, 2 in the title, 1 in the description,
/// method or tags. Tools that match more words come first, then higher scores, then
/// shorter names (the closest match), then catalog order. A query with words keeps only
/// tools matching at least one.
pub fn search(tools: &[&Tool], args: &Map<String, Value>) -> Result<Value, String> {
    let text = |key: &str| args.get(key).and_then(Value::as_str);
    let method = text("method");
    let tag = text("tag");
    let words = query_words(text("query").unwrap_or_default())?;
    let limit = args
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_RESULTS)
        .clamp(1, MAX_RESULTS) as usize;
    let mut hits: Vec<(usize, usize, usize, &Tool)> = tools
        .iter()
        .enumerate()
        .filter(|(_, t)| method.is_none_or(|m| t.method.eq_ignore_ascii_case(m)))
        .filter(|(_, t)| tag.is_none_or(|g| t.tags.iter().any(|t| t.eq_ignore_ascii_case(g))))
        .filter_map(|(i, t)| {
            let (matched, score) = relevance(t, &words);
            (words.is_empty() || matched > 0).then_some((matched, score, i, *t))
        })
        .collect();
    hits.sort_by(|a, b| {
        (b.0.cmp(&a.0))
            .then(b.1.cmp(&a.1))
            .then(a.3.name.len().cmp(&b.3.name.len()))
            .then(a.2.cmp(&b.2))
    });
    let total = hits.len();
    let shown: Vec<Value> = hits
        .iter()
        .take(limit)
        .map(|(_, _, _, t)| {
            json!({
                "name": t.name,
                "title": t.title,
                "description": short_description(t.description),
                "method": t.method,
                "tags": t.tags,
                "readOnly": t.read_only
            })
        })
        .collect();
    let mut result = json!({ "tools": shown, "total": total });
    if total == 0 {
        result["note"] =
            "No tool matches. Try other or fewer words, or search by method or tag alone.".into();
    } else if total > limit {
        result["note"] = format!(
            "{} more tools match; narrow the search (query, method, tag) or raise limit (at most {MAX_RESULTS}).",
            total - limit
        )
        .into();
    }
    Ok(result)
}

/// The distinct words of a query in first-seen order, lower-cased, with a plural ending
/// dropped and the [`STOP_WORDS`] left out; refused past [`MAX_QUERY_WORDS`].
fn query_words(query: &str) -> Result<Vec<String>, String> {
    let mut seen = HashSet::new();
    let mut words: Vec<String> = Vec::new();
    for word in query
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(&w.as_str()))
    {
        let word = stem(&word);
        if seen.insert(word.clone()) {
            if words.len() == MAX_QUERY_WORDS {
                return Err(format!(
                    "argument 'query' has more than {MAX_QUERY_WORDS} distinct words; use a few words that describe the task"
                ));
            }
            words.push(word);
        }
    }
    Ok(words)
}

/// Drops a plural or `y` ending (`companies` and `company` → `compan`, `contacts` →
/// `contact`) so that singular and plural find each other as substrings.
fn stem(word: &str) -> String {
    let long = |n: usize| word.chars().count() > n;
    let cut = if long(4) && word.ends_with("ies") {
        3
    } else if (long(4) && word.ends_with('y'))
        || (long(3) && word.ends_with('s') && !word.ends_with("ss"))
    {
        1
    } else {
        0
    };
    word[..word.len() - cut].to_string()
}

/// How many of `words` the tool matches, and their summed weight.
fn relevance(tool: &Tool, words: &[String]) -> (usize, usize) {
    let name = tool.name.replace('_', " ");
    let fields = [
        (name, 3),
        (tool.title.to_lowercase(), 2),
        (
            format!(
                "{} {} {}",
                tool.description,
                tool.method,
                tool.tags.join(" ")
            )
            .to_lowercase(),
            1,
        ),
    ];
    words
        .iter()
        .filter_map(|word| {
            fields
                .iter()
                .find(|(text, _)| text.contains(word.as_str()))
                .map(|(_, weight)| *weight)
        })
        .fold((0, 0), |(n, score), weight| (n + 1, score + weight))
}

/// The first sentence of a description, at most [`SHORT_DESCRIPTION`] characters.
fn short_description(description: &str) -> String {
    let sentence = match description.find(". ") {
        Some(end) => &description[..=end],
        None => description,
    };
    if sentence.chars().count() <= SHORT_DESCRIPTION {
        return sentence.to_string();
    }
    let cut: String = sentence.chars().take(SHORT_DESCRIPTION - 1).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    fn all() -> Vec<&'static Tool> {
        catalog::tools().iter().collect()
    }

    fn names(result: &Value) -> Vec<&str> {
        result["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect()
    }

    fn search_with(args: Value) -> Value {
        search(&all(), args.as_object().unwrap()).unwrap()
    }

    #[test]
    fn exposure_parses_the_two_values_only() {
        assert_eq!(ToolExposure::parse("all"), Some(ToolExposure::All));
        assert_eq!(
            ToolExposure::parse(" Discovery "),
            Some(ToolExposure::Discovery)
        );
        assert_eq!(ToolExposure::parse("some"), None);
        assert_eq!(ToolExposure::parse(""), None);
    }

    #[test]
    fn meta_tool_names_never_clash_with_catalog_tools() {
        for meta in MetaTool::ALL {
            assert!(
                catalog::find(meta.name()).is_none(),
                "{} is also a catalog tool",
                meta.name()
            );
        }
    }

    /// Every tool in a result.
    fn results(result: &Value) -> Vec<&'static Tool> {
        names(result)
            .into_iter()
            .map(|n| catalog::find(n).unwrap())
            .collect()
    }

    #[test]
    fn queries_are_capped_in_words_and_repeats_count_once() {
        let words: Vec<String> = (0..MAX_QUERY_WORDS).map(|i| format!("w{i}")).collect();
        let query = format!("{} {}", words.join(" "), words.join(" "));
        assert_eq!(query_words(&query).unwrap().len(), MAX_QUERY_WORDS);
        let err = query_words(&format!("{query} one-more")).unwrap_err();
        assert!(err.contains("more than 32 distinct words"), "{err}");
        // Stop words and plurals of a word already seen are free.
        let plural = format!("{} the and contacts contact", words[..31].join(" "));
        assert_eq!(query_words(&plural).unwrap().len(), 32);
    }

    #[test]
    fn words_rank_the_closest_name_first_and_match_plurals() {
        let result = search_with(json!({"query": "create contact"}));
        assert_eq!(names(&result)[0], "create_contact");
        let result = search_with(json!({"query": "company", "limit": 50}));
        assert!(names(&result).contains(&"get_companies"), "{result}");
        assert!(!names(&result).contains(&"get_deals"), "{result}");
        let result = search_with(json!({"query": "list contacts"}));
        assert_eq!(names(&result)[0], "get_contacts", "the method counts too");
        let result = search_with(json!({"query": "the deals of a company"}));
        assert!(
            !names(&result).contains(&"create_contact"),
            "stop words match nothing: {result}"
        );
        assert_eq!(
            query_words("Create a NEW contact, for me").unwrap(),
            ["create", "new", "contact"]
        );
        let result = search_with(json!({"query": "zebra"}));
        assert_eq!(result["total"], 0);
        assert!(result["note"].as_str().unwrap().contains("No tool matches"));
    }

    #[test]
    fn method_and_tag_filter_and_limit_bounds_the_answer() {
        let result = search_with(json!({"method": "list", "limit": 50}));
        for seed in ["get_contacts", "get_companies", "get_deals"] {
            assert!(names(&result).contains(&seed), "{seed} in {result}");
        }
        assert!(results(&result).iter().all(|t| t.method == "list"));
        let result = search_with(json!({"tag": "contacts", "method": "create", "limit": 50}));
        assert!(names(&result).contains(&"create_contact"), "{result}");
        assert!(results(&result)
            .iter()
            .all(|t| t.method == "create" && t.tags.contains(&"contacts")));
        let result = search_with(json!({"tag": "contacts", "limit": 1}));
        assert_eq!(names(&result).len(), 1);
        let total = result["total"].as_u64().unwrap();
        assert!(total >= 3, "{result}");
        assert!(result["note"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{} more tools", total - 1)));
    }

    #[test]
    fn call_tool_hints_follow_the_exposed_tools() {
        let read_only: Vec<&Tool> = all().into_iter().filter(|t| t.read_only).collect();
        let hints = &MetaTool::CallTool.definition(&read_only)["annotations"];
        assert_eq!(hints["readOnlyHint"], true);
        let hints = &MetaTool::CallTool.definition(&all())["annotations"];
        assert_eq!(hints["readOnlyHint"], false);
        assert_eq!(hints["title"], "Call a tool");
    }

    #[test]
    fn search_choices_are_the_exposed_methods_and_tags() {
        let contacts: Vec<&Tool> = ["get_contacts", "create_contact", "search_contacts"]
            .into_iter()
            .map(|n| catalog::find(n).unwrap())
            .collect();
        let schema = &MetaTool::SearchTools.definition(&contacts)["inputSchema"];
        assert_eq!(schema["properties"]["tag"]["enum"], json!(["contacts"]));
        assert_eq!(
            schema["properties"]["method"]["enum"],
            json!(["list", "create", "search"])
        );
    }

    #[test]
    fn stems_join_singular_and_plural() {
        for (word, want) in [
            ("companies", "compan"),
            ("company", "compan"),
            ("contacts", "contact"),
            ("address", "address"),
            ("by", "by"),
            ("list", "list"),
        ] {
            assert_eq!(stem(word), want);
        }
    }

    #[test]
    fn short_descriptions_keep_the_first_sentence() {
        assert_eq!(short_description("Lists. Then more."), "Lists.");
        let long = "x".repeat(500);
        let short = short_description(&long);
        assert_eq!(short.chars().count(), SHORT_DESCRIPTION);
        assert!(short.ends_with('…'));
    }
}
