//! Reference-panel discovery (`SyncReferencePanels`) against an emulated
//! Cloudgene server that lists panels to token holders only.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fip_kit::testing::with_token;
use fip_proto::common::v1::{ErrorReason, GenomeBuild as B};
use fip_proto::registry::v1 as pb;
use serde_json::{Value, json};
use tonic::Code;

use crate::support::{Api, Emulator, expect_reason, wire_service};

const TOKEN: &str = "s3cret-discovery-token";

/// What the emulated server answers for the app definition.
#[derive(Clone)]
enum Answer {
    Definition(Value),
    Status(u16),
    Garbage,
}

fn definition(panels: &[(&str, &str, &[&str])]) -> Value {
    json!({
        "id": "imputationserver2",
        "name": "Genotype Imputation",
        "params": [
            {
                "id": "refpanel",
                "type": "app_list",
                "values": panels
                    .iter()
                    .map(|(key, name, _)| json!({"key": key, "value": name}))
                    .collect::<Vec<_>>(),
            },
            {
                "id": "population",
                "type": "binded_list",
                "bind": "refpanel",
                "values": panels
                    .iter()
                    .map(|(key, _, populations)| json!({
                        "key": key,
                        "values": populations
                            .iter()
                            .map(|p| json!({"key": p, "value": p.to_uppercase()}))
                            .collect::<Vec<_>>(),
                    }))
                    .collect::<Vec<_>>(),
            }
        ]
    })
}

fn server_panels() -> Value {
    definition(&[
        (
            "apps@1000g-phase-3-v5@2.0.0",
            "1000G Phase 3 (GRCh37/hg19)",
            &["afr", "eur", "off"],
        ),
        (
            "apps@h3africa-v6hc-s@1.0.0",
            "H3Africa v6 high coverage (GRCh38/hg38)",
            &["mixed"],
        ),
        (
            "apps@topmed-r3@1.0.0",
            "TOPMed r3 (GRCh38/hg38)",
            &["all", "off"],
        ),
    ])
}

async fn cloudgene(answer: Answer) -> (Emulator, Arc<Mutex<Answer>>) {
    let state = Arc::new(Mutex::new(answer));
    let router = Router::new()
        .route(
            "/api/v2/server/apps/{app}",
            get(
                |State(state): State<Arc<Mutex<Answer>>>,
                 Path(app): Path<String>,
                 headers: HeaderMap| async move {
                    let authorised = headers
                        .get("x-auth-token")
                        .is_some_and(|t| t.as_bytes() == TOKEN.as_bytes());
                    if !authorised {
                        return (
                            StatusCode::UNAUTHORIZED,
                            axum::Json(json!({"success": false, "message": "Login required."})),
                        )
                            .into_response();
                    }
                    if app != "imputationserver2" {
                        return StatusCode::NOT_FOUND.into_response();
                    }
                    let answer = state.lock().unwrap().clone();
                    let response: Response = match answer {
                        Answer::Definition(value) => axum::Json(value).into_response(),
                        Answer::Status(code) => (
                            StatusCode::from_u16(code).unwrap(),
                            axum::Json(json!({"success": false, "message": "Server error."})),
                        )
                            .into_response(),
                        Answer::Garbage => {
                            ([("content-type", "application/json")], "{not json").into_response()
                        }
                    };
                    response
                },
            ),
        )
        .with_state(state.clone());
    (Emulator::start(router).await, state)
}

fn sync(id: i64, dry_run: bool, keep_missing: bool, token: &str) -> pb::SyncReferencePanelsRequest {
    pb::SyncReferencePanelsRequest {
        id,
        dry_run,
        keep_missing,
        api_token: token.into(),
    }
}

async fn panels(api: &Api, service_id: i64) -> Vec<pb::ReferencePanel> {
    api.client()
        .list_reference_panels(with_token(
            pb::ListReferencePanelsRequest {
                service_id,
                include_inactive: true,
                ..Default::default()
            },
            &api.admin(),
        ))
        .await
        .unwrap()
        .into_inner()
        .reference_panels
}

