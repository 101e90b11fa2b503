//! The store conformance suite: every `Store` implementation must pass it,
//! on SQLite and on PostgreSQL (`FIP_TEST_DATABASE_URL`).

use std::collections::BTreeMap;

use fip_registry::model::{
    ApiSettings, ApiType, CheckTrigger, GenomeBuild, HealthState, HealthStatus, NewHealthCheck,
    PanelSource, Population, WesInputDelivery, WesParamNames, WesServerInfo, WesSettings,
    WesWorkflow,
};
use fip_registry::store::{
    CheckCursor, CheckFilter, Claim, PanelFilter, ServiceCursor, ServiceFilter, SqlStore, Store,
    StoreError, SyncChanges,
};

use crate::support::{michigan_spec, panel_spec, test_db, wes_spec};

const T0: i64 = 1_700_000_000_000;

fn workflow() -> WesWorkflow {
    let mut fixed = serde_json::Map::new();
    fixed.insert("threads".into(), serde_json::json!(4));
    fixed.insert(
        "nested".into(),
        serde_json::json!({"a": [1, "b", null, true]}),
    );
    WesWorkflow {
        workflow_type: "NEXTFLOW".into(),
        workflow_type_version: "DSL2".into(),
        workflow_url: "https://github.com/h3abionet/chipimputation".into(),
        workflow_engine: String::new(),
        workflow_engine_version: String::new(),
        input_delivery: Some(WesInputDelivery::SignedUrl),
        signed_url_ttl_seconds: 3600,
        param_names: WesParamNames {
            input: "target".into(),
            build: "build".into(),
            ..WesParamNames::default()
        },
        fixed_params: fixed,
        engine_parameters: serde_json::Map::new(),
        tags: BTreeMap::from([("project".into(), "elwazi".into())]),
    }
}

fn check(status: HealthStatus, at: i64) -> NewHealthCheck {
    NewHealthCheck {
        status,
        response_time_ms: 12,
        http_status: if status.is_up() { 200 } else { 503 },
        error: if status.is_up() {
            String::new()
        } else {
            "HTTP 503".into()
        },
        checked_at: at,
        trigger: CheckTrigger::Scheduled,
    }
}

/// A next-state function that records the check plainly.
fn take(check: &NewHealthCheck) -> impl Fn(&HealthState) -> HealthState + Send + Sync + '_ {
    move |prev| HealthState {
        status: check.status,
        last_check_at: Some(check.checked_at),
        consecutive_failures: if check.status.is_up() {
            0
        } else {
            prev.consecutive_failures + 1
        },
        ..prev.clone()
    }
}

