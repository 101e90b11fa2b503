//! Multipart uploads, streamed: a file part is never held whole in memory.
//!
//! - A client-streaming RPC whose request is a oneof of a metadata message
//!   and a `bytes` chunk (`FileService.UploadFile`) takes
//!   `multipart/form-data`: the text fields fill the metadata message (the
//!   file part's filename and content type are the defaults of `name` and
//!   `content_type`), then the file part (named `file`) is sent as chunks
//!   of at most 1 MiB. Metadata fields must come before the file part.
//! - A unary RPC with `body: "*"` whose request has a `<part>_file_id`
//!   string field (`JobService.SubmitJob`: `input_file_id`) also takes a
//!   form, as the original REST surface did: the file part `<part>_file`
//!   (`input_file`) is uploaded first, in any order with the other fields,
//!   and its new id fills the field. Text fields are converted like query
//!   parameters; a message-typed field (`targets`) is given as JSON text.
//!   If the call then fails, the uploaded file is deleted again.

use std::pin::Pin;

use axum::body::Body;
use axum::extract::multipart::Field;
use axum::extract::{FromRequest, Multipart};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use fip_kit::ApiError;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, Value as PValue,
};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::table::{Route, Streaming};
use super::upstream::Upstream;
use super::{Call, Rest, json, render, request};
use crate::descriptors::{deletes_upload, is_uploaded_file};

/// Largest chunk message sent upstream.
pub const CHUNK_BYTES: usize = 1024 * 1024;
/// Chunks are gathered to at least this size before they are sent.
const MIN_CHUNK_BYTES: usize = 256 * 1024;
/// Largest text field of a form.
const MAX_TEXT_FIELD_BYTES: usize = 64 * 1024;

/// The oneof members of a streamed upload's request: (metadata, chunk).
pub fn upload_fields(input: &MessageDescriptor) -> Option<(FieldDescriptor, FieldDescriptor)> {
    input.oneofs().find_map(|oneof| {
        let chunk = oneof.fields().find(|f| matches!(f.kind(), Kind::Bytes))?;
        let meta = oneof
            .fields()
            .find(|f| matches!(f.kind(), Kind::Message(_)))?;
        Some((meta, chunk))
    })
}

/// The fields of a unary route's request marked `(fip.common.v1.uploaded_file)`:
/// the route accepts a form whose file part of that name is uploaded first.
pub fn file_id_fields(route: &Route) -> Vec<FieldDescriptor> {
    route
        .rpc
        .input()
        .fields()
        .filter(|f| is_uploaded_file(f) && matches!(f.kind(), Kind::String) && !f.is_list())
        .collect()
}

/// Whether a unary route takes a multipart form with a file part.
pub fn accepts_form(route: &Route) -> bool {
    matches!(route.body, super::table::BodyRule::All) && !file_id_fields(route).is_empty()
}

/// The route of the streamed upload RPC (there is one: `UploadFile`).
fn upload_route(rest: &Rest) -> Option<&Route> {
    rest.table
        .routes()
        .iter()
        .find(|r| r.streaming == Streaming::Client && upload_fields(&r.rpc.input()).is_some())
        .map(|r| &**r)
}

async fn form(request: axum::http::Request<Body>) -> Result<Multipart, Status> {
    Multipart::from_request(request, &()).await.map_err(|e| {
        ApiError::invalid_field("body", format!("is not a multipart form: {e}")).into()
    })
}

fn form_error(e: axum::extract::multipart::MultipartError) -> Status {
    ApiError::invalid_field("body", format!("the multipart form could not be read: {e}")).into()
}

async fn text_of(mut field: Field<'_>) -> Result<String, Status> {
    let name = field.name().unwrap_or_default().to_string();
    let mut out = BytesMut::new();
    while let Some(chunk) = field.chunk().await.map_err(form_error)? {
        if out.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
            return Err(ApiError::invalid_field(
                name,
                format!("is longer than {MAX_TEXT_FIELD_BYTES} bytes"),
            )
            .into());
        }
        out.extend_from_slice(&chunk);
    }
    String::from_utf8(out.to_vec())
        .map_err(|_| ApiError::invalid_field(name, "is not UTF-8 text").into())
}

