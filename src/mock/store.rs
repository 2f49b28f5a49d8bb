//! The mock's object store: one table of records per object type, loaded from
//! `<type>.json` fixture files and changed only in memory.

use crate::catalog::OBJECT_TYPES;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Property values of one record. HubSpot stores every value as a string; a `BTreeMap`
/// keeps them in name order, which is how they are answered.
pub type Properties = BTreeMap<String, String>;

/// The three properties HubSpot keeps itself and always answers.
pub const SYSTEM_PROPERTIES: [&str; 3] = ["hs_object_id", "createdate", "lastmodifieddate"];

/// One CRM record (contact, company, deal, ...).
pub struct Record {
    /// The numeric object id (`hs_object_id`).
    pub id: u64,
    /// All property values; an empty value is never stored.
    pub properties: Properties,
    /// Creation time, RFC 3339 with milliseconds.
    pub created_at: String,
    /// Last change time, RFC 3339 with milliseconds.
    pub updated_at: String,
    /// When the record was archived (deleted), if it was.
    pub archived_at: Option<String>,
}

impl Record {
    /// The record as HubSpot answers it, with only the properties `keep` accepts.
    pub fn to_json(&self, keep: impl Fn(&str) -> bool) -> Value {
        let properties: Map<String, Value> = self
            .properties
            .iter()
            .filter(|(name, _)| keep(name))
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect();
        let mut out = Map::new();
        out.insert("id".into(), self.id.to_string().into());
        out.insert("properties".into(), Value::Object(properties));
        out.insert("createdAt".into(), self.created_at.clone().into());
        out.insert("updatedAt".into(), self.updated_at.clone().into());
        out.insert("archived".into(), self.archived_at.is_some().into());
        if let Some(at) = &self.archived_at {
            out.insert("archivedAt".into(), at.clone().into());
        }
        Value::Object(out)
    }

    /// A property value, `None` when the record has none.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }
}

/// All records of one object type, ordered by id, with an index by id.
#[derive(Default)]
pub struct Table {
    records: Vec<Record>,
    index: HashMap<u64, usize>,
}

impl Table {
    /// The live (not archived) records, by id ascending.
    pub fn live(&self) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(|r| r.archived_at.is_none())
    }

    /// Records (live, or archived when `archived`) with id at least `from`, by id.
    pub fn starting_at(&self, from: u64, archived: bool) -> impl Iterator<Item = &Record> {
        let start = self.records.partition_point(|r| r.id < from);
        self.records[start..]
            .iter()
            .filter(move |r| r.archived_at.is_some() == archived)
    }

    /// The live record with this id.
    pub fn get(&self, id: u64) -> Option<&Record> {
        let record = &self.records[*self.index.get(&id)?];
        record.archived_at.is_none().then_some(record)
    }

    /// The first live record whose `property` equals `value`, ignoring case.
    pub fn find_by(&self, property: &str, value: &str) -> Option<&Record> {
        self.live().find(|r| {
            r.get(property)
                .is_some_and(|v| v.eq_ignore_ascii_case(value))
        })
    }

    /// Adds a record with the next id, stamped now, and returns it.
    pub fn create(&mut self, mut properties: Properties, now: &str) -> &Record {
        let id = self.records.last().map_or(1, |r| r.id + 1);
        properties.retain(|_, v| !v.is_empty());
        properties.insert("hs_object_id".into(), id.to_string());
        properties.insert("createdate".into(), now.into());
        properties.insert("lastmodifieddate".into(), now.into());
        self.index.insert(id, self.records.len());
        self.records.push(Record {
            id,
            properties,
            created_at: now.into(),
            updated_at: now.into(),
            archived_at: None,
        });
        &self.records[self.records.len() - 1]
    }

    /// Sets (or, with an empty value, clears) properties of a live record.
    pub fn update(&mut self, id: u64, changes: Properties, now: &str) -> Option<&Record> {
        let record = self.live_mut(id)?;
        for (name, value) in changes {
            if SYSTEM_PROPERTIES.contains(&name.as_str()) {
                continue;
            } else if value.is_empty() {
                record.properties.remove(&name);
            } else {
                record.properties.insert(name, value);
            }
        }
        record.updated_at = now.into();
        record
            .properties
            .insert("lastmodifieddate".into(), now.into());
        Some(record)
    }

    /// Archives a live record; `false` when there is none with this id.
    pub fn archive(&mut self, id: u64, now: &str) -> bool {
        match self.live_mut(id) {
            Some(record) => {
                record.archived_at = Some(now.into());
                true
            }
            None => false,
        }
    }

    fn live_mut(&mut self, id: u64) -> Option<&mut Record> {
        let record = &mut self.records[*self.index.get(&id)?];
        record.archived_at.is_none().then_some(record)
    }
}

