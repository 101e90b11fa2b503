//! `FileService`: a signed-in user's own files (an admin's: anyone's).

use bytes::Bytes;
use fip_kit::auth;
use fip_kit::db::timestamp;
use fip_proto::files::v1 as pb;
use fip_proto::files::v1::file_service_server::FileService;
use tonic::{Request, Response, Status, Streaming};

use super::{
    FilesApi, ResponseStream, UploadPart, content_stream, file_id, file_to_wire, kind_from_wire,
    split_upload,
};
use crate::download::link_url;
use crate::files::ListRequest;
use crate::store::FileKind;
use crate::upload::{UploadRequest, Uploader};

fn upload_part(message: pb::UploadFileRequest) -> UploadPart<pb::UploadFileMetadata> {
    match message.data {
        Some(pb::upload_file_request::Data::Metadata(m)) => UploadPart::Metadata(m),
        Some(pb::upload_file_request::Data::Chunk(c)) => UploadPart::Chunk(c),
        None => UploadPart::Empty,
    }
}

fn download_metadata(file: pb::File) -> pb::DownloadFileResponse {
    pb::DownloadFileResponse {
        data: Some(pb::download_file_response::Data::Metadata(file)),
    }
}

fn download_chunk(chunk: Bytes) -> pb::DownloadFileResponse {
    pb::DownloadFileResponse {
        data: Some(pb::download_file_response::Data::Chunk(chunk)),
    }
}

fn link_metadata(file: pb::File) -> pb::DownloadFileByLinkResponse {
    pb::DownloadFileByLinkResponse {
        data: Some(pb::download_file_by_link_response::Data::Metadata(file)),
    }
}

fn link_chunk(chunk: Bytes) -> pb::DownloadFileByLinkResponse {
    pb::DownloadFileByLinkResponse {
        data: Some(pb::download_file_by_link_response::Data::Chunk(chunk)),
    }
}

#[tonic::async_trait]
impl FileService for FilesApi {
    type DownloadFileStream = ResponseStream<pb::DownloadFileResponse>;
    type DownloadFileByLinkStream = ResponseStream<pb::DownloadFileByLinkResponse>;

    async fn upload_file(
        &self,
        request: Request<Streaming<pb::UploadFileRequest>>,
    ) -> Result<Response<pb::UploadFileResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let (metadata, chunks) = split_upload(request.into_inner(), upload_part).await?;
        let pb::UploadFileMetadata {
            name,
            kind,
            content_type,
            expected_size_bytes,
            expected_sha256,
        } = metadata;
        let kind = kind_from_wire("metadata.kind", kind)?.unwrap_or(FileKind::Input);
        let file = self
            .files
            .upload(
                UploadRequest {
                    uploader: Uploader::User { user_id: user.id },
                    name,
                    kind,
                    content_type,
                    expected_size_bytes,
                    expected_sha256,
                    expires_at: None,
                },
                chunks,
            )
            .await?;
        Ok(Response::new(pb::UploadFileResponse {
            file: Some(file_to_wire(file)),
        }))
    }

    async fn download_file(
        &self,
        request: Request<pb::DownloadFileRequest>,
    ) -> Result<Response<ResponseStream<pb::DownloadFileResponse>>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::DownloadFileRequest { id, offset, length } = request.into_inner();
        file_id("id", &id)?;
        let (file, chunks) = self.files.download(&user, &id, offset, length).await?;
        Ok(Response::new(content_stream(
            file,
            chunks,
            download_metadata,
            download_chunk,
        )))
    }

    async fn download_file_by_link(
        &self,
        request: Request<pb::DownloadFileByLinkRequest>,
    ) -> Result<Response<ResponseStream<pb::DownloadFileByLinkResponse>>, Status> {
        let pb::DownloadFileByLinkRequest {
            token,
            offset,
            length,
        } = request.into_inner();
        let (file, chunks) = self.files.download_by_link(&token, offset, length).await?;
        Ok(Response::new(content_stream(
            file,
            chunks,
            link_metadata,
            link_chunk,
        )))
    }

    async fn get_file(
        &self,
        request: Request<pb::GetFileRequest>,
    ) -> Result<Response<pb::GetFileResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::GetFileRequest { id } = request.into_inner();
        file_id("id", &id)?;
        let file = self.files.get(&user, &id).await?;
        Ok(Response::new(pb::GetFileResponse {
            file: Some(file_to_wire(file)),
        }))
    }

    async fn list_files(
        &self,
        request: Request<pb::ListFilesRequest>,
    ) -> Result<Response<pb::ListFilesResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::ListFilesRequest {
            page_size,
            page_token,
            kind,
            job_id,
        } = request.into_inner();
        let kind = kind_from_wire("kind", kind)?;
        let page = self
            .files
            .list(
                &user,
                ListRequest {
                    page_size,
                    page_token,
                    kind,
                    job_id: Some(job_id).filter(|j| !j.is_empty()),
                },
            )
            .await?;
        Ok(Response::new(pb::ListFilesResponse {
            files: page.files.into_iter().map(file_to_wire).collect(),
            next_page_token: page.next_page_token,
            total_size: page.total_size,
            used_bytes: page.used_bytes,
            quota_bytes: page.quota_bytes,
        }))
    }

    async fn delete_file(
        &self,
        request: Request<pb::DeleteFileRequest>,
    ) -> Result<Response<pb::DeleteFileResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::DeleteFileRequest { id } = request.into_inner();
        file_id("id", &id)?;
        self.files.delete(&user, &id).await?;
        Ok(Response::new(pb::DeleteFileResponse {}))
    }

    async fn create_download_link(
        &self,
        request: Request<pb::CreateDownloadLinkRequest>,
    ) -> Result<Response<pb::CreateDownloadLinkResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::CreateDownloadLinkRequest { id, ttl_seconds } = request.into_inner();
        file_id("id", &id)?;
        let link = self.files.create_link(&user, &id, ttl_seconds).await?;
        Ok(Response::new(pb::CreateDownloadLinkResponse {
            url: link_url("", &link.token),
            expires_at: Some(timestamp(link.expires_at)),
        }))
    }
}
