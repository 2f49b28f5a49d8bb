//! What a write tool answers on a scoped server that cannot read what it writes. HubSpot
//! answers a create or an update with the whole record (every default property, or the
//! properties asked for), so a server minted to update contacts, answering with HubSpot's
//! record, would read any contact whose id it can name. There the answer keeps only what
//! the caller sent or needs: the record's id, the properties the call set (as sent, in the
//! string form HubSpot stores), `createdAt` and `updatedAt`; for writes of anything else
//! (a property definition, an association), the arguments as sent.

use serde_json::{Map, Value};

/// How a tool's answer is cut down to what the caller sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Echo {
    /// As HubSpot answered: reads, and deletes (whose answer is only the id already).
    Whole,
    /// One record whose properties are the `properties` argument (`update_deal`).
    Record,
    /// One record whose properties are these arguments (`create_contact`, which takes them
    /// as top-level arguments).
    Fields(&'static [&'static str]),
    /// A batch of records, one per item of the `inputs` argument (`{id?, properties}`).
    Batch,
    /// The arguments as sent (the safe answer for any other write).
    Arguments,
}

/// The timestamps a record (or a property definition) keeps.
const TIMES: [&str; 2] = ["createdAt", "updatedAt"];

impl Echo {
    /// `answer`, HubSpot's answer to a call with `args`, cut down as `self` says.
    pub fn apply(self, args: &Map<String, Value>, answer: Value) -> Value {
        match self {
            Echo::Whole => answer,
            Echo::Record => record(&answer, as_stored(args.get("properties"))),
            Echo::Fields(fields) => {
                let sent = fields
                    .iter()
                    .filter_map(|f| Some((f.to_string(), stored(args.get(*f)?))))
                    .collect();
                record(&answer, sent)
            }
            Echo::Batch => batch(args, &answer),
            Echo::Arguments => {
                let mut echo = args.clone();
                keep(&answer, &TIMES, &mut echo);
                Value::Object(echo)
            }
        }
    }
}

/// A batch answer: `status`, the errors (they name only ids that were sent), and each
/// result as a record with the properties of its own input: an update's by id, a create's
/// the first input not yet matched whose every property HubSpot holds as sent (HubSpot
/// does not promise the inputs' order). A result no input matches shows no properties.
fn batch(args: &Map<String, Value>, answer: &Value) -> Value {
    let mut inputs: Vec<&Value> = args
        .get("inputs")
        .and_then(Value::as_array)
        .map(|inputs| inputs.iter().collect())
        .unwrap_or_default();
    let results: Vec<Value> = answer["results"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|result| {
            let made_from = |input: &&Value| match input.get("id") {
                Some(id) => result.get("id") == Some(id),
                None => as_stored(input.get("properties"))
                    .iter()
                    .all(|(k, v)| result["properties"].get(k) == Some(v)),
            };
            let sent = match inputs.iter().position(made_from) {
                Some(i) => as_stored(inputs.remove(i).get("properties")),
                None => Map::new(),
            };
            record(result, sent)
        })
        .collect();
    let mut out = Map::new();
    keep(answer, &["status", "errors", "numErrors"], &mut out);
    out.insert("results".into(), Value::Array(results));
    Value::Object(out)
}

/// A record answer cut to its id, `properties` (what was sent) and timestamps.
fn record(answer: &Value, properties: Map<String, Value>) -> Value {
    let mut out = Map::new();
    keep(answer, &["id"], &mut out);
    out.insert("properties".into(), Value::Object(properties));
    keep(answer, &TIMES, &mut out);
    Value::Object(out)
}

/// Copies `keys` that `answer` has into `out`.
fn keep(answer: &Value, keys: &[&str], out: &mut Map<String, Value>) {
    for key in keys {
        if let Some(value) = answer.get(*key) {
            out.insert(key.to_string(), value.clone());
        }
    }
}

/// Property values as HubSpot stores them: strings (a number or a boolean as its text).
fn as_stored(properties: Option<&Value>) -> Map<String, Value> {
    properties
        .and_then(Value::as_object)
        .map(|sent| sent.iter().map(|(k, v)| (k.clone(), stored(v))).collect())
        .unwrap_or_default()
}

fn stored(value: &Value) -> Value {
    match value {
        Value::String(_) | Value::Null => value.clone(),
        other => Value::String(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    /// Safe by default: every tool that creates or updates cuts its answer, and only those.
    #[test]
    fn every_tool_that_creates_or_updates_cuts_its_answer() {
        use crate::catalog::{tools, Effect};
        for tool in tools() {
            let writes = matches!(tool.effect, Effect::Create | Effect::Update);
            assert_eq!(tool.echo != Echo::Whole, writes, "{}", tool.name);
        }
    }

    #[test]
    fn a_batch_create_pairs_results_with_inputs_whatever_their_order() {
        let sent = args(json!({"objectType": "contacts", "inputs": [
            {"properties": {"email": "a@x.example", "n": 1}},
            {"properties": {"email": "b@x.example"}}
        ]}));
        let answer = json!({"status": "COMPLETE", "startedAt": "t", "results": [
            {"id": "2", "properties": {"email": "b@x.example", "secret": "s"}, "createdAt": "c"},
            {"id": "1", "properties": {"email": "a@x.example", "n": "1", "secret": "s"}},
            {"id": "3", "properties": {"email": "c@x.example"}}
        ]});
        assert_eq!(
            Echo::Batch.apply(&sent, answer),
            json!({"status": "COMPLETE", "results": [
                {"id": "2", "properties": {"email": "b@x.example"}, "createdAt": "c"},
                {"id": "1", "properties": {"email": "a@x.example", "n": "1"}},
                {"id": "3", "properties": {}}
            ]})
        );
    }

    #[test]
    fn records_keep_the_sent_properties_and_arguments_keep_only_the_times() {
        let sent = args(json!({"id": "7", "properties": {"done": true, "note": null}}));
        let answer = json!({"id": "7", "properties": {"done": "true", "email": "e"}, "archived": false, "updatedAt": "u"});
        assert_eq!(
            Echo::Record.apply(&sent, answer.clone()),
            json!({"id": "7", "properties": {"done": "true", "note": null}, "updatedAt": "u"})
        );
        assert_eq!(
            Echo::Arguments.apply(&sent, answer.clone()),
            json!({"id": "7", "properties": {"done": true, "note": null}, "updatedAt": "u"})
        );
        assert_eq!(Echo::Whole.apply(&sent, answer.clone()), answer);
    }
}
