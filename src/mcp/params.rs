//! The params of `initialize`, `tools/call`, `resources/read` and `prompts/get` as typed
//! structs, read from the request's params object with strings borrowed, not copied. Each
//! field keeps what was sent ([`Field`]: absent, of the expected type, or something else)
//! instead of failing at the first wrong one, so that each method checks its fields in its
//! own order and answers -32602 with its own message naming what it expected.

use crate::mcp::jsonrpc::RpcError;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;

/// `initialize`: the protocol version the client offers (the rest is not read).
#[derive(Deserialize)]
pub struct Initialize<'a> {
    /// `protocolVersion`.
    #[serde(borrow, default, rename = "protocolVersion")]
    pub protocol_version: Field<&'a str>,
}

/// `tools/call` and `prompts/get` (and the arguments of the `call_tool` meta-tool): what
/// to run, and its arguments.
#[derive(Deserialize)]
pub struct Call<'a> {
    /// The tool's or prompt's name.
    #[serde(borrow, default)]
    pub name: Field<&'a str>,
    /// Its arguments: an object, or none.
    #[serde(default)]
    pub arguments: Field<Map<String, Value>>,
}

/// `resources/read`: which resource.
#[derive(Deserialize)]
pub struct Read<'a> {
    /// `hubspot://<type>` or `hubspot://<type>/<id>`.
    #[serde(borrow, default)]
    pub uri: Field<&'a str>,
}

/// Reads `T` from a request's params. The fields of the structs above never fail, so
/// neither does this in practice; the error is there for the type's sake.
pub fn parse<'a, T: Deserialize<'a>>(params: &'a Map<String, Value>) -> Result<T, RpcError> {
    T::deserialize(params).map_err(RpcError::invalid_params)
}

/// A params field as it was sent.
#[derive(Debug, Default, PartialEq)]
pub enum Field<T> {
    /// Not sent, or `null`.
    #[default]
    Absent,
    /// Of the expected type.
    Given(T),
    /// Of another type.
    Wrong,
}

impl<T> Field<T> {
    /// The value, when it has the expected type.
    pub fn given(self) -> Option<T> {
        match self {
            Field::Given(value) => Some(value),
            Field::Absent | Field::Wrong => None,
        }
    }
}

impl Field<Map<String, Value>> {
    /// `arguments`: the object sent, an empty one when none was, -32602 for anything else.
    pub fn object(&self) -> Result<&Map<String, Value>, RpcError> {
        static EMPTY: OnceLock<Map<String, Value>> = OnceLock::new();
        match self {
            Field::Absent => Ok(EMPTY.get_or_init(Map::new)),
            Field::Given(args) => Ok(args),
            Field::Wrong => Err(RpcError::invalid_params("'arguments' must be an object")),
        }
    }
}

/// The JSON types a [`Field`] can expect: each takes its own kind of value and leaves
/// every other kind to be [`Field::Wrong`].
pub trait Expected<'de>: Sized {
    /// A string borrowed from the params.
    fn string(_: &'de str) -> Option<Self> {
        None
    }

    /// An object, read through `map`; `None` (after skipping it) when not expected.
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl<'de: 'a, 'a> Expected<'de> for &'a str {
    fn string(text: &'de str) -> Option<Self> {
        Some(text)
    }
}

impl<'de> Expected<'de> for Map<String, Value> {
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut object = Map::new();
        while let Some((key, value)) = map.next_entry()? {
            object.insert(key, value);
        }
        Ok(Some(object))
    }
}

impl<'de, T: Expected<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor(PhantomData))
    }
}

/// Takes any JSON value and sorts it into a [`Field`].
struct FieldVisitor<T>(PhantomData<T>);

impl<'de, T: Expected<'de>> Visitor<'de> for FieldVisitor<T> {
    type Value = Field<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Field<T>, E> {
        Ok(Field::Absent)
    }

    fn visit_none<E>(self) -> Result<Field<T>, E> {
        Ok(Field::Absent)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Field<T>, E> {
        Ok(Field::Wrong)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Field<T>, E> {
        Ok(Field::Wrong)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Field<T>, E> {
        Ok(Field::Wrong)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Field<T>, E> {
        Ok(Field::Wrong)
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Field<T>, E> {
        Ok(T::string(text).map_or(Field::Wrong, Field::Given))
    }

    /// A string that cannot be borrowed (params are always read from a parsed value,
    /// whose strings can): not of the expected kind.
    fn visit_str<E>(self, _: &str) -> Result<Field<T>, E> {
        Ok(Field::Wrong)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Wrong)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Field<T>, A::Error> {
        Ok(T::object(map)?.map_or(Field::Wrong, Field::Given))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(params: Value) -> Map<String, Value> {
        params.as_object().unwrap().clone()
    }

    #[test]
    fn each_field_says_whether_it_was_sent_and_of_which_kind() {
        let params = object(json!({"name": "get_contacts", "arguments": {"limit": 5}, "x": [1]}));
        let ok: Call = parse(&params).unwrap();
        assert_eq!(ok.name, Field::Given("get_contacts"));
        assert_eq!(ok.arguments.object().unwrap()["limit"], 5);
        let params = object(json!({"name": null}));
        let none: Call = parse(&params).unwrap();
        assert_eq!(none.name, Field::Absent);
        assert!(none.arguments.object().unwrap().is_empty());
        for wrong in [
            json!(1),
            json!(-1),
            json!(1.5),
            json!(true),
            json!([]),
            json!({}),
        ] {
            let params = object(json!({"name": wrong, "arguments": wrong}));
            let bad: Call = parse(&params).unwrap();
            assert_eq!(bad.name, Field::Wrong, "{wrong}");
            if !wrong.is_object() {
                let err = bad.arguments.object().unwrap_err();
                assert_eq!(err.message, "Invalid params: 'arguments' must be an object");
            }
        }
    }

    #[test]
    fn strings_are_borrowed_from_the_params() {
        let params = json!({"uri": "hubspot://contacts"});
        let params = params.as_object().unwrap();
        let read: Read = parse(params).unwrap();
        let uri = read.uri.given().unwrap();
        assert!(std::ptr::eq(uri, params["uri"].as_str().unwrap()));
        let init: Initialize = parse(params).unwrap();
        assert_eq!(init.protocol_version, Field::Absent);
    }
}
