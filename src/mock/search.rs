//! The CRM search request (`POST /crm/v3/objects/{type}/search`): parsing with HubSpot's
//! limits, and evaluating `query`, `filterGroups` and `sorts` against records.
//!
//! Choices where HubSpot's docs are silent: the negative operators (`NEQ`, `NOT_IN`,
//! `NOT_CONTAINS_TOKEN`) also match records that have no value for the property, and
//! records without a value for the sort property come last in either direction.

use super::store::{property_string, Record};
use crate::runtime::clock::parse_rfc3339;
use serde_json::Value;
use std::cmp::Ordering;

/// At most this many filter groups.
pub const MAX_GROUPS: usize = 5;
/// At most this many filters in one group.
pub const MAX_FILTERS_PER_GROUP: usize = 6;
/// At most this many filters in all groups together.
pub const MAX_FILTERS: usize = 18;
/// The largest page a search answers.
pub const MAX_LIMIT: usize = 200;
/// Results past this offset cannot be reached.
pub const MAX_AFTER: usize = 10_000;

/// A filter operator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Operator {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Between,
    In,
    NotIn,
    HasProperty,
    NotHasProperty,
    ContainsToken,
    NotContainsToken,
}

const OPERATORS: [(&str, Operator); 13] = [
    ("EQ", Operator::Eq),
    ("NEQ", Operator::Neq),
    ("LT", Operator::Lt),
    ("LTE", Operator::Lte),
    ("GT", Operator::Gt),
    ("GTE", Operator::Gte),
    ("BETWEEN", Operator::Between),
    ("IN", Operator::In),
    ("NOT_IN", Operator::NotIn),
    ("HAS_PROPERTY", Operator::HasProperty),
    ("NOT_HAS_PROPERTY", Operator::NotHasProperty),
    ("CONTAINS_TOKEN", Operator::ContainsToken),
    ("NOT_CONTAINS_TOKEN", Operator::NotContainsToken),
];

/// One filter: `propertyName operator value [highValue] | values`.
#[derive(Debug)]
pub struct Filter {
    property: String,
    operator: Operator,
    value: String,
    high_value: String,
    values: Vec<String>,
}

/// A parsed and validated search request.
#[derive(Debug)]
pub struct Search {
    /// Free-text query words, lowercased.
    pub words: Vec<String>,
    /// Filter groups: OR between groups, AND inside one.
    pub groups: Vec<Vec<Filter>>,
    /// The sort property and whether it is descending.
    pub sort: Option<(String, bool)>,
    /// The properties asked for (empty: the type's defaults).
    pub properties: Vec<String>,
    /// Page size.
    pub limit: usize,
    /// Offset of the first result.
    pub after: usize,
}

