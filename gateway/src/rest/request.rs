//! Building the request message of a REST call from its path variables,
//! query parameters (or form fields) and JSON body, as the route's
//! `google.api.http` rule says. Everything is gathered into one JSON object
//! and read by the JSON mapping, so that text values get the same
//! conversions as JSON ones.

use fip_kit::ApiError;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor};
use serde_json::{Map, Value};

use super::json;
use super::table::{BodyRule, Route};

/// Builds the request message of `route`.
pub fn build(
    route: &Route,
    path_params: &[(String, String)],
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, ApiError> {
    let input = route.rpc.input();
    let mut root = Map::new();
    match &route.body {
        BodyRule::All => {
            if let Value::Object(map) = parse_body(body, true)? {
                root = map;
            } else {
                return Err(ApiError::invalid_field("body", "must be a JSON object"));
            }
        }
        BodyRule::Field(field) => {
            let value = parse_body(body, false)?;
            root.insert(field.name().to_string(), value);
        }
        BodyRule::None => {}
    }
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        let body_field = match &route.body {
            BodyRule::All => None,
            BodyRule::Field(f) => Some(f.name().to_string()),
            BodyRule::None => Some(String::new()),
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            // With `body: "*"` every field comes from the body: no query
            // parameters (AIP-127).
            let Some(body_field) = &body_field else {
                return Err(ApiError::invalid_field(
                    key.as_ref(),
                    "unknown query parameter (this route takes a JSON body)",
                ));
            };
            let first = key.split('.').next().unwrap_or_default();
            if !body_field.is_empty() && first == body_field {
                return Err(ApiError::invalid_field(
                    key.as_ref(),
                    "is set by the request body",
                ));
            }
            if route.path_fields().iter().any(|p| p == key.as_ref()) {
                return Err(ApiError::invalid_field(key.as_ref(), "is set by the path"));
            }
            set_text(&mut root, &input, &key, &value, true)?;
        }
    }
    for (field, value) in path_params {
        set_text(&mut root, &input, field, value, false)?;
    }
    json::from_json(Value::Object(root), &input)
        .map_err(|e| ApiError::invalid_field("body", describe(&e)))
}

fn describe(serde_message: &str) -> String {
    // serde_json's " at line X column Y" refers to our own re-encoding.
    serde_message
        .split(" at line ")
        .next()
        .unwrap_or(serde_message)
        .to_string()
}

fn parse_body(body: &[u8], empty_is_object: bool) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(if empty_is_object {
            Value::Object(Map::new())
        } else {
            Value::Null
        });
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_field("body", format!("is not valid JSON: {e}")))
}

/// Sets the field at dotted `path` from a text value (a query parameter,
/// path variable or form field), converted by the field's kind. Repeated
/// fields collect every value when `append` is set.
pub fn set_text(
    root: &mut Map<String, Value>,
    message: &MessageDescriptor,
    path: &str,
    text: &str,
    append: bool,
) -> Result<(), ApiError> {
    let unknown = || ApiError::invalid_field(path, "names no field of the request");
    let mut current = message.clone();
    let mut object = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let field = current
            .get_field_by_name(part)
            .or_else(|| current.get_field_by_json_name(part))
            .ok_or_else(unknown)?;
        let name = field.name().to_string();
        if parts.peek().is_some() {
            match field.kind() {
                Kind::Message(inner) if !field.is_list() && !field.is_map() => {
                    let entry = object
                        .entry(name)
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !entry.is_object() {
                        *entry = Value::Object(Map::new());
                    }
                    let Value::Object(next) = entry else {
                        unreachable!("set to an object above")
                    };
                    object = next;
                    current = inner;
                    continue;
                }
                _ => return Err(unknown()),
            }
        }
        if field.is_map() {
            return Err(ApiError::invalid_field(
                path,
                "map fields cannot be set from text",
            ));
        }
        check_range(&field.kind(), path, text)?;
        let value = text_value(&field.kind(), text).ok_or_else(|| {
            ApiError::invalid_field(path, "message fields cannot be set from text")
        })?;
        if field.is_list() {
            let entry = object
                .entry(name)
                .or_insert_with(|| Value::Array(Vec::new()));
            match entry {
                Value::Array(items) if append => items.push(value),
                _ => *entry = Value::Array(vec![value]),
            }
        } else {
            if append && object.contains_key(&name) {
                return Err(ApiError::invalid_field(path, "is given more than once"));
            }
            object.insert(name, value);
        }
        return Ok(());
    }
    Err(unknown())
}

/// Refuses a text integer that its field's type cannot hold, naming the
/// parameter (the JSON mapping would only say that the body is wrong).
fn check_range(kind: &Kind, path: &str, text: &str) -> Result<(), ApiError> {
    let (fits, range) = match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => (
            text.parse::<i64>().map(|n| i32::try_from(n).is_ok()),
            "-2147483648 to 2147483647",
        ),
        Kind::Uint32 | Kind::Fixed32 => (
            text.parse::<i64>().map(|n| u32::try_from(n).is_ok()),
            "0 to 4294967295",
        ),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => (
            text.parse::<i128>().map(|n| i64::try_from(n).is_ok()),
            "-9223372036854775808 to 9223372036854775807",
        ),
        Kind::Uint64 | Kind::Fixed64 => (
            text.parse::<i128>().map(|n| u64::try_from(n).is_ok()),
            "0 to 18446744073709551615",
        ),
        _ => return Ok(()),
    };
    match fits {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::invalid_field(
            path,
            format!("is out of range ({range})"),
        )),
        Err(_) => Err(ApiError::invalid_field(path, "must be an integer")),
    }
}

