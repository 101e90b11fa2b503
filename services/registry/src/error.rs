//! The one error type of the registry's domain.

use crate::model::{ApiType, GenomeBuild};
use crate::store::StoreError;

/// Everything a registry operation can fail with. The gRPC adapter maps
/// each variant onto one wire error.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("imputation service {0} not found")]
    ServiceNotFound(i64),
    #[error("reference panel {0} not found")]
    PanelNotFound(i64),
    #[error("a service with slug {0:?} already exists")]
    ServiceSlugTaken(String),
    #[error("service {service_id} already has a panel with slug {slug:?}")]
    PanelSlugTaken { service_id: i64, slug: String },
    /// Settings of one API family given for a service of another; `member`
    /// names the settings given (`michigan` or `wes`).
    #[error("{member} settings do not apply to a {api_type} service")]
    SettingsMismatch {
        member: &'static str,
        api_type: ApiType,
    },
    #[error("the API type of a service cannot change (it is {0})")]
    ApiTypeChange(ApiType),
    #[error("service {service_id} does not support build {build}")]
    BuildNotSupported { service_id: i64, build: GenomeBuild },
    #[error("a WES workflow does not apply to a Michigan-type service")]
    WorkflowOnMichigan,
    #[error("default population {0:?} is not one of the panel's populations")]
    UnknownDefaultPopulation(String),
    #[error("service {service_id} was checked on demand {retry_after_ms} ms too soon")]
    RateLimited {
        service_id: i64,
        retry_after_ms: i64,
    },
    #[error("{operation} does not apply to {api_type} services")]
    NotSupported {
        operation: &'static str,
        api_type: ApiType,
    },
    #[error("the server of service {service_id} refused the token: {message}")]
    CredentialsRejected { service_id: i64, message: String },
    #[error("the server of service {service_id} is unreachable: {message}")]
    Unreachable { service_id: i64, message: String },
    #[error("the server of service {service_id} answered unreadably: {message}")]
    UpstreamFailed {
        service_id: i64,
        http_status: Option<u16>,
        message: String,
    },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RegistryError {
    fn from(error: StoreError) -> Self {
        RegistryError::Store(error)
    }
}

pub type RegistryResult<T> = Result<T, RegistryError>;