impl Search {
    /// Parses a search body, enforcing HubSpot's limits. The error is a message for a
    /// 400 `VALIDATION_ERROR`.
    pub fn parse(body: &Value) -> Result<Search, String> {
        if !body.is_object() {
            return Err("The search request body must be a JSON object".into());
        }
        let words = match body.get("query") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(q)) => q.split_whitespace().map(str::to_lowercase).collect(),
            Some(_) => return Err("query must be a string".into()),
        };
        let groups = parse_groups(body.get("filterGroups"))?;
        let sort = parse_sorts(body.get("sorts"))?;
        let properties = match body.get("properties") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|p| p.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or("properties must be an array of property names")?,
            Some(_) => return Err("properties must be an array of property names".into()),
        };
        let limit = parse_count(body.get("limit"), "limit")?.unwrap_or(10);
        if limit > MAX_LIMIT {
            return Err(format!(
                "limit must be at most {MAX_LIMIT} for search (got {limit})"
            ));
        }
        let after = parse_count(body.get("after"), "after")?.unwrap_or(0);
        if after > MAX_AFTER {
            return Err(format!(
                "after must be at most {MAX_AFTER}: search results past {MAX_AFTER} cannot be paged to"
            ));
        }
        Ok(Search {
            words,
            groups,
            sort,
            properties,
            limit,
            after,
        })
    }

    /// Whether a record matches the query (over `searchable` properties, all when
    /// `None`) and at least one filter group (or there are none).
    pub fn matches(&self, record: &Record, searchable: Option<&[&str]>) -> bool {
        self.matches_query(record, searchable)
            && (self.groups.is_empty()
                || self
                    .groups
                    .iter()
                    .any(|group| group.iter().all(|f| f.matches(record))))
    }

    fn matches_query(&self, record: &Record, searchable: Option<&[&str]>) -> bool {
        let values: Vec<&str> = match searchable {
            Some(names) => names.iter().filter_map(|n| record.get(n)).collect(),
            None => record.properties.values().map(String::as_str).collect(),
        };
        let tokens: Vec<String> = values.iter().flat_map(|v| tokens(v)).collect();
        self.words
            .iter()
            .all(|word| tokens.iter().any(|t| t.starts_with(word.as_str())))
    }

    /// Orders matching records by the sort (id ascending when none; ties by id).
    pub fn sort(&self, records: &mut [&Record]) {
        let Some((property, descending)) = &self.sort else {
            return records.sort_by_key(|r| r.id);
        };
        records.sort_by(|a, b| {
            let by_value = match (a.get(property), b.get(property)) {
                (Some(x), Some(y)) if *descending => compare(y, x),
                (Some(x), Some(y)) => compare(x, y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            by_value.then(a.id.cmp(&b.id))
        });
    }
}

impl Filter {
    fn matches(&self, record: &Record) -> bool {
        let value = record.get(&self.property).filter(|v| !v.is_empty());
        let Some(v) = value else {
            return matches!(
                self.operator,
                Operator::Neq
                    | Operator::NotIn
                    | Operator::NotHasProperty
                    | Operator::NotContainsToken
            );
        };
        let cmp = || compare(v, &self.value);
        match self.operator {
            Operator::Eq => cmp().is_eq(),
            Operator::Neq => cmp().is_ne(),
            Operator::Lt => cmp().is_lt(),
            Operator::Lte => cmp().is_le(),
            Operator::Gt => cmp().is_gt(),
            Operator::Gte => cmp().is_ge(),
            Operator::Between => cmp().is_ge() && compare(v, &self.high_value).is_le(),
            Operator::In => self.values.iter().any(|x| compare(v, x).is_eq()),
            Operator::NotIn => !self.values.iter().any(|x| compare(v, x).is_eq()),
            Operator::HasProperty => true,
            Operator::NotHasProperty => false,
            Operator::ContainsToken => contains_token(v, &self.value),
            Operator::NotContainsToken => !contains_token(v, &self.value),
        }
    }
}

fn parse_groups(groups: Option<&Value>) -> Result<Vec<Vec<Filter>>, String> {
    let groups = match groups {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(groups)) => groups,
        Some(_) => return Err("filterGroups must be an array".into()),
    };
    if groups.len() > MAX_GROUPS {
        return Err(format!(
            "Too many filter groups: {} given, at most {MAX_GROUPS} are allowed",
            groups.len()
        ));
    }
    let mut parsed = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let filters = match group.get("filters") {
            None | Some(Value::Null) => &Vec::new(),
            Some(Value::Array(filters)) => filters,
            Some(_) => return Err(format!("filterGroups[{g}].filters must be an array")),
        };
        if filters.len() > MAX_FILTERS_PER_GROUP {
            return Err(format!(
                "Too many filters in filterGroups[{g}]: {} given, at most {MAX_FILTERS_PER_GROUP} per group are allowed",
                filters.len()
            ));
        }
        let group = filters
            .iter()
            .enumerate()
            .map(|(f, filter)| {
                parse_filter(filter).map_err(|e| format!("filterGroups[{g}].filters[{f}]: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        parsed.push(group);
    }
    let total: usize = parsed.iter().map(Vec::len).sum();
    if total > MAX_FILTERS {
        return Err(format!(
            "Too many filters: {total} given in all filter groups, at most {MAX_FILTERS} are allowed"
        ));
    }
    Ok(parsed)
}

fn parse_filter(filter: &Value) -> Result<Filter, String> {
    let property = filter
        .get("propertyName")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or("propertyName is required")?
        .to_string();
    let name = filter
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or("EQ");
    let operator = OPERATORS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, op)| *op)
        .ok_or_else(|| {
            let all: Vec<&str> = OPERATORS.iter().map(|(n, _)| *n).collect();
            format!("Unknown operator {name:?}; use one of {}", all.join(", "))
        })?;
    let text = |field: &str| filter.get(field).and_then(property_string);
    let needs = |field: &str| text(field).ok_or(format!("operator {name} needs {field:?}"));
    let (mut value, mut high_value, mut values) = (String::new(), String::new(), Vec::new());
    match operator {
        Operator::HasProperty | Operator::NotHasProperty => {}
        Operator::In | Operator::NotIn => {
            values = match filter.get("values") {
                Some(Value::Array(items)) => items.iter().map(property_string).collect(),
                _ => None,
            }
            .ok_or(format!(
                "operator {name} needs \"values\", an array of strings"
            ))?;
        }
        Operator::Between => {
            value = needs("value")?;
            high_value = needs("highValue")?;
        }
        _ => value = needs("value")?,
    }
    Ok(Filter {
        property,
        operator,
        value,
        high_value,
        values,
    })
}

fn parse_sorts(sorts: Option<&Value>) -> Result<Option<(String, bool)>, String> {
    let sorts = match sorts {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(sorts)) => sorts,
        Some(_) => return Err("sorts must be an array".into()),
    };
    let Some(sort) = sorts.first() else {
        return Ok(None);
    };
    if sorts.len() > 1 {
        return Err("Only one sort is allowed per search".into());
    }
    // Both `{propertyName, direction}` and the short string form `"-createdate"`.
    if let Some(short) = sort.as_str() {
        return Ok(match short.strip_prefix('-') {
            Some(name) => Some((name.to_string(), true)),
            None => Some((short.to_string(), false)),
        });
    }
    let property = sort
        .get("propertyName")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or("sorts[0].propertyName is required")?;
    let descending = match sort.get("direction").and_then(Value::as_str) {
        None | Some("ASCENDING") => false,
        Some("DESCENDING") => true,
        Some(other) => {
            return Err(format!(
                "sorts[0].direction must be ASCENDING or DESCENDING, not {other:?}"
            ))
        }
    };
    Ok(Some((property.to_string(), descending)))
}

