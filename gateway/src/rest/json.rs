//! The platform's JSON mapping (`fip.common.v1` rest.proto): proto3 JSON
//! with proto field names, every field written (unset messages and
//! `optional` fields as `null`), 64-bit integers as numbers, and enums of
//! `fip.*` packages as their lowercase value name without the enum prefix
//! (`JOB_STATUS_QUEUED` → `"queued"`, `*_UNSPECIFIED` → `null`). On input,
//! the short form, the full value name and the number are all accepted.

use base64::Engine;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MapKey,
    MessageDescriptor, ReflectMessage, SerializeOptions, Value as PValue,
};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

const SERIALIZE: SerializeOptions = SerializeOptions::new()
    .use_proto_field_name(true)
    .skip_default_fields(false)
    .stringify_64_bit_integers(false);

/// Whether the enum follows the platform convention (declared in `fip.*`).
pub fn is_platform_enum(e: &EnumDescriptor) -> bool {
    e.full_name().starts_with("fip.")
}

/// `JobStatus` → `JOB_STATUS_`.
pub fn enum_prefix(e: &EnumDescriptor) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in e.name().chars() {
        if c.is_ascii_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_uppercase());
    }
    out.push('_');
    out
}

/// The JSON form of an enum value number.
pub fn enum_to_json(e: &EnumDescriptor, number: i32) -> Value {
    if number == 0 {
        return Value::Null;
    }
    match e.get_value(number) {
        Some(v) if is_platform_enum(e) => Value::String(short_name(e, v.name())),
        Some(v) => Value::String(v.name().to_string()),
        None => Value::from(number),
    }
}

/// The short names of an enum's values (without UNSPECIFIED), in order.
pub fn enum_short_names(e: &EnumDescriptor) -> Vec<String> {
    e.values()
        .filter(|v| v.number() != 0)
        .map(|v| {
            if is_platform_enum(e) {
                short_name(e, v.name())
            } else {
                v.name().to_string()
            }
        })
        .collect()
}

fn short_name(e: &EnumDescriptor, full: &str) -> String {
    full.strip_prefix(&enum_prefix(e))
        .unwrap_or(full)
        .to_ascii_lowercase()
}

/// Resolves an input enum string (short form, full name, any case) to the
/// full value name prost-reflect expects; `None` when it names no value.
pub fn enum_from_str(e: &EnumDescriptor, text: &str) -> Option<String> {
    if let Some(v) = e.get_value_by_name(text) {
        return Some(v.name().to_string());
    }
    let upper = text.to_ascii_uppercase();
    if let Some(v) = e.get_value_by_name(&upper) {
        return Some(v.name().to_string());
    }
    e.get_value_by_name(&format!("{}{upper}", enum_prefix(e)))
        .map(|v| v.name().to_string())
}

fn is_well_known(message: &MessageDescriptor) -> bool {
    message.full_name().starts_with("google.protobuf.")
}

/// The REST JSON of a message.
pub fn to_json(message: &DynamicMessage) -> Value {
    serde_json::to_value(Rest(message)).unwrap_or(Value::Null)
}

/// The REST JSON of a message, written straight to bytes (the answer body).
pub fn to_json_bytes(message: &DynamicMessage) -> Vec<u8> {
    serde_json::to_vec(&Rest(message)).unwrap_or_default()
}

/// The REST JSON of one field of a message (a `response_body`).
pub fn field_to_json_bytes(message: &DynamicMessage, field: &FieldDescriptor) -> Vec<u8> {
    if field.supports_presence() && !message.has_field(field) {
        return b"null".to_vec();
    }
    serde_json::to_vec(&RestField { message, field }).unwrap_or_default()
}

/// Serializes a message in the platform's JSON mapping, field by field,
/// without an intermediate tree. Well-known types keep proto3 JSON
/// (prost-reflect writes them).
struct Rest<'a>(&'a DynamicMessage);

impl Serialize for Rest<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let desc = self.0.descriptor();
        if is_well_known(&desc) {
            return self.0.serialize_with_options(serializer, &SERIALIZE);
        }
        let mut map = serializer.serialize_map(None)?;
        for field in desc.fields() {
            let in_real_oneof = field.containing_oneof().is_some_and(|o| !o.is_synthetic());
            if field.supports_presence() && !self.0.has_field(&field) {
                // Unset messages and `optional` fields are written as null;
                // of a oneof, only the member that is set.
                if !in_real_oneof {
                    map.serialize_entry(field.name(), &())?;
                }
                continue;
            }
            map.serialize_entry(
                field.name(),
                &RestField {
                    message: self.0,
                    field: &field,
                },
            )?;
        }
        map.end()
    }
}

struct RestField<'a> {
    message: &'a DynamicMessage,
    field: &'a FieldDescriptor,
}

impl Serialize for RestField<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.message.get_field(self.field);
        let kind = self.field.kind();
        match value.as_ref() {
            PValue::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&RestValue(item, &kind))?;
                }
                seq.end()
            }
            PValue::Map(entries) => {
                let Kind::Message(entry) = &kind else {
                    return serializer.serialize_none();
                };
                let value_kind = entry.map_entry_value_field().kind();
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    let key = match key {
                        MapKey::Bool(b) => b.to_string(),
                        MapKey::I32(n) => n.to_string(),
                        MapKey::I64(n) => n.to_string(),
                        MapKey::U32(n) => n.to_string(),
                        MapKey::U64(n) => n.to_string(),
                        MapKey::String(s) => s.clone(),
                    };
                    map.serialize_entry(&key, &RestValue(value, &value_kind))?;
                }
                map.end()
            }
            single => RestValue(single, &kind).serialize(serializer),
        }
    }
}

