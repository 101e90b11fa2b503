//! REST/JSON, transcoded onto the public gRPC services.
//!
//! Routes come from the `google.api.http` annotations ([`table`]); a request
//! becomes the RPC's request message ([`request`]), is sent as a real gRPC
//! call to the owning service over the mesh ([`upstream`]), and the answer
//! is written in the platform's JSON mapping ([`json`]) or, for errors, as a
//! `RestError` ([`error`]). Streaming RPCs are served as Server-Sent Events
//! or NDJSON ([`stream`]), byte downloads as raw bodies ([`download`]), and
//! multipart forms as streamed uploads ([`upload`]).

pub mod download;
pub mod error;
pub mod http_rule;
pub mod json;
pub mod request;
pub mod stream;
pub mod table;
pub mod template;
pub mod upload;
pub mod upstream;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use bytes::Bytes;
use fip_kit::ApiError;
use fip_kit::mesh::Peers;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use prost_reflect::{DynamicMessage, Kind, ReflectMessage};
use serde_json::Value;
use tonic::{Code, Status};

use self::table::{Lookup, Route, RouteTable, Streaming};
use self::upstream::Upstream;

/// What the REST handler needs.
pub struct Rest {
    pub table: RouteTable,
    pub peers: Peers,
    /// Largest JSON body accepted.
    pub max_body_bytes: usize,
}

/// One matched REST request, as the edge classified it.
#[derive(Clone)]
pub struct Matched {
    pub route: Arc<Route>,
    pub params: Vec<(String, String)>,
}

/// A REST request's context: who asked, the headers passed upstream.
pub struct Call {
    pub headers: HeaderMap,
    pub client: Option<IpAddr>,
    pub trace_id: String,
}

impl Call {
    fn of(request: &Request<Body>) -> Self {
        let headers = request.headers().clone();
        let trace_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Self {
            client: request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
            headers,
            trace_id,
        }
    }

    pub fn metadata(&self) -> tonic::metadata::MetadataMap {
        upstream::metadata(&self.headers)
    }

    pub fn error(&self, status: &Status) -> Response {
        error::response(status, &self.trace_id)
    }
}

impl Rest {
    /// Answers one REST request.
    pub async fn handle(self: Arc<Self>, mut request: Request<Body>) -> Response {
        let call = Call::of(&request);
        let matched = match request.extensions_mut().remove::<Matched>() {
            Some(m) => m,
            None => match self.table.lookup(request.method(), request.uri().path()) {
                Lookup::Found(route, params) => Matched {
                    route: route.clone(),
                    params,
                },
                Lookup::MethodNotAllowed(allowed) => return method_not_allowed(&call, &allowed),
                Lookup::NotFound => return not_found(&call),
            },
        };
        let Matched { route, params } = matched;
        let multipart = is_multipart(request.headers());
        match route.streaming {
            Streaming::Client if multipart => upload::upload(&self, &route, call, request).await,
            Streaming::Client => call.error(
                &ApiError::invalid_field("body", "this route takes multipart/form-data").into(),
            ),
            Streaming::Unary if multipart && upload::accepts_form(&route) => {
                upload::submit_form(&self, &route, &params, call, request).await
            }
            Streaming::Unary => self.unary(&route, &params, call, request).await,
            Streaming::Server if download::is_download(&route) => {
                download::download(&self, &route, &params, call, request).await
            }
            Streaming::Server => stream::serve(&self, &route, &params, call, request).await,
            Streaming::Bidi => call.error(&Status::unimplemented(
                "bidirectional streams are served over gRPC only",
            )),
        }
    }

    async fn unary(
        &self,
        route: &Route,
        params: &[(String, String)],
        call: Call,
        request: Request<Body>,
    ) -> Response {
        let query = request.uri().query().map(str::to_string);
        let body = match read_body(request.into_body(), self.max_body_bytes).await {
            Ok(body) => body,
            Err(status) => return call.error(&status),
        };
        let message = match request::build(route, params, query.as_deref(), &body) {
            Ok(m) => m,
            Err(e) => return call.error(&e.into()),
        };
        self.call_unary(route, message, &call).await
    }