/// A non-negative integer given as a JSON number or a numeric string.
fn parse_count(value: Option<&Value>, field: &str) -> Result<Option<usize>, String> {
    let parsed = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    parsed
        .map(Some)
        .ok_or(format!("{field} must be a non-negative integer"))
}

/// Compares two property values as HubSpot would: as numbers when both are numbers,
/// as instants when both are dates (RFC 3339, `YYYY-MM-DD` or epoch milliseconds),
/// else as text ignoring case.
pub fn compare(a: &str, b: &str) -> Ordering {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return x.total_cmp(&y);
    }
    if let (Some(x), Some(y)) = (instant(a), instant(b)) {
        return x.cmp(&y);
    }
    a.to_lowercase().cmp(&b.to_lowercase())
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn instant(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() == 10 {
        return parse_rfc3339(&format!("{s}T00:00:00Z"));
    }
    parse_rfc3339(s).or_else(|| s.parse::<i64>().ok())
}

/// The lowercased tokens of a value: the whole value, its whitespace-separated words,
/// and its alphanumeric runs (so `ann.lee@x.example` has `ann`, `lee`, `x`, `example`).
fn tokens(value: &str) -> Vec<String> {
    let lower = value.to_lowercase();
    let mut out = vec![lower.clone()];
    out.extend(lower.split_whitespace().map(str::to_string));
    out.extend(
        lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_string),
    );
    out
}

/// Whether some token of `value` matches `pattern` (`*` matches any run of characters).
fn contains_token(value: &str, pattern: &str) -> bool {
    let pattern = pattern.trim().to_lowercase();
    tokens(value).iter().any(|t| glob(&pattern, t))
}

fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_numbers_dates_and_text() {
        assert_eq!(compare("9", "10"), Ordering::Less);
        assert_eq!(compare("100.0", "100"), Ordering::Equal);
        assert_eq!(
            compare("2024-01-15T10:30:00.000Z", "1705314600000"),
            Ordering::Equal
        );
        assert_eq!(
            compare("2024-01-15T10:30:00.000Z", "2024-01-16"),
            Ordering::Less
        );
        assert_eq!(compare("Apple", "apple"), Ordering::Equal);
        assert_eq!(compare("b", "A"), Ordering::Greater);
    }

    #[test]
    fn globs_and_tokens() {
        assert!(glob("*@x.example", "ann@x.example"));
        assert!(glob("an*", "ann"));
        assert!(glob("a*n*e", "anne"));
        assert!(!glob("a*n*e", "ann"));
        assert!(glob("*", ""));
        assert!(!glob("ann", "anne"));
        assert!(contains_token("Ann.Lee@X.example", "lee"));
        assert!(contains_token("Ann Lee", "ANN"));
        assert!(!contains_token("Annette", "ann"));
    }
}
