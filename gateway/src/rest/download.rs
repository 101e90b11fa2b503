//! Byte downloads: a server-streaming RPC whose `response_body` is a
//! `bytes` field (`FileService.DownloadFile`, `DownloadFileByLink`). The
//! first message holds the file's metadata (the other member of the oneof),
//! which gives `Content-Type`, `Content-Length`, `Content-Disposition`,
//! `ETag` and `Digest`; the chunks that follow are the body, streamed as
//! they come. `Range: bytes=a-b` maps to the request's `offset`/`length`
//! and answers 206.

use axum::body::Body;
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, Value};
use tonic::Status;

use super::table::Route;
use super::upstream::Upstream;
use super::{Call, Rest, request};

/// Whether `route` streams raw bytes.
pub fn is_download(route: &Route) -> bool {
    route
        .response_body
        .as_ref()
        .is_some_and(|f| matches!(f.kind(), Kind::Bytes) && metadata_field(f).is_some())
}

/// The message member of the oneof that holds the bytes field.
fn metadata_field(chunk: &FieldDescriptor) -> Option<FieldDescriptor> {
    chunk
        .containing_oneof()?
        .fields()
        .find(|f| matches!(f.kind(), Kind::Message(_)))
}

/// A parsed `Range: bytes=a-b` (one range; suffix ranges are not served).
#[derive(Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: Option<u64>,
}

/// Parses a single `bytes=` range; anything else is ignored (full answer).
pub fn parse_range(headers: &HeaderMap) -> Option<ByteRange> {
    let text = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = text.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let end = match end.trim() {
        "" => None,
        e => Some(e.parse().ok()?),
    };
    if end.is_some_and(|e| e < start) {
        return None;
    }
    Some(ByteRange { start, end })
}

/// Serves a download.
pub async fn download(
    rest: &Rest,
    route: &Route,
    params: &[(String, String)],
    call: Call,
    request: Request<Body>,
) -> Response {
    let query = request.uri().query().map(str::to_string);
    let range = parse_range(request.headers());
    let mut message = match request::build(route, params, query.as_deref(), b"") {
        Ok(m) => m,
        Err(e) => return call.error(&e.into()),
    };
    let input = route.rpc.input();
    let slice_fields = input
        .get_field_by_name("offset")
        .zip(input.get_field_by_name("length"));
    if let (Some(range), Some((offset, length))) = (&range, &slice_fields) {
        message.set_field(offset, Value::I64(range.start as i64));
        let count = range.end.map_or(0, |end| end - range.start + 1);
        message.set_field(length, Value::I64(count as i64));
    }
    // The slice asked for, by `Range` or by the `offset`/`length` query
    // parameters: the answer's length must be the files service's.
    let slice = slice_fields.map(|(offset, length)| Slice {
        offset: message.get_field(&offset).as_i64().unwrap_or(0).max(0) as u64,
        length: message.get_field(&length).as_i64().unwrap_or(0).max(0) as u64,
    });
    let upstream = match Upstream::for_route(&rest.peers, route) {
        Ok(u) => u,
        Err(status) => return call.error(&status),
    };
    let mut messages = match upstream.server_streaming(message, call.metadata()).await {
        Ok(s) => s,
        Err(status) => return call.error(&status),
    };
    let chunk_field = route.response_body.clone().expect("checked by is_download");
    let meta_field = metadata_field(&chunk_field).expect("checked by is_download");
    let first = match messages.message().await {
        Ok(Some(m)) => m,
        Ok(None) => return call.error(&Status::internal("the download ended before its metadata")),
        Err(status) => return call.error(&status),
    };
    let file = match first.get_field(&meta_field).as_ref() {
        Value::Message(file) if first.has_field(&meta_field) => file.clone(),
        _ => {
            return call.error(&Status::internal(
                "the download did not start with metadata",
            ));
        }
    };
    let info = FileInfo::of(&file);
    let mut response = Response::new(Body::from_stream(
        async_stream::stream! {
            loop {
                match messages.message().await {
                    Ok(Some(m)) => {
                        if let Value::Bytes(bytes) = m.get_field(&chunk_field).as_ref()
                            && !bytes.is_empty()
                        {
                            yield Ok::<Bytes, Status>(bytes.clone());
                        }
                    }
                    Ok(None) => break,
                    Err(status) => {
                        // The connection is cut: the client sees a short body.
                        tracing::warn!(error = %status, "download interrupted");
                        yield Err(status);
                        break;
                    }
                }
            }
        }
        .boxed(),
    ));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::try_from(info.content_type.as_str())
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(value) = HeaderValue::try_from(content_disposition(&info.name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if !info.sha256.is_empty() {
        if let Ok(value) = HeaderValue::try_from(format!("\"{}\"", info.sha256)) {
            headers.insert(header::ETAG, value);
        }
        if let Ok(raw) = hex::decode(&info.sha256) {
            let digest = base64::engine::general_purpose::STANDARD.encode(raw);
            if let Ok(value) = HeaderValue::try_from(format!("sha-256={digest}")) {
                headers.insert("digest", value);
            }
        }
    }
    let size = info.size;
    let slice = slice.unwrap_or_default();
    let start = slice.offset.min(size);
    let end = if slice.length == 0 {
        size
    } else {
        slice.offset.saturating_add(slice.length).min(size)
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if range.is_some() {
        let content_range = if start < end {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            format!("bytes {start}-{}/{size}", end - 1)
        } else {
            // `bytes=N-` with N the file's size: nothing to send.
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            format!("bytes */{size}")
        };
        if let Ok(value) = HeaderValue::try_from(content_range) {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
    }
    response
}

/// The bytes a download request selects: from `offset`, `length` of them
/// (0: to the end), cut at the end of the file as the files service does.
#[derive(Default)]
struct Slice {
    offset: u64,
    length: u64,
}

struct FileInfo {
    name: String,
    content_type: String,
    size: u64,
    sha256: String,
}

impl FileInfo {
    fn of(file: &DynamicMessage) -> Self {
        let text = |name: &str| {
            file.get_field_by_name(name)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        let size = file
            .get_field_by_name("size_bytes")
            .and_then(|v| v.as_i64())
            .unwrap_or_default()
            .max(0) as u64;
        let content_type = text("content_type");
        Self {
            name: text("name"),
            content_type: if content_type.is_empty() {
                "application/octet-stream".into()
            } else {
                content_type
            },
            size,
            sha256: text("sha256"),
        }
    }
}

/// `attachment; filename="a.vcf"; filename*=UTF-8''a.vcf` (RFC 6266).
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded =
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(range: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, range.parse().unwrap());
        h
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(
            parse_range(&headers("bytes=10-19")),
            Some(ByteRange {
                start: 10,
                end: Some(19)
            })
        );
        assert_eq!(
            parse_range(&headers("bytes=5-")),
            Some(ByteRange {
                start: 5,
                end: None
            })
        );
        for bad in ["bytes=-5", "bytes=9-3", "bytes=1-2,4-5", "items=1-2"] {
            assert_eq!(parse_range(&headers(bad)), None, "{bad}");
        }
    }

    #[test]
    fn disposition_is_safe() {
        assert_eq!(
            content_disposition("a\"b.vcf"),
            "attachment; filename=\"a_b.vcf\"; filename*=UTF-8''a%22b%2Evcf"
        );
    }
}
