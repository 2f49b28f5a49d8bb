//! One JSON-RPC exchange: a POST body or a stdio line in, the reply (if any) out, with
//! batches, notifications and the per-method path check.

use super::version::{self, Era, Headers};
use super::{Method, Reply, Server};
use crate::mcp::jsonrpc::{self, Body, ErrorCode, Id, Message, RpcError};
use serde_json::value::RawValue;
use serde_json::Value;

/// The most bytes of replies one batch collects. Each message of a batch is answered
/// in turn; once the replies pass this, the messages left are not run and each gets a
/// [`ErrorCode::BATCH_REPLY_FULL`] error saying to send it again (alone or in a smaller
/// batch). So a batch costs at most this plus one reply, whatever it asks for.
pub const MAX_BATCH_REPLY_BYTES: usize = 4 << 20;

/// What a reply holds, for the HTTP edge to pick a status from ([`http_status`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// A batch: each reply in it carries its own result or error.
    Batch,
    /// One result.
    Success,
    /// One error. `era` is the request's era when it got that far; `None` when the body,
    /// the message, its path or its protocol metadata (version, `_meta`, headers) was
    /// refused before any method ran.
    Failure {
        /// The error's code.
        code: ErrorCode,
        /// The request's era, once decided.
        era: Option<Era>,
    },
}

/// The HTTP status a reply is sent with: the one place statuses of MCP answers are
/// decided (the JSON-RPC and MCP layers return protocol errors only; stdio has no status).
/// A request refused before a method ran is 400; a modern request for an unknown method
/// is 404 (Streamable HTTP); a credential that stopped being valid (a scoped server
/// deleted mid-request) is 401, one that can no longer be checked (the registry
/// unreachable too long) 503; every other answer, batches included, is 200.
pub fn http_status(outcome: Outcome) -> u16 {
    match outcome {
        Outcome::Batch | Outcome::Success => 200,
        Outcome::Failure {
            code: ErrorCode::UNAUTHORIZED,
            ..
        } => 401,
        Outcome::Failure {
            code: ErrorCode::REGISTRY_UNREACHABLE,
            ..
        } => 503,
        Outcome::Failure { era: None, .. } => 400,
        Outcome::Failure {
            code: ErrorCode::METHOD_NOT_FOUND,
            era: Some(Era::Modern(_)),
        } => 404,
        Outcome::Failure { .. } => 200,
    }
}

/// Answers one body: `None` when nothing goes back (only notifications and client
/// responses: HTTP 202), else what the reply holds and the reply as JSON text (an object,
/// or an array for a batch). `method_path` is the `<method>` of `/mcp/<method>`, which the
/// body must name. The methods seen are pushed onto `methods` for the log line.
///
/// The reply comes back serialized so that static results (see [`Server::prebuilt`]) are
/// copied as bytes instead of being cloned and serialized again on every request, and
/// ids are echoed as the client wrote them.
pub fn exchange(
    server: &Server,
    body: &[u8],
    method_path: Option<&str>,
    headers: Headers,
    methods: &mut Vec<String>,
) -> Option<(Outcome, Vec<u8>)> {
    let mut out = Vec::new();
    let outcome = match jsonrpc::parse_body(body, server.exposure.settings.max_batch) {
        Err(err) => failure(&mut out, None, &err, None),
        Ok(Body::Single(raw)) => answer(server, raw, method_path, headers, methods, &mut out)?,
        Ok(Body::Batch(items)) => {
            out.push(b'[');
            for item in items {
                let mark = out.len();
                if mark > 1 {
                    out.push(b',');
                }
                let answered = if mark > MAX_BATCH_REPLY_BYTES {
                    refuse_unrun(item, methods, &mut out)
                } else {
                    answer(server, item, method_path, headers, methods, &mut out)
                };
                if answered.is_none() {
                    out.truncate(mark);
                }
            }
            if out.len() == 1 {
                return None;
            }
            out.push(b']');
            Outcome::Batch
        }
    };
    Some((outcome, out))
}

/// Writes `err` as the reply to `id` and says so.
fn failure(out: &mut Vec<u8>, id: Id, err: &RpcError, era: Option<Era>) -> Outcome {
    jsonrpc::write_failure(out, id, err);
    Outcome::Failure {
        code: err.code,
        era,
    }
}

