//! `ListReferencePanels`, `GetReferencePanel`, `CreateReferencePanel`,
//! `UpdateReferencePanel`, `DeleteReferencePanel`, `SyncReferencePanels`.

use fip_kit::Violations;
use fip_kit::paging::{self, Listing};
use fip_proto::registry::v1 as pb;
use tonic::{Request, Response, Status};

use super::{access, convert, errors};
use crate::domain::{Registry, SyncRequest};
use crate::model::{GenomeBuild, Panel, PanelPatch, PanelSpec, Population};
use crate::rules;
use crate::store::{PanelCursor, PanelFilter};

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 500;

pub async fn list(
    registry: &Registry,
    request: Request<pb::ListReferencePanelsRequest>,
) -> Result<Response<pb::ListReferencePanelsResponse>, Status> {
    let privileged = access::reader(&request)?;
    let pb::ListReferencePanelsRequest {
        page_size,
        page_token,
        service_id,
        build,
        include_inactive,
    } = request.into_inner();
    let mut v = Violations::new();
    let limit =
        paging::checked_page_size_within(&mut v, page_size, DEFAULT_PAGE, MAX_PAGE) as usize;
    if service_id < 0 {
        v.add("service_id", "must be a service id, or 0 for all services");
    }
    let filter = PanelFilter {
        service_id: (service_id > 0).then_some(service_id),
        build: convert::build_in(&mut v, "build", build),
        include_inactive: include_inactive && privileged,
    };
    let listing = Listing::new("panels")
        .filter("service_id", service_id)
        .filter("build", build)
        .filter("include_inactive", filter.include_inactive);
    let after = paging::decode::<(i64, String, i64)>(&mut v, &page_token, &listing).map(
        |(service_id, name, id)| PanelCursor {
            service_id,
            name,
            id,
        },
    );
    v.finish()?;
    let page = registry
        .list_panels(&filter, after.as_ref(), limit, privileged)
        .await
        .map_err(errors::status)?;
    Ok(Response::new(pb::ListReferencePanelsResponse {
        reference_panels: page.items.iter().map(panel_out).collect(),
        next_page_token: page
            .next
            .map(|c| paging::encode(&listing, (c.service_id, c.name, c.id)))
            .unwrap_or_default(),
    }))
}

pub async fn get(
    registry: &Registry,
    request: Request<pb::GetReferencePanelRequest>,
) -> Result<Response<pb::GetReferencePanelResponse>, Status> {
    let privileged = access::reader(&request)?;
    let pb::GetReferencePanelRequest { id } = request.into_inner();
    let mut v = Violations::new();
    v.id("id", id);
    v.finish()?;
    let panel = registry
        .get_panel(id, privileged)
        .await
        .map_err(errors::status)?;
    Ok(Response::new(pb::GetReferencePanelResponse {
        reference_panel: Some(panel_out(&panel)),
    }))
}

pub async fn create(
    registry: &Registry,
    request: Request<pb::CreateReferencePanelRequest>,
) -> Result<Response<pb::CreateReferencePanelResponse>, Status> {
    access::writer(&request)?;
    let pb::CreateReferencePanelRequest {
        service_id,
        reference_panel,
    } = request.into_inner();
    let mut v = Violations::new();
    v.id("service_id", service_id);
    let spec = match reference_panel {
        Some(panel) => spec_in(&mut v, panel),
        None => {
            v.add("reference_panel", "is required");
            None
        }
    };
    v.finish()?;
    let spec = spec.expect("a spec exists when nothing was refused");
    let panel = registry
        .create_panel(service_id, spec)
        .await
        .map_err(errors::status)?;
    Ok(Response::new(pb::CreateReferencePanelResponse {
        reference_panel: Some(panel_out(&panel)),
    }))
}

pub async fn update(
    registry: &Registry,
    request: Request<pb::UpdateReferencePanelRequest>,
) -> Result<Response<pb::UpdateReferencePanelResponse>, Status> {
    access::writer(&request)?;
    let pb::UpdateReferencePanelRequest {
        id,
        reference_panel,
        update_mask,
    } = request.into_inner();
    let mut v = Violations::new();
    v.id("id", id);
    let patch = match reference_panel {
        Some(panel) => patch_in(&mut v, panel, convert::mask_paths(update_mask)),
        None => {
            v.add("reference_panel", "is required");
            PanelPatch::default()
        }
    };
    v.finish()?;
    let panel = registry
        .update_panel(id, patch)
        .await
        .map_err(errors::status)?;
    Ok(Response::new(pb::UpdateReferencePanelResponse {
        reference_panel: Some(panel_out(&panel)),
    }))
}

