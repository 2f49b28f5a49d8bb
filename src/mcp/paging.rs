//! MCP list paging (`cursor` in, `nextCursor` out) for tools, resources, templates and
//! prompts. A page holds [`PAGE_SIZE`] items; the cursor is the position of the page's
//! first item, opaque to clients. Pages are built once per list, so a request only picks
//! one. A cursor this server did not give out is -32602.

use crate::jsonrpc::RpcError;
use serde_json::{json, Map, Value};

/// Items per page: the whole catalog of a scoped server usually fits one page, the full
/// catalog takes two, and a page stays well under 100 KB for a model's context.
pub const PAGE_SIZE: usize = 50;

/// The list results for `items` under `key` (`tools`, `resources`, ...), one per page,
/// each with `nextCursor` but the last. An empty list is one empty page.
pub fn pages(key: &str, items: Vec<Value>) -> Vec<Value> {
    let count = items.len();
    let mut pages: Vec<Value> = Vec::new();
    let mut items = items.into_iter();
    loop {
        let start = pages.len() * PAGE_SIZE;
        let page: Vec<Value> = items.by_ref().take(PAGE_SIZE).collect();
        let mut result = json!({ key: page });
        let next = start + PAGE_SIZE;
        if next < count {
            result["nextCursor"] = json!(next.to_string());
        }
        pages.push(result);
        if next >= count {
            return pages;
        }
    }
}

/// The page `params.cursor` names (the first without one).
pub fn select(pages: &[Value], params: &Map<String, Value>) -> Result<Value, RpcError> {
    let index = match params.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(Value::String(cursor)) => cursor
            .parse::<usize>()
            .ok()
            .filter(|n| n % PAGE_SIZE == 0 && *n / PAGE_SIZE < pages.len() && *n > 0)
            .map(|n| n / PAGE_SIZE)
            .ok_or_else(|| invalid(cursor))?,
        Some(other) => return Err(invalid(&other.to_string())),
    };
    Ok(pages[index].clone())
}

fn invalid(cursor: &str) -> RpcError {
    RpcError::invalid_params(format!(
        "invalid cursor '{cursor}': pass the nextCursor of the previous page, or no cursor for the first page"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_the_next_cursor_until_the_last() {
        let items: Vec<Value> = (0..120).map(|i| json!(i)).collect();
        let pages = pages("tools", items);
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[0]["nextCursor"], "50");
        assert_eq!(pages[2]["tools"].as_array().unwrap().len(), 20);
        assert!(pages[2].get("nextCursor").is_none());
        let second = select(&pages, json!({"cursor": "50"}).as_object().unwrap()).unwrap();
        assert_eq!(second["tools"][0], 50);
        for bad in [json!("0"), json!("7"), json!("150"), json!("x"), json!(50)] {
            let params = json!({ "cursor": bad });
            assert!(
                select(&pages, params.as_object().unwrap()).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            super::pages("tools", Vec::new()),
            vec![json!({"tools": []})]
        );
    }
}
