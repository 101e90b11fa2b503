//! The internal services: credential lookup for `service:jobs` only, and
//! user contact details for the other services.

use fip_kit::Violations;
use fip_kit::auth::{self, Principal};
use fip_kit::db::{millis, timestamp};
use fip_kit::mesh::ServiceName;
use fip_proto::user::v1 as pb;
use fip_proto::user::v1::credential_internal_service_server::CredentialInternalService;
use fip_proto::user::v1::lookup_service_credential_response::Secret;
use fip_proto::user::v1::user_internal_service_server::UserInternalService;
use tonic::{Request, Response, Status};

use super::{UserApi, caller, kind_to_wire};
use crate::audit::{Caller, Event, action, outcome};
use crate::credentials::UseReport;
use crate::store::CredentialKind;

impl UserApi {
    /// Only `service:jobs` may touch secrets; anyone else is refused, and the
    /// refusal is audited on the account it was about.
    async fn require_jobs<T>(&self, request: &Request<T>, about: i64) -> Result<Caller, Status> {
        let who = caller(request);
        if let Err(error) = auth::require_service(request, ServiceName::Jobs) {
            let mut event = Event::new(&who, action::CREDENTIAL_ACCESSED, outcome::DENIED)
                .reason("PERMISSION_DENIED");
            if about > 0 {
                event = event.about(about);
            }
            event.record(self.accounts.store().as_ref()).await?;
            return Err(error
                .with_metadata("required_identity", "service:jobs")
                .into());
        }
        Ok(who)
    }
}

#[tonic::async_trait]
impl CredentialInternalService for UserApi {
    async fn lookup_service_credential(
        &self,
        request: Request<pb::LookupServiceCredentialRequest>,
    ) -> Result<Response<pb::LookupServiceCredentialResponse>, Status> {
        let about = request.get_ref().user_id;
        let caller = self.require_jobs(&request, about).await?;
        let pb::LookupServiceCredentialRequest {
            user_id,
            service_id,
            job_id,
        } = request.into_inner();
        let (record, parts) = self
            .credentials
            .lookup(&caller, user_id, service_id, &job_id)
            .await?;
        let secret = match record.kind {
            CredentialKind::ApiToken => Secret::ApiToken(pb::ApiTokenSecret {
                token: parts.api_token.clone(),
            }),
            CredentialKind::BasicAuth => Secret::BasicAuth(pb::BasicAuthSecret {
                username: parts.username.clone(),
                password: parts.password.clone(),
            }),
            CredentialKind::OAuth2 => Secret::Oauth2(pb::OAuth2Secret {
                access_token: parts.access_token.clone(),
                refresh_token: parts.refresh_token.clone(),
                expires_at: record.expires_at.map(timestamp),
            }),
        };
        Ok(Response::new(pb::LookupServiceCredentialResponse {
            credential_id: record.id,
            credential_type: kind_to_wire(record.kind) as i32,
            secret: Some(secret),
            is_verified: record.is_verified,
            expires_at: record.expires_at.map(timestamp),
        }))
    }

    async fn report_service_credential_use(
        &self,
        request: Request<pb::ReportServiceCredentialUseRequest>,
    ) -> Result<Response<pb::ReportServiceCredentialUseResponse>, Status> {
        let about = request.get_ref().user_id;
        let caller = self.require_jobs(&request, about).await?;
        let pb::ReportServiceCredentialUseRequest {
            user_id,
            service_id,
            credential_id,
            outcome,
            message,
            used_at,
            job_id,
        } = request.into_inner();
        let mut v = Violations::new();
        let rejected = match pb::CredentialUseOutcome::try_from(outcome) {
            Ok(pb::CredentialUseOutcome::Accepted) => false,
            Ok(pb::CredentialUseOutcome::Rejected) => true,
            _ => {
                v.add("outcome", "must be accepted or rejected");
                false
            }
        };
        v.max_len("job_id", &job_id, 64);
        v.finish()?;
        let rejection = rejected.then(|| {
            if message.is_empty() {
                "the server refused the credential".to_string()
            } else {
                message
            }
        });
        self.credentials
            .report_use(
                &caller,
                UseReport {
                    user_id,
                    credential_id,
                    service_id,
                    rejection,
                    used_at: used_at.as_ref().map(millis),
                    job_id,
                },
            )
            .await?;
        Ok(Response::new(pb::ReportServiceCredentialUseResponse {}))
    }
}

#[tonic::async_trait]
impl UserInternalService for UserApi {
    async fn get_user_contact(
        &self,
        request: Request<pb::GetUserContactRequest>,
    ) -> Result<Response<pb::GetUserContactResponse>, Status> {
        match auth::principal(&request)? {
            Principal::Service(_) => {}
            Principal::User(_) => {
                return Err(fip_kit::ApiError::permission_denied("this call is internal").into());
            }
        }
        let pb::GetUserContactRequest { user_id } = request.into_inner();
        let mut v = Violations::new();
        v.id("user_id", user_id);
        v.finish()?;
        let user = self.accounts.by_id(user_id).await?;
        Ok(Response::new(pb::GetUserContactResponse {
            user_id: user.id,
            username: user.username,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            is_active: user.is_active,
        }))
    }

    async fn check_session(
        &self,
        request: Request<pb::CheckSessionRequest>,
    ) -> Result<Response<pb::CheckSessionResponse>, Status> {
        match auth::principal(&request)? {
            Principal::Service(_) => {}
            Principal::User(_) => {
                return Err(fip_kit::ApiError::permission_denied("this call is internal").into());
            }
        }
        let pb::CheckSessionRequest {
            session_id,
            user_id,
        } = request.into_inner();
        let mut v = Violations::new();
        v.id("user_id", user_id);
        v.text("session_id", &session_id, 64);
        v.finish()?;
        let principal = fip_kit::auth::UserPrincipal {
            id: user_id,
            username: String::new(),
            roles: Vec::new(),
            session_id,
        };
        // The same cached view this service's own calls use. A failure to
        // tell (the database) is an error, not an ended session.
        let live = match self.accounts.sessions().live().check(&principal).await {
            Ok(()) => true,
            Err(e) if e.reason == fip_proto::common::v1::ErrorReason::SessionEnded => false,
            Err(e) => return Err(e.into()),
        };
        Ok(Response::new(pb::CheckSessionResponse { live }))
    }
}
