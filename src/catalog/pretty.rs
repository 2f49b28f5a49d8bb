//! HubSpot's JSON shown as a tool result's text in one pass over its bytes: the pretty form
//! (serde_json's, two spaces a level) written straight into the JSON string that carries it
//! (quotes and backslashes escaped, line breaks as `\n`). The alternative it replaces
//! parsed the answer into a `Value` tree (a hashed map per object), printed it pretty, and
//! escaped that text again when the JSON-RPC reply was written: three passes and a tree
//! of allocations per call.

/// The deepest nesting shown this way: serde_json's own limit, which the `Value` path keeps.
pub const MAX_DEPTH: usize = 128;

/// Writes `json` (valid JSON, checked by the caller) in pretty form, escaped as the content
/// of a JSON string, onto `out`; returns the length of the pretty text itself (before
/// escaping), which is what the result size limit counts. The bytes of strings, numbers
/// and literals are kept as they came (a string's escapes too), so the output is the same
/// JSON as serde_json's pretty printing of it, byte for byte when the input is serde's.
///
/// `None`, with `out` left partly written, for what this pass does not show and the
/// `Value` path must judge: a pretty text longer than `limit` (it stops there, so a small,
/// deeply nested answer cannot make it write megabytes of indentation), nesting deeper
/// than [`MAX_DEPTH`], a `\u` escape that is a lone surrogate, or a number outside `f64`'s
/// range (serde_json refuses both, and so would a strict client).
pub fn pretty_escaped(json: &[u8], limit: usize, out: &mut Vec<u8>) -> Option<usize> {
    let mut depth = 0usize;
    let mut len = 0usize;
    let mut i = 0;
    while let Some(&byte) = json.get(i) {
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' => {
                let (used, shown) = string(&json[i..], out)?;
                i += used;
                len += shown;
            }
            b'{' | b'[' => {
                let close = if byte == b'{' { b'}' } else { b']' };
                let next = i + 1 + json[i + 1..].iter().take_while(|b| is_space(**b)).count();
                if json.get(next) == Some(&close) {
                    out.extend_from_slice(&[byte, close]);
                    len += 2;
                    i = next + 1;
                } else {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return None;
                    }
                    out.push(byte);
                    len += 1 + new_line(out, depth);
                    i += 1;
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                len += new_line(out, depth) + 1;
                out.push(byte);
                i += 1;
            }
            b',' => {
                out.push(b',');
                len += 1 + new_line(out, depth);
                i += 1;
            }
            b':' => {
                out.extend_from_slice(b": ");
                len += 2;
                i += 1;
            }
            _ => {
                let run = json[i..]
                    .iter()
                    .take_while(|b| !is_space(**b) && !matches!(b, b',' | b':' | b'}' | b']'))
                    .count()
                    .max(1);
                let token = &json[i..i + run];
                if !in_range(token) {
                    return None;
                }
                out.extend_from_slice(token);
                len += run;
                i += run;
            }
        }
        if len > limit {
            return None;
        }
    }
    Some(len)
}

