//! etcd's gateway answers under arbitrary text, read as the registry reads them: each line
//! as a watch stream's message (or the whole input as a unary answer), its refusal, its
//! int64s, and the base64 keys and values of its key-values. No panic; a key that decodes is
//! text whose base64 decodes again to itself; base64 that decodes re-encodes to bytes that
//! decode the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[path = "../../src/runtime/base64.rs"]
mod base64;
/// Where the server keeps base64 (`crate::runtime::base64`), for gateway.rs's import.
mod runtime {
    pub(crate) use super::base64;
}
#[path = "../../src/registry/etcd/gateway.rs"]
mod gateway;

use gateway::Answer;

/// Reads what the registry reads of one answer.
fn answer(text: &str) {
    let value = match gateway::read(text) {
        Answer::Value(value) => value,
        Answer::Refused(_, message) => {
            assert!(!message.is_empty());
            return;
        }
        Answer::NotJson => return,
    };
    let result = &value["result"];
    let _ = (
        gateway::int(&value["header"]["revision"]),
        gateway::int(&result["compact_revision"]),
    );
    let events = result["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["kv"]);
    let kvs = value["kvs"].as_array().into_iter().flatten();
    for kv in events.chain(kvs) {
        let _ = (
            gateway::int(&kv["mod_revision"]),
            gateway::int(&kv["lease"]),
        );
        if let Some((key, _value)) = gateway::key_value(kv) {
            let encoded = base64::encode(key.as_bytes());
            assert_eq!(base64::decode(&encoded).as_deref(), Some(key.as_bytes()));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    answer(&text);
    for line in text.lines() {
        answer(line);
    }
    if let Some(bytes) = base64::decode(text.trim()) {
        assert_eq!(base64::decode(&base64::encode(&bytes)), Some(bytes));
    }
    let _ = gateway::int(&Value::String(text.trim().to_string()));
});
