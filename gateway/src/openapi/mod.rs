//! `GET /api/openapi.json`: an OpenAPI 3.1 document generated from the
//! same descriptors and route table as the REST transcoder, so it cannot
//! drift from what the gateway serves.

pub mod comments;
pub mod schema;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use self::comments::{description, summary};
use self::schema::{Schemas, Side};
use crate::rest::download::is_download;
use crate::rest::header_name;
use crate::rest::table::{BodyRule, Route, RouteTable, Streaming};
use crate::rest::upload::{accepts_form, file_id_fields, upload_fields};

/// Name of the shared error schema.
const ERROR: &str = "Error";

/// How deep nested request messages are flattened into query parameters.
const MAX_QUERY_DEPTH: usize = 3;

/// Builds the document.
pub fn document(pool: &DescriptorPool, table: &RouteTable) -> Value {
    let mut schemas = Schemas::default();
    let mut paths: Map<String, Value> = Map::new();
    let mut tags: Vec<Value> = Vec::new();
    for route in table.routes() {
        let service = route.rpc.parent_service();
        if !tags.iter().any(|t| t["name"] == service.name()) {
            let mut tag = json!({ "name": service.name() });
            if let Some(text) = description(service.parent_file(), service.path()) {
                tag["description"] = Value::String(text);
            }
            tags.push(tag);
        }
        let operation = operation(route, &mut schemas);
        let item = paths
            .entry(route.template.openapi_path())
            .or_insert_with(|| Value::Object(Map::new()));
        item[route.http_method.as_str().to_ascii_lowercase()] = operation;
    }
    let rest_error = pool
        .get_message_by_name("fip.common.v1.RestError")
        .expect("the contracts define RestError");
    let mut error = schemas.object(&rest_error, Side::Output, &[]);
    error["properties"]["service_id"] = json!({
        "type": "integer",
        "description": "`metadata.service_id` as a number, for clients of the original REST surface.",
    });
    error["properties"]["details"] = json!({
        "type": "array",
        "description": "The `google.rpc.Status` details: ErrorInfo, BadRequest, RetryInfo, Help, each with its `@type`.",
        "items": { "type": "object", "properties": { "@type": { "type": "string" } }, "required": ["@type"] },
    });
    let mut components = schemas.finish();
    components.insert(ERROR.into(), error);
    let conventions = pool
        .get_file_by_name("fip/common/v1/rest.proto")
        .and_then(|f| description(f, &[2]))
        .unwrap_or_default();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Federated Imputation Platform",
            "version": env!("CARGO_PKG_VERSION"),
            "description": conventions,
        },
        "servers": [{ "url": "/" }],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The `access_token` of `POST /api/auth/login`.",
                }
            },
        },
        "security": [{ "bearerAuth": [] }],
    })
}

fn operation(route: &Route, schemas: &mut Schemas) -> Value {
    let rpc = &route.rpc;
    let text = description(rpc.parent_file(), rpc.path()).unwrap_or_default();
    let mut op = json!({
        "operationId": route.operation_id,
        "tags": [rpc.parent_service().name()],
        "summary": summary(&text),
        "description": format!("{text}\n\ngRPC: `{}`", route.grpc_path()),
        "parameters": parameters(route, schemas),
        "responses": responses(route, schemas),
    });
    if route.public {
        op["security"] = json!([]);
    }
    if let Some(body) = request_body(route, schemas) {
        op["requestBody"] = body;
    }
    op
}

fn parameters(route: &Route, schemas: &mut Schemas) -> Value {
    let input = route.rpc.input();
    let mut out = Vec::new();
    for variable in route.path_fields() {
        let Some(field) = crate::rest::table::resolve_field(&input, variable) else {
            continue;
        };
        out.push(json!({
            "name": variable,
            "in": "path",
            "required": true,
            "schema": path_schema(&field),
        }));
    }
    let skip_body = match &route.body {
        BodyRule::All => return Value::Array(out),
        BodyRule::Field(f) => Some(f.name().to_string()),
        BodyRule::None => None,
    };
    query_parameters(
        &input,
        "",
        route.path_fields(),
        skip_body.as_deref(),
        schemas,
        0,
        &mut out,
    );
    if is_download(route) {
        out.push(json!({
            "name": "Range",
            "in": "header",
            "required": false,
            "description": "`bytes=a-b` or `bytes=a-`: answers 206 with that part.",
            "schema": { "type": "string" },
        }));
    }
    Value::Array(out)
}

fn path_schema(field: &FieldDescriptor) -> Value {
    match field.kind() {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({ "type": "integer", "format": "int32" })
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            json!({ "type": "integer", "format": "int64" })
        }
        Kind::Uint32 | Kind::Uint64 | Kind::Fixed32 | Kind::Fixed64 => {
            json!({ "type": "integer", "minimum": 0 })
        }
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::Enum(e) => schema::enum_schema(&e, Side::Input),
        _ => json!({ "type": "string" }),
    }
}

