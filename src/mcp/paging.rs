//! MCP list paging (`cursor` in, `nextCursor` out) for tools, resources, templates and
//! prompts. A page holds `size` items (`MCP_PAGE_SIZE`, carried by the exposure's
//! [`Settings`](super::Settings)); the cursor is the position of the page's
//! first item, opaque to clients. Pages are built once per list, so a request only picks
//! one. A cursor this server did not give out is -32602.

use crate::mcp::jsonrpc::RpcError;
use serde_json::{json, Map, Value};

/// The default items per page (`MCP_PAGE_SIZE`): the whole catalog fits one page, because
/// many clients read only the first page of `tools/list`.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// The list results for `items` under `key` (`tools`, `resources`, ...), `size` items
/// (at least one) a page, each with `nextCursor` but the last. An empty list is one
/// empty page.
pub fn pages(key: &str, items: Vec<Value>, size: usize) -> Vec<Value> {
    let size = size.max(1);
    let count = items.len();
    let mut pages: Vec<Value> = Vec::new();
    let mut items = items.into_iter();
    loop {
        let start = pages.len() * size;
        let page: Vec<Value> = items.by_ref().take(size).collect();
        let mut result = json!({ key: page });
        let next = start + size;
        if next < count {
            result["nextCursor"] = json!(next.to_string());
        }
        pages.push(result);
        if next >= count {
            return pages;
        }
    }
}

/// The page `params.cursor` names (the first without one) of pages of `size` items.
pub fn select(
    pages: &[Value],
    params: &Map<String, Value>,
    size: usize,
) -> Result<Value, RpcError> {
    Ok(pages[index(pages.len(), params, size)?].clone())
}

/// Which of `count` pages of `size` items `params.cursor` names (0 without one).
pub fn index(count: usize, params: &Map<String, Value>, size: usize) -> Result<usize, RpcError> {
    let size = size.max(1);
    match params.get("cursor") {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(cursor)) => cursor
            .parse::<usize>()
            .ok()
            .filter(|n| n % size == 0 && *n / size < count && *n > 0)
            .map(|n| n / size)
            .ok_or_else(|| invalid(cursor)),
        Some(other) => Err(invalid(&other.to_string())),
    }
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
        let all = pages("tools", items, 50);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0]["nextCursor"], "50");
        assert_eq!(all[2]["tools"].as_array().unwrap().len(), 20);
        assert!(all[2].get("nextCursor").is_none());
        let pick = |params: Value| select(&all, params.as_object().unwrap(), 50);
        let second = pick(json!({"cursor": "50"})).unwrap();
        assert_eq!(second["tools"][0], 50);
        for bad in [json!("0"), json!("7"), json!("150"), json!("x"), json!(50)] {
            assert!(pick(json!({ "cursor": bad })).is_err(), "{bad}");
        }
        assert_eq!(pages("tools", Vec::new(), 50), vec![json!({"tools": []})]);
    }
}
