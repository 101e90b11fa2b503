//! The gRPC API of the registry started by `fip_registry::start`: roles,
//! validation, errors, pagination and seeding.

use fip_kit::mesh::ServiceName;
use fip_kit::testing::with_token;
use fip_proto::common::v1::{ErrorReason, GenomeBuild as B};
use fip_proto::registry::v1 as pb;
use fip_proto::registry::v1::imputation_service::ApiSettings as PbSettings;
use prost_types::FieldMask;
use tonic::{Code, Request};

use crate::support::{Api, expect_reason, violated_fields, wire_service};

fn list_all() -> pb::ListServicesRequest {
    pb::ListServicesRequest::default()
}

async fn count_services(api: &Api) -> usize {
    api.client()
        .list_services(with_token(
            pb::ListServicesRequest {
                include_inactive: true,
                ..list_all()
            },
            &api.admin(),
        ))
        .await
        .unwrap()
        .into_inner()
        .services
        .len()
}

#[tokio::test]
async fn callers_need_a_token_and_the_right_role() {
    let api = Api::new().await;
    let mut client = api.client();

    let anonymous = client
        .list_services(Request::new(list_all()))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    expect_reason(anonymous, ErrorReason::TokenMissing);
    let forged = client
        .list_services(with_token(list_all(), "not-a-token"))
        .await
        .unwrap_err();
    expect_reason(forged, ErrorReason::TokenInvalid);

    // A researcher and a viewer read but do not write; nothing is created.
    for token in [api.researcher(), api.viewer()] {
        let refused = client
            .create_service(with_token(
                pb::CreateServiceRequest {
                    service: Some(wire_service("alpha", "https://alpha.example.org")),
                },
                &token,
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        let error = expect_reason(refused, ErrorReason::PermissionDenied);
        assert_eq!(error.metadata["required_role"], "service_admin");
        assert!(
            client
                .list_services(with_token(list_all(), &token))
                .await
                .unwrap()
                .into_inner()
                .services
                .is_empty()
        );
    }
    // A platform service reads but does not write.
    let jobs = api.platform_service(ServiceName::Jobs);
    client
        .list_services(with_token(list_all(), &jobs))
        .await
        .unwrap();
    let refused = client
        .delete_service(with_token(pb::DeleteServiceRequest { id: 1 }, &jobs))
        .await
        .unwrap_err();
    expect_reason(refused, ErrorReason::PermissionDenied);

    // A service admin writes.
    let created = client
        .create_service(with_token(
            pb::CreateServiceRequest {
                service: Some(wire_service("alpha", "https://alpha.example.org/")),
            },
            &api.service_admin(),
        ))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap();
    assert!(created.id > 0);
    assert_eq!(created.base_url, "https://alpha.example.org");
    assert!(created.is_active && created.is_available);
    assert_eq!(
        created.health_status,
        fip_proto::common::v1::HealthStatus::Unknown as i32
    );
    match &created.api_settings {
        Some(PbSettings::Michigan(m)) => assert_eq!(m.app_id, "imputationserver2"),
        other => panic!("{other:?}"),
    }
    let read = client
        .get_service(with_token(
            pb::GetServiceRequest { id: created.id },
            &api.viewer(),
        ))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap();
    assert_eq!(read, created);
    api.stop().await;
}

#[tokio::test]
async fn invalid_services_are_refused_field_by_field_and_change_nothing() {
    let api = Api::new().await;
    let mut client = api.client();
    let bad = pb::ImputationService {
        name: " ".into(),
        slug: "Not A Slug".into(),
        api_type: 0,
        base_url: "http://impute.example.org".into(),
        supported_builds: vec![],
        input_formats: vec![0],
        max_file_size_bytes: -1,
        ..Default::default()
    };
    let status = client
        .create_service(with_token(
            pb::CreateServiceRequest { service: Some(bad) },
            &api.admin(),
        ))
        .await
        .unwrap_err();
    let mut fields = violated_fields(status);
    fields.sort();
    assert_eq!(
        fields,
        [
            "service.api_type",
            "service.base_url",
            "service.input_formats[0]",
            "service.max_file_size_bytes",
            "service.name",
            "service.slug",
            "service.supported_builds",
        ]
    );
    let missing = client
        .create_service(with_token(
            pb::CreateServiceRequest { service: None },
            &api.admin(),
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(missing), ["service"]);

    // WES settings on a Michigan service, and a WES workflow without its keys.
    let mut mismatched = wire_service("alpha", "https://alpha.example.org");
    mismatched.api_settings = Some(PbSettings::Wes(pb::WesSettings {
        default_workflow: Some(pb::WesWorkflow {
            workflow_type: "CWL".into(),
            workflow_type_version: "v1.0".into(),
            workflow_url: "https://example.org/wf.cwl".into(),
            param_names: Some(pb::WesParamNames {
                input: "vcf".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }));
    let status = client
        .create_service(with_token(
            pb::CreateServiceRequest {
                service: Some(mismatched),
            },
            &api.admin(),
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(status), ["service.wes"]);
    let mut incomplete = wire_service("wes", "https://wes.example.org/ga4gh/wes/v1");
    incomplete.api_type = pb::ApiType::Ga4ghWes as i32;
    incomplete.api_settings = Some(PbSettings::Wes(pb::WesSettings {
        default_workflow: Some(pb::WesWorkflow::default()),
        ..Default::default()
    }));
    let status = client
        .create_service(with_token(
            pb::CreateServiceRequest {
                service: Some(incomplete),
            },
            &api.admin(),
        ))
        .await
        .unwrap_err();
    let fields = violated_fields(status);
    for field in [
        "service.wes.default_workflow.workflow_type",
        "service.wes.default_workflow.workflow_url",
        "service.wes.default_workflow.param_names.input",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
    }
    assert_eq!(count_services(&api).await, 0);
    api.stop().await;
}

#[tokio::test]
async fn duplicates_and_unknown_ids_have_typed_errors() {
    let api = Api::new().await;
    let mut client = api.client();
    let first = api
        .create_service(wire_service("alpha", "https://alpha.example.org"))
        .await;
    let duplicate = client
        .create_service(with_token(
            pb::CreateServiceRequest {
                service: Some(wire_service("alpha", "https://other.example.org")),
            },
            &api.admin(),
        ))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    let error = expect_reason(duplicate, ErrorReason::AlreadyExists);
    assert_eq!(error.metadata["resource_type"], "imputation_service");
    assert_eq!(error.metadata["field"], "slug");
    assert_eq!(count_services(&api).await, 1);

    let unknown = first.id + 1000;
    let missing = client
        .get_service(with_token(
            pb::GetServiceRequest { id: unknown },
            &api.viewer(),
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let error = expect_reason(missing, ErrorReason::NotFound);
    assert_eq!(error.metadata["resource_type"], "imputation_service");
    assert_eq!(error.metadata["resource_id"], unknown.to_string());
    for status in [
        client
            .delete_service(with_token(
                pb::DeleteServiceRequest { id: unknown },
                &api.admin(),
            ))
            .await
            .unwrap_err(),
        client
            .get_reference_panel(with_token(
                pb::GetReferencePanelRequest { id: unknown },
                &api.viewer(),
            ))
            .await
            .unwrap_err(),
        client
            .get_service_health(with_token(
                pb::GetServiceHealthRequest { id: unknown },
                &api.viewer(),
            ))
            .await
            .unwrap_err(),
        client
            .list_reference_panels(with_token(
                pb::ListReferencePanelsRequest {
                    service_id: unknown,
                    ..Default::default()
                },
                &api.viewer(),
            ))
            .await
            .unwrap_err(),
    ] {
        expect_reason(status, ErrorReason::NotFound);
    }
    let zero = client
        .get_service(with_token(pb::GetServiceRequest { id: 0 }, &api.viewer()))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(zero), ["id"]);

    client
        .delete_service(with_token(
            pb::DeleteServiceRequest { id: first.id },
            &api.admin(),
        ))
        .await
        .unwrap();
    let gone = client
        .get_service(with_token(
            pb::GetServiceRequest { id: first.id },
            &api.admin(),
        ))
        .await
        .unwrap_err();
    expect_reason(gone, ErrorReason::NotFound);
    api.stop().await;
}

#[tokio::test]
async fn updates_follow_the_mask_and_deactivation_hides_a_service() {
    let api = Api::new().await;
    let mut client = api.client();
    let created = api
        .create_service(wire_service("alpha", "https://alpha.example.org"))
        .await;
    api.create_service(wire_service("bravo", "https://bravo.example.org"))
        .await;
    let update = |service: pb::ImputationService, paths: &[&str]| pb::UpdateServiceRequest {
        id: created.id,
        service: Some(service),
        update_mask: Some(FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
    };

    // Only masked fields change; the michigan app id is set by its path.
    let changes = pb::ImputationService {
        name: "Alpha Server".into(),
        description: "ignored: not in the mask".into(),
        api_settings: Some(PbSettings::Michigan(pb::MichiganSettings {
            app_id: "minimac4".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let updated = client
        .update_service(with_token(
            update(changes, &["name", "michigan.app_id"]),
            &api.admin(),
        ))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap();
    assert_eq!(updated.name, "Alpha Server");
    assert_eq!(updated.description, "");
    assert_eq!(updated.slug, "alpha");
    match updated.api_settings {
        Some(PbSettings::Michigan(m)) => assert_eq!(m.app_id, "minimac4"),
        other => panic!("{other:?}"),
    }

    // Refused: a taken slug, a bad URL, another API type, unknown paths.
    let taken = client
        .update_service(with_token(
            update(
                pb::ImputationService {
                    slug: "bravo".into(),
                    ..Default::default()
                },
                &["slug"],
            ),
            &api.admin(),
        ))
        .await
        .unwrap_err();
    expect_reason(taken, ErrorReason::AlreadyExists);
    let invalid = client
        .update_service(with_token(
            update(
                pb::ImputationService {
                    base_url: "ftp://alpha.example.org".into(),
                    ..Default::default()
                },
                &["base_url", "colour"],
            ),
            &api.admin(),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(invalid),
        ["service.base_url", "update_mask"]
    );
    let retyped = client
        .update_service(with_token(
            update(
                pb::ImputationService {
                    api_type: pb::ApiType::Ga4ghWes as i32,
                    ..Default::default()
                },
                &["api_type"],
            ),
            &api.admin(),
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(retyped), ["service.api_type"]);
    let out_of_range = client
        .update_service(with_token(
            update(
                pb::ImputationService {
                    api_settings: Some(PbSettings::Michigan(pb::MichiganSettings {
                        r2_filter_values: vec![0.3, 1.5],
                        ..Default::default()
                    })),
                    ..Default::default()
                },
                &["michigan.r2_filter_values", "michigan.aes_encryption"],
            ),
            &api.admin(),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(out_of_range),
        ["service.michigan.r2_filter_values[1]"]
    );
    let unchanged = client
        .get_service(with_token(
            pb::GetServiceRequest { id: created.id },
            &api.admin(),
        ))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap();
    assert_eq!(unchanged.slug, "alpha");
    assert_eq!(unchanged.base_url, "https://alpha.example.org");

    // Deactivated: gone for viewers, still there for admins and platform services.
    let off = client
        .update_service(with_token(
            update(pb::ImputationService::default(), &["is_active"]),
            &api.admin(),
        ))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap();
    assert!(!off.is_active && !off.is_available);
    let hidden = client
        .get_service(with_token(
            pb::GetServiceRequest { id: created.id },
            &api.viewer(),
        ))
        .await
        .unwrap_err();
    expect_reason(hidden, ErrorReason::NotFound);
    client
        .get_service(with_token(
            pb::GetServiceRequest { id: created.id },
            &api.platform_service(ServiceName::Jobs),
        ))
        .await
        .unwrap();
    let listed = |token: String, include_inactive: bool| {
        let mut client = api.client();
        async move {
            client
                .list_services(with_token(
                    pb::ListServicesRequest {
                        include_inactive,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner()
                .services
                .into_iter()
                .map(|s| s.slug)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(api.viewer(), true).await, ["bravo"]);
    assert_eq!(listed(api.admin(), false).await, ["bravo"]);
    assert_eq!(listed(api.admin(), true).await, ["alpha", "bravo"]);
    api.stop().await;
}

#[tokio::test]
async fn listings_page_with_tokens_bound_to_their_filters() {
    let api = Api::new().await;
    let mut client = api.client();
    for slug in ["echo", "alpha", "delta", "bravo", "charlie"] {
        let mut service = wire_service(slug, &format!("https://{slug}.example.org"));
        service.name = slug.into();
        if slug == "delta" {
            service.supported_builds = vec![B::Hg38 as i32];
        }
        api.create_service(service).await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_services(with_token(
                pb::ListServicesRequest {
                    page_size: 2,
                    page_token: token.clone(),
                    ..Default::default()
                },
                &api.viewer(),
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.services.len() <= 2);
        seen.extend(page.services.into_iter().map(|s| s.slug));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);

    let first = client
        .list_services(with_token(
            pb::ListServicesRequest {
                page_size: 2,
                ..Default::default()
            },
            &api.viewer(),
        ))
        .await
        .unwrap()
        .into_inner();
    // The token of one listing does not continue another.
    let other_filters = client
        .list_services(with_token(
            pb::ListServicesRequest {
                page_size: 2,
                page_token: first.next_page_token.clone(),
                build: B::Hg19 as i32,
                ..Default::default()
            },
            &api.viewer(),
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(other_filters), ["page_token"]);
    for (page_size, page_token, field) in [
        (0, "garbage".to_string(), "page_token"),
        (-1, String::new(), "page_size"),
    ] {
        let status = client
            .list_services(with_token(
                pb::ListServicesRequest {
                    page_size,
                    page_token,
                    ..Default::default()
                },
                &api.viewer(),
            ))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(status), [field]);
    }
    // Filters: by build.
    let hg19 = client
        .list_services(with_token(
            pb::ListServicesRequest {
                build: B::Hg19 as i32,
                ..Default::default()
            },
            &api.viewer(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hg19.services.len(), 4);
    assert!(hg19.next_page_token.is_empty());
    api.stop().await;
}

#[tokio::test]
async fn panels_are_checked_against_their_service() {
    let api = Api::new().await;
    let mut client = api.client();
    let mut service = wire_service("alpha", "https://alpha.example.org");
    service.supported_builds = vec![B::Hg38 as i32];
    let service = api.create_service(service).await;
    let panel = |slug: &str, build: B| pb::ReferencePanel {
        slug: slug.into(),
        name: format!("Panel {slug}"),
        build: build as i32,
        populations: vec![
            pb::Population {
                id: "afr".into(),
                name: "African".into(),
                sample_count: 10,
            },
            pb::Population {
                id: "mixed".into(),
                ..Default::default()
            },
        ],
        default_population: "afr".into(),
        ..Default::default()
    };
    let create = |p: pb::ReferencePanel| pb::CreateReferencePanelRequest {
        service_id: service.id,
        reference_panel: Some(p),
    };
    let created = client
        .create_reference_panel(with_token(
            create(panel("apps@h3africa-v6hc-s@1.0.0", B::Hg38)),
            &api.service_admin(),
        ))
        .await
        .unwrap()
        .into_inner()
        .reference_panel
        .unwrap();
    assert_eq!(created.service_id, service.id);
    assert!(created.is_active);
    assert_eq!(created.source, pb::ReferencePanelSource::Manual as i32);
    assert_eq!(created.populations.len(), 2);

    let unsupported = client
        .create_reference_panel(with_token(create(panel("p2", B::Hg19)), &api.admin()))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(unsupported), ["reference_panel.build"]);
    let mut with_workflow = panel("p3", B::Hg38);
    with_workflow.wes_workflow = Some(pb::WesWorkflow {
        workflow_type: "CWL".into(),
        workflow_type_version: "v1.0".into(),
        workflow_url: "https://example.org/wf.cwl".into(),
        param_names: Some(pb::WesParamNames {
            input: "vcf".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    let workflow = client
        .create_reference_panel(with_token(create(with_workflow), &api.admin()))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(workflow), ["reference_panel.wes_workflow"]);
    let mut bad = panel("has space", B::Unspecified);
    bad.default_population = "eur".into();
    bad.populations[1].id = "afr".into();
    let mut fields = violated_fields(
        client
            .create_reference_panel(with_token(create(bad), &api.admin()))
            .await
            .unwrap_err(),
    );
    fields.sort();
    assert_eq!(
        fields,
        [
            "reference_panel.build",
            "reference_panel.default_population",
            "reference_panel.populations[1].id",
            "reference_panel.slug",
        ]
    );
    let duplicate = client
        .create_reference_panel(with_token(
            create(panel("apps@h3africa-v6hc-s@1.0.0", B::Hg38)),
            &api.admin(),
        ))
        .await
        .unwrap_err();
    let error = expect_reason(duplicate, ErrorReason::AlreadyExists);
    assert_eq!(error.metadata["resource_type"], "reference_panel");
    let orphan = client
        .create_reference_panel(with_token(
            pb::CreateReferencePanelRequest {
                service_id: service.id + 99,
                reference_panel: Some(panel("p4", B::Hg38)),
            },
            &api.admin(),
        ))
        .await
        .unwrap_err();
    expect_reason(orphan, ErrorReason::NotFound);
    let refused = client
        .create_reference_panel(with_token(create(panel("p5", B::Hg38)), &api.researcher()))
        .await
        .unwrap_err();
    expect_reason(refused, ErrorReason::PermissionDenied);

    // Listing by service; the service counts its active panels.
    let listed = client
        .list_reference_panels(with_token(
            pb::ListReferencePanelsRequest {
                service_id: service.id,
                ..Default::default()
            },
            &api.viewer(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.reference_panels, vec![created.clone()]);
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
    assert_eq!(counted.reference_panel_count, 1);

    // Deactivated: hidden from viewers; its default population must stay known.
    let deactivated = client
        .update_reference_panel(with_token(
            pb::UpdateReferencePanelRequest {
                id: created.id,
                reference_panel: Some(pb::ReferencePanel::default()),
                update_mask: Some(FieldMask {
                    paths: vec!["is_active".into()],
                }),
            },
            &api.admin(),
        ))
        .await
        .unwrap()
        .into_inner()
        .reference_panel
        .unwrap();
    assert!(!deactivated.is_active);
    let hidden = client
        .get_reference_panel(with_token(
            pb::GetReferencePanelRequest { id: created.id },
            &api.viewer(),
        ))
        .await
        .unwrap_err();
    expect_reason(hidden, ErrorReason::NotFound);
    let unknown_population = client
        .update_reference_panel(with_token(
            pb::UpdateReferencePanelRequest {
                id: created.id,
                reference_panel: Some(pb::ReferencePanel {
                    default_population: "eas".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["default_population".into()],
                }),
            },
            &api.admin(),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(unknown_population),
        ["reference_panel.default_population"]
    );
    client
        .delete_reference_panel(with_token(
            pb::DeleteReferencePanelRequest { id: created.id },
            &api.admin(),
        ))
        .await
        .unwrap();
    let gone = client
        .get_reference_panel(with_token(
            pb::GetReferencePanelRequest { id: created.id },
            &api.admin(),
        ))
        .await
        .unwrap_err();
    expect_reason(gone, ErrorReason::NotFound);
    api.stop().await;
}

#[tokio::test]
async fn the_public_catalogue_is_seeded_once() {
    let api = Api::with(|c| c.registry.seed_catalog = true).await;
    let mut client = api.client();
    let visible = client
        .list_services(with_token(list_all(), &api.viewer()))
        .await
        .unwrap()
        .into_inner()
        .services;
    let mut slugs: Vec<_> = visible.iter().map(|s| s.slug.as_str()).collect();
    slugs.sort();
    // The WES node waits, inactive, for its workflow.
    assert_eq!(slugs, ["h3africa", "michigan", "topmed"]);
    assert_eq!(count_services(&api).await, 4);
    let h3africa = visible.iter().find(|s| s.slug == "h3africa").unwrap();
    assert_eq!(h3africa.base_url, "https://impute.afrigen-d.org");
    assert_eq!(h3africa.api_type, pb::ApiType::Michigan as i32);
    let panels = client
        .list_reference_panels(with_token(
            pb::ListReferencePanelsRequest {
                service_id: h3africa.id,
                ..Default::default()
            },
            &api.viewer(),
        ))
        .await
        .unwrap()
        .into_inner()
        .reference_panels;
    assert_eq!(panels.len(), 1);
    assert_eq!(panels[0].slug, "apps@h3africa-v6hc-s@1.0.0");
    assert_eq!(panels[0].build, B::Hg38 as i32);

    // An admin removes one; a restart does not bring the catalogue back.
    client
        .delete_service(with_token(
            pb::DeleteServiceRequest { id: h3africa.id },
            &api.admin(),
        ))
        .await
        .unwrap();
    let api = api.restart().await;
    assert_eq!(count_services(&api).await, 3);
    api.stop().await;
}

#[tokio::test]
async fn seeding_can_be_turned_off() {
    let api = Api::with(|c| c.registry.seed_catalog = false).await;
    assert_eq!(count_services(&api).await, 0);
    api.stop().await;
}
