//! `fip services`, `fip panels`, and finding a service or panel by id or slug.

use clap::Args;
use fip_proto::registry::v1 as registry;
use registry::registry_service_client::RegistryServiceClient;
use serde_json::json;

use super::{Global, names};
use crate::hub::session::authed;
use crate::hub::{CliError, Hub};

/// `fip panels`.
#[derive(Debug, Args)]
pub struct PanelsArgs {
    /// Only this service's panels (id or slug).
    #[arg(long)]
    pub service: Option<String>,
}

/// Every active service, across pages.
pub async fn all_services(hub: &mut Hub) -> Result<Vec<registry::ImputationService>, CliError> {
    let mut services = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = registry::ListServicesRequest {
            page_size: 100,
            page_token: page_token.clone(),
            ..Default::default()
        };
        let page = hub
            .call(|channel, token| {
                let request = request.clone();
                async move {
                    RegistryServiceClient::new(channel)
                        .list_services(authed(request, &token))
                        .await
                }
            })
            .await?
            .into_inner();
        services.extend(page.services);
        if page.next_page_token.is_empty() {
            return Ok(services);
        }
        page_token = page.next_page_token;
    }
}

/// Every active panel (of one service, or all), across pages.
pub async fn all_panels(
    hub: &mut Hub,
    service_id: i64,
) -> Result<Vec<registry::ReferencePanel>, CliError> {
    let mut panels = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = registry::ListReferencePanelsRequest {
            page_size: 100,
            page_token: page_token.clone(),
            service_id,
            ..Default::default()
        };
        let page = hub
            .call(|channel, token| {
                let request = request.clone();
                async move {
                    RegistryServiceClient::new(channel)
                        .list_reference_panels(authed(request, &token))
                        .await
                }
            })
            .await?
            .into_inner();
        panels.extend(page.reference_panels);
        if page.next_page_token.is_empty() {
            return Ok(panels);
        }
        page_token = page.next_page_token;
    }
}

/// The service `key` names (its id or slug).
pub fn find_service<'a>(
    services: &'a [registry::ImputationService],
    key: &str,
) -> Result<&'a registry::ImputationService, CliError> {
    services
        .iter()
        .find(|s| s.slug == key || s.id.to_string() == key)
        .ok_or_else(|| {
            let known: Vec<&str> = services.iter().map(|s| s.slug.as_str()).collect();
            CliError::usage(format!(
                "no service {key}: use an id or slug from `fip services` ({})",
                known.join(", ")
            ))
        })
}

/// The panel `key` names (its id or slug) among `panels`.
pub fn find_panel<'a>(
    panels: &'a [registry::ReferencePanel],
    service: &registry::ImputationService,
    key: &str,
) -> Result<&'a registry::ReferencePanel, CliError> {
    panels
        .iter()
        .find(|p| p.slug == key || p.id.to_string() == key)
        .ok_or_else(|| {
            CliError::usage(format!(
                "{} has no panel {key}: use an id or slug from `fip panels --service {}`",
                service.name, service.slug
            ))
        })
}

/// Lists the services.
pub async fn services(global: &Global) -> Result<(), CliError> {
    let mut hub = Hub::open(global.profile.as_deref())?;
    let services = all_services(&mut hub).await?;
    if global.out.json {
        let list: Vec<_> = services
            .iter()
            .map(|s| {
                json!({
                    "id": s.id, "slug": s.slug, "name": s.name,
                    "api_type": names::api_type(s.api_type),
                    "base_url": s.base_url,
                    "builds": s.supported_builds.iter().map(|b| names::build(*b)).collect::<Vec<_>>(),
                    "is_available": s.is_available,
                    "reference_panel_count": s.reference_panel_count,
                })
            })
            .collect();
        global.out.print_json(&json!({ "services": list }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.slug.clone(),
                s.name.clone(),
                names::api_type(s.api_type),
                s.supported_builds
                    .iter()
                    .map(|b| names::build(*b))
                    .collect::<Vec<_>>()
                    .join(","),
                if s.is_available { "up" } else { "down" }.to_owned(),
                s.reference_panel_count.to_string(),
            ]
        })
        .collect();
    global.out.table(
        &["ID", "SLUG", "NAME", "API", "BUILDS", "HEALTH", "PANELS"],
        &rows,
    );
    Ok(())
}

/// Lists reference panels.
pub async fn panels(args: PanelsArgs, global: &Global) -> Result<(), CliError> {
    let mut hub = Hub::open(global.profile.as_deref())?;
    let services = all_services(&mut hub).await?;
    let service_id = match &args.service {
        Some(key) => find_service(&services, key)?.id,
        None => 0,
    };
    let panels = all_panels(&mut hub, service_id).await?;
    let slug_of = |id: i64| {
        services
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.slug.clone())
            .unwrap_or_else(|| id.to_string())
    };
    if global.out.json {
        let list: Vec<_> = panels
            .iter()
            .map(|p| {
                json!({
                    "id": p.id, "service_id": p.service_id, "service": slug_of(p.service_id),
                    "slug": p.slug, "name": p.name, "build": names::build(p.build),
                    "populations": p.populations.iter().map(|pop| json!({"id": pop.id, "name": pop.name})).collect::<Vec<_>>(),
                    "default_population": p.default_population,
                })
            })
            .collect();
        global.out.print_json(&json!({ "reference_panels": list }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = panels
        .iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                slug_of(p.service_id),
                p.slug.clone(),
                p.name.clone(),
                names::build(p.build),
                p.populations
                    .iter()
                    .map(|pop| pop.id.clone())
                    .collect::<Vec<_>>()
                    .join(","),
            ]
        })
        .collect();
    global.out.table(
        &["ID", "SERVICE", "SLUG", "NAME", "BUILD", "POPULATIONS"],
        &rows,
    );
    Ok(())
}