/// Serves the streamed upload RPC itself (`POST /api/files/upload`).
pub async fn upload(
    rest: &Rest,
    route: &Route,
    call: Call,
    request: axum::http::Request<Body>,
) -> Response {
    let result = async {
        let (meta_field, _) = upload_fields(&route.rpc.input())
            .ok_or_else(|| Status::internal("the upload request has no metadata/chunk oneof"))?;
        let Kind::Message(meta_desc) = meta_field.kind() else {
            unreachable!("upload_fields returns a message field")
        };
        let mut multipart = form(request).await?;
        let mut meta = Map::new();
        while let Some(field) = multipart.next_field().await.map_err(form_error)? {
            if field.file_name().is_some() || field.name() == Some("file") {
                if field.name() != Some("file") {
                    return Err(ApiError::invalid_field(
                        field.name().unwrap_or_default(),
                        "the file part must be named `file`",
                    )
                    .into());
                }
                let open = send_file(rest, route, &call, meta, field).await?;
                // Nothing may follow the file: its metadata went out first.
                // Dropping the open upload cancels it, so nothing is stored.
                if let Some(extra) = multipart.next_field().await.map_err(form_error)? {
                    let name = extra.name().unwrap_or_default().to_string();
                    return Err(ApiError::invalid_field(
                        name,
                        "form fields must come before the file part",
                    )
                    .into());
                }
                return open.finish().await;
            }
            let name = field.name().unwrap_or_default().to_string();
            let text = text_of(field).await?;
            request::set_text(&mut meta, &meta_desc, &name, &text, false)?;
        }
        Err(ApiError::invalid_field("file", "is required (a file part named `file`)").into())
    }
    .await;
    match result {
        Ok(answer) => render(route, &answer),
        Err(status) => call.error(&status),
    }
}

/// An upload whose bytes were all sent, its stream still open: finishing
/// closes the stream and returns the answer; dropping it cancels the call,
/// and the service stores nothing.
pub struct OpenUpload {
    tx: Option<mpsc::Sender<DynamicMessage>>,
    answer: Pin<Box<dyn Future<Output = Result<DynamicMessage, Status>> + Send>>,
}

impl OpenUpload {
    pub async fn finish(mut self) -> Result<DynamicMessage, Status> {
        self.tx.take();
        self.answer.await
    }
}

/// Streams one file part to the upload RPC with `meta` (JSON of the
/// metadata message, without defaults), leaving the stream open.
async fn send_file(
    rest: &Rest,
    route: &Route,
    call: &Call,
    mut meta: Map<String, Value>,
    mut field: Field<'_>,
) -> Result<OpenUpload, Status> {
    let input = route.rpc.input();
    let (meta_field, chunk_field) =
        upload_fields(&input).ok_or_else(|| Status::internal("not an upload route"))?;
    let Kind::Message(meta_desc) = meta_field.kind() else {
        unreachable!("upload_fields returns a message field")
    };
    if let Some(file_name) = field.file_name().filter(|n| !n.is_empty())
        && !meta.contains_key("name")
        && meta_desc.get_field_by_name("name").is_some()
    {
        meta.insert("name".into(), Value::String(file_name.to_string()));
    }
    if let Some(content_type) = field.content_type()
        && !meta.contains_key("content_type")
        && meta_desc.get_field_by_name("content_type").is_some()
    {
        meta.insert(
            "content_type".into(),
            Value::String(content_type.to_string()),
        );
    }
    let metadata = json::from_json(Value::Object(meta), &meta_desc)
        .map_err(|e| Status::from(ApiError::invalid_field("metadata", e)))?;
    let mut first = DynamicMessage::new(input.clone());
    first.set_field(&meta_field, PValue::Message(metadata));

    let upstream = Upstream::for_route(&rest.peers, route)?;
    let (tx, rx) = mpsc::channel::<DynamicMessage>(4);
    tx.send(first)
        .await
        .map_err(|_| Status::internal("upload channel closed"))?;
    let mut answer: Pin<Box<dyn Future<Output = _> + Send>> =
        Box::pin(upstream.client_streaming(ReceiverStream::new(rx), call.metadata()));
    let feed = async {
        let mut buffer = BytesMut::new();
        loop {
            let next = field.chunk().await.map_err(form_error)?;
            let done = next.is_none();
            if let Some(bytes) = next {
                buffer.extend_from_slice(&bytes);
            }
            while buffer.len() >= MIN_CHUNK_BYTES || (done && !buffer.is_empty()) {
                let take = buffer.len().min(CHUNK_BYTES);
                let piece: Bytes = buffer.split_to(take).freeze();
                let mut message = DynamicMessage::new(input.clone());
                message.set_field(&chunk_field, PValue::Bytes(piece));
                if tx.send(message).await.is_err() {
                    // The service stopped reading (it refused the upload);
                    // its answer says why.
                    return Ok::<bool, Status>(false);
                }
            }
            if done {
                return Ok(true);
            }
        }
    };
    let fed = tokio::select! {
        biased;
        // The service answered before the end: a refusal (or, at worst, an
        // answer that the finish below returns).
        early = &mut answer => {
            let early = early?;
            return Ok(OpenUpload { tx: None, answer: Box::pin(async move { Ok(early) }) });
        }
        fed = feed => fed,
    };
    // On error the client's upload broke off: the call is dropped with the
    // stream still open, which cancels it, so nothing is stored.
    fed?;
    Ok(OpenUpload {
        tx: Some(tx),
        answer,
    })
}

