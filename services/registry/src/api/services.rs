//! `ListServices`, `GetService`, `CreateService`, `UpdateService`,
//! `DeleteService`: wire conversion and checks around the domain.

use fip_kit::Violations;
use fip_kit::paging::{self, Listing};
use fip_proto::registry::v1 as pb;
use fip_proto::registry::v1::imputation_service::ApiSettings as PbSettings;
use tonic::{Request, Response, Status};

use super::{access, convert, errors};
use crate::domain::Registry;
use crate::model::{
    ApiSettings, DEFAULT_MICHIGAN_APP, MichiganPatch, MichiganSettings, Service, ServicePatch,
    ServiceSpec, WesPatch, WesSettings,
};
use crate::rules;
use crate::store::{ServiceCursor, ServiceFilter};

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 500;

pub async fn list(
    registry: &Registry,
    request: Request<pb::ListServicesRequest>,
) -> Result<Response<pb::ListServicesResponse>, Status> {
    let privileged = access::reader(&request)?;
    let pb::ListServicesRequest {
        page_size,
        page_token,
        api_type,
        build,
        available_only,
        include_inactive,
    } = request.into_inner();
    let mut v = Violations::new();
    let limit =
        paging::checked_page_size_within(&mut v, page_size, DEFAULT_PAGE, MAX_PAGE) as usize;
    let filter = ServiceFilter {
        api_type: convert::api_type_in(&mut v, "api_type", api_type),
        build: convert::build_in(&mut v, "build", build),
        available_only,
        include_inactive: include_inactive && privileged,
    };
    let listing = Listing::new("services")
        .filter("api_type", api_type)
        .filter("build", build)
        .filter("available_only", available_only)
        .filter("include_inactive", filter.include_inactive);
    let after = paging::decode::<(String, i64)>(&mut v, &page_token, &listing)
        .map(|(name, id)| ServiceCursor { name, id });
    v.finish()?;
    let page = registry
        .list_services(&filter, after.as_ref(), limit)
        .await
        .map_err(errors::status)?;
    Ok(Response::new(pb::ListServicesResponse {
        services: page.items.iter().map(service_out).collect(),
        next_page_token: page
            .next
            .map(|c| paging::encode(&listing, (c.name, c.id)))
            .unwrap_or_default(),
    }))
}

pub async fn get(
    registry: &Registry,
    request: Request<pb::GetServiceRequest>,
) -> Result<Response<pb::GetServiceResponse>, Status> {
    let privileged = access::reader(&request)?;
    let pb::GetServiceRequest { id } = request.into_inner();
    let mut v = Violations::new();
    v.id("id", id);
    v.finish()?;
    let service = registry
        .get_service(id, privileged)
        .await
        .map_err(errors::status)?;
    Ok(Response::new(pb::GetServiceResponse {
        service: Some(service_out(&service)),
    }))
}

pub async fn create(
    registry: &Registry,
    request: Request<pb::CreateServiceRequest>,
) -> Result<Response<pb::CreateServiceResponse>, Status> {
    access::writer(&request)?;
    let pb::CreateServiceRequest { service } = request.into_inner();
    let mut v = Violations::new();
    let spec = match service {
        Some(service) => spec_in(&mut v, service),
        None => {
            v.add("service", "is required");
            None
        }
    };
    v.finish()?;
    let spec = spec.expect("a spec exists when nothing was refused");
    let service = registry
        .create_service(spec)
        .await
        .map_err(errors::status)?;
    Ok(Response::new(pb::CreateServiceResponse {
        service: Some(service_out(&service)),
    }))
}

pub async fn update(
    registry: &Registry,
    request: Request<pb::UpdateServiceRequest>,
) -> Result<Response<pb::UpdateServiceResponse>, Status> {
    access::writer(&request)?;
    let pb::UpdateServiceRequest {
        id,
        service,
        update_mask,
    } = request.into_inner();
    let mut v = Violations::new();
    v.id("id", id);
    let patch = match service {
        Some(service) => patch_in(&mut v, service, convert::mask_paths(update_mask)),
        None => {
            v.add("service", "is required");
            ServicePatch::default()
        }
    };
    v.finish()?;
    let service = registry
        .update_service(id, patch)
        .await
        .map_err(errors::status)?;
    Ok(Response::new(pb::UpdateServiceResponse {
        service: Some(service_out(&service)),
    }))
}

