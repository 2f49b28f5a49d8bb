//! The HubSpot scopes each tool needs, derived from its tags and effect so the list cannot
//! drift from the catalog. README's tool list is rendered with them, and a 401 or 403 from
//! HubSpot names the scopes of the tool that got it and where to add them.

use super::{object_type, Effect};
use serde_json::{Map, Value};

/// Where a new user creates a Service Key and sets its scopes.
pub const WHERE: &str = "HubSpot: Development > Keys > Service keys > the key > Scopes; for a legacy private app, its Scopes tab";

/// One scope a tool needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// A scope named outright (`crm.objects.owners.read`).
    Fixed(String),
    /// The record scope of the object type in argument `arg`.
    Records { arg: &'static str, write: bool },
    /// The property-schema scope of the object type in argument `arg`.
    Schemas { arg: &'static str, write: bool },
}

impl Scope {
    /// The scope with the call's arguments filled in (the template when one is missing).
    fn resolve(&self, args: &Map<String, Value>) -> String {
        let ty = |arg: &str| args.get(arg).and_then(Value::as_str).map(str::to_string);
        match self {
            Scope::Fixed(name) => name.clone(),
            Scope::Records { arg, write } => match ty(arg) {
                Some(ty) => scope_of("objects", &ty, *write),
                None => self.to_string(),
            },
            Scope::Schemas { arg, write } => match ty(arg) {
                Some(ty) => scope_of("schemas", &ty, *write),
                None => self.to_string(),
            },
        }
    }
}

impl std::fmt::Display for Scope {
    /// As README's tool list shows it: `objects(objectType).read` for a scope that depends on
    /// an argument.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let access = |write: bool| if write { "write" } else { "read" };
        match self {
            Scope::Fixed(name) => f.write_str(name),
            Scope::Records { arg, write } => write!(f, "objects({arg}).{}", access(*write)),
            Scope::Schemas { arg, write } => write!(f, "schemas({arg}).{}", access(*write)),
        }
    }
}

/// HubSpot's scope for the records (`kind` `objects`) or property schema (`schemas`) of
/// object type `ty`: `crm.objects.contacts.write`; notes and tasks take the contacts
/// scopes, tickets the one `tickets` scope, custom objects (`2-xxxx`) `crm.objects.custom.*`.
fn scope_of(kind: &str, ty: &str, write: bool) -> String {
    let name = object_type(ty).map_or(ty, |o| o.name);
    let access = if write { "write" } else { "read" };
    match name {
        "tickets" => "tickets".into(),
        "notes" | "tasks" => format!("crm.{kind}.contacts.{access}"),
        custom if custom.starts_with("2-") || custom.starts_with("p_") => {
            format!("crm.{kind}.custom.{access}")
        }
        other => format!("crm.{kind}.{other}.{access}"),
    }
}

/// The scopes a tool with these tags and effect needs.
pub fn required(tags: &[&str], effect: Effect) -> Vec<Scope> {
    let write = effect != Effect::Read;
    let mut scopes = Vec::new();
    for tag in tags {
        match *tag {
            "records" => scopes.push(Scope::Records {
                arg: "objectType",
                write,
            }),
            "associations" => scopes
                .extend(["objectType", "toObjectType"].map(|arg| Scope::Records { arg, write })),
            "properties" => scopes.push(Scope::Schemas {
                arg: "objectType",
                write,
            }),
            "owners" => scopes.push(Scope::Fixed("crm.objects.owners.read".into())),
            "workflows" => scopes.push(Scope::Fixed("automation".into())),
            // The account details and the token's own details need no scope.
            "links" | "account" => {}
            ty => scopes.push(Scope::Fixed(scope_of("objects", ty, write))),
        }
    }
    scopes.dedup();
    scopes
}

/// The scopes of `scopes` for one call, with its arguments filled in.
pub fn for_call(scopes: &[Scope], args: &Map<String, Value>) -> Vec<String> {
    let mut names: Vec<String> = scopes.iter().map(|s| s.resolve(args)).collect();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn scopes_follow_the_tools_types_and_effects() {
        let names = |tool: &str, call: Value| {
            let tool = crate::catalog::find(tool).unwrap();
            for_call(&tool.scopes, &args(call))
        };
        assert_eq!(
            names("get_contacts", json!({})),
            ["crm.objects.contacts.read"]
        );
        assert_eq!(names("create_deal", json!({})), ["crm.objects.deals.write"]);
        assert_eq!(names("get_ticket_pipelines", json!({})), ["tickets"]);
        assert_eq!(
            names("create_note", json!({})),
            ["crm.objects.contacts.write"]
        );
        assert_eq!(
            names("get_records", json!({"objectType": "2-3508482"})),
            ["crm.objects.custom.read"]
        );
        assert_eq!(
            names("get_records", json!({"objectType": "0-3"})),
            ["crm.objects.deals.read"]
        );
        assert_eq!(
            names(
                "create_association",
                json!({"objectType": "contacts", "toObjectType": "companies"})
            ),
            ["crm.objects.contacts.write", "crm.objects.companies.write"]
        );
        assert_eq!(
            names("update_property", json!({"objectType": "companies"})),
            ["crm.schemas.companies.write"]
        );
        assert_eq!(names("get_owners", json!({})), ["crm.objects.owners.read"]);
        assert_eq!(names("get_workflow", json!({})), ["automation"]);
        assert!(names("get_token_details", json!({})).is_empty());
    }

    /// README's tool list, rendered from the catalog: each tool's title and the scopes a
    /// Service Key needs for it.
    fn readme_tool_list() -> String {
        let mut table = String::from("| tool | what it does | scopes |\n| --- | --- | --- |\n");
        for tool in crate::catalog::tools() {
            let scopes: Vec<String> = tool.scopes.iter().map(|s| format!("`{s}`")).collect();
            let scopes = if scopes.is_empty() {
                "none (any valid key)".to_string()
            } else {
                scopes.join(", ")
            };
            table.push_str(&format!(
                "| `{}` | {} | {scopes} |\n",
                tool.name, tool.title
            ));
        }
        table
    }

    #[test]
    fn readme_tool_list_matches_the_catalog() {
        const BEGIN: &str =
            "<!-- tools:begin (src/catalog/scopes.rs renders this; UPDATE_DOCS=1 rewrites it) -->\n";
        const END: &str = "<!-- tools:end -->";
        crate::testing::docs::sync_section(
            "README.md",
            BEGIN,
            END,
            &readme_tool_list(),
            "cargo test scopes::tests::readme",
        );
    }
}