/// Serves a unary route from a multipart form with a file part.
pub async fn submit_form(
    rest: &Rest,
    route: &Route,
    params: &[(String, String)],
    call: Call,
    request: axum::http::Request<Body>,
) -> Response {
    let Some(upload) = upload_route(rest) else {
        return call.error(&Status::unimplemented("uploads are not available"));
    };
    let input = route.rpc.input();
    let file_fields = file_id_fields(route);
    let mut uploaded: Vec<String> = Vec::new();
    let built = async {
        let mut multipart = form(request).await?;
        let mut root = Map::new();
        while let Some(field) = multipart.next_field().await.map_err(form_error)? {
            let name = field.name().unwrap_or_default().to_string();
            if let Some(target) = file_fields
                .iter()
                .find(|f| f.name().strip_suffix("_id") == Some(name.as_str()))
            {
                if root.contains_key(target.name()) {
                    return Err(ApiError::invalid_field(name, "is given more than once").into());
                }
                let file = send_file(rest, upload, &call, Map::new(), field)
                    .await?
                    .finish()
                    .await?;
                let id = file_id(&file)
                    .ok_or_else(|| Status::internal("the upload answered no file id"))?;
                uploaded.push(id.clone());
                root.insert(target.name().to_string(), Value::String(id));
                continue;
            }
            let text = text_of(field).await?;
            let field_desc = input
                .get_field_by_name(&name)
                .or_else(|| input.get_field_by_json_name(&name));
            match field_desc {
                Some(f) if matches!(f.kind(), Kind::Message(ref m) if !m.full_name().starts_with("google.protobuf.")) =>
                {
                    let value: Value = serde_json::from_str(&text).map_err(|e| {
                        Status::from(ApiError::invalid_field(name.clone(), format!("is not valid JSON: {e}")))
                    })?;
                    root.insert(f.name().to_string(), value);
                }
                _ => request::set_text(&mut root, &input, &name, &text, true)?,
            }
        }
        for (field, value) in params {
            request::set_text(&mut root, &input, field, value, false)?;
        }
        json::from_json(Value::Object(root), &input)
            .map_err(|e| Status::from(ApiError::invalid_field("body", e)))
    }
    .await;
    let response = match built {
        Ok(message) => rest.call_unary(route, message, &call).await,
        Err(status) => call.error(&status),
    };
    if !response.status().is_success() {
        for id in uploaded {
            delete_file(rest, upload, &call, &id).await;
        }
    }
    response
}

/// The `id` of the file in an upload's answer (its first message field).
fn file_id(answer: &DynamicMessage) -> Option<String> {
    answer
        .descriptor()
        .fields()
        .find_map(|f| match answer.get_field(&f).as_ref() {
            PValue::Message(file) => file
                .get_field_by_name("id")
                .and_then(|v| v.as_str().map(str::to_string))
                .filter(|id| !id.is_empty()),
            _ => None,
        })
}

/// Deletes a file uploaded for a call that then failed (best effort).
async fn delete_file(rest: &Rest, upload: &Route, call: &Call, id: &str) {
    let service = upload.rpc.parent_service();
    let Some(route) = rest
        .table
        .routes()
        .iter()
        .find(|r| r.rpc.parent_service() == service && deletes_upload(&r.rpc))
    else {
        return;
    };
    let mut message = DynamicMessage::new(route.rpc.input());
    if let Some(field) = route.rpc.input().get_field_by_name("id") {
        message.set_field(&field, PValue::String(id.to_string()));
    }
    let result = match Upstream::for_route(&rest.peers, route) {
        Ok(upstream) => upstream.unary(message, call.metadata()).await.map(|_| ()),
        Err(status) => Err(status),
    };
    if let Err(error) = result {
        tracing::warn!(file_id = %id, %error, "could not delete the upload of a failed submission");
    }
}
