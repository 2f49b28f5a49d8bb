//! Paging of the admin API's lists: `limit` and `next_cursor` as a [`Page`], and the
//! `{result, next_cursor}` answer built from items sorted by (`created_at`, `id`). The cursor
//! is opaque to clients but stable when items before it are deleted, so a client walking the
//! list while others change it sees every item that stays, once.

use super::RegistryError;
use serde_json::{json, Value};

/// The page size when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 20;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 100;

/// One page request: `limit` (1 to 100, default 20) and the `next_cursor` of the previous
/// page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub(super) limit: usize,
    /// The sort key (`created_at`, `id`) of the last item already returned.
    pub(super) after: Option<(String, String)>,
}

impl Page {
    #[cfg(test)]
    /// The first page of `DEFAULT_LIMIT` items.
    pub fn first() -> Page {
        Page {
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }

    /// Parses the query parameters `limit` and `next_cursor` as they arrived (empty counts
    /// as absent). 400 for a limit outside 1..=100 or a cursor this server did not issue.
    pub fn from_query(
        limit: Option<&str>,
        next_cursor: Option<&str>,
    ) -> Result<Page, RegistryError> {
        let limit = match limit.map(str::trim).filter(|s| !s.is_empty()) {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    RegistryError::bad(format!("limit must be an integer from 1 to {MAX_LIMIT}"))
                })?,
        };
        let after = match next_cursor.filter(|s| !s.is_empty()) {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                RegistryError::bad("next_cursor is not a cursor returned by this server")
            })?),
        };
        Ok(Page { limit, after })
    }
}

/// The cursor is the hex of `created_at` and `id`: opaque to clients, stable when items
/// before it are deleted.
pub(super) fn encode_cursor(created_at: &str, id: &str) -> String {
    format!("{created_at} {id}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    if !cursor.len().is_multiple_of(2) || cursor.len() > 512 {
        return None;
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let text = String::from_utf8(bytes).ok()?;
    let (created_at, id) = text.split_once(' ')?;
    Some((created_at.to_string(), id.to_string()))
}

/// Builds `{result, next_cursor}` from items sorted by (`created_at`, `id`).
pub(super) fn paginate<T>(
    items: Vec<&T>,
    page: &Page,
    key: impl Fn(&T) -> (&str, &str),
    show: impl Fn(&T) -> Value,
) -> Value {
    let mut items = items;
    items.sort_by(|a, b| key(a).cmp(&key(b)));
    let start = match &page.after {
        None => 0,
        Some((c, i)) => items.partition_point(|x| key(x) <= (c.as_str(), i.as_str())),
    };
    let rest = &items[start.min(items.len())..];
    let shown = &rest[..page.limit.min(rest.len())];
    let next_cursor = match shown.last() {
        Some(last) if rest.len() > shown.len() => {
            let (c, i) = key(last);
            Value::String(encode_cursor(c, i))
        }
        _ => Value::Null,
    };
    json!({
        "result": shown.iter().map(|x| show(x)).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })
}