/// Every object type's table, by type name (`contacts`, `companies`, ...).
pub struct ObjectTables {
    tables: BTreeMap<String, Table>,
}

impl ObjectTables {
    /// Loads every `<type>.json` file in `dir` (a JSON array of HubSpot records), except
    /// the files named in `skip` (which hold other data).
    pub fn load(dir: &Path, skip: &[&str]) -> Result<ObjectTables, String> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read fixtures directory {}: {e}", dir.display()))?;
        let mut tables = BTreeMap::new();
        for entry in entries {
            let path = entry
                .map_err(|e| format!("cannot read fixtures directory {}: {e}", dir.display()))?
                .path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(object_type) = name
                .strip_suffix(".json")
                .filter(|t| !t.is_empty() && !skip.contains(t))
            else {
                continue;
            };
            let table = load_table(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            tables.insert(object_type.to_string(), table);
        }
        if tables.is_empty() {
            return Err(format!("no <type>.json fixture files in {}", dir.display()));
        }
        Ok(ObjectTables { tables })
    }

    /// The table for an object type name or id (`contacts` or `0-1`).
    pub fn table(&self, object_type: &str) -> Option<&Table> {
        self.tables.get(canonical_type(object_type))
    }

    /// The table for an object type, to change it.
    pub fn table_mut(&mut self, object_type: &str) -> Option<&mut Table> {
        self.tables.get_mut(canonical_type(object_type))
    }
}

/// Maps HubSpot's object type ids to their names (the catalog's standard types); names
/// pass through.
pub fn canonical_type(object_type: &str) -> &str {
    OBJECT_TYPES
        .iter()
        .find(|o| o.type_id == object_type)
        .map_or(object_type, |o| o.name)
}

/// Maps a standard object type name to its id; ids (and custom types) pass through.
pub fn type_id(object_type: &str) -> &str {
    OBJECT_TYPES
        .iter()
        .find(|o| o.name == object_type)
        .map_or(object_type, |o| o.type_id)
}

fn load_table(path: &Path) -> Result<Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Array(items) = value else {
        return Err("expected a JSON array of records".into());
    };
    let mut records = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_record(item).map_err(|e| format!("record {i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    records.sort_by_key(|r| r.id);
    if let Some(pair) = records.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(format!("duplicate id {}", pair[0].id));
    }
    let index = records.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    Ok(Table { records, index })
}

fn parse_record(item: &Value) -> Result<Record, String> {
    let id = match item.get("id") {
        Some(Value::String(s)) => s.parse::<u64>().ok(),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    }
    .ok_or("\"id\" must be a numeric string")?;
    let Some(Value::Object(given)) = item.get("properties") else {
        return Err(format!("id {id}: \"properties\" must be an object"));
    };
    let mut properties = Properties::new();
    for (name, value) in given {
        if let Some(text) = property_string(value) {
            if !text.is_empty() {
                properties.insert(name.clone(), text);
            }
        } else if !value.is_null() {
            return Err(format!("id {id}: property {name:?} must be a string"));
        }
    }
    let stamp = |field: &str, property: &str| {
        item.get(field)
            .and_then(Value::as_str)
            .or_else(|| properties.get(property).map(String::as_str))
            .map(str::to_string)
            .ok_or(format!("id {id}: missing {field:?}"))
    };
    let created_at = stamp("createdAt", "createdate")?;
    let updated_at = stamp("updatedAt", "lastmodifieddate")?;
    let archived = item.get("archived").and_then(Value::as_bool) == Some(true);
    let archived_at = archived.then(|| {
        item.get("archivedAt")
            .and_then(Value::as_str)
            .unwrap_or(&updated_at)
            .to_string()
    });
    properties.insert("hs_object_id".into(), id.to_string());
    properties.insert("createdate".into(), created_at.clone());
    properties.insert("lastmodifieddate".into(), updated_at.clone());
    Ok(Record {
        id,
        properties,
        created_at,
        updated_at,
        archived_at,
    })
}

/// A JSON property value as HubSpot stores it: strings as they are, numbers and
/// booleans as their text. `None` for null, arrays and objects.
pub fn property_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
