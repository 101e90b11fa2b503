//! The registry's domain types, free of wire and storage concerns.
//!
//! Timestamps are UTC milliseconds since the epoch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Declares a closed vocabulary with its stable lowercase name (the stored
/// form, also the JSON form of the contracts).
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// The API family an imputation server speaks.
    ApiType { Michigan => "michigan", Ga4ghWes => "ga4gh_wes" }
}

vocabulary! {
    /// A human reference genome build.
    GenomeBuild { Hg19 => "hg19", Hg38 => "hg38" }
}

vocabulary! {
    /// A genotype file format users may upload.
    InputFormat { Vcf => "vcf", VcfBgzf => "vcf_bgzf", VcfGzip => "vcf_gzip" }
}

vocabulary! {
    /// A pre-phasing method.
    Phasing { Eagle => "eagle", Beagle => "beagle", NoPhasing => "no_phasing" }
}

vocabulary! {
    /// The verdict of a health check, or of a service's recent checks.
    HealthStatus {
        Healthy => "healthy",
        Degraded => "degraded",
        Unhealthy => "unhealthy",
        Unknown => "unknown",
    }
}

vocabulary! {
    /// What started a health check.
    CheckTrigger { Scheduled => "scheduled", OnDemand => "on_demand" }
}

vocabulary! {
    /// Where a reference panel entry came from.
    PanelSource { Manual => "manual", Discovered => "discovered" }
}

vocabulary! {
    /// How a job's input reaches a WES server.
    WesInputDelivery { Attachment => "attachment", SignedUrl => "signed_url" }
}

impl HealthStatus {
    /// Whether the service answered (healthy or degraded).
    pub fn is_up(self) -> bool {
        matches!(self, HealthStatus::Healthy | HealthStatus::Degraded)
    }
}

/// The Cloudgene application jobs go to when a service names none.
pub const DEFAULT_MICHIGAN_APP: &str = "imputationserver2";

/// The writable description of an imputation service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub slug: String,
    pub api_type: ApiType,
    pub base_url: String,
    pub description: String,
    pub location_country: String,
    pub location_institution: String,
    pub supported_builds: Vec<GenomeBuild>,
    pub input_formats: Vec<InputFormat>,
    pub supported_phasing: Vec<Phasing>,
    pub max_file_size_bytes: i64,
    pub is_active: bool,
    pub auth_instructions_url: String,
    pub settings: ApiSettings,
}

/// Settings specific to the API family; the variant matches `api_type`.
// One per service, never in bulk: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ApiSettings {
    Michigan(MichiganSettings),
    Wes(WesSettings),
}

impl ApiSettings {
    /// The defaults of a family.
    pub fn defaults(api_type: ApiType) -> Self {
        match api_type {
            ApiType::Michigan => ApiSettings::Michigan(MichiganSettings::default()),
            ApiType::Ga4ghWes => ApiSettings::Wes(WesSettings::default()),
        }
    }

    pub fn api_type(&self) -> ApiType {
        match self {
            ApiSettings::Michigan(_) => ApiType::Michigan,
            ApiSettings::Wes(_) => ApiType::Ga4ghWes,
        }
    }
}

/// How the hub talks to a Cloudgene server.
#[derive(Debug, Clone, PartialEq)]
pub struct MichiganSettings {
    pub app_id: String,
    pub aes_encryption: bool,
    pub max_concurrent_jobs_per_user: i32,
    pub r2_filter_values: Vec<f64>,
}

impl Default for MichiganSettings {
    fn default() -> Self {
        Self {
            app_id: DEFAULT_MICHIGAN_APP.to_string(),
            aes_encryption: false,
            max_concurrent_jobs_per_user: 0,
            r2_filter_values: Vec::new(),
        }
    }
}

/// How the hub talks to a GA4GH WES server.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WesSettings {
    /// The workflow run for each job; `None` until an administrator sets one.
    pub default_workflow: Option<WesWorkflow>,
    /// Reported by the server (`service-info`), refreshed by health checks.
    pub supported_wes_versions: Vec<String>,
    /// Reported by the server, e.g. `NEXTFLOW 22.10.0`.
    pub workflow_type_versions: Vec<String>,
}

/// A WES workflow and how a job's choices map onto its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WesWorkflow {
    pub workflow_type: String,
    pub workflow_type_version: String,
    pub workflow_url: String,
    #[serde(default)]
    pub workflow_engine: String,
    #[serde(default)]
    pub workflow_engine_version: String,
    #[serde(default)]
    pub input_delivery: Option<WesInputDelivery>,
    #[serde(default)]
    pub signed_url_ttl_seconds: i64,
    pub param_names: WesParamNames,
    #[serde(default)]
    pub fixed_params: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub engine_parameters: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The `workflow_params` keys a WES workflow reads a job's choices from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WesParamNames {
    pub input: String,
    pub reference_panel: String,
    pub build: String,
    pub population: String,
    pub phasing: String,
    pub r2_filter: String,
    pub mode: String,
}