    /// Calls `route`'s RPC with `message` and renders the answer.
    pub async fn call_unary(
        &self,
        route: &Route,
        message: DynamicMessage,
        call: &Call,
    ) -> Response {
        let result = match Upstream::for_route(&self.peers, route) {
            Ok(upstream) => upstream.unary(message, call.metadata()).await,
            Err(status) => Err(status),
        };
        match result {
            Ok(answer) => render(route, &answer),
            Err(status) => call.error(&status),
        }
    }
}

/// Reads a whole (small) request body, refusing one over `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, Status> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::invalid_field(
            "body",
            format!("is larger than the limit of {limit} bytes"),
        )
        .into()),
        Err(e) => Err(Status::new(
            Code::InvalidArgument,
            format!("the request body could not be read: {e}"),
        )),
    }
}

/// The 200 answer of a unary call: the response message, or its
/// `response_body` field with the other non-empty scalar fields as
/// `X-Field-Name` headers.
pub fn render(route: &Route, message: &DynamicMessage) -> Response {
    let mut headers = HeaderMap::new();
    let body = match &route.response_body {
        Some(field) => {
            for other in message.descriptor().fields() {
                if other.number() == field.number() || other.is_list() || other.is_map() {
                    continue;
                }
                if !message.has_field(&other) {
                    continue;
                }
                if let Some(text) = header_text(message.get_field(&other).as_ref(), &other.kind())
                    && let (Ok(name), Ok(value)) = (
                        HeaderName::try_from(header_name(other.name())),
                        HeaderValue::try_from(text),
                    )
                {
                    headers.insert(name, value);
                }
            }
            json::field_to_json_bytes(message, field)
        }
        None => json::to_json_bytes(message),
    };
    bytes_response(StatusCode::OK, body, headers)
}

/// The header form of a scalar field's value.
fn header_text(value: &prost_reflect::Value, kind: &Kind) -> Option<String> {
    use prost_reflect::Value as V;
    Some(match value {
        V::String(s) if !s.is_empty() => s.clone(),
        V::Bool(b) => b.to_string(),
        V::I32(n) => n.to_string(),
        V::I64(n) => n.to_string(),
        V::U32(n) => n.to_string(),
        V::U64(n) => n.to_string(),
        V::F32(f) => f.to_string(),
        V::F64(f) => f.to_string(),
        V::EnumNumber(n) => match (kind, n) {
            (Kind::Enum(e), n) => json::enum_to_json(e, *n).as_str()?.to_string(),
            _ => n.to_string(),
        },
        _ => return None,
    })
}

/// `next_page_token` → `X-Next-Page-Token`.
pub fn header_name(field: &str) -> String {
    let mut out = String::from("X");
    for part in field.split('_') {
        out.push('-');
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

fn json_response(status: StatusCode, value: &Value, headers: HeaderMap) -> Response {
    bytes_response(status, value.to_string().into_bytes(), headers)
}

fn bytes_response(status: StatusCode, body: Vec<u8>, headers: HeaderMap) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().extend(headers);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// 404 for a path no route matches.
pub fn not_found(call: &Call) -> Response {
    call.error(
        &ApiError::new(
            Code::NotFound,
            fip_proto::common::v1::ErrorReason::NotFound,
            "no such route",
        )
        .into(),
    )
}

/// 405 with `Allow` for a path served under other methods.
pub fn method_not_allowed(call: &Call, allowed: &[Method]) -> Response {
    let status = Status::new(Code::InvalidArgument, "method not allowed on this route");
    let mut body = error::body(&status, &call.trace_id);
    body["code"] = Value::from(StatusCode::METHOD_NOT_ALLOWED.as_u16());
    let mut response = json_response(StatusCode::METHOD_NOT_ALLOWED, &body, HeaderMap::new());
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(value) = HeaderValue::try_from(allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_title_kebab_case() {
        assert_eq!(header_name("next_page_token"), "X-Next-Page-Token");
        assert_eq!(header_name("unread_count"), "X-Unread-Count");
    }
}