/// False for a number that serde_json would refuse as out of range (`1e400`); literals
/// (`true`, `null`) and plain integers pass without parsing.
fn in_range(token: &[u8]) -> bool {
    let plain = token.len() < 19 && token.iter().all(|b| b.is_ascii_digit() || *b == b'-');
    plain
        || !token
            .first()
            .is_some_and(|b| *b == b'-' || b.is_ascii_digit())
        || std::str::from_utf8(token)
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// A line break and `depth` levels of indentation, escaped; returns the unescaped length.
fn new_line(out: &mut Vec<u8>, depth: usize) -> usize {
    out.extend_from_slice(b"\\n");
    out.resize(out.len() + 2 * depth, b' ');
    1 + 2 * depth
}

/// Copies the JSON string at the start of `json` (its quotes included), escaped; returns
/// the bytes it took from `json` and the unescaped length written, or `None` for a `\u`
/// escape that is a lone surrogate.
fn string(json: &[u8], out: &mut Vec<u8>) -> Option<(usize, usize)> {
    out.extend_from_slice(b"\\\"");
    let mut i = 1;
    // A high surrogate's `\u` escape was just copied: a low one must follow at once.
    let mut pending_high = false;
    loop {
        let rest = &json[i..];
        let Some(k) = memchr::memchr2(b'"', b'\\', rest) else {
            // Not reached for checked JSON: an unterminated string is copied as it is.
            out.extend_from_slice(rest);
            return Some((json.len(), json.len()));
        };
        if pending_high && (k > 0 || rest[k] == b'"') {
            return None;
        }
        out.extend_from_slice(&rest[..k]);
        if rest[k] == b'"' {
            out.extend_from_slice(b"\\\"");
            return Some((i + k + 1, i + k + 1));
        }
        // An escape: the backslash, and the byte after it, each escaped again if needed.
        out.extend_from_slice(b"\\\\");
        let step = match rest.get(k + 1) {
            Some(b'u') => {
                let hex = rest.get(k + 2..k + 6)?;
                let unit = u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                match (pending_high, unit) {
                    (false, 0xD800..=0xDBFF) => pending_high = true,
                    (true, 0xDC00..=0xDFFF) => pending_high = false,
                    (_, 0xD800..=0xDFFF) | (true, _) => return None,
                    _ => {}
                }
                out.push(b'u');
                out.extend_from_slice(hex);
                6
            }
            _ if pending_high => return None,
            Some(b'"') => {
                out.extend_from_slice(b"\\\"");
                2
            }
            Some(b'\\') => {
                out.extend_from_slice(b"\\\\");
                2
            }
            Some(other) => {
                out.push(*other);
                2
            }
            None => return Some((json.len(), json.len())),
        };
        i += k + step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::property_tests::for_all;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::select;
    use serde_json::{json, Value};

    /// What the value path shows: serde's pretty text, escaped as a JSON string's content.
    fn expected(value: &Value) -> (String, usize) {
        let pretty = serde_json::to_string_pretty(value).unwrap();
        let quoted = serde_json::to_string(&pretty).unwrap();
        (quoted[1..quoted.len() - 1].to_string(), pretty.len())
    }

    fn shown(json: &str) -> (String, usize) {
        let mut out = Vec::new();
        let len = pretty_escaped(json.as_bytes(), usize::MAX, &mut out).expect("shown");
        (String::from_utf8(out).unwrap(), len)
    }

    /// Any JSON document, with strings that need escaping: containers `depth` levels deep
    /// at most.
    fn document(depth: u32) -> BoxedStrategy<Value> {
        let strings = select(vec![
            "",
            "a",
            "é\"q\"",
            "back\\slash",
            "line\nbreak\ttab",
            "ü€😀",
            "\u{1}",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-500_000i64..500_000).prop_map(Value::from),
            (0u32..1000).prop_map(|n| json!(f64::from(n) / 7.0)),
            strings.clone().prop_map(Value::from),
        ];
        if depth == 0 {
            return leaf.boxed();
        }
        let inner = document(depth - 1);
        prop_oneof![
            5 => leaf,
            1 => vec(inner.clone(), 0..4).prop_map(Value::Array),
            1 => vec((strings, inner), 0..4).prop_map(|members| {
                let members = members.into_iter().enumerate();
                Value::Object(members.map(|(i, (k, v))| (format!("{k}{i}"), v)).collect())
            }),
        ]
        .boxed()
    }

    #[test]
    fn matches_serdes_pretty_text_escaped_for_random_documents() {
        for_all(file!(), 2000, document(4), |value| {
            let compact = serde_json::to_string(&value).unwrap();
            assert_eq!(shown(&compact), expected(&value), "{compact}");
            // Whitespace between tokens (HubSpot's own layout) changes nothing.
            let spaced = serde_json::to_string_pretty(&value).unwrap();
            assert_eq!(shown(&spaced), expected(&value), "{spaced}");
            Ok(())
        });
    }

    #[test]
    fn matches_for_the_fixture_answers() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/hubspot");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            assert_eq!(shown(&text), expected(&value), "{}", path.display());
            seen += 1;
        }
        assert!(seen > 3, "fixtures read: {seen}");
    }

    #[test]
    fn escapes_inside_strings_stay_escapes() {
        let (text, len) = shown(r#"{"a":"x\"y\\z\/\u00e9"}"#);
        assert_eq!(text, r#"{\n  \"a\": \"x\\\"y\\\\z\\/\\u00e9\"\n}"#);
        assert_eq!(len, "{\n  \"a\": \"x\\\"y\\\\z\\/\\u00e9\"\n}".len());
    }
}