pub async fn delete(
    registry: &Registry,
    request: Request<pb::DeleteReferencePanelRequest>,
) -> Result<Response<pb::DeleteReferencePanelResponse>, Status> {
    access::writer(&request)?;
    let pb::DeleteReferencePanelRequest { id } = request.into_inner();
    let mut v = Violations::new();
    v.id("id", id);
    v.finish()?;
    registry.delete_panel(id).await.map_err(errors::status)?;
    Ok(Response::new(pb::DeleteReferencePanelResponse {}))
}

pub async fn sync(
    registry: &Registry,
    request: Request<pb::SyncReferencePanelsRequest>,
) -> Result<Response<pb::SyncReferencePanelsResponse>, Status> {
    access::writer(&request)?;
    let pb::SyncReferencePanelsRequest {
        id,
        dry_run,
        keep_missing,
        api_token,
    } = request.into_inner();
    let mut v = Violations::new();
    v.id("id", id);
    v.max_len("api_token", &api_token, 8192);
    v.finish()?;
    let report = registry
        .sync_panels(
            id,
            SyncRequest {
                dry_run,
                keep_missing,
                api_token: (!api_token.is_empty()).then_some(api_token),
            },
        )
        .await
        .map_err(errors::status)?;
    Ok(Response::new(pb::SyncReferencePanelsResponse {
        added: report.added.iter().map(panel_out).collect(),
        updated: report.updated.iter().map(panel_out).collect(),
        deactivated: report.deactivated.iter().map(panel_out).collect(),
        unchanged_count: report.unchanged_count,
        dry_run: report.dry_run,
        app_id: report.app_id,
        synced_at: convert::time(report.synced_at),
    }))
}

fn populations_in(v: &mut Violations, field: &str, values: Vec<pb::Population>) -> Vec<Population> {
    let populations: Vec<Population> = values
        .into_iter()
        .map(|p| {
            let pb::Population {
                id,
                name,
                sample_count,
            } = p;
            Population {
                id,
                name,
                sample_count,
            }
        })
        .collect();
    rules::populations(v, field, &populations);
    populations
}

fn build_required(v: &mut Violations, value: i32) -> Option<GenomeBuild> {
    if value == 0 {
        v.add("reference_panel.build", "is required");
    }
    convert::build_in(v, "reference_panel.build", value)
}

/// A new panel from the wire; output-only fields are ignored and panels are
/// created active.
fn spec_in(v: &mut Violations, panel: pb::ReferencePanel) -> Option<PanelSpec> {
    let pb::ReferencePanel {
        id: _,
        service_id: _,
        slug,
        name,
        description,
        build,
        populations,
        default_population,
        sample_count,
        variant_count,
        is_active: _,
        version,
        created_at: _,
        updated_at: _,
        source: _,
        last_synced_at: _,
        wes_workflow,
    } = panel;
    rules::panel_slug(v, "reference_panel.slug", &slug);
    rules::name(v, "reference_panel.name", &name);
    v.max_len(
        "reference_panel.description",
        &description,
        rules::DESCRIPTION_MAX,
    );
    let build = build_required(v, build);
    let populations = populations_in(v, "reference_panel.populations", populations);
    rules::default_population(
        v,
        "reference_panel.default_population",
        &default_population,
        &populations,
    );
    rules::non_negative(v, "reference_panel.sample_count", sample_count);
    rules::non_negative(v, "reference_panel.variant_count", variant_count);
    v.max_len("reference_panel.version", &version, rules::VERSION_MAX);
    let wes_workflow =
        wes_workflow.map(|w| convert::workflow_in(v, "reference_panel.wes_workflow", w));
    Some(PanelSpec {
        slug,
        name,
        description,
        build: build?,
        populations,
        default_population,
        sample_count,
        variant_count,
        is_active: true,
        version,
        wes_workflow,
    })
}

const OUTPUT_ONLY: &[&str] = &[
    "id",
    "service_id",
    "created_at",
    "updated_at",
    "source",
    "last_synced_at",
];