/// A message of a batch whose replies are already past [`MAX_BATCH_REPLY_BYTES`]: a
/// request gets an error saying it was not run; anything else is left unanswered.
fn refuse_unrun(raw: &RawValue, methods: &mut Vec<String>, out: &mut Vec<u8>) -> Option<Outcome> {
    let Ok(Message::Request { id, method, .. }) = jsonrpc::classify(raw) else {
        return None;
    };
    methods.push(method);
    let err = RpcError::new(
        ErrorCode::BATCH_REPLY_FULL,
        format!(
            "Not run: this batch's replies passed {MAX_BATCH_REPLY_BYTES} bytes, the most one batch reply holds; send this request again, alone or in a smaller batch"
        ),
    );
    Some(failure(out, Some(id), &err, None))
}

/// Answers one JSON-RPC message onto `out`: `None` (nothing written) for notifications
/// and client responses (202), else what the reply holds.
fn answer(
    server: &Server,
    raw: &RawValue,
    method_path: Option<&str>,
    headers: Headers,
    methods: &mut Vec<String>,
    out: &mut Vec<u8>,
) -> Option<Outcome> {
    let message = match jsonrpc::classify(raw) {
        Ok(message) => message,
        Err(rejected) => {
            methods.push("invalid".into());
            return Some(failure(out, rejected.id, &rejected.error, None));
        }
    };
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (id, method, params),
        Message::Notification { method } => {
            methods.push(method);
            return None;
        }
        Message::Response => return None,
    };
    methods.push(match params.get("name").and_then(Value::as_str) {
        Some(name) if method == Method::ToolsCall.as_str() => format!("{method}:{name}"),
        _ => method.clone(),
    });
    if let Some(path) = method_path {
        if path != method {
            let err = RpcError::invalid_request(format!(
                "the body's method '{method}' does not match the path /mcp/{path}; POST it to /mcp/{method} or /mcp"
            ));
            return Some(failure(out, Some(id), &err, None));
        }
    }
    let era = match version::detect(&method, &params, headers) {
        Ok(era) => era,
        Err(err) => return Some(failure(out, Some(id), &err, None)),
    };
    if let Some(result) = server.prebuilt(era, &method, &params) {
        jsonrpc::write_success_text(out, id, result.as_bytes());
        return Some(Outcome::Success);
    }
    Some(match server.handle(era, &method, &params) {
        Ok(Reply::Value(result)) => {
            jsonrpc::write_success(out, id, &result);
            Outcome::Success
        }
        Ok(Reply::Bytes(result)) => {
            jsonrpc::write_success_text(out, id, &result);
            Outcome::Success
        }
        Err(err) => failure(out, Some(id), &err, Some(era)),
    })
}

