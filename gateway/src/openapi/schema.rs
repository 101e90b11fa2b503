//! JSON Schemas (OpenAPI 3.1 dialect) of messages, in the platform's JSON
//! mapping. Two variants per message: the *output* form (every field
//! written, so every non-oneof field is required; enums as their short
//! name or `null`) and the *input* form (every field optional; enums in any
//! accepted form; 64-bit integers as numbers or decimal strings; unknown
//! fields refused).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::comments::description;
use crate::rest::json::{enum_prefix, enum_short_names, is_platform_enum};

/// Which side of the API a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Output,
    Input,
}

/// Collects the component schemas referenced while describing operations.
#[derive(Default)]
pub struct Schemas {
    wanted: VecDeque<(MessageDescriptor, Side)>,
    seen: BTreeSet<(String, Side)>,
    done: BTreeMap<String, Value>,
}

/// The component name of a message on one side.
pub fn component_name(message: &MessageDescriptor, side: Side) -> String {
    match side {
        Side::Output => message.full_name().to_string(),
        Side::Input => format!("{}-input", message.full_name()),
    }
}

impl Schemas {
    /// A `$ref` to `message` on `side` (the component is generated later).
    pub fn reference(&mut self, message: &MessageDescriptor, side: Side) -> Value {
        if let Some(inline) = well_known(message, side) {
            return inline;
        }
        let name = component_name(message, side);
        if self.seen.insert((message.full_name().to_string(), side)) {
            self.wanted.push_back((message.clone(), side));
        }
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    /// The schema of a message's object on `side`, leaving out `skip`
    /// fields (path variables of a `body: "*"` route).
    pub fn object(&mut self, message: &MessageDescriptor, side: Side, skip: &[String]) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in message.fields() {
            if skip.iter().any(|s| s == field.name()) {
                continue;
            }
            let mut schema = self.field(&field, side);
            if let Some(text) = description(field.parent_file(), field.path())
                && let Value::Object(map) = &mut schema
                && !map.contains_key("$ref")
            {
                map.insert("description".into(), Value::String(text));
            }
            let in_real_oneof = field.containing_oneof().is_some_and(|o| !o.is_synthetic());
            if side == Side::Output && !in_real_oneof {
                required.push(Value::String(field.name().to_string()));
            }
            properties.insert(field.name().to_string(), schema);
        }
        let mut object = json!({ "type": "object", "properties": properties });
        if !required.is_empty() {
            object["required"] = Value::Array(required);
        }
        if side == Side::Input {
            object["additionalProperties"] = Value::Bool(false);
        }
        if let Some(text) = description(message.parent_file(), message.path()) {
            object["description"] = Value::String(text);
        }
        object
    }

    /// The schema of one field on `side`.
    pub fn field(&mut self, field: &FieldDescriptor, side: Side) -> Value {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return json!({});
            };
            let value = self.single(&entry.map_entry_value_field().kind(), side);
            return json!({ "type": "object", "additionalProperties": value });
        }
        let single = self.single(&field.kind(), side);
        if field.is_list() {
            return json!({ "type": "array", "items": single });
        }
        let in_real_oneof = field.containing_oneof().is_some_and(|o| !o.is_synthetic());
        if field.supports_presence() && !in_real_oneof {
            nullable(single)
        } else {
            single
        }
    }

    /// The schema of one value of `kind` on `side`.
    pub fn single(&mut self, kind: &Kind, side: Side) -> Value {
        match kind {
            Kind::Bool => json!({ "type": "boolean" }),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({ "type": "integer", "format": "int32" })
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX })
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => match side {
                Side::Output => json!({ "type": "integer", "format": "int64" }),
                Side::Input => json!({ "anyOf": [
                    { "type": "integer", "format": "int64" },
                    { "type": "string", "pattern": "^-?[0-9]{1,18}$" }
                ] }),
            },
            Kind::Uint64 | Kind::Fixed64 => match side {
                Side::Output => json!({ "type": "integer", "minimum": 0 }),
                Side::Input => json!({ "anyOf": [
                    { "type": "integer", "minimum": 0 },
                    { "type": "string", "pattern": "^[0-9]{1,19}$" }
                ] }),
            },
            Kind::Float | Kind::Double => json!({ "type": "number" }),
            Kind::String => json!({ "type": "string" }),
            Kind::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
            Kind::Enum(e) => enum_schema(e, side),
            Kind::Message(m) => self.reference(m, side),
        }
    }

    /// Generates every referenced component.
    pub fn finish(mut self) -> Map<String, Value> {
        while let Some((message, side)) = self.wanted.pop_front() {
            let object = self.object(&message, side, &[]);
            self.done.insert(component_name(&message, side), object);
        }
        self.done.into_iter().collect()
    }
}

fn nullable(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "null" }] })
}

/// The schema of an enum in the platform convention.
pub fn enum_schema(e: &EnumDescriptor, side: Side) -> Value {
    let shorts: Vec<Value> = enum_short_names(e).into_iter().map(Value::String).collect();
    if !is_platform_enum(e) {
        let names: Vec<Value> = e.values().map(|v| Value::String(v.name().into())).collect();
        return match side {
            Side::Output => json!({ "type": "string", "enum": names }),
            Side::Input => json!({ "anyOf": [
                { "type": "string", "enum": names },
                { "type": "integer", "format": "int32" }
            ] }),
        };
    }
    match side {
        Side::Output => {
            let mut values = shorts;
            values.push(Value::Null);
            json!({
                "type": ["string", "null"],
                "enum": values,
                "description": format!(
                    "`{}` values, lowercase without the `{}` prefix; null when unspecified.",
                    e.full_name(),
                    enum_prefix(e)
                ),
            })
        }
        Side::Input => {
            let mut names = shorts;
            names.extend(e.values().map(|v| Value::String(v.name().into())));
            json!({ "anyOf": [
                { "type": "string", "enum": names },
                { "type": "integer", "format": "int32" },
                { "type": "null" }
            ] })
        }
    }
}

/// Inline schemas of the well-known types (proto3 JSON forms).
fn well_known(message: &MessageDescriptor, side: Side) -> Option<Value> {
    let number = |format: &str| json!({ "type": "number", "format": format });
    let schema = match message.full_name() {
        "google.protobuf.Timestamp" => json!({ "type": "string", "format": "date-time" }),
        "google.protobuf.Duration" => {
            json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$" })
        }
        "google.protobuf.FieldMask" => json!({
            "type": "string",
            "description": "comma-separated field paths, e.g. `email,first_name`",
        }),
        "google.protobuf.Struct" => json!({ "type": "object" }),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({ "type": "array" }),
        "google.protobuf.Empty" => json!({ "type": "object" }),
        "google.protobuf.Any" => json!({ "type": "object" }),
        "google.protobuf.BoolValue" => json!({ "type": "boolean" }),
        "google.protobuf.StringValue" => json!({ "type": "string" }),
        "google.protobuf.BytesValue" => json!({ "type": "string", "contentEncoding": "base64" }),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => {
            json!({ "type": "integer" })
        }
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => match side {
            Side::Output => json!({ "type": "integer" }),
            Side::Input => {
                json!({ "anyOf": [{ "type": "integer" }, { "type": "string", "pattern": "^-?[0-9]{1,18}$" }] })
            }
        },
        "google.protobuf.DoubleValue" => number("double"),
        "google.protobuf.FloatValue" => number("float"),
        _ => return None,
    };
    Some(schema)
}