async fn add_panel(api: &Api, service_id: i64, slug: &str, populations: &[&str], default: &str) {
    api.client()
        .create_reference_panel(with_token(
            pb::CreateReferencePanelRequest {
                service_id,
                reference_panel: Some(pb::ReferencePanel {
                    slug: slug.into(),
                    name: format!("Manual {slug}"),
                    description: "kept across syncs".into(),
                    build: B::Hg19 as i32,
                    populations: populations
                        .iter()
                        .map(|p| pb::Population {
                            id: p.to_string(),
                            ..Default::default()
                        })
                        .collect(),
                    default_population: default.into(),
                    sample_count: 2504,
                    ..Default::default()
                }),
            },
            &api.admin(),
        ))
        .await
        .unwrap();
}

fn slugs(panels: &[pb::ReferencePanel]) -> Vec<&str> {
    let mut slugs: Vec<&str> = panels.iter().map(|p| p.slug.as_str()).collect();
    slugs.sort();
    slugs
}

#[tokio::test]
async fn sync_reconciles_the_catalogue_with_the_server() {
    let (server, _) = cloudgene(Answer::Definition(server_panels())).await;
    let api = Api::new().await;
    let mut client = api.client();
    let service = api.create_service(wire_service("alpha", &server.url)).await;
    add_panel(&api, service.id, "apps@1000g-phase-3-v5", &["eur"], "eur").await;
    add_panel(&api, service.id, "apps@hapmap-2", &["eur"], "").await;
    let before = panels(&api, service.id).await;

    // The server lists panels to token holders only.
    let refused = client
        .sync_reference_panels(with_token(sync(service.id, false, false, ""), &api.admin()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let error = expect_reason(refused, ErrorReason::CredentialsRejected);
    assert_eq!(error.metadata["service_id"], service.id.to_string());
    let refused = client
        .sync_reference_panels(with_token(
            sync(service.id, false, false, TOKEN),
            &api.researcher(),
        ))
        .await
        .unwrap_err();
    expect_reason(refused, ErrorReason::PermissionDenied);

    // A dry run tells what would change and changes nothing.
    let dry = client
        .sync_reference_panels(with_token(
            sync(service.id, true, false, TOKEN),
            &api.admin(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(dry.dry_run);
    assert_eq!(dry.app_id, "imputationserver2");
    assert!(dry.synced_at.is_some());
    assert_eq!(
        slugs(&dry.added),
        ["apps@h3africa-v6hc-s@1.0.0", "apps@topmed-r3@1.0.0"]
    );
    assert!(dry.added.iter().all(|p| p.id == 0));
    assert_eq!(slugs(&dry.updated), ["apps@1000g-phase-3-v5@2.0.0"]);
    assert_eq!(slugs(&dry.deactivated), ["apps@hapmap-2"]);
    assert_eq!(dry.unchanged_count, 0);
    assert_eq!(panels(&api, service.id).await, before);

    // Applied.
    let done = client
        .sync_reference_panels(with_token(
            sync(service.id, false, false, TOKEN),
            &api.service_admin(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!done.dry_run);
    assert_eq!(slugs(&done.added), slugs(&dry.added));
    assert_eq!(slugs(&done.updated), slugs(&dry.updated));
    assert_eq!(slugs(&done.deactivated), slugs(&dry.deactivated));
    let after = panels(&api, service.id).await;
    assert_eq!(after.len(), 4);
    let find = |slug: &str| after.iter().find(|p| p.slug == slug).unwrap().clone();
    let h3africa = find("apps@h3africa-v6hc-s@1.0.0");
    assert!(h3africa.id > 0 && h3africa.is_active);
    assert_eq!(h3africa.source, pb::ReferencePanelSource::Discovered as i32);
    assert_eq!(h3africa.build, B::Hg38 as i32);
    assert_eq!(h3africa.version, "1.0.0");
    assert_eq!(h3africa.name, "H3Africa v6 high coverage (GRCh38/hg38)");
    assert!(h3africa.last_synced_at.is_some());
    let thousand = find("apps@1000g-phase-3-v5@2.0.0");
    assert_eq!(thousand.source, pb::ReferencePanelSource::Manual as i32);
    assert_eq!(thousand.version, "2.0.0");
    assert_eq!(
        thousand
            .populations
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        ["afr", "eur", "off"]
    );
    // What the server does not say stays the administrator's.
    assert_eq!(thousand.default_population, "eur");
    assert_eq!(thousand.description, "kept across syncs");
    assert_eq!(thousand.sample_count, 2504);
    assert!(!find("apps@hapmap-2").is_active);
    let counted = client
        .get_service(with_token(
            pb::GetServiceRequest { id: service.id },
            &api.viewer(),
        ))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap();
    assert_eq!(counted.reference_panel_count, 3);

    // Again: nothing to do.
    let again = client
        .sync_reference_panels(with_token(
            sync(service.id, false, false, TOKEN),
            &api.admin(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(again.added.is_empty() && again.updated.is_empty() && again.deactivated.is_empty());
    assert_eq!(again.unchanged_count, 3);

    // keep_missing leaves unlisted panels alone.
    add_panel(&api, service.id, "apps@extra", &[], "").await;
    let kept = client
        .sync_reference_panels(with_token(
            sync(service.id, false, true, TOKEN),
            &api.admin(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(kept.deactivated.is_empty());
    assert!(find_active(&api, service.id, "apps@extra").await);
    let dropped = client
        .sync_reference_panels(with_token(
            sync(service.id, false, false, TOKEN),
            &api.admin(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(slugs(&dropped.deactivated), ["apps@extra"]);
    assert!(!find_active(&api, service.id, "apps@extra").await);
    api.stop().await;
}

async fn find_active(api: &Api, service_id: i64, slug: &str) -> bool {
    panels(api, service_id)
        .await
        .into_iter()
        .find(|p| p.slug == slug)
        .unwrap()
        .is_active
}

#[tokio::test]
async fn a_configured_discovery_token_is_used() {
    let (server, _) = cloudgene(Answer::Definition(server_panels())).await;
    let api = Api::with(|c| {
        c.registry
            .discovery_tokens
            .insert("alpha".into(), TOKEN.into());
    })
    .await;
    let service = api.create_service(wire_service("alpha", &server.url)).await;
    let done = api
        .client()
        .sync_reference_panels(with_token(sync(service.id, false, false, ""), &api.admin()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.added.len(), 3);
    // A wrong token in the request wins over the configured one.
    let refused = api
        .client()
        .sync_reference_panels(with_token(
            sync(service.id, false, false, "wrong"),
            &api.admin(),
        ))
        .await
        .unwrap_err();
    expect_reason(refused, ErrorReason::CredentialsRejected);
    api.stop().await;
}

#[tokio::test]
async fn server_failures_and_wrong_services_are_typed() {
    let (server, state) = cloudgene(Answer::Status(503)).await;
    let api = Api::new().await;
    let mut client = api.client();
    let service = api.create_service(wire_service("alpha", &server.url)).await;

    let down = client
        .sync_reference_panels(with_token(
            sync(service.id, false, false, TOKEN),
            &api.admin(),
        ))
        .await
        .unwrap_err();
    assert_eq!(down.code(), Code::Unavailable);
    let error = expect_reason(down, ErrorReason::ServiceUnavailable);
    assert_eq!(error.metadata["service_id"], service.id.to_string());

    *state.lock().unwrap() = Answer::Garbage;
    let garbage = client
        .sync_reference_panels(with_token(
            sync(service.id, false, false, TOKEN),
            &api.admin(),
        ))
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), Code::Unavailable);
    let error = expect_reason(garbage, ErrorReason::UpstreamFailed);
    assert_eq!(
        error.metadata["upstream"],
        format!("service:{}", service.id)
    );
    assert!(panels(&api, service.id).await.is_empty());

    let mut wes = wire_service("node", &format!("{}/ga4gh/wes/v1", server.url));
    wes.api_type = pb::ApiType::Ga4ghWes as i32;
    let wes = api.create_service(wes).await;
    let unsupported = client
        .sync_reference_panels(with_token(sync(wes.id, false, false, TOKEN), &api.admin()))
        .await
        .unwrap_err();
    assert_eq!(unsupported.code(), Code::FailedPrecondition);
    let error = expect_reason(unsupported, ErrorReason::OperationNotSupported);
    assert_eq!(error.metadata["api_type"], "ga4gh_wes");
    assert_eq!(error.metadata["operation"], "SyncReferencePanels");

    let missing = client
        .sync_reference_panels(with_token(
            sync(wes.id + 50, false, false, TOKEN),
            &api.admin(),
        ))
        .await
        .unwrap_err();
    expect_reason(missing, ErrorReason::NotFound);
    api.stop().await;
}
