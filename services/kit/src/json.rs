//! `google.protobuf.Struct` ⇄ JSON objects, for the free-form fields of the
//! contracts (a WES workflow's fixed parameters, say).

use prost_types::value::Kind;
use serde_json::{Map, Number, Value};

/// A protobuf `Struct` as a JSON object (unset: empty). Whole numbers come
/// out as JSON integers, since `Struct` keeps every number as a double and
/// consumers such as CWL runners tell `2` from `2.0`.
pub fn struct_in(value: Option<prost_types::Struct>) -> Map<String, Value> {
    value
        .map(|s| {
            s.fields
                .into_iter()
                .map(|(k, v)| (k, value_in(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn value_in(value: prost_types::Value) -> Value {
    match value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
                Value::Number(Number::from(n as i64))
            } else {
                Number::from_f64(n)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::StructValue(s)) => Value::Object(struct_in(Some(s))),
        Some(Kind::ListValue(l)) => Value::Array(l.values.into_iter().map(value_in).collect()),
    }
}

/// A JSON object as a protobuf `Struct`; unset when empty.
pub fn struct_out(map: &Map<String, Value>) -> Option<prost_types::Struct> {
    (!map.is_empty()).then(|| prost_types::Struct {
        fields: map.iter().map(|(k, v)| (k.clone(), value_out(v))).collect(),
    })
}

fn value_out(value: &Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(value_out).collect(),
        }),
        Value::Object(map) => Kind::StructValue(struct_out(map).unwrap_or_default()),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_go_through_a_struct_and_back() {
        let object = json!({
            "panels": {"class": "Directory", "location": "file:///srv/panels"},
            "nthreads": 2, "r2": 0.3, "flags": [true, null, "x"], "nested": {}
        });
        let map = object.as_object().unwrap();
        let back = struct_in(struct_out(map));
        assert_eq!(Value::Object(back), object);
        assert_eq!(struct_out(&Map::new()), None);
        assert!(struct_in(None).is_empty());
    }
}
