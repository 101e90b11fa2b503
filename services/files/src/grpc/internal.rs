//! `FileInternalService`: file operations of the jobs service on behalf of
//! a job's owner; only the identity `service:jobs` may call.

use bytes::Bytes;
use fip_kit::auth::{self, Principal};
use fip_kit::db::{millis, timestamp};
use fip_kit::mesh::ServiceName;
use fip_proto::files::v1 as pb;
use fip_proto::files::v1::file_internal_service_server::FileInternalService;
use tonic::{Request, Response, Status, Streaming};

use super::{
    FilesApi, ResponseStream, UploadPart, content_stream, file_id, file_to_wire, kind_from_wire,
    split_upload,
};
use crate::error::{FilesError, invalid};
use crate::upload::{UploadRequest, Uploader};

/// Only `service:jobs` may call; a request without a token is
/// UNAUTHENTICATED, anyone else PERMISSION_DENIED.
fn require_jobs<T>(request: &Request<T>) -> Result<(), Status> {
    match auth::principal(request)? {
        Principal::Service(ServiceName::Jobs) => Ok(()),
        _ => Err(FilesError::PermissionDenied {
            required_identity: "service:jobs",
        }
        .into()),
    }
}

fn upload_part(message: pb::UploadJobFileRequest) -> UploadPart<pb::JobFileMetadata> {
    match message.data {
        Some(pb::upload_job_file_request::Data::Metadata(m)) => UploadPart::Metadata(m),
        Some(pb::upload_job_file_request::Data::Chunk(c)) => UploadPart::Chunk(c),
        None => UploadPart::Empty,
    }
}

fn read_metadata(file: pb::File) -> pb::ReadFileResponse {
    pb::ReadFileResponse {
        data: Some(pb::read_file_response::Data::Metadata(file)),
    }
}

fn read_chunk(chunk: Bytes) -> pb::ReadFileResponse {
    pb::ReadFileResponse {
        data: Some(pb::read_file_response::Data::Chunk(chunk)),
    }
}

#[tonic::async_trait]
impl FileInternalService for FilesApi {
    type ReadFileStream = ResponseStream<pb::ReadFileResponse>;

    async fn upload_job_file(
        &self,
        request: Request<Streaming<pb::UploadJobFileRequest>>,
    ) -> Result<Response<pb::UploadJobFileResponse>, Status> {
        require_jobs(&request)?;
        let (metadata, chunks) = split_upload(request.into_inner(), upload_part).await?;
        let pb::JobFileMetadata {
            owner_user_id,
            job_id,
            name,
            kind,
            content_type,
            expected_size_bytes,
            expected_sha256,
            expires_at,
            idempotency_key,
        } = metadata;
        let kind = kind_from_wire("metadata.kind", kind)?
            .ok_or_else(|| invalid("metadata.kind", "is required (input or output)"))?;
        let file = self
            .files
            .upload(
                UploadRequest {
                    uploader: Uploader::Job {
                        owner_user_id,
                        job_id,
                        idempotency_key,
                    },
                    name,
                    kind,
                    content_type,
                    expected_size_bytes,
                    expected_sha256,
                    expires_at: expires_at.as_ref().map(millis),
                },
                chunks,
            )
            .await?;
        Ok(Response::new(pb::UploadJobFileResponse {
            file: Some(file_to_wire(file)),
        }))
    }

    async fn read_file(
        &self,
        request: Request<pb::ReadFileRequest>,
    ) -> Result<Response<ResponseStream<pb::ReadFileResponse>>, Status> {
        require_jobs(&request)?;
        let pb::ReadFileRequest { id, offset, length } = request.into_inner();
        file_id("id", &id)?;
        let (file, chunks) = self.files.read_any(&id, offset, length).await?;
        Ok(Response::new(content_stream(
            file,
            chunks,
            read_metadata,
            read_chunk,
        )))
    }

    async fn lookup_file(
        &self,
        request: Request<pb::LookupFileRequest>,
    ) -> Result<Response<pb::LookupFileResponse>, Status> {
        require_jobs(&request)?;
        let pb::LookupFileRequest { id, owner_user_id } = request.into_inner();
        file_id("id", &id)?;
        if owner_user_id < 0 {
            return Err(invalid("owner_user_id", "must not be negative").into());
        }
        let file = self.files.lookup(&id, owner_user_id).await?;
        Ok(Response::new(pb::LookupFileResponse {
            file: Some(file_to_wire(file)),
        }))
    }

    async fn link_file_to_job(
        &self,
        request: Request<pb::LinkFileToJobRequest>,
    ) -> Result<Response<pb::LinkFileToJobResponse>, Status> {
        require_jobs(&request)?;
        let pb::LinkFileToJobRequest {
            file_id: id,
            job_id,
            owner_user_id,
        } = request.into_inner();
        file_id("file_id", &id)?;
        let file = self.files.link_to_job(&id, &job_id, owner_user_id).await?;
        Ok(Response::new(pb::LinkFileToJobResponse {
            file: Some(file_to_wire(file)),
        }))
    }

    async fn delete_job_outputs(
        &self,
        request: Request<pb::DeleteJobOutputsRequest>,
    ) -> Result<Response<pb::DeleteJobOutputsResponse>, Status> {
        require_jobs(&request)?;
        let pb::DeleteJobOutputsRequest {
            owner_user_id,
            job_id,
        } = request.into_inner();
        let deleted = self
            .files
            .delete_job_outputs(owner_user_id, &job_id)
            .await?;
        Ok(Response::new(pb::DeleteJobOutputsResponse {
            deleted_count: i32::try_from(deleted).unwrap_or(i32::MAX),
        }))
    }

    async fn create_job_file_link(
        &self,
        request: Request<pb::CreateJobFileLinkRequest>,
    ) -> Result<Response<pb::CreateJobFileLinkResponse>, Status> {
        require_jobs(&request)?;
        let pb::CreateJobFileLinkRequest { id, ttl_seconds } = request.into_inner();
        file_id("id", &id)?;
        let (url, link) = self.files.create_job_link(&id, ttl_seconds).await?;
        Ok(Response::new(pb::CreateJobFileLinkResponse {
            url,
            expires_at: Some(timestamp(link.expires_at)),
        }))
    }
}
