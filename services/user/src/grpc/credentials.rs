//! `fip.user.v1.CredentialService`: the caller's own credentials only.

use fip_kit::Violations;
use fip_kit::auth;
use fip_kit::db::{millis, timestamp};
use fip_proto::user::v1 as pb;
use fip_proto::user::v1::credential_service_server::CredentialService;
use tonic::{Request, Response, Status};

use super::{UserApi, caller, credential_to_wire};
use crate::credentials::CredentialInput;
use crate::store::CredentialKind;

fn kind_from_wire(value: i32, v: &mut Violations) -> Option<CredentialKind> {
    match pb::CredentialType::try_from(value) {
        Ok(pb::CredentialType::Unspecified) => None,
        Ok(pb::CredentialType::ApiToken) => Some(CredentialKind::ApiToken),
        Ok(pb::CredentialType::BasicAuth) => Some(CredentialKind::BasicAuth),
        Ok(pb::CredentialType::Oauth2) => Some(CredentialKind::OAuth2),
        Err(_) => {
            v.add("credential_type", "is not a known credential type");
            None
        }
    }
}

fn service_id_only(service_id: i64) -> Result<(), Status> {
    let mut v = Violations::new();
    v.id("service_id", service_id);
    Ok(v.finish()?)
}

#[tonic::async_trait]
impl CredentialService for UserApi {
    async fn put_service_credential(
        &self,
        request: Request<pb::PutServiceCredentialRequest>,
    ) -> Result<Response<pb::PutServiceCredentialResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let caller = caller(&request);
        let pb::PutServiceCredentialRequest {
            service_id,
            credential_type,
            api_token,
            username,
            password,
            oauth_token,
            refresh_token,
            token_expires_at,
            label,
            is_active,
        } = request.into_inner();
        let mut v = Violations::new();
        let kind = kind_from_wire(credential_type, &mut v);
        v.finish()?;
        let record = self
            .credentials
            .put(
                &caller,
                user.id,
                CredentialInput {
                    service_id,
                    kind,
                    api_token,
                    username,
                    password,
                    oauth_token,
                    refresh_token,
                    token_expires_at: token_expires_at.as_ref().map(millis),
                    label,
                    is_active,
                },
            )
            .await?;
        Ok(Response::new(pb::PutServiceCredentialResponse {
            credential: Some(credential_to_wire(record)),
        }))
    }

    async fn list_service_credentials(
        &self,
        request: Request<pb::ListServiceCredentialsRequest>,
    ) -> Result<Response<pb::ListServiceCredentialsResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::ListServiceCredentialsRequest {} = request.into_inner();
        let records = self.credentials.list(user.id).await?;
        Ok(Response::new(pb::ListServiceCredentialsResponse {
            credentials: records.into_iter().map(credential_to_wire).collect(),
        }))
    }

    async fn get_service_credential(
        &self,
        request: Request<pb::GetServiceCredentialRequest>,
    ) -> Result<Response<pb::GetServiceCredentialResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::GetServiceCredentialRequest { service_id } = request.into_inner();
        service_id_only(service_id)?;
        let record = self.credentials.get(user.id, service_id).await?;
        Ok(Response::new(pb::GetServiceCredentialResponse {
            credential: Some(credential_to_wire(record)),
        }))
    }

    async fn delete_service_credential(
        &self,
        request: Request<pb::DeleteServiceCredentialRequest>,
    ) -> Result<Response<pb::DeleteServiceCredentialResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let caller = caller(&request);
        let pb::DeleteServiceCredentialRequest { service_id } = request.into_inner();
        service_id_only(service_id)?;
        self.credentials
            .delete(&caller, user.id, service_id)
            .await?;
        Ok(Response::new(pb::DeleteServiceCredentialResponse {}))
    }

    async fn verify_service_credential(
        &self,
        request: Request<pb::VerifyServiceCredentialRequest>,
    ) -> Result<Response<pb::VerifyServiceCredentialResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let caller = caller(&request);
        let pb::VerifyServiceCredentialRequest { service_id } = request.into_inner();
        service_id_only(service_id)?;
        let result = self
            .credentials
            .verify(&caller, user.id, service_id)
            .await?;
        Ok(Response::new(pb::VerifyServiceCredentialResponse {
            credential: Some(credential_to_wire(result.credential)),
            valid: result.valid,
            message: result.message,
            remote_username: result.remote_username,
            remote_expires_at: result.remote_expires_at.map(timestamp),
            checked_at: Some(timestamp(result.checked_at)),
            response_time_ms: result.response_time_ms,
        }))
    }
}
