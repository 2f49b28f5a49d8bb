//! Answers sized for a model: a tool result whose text would pass the limit
//! (`TOOL_RESULT_MAX_BYTES`, default 100 000 bytes of pretty JSON) keeps fewer records
//! instead, whole, with a `truncated` note saying how many were left out and how to
//! continue. A JSON document is never cut.
//!
//! For tools that page (they take `limit`), the call is made again with a `limit` that
//! fits, so the answer carries HubSpot's own cursor for the records left out. For the
//! others (batch reads, property lists) the records that do not fit are dropped and the
//! note says how to ask for less.

use super::ToolError;
use serde_json::{json, Map, Value};

/// The default limit on one tool result's text, in bytes.
pub const DEFAULT_RESULT_LIMIT: usize = 100_000;
/// Room kept for the `truncated` note itself.
const NOTE_ROOM: usize = 600;

fn size(value: &Value) -> usize {
    serde_json::to_string_pretty(value).map_or(0, |t| t.len())
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
) -> Result<Value, ToolError> {
    let Some(count) = value["results"].as_array().map(Vec::len) else {
        return Ok(value);
    };
    if size(&value) <= limit {
        return Ok(value);
    }
    let keep = fitting(&value, limit.saturating_sub(NOTE_ROOM));
    let takes = |name: &str| schema["properties"].get(name).is_some();
    if keep > 0 && takes("limit") {
        let mut smaller = args.clone();
        smaller.insert("limit".into(), json!(keep));
        let page = again(&smaller)?;
        let fits = page["results"].as_array().map(Vec::len) == Some(keep);
        if fits && size(&page) <= limit.saturating_sub(NOTE_ROOM) {
            return Ok(noted(page, count - keep, limit, takes("after")));
        }
    }
    let mut value = value;
    if let Some(results) = value["results"].as_array_mut() {
        results.truncate(keep);
    }
    Ok(noted(value, count - keep, limit, false))
}

/// How many leading records of `value["results"]` fit in `room` bytes (binary search).
fn fitting(value: &Value, room: usize) -> usize {
    let records = value["results"].as_array().cloned().unwrap_or_default();
    let with = |k: usize| {
        let mut candidate = value.clone();
        candidate["results"] = Value::Array(records[..k].to_vec());
        size(&candidate)
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
        let kept = out["results"].as_array().unwrap().len();
        assert!(kept > 5 && kept < 20, "{kept}");
        assert_eq!(out["truncated"]["omitted"], 100 - kept);
        assert!(serde_json::to_string_pretty(&out).unwrap().len() <= 10_000);
        let small = fit(page(3), &schema, &Map::new(), 10_000, |_| unreachable!()).unwrap();
        assert!(small.get("truncated").is_none());
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
        let out = fit(page(100), &schema, &Map::new(), 10_000, again).unwrap();
        let kept = out["results"].as_array().unwrap().len();
        assert_eq!(out["truncated"]["after"], kept.to_string());
        assert!(out["truncated"]["note"]
            .as_str()
            .unwrap()
            .contains("call again with after="));
    }
}