fn query_parameters(
    message: &MessageDescriptor,
    prefix: &str,
    path_fields: &[String],
    skip: Option<&str>,
    schemas: &mut Schemas,
    depth: usize,
    out: &mut Vec<Value>,
) {
    for field in message.fields() {
        let name = format!("{prefix}{}", field.name());
        if path_fields.contains(&name) || skip == Some(name.as_str()) || field.is_map() {
            continue;
        }
        let kind = field.kind();
        if let Kind::Message(inner) = &kind
            && !inner.full_name().starts_with("google.protobuf.")
        {
            if !field.is_list() && depth < MAX_QUERY_DEPTH {
                query_parameters(
                    inner,
                    &format!("{name}."),
                    path_fields,
                    skip,
                    schemas,
                    depth + 1,
                    out,
                );
            }
            continue;
        }
        let single = query_single(&kind, schemas);
        let schema = if field.is_list() {
            json!({ "type": "array", "items": single })
        } else {
            single
        };
        let mut parameter = json!({
            "name": name,
            "in": "query",
            "required": false,
            "schema": schema,
        });
        if field.is_list() {
            parameter["style"] = json!("form");
            parameter["explode"] = json!(true);
        }
        if let Some(text) = description(field.parent_file(), field.path()) {
            parameter["description"] = Value::String(text);
        }
        out.push(parameter);
    }
}

/// Query values are text: 64-bit integers are plain integers there.
fn query_single(kind: &Kind, schemas: &mut Schemas) -> Value {
    match kind {
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            json!({ "type": "integer", "format": "int64" })
        }
        Kind::Uint64 | Kind::Fixed64 => json!({ "type": "integer", "minimum": 0 }),
        Kind::Enum(e) => {
            let mut names = crate::rest::json::enum_short_names(e);
            names.extend(e.values().map(|v| v.name().to_string()));
            json!({ "type": "string", "enum": names })
        }
        other => match schemas.single(other, Side::Input) {
            Value::Object(map) if map.contains_key("anyOf") => json!({ "type": "string" }),
            schema => schema,
        },
    }
}

fn request_body(route: &Route, schemas: &mut Schemas) -> Option<Value> {
    let input = route.rpc.input();
    let mut content = Map::new();
    match &route.body {
        BodyRule::None => return None,
        BodyRule::All if route.streaming == Streaming::Client => {}
        BodyRule::All => {
            let schema = if route.path_fields().is_empty() {
                schemas.reference(&input, Side::Input)
            } else {
                schemas.object(&input, Side::Input, route.path_fields())
            };
            content.insert("application/json".into(), json!({ "schema": schema }));
        }
        BodyRule::Field(field) => {
            content.insert(
                "application/json".into(),
                json!({ "schema": schemas.field(field, Side::Input) }),
            );
        }
    }
    if route.streaming == Streaming::Client
        && let Some((meta, _)) = upload_fields(&input)
        && let Kind::Message(meta) = meta.kind()
    {
        let mut properties = text_properties(&meta, &[]);
        properties.insert(
            "file".into(),
            json!({ "type": "string", "format": "binary", "description": "The content; sent last." }),
        );
        content.insert(
            "multipart/form-data".into(),
            json!({ "schema": { "type": "object", "properties": properties, "required": ["file"] } }),
        );
    } else if accepts_form(route) {
        let files = file_id_fields(route);
        let skip: Vec<String> = files.iter().map(|f| f.name().to_string()).collect();
        let mut properties = text_properties(&input, &skip);
        for file in &files {
            let part = file.name().trim_end_matches("_id").to_string();
            properties.insert(
                part,
                json!({ "type": "string", "format": "binary", "description": format!("Uploaded first; its id fills `{}`.", file.name()) }),
            );
        }
        content.insert(
            "multipart/form-data".into(),
            json!({ "schema": { "type": "object", "properties": properties } }),
        );
    }
    Some(json!({ "required": false, "content": content }))
}

/// Form fields of a message: every field as text (messages as JSON text).
fn text_properties(message: &MessageDescriptor, skip: &[String]) -> Map<String, Value> {
    let mut properties = Map::new();
    for field in message.fields() {
        if skip.iter().any(|s| s == field.name()) {
            continue;
        }
        let single = match field.kind() {
            Kind::Message(m) if !m.full_name().starts_with("google.protobuf.") => {
                json!({ "type": "string", "contentMediaType": "application/json" })
            }
            _ => json!({ "type": "string" }),
        };
        let schema = if field.is_list() && !matches!(field.kind(), Kind::Message(_)) {
            json!({ "type": "array", "items": single })
        } else {
            single
        };
        properties.insert(field.name().to_string(), schema);
    }
    properties
}