/// The property tests run on proptest ([`crate::testing::property_tests`]): a failure is shrunk to a
/// minimal case, and its seed is kept in `proptest-regressions/mcp/exchange.txt` and replayed first.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::discovery::ToolExposure;
    use crate::hubspot::{self, Client};
    use crate::mcp::version::ProtocolVersion;
    use crate::mcp::{Exposure, Settings};
    use crate::runtime::pool::BlockingPool;
    use crate::testing::property_tests::for_all;
    use proptest::collection::vec;
    use proptest::option;
    use proptest::prelude::*;
    use proptest::sample::{select, Index};
    use serde_json::json;
    use std::cell::Cell;
    use std::sync::Arc;
    use std::time::Duration;

    fn settings() -> hubspot::Settings {
        hubspot::Settings {
            timeout: Duration::from_secs(1),
            ..Default::default()
        }
    }

    /// What the reply would be without the prebuilt path: handle() and serialize.
    fn by_value(server: &Server, id: i64, params: Value, headers: Headers) -> Value {
        let params = params.as_object().cloned().unwrap_or_default();
        let era = version::detect("tools/list", &params, headers).unwrap();
        let Ok(Reply::Value(result)) = server.handle(era, "tools/list", &params) else {
            panic!("tools/list answers a value");
        };
        json!({"jsonrpc": "2.0", "id": id, "result": result})
    }

    #[test]
    fn prebuilt_tools_list_is_byte_identical_to_the_value_path() {
        let pool = Arc::new(BlockingPool::new(1, 1));
        let client = Client::new("http://127.0.0.1:9", "t", pool, &settings());
        let exposures = [
            Exposure::all(Settings::default(), ToolExposure::All),
            Exposure::all(Settings::default(), ToolExposure::Discovery),
            Exposure::new(Settings::default(), ToolExposure::All, |tool| {
                tool.name == "get_contacts"
            }),
        ];
        for exposure in &exposures {
            same_bytes_both_ways(&Server {
                exposure,
                client: &client,
                recheck: None,
            });
        }
    }

    #[test]
    fn prebuilt_initialize_is_byte_identical_to_the_value_path() {
        let pool = Arc::new(BlockingPool::new(1, 1));
        let client = Client::new("http://127.0.0.1:9", "t", pool, &settings());
        let exposure = Exposure::all(Settings::default(), ToolExposure::All);
        let server = Server {
            exposure: &exposure,
            client: &client,
            recheck: None,
        };
        for version in version::SUPPORTED.iter().filter(|v| v.as_str() < "2026") {
            let params = json!({"protocolVersion": version.as_str(), "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}});
            let params = params.as_object().cloned().unwrap();
            let era = version::detect("initialize", &params, Headers::default()).unwrap();
            let prebuilt = server
                .prebuilt(era, "initialize", &params)
                .expect("prebuilt");
            let Ok(Reply::Value(result)) = server.handle(era, "initialize", &params) else {
                panic!("initialize answers a value");
            };
            assert_eq!(prebuilt, result.to_string(), "{version:?}");
            assert!(prebuilt.contains(version.as_str()));
        }
    }

    fn same_bytes_both_ways(server: &Server) {
        let modern = json!({"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        }});
        // Plain (no header, 2024-11-05), structured (2025-06-18) and modern first pages.
        for (params, version) in [
            (json!({}), None),
            (json!({}), Some("2024-11-05")),
            (json!({}), Some("2025-06-18")),
            (modern.clone(), None),
        ] {
            let headers = Headers {
                protocol_version: version,
                ..Headers::default()
            };
            let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": params});
            let (outcome, bytes) = exchange(
                server,
                body.to_string().as_bytes(),
                None,
                headers,
                &mut Vec::new(),
            )
            .unwrap();
            assert_eq!(outcome, Outcome::Success);
            let expected = serde_json::to_vec(&by_value(server, 7, params, headers)).unwrap();
            assert_eq!(String::from_utf8(bytes), String::from_utf8(expected));
        }
        // A batch: replies joined in order, notifications leave no trace.
        let batch = json!([
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": modern},
        ]);
        let (_, bytes) = exchange(
            server,
            batch.to_string().as_bytes(),
            None,
            Headers::default(),
            &mut Vec::new(),
        )
        .unwrap();
        let expected = json!([
            by_value(server, 1, json!({}), Headers::default()),
            by_value(server, 2, modern, Headers::default())
        ]);
        assert_eq!(bytes, serde_json::to_vec(&expected).unwrap());
        let only_notes = br#"[{"jsonrpc":"2.0","method":"notifications/initialized"}]"#;
        assert!(exchange(
            server,
            only_notes,
            None,
            Headers::default(),
            &mut Vec::new()
        )
        .is_none());
    }

    /// Every tool, and a client whose HubSpot is never reached by these tests.
    fn full_catalog() -> (Exposure, Client) {
        let pool = Arc::new(BlockingPool::new(1, 1));
        let client = Client::new("http://127.0.0.1:9", "t", pool, &settings());
        (
            Exposure::all(Settings::default(), ToolExposure::All),
            client,
        )
    }

    #[test]
    fn statuses_are_decided_from_the_outcome_alone() {
        let (exposure, client) = full_catalog();
        let server = Server {
            exposure: &exposure,
            client: &client,
            recheck: None,
        };
        let modern = r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}"#;
        let status = |body: &str, path: Option<&str>| {
            exchange(
                &server,
                body.as_bytes(),
                path,
                Headers::default(),
                &mut Vec::new(),
            )
            .map(|(outcome, _)| http_status(outcome))
        };
        let batch = format!(
            "[{}]",
            vec!["{}"; Settings::default().max_batch + 1].join(",")
        );
        for (body, path, expected) in [
            ("{oops", None, 400),
            ("[]", None, 400),
            (batch.as_str(), None, 400),
            (r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, None, 400),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
                Some("tools/list"),
                400,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#, None, 200),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
                None,
                200,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, None, 200),
            (r#"[{"jsonrpc":"2.0","id":1,"method":"nope"}]"#, None, 200),
        ] {
            assert_eq!(status(body, path), Some(expected), "{body}");
        }
        let modern_unknown =
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"nope","params":{modern}}}"#);
        assert_eq!(status(&modern_unknown, None), Some(404));
        let bad_meta = r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        assert_eq!(status(bad_meta, None), Some(400));
        let unauthorized = Outcome::Failure {
            code: ErrorCode::UNAUTHORIZED,
            era: Some(Era::Legacy(version::LEGACY_DEFAULT)),
        };
        assert_eq!(http_status(unauthorized), 401);
    }

    /// Raw ids a client may send that are not JSON containers: strings, numbers of any
    /// size or form, `null`.
    fn plain_id() -> BoxedStrategy<String> {
        prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            (any::<u64>(), any::<u64>()).prop_map(|(a, b)| format!("-{a}{b}")),
            (0..100u32, 0..1000u32, -300..300i32).prop_map(|(a, b, e)| format!("{a}.{b}e{e}")),
            Just("-0".to_string()),
            select(vec!["", "a\"b", "é\\", "\u{1F600}", "\t"]).prop_map(|s| format!("{s:?}")),
            any::<u8>().prop_map(|b| format!("\"\\u00{b:02x}\\/x\"")),
            Just("null".to_string()),
        ]
        .boxed()
    }

    /// Raw ids a client may send, valid or not (arrays and objects are not).
    fn random_id() -> BoxedStrategy<String> {
        prop_oneof![7 => plain_id(), 1 => random_value(1)].boxed()
    }

    /// Any JSON value as text, `depth` levels deep at most.
    fn random_value(depth: u32) -> BoxedStrategy<String> {
        let leaf = prop_oneof![
            select(vec!["null", "true", "false"]).prop_map(String::from),
            select(vec![
                "0",
                "-1",
                "3.5",
                "1e400",
                "123456789012345678901234567890",
                "-0.0",
            ])
            .prop_map(String::from),
            select(vec!["", "2.0", "ping", "tools/list", "x\ny", "\u{0}"])
                .prop_map(|s| format!("{s:?}")),
            plain_id(),
        ];
        if depth == 0 {
            return leaf.boxed();
        }
        let inner = random_value(depth - 1);
        let keys = select(vec![
            "jsonrpc", "id", "method", "params", "result", "error", "name", "x",
        ]);
        prop_oneof![
            4 => leaf,
            1 => vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(","))),
            1 => vec((keys, inner), 0..5).prop_map(|members| {
                let members: Vec<String> =
                    members.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
        .boxed()
    }

    /// A JSON-RPC message (mostly well-formed, sometimes not) and its raw id, if any.
    fn random_message() -> impl Strategy<Value = (String, Option<String>)> {
        let version = prop_oneof![7 => Just("\"2.0\"".to_string()), 1 => random_value(1)];
        let methods = select(vec![
            "ping",
            "tools/list",
            "initialize",
            "prompts/list",
            "prompts/get",
            "resources/templates/list",
            "server/discover",
            "notifications/initialized",
            "nope",
        ]);
        let method = prop_oneof![
            1 => random_value(1).prop_map(|m| format!("\"method\":{m}")),
            1 => Just("\"result\":{}".to_string()),
            8 => methods.prop_map(|m| format!("\"method\":{m:?}")),
        ];
        (
            option::weighted(0.9, version),
            option::weighted(0.75, random_id()),
            method,
            option::of(random_value(2)),
        )
            .prop_map(|(version, id, method, params)| {
                let mut members = Vec::new();
                if let Some(version) = version {
                    members.push(format!("\"jsonrpc\":{version}"));
                }
                if let Some(id) = &id {
                    members.push(format!("\"id\":{id}"));
                }
                members.push(method);
                if let Some(params) = params {
                    members.push(format!("\"params\":{params}"));
                }
                (format!("{{{}}}", members.join(" , ")), id)
            })
    }

    /// A request body and the raw ids of the messages in it (none tracked for a body that
    /// is any JSON value).
    fn random_body() -> impl Strategy<Value = (String, Vec<Option<String>>)> {
        prop_oneof![
            1 => random_value(3).prop_map(|body| (body, Vec::new())),
            2 => random_message().prop_map(|(m, id)| (m, vec![id])),
            3 => vec(random_message(), 0..24).prop_map(|messages| {
                let (items, ids): (Vec<String>, Vec<Option<String>>) =
                    messages.into_iter().unzip();
                (format!("[{}]", items.join(",")), ids)
            }),
        ]
    }

    /// Damage to a body's text: cut at a place, or one byte there replaced.
    fn damage() -> impl Strategy<Value = Option<(Index, Option<u8>)>> {
        let byte = option::of(select(b"{}[],:\"\\x\x00".to_vec()));
        option::weighted(0.125, (any::<Index>(), byte))
    }

    /// Checks one reply object: JSON-RPC 2.0, a result or an error, and returns its id text.
    fn check_reply(reply: &Value) {
        assert_eq!(reply["jsonrpc"], "2.0", "{reply}");
        let obj = reply.as_object().unwrap();
        assert_eq!(obj.len(), 3, "{reply}");
        match (obj.get("result"), obj.get("error")) {
            (Some(_), None) => {}
            (None, Some(error)) => {
                assert!(
                    error["code"].is_i64() && error["message"].is_string(),
                    "{reply}"
                );
            }
            _ => panic!("a result or an error: {reply}"),
        }
    }

    /// The raw id texts in a reply's bytes, in order (`"id":` is written right after
    /// `"jsonrpc":"2.0",` on every reply object).
    fn raw_ids(bytes: &[u8]) -> Vec<String> {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let marker = r#"{"jsonrpc":"2.0","id":"#;
        let mut ids = Vec::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(marker) {
            let after = &rest[at + marker.len()..];
            let raw: &RawValue = serde_json::Deserializer::from_str(after)
                .into_iter::<&RawValue>()
                .next()
                .map(|r| r.unwrap_or_else(|_| panic!("an id: {after}")))
                .unwrap();
            ids.push(raw.get().to_string());
            rest = &after[raw.get().len()..];
        }
        ids
    }

    #[test]
    fn any_body_gets_a_well_formed_answer_with_ids_echoed_exactly() {
        let (exposure, client) = full_catalog();
        let server = Server {
            exposure: &exposure,
            client: &client,
            recheck: None,
        };
        let echoed_ids = Cell::new(0);
        let cases = (random_body(), damage());
        for_all(file!(), 3000, cases, |((body, ids), damage)| {
            // Sometimes cut or damage the text: still an answer, never a panic.
            let mut bytes = body.clone().into_bytes();
            if let (Some((place, byte)), false) = (damage, bytes.is_empty()) {
                let at = place.index(bytes.len());
                match byte {
                    None => bytes.truncate(at),
                    Some(byte) => bytes[at] = byte,
                }
            }
            let Some((outcome, reply)) =
                exchange(&server, &bytes, None, Headers::default(), &mut Vec::new())
            else {
                return Ok(());
            };
            let status = http_status(outcome);
            assert!([200, 400].contains(&status), "{status}");
            let value: Value = serde_json::from_slice(&reply)
                .unwrap_or_else(|e| panic!("not JSON ({e}) for {body}"));
            match &value {
                Value::Array(replies) => {
                    assert!(!replies.is_empty());
                    for r in replies {
                        check_reply(r);
                    }
                }
                single => {
                    check_reply(single);
                }
            }
            if bytes != body.as_bytes() || ids.is_empty() {
                return Ok(()); // ids only tracked in generated messages
            }
            // Every id echoed is one that was sent, byte for byte, in order.
            let sent: Vec<&String> = ids.iter().flatten().collect();
            let mut sent = sent.into_iter();
            for echoed in raw_ids(&reply).into_iter().filter(|id| id != "null") {
                echoed_ids.set(echoed_ids.get() + 1);
                assert!(
                    sent.any(|id| *id == echoed),
                    "id {echoed} not sent (in order) in {body}"
                );
            }
            Ok(())
        });
        let echoed_ids = echoed_ids.get();
        // About 2,900 on average, rarely less than 2,600: the check above was exercised.
        assert!(echoed_ids > 2_000, "only {echoed_ids} ids were checked");
    }

    /// The -32602 message for each bad params of `tools/call` (also through the discovery
    /// meta-tool), `resources/read` and `prompts/get`; with two bad fields, the one each
    /// method checks first is named whatever order they were sent in.
    #[test]
    fn bad_params_are_32602_with_a_message_naming_the_field() {
        let (all, client) = full_catalog();
        let discovery = Exposure::all(Settings::default(), ToolExposure::Discovery);
        let legacy = Era::Legacy(version::LEGACY_DEFAULT);
        let cases: [(&Exposure, &str, Value, &str); 13] = [
            (
                &all,
                "tools/call",
                json!({}),
                "'name' must be the name of a tool (string)",
            ),
            (
                &all,
                "tools/call",
                json!({"name": 7}),
                "'name' must be the name of a tool (string)",
            ),
            (
                &all,
                "tools/call",
                json!({"arguments": 1, "name": null}),
                "'name' must be the name of a tool (string)",
            ),
            (
                &all,
                "tools/call",
                json!({"name": "get_contacts", "arguments": []}),
                "'arguments' must be an object",
            ),
            (
                &all,
                "tools/call",
                json!({"arguments": "x", "name": "no_such_tool"}),
                "'arguments' must be an object",
            ),
            (
                &discovery,
                "tools/call",
                json!({"name": "call_tool", "arguments": {"name": "get_contacts", "arguments": 3}}),
                "call_tool: argument 'arguments' must be an object, got a number",
            ),
            (
                &all,
                "resources/read",
                json!({}),
                "'uri' must be a resource URI such as hubspot://contacts",
            ),
            (
                &all,
                "resources/read",
                json!({"uri": ["hubspot://contacts"]}),
                "'uri' must be a resource URI such as hubspot://contacts",
            ),
            (
                &all,
                "prompts/get",
                json!({"arguments": 2}),
                "'name' must be a prompt name (string)",
            ),
            (
                &all,
                "prompts/get",
                json!({"name": "analyze_contacts", "arguments": "x"}),
                "'arguments' must be an object",
            ),
            (
                &all,
                "prompts/get",
                json!({"arguments": 2, "name": "nope"}),
                "unknown prompt 'nope'",
            ),
            (
                &all,
                "prompts/get",
                json!({"name": "analyze_contacts", "arguments": {"x": "y"}}),
                "prompt 'analyze_contacts' has no argument 'x'; it takes 'criteria'",
            ),
            (
                &all,
                "prompts/get",
                json!({"name": "analyze_contacts", "arguments": {"criteria": 1}}),
                "argument 'criteria' must be a string",
            ),
        ];
        for (exposure, method, params, message) in cases {
            let server = Server {
                exposure,
                client: &client,
                recheck: None,
            };
            let params = params.as_object().cloned().unwrap();
            let Err(err) = server.handle(legacy, method, &params) else {
                panic!("{method} {params:?} was accepted");
            };
            assert_eq!(err.code, ErrorCode::INVALID_PARAMS, "{method} {params:?}");
            assert!(
                err.message
                    .strip_prefix("Invalid params: ")
                    .is_some_and(|m| m.starts_with(message)),
                "{method} {params:?}: {} should start with {message}",
                err.message
            );
        }
    }

    /// `initialize` without a `_meta` version takes the offered legacy version, and
    /// anything else (absent, not a string, unknown, modern) as the newest legacy one.
    #[test]
    fn initialize_reads_the_offered_version_and_ignores_a_bad_one() {
        let era = |params: Value| {
            version::detect(
                "initialize",
                params.as_object().unwrap(),
                Headers::default(),
            )
            .unwrap()
        };
        assert_eq!(
            era(json!({"protocolVersion": "2025-03-26", "capabilities": {}})),
            Era::Legacy(ProtocolVersion::V_2025_03_26)
        );
        for offered in [
            json!(null),
            json!(20250326),
            json!(["2025-03-26"]),
            json!("1999-01-01"),
            json!("2026-07-28"),
        ] {
            assert_eq!(
                era(json!({"protocolVersion": offered})),
                Era::Legacy(ProtocolVersion::V_2025_11_25),
                "{offered}"
            );
        }
        assert_eq!(era(json!({})), Era::Legacy(ProtocolVersion::V_2025_11_25));
    }
}
