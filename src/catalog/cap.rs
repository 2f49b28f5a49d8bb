//! Answers sized for a model: a tool result whose text would pass the limit
//! (`TOOL_RESULT_MAX_BYTES`, default 100 000 bytes of pretty JSON) keeps fewer records
//! instead, whole, with a `truncated` note saying how many were left out and how to
//! continue. A JSON document is never cut.
//!
//! For tools that page (they take `limit`), the call is made again with a `limit` that
//! fits, so the answer carries HubSpot's own cursor for the records left out. For the
//! others (batch reads, property lists) the records that do not fit are dropped and the
//! note says how to ask for less.

use super::{pretty, ToolError};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::io;

/// The default limit on one tool result's text, in bytes.
pub const DEFAULT_RESULT_LIMIT: usize = 100_000;
/// Room kept for the `truncated` note itself.
const NOTE_ROOM: usize = 600;

/// A tool's answer fitted under the limit, ready to be written as a tool result.
pub enum Fitted {
    /// HubSpot's answer as it came (`structuredContent`), with its pretty text already
    /// escaped for the result's JSON string ([`pretty::pretty_escaped`]).
    Raw {
        raw: Box<RawValue>,
        escaped: Vec<u8>,
    },
    /// A value the tool built or that was cut to fit, with its pretty text.
    Value(Printed),
}

