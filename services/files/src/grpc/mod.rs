//! The gRPC face of the files service: thin adapters that check the caller,
//! destructure and convert wire types, call the domain, and map its errors.

mod internal;
mod public;

use std::sync::Arc;

use bytes::Bytes;
use fip_kit::db::timestamp;
use fip_proto::files::v1 as pb;
use futures::stream::{self, BoxStream, StreamExt};
use tonic::{Code, Status, Streaming};

use crate::error::{FilesError, invalid};
use crate::files::{Files, check_id};
use crate::objects::ChunkStream;
use crate::store::{FileKind, FileRecord};
use crate::upload::MAX_CHUNK_BYTES;

/// Implements both gRPC services of the files service.
#[derive(Clone)]
pub struct FilesApi {
    pub files: Arc<Files>,
}

/// A server stream of one response type.
pub type ResponseStream<T> = BoxStream<'static, Result<T, Status>>;

pub fn kind_to_wire(kind: FileKind) -> pb::FileKind {
    match kind {
        FileKind::Input => pb::FileKind::Input,
        FileKind::Output => pb::FileKind::Output,
    }
}

/// A wire kind: None for UNSPECIFIED; unknown numbers are refused.
pub fn kind_from_wire(field: &str, value: i32) -> Result<Option<FileKind>, FilesError> {
    match pb::FileKind::try_from(value) {
        Ok(pb::FileKind::Unspecified) => Ok(None),
        Ok(pb::FileKind::Input) => Ok(Some(FileKind::Input)),
        Ok(pb::FileKind::Output) => Ok(Some(FileKind::Output)),
        Err(_) => Err(invalid(field, "must be input or output")),
    }
}

pub fn file_to_wire(file: FileRecord) -> pb::File {
    let FileRecord {
        id,
        owner_user_id,
        job_id,
        kind,
        name,
        content_type,
        size_bytes,
        sha256,
        object_key: _,
        created_at,
        expires_at,
        content_deleted_at: _,
        upload_key: _,
    } = file;
    pb::File {
        id,
        owner_user_id,
        job_id,
        kind: kind_to_wire(kind) as i32,
        name,
        content_type,
        size_bytes,
        sha256,
        created_at: Some(timestamp(created_at)),
        expires_at: expires_at.map(timestamp),
    }
}

/// Checks a file id field.
pub fn file_id(field: &str, id: &str) -> Result<(), Status> {
    check_id(field, id).map_err(Status::from)
}

/// The metadata message, then the content chunks, as one response stream.
pub fn content_stream<T: Send + 'static>(
    file: FileRecord,
    chunks: ChunkStream,
    metadata: fn(pb::File) -> T,
    chunk: fn(Bytes) -> T,
) -> ResponseStream<T> {
    let head = stream::once(async move { Ok(metadata(file_to_wire(file))) });
    let body = chunks.map(move |piece| match piece {
        Ok(bytes) => Ok(chunk(bytes)),
        Err(e) => Err(Status::from(e)),
    });
    head.chain(body).boxed()
}

/// What one message of an upload stream carries.
pub enum UploadPart<M> {
    Metadata(M),
    Chunk(Bytes),
    Empty,
}

/// Reads the metadata message that must open an upload stream, and turns
/// the rest into content chunks (a second metadata message, an empty
/// message, or a broken stream fail the upload).
pub async fn split_upload<R, M>(
    mut stream: Streaming<R>,
    part: fn(R) -> UploadPart<M>,
) -> Result<(M, ChunkStream), Status>
where
    R: Send + 'static,
    M: 'static,
{
    let first = stream
        .message()
        .await
        .map_err(|s| Status::from(FilesError::StreamBroken { code: s.code() }))?;
    let metadata = match first.map(part) {
        Some(UploadPart::Metadata(m)) => m,
        _ => {
            return Err(invalid("metadata", "the first message must carry the metadata").into());
        }
    };
    let chunks = stream
        .map(move |message| match message.map(part) {
            Ok(UploadPart::Chunk(bytes)) => Ok(bytes),
            Ok(UploadPart::Metadata(_)) => Err(invalid(
                "metadata",
                "only the first message may carry the metadata",
            )),
            Ok(UploadPart::Empty) => Err(invalid("data", "every message must carry a chunk")),
            // tonic's answer to a message over the decoding limit.
            Err(status) if status.code() == Code::OutOfRange => Err(invalid(
                "chunk",
                format!("must be at most {MAX_CHUNK_BYTES} bytes"),
            )),
            Err(status) => Err(FilesError::StreamBroken {
                code: status.code(),
            }),
        })
        .boxed();
    Ok((metadata, chunks))
}