pub async fn delete(
    registry: &Registry,
    request: Request<pb::DeleteServiceRequest>,
) -> Result<Response<pb::DeleteServiceResponse>, Status> {
    access::writer(&request)?;
    let pb::DeleteServiceRequest { id } = request.into_inner();
    let mut v = Violations::new();
    v.id("id", id);
    v.finish()?;
    registry.delete_service(id).await.map_err(errors::status)?;
    Ok(Response::new(pb::DeleteServiceResponse {}))
}

/// A new service from the wire; output-only fields are ignored and services
/// are created active.
fn spec_in(v: &mut Violations, service: pb::ImputationService) -> Option<ServiceSpec> {
    let pb::ImputationService {
        id: _,
        name,
        slug,
        api_type,
        base_url,
        description,
        location_country,
        location_institution,
        supported_builds,
        input_formats,
        supported_phasing,
        max_file_size_bytes,
        is_active: _,
        is_available: _,
        health_status: _,
        last_health_check_at: _,
        health_error: _,
        response_time_ms: _,
        created_at: _,
        updated_at: _,
        auth_instructions_url,
        reference_panel_count: _,
        api_settings,
    } = service;
    rules::name(v, "service.name", &name);
    rules::service_slug(v, "service.slug", &slug);
    if api_type == 0 {
        v.add("service.api_type", "is required");
    }
    let api_type = convert::api_type_in(v, "service.api_type", api_type);
    let base_url = rules::base_url(v, "service.base_url", &base_url);
    v.max_len("service.description", &description, rules::DESCRIPTION_MAX);
    v.max_len(
        "service.location_country",
        &location_country,
        rules::SHORT_TEXT_MAX,
    );
    v.max_len(
        "service.location_institution",
        &location_institution,
        rules::SHORT_TEXT_MAX,
    );
    let supported_builds = builds_in(v, &supported_builds);
    let input_formats = convert::formats_in(v, "service.input_formats", &input_formats);
    let supported_phasing = convert::phasing_in(v, "service.supported_phasing", &supported_phasing);
    rules::non_negative(v, "service.max_file_size_bytes", max_file_size_bytes);
    rules::optional_url(v, "service.auth_instructions_url", &auth_instructions_url);
    let settings = match api_settings {
        None => api_type.map(ApiSettings::defaults),
        Some(PbSettings::Michigan(m)) => Some(ApiSettings::Michigan(michigan_in(v, m))),
        Some(PbSettings::Wes(w)) => wes_in(v, w).map(ApiSettings::Wes),
    };
    Some(ServiceSpec {
        name,
        slug,
        api_type: api_type?,
        base_url,
        description,
        location_country,
        location_institution,
        supported_builds,
        input_formats,
        supported_phasing,
        max_file_size_bytes,
        is_active: true,
        auth_instructions_url,
        settings: settings?,
    })
}

fn builds_in(v: &mut Violations, values: &[i32]) -> Vec<crate::model::GenomeBuild> {
    let builds = convert::builds_in(v, "service.supported_builds", values);
    if values.is_empty() {
        v.add("service.supported_builds", "must list at least one build");
    }
    builds
}

fn michigan_in(v: &mut Violations, m: pb::MichiganSettings) -> MichiganSettings {
    let pb::MichiganSettings {
        app_id,
        aes_encryption,
        max_concurrent_jobs_per_user,
        r2_filter_values,
    } = m;
    let app_id = if app_id.is_empty() {
        DEFAULT_MICHIGAN_APP.to_string()
    } else {
        rules::app_id(v, "service.michigan.app_id", &app_id);
        app_id
    };
    rules::non_negative(
        v,
        "service.michigan.max_concurrent_jobs_per_user",
        i64::from(max_concurrent_jobs_per_user),
    );
    rules::r2_filters(v, "service.michigan.r2_filter_values", &r2_filter_values);
    MichiganSettings {
        app_id,
        aes_encryption,
        max_concurrent_jobs_per_user,
        r2_filter_values,
    }
}

/// WES settings from the wire: the workflow is required; what the server
/// reports is output only.
fn wes_in(v: &mut Violations, w: pb::WesSettings) -> Option<WesSettings> {
    let pb::WesSettings {
        default_workflow,
        supported_wes_versions: _,
        workflow_type_versions: _,
    } = w;
    match default_workflow {
        Some(workflow) => Some(WesSettings {
            default_workflow: Some(convert::workflow_in(
                v,
                "service.wes.default_workflow",
                workflow,
            )),
            ..WesSettings::default()
        }),
        None => {
            v.add("service.wes.default_workflow", "is required");
            None
        }
    }
}