fn responses(route: &Route, schemas: &mut Schemas) -> Value {
    let output = route.rpc.output();
    let error = json!({
        "description": "An error: the HTTP status follows the gRPC code (429 carries `Retry-After`).",
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{ERROR}") } } },
    });
    let rate_headers = json!({
        "RateLimit-Limit": { "schema": { "type": "integer" } },
        "RateLimit-Remaining": { "schema": { "type": "integer" } },
        "RateLimit-Reset": { "schema": { "type": "integer" } },
    });
    if is_download(route) {
        let binary = json!({ "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } });
        let headers = json!({
            "Content-Disposition": { "schema": { "type": "string" } },
            "Content-Length": { "schema": { "type": "integer" } },
            "ETag": { "schema": { "type": "string" } },
        });
        return json!({
            "200": { "description": "The file's bytes.", "headers": headers, "content": binary },
            "206": { "description": "The requested range of the file's bytes.", "headers": headers, "content": binary },
            "default": error,
        });
    }
    if route.streaming == Streaming::Server {
        let item = schemas.reference(&output, Side::Output);
        return json!({
            "200": {
                "description": format!(
                    "A stream of `{}` messages: Server-Sent Events (one `data:` line of JSON each) when `Accept: text/event-stream`, else newline-delimited JSON. Authenticated like any call, with the `Authorization` header: browsers read it with `fetch` (EventSource cannot send headers).",
                    output.full_name()
                ),
                "content": {
                    "text/event-stream": { "schema": { "type": "string" }, "x-item-schema": item },
                    "application/x-ndjson": { "schema": { "type": "string" }, "x-item-schema": item },
                },
            },
            "default": error,
        });
    }
    let mut headers = rate_headers.as_object().cloned().unwrap_or_default();
    let schema = match &route.response_body {
        Some(field) => {
            for other in output.fields() {
                if other.number() == field.number()
                    || other.is_list()
                    || other.is_map()
                    || matches!(other.kind(), Kind::Message(_))
                {
                    continue;
                }
                let mut header = json!({ "schema": schemas.single(&other.kind(), Side::Output) });
                if let Some(text) = description(other.parent_file(), other.path()) {
                    header["description"] = Value::String(text);
                }
                headers.insert(header_name(other.name()), header);
            }
            schemas.field(field, Side::Output)
        }
        None => schemas.reference(&output, Side::Output),
    };
    json!({
        "200": {
            "description": format!("`{}`", output.full_name()),
            "headers": headers,
            "content": { "application/json": { "schema": schema } },
        },
        "default": error,
    })
}

/// The `X-*` response headers the REST routes may set (exposed by CORS).
pub fn response_headers(table: &RouteTable) -> Vec<String> {
    let mut names: Vec<String> = table
        .routes()
        .iter()
        .filter_map(|r| {
            r.response_body
                .as_ref()
                .map(|f| (r.rpc.output(), f.number()))
        })
        .flat_map(|(output, body)| {
            output
                .fields()
                .filter(move |f| {
                    f.number() != body
                        && !f.is_list()
                        && !f.is_map()
                        && !matches!(f.kind(), Kind::Message(_))
                })
                .map(|f| header_name(f.name()))
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptors::pool;

    fn doc() -> Value {
        document(pool(), &RouteTable::from_pool(pool()).unwrap())
    }

    #[test]
    fn every_route_is_documented() {
        let doc = doc();
        let table = RouteTable::from_pool(pool()).unwrap();
        for route in table.routes() {
            let op = &doc["paths"][route.template.openapi_path()]
                [route.http_method.as_str().to_ascii_lowercase()];
            assert_eq!(op["operationId"], route.operation_id.as_str());
            assert!(op["responses"]["default"].is_object());
        }
        assert_eq!(doc["openapi"], "3.1.0");
    }

    #[test]
    fn every_reference_resolves() {
        let doc = doc();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for piece in text.split("\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(
                schemas.contains_key(name),
                "{name} is referenced but missing"
            );
        }
    }

    #[test]
    fn list_routes_answer_bare_arrays_and_login_is_public() {
        let doc = doc();
        let list = &doc["paths"]["/api/services"]["get"]["responses"]["200"];
        assert_eq!(
            list["content"]["application/json"]["schema"]["type"],
            "array"
        );
        assert!(list["headers"]["X-Next-Page-Token"].is_object());
        assert_eq!(
            doc["paths"]["/api/auth/login"]["post"]["security"],
            json!([])
        );
        assert!(
            doc["paths"]["/api/auth/user"]["get"]
                .get("security")
                .is_none()
        );
        let user = &doc["components"]["schemas"]["fip.user.v1.User"];
        assert!(
            user["properties"]["roles"]["items"]["enum"]
                .as_array()
                .unwrap()
                .contains(&json!("researcher"))
        );
    }
}