struct RestValue<'a>(&'a PValue, &'a Kind);

impl Serialize for RestValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self.0, self.1) {
            (PValue::Bool(b), _) => serializer.serialize_bool(*b),
            (PValue::I32(n), _) => serializer.serialize_i32(*n),
            (PValue::I64(n), _) => serializer.serialize_i64(*n),
            (PValue::U32(n), _) => serializer.serialize_u32(*n),
            (PValue::U64(n), _) => serializer.serialize_u64(*n),
            (PValue::F32(f), _) => float(f64::from(*f), serializer),
            (PValue::F64(f), _) => float(*f, serializer),
            (PValue::String(text), _) => serializer.serialize_str(text),
            (PValue::Bytes(bytes), _) => {
                serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            (PValue::EnumNumber(n), Kind::Enum(e)) => enum_to_json(e, *n).serialize(serializer),
            (PValue::EnumNumber(n), _) => serializer.serialize_i32(*n),
            (PValue::Message(m), _) => Rest(m).serialize(serializer),
            (PValue::List(_) | PValue::Map(_), _) => serializer.serialize_none(),
        }
    }
}

fn float<S: Serializer>(value: f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        serializer.serialize_f64(value)
    } else if value.is_nan() {
        serializer.serialize_str("NaN")
    } else if value > 0.0 {
        serializer.serialize_str("Infinity")
    } else {
        serializer.serialize_str("-Infinity")
    }
}

/// Reads a message from REST JSON (after the enum short forms are mapped).
pub fn from_json(value: Value, desc: &MessageDescriptor) -> Result<DynamicMessage, String> {
    let mut value = value;
    normalize_message(&mut value, desc);
    DynamicMessage::deserialize_with_options(
        desc.clone(),
        value,
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .map_err(|e| e.to_string())
}

fn normalize_message(value: &mut Value, desc: &MessageDescriptor) {
    if is_well_known(desc) {
        return;
    }
    let Value::Object(map) = value else {
        return;
    };
    for (key, v) in map.iter_mut() {
        let field = desc
            .get_field_by_name(key)
            .or_else(|| desc.get_field_by_json_name(key));
        if let Some(field) = field {
            normalize_field(v, &field);
        }
    }
}

fn normalize_field(value: &mut Value, field: &FieldDescriptor) {
    let kind = field.kind();
    if field.is_map() {
        let Kind::Message(entry) = kind else { return };
        let value_kind = entry.map_entry_value_field().kind();
        if let Value::Object(map) = value {
            for v in map.values_mut() {
                normalize_single(v, &value_kind);
            }
        }
    } else if field.is_list() {
        if let Value::Array(items) = value {
            for v in items {
                normalize_single(v, &kind);
            }
        }
    } else {
        normalize_single(value, &kind);
    }
}

fn normalize_single(value: &mut Value, kind: &Kind) {
    match (kind, &*value) {
        (Kind::Enum(e), Value::String(text)) => {
            if let Some(full) = enum_from_str(e, text) {
                *value = Value::String(full);
            }
        }
        (Kind::Message(m), _) => normalize_message(value, m),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptors::pool;

    #[test]
    fn every_platform_enum_value_carries_its_prefix() {
        for e in pool().all_enums().filter(is_platform_enum) {
            let prefix = enum_prefix(&e);
            for v in e.values() {
                assert!(
                    v.name().starts_with(&prefix),
                    "{} lacks the prefix {prefix}",
                    v.name()
                );
            }
            assert_eq!(
                e.get_value(0).map(|v| v.name().ends_with("_UNSPECIFIED")),
                Some(true)
            );
        }
    }

    #[test]
    fn enums_round_trip_in_every_form() {
        let e = pool()
            .get_enum_by_name("fip.common.v1.GenomeBuild")
            .unwrap();
        assert_eq!(enum_to_json(&e, 2), Value::from("hg38"));
        assert_eq!(enum_to_json(&e, 0), Value::Null);
        for input in ["hg38", "HG38", "GENOME_BUILD_HG38"] {
            assert_eq!(
                enum_from_str(&e, input).as_deref(),
                Some("GENOME_BUILD_HG38")
            );
        }
        assert_eq!(enum_from_str(&e, "hg99"), None);
    }

    #[test]
    fn every_field_is_written_with_platform_conventions() {
        let desc = pool().get_message_by_name("fip.user.v1.User").unwrap();
        let message = from_json(
            serde_json::json!({"id": "12", "username": "ada", "roles": ["researcher", "ROLE_ADMIN", 3]}),
            &desc,
        )
        .unwrap();
        let json = to_json(&message);
        assert_eq!(json["id"], 12);
        assert_eq!(json["email"], "");
        assert_eq!(json["is_active"], false);
        assert_eq!(json["date_joined"], Value::Null);
        let roles = json["roles"].as_array().unwrap();
        assert_eq!(roles.len(), 3);
        assert!(roles.iter().all(|r| r.is_string()), "{roles:?}");
        assert_eq!(roles[0], "researcher");
        assert_eq!(roles[1], "admin");
    }

    #[test]
    fn unknown_fields_and_bad_enums_are_refused() {
        let desc = pool().get_message_by_name("fip.user.v1.User").unwrap();
        assert!(from_json(serde_json::json!({"nope": 1}), &desc).is_err());
        assert!(from_json(serde_json::json!({"roles": ["wizard"]}), &desc).is_err());
    }
}