/// Output-only paths an update mask may name; they are ignored.
const OUTPUT_ONLY: &[&str] = &[
    "id",
    "is_available",
    "health_status",
    "last_health_check_at",
    "health_error",
    "response_time_ms",
    "created_at",
    "updated_at",
    "reference_panel_count",
    "wes.supported_wes_versions",
    "wes.workflow_type_versions",
];

/// The paths an empty mask stands for: the fields set in the message.
fn present_paths(s: &pb::ImputationService) -> Vec<String> {
    let mut paths = Vec::new();
    let mut add = |set: bool, path: &str| {
        if set {
            paths.push(path.to_string());
        }
    };
    add(s.api_type != 0, "api_type");
    add(!s.name.is_empty(), "name");
    add(!s.slug.is_empty(), "slug");
    add(!s.base_url.is_empty(), "base_url");
    add(!s.description.is_empty(), "description");
    add(!s.location_country.is_empty(), "location_country");
    add(!s.location_institution.is_empty(), "location_institution");
    add(!s.supported_builds.is_empty(), "supported_builds");
    add(!s.input_formats.is_empty(), "input_formats");
    add(!s.supported_phasing.is_empty(), "supported_phasing");
    add(s.max_file_size_bytes != 0, "max_file_size_bytes");
    add(s.is_active, "is_active");
    add(!s.auth_instructions_url.is_empty(), "auth_instructions_url");
    match &s.api_settings {
        Some(PbSettings::Michigan(m)) => {
            add(!m.app_id.is_empty(), "michigan.app_id");
            add(m.aes_encryption, "michigan.aes_encryption");
            add(
                m.max_concurrent_jobs_per_user != 0,
                "michigan.max_concurrent_jobs_per_user",
            );
            add(!m.r2_filter_values.is_empty(), "michigan.r2_filter_values");
        }
        Some(PbSettings::Wes(w)) => add(w.default_workflow.is_some(), "wes.default_workflow"),
        None => {}
    }
    paths
}

/// The changes an update asks for, checked field by field.
fn patch_in(v: &mut Violations, service: pb::ImputationService, mask: Vec<String>) -> ServicePatch {
    let paths = if mask.is_empty() {
        present_paths(&service)
    } else {
        mask
    };
    let pb::ImputationService {
        id: _,
        name,
        slug,
        api_type,
        base_url,
        description,
        location_country,
        location_institution,
        supported_builds,
        input_formats,
        supported_phasing,
        max_file_size_bytes,
        is_active,
        is_available: _,
        health_status: _,
        last_health_check_at: _,
        health_error: _,
        response_time_ms: _,
        created_at: _,
        updated_at: _,
        auth_instructions_url,
        reference_panel_count: _,
        api_settings,
    } = service;
    let (michigan, wes) = match api_settings {
        Some(PbSettings::Michigan(m)) => (Some(m), None),
        Some(PbSettings::Wes(w)) => (None, Some(w)),
        None => (None, None),
    };
    let mut patch = ServicePatch::default();
    for path in paths {
        match path.as_str() {
            "api_type" => {
                patch.api_type = convert::api_type_in(v, "service.api_type", api_type);
                if patch.api_type.is_none() && api_type == 0 {
                    v.add("service.api_type", "cannot change");
                }
            }
            "name" => {
                rules::name(v, "service.name", &name);
                patch.name = Some(name.clone());
            }
            "slug" => {
                rules::service_slug(v, "service.slug", &slug);
                patch.slug = Some(slug.clone());
            }
            "base_url" => patch.base_url = Some(rules::base_url(v, "service.base_url", &base_url)),
            "description" => {
                v.max_len("service.description", &description, rules::DESCRIPTION_MAX);
                patch.description = Some(description.clone());
            }
            "location_country" => {
                v.max_len(
                    "service.location_country",
                    &location_country,
                    rules::SHORT_TEXT_MAX,
                );
                patch.location_country = Some(location_country.clone());
            }
            "location_institution" => {
                v.max_len(
                    "service.location_institution",
                    &location_institution,
                    rules::SHORT_TEXT_MAX,
                );
                patch.location_institution = Some(location_institution.clone());
            }
            "supported_builds" => patch.supported_builds = Some(builds_in(v, &supported_builds)),
            "input_formats" => {
                patch.input_formats = Some(convert::formats_in(
                    v,
                    "service.input_formats",
                    &input_formats,
                ));
            }
            "supported_phasing" => {
                patch.supported_phasing = Some(convert::phasing_in(
                    v,
                    "service.supported_phasing",
                    &supported_phasing,
                ));
            }
            "max_file_size_bytes" => {
                rules::non_negative(v, "service.max_file_size_bytes", max_file_size_bytes);
                patch.max_file_size_bytes = Some(max_file_size_bytes);
            }
            "is_active" => patch.is_active = Some(is_active),
            "auth_instructions_url" => {
                rules::optional_url(v, "service.auth_instructions_url", &auth_instructions_url);
                patch.auth_instructions_url = Some(auth_instructions_url.clone());
            }
            "michigan" => {
                let m = michigan_in(v, michigan.clone().unwrap_or_default());
                patch.michigan = Some(MichiganPatch {
                    app_id: Some(m.app_id),
                    aes_encryption: Some(m.aes_encryption),
                    max_concurrent_jobs_per_user: Some(m.max_concurrent_jobs_per_user),
                    r2_filter_values: Some(m.r2_filter_values),
                });
            }
            sub if sub.starts_with("michigan.") => {
                let m = michigan.clone().unwrap_or_default();
                let target = patch.michigan.get_or_insert_with(MichiganPatch::default);
                match sub {
                    "michigan.app_id" if m.app_id.is_empty() => {
                        target.app_id = Some(DEFAULT_MICHIGAN_APP.to_string());
                    }
                    "michigan.app_id" => {
                        rules::app_id(v, "service.michigan.app_id", &m.app_id);
                        target.app_id = Some(m.app_id);
                    }
                    "michigan.aes_encryption" => target.aes_encryption = Some(m.aes_encryption),
                    "michigan.max_concurrent_jobs_per_user" => {
                        rules::non_negative(
                            v,
                            "service.michigan.max_concurrent_jobs_per_user",
                            i64::from(m.max_concurrent_jobs_per_user),
                        );
                        target.max_concurrent_jobs_per_user = Some(m.max_concurrent_jobs_per_user);
                    }
                    "michigan.r2_filter_values" => {
                        rules::r2_filters(
                            v,
                            "service.michigan.r2_filter_values",
                            &m.r2_filter_values,
                        );
                        target.r2_filter_values = Some(m.r2_filter_values);
                    }
                    other => v.add("update_mask", format!("names an unknown field {other:?}")),
                }
            }
            "wes" | "wes.default_workflow" => {
                let workflow = wes
                    .clone()
                    .and_then(|w| w.default_workflow)
                    .map(|w| convert::workflow_in(v, "service.wes.default_workflow", w));
                patch.wes = Some(WesPatch {
                    default_workflow: Some(workflow),
                });
            }
            other if OUTPUT_ONLY.contains(&other) => {}
            other => v.add("update_mask", format!("names an unknown field {other:?}")),
        }
    }
    patch
}

