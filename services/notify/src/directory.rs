//! Who the recipients are: account facts from the user service.

use std::sync::Arc;

use async_trait::async_trait;
use fip_kit::auth::{IdentityInterceptor, ServiceIdentity};
use fip_proto::user::v1 as user;
use fip_proto::user::v1::user_internal_service_client::UserInternalServiceClient;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// How to address a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// False for a deactivated account (it gets no email).
    pub is_active: bool,
}

/// The lookup failed: the user service is unreachable or misbehaved.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Retrying later may help (connection refused, timeout, UNAVAILABLE).
    #[error("the user service is unavailable: {0}")]
    Unavailable(String),
    /// It will not.
    #[error("the user service failed: {0}")]
    Failed(String),
}

/// Looks up recipients.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// The account `user_id`; None when there is no such account.
    async fn contact(&self, user_id: i64) -> Result<Option<Contact>, DirectoryError>;
}

/// [`Directory`] over `fip.user.v1.UserInternalService`, called with this
/// service's own identity.
pub struct UserDirectory {
    client: UserInternalServiceClient<InterceptedService<Channel, IdentityInterceptor>>,
}

impl UserDirectory {
    pub fn new(channel: Channel, identity: &Arc<ServiceIdentity>) -> Self {
        Self {
            client: UserInternalServiceClient::with_interceptor(channel, identity.interceptor()),
        }
    }
}

#[async_trait]
impl Directory for UserDirectory {
    async fn contact(&self, user_id: i64) -> Result<Option<Contact>, DirectoryError> {
        let answer = self
            .client
            .clone()
            .get_user_contact(user::GetUserContactRequest { user_id })
            .await;
        match answer {
            Ok(response) => {
                let user::GetUserContactResponse {
                    user_id,
                    username,
                    email,
                    first_name,
                    last_name,
                    is_active,
                } = response.into_inner();
                Ok(Some(Contact {
                    user_id,
                    username,
                    email,
                    first_name,
                    last_name,
                    is_active,
                }))
            }
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => {
                let detail = format!("{:?}: {}", status.code(), status.message());
                match status.code() {
                    Code::Unavailable
                    | Code::DeadlineExceeded
                    | Code::ResourceExhausted
                    | Code::Aborted
                    | Code::Cancelled => Err(DirectoryError::Unavailable(detail)),
                    _ => Err(DirectoryError::Failed(detail)),
                }
            }
        }
    }
}