fn present_paths(p: &pb::ReferencePanel) -> Vec<String> {
    [
        (!p.slug.is_empty(), "slug"),
        (!p.name.is_empty(), "name"),
        (!p.description.is_empty(), "description"),
        (p.build != 0, "build"),
        (!p.populations.is_empty(), "populations"),
        (!p.default_population.is_empty(), "default_population"),
        (p.sample_count != 0, "sample_count"),
        (p.variant_count != 0, "variant_count"),
        (p.is_active, "is_active"),
        (!p.version.is_empty(), "version"),
        (p.wes_workflow.is_some(), "wes_workflow"),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .map(|(_, path)| path.to_string())
    .collect()
}

/// The changes an update asks for, checked field by field.
fn patch_in(v: &mut Violations, panel: pb::ReferencePanel, mask: Vec<String>) -> PanelPatch {
    let paths = if mask.is_empty() {
        present_paths(&panel)
    } else {
        mask
    };
    let pb::ReferencePanel {
        id: _,
        service_id: _,
        slug,
        name,
        description,
        build,
        populations,
        default_population,
        sample_count,
        variant_count,
        is_active,
        version,
        created_at: _,
        updated_at: _,
        source: _,
        last_synced_at: _,
        wes_workflow,
    } = panel;
    let mut populations = Some(populations);
    let mut wes_workflow = Some(wes_workflow);
    let mut patch = PanelPatch::default();
    for path in paths {
        match path.as_str() {
            "slug" => {
                rules::panel_slug(v, "reference_panel.slug", &slug);
                patch.slug = Some(slug.clone());
            }
            "name" => {
                rules::name(v, "reference_panel.name", &name);
                patch.name = Some(name.clone());
            }
            "description" => {
                v.max_len(
                    "reference_panel.description",
                    &description,
                    rules::DESCRIPTION_MAX,
                );
                patch.description = Some(description.clone());
            }
            "build" => patch.build = build_required(v, build),
            "populations" => {
                if let Some(list) = populations.take() {
                    patch.populations =
                        Some(populations_in(v, "reference_panel.populations", list));
                }
            }
            "default_population" => {
                v.max_len(
                    "reference_panel.default_population",
                    &default_population,
                    rules::POPULATION_ID_MAX,
                );
                patch.default_population = Some(default_population.clone());
            }
            "sample_count" => {
                rules::non_negative(v, "reference_panel.sample_count", sample_count);
                patch.sample_count = Some(sample_count);
            }
            "variant_count" => {
                rules::non_negative(v, "reference_panel.variant_count", variant_count);
                patch.variant_count = Some(variant_count);
            }
            "is_active" => patch.is_active = Some(is_active),
            "version" => {
                v.max_len("reference_panel.version", &version, rules::VERSION_MAX);
                patch.version = Some(version.clone());
            }
            "wes_workflow" => {
                if let Some(workflow) = wes_workflow.take() {
                    patch.wes_workflow = Some(
                        workflow
                            .map(|w| convert::workflow_in(v, "reference_panel.wes_workflow", w)),
                    );
                }
            }
            other if OUTPUT_ONLY.contains(&other) => {}
            other => v.add("update_mask", format!("names an unknown field {other:?}")),
        }
    }
    if let (Some(list), Some(default)) = (&patch.populations, &patch.default_population) {
        rules::default_population(v, "reference_panel.default_population", default, list);
    }
    patch
}

/// A panel on the wire.
pub fn panel_out(panel: &Panel) -> pb::ReferencePanel {
    let s = &panel.spec;
    pb::ReferencePanel {
        id: panel.id,
        service_id: panel.service_id,
        slug: s.slug.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        build: convert::build_out(s.build),
        populations: s
            .populations
            .iter()
            .map(|p| pb::Population {
                id: p.id.clone(),
                name: p.name.clone(),
                sample_count: p.sample_count,
            })
            .collect(),
        default_population: s.default_population.clone(),
        sample_count: s.sample_count,
        variant_count: s.variant_count,
        is_active: s.is_active,
        version: s.version.clone(),
        created_at: convert::time(panel.created_at),
        updated_at: convert::time(panel.updated_at),
        source: convert::source_out(panel.source),
        last_synced_at: convert::optional_time(panel.last_synced_at),
        wes_workflow: s.wes_workflow.as_ref().map(convert::workflow_out),
    }
}