/// A service on the wire.
pub fn service_out(service: &Service) -> pb::ImputationService {
    let s = &service.spec;
    let h = &service.health;
    pb::ImputationService {
        id: service.id,
        name: s.name.clone(),
        slug: s.slug.clone(),
        api_type: convert::api_type_out(s.api_type),
        base_url: s.base_url.clone(),
        description: s.description.clone(),
        location_country: s.location_country.clone(),
        location_institution: s.location_institution.clone(),
        supported_builds: s
            .supported_builds
            .iter()
            .map(|b| convert::build_out(*b))
            .collect(),
        input_formats: s
            .input_formats
            .iter()
            .map(|f| convert::format_out(*f))
            .collect(),
        supported_phasing: s
            .supported_phasing
            .iter()
            .map(|p| convert::phasing_out(*p))
            .collect(),
        max_file_size_bytes: s.max_file_size_bytes,
        is_active: s.is_active,
        is_available: service.is_available(),
        health_status: convert::health_out(h.status),
        last_health_check_at: convert::optional_time(h.last_check_at),
        health_error: h.error.clone(),
        response_time_ms: h.response_time_ms,
        created_at: convert::time(service.created_at),
        updated_at: convert::time(service.updated_at),
        auth_instructions_url: s.auth_instructions_url.clone(),
        reference_panel_count: service.reference_panel_count,
        api_settings: Some(match &s.settings {
            ApiSettings::Michigan(m) => PbSettings::Michigan(pb::MichiganSettings {
                app_id: m.app_id.clone(),
                aes_encryption: m.aes_encryption,
                max_concurrent_jobs_per_user: m.max_concurrent_jobs_per_user,
                r2_filter_values: m.r2_filter_values.clone(),
            }),
            ApiSettings::Wes(w) => PbSettings::Wes(pb::WesSettings {
                default_workflow: w.default_workflow.as_ref().map(convert::workflow_out),
                supported_wes_versions: w.supported_wes_versions.clone(),
                workflow_type_versions: w.workflow_type_versions.clone(),
            }),
        }),
    }
}