#[tokio::test]
async fn services_round_trip_with_their_settings() {
    let t = test_db().await;
    let store = SqlStore::new(t.db.clone());
    let michigan = michigan_spec("h3africa", "H3Africa", "https://impute.afrigen-d.org");
    let created = store.insert_service(&michigan, T0).await.unwrap();
    assert!(created.id > 0);
    assert_eq!(created.spec, michigan);
    assert_eq!(created.created_at, T0);
    assert_eq!(created.updated_at, T0);
    assert_eq!(created.health, HealthState::default());
    assert!(created.is_available());
    assert_eq!(created.reference_panel_count, 0);

    let mut wes = wes_spec("ilifu", "https://wes.example.org/ga4gh/wes/v1");
    wes.settings = ApiSettings::Wes(WesSettings {
        default_workflow: Some(workflow()),
        supported_wes_versions: vec!["1.0.0".into()],
        workflow_type_versions: vec!["NEXTFLOW 22.10.0".into()],
    });
    let wes_created = store.insert_service(&wes, T0 + 1).await.unwrap();
    assert!(wes_created.id > created.id);
    let read = store.get_service(wes_created.id).await.unwrap().unwrap();
    assert_eq!(read.spec, wes);
    assert_eq!(read.spec.api_type, ApiType::Ga4ghWes);
    assert_eq!(store.get_service(wes_created.id + 100).await.unwrap(), None);
    assert_eq!(store.count_services().await.unwrap(), 2);
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn service_slugs_are_unique() {
    let t = test_db().await;
    let store = SqlStore::new(t.db.clone());
    let a = store
        .insert_service(&michigan_spec("alpha", "Alpha", "https://a.org"), T0)
        .await
        .unwrap();
    let b = store
        .insert_service(&michigan_spec("beta", "Beta", "https://b.org"), T0)
        .await
        .unwrap();
    let taken = store
        .insert_service(&michigan_spec("alpha", "Other", "https://c.org"), T0)
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict("slug"))),
        "{taken:?}"
    );
    let mut renamed = b.spec.clone();
    renamed.slug = "alpha".into();
    let clash = store.update_service(b.id, &renamed, T0 + 5).await;
    assert!(
        matches!(clash, Err(StoreError::Conflict("slug"))),
        "{clash:?}"
    );
    // Nothing changed.
    assert_eq!(
        store.get_service(b.id).await.unwrap().unwrap().spec.slug,
        "beta"
    );
    assert_eq!(
        store.get_service(a.id).await.unwrap().unwrap().spec.name,
        "Alpha"
    );
    assert_eq!(store.count_services().await.unwrap(), 2);
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn updates_replace_writable_fields_only() {
    let t = test_db().await;
    let store = SqlStore::new(t.db.clone());
    let created = store
        .insert_service(&michigan_spec("alpha", "Alpha", "https://a.org"), T0)
        .await
        .unwrap();
    let mut spec = created.spec.clone();
    spec.name = "Alpha 2".into();
    spec.supported_builds = vec![GenomeBuild::Hg38];
    spec.is_active = false;
    let updated = store
        .update_service(created.id, &spec, T0 + 10)
        .await
        .unwrap();
    assert_eq!(updated.spec, spec);
    assert_eq!(updated.created_at, T0);
    assert_eq!(updated.updated_at, T0 + 10);
    assert!(!updated.is_available());
    let missing = store.update_service(created.id + 9, &spec, T0).await;
    assert!(
        matches!(missing, Err(StoreError::Missing(_))),
        "{missing:?}"
    );
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn service_listing_filters_orders_and_pages() {
    let t = test_db().await;
    let store = SqlStore::new(t.db.clone());
    let mut ids = BTreeMap::new();
    for (slug, name) in [
        ("c", "Charlie"),
        ("a", "Alpha"),
        ("b", "Bravo"),
        ("d", "Delta"),
    ] {
        let slug = format!("{slug}{slug}");
        let s = store
            .insert_service(&michigan_spec(&slug, name, "https://x.org"), T0)
            .await
            .unwrap();
        ids.insert(name, s.id);
    }
    let wes = store
        .insert_service(&wes_spec("echo", "https://e.org"), T0)
        .await
        .unwrap();
    // Delta is inactive; Bravo is marked unavailable by its health.
    let mut delta = store.get_service(ids["Delta"]).await.unwrap().unwrap().spec;
    delta.is_active = false;
    store
        .update_service(ids["Delta"], &delta, T0)
        .await
        .unwrap();
    store
        .record_check(
            ids["Bravo"],
            &check(HealthStatus::Unhealthy, T0),
            &|prev: &HealthState| HealthState {
                available: false,
                ..prev.clone()
            },
            None,
            10,
            0,
        )
        .await
        .unwrap();

    let names = |services: Vec<fip_registry::model::Service>| {
        services
            .into_iter()
            .map(|s| s.spec.name)
            .collect::<Vec<_>>()
    };
    let all = ServiceFilter::default();
    assert_eq!(
        names(store.list_services(&all, None, 10).await.unwrap()),
        ["Alpha", "Bravo", "Charlie", "WES echo"]
    );
    let with_inactive = ServiceFilter {
        include_inactive: true,
        ..ServiceFilter::default()
    };
    assert_eq!(
        names(store.list_services(&with_inactive, None, 10).await.unwrap()),
        ["Alpha", "Bravo", "Charlie", "Delta", "WES echo"]
    );
    let available = ServiceFilter {
        available_only: true,
        include_inactive: true,
        ..ServiceFilter::default()
    };
    assert_eq!(
        names(store.list_services(&available, None, 10).await.unwrap()),
        ["Alpha", "Charlie", "WES echo"]
    );
    let wes_only = ServiceFilter {
        api_type: Some(ApiType::Ga4ghWes),
        ..ServiceFilter::default()
    };
    let found = store.list_services(&wes_only, None, 10).await.unwrap();
    assert_eq!(found.iter().map(|s| s.id).collect::<Vec<_>>(), [wes.id]);
    let hg19 = ServiceFilter {
        build: Some(GenomeBuild::Hg19),
        include_inactive: true,
        ..ServiceFilter::default()
    };
    // The WES service supports hg38 only.
    assert_eq!(
        names(store.list_services(&hg19, None, 10).await.unwrap()),
        ["Alpha", "Bravo", "Charlie", "Delta"]
    );

    let first = store.list_services(&with_inactive, None, 2).await.unwrap();
    assert_eq!(names(first.clone()), ["Alpha", "Bravo"]);
    let last = first.last().unwrap();
    let cursor = ServiceCursor {
        name: last.spec.name.clone(),
        id: last.id,
    };
    let second = store
        .list_services(&with_inactive, Some(&cursor), 2)
        .await
        .unwrap();
    assert_eq!(names(second), ["Charlie", "Delta"]);
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn panels_round_trip_unique_within_their_service() {
    let t = test_db().await;
    let store = SqlStore::new(t.db.clone());
    let a = store
        .insert_service(&michigan_spec("alpha", "Alpha", "https://a.org"), T0)
        .await
        .unwrap();
    let b = store
        .insert_service(&wes_spec("bravo", "https://b.org"), T0)
        .await
        .unwrap();
    let mut spec = panel_spec("apps@1000g-phase-3-v5@2.0.0", "1000G", GenomeBuild::Hg19);
    spec.populations = vec![
        Population {
            id: "afr".into(),
            name: "AFR".into(),
            sample_count: 661,
        },
        Population {
            id: "eur".into(),
            name: "EUR".into(),
            sample_count: 503,
        },
    ];
    spec.default_population = "afr".into();
    spec.sample_count = 2504;
    spec.variant_count = 49_143_605;
    spec.version = "2.0.0".into();
    let panel = store
        .insert_panel(a.id, &spec, PanelSource::Manual, T0)
        .await
        .unwrap();
    assert_eq!(panel.spec, spec);
    assert_eq!(panel.service_id, a.id);
    assert_eq!(panel.source, PanelSource::Manual);
    assert_eq!(panel.last_synced_at, None);
    assert_eq!(store.get_panel(panel.id).await.unwrap().unwrap(), panel);

    let taken = store
        .insert_panel(a.id, &spec, PanelSource::Manual, T0)
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict("slug"))),
        "{taken:?}"
    );
    // The same slug in another service is fine, and a workflow is kept.
    let mut wes_panel = spec.clone();
    wes_panel.wes_workflow = Some(workflow());
    let other = store
        .insert_panel(b.id, &wes_panel, PanelSource::Discovered, T0)
        .await
        .unwrap();
    assert_eq!(other.spec, wes_panel);
    assert_eq!(other.last_synced_at, Some(T0));
    let orphan = store
        .insert_panel(b.id + 100, &spec, PanelSource::Manual, T0)
        .await;
    assert!(matches!(orphan, Err(StoreError::Missing(_))), "{orphan:?}");

    let mut changed = spec.clone();
    changed.populations.pop();
    changed.name = "1000 Genomes".into();
    let updated = store
        .update_panel(panel.id, &changed, T0 + 1)
        .await
        .unwrap();
    assert_eq!(updated.spec, changed);
    assert_eq!(updated.updated_at, T0 + 1);
    assert_eq!(
        store
            .get_service(a.id)
            .await
            .unwrap()
            .unwrap()
            .reference_panel_count,
        1
    );
    assert!(store.delete_panel(panel.id).await.unwrap());
    assert!(!store.delete_panel(panel.id).await.unwrap());
    assert_eq!(store.get_panel(panel.id).await.unwrap(), None);
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn panel_listing_hides_inactive_and_pages() {
    let t = test_db().await;
    let store = SqlStore::new(t.db.clone());
    let a = store
        .insert_service(&michigan_spec("alpha", "Alpha", "https://a.org"), T0)
        .await
        .unwrap();
    let b = store
        .insert_service(&michigan_spec("bravo", "Bravo", "https://b.org"), T0)
        .await
        .unwrap();
    for (service, slug, name, build) in [
        (a.id, "p3", "Panel C", GenomeBuild::Hg19),
        (a.id, "p1", "Panel A", GenomeBuild::Hg38),
        (a.id, "p2", "Panel B", GenomeBuild::Hg19),
        (b.id, "q1", "Other", GenomeBuild::Hg19),
    ] {
        store
            .insert_panel(
                service,
                &panel_spec(slug, name, build),
                PanelSource::Manual,
                T0,
            )
            .await
            .unwrap();
    }
    let slugs = |panels: Vec<fip_registry::model::Panel>| {
        panels.into_iter().map(|p| p.spec.slug).collect::<Vec<_>>()
    };
    let all = PanelFilter::default();
    assert_eq!(
        slugs(store.list_panels(&all, None, 10).await.unwrap()),
        ["p1", "p2", "p3", "q1"]
    );
    let of_a = PanelFilter {
        service_id: Some(a.id),
        build: Some(GenomeBuild::Hg19),
        ..PanelFilter::default()
    };
    assert_eq!(
        slugs(store.list_panels(&of_a, None, 10).await.unwrap()),
        ["p2", "p3"]
    );
    let page = store.list_panels(&all, None, 2).await.unwrap();
    let last = page.last().unwrap();
    let cursor = fip_registry::store::PanelCursor {
        service_id: last.service_id,
        name: last.spec.name.clone(),
        id: last.id,
    };
    assert_eq!(
        slugs(store.list_panels(&all, Some(&cursor), 10).await.unwrap()),
        ["p3", "q1"]
    );
    // Deactivating service B hides its panel unless inactive ones are asked for.
    let mut inactive = b.spec.clone();
    inactive.is_active = false;
    store.update_service(b.id, &inactive, T0).await.unwrap();
    assert_eq!(
        slugs(store.list_panels(&all, None, 10).await.unwrap()),
        ["p1", "p2", "p3"]
    );
    let everything = PanelFilter {
        include_inactive: true,
        ..PanelFilter::default()
    };
    assert_eq!(
        store
            .list_panels(&everything, None, 10)
            .await
            .unwrap()
            .len(),
        4
    );
    // Deleting a service removes its panels.
    assert!(store.delete_service(a.id).await.unwrap());
    assert_eq!(
        slugs(store.list_panels(&everything, None, 10).await.unwrap()),
        ["q1"]
    );
    assert!(store.panels_of_service(a.id).await.unwrap().is_empty());
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn checks_move_health_and_are_pruned() {
    let t = test_db().await;
    let store = SqlStore::new(t.db.clone());
    let s = store
        .insert_service(&wes_spec("alpha", "https://a.org"), T0)
        .await
        .unwrap();
    let info = WesServerInfo {
        supported_wes_versions: vec!["1.1.0".into()],
        workflow_type_versions: vec!["CWL v1.0".into()],
    };
    let statuses = [
        HealthStatus::Healthy,
        HealthStatus::Unhealthy,
        HealthStatus::Unhealthy,
        HealthStatus::Degraded,
        HealthStatus::Unhealthy,
    ];
    let mut recorded = Vec::new();
    for (i, status) in statuses.into_iter().enumerate() {
        let c = check(status, T0 + i as i64 * 1000);
        recorded.push(
            store
                .record_check(s.id, &c, &take(&c), Some(&info), 3, T0 - 1)
                .await
                .unwrap(),
        );
    }
    let service = store.get_service(s.id).await.unwrap().unwrap();
    assert_eq!(service.health.status, HealthStatus::Unhealthy);
    assert_eq!(service.health.last_check_at, Some(T0 + 4000));
    assert_eq!(service.health.consecutive_failures, 1);
    match service.spec.settings {
        ApiSettings::Wes(w) => assert_eq!(
            (w.supported_wes_versions, w.workflow_type_versions),
            (
                info.supported_wes_versions.clone(),
                info.workflow_type_versions.clone()
            )
        ),
        other => panic!("{other:?}"),
    }
    // Only the newest three are kept, newest first.
    let filter = CheckFilter {
        service_id: s.id,
        ..CheckFilter::default()
    };
    let kept = store.list_checks(&filter, None, 10).await.unwrap();
    assert_eq!(
        kept.iter().map(|c| c.id).collect::<Vec<_>>(),
        [recorded[4].id, recorded[3].id, recorded[2].id]
    );
    assert_eq!(kept[0], recorded[4]);
    let unhealthy = CheckFilter {
        status: Some(HealthStatus::Unhealthy),
        ..filter.clone()
    };
    assert_eq!(
        store.list_checks(&unhealthy, None, 10).await.unwrap().len(),
        2
    );
    let window = CheckFilter {
        checked_after: Some(T0 + 3000),
        checked_before: Some(T0 + 4000),
        ..filter.clone()
    };
    assert_eq!(
        store.list_checks(&window, None, 10).await.unwrap()[0].id,
        recorded[3].id
    );
    let cursor = CheckCursor {
        checked_at: kept[0].checked_at,
        id: kept[0].id,
    };
    assert_eq!(
        store.list_checks(&filter, Some(&cursor), 1).await.unwrap()[0].id,
        recorded[3].id
    );
    assert_eq!(store.check_counts(s.id, T0).await.unwrap(), (3, 1));
    assert_eq!(store.check_counts(s.id, T0 + 3500).await.unwrap(), (1, 0));

    // Checks older than the retention are dropped too.
    let late = check(HealthStatus::Healthy, T0 + 100_000);
    store
        .record_check(s.id, &late, &take(&late), None, 3, T0 + 50_000)
        .await
        .unwrap();
    assert_eq!(store.list_checks(&filter, None, 10).await.unwrap().len(), 1);

    let gone = store
        .record_check(s.id + 50, &late, &take(&late), None, 3, 0)
        .await;
    assert!(matches!(gone, Err(StoreError::Missing(_))), "{gone:?}");
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn on_demand_claims_are_spaced() {
    let t = test_db().await;
    let store = SqlStore::new(t.db.clone());
    let s = store
        .insert_service(&michigan_spec("alpha", "Alpha", "https://a.org"), T0)
        .await
        .unwrap();
    assert_eq!(
        store.claim_on_demand(s.id, T0, 10_000).await.unwrap(),
        Claim::Granted
    );
    assert_eq!(
        store
            .claim_on_demand(s.id, T0 + 9_999, 10_000)
            .await
            .unwrap(),
        Claim::TooSoon { last_at: T0 }
    );
    assert_eq!(
        store
            .claim_on_demand(s.id, T0 + 10_000, 10_000)
            .await
            .unwrap(),
        Claim::Granted
    );
    assert_eq!(
        store.claim_on_demand(s.id + 1, T0, 10_000).await.unwrap(),
        Claim::NoSuchService
    );
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn seeding_happens_once_into_an_empty_store() {
    let t = test_db().await;
    let store = SqlStore::new(t.db.clone());
    let catalog: Vec<_> = fip_registry::catalog::catalog()
        .into_iter()
        .map(|e| (e.service, e.panels))
        .collect();
    assert!(store.seed(&catalog, T0).await.unwrap());
    assert!(!store.seed(&catalog, T0).await.unwrap());
    let all = ServiceFilter {
        include_inactive: true,
        ..ServiceFilter::default()
    };
    let services = store.list_services(&all, None, 100).await.unwrap();
    assert_eq!(services.len(), catalog.len());
    for (spec, panels) in &catalog {
        let stored = services.iter().find(|s| s.spec.slug == spec.slug).unwrap();
        assert_eq!(&stored.spec, spec);
        let stored_panels = store.panels_of_service(stored.id).await.unwrap();
        assert_eq!(stored_panels.len(), panels.len(), "{}", spec.slug);
        for panel in panels {
            assert!(
                stored_panels.iter().any(|p| &p.spec == panel),
                "{}",
                panel.slug
            );
        }
    }
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn syncs_apply_at_once() {
    let t = test_db().await;
    let store = SqlStore::new(t.db.clone());
    let s = store
        .insert_service(&michigan_spec("alpha", "Alpha", "https://a.org"), T0)
        .await
        .unwrap();
    let keep = store
        .insert_panel(
            s.id,
            &panel_spec("apps@keep", "Keep", GenomeBuild::Hg19),
            PanelSource::Manual,
            T0,
        )
        .await
        .unwrap();
    let change = store
        .insert_panel(
            s.id,
            &panel_spec("apps@change", "Change", GenomeBuild::Hg19),
            PanelSource::Manual,
            T0,
        )
        .await
        .unwrap();
    let gone = store
        .insert_panel(
            s.id,
            &panel_spec("apps@gone", "Gone", GenomeBuild::Hg19),
            PanelSource::Manual,
            T0,
        )
        .await
        .unwrap();
    let mut changed = change.spec.clone();
    changed.slug = "apps@change@2.0.0".into();
    changed.version = "2.0.0".into();
    let changes = SyncChanges {
        add: vec![panel_spec("apps@new@1.0.0", "New", GenomeBuild::Hg38)],
        update: vec![(change.id, changed.clone())],
        deactivate: vec![gone.id],
        touch: vec![keep.id],
    };
    let applied = store.apply_sync(s.id, &changes, T0 + 5).await.unwrap();
    assert_eq!(applied.added.len(), 1);
    assert_eq!(applied.added[0].source, PanelSource::Discovered);
    assert_eq!(applied.added[0].last_synced_at, Some(T0 + 5));
    assert_eq!(applied.updated[0].spec, changed);
    assert_eq!(applied.updated[0].last_synced_at, Some(T0 + 5));
    assert!(!applied.deactivated[0].spec.is_active);
    assert_eq!(applied.deactivated[0].last_synced_at, None);
    let kept = store.get_panel(keep.id).await.unwrap().unwrap();
    assert_eq!(kept.last_synced_at, Some(T0 + 5));
    assert_eq!(kept.spec, keep.spec);
    assert_eq!(
        store
            .get_service(s.id)
            .await
            .unwrap()
            .unwrap()
            .reference_panel_count,
        3
    );

    // A failing change leaves everything as it was.
    let conflicting = SyncChanges {
        add: vec![
            panel_spec("apps@other", "Other", GenomeBuild::Hg19),
            panel_spec("apps@keep", "Dup", GenomeBuild::Hg19),
        ],
        ..SyncChanges::default()
    };
    assert!(store.apply_sync(s.id, &conflicting, T0 + 6).await.is_err());
    assert_eq!(store.panels_of_service(s.id).await.unwrap().len(), 4);
    t.cleanup().await.unwrap();
}