impl Fitted {
    /// Writes the tool result: `{"content":[{"type":"text","text":…}]}`, with the answer as
    /// `structuredContent` when `structured`.
    pub fn write_result(&self, structured: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"content":[{"type":"text","text":"#);
        match self {
            Fitted::Raw { escaped, .. } => {
                out.push(b'"');
                out.extend_from_slice(escaped);
                out.push(b'"');
            }
            Fitted::Value(printed) => {
                let _ = serde_json::to_writer(&mut *out, &printed.text);
            }
        }
        out.extend_from_slice(b"}]");
        if structured {
            out.extend_from_slice(br#","structuredContent":"#);
            match self {
                Fitted::Raw { raw, .. } => out.extend_from_slice(raw.get().as_bytes()),
                Fitted::Value(printed) => {
                    let _ = serde_json::to_writer(&mut *out, &printed.value);
                }
            }
        }
        out.push(b'}');
    }
}

/// HubSpot's answer `raw` as it came, when it is an object and both its pretty text and
/// the answer itself (shown as `structuredContent`) fit under `limit` bytes (the common
/// case: no `Value` is built); else `raw` back, for the `Value` path to fit or refuse (see
/// [`pretty::pretty_escaped`] for what it leaves to that path).
pub fn pass_through(raw: Box<RawValue>, limit: usize) -> Result<Fitted, Box<RawValue>> {
    let text = raw.get();
    if text.len() > limit || !text.trim_start().starts_with('{') {
        return Err(raw);
    }
    let mut escaped = Vec::with_capacity(text.len() * 2);
    match pretty::pretty_escaped(text.as_bytes(), limit, &mut escaped) {
        Some(_) => Ok(Fitted::Raw { raw, escaped }),
        None => Err(raw),
    }
}

/// An answer with the pretty JSON text it is shown as: printed once here, where it is
/// measured anyway, not again to be shown.
pub struct Printed {
    /// The answer (a tool result's `structuredContent`).
    pub value: Value,
    /// `value` as pretty JSON (a tool result's text).
    pub text: String,
}

impl Printed {
    /// `value` with its text.
    pub fn new(value: Value) -> Printed {
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        Printed { value, text }
    }
}

/// Bytes of `value` as pretty JSON, counted without building the text.
fn size(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer_pretty(&mut count, value);
    count.0
}

/// Fits `value` under `limit` bytes of pretty JSON. `schema` is the tool's input schema
/// (does it take `limit` and `after`?), `args` the call's arguments, and `again` runs the
/// tool with other arguments.
pub fn fit(
    value: Value,
    schema: &Value,
    args: &Map<String, Value>,
    limit: usize,
    again: impl Fn(&Map<String, Value>) -> Result<Value, ToolError>,
) -> Result<Printed, ToolError> {
    let Some(count) = value["results"].as_array().map(Vec::len) else {
        return Ok(Printed::new(value));
    };
    let whole = Printed::new(value);
    if whole.text.len() <= limit {
        return Ok(whole);
    }
    let value = whole.value;
    let keep = fitting(&value, limit.saturating_sub(NOTE_ROOM));
    let takes = |name: &str| schema["properties"].get(name).is_some();
    if keep > 0 && takes("limit") {
        let mut smaller = args.clone();
        smaller.insert("limit".into(), json!(keep));
        let page = again(&smaller)?;
        let fits = page["results"].as_array().map(Vec::len) == Some(keep);
        if fits && size(&page) <= limit.saturating_sub(NOTE_ROOM) {
            return Ok(Printed::new(noted(
                page,
                count - keep,
                limit,
                takes("after"),
            )));
        }
    }
    let mut value = value;
    if let Some(results) = value["results"].as_array_mut() {
        results.truncate(keep);
    }
    Ok(Printed::new(noted(value, count - keep, limit, false)))
}

/// How many leading records of `value["results"]` fit in `room` bytes (binary search),
/// measuring each candidate in place: nothing is cloned.
fn fitting(value: &Value, room: usize) -> usize {
    let (Some(members), Some(records)) = (value.as_object(), value["results"].as_array()) else {
        return 0;
    };
    let with = |k: usize| {
        size(&Prefix {
            members,
            records: &records[..k],
        })
    };
    let (mut low, mut high) = (0, records.len());
    while low < high {
        let mid = (low + high).div_ceil(2);
        if with(mid) <= room {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}

/// An object as it would be with only `records` as its `results`: serializes to the
/// same bytes as that object.
struct Prefix<'a> {
    members: &'a Map<String, Value>,
    records: &'a [Value],
}

impl Serialize for Prefix<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.members.len()))?;
        for (key, value) in self.members {
            if key == "results" {
                map.serialize_entry(key, self.records)?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// Adds the `truncated` note to a cut result.
fn noted(mut value: Value, omitted: usize, limit: usize, has_after: bool) -> Value {
    let cursor = value
        .pointer("/paging/next/after")
        .and_then(Value::as_str)
        .map(str::to_string);
    let how = match (&cursor, has_after) {
        (Some(after), true) => format!("call again with after=\"{after}\" to continue"),
        (Some(after), false) => format!(
            "continue with get_records or search_records and after=\"{after}\" (this tool takes no cursor)"
        ),
        (None, _) => "ask for fewer records or fewer properties to see them".to_string(),
    };
    let mut note = json!({
        "omitted": omitted,
        "note": format!(
            "The answer was cut to fit {limit} bytes: {omitted} record(s) of this page were left out; {how}. Asking only for the properties you need fits more records."
        )
    });
    if let Some(after) = cursor {
        note["after"] = json!(after);
    }
    value["truncated"] = note;
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> Value {
        let results: Vec<Value> = (0..n)
            .map(|i| json!({"id": i.to_string(), "properties": {"text": "x".repeat(500)}}))
            .collect();
        json!({ "results": results })
    }

    #[test]
    fn keeps_whole_records_and_says_how_many_were_left_out() {
        let schema = json!({"properties": {}});
        let out = fit(page(100), &schema, &Map::new(), 10_000, |_| unreachable!()).unwrap();
        assert_eq!(out.text, serde_json::to_string_pretty(&out.value).unwrap());
        let out = out.value;
        let kept = out["results"].as_array().unwrap().len();
        assert!(kept > 5 && kept < 20, "{kept}");
        assert_eq!(out["truncated"]["omitted"], 100 - kept);
        assert!(serde_json::to_string_pretty(&out).unwrap().len() <= 10_000);
        let small = fit(page(3), &schema, &Map::new(), 10_000, |_| unreachable!()).unwrap();
        assert!(small.value.get("truncated").is_none());
        assert_eq!(small.text, serde_json::to_string_pretty(&page(3)).unwrap());
    }

    #[test]
    fn a_prefix_measures_what_the_cut_object_prints() {
        let mut value = page(7);
        value["paging"] = json!({"next": {"after": "7", "link": "x"}});
        value["total"] = json!(7);
        let records = value["results"].as_array().unwrap().clone();
        for k in 0..=7 {
            let mut cut = value.clone();
            cut["results"] = Value::Array(records[..k].to_vec());
            let prefix = Prefix {
                members: value.as_object().unwrap(),
                records: &records[..k],
            };
            let printed = serde_json::to_string_pretty(&cut).unwrap();
            assert_eq!(serde_json::to_string_pretty(&prefix).unwrap(), printed);
            assert_eq!(size(&prefix), printed.len());
        }
    }

    #[test]
    fn pages_again_with_a_smaller_limit_to_get_a_cursor() {
        let schema = json!({"properties": {"limit": {}, "after": {}}});
        let again = |args: &Map<String, Value>| {
            let k = args["limit"].as_u64().unwrap() as usize;
            let mut p = page(k);
            p["paging"] = json!({"next": {"after": k.to_string()}});
            Ok(p)
        };
        let out = fit(page(100), &schema, &Map::new(), 10_000, again)
            .unwrap()
            .value;
        let kept = out["results"].as_array().unwrap().len();
        assert_eq!(out["truncated"]["after"], kept.to_string());
        assert!(out["truncated"]["note"]
            .as_str()
            .unwrap()
            .contains("call again with after="));
    }
}