/// The JSON value of a text for a field kind: numbers and booleans are
/// converted when they parse (otherwise left as text, so that the JSON
/// mapping reports the bad value); messages other than well-known types
/// cannot be given as text.
fn text_value(kind: &Kind, text: &str) -> Option<Value> {
    Some(match kind {
        Kind::Bool => match text {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            other => Value::String(other.to_string()),
        },
        Kind::Int32
        | Kind::Sint32
        | Kind::Sfixed32
        | Kind::Int64
        | Kind::Sint64
        | Kind::Sfixed64 => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_string())),
        Kind::Uint32 | Kind::Fixed32 | Kind::Uint64 | Kind::Fixed64 => text
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_string())),
        Kind::Double | Kind::Float => text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(text.to_string())),
        Kind::Message(m) if m.full_name().starts_with("google.protobuf.") => match m.full_name() {
            "google.protobuf.BoolValue" => text_value(&Kind::Bool, text)?,
            "google.protobuf.Int32Value" | "google.protobuf.Int64Value" => {
                text_value(&Kind::Int64, text)?
            }
            "google.protobuf.UInt32Value" | "google.protobuf.UInt64Value" => {
                text_value(&Kind::Uint64, text)?
            }
            "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => {
                text_value(&Kind::Double, text)?
            }
            _ => Value::String(text.to_string()),
        },
        Kind::Message(_) => return None,
        Kind::String | Kind::Bytes | Kind::Enum(_) => Value::String(text.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptors::pool;
    use crate::rest::table::{Lookup, RouteTable};
    use prost_reflect::Value as PValue;

    fn route(method: http::Method, path: &str) -> (Route, Vec<(String, String)>) {
        let table = RouteTable::from_pool(pool()).unwrap();
        match table.lookup(&method, path) {
            Lookup::Found(route, params) => ((**route).clone(), params),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn path_query_and_body_fill_the_request() {
        let (r, params) = route(http::Method::GET, "/api/services/4/reference-panels");
        let message = build(&r, &params, Some("page_size=5&page_token=abc"), b"").unwrap();
        assert_eq!(
            message.get_field_by_name("service_id").unwrap().as_ref(),
            &PValue::I64(4)
        );
        assert_eq!(
            message.get_field_by_name("page_size").unwrap().as_ref(),
            &PValue::I32(5)
        );

        let (r, params) = route(http::Method::POST, "/api/auth/login");
        let message = build(&r, &params, None, br#"{"username":"ada","password":"x"}"#).unwrap();
        assert_eq!(
            message.get_field_by_name("username").unwrap().as_str(),
            Some("ada")
        );
    }

    #[test]
    fn out_of_range_and_non_integer_parameters_are_blamed_on_themselves() {
        let (route, params) = route(http::Method::GET, "/api/jobs");
        for (query, description) in [
            (
                "page_size=99999999999",
                "is out of range (-2147483648 to 2147483647)",
            ),
            ("page_size=twelve", "must be an integer"),
        ] {
            let error = build(&route, &params, Some(query), b"").unwrap_err();
            assert_eq!(
                error.violations,
                vec![("page_size".to_string(), description.to_string())]
            );
        }
        assert!(build(&route, &params, Some("page_size=20"), b"").is_ok());
    }

    #[test]
    fn repeated_enum_query_parameters_collect() {
        let (r, params) = route(http::Method::GET, "/api/jobs");
        let message = build(
            &r,
            &params,
            Some("status=running&status=JOB_STATUS_QUEUED"),
            b"",
        )
        .unwrap();
        let statuses = message.get_field_by_name("status").unwrap();
        assert_eq!(statuses.as_list().unwrap().len(), 2);
    }

    #[test]
    fn dotted_names_reach_nested_fields() {
        let desc = pool()
            .get_message_by_name("fip.user.v1.UpdateProfileRequest")
            .unwrap();
        let mut root = Map::new();
        set_text(&mut root, &desc, "user.first_name", "Ada", true).unwrap();
        set_text(&mut root, &desc, "user.institution", "Engines", true).unwrap();
        assert_eq!(
            Value::Object(root),
            serde_json::json!({"user": {"first_name": "Ada", "institution": "Engines"}})
        );
        let mut root = Map::new();
        assert!(set_text(&mut root, &desc, "user.nope", "x", true).is_err());
        assert!(set_text(&mut root, &desc, "user.first_name.x", "x", true).is_err());
    }

    #[test]
    fn bad_input_is_a_validation_error() {
        let (r, params) = route(http::Method::GET, "/api/services/abc");
        assert!(build(&r, &params, None, b"").is_err());
        let (r, params) = route(http::Method::GET, "/api/services");
        assert!(build(&r, &params, Some("bogus=1"), b"").is_err());
        let (r, params) = route(http::Method::POST, "/api/auth/login");
        assert!(build(&r, &params, None, b"{not json").is_err());
        assert!(build(&r, &params, None, b"[1]").is_err());
        assert!(build(&r, &params, Some("username=x"), b"{}").is_err());
    }
}