/// The health bookkeeping of a service, updated by every check.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthState {
    pub status: HealthStatus,
    pub last_check_at: Option<i64>,
    pub error: String,
    pub response_time_ms: i32,
    pub consecutive_failures: i32,
    /// Start of the current run of failures; `None` while answering.
    pub failing_since: Option<i64>,
    pub last_available_at: Option<i64>,
    /// False once the service has failed continuously for the configured
    /// period; true again at its first success.
    pub available: bool,
}

impl Default for HealthState {
    fn default() -> Self {
        Self {
            status: HealthStatus::Unknown,
            last_check_at: None,
            error: String::new(),
            response_time_ms: 0,
            consecutive_failures: 0,
            failing_since: None,
            last_available_at: None,
            available: true,
        }
    }
}

/// A stored imputation service.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: i64,
    pub spec: ServiceSpec,
    pub health: HealthState,
    /// Active reference panels.
    pub reference_panel_count: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Service {
    /// Active and not marked unavailable by its health checks.
    pub fn is_available(&self) -> bool {
        self.spec.is_active && self.health.available
    }
}

/// Changes to a service; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServicePatch {
    /// Only accepted when it names the current type (it cannot change).
    pub api_type: Option<ApiType>,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub base_url: Option<String>,
    pub description: Option<String>,
    pub location_country: Option<String>,
    pub location_institution: Option<String>,
    pub supported_builds: Option<Vec<GenomeBuild>>,
    pub input_formats: Option<Vec<InputFormat>>,
    pub supported_phasing: Option<Vec<Phasing>>,
    pub max_file_size_bytes: Option<i64>,
    pub is_active: Option<bool>,
    pub auth_instructions_url: Option<String>,
    pub michigan: Option<MichiganPatch>,
    pub wes: Option<WesPatch>,
}

/// Changes to Michigan settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MichiganPatch {
    pub app_id: Option<String>,
    pub aes_encryption: Option<bool>,
    pub max_concurrent_jobs_per_user: Option<i32>,
    pub r2_filter_values: Option<Vec<f64>>,
}

/// Changes to WES settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WesPatch {
    /// `Some(None)` removes the default workflow.
    pub default_workflow: Option<Option<WesWorkflow>>,
}

/// A population of a reference panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Population {
    pub id: String,
    pub name: String,
    pub sample_count: i64,
}

/// The writable description of a reference panel.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelSpec {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub build: GenomeBuild,
    pub populations: Vec<Population>,
    pub default_population: String,
    pub sample_count: i64,
    pub variant_count: i64,
    pub is_active: bool,
    pub version: String,
    pub wes_workflow: Option<WesWorkflow>,
}

/// A stored reference panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub id: i64,
    pub service_id: i64,
    pub spec: PanelSpec,
    pub source: PanelSource,
    pub last_synced_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Changes to a reference panel; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PanelPatch {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub build: Option<GenomeBuild>,
    pub populations: Option<Vec<Population>>,
    pub default_population: Option<String>,
    pub sample_count: Option<i64>,
    pub variant_count: Option<i64>,
    pub is_active: Option<bool>,
    pub version: Option<String>,
    /// `Some(None)` removes the workflow override.
    pub wes_workflow: Option<Option<WesWorkflow>>,
}

/// One recorded probe of a service.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    pub id: i64,
    pub service_id: i64,
    pub status: HealthStatus,
    pub response_time_ms: i32,
    pub http_status: i32,
    pub error: String,
    pub checked_at: i64,
    pub trigger: CheckTrigger,
}

/// A probe outcome about to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHealthCheck {
    pub status: HealthStatus,
    pub response_time_ms: i32,
    pub http_status: i32,
    pub error: String,
    pub checked_at: i64,
    pub trigger: CheckTrigger,
}

/// What a WES server says about itself, stored on the service.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WesServerInfo {
    pub supported_wes_versions: Vec<String>,
    pub workflow_type_versions: Vec<String>,
}

/// The current health of a service, summarised from its checks.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceHealth {
    pub service_id: i64,
    pub status: HealthStatus,
    pub is_available: bool,
    pub last_check: Option<HealthCheck>,
    pub consecutive_failures: i32,
    pub last_available_at: Option<i64>,
    pub availability_24h: f64,
}

/// A page of results and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}
