//! Health checks against local emulators of Cloudgene and WES servers, with
//! a clock the tests move (no sleeps): verdicts, history, availability.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use fip_kit::testing::with_token;
use fip_proto::common::v1::{ErrorReason, HealthStatus as WireHealth};
use fip_proto::registry::v1 as pb;
use fip_registry::clock::ManualClock;
use fip_registry::error::RegistryError;
use fip_registry::model::{CheckTrigger, HealthStatus};
use fip_registry::store::{CheckFilter, ServiceFilter};
use serde_json::json;
use tonic::Code;

use crate::support::{
    Api, Emulator, api_error, expect_reason, michigan_spec, registry, settings, test_db, wes_spec,
    wire_service,
};

const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;

/// A Cloudgene server whose `GET /api/v2/server` answers with the status
/// held in the returned switch (200: server details; else a Cloudgene error).
async fn cloudgene(initial: u16) -> (Emulator, Arc<AtomicU16>) {
    let status = Arc::new(AtomicU16::new(initial));
    let router = Router::new()
        .route(
            "/api/v2/server",
            get(|State(status): State<Arc<AtomicU16>>| async move {
                let code = StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap();
                let body = if code.is_success() {
                    json!({"name": "Emulated Imputation Server", "loggedIn": false, "maintenace": false})
                } else if code == StatusCode::SERVICE_UNAVAILABLE {
                    json!({"success": false, "message": "This functionality is currently under maintenance."})
                } else {
                    json!({"success": false, "message": "Access denied."})
                };
                (code, axum::Json(body))
            }),
        )
        .with_state(status.clone());
    (Emulator::start(router).await, status)
}

#[tokio::test]
async fn a_healthy_server_is_recorded_as_such() {
    let (server, _) = cloudgene(200).await;
    let t = test_db().await;
    let clock = Arc::new(ManualClock::new(T0));
    let registry = registry(&t, clock.clone(), settings(), Duration::from_secs(5));
    let service = registry
        .create_service(michigan_spec("alpha", "Alpha", &server.url))
        .await
        .unwrap();

    let check = registry.check_now(service.id).await.unwrap();
    assert_eq!(check.status, HealthStatus::Healthy);
    assert_eq!(check.http_status, 200);
    assert_eq!(check.error, "");
    assert_eq!(check.checked_at, T0);
    assert_eq!(check.trigger, CheckTrigger::OnDemand);

    let stored = registry.get_service(service.id, false).await.unwrap();
    assert_eq!(stored.health.status, HealthStatus::Healthy);
    assert_eq!(stored.health.last_check_at, Some(T0));
    assert_eq!(stored.health.response_time_ms, check.response_time_ms);
    assert_eq!(stored.health.last_available_at, Some(T0));
    assert!(stored.is_available());
    let health = registry.service_health(service.id, false).await.unwrap();
    assert_eq!(health.status, HealthStatus::Healthy);
    assert_eq!(health.last_check, Some(check));
    assert_eq!(health.availability_24h, 1.0);
    assert!(health.is_available);

    // Checked again at once: refused, with the time left.
    match registry.check_now(service.id).await {
        Err(RegistryError::RateLimited { retry_after_ms, .. }) => {
            assert_eq!(retry_after_ms, 10_000)
        }
        other => panic!("{other:?}"),
    }
    clock.advance(10_000);
    registry.check_now(service.id).await.unwrap();

    // Not heard from for more than three intervals: unknown.
    clock.advance(4 * MINUTE);
    let stale = registry.service_health(service.id, false).await.unwrap();
    assert_eq!(stale.status, HealthStatus::Unknown);
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn an_authentication_demand_proves_the_server_is_up() {
    let (server, _) = cloudgene(401).await;
    let t = test_db().await;
    let registry = registry(
        &t,
        Arc::new(ManualClock::new(T0)),
        settings(),
        Duration::from_secs(5),
    );
    let service = registry
        .create_service(michigan_spec("alpha", "Alpha", &server.url))
        .await
        .unwrap();
    let check = registry.check_now(service.id).await.unwrap();
    assert_eq!(check.status, HealthStatus::Healthy);
    assert_eq!(check.http_status, 401);
    assert_eq!(check.error, "");
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn server_errors_and_maintenance_are_unhealthy() {
    let (server, status) = cloudgene(503).await;
    let t = test_db().await;
    let clock = Arc::new(ManualClock::new(T0));
    let registry = registry(&t, clock.clone(), settings(), Duration::from_secs(5));
    let service = registry
        .create_service(michigan_spec("alpha", "Alpha", &server.url))
        .await
        .unwrap();
    let check = registry.check_now(service.id).await.unwrap();
    assert_eq!(check.status, HealthStatus::Unhealthy);
    assert_eq!(check.http_status, 503);
    assert_eq!(
        check.error,
        "HTTP 503: This functionality is currently under maintenance."
    );
    let stored = registry.get_service(service.id, true).await.unwrap();
    assert_eq!(stored.health.error, check.error);
    assert_eq!(stored.health.consecutive_failures, 1);

    status.store(500, Ordering::SeqCst);
    clock.advance(MINUTE);
    let check = registry.check_now(service.id).await.unwrap();
    assert_eq!(check.status, HealthStatus::Unhealthy);
    assert_eq!(check.http_status, 500);
    // A wrong address (404) is unhealthy too.
    status.store(404, Ordering::SeqCst);
    clock.advance(MINUTE);
    let check = registry.check_now(service.id).await.unwrap();
    assert_eq!(check.status, HealthStatus::Unhealthy);
    assert_eq!(check.http_status, 404);
    assert_eq!(
        registry
            .service_health(service.id, true)
            .await
            .unwrap()
            .consecutive_failures,
        3
    );
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let router = Router::new().route("/api/v2/server", get(std::future::pending::<&'static str>));
    let server = Emulator::start(router).await;
    let t = test_db().await;
    let registry = registry(
        &t,
        Arc::new(ManualClock::new(T0)),
        settings(),
        Duration::from_millis(300),
    );
    let service = registry
        .create_service(michigan_spec("alpha", "Alpha", &server.url))
        .await
        .unwrap();
    let check = registry.check_now(service.id).await.unwrap();
    assert_eq!(check.status, HealthStatus::Unhealthy);
    assert_eq!(check.http_status, 0);
    assert_eq!(check.response_time_ms, 0);
    assert_eq!(check.error, "timeout after 300 ms");
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_unhealthy() {
    // A port that was just free: nothing listens there any more.
    let url = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let t = test_db().await;
    let registry = registry(
        &t,
        Arc::new(ManualClock::new(T0)),
        settings(),
        Duration::from_secs(5),
    );
    let service = registry
        .create_service(michigan_spec("alpha", "Alpha", &url))
        .await
        .unwrap();
    let check = registry.check_now(service.id).await.unwrap();
    assert_eq!(check.status, HealthStatus::Unhealthy);
    assert_eq!(check.http_status, 0);
    assert!(check.error.contains("cannot connect"), "{}", check.error);
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn slow_answers_are_degraded_and_still_available() {
    let (server, _) = cloudgene(200).await;
    let t = test_db().await;
    let mut settings = settings();
    // Every answer takes longer than no time at all.
    settings.degraded_after = Duration::ZERO;
    let registry = registry(
        &t,
        Arc::new(ManualClock::new(T0)),
        settings,
        Duration::from_secs(5),
    );
    let service = registry
        .create_service(michigan_spec("alpha", "Alpha", &server.url))
        .await
        .unwrap();
    let check = registry.check_now(service.id).await.unwrap();
    assert_eq!(check.status, HealthStatus::Degraded);
    assert!(
        registry
            .get_service(service.id, true)
            .await
            .unwrap()
            .is_available()
    );
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn wes_servers_are_probed_at_service_info() {
    let router = Router::new().route(
        "/ga4gh/wes/v1/service-info",
        get(|| async {
            axum::Json(json!({
                "supported_wes_versions": ["1.0.0"],
                "workflow_type_versions": {"CWL": {"workflow_type_version": ["v1.0"]}}
            }))
        }),
    );
    let server = Emulator::start(router).await;
    let t = test_db().await;
    let registry = registry(
        &t,
        Arc::new(ManualClock::new(T0)),
        settings(),
        Duration::from_secs(5),
    );
    let service = registry
        .create_service(wes_spec("node", &format!("{}/ga4gh/wes/v1", server.url)))
        .await
        .unwrap();
    let check = registry.check_now(service.id).await.unwrap();
    assert_eq!(check.status, HealthStatus::Healthy);
    assert_eq!(check.http_status, 200);
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn continuous_failure_marks_a_service_unavailable_until_it_answers() {
    let (server, status) = cloudgene(500).await;
    let t = test_db().await;
    let clock = Arc::new(ManualClock::new(T0));
    // Checked every minute; unavailable after two minutes of failure.
    let registry = registry(&t, clock.clone(), settings(), Duration::from_secs(5));
    let service = registry
        .create_service(michigan_spec("alpha", "Alpha", &server.url))
        .await
        .unwrap();
    let (registry, id) = (&registry, service.id);
    let available = || async move {
        let filter = ServiceFilter {
            available_only: true,
            ..ServiceFilter::default()
        };
        let listed = registry
            .list_services(&filter, None, 10)
            .await
            .unwrap()
            .items;
        let service = registry.get_service(id, true).await.unwrap();
        assert_eq!(listed.iter().any(|s| s.id == id), service.is_available());
        service
    };

    assert_eq!(registry.run_due_checks().await.unwrap().0, 1);
    let first = available().await;
    assert_eq!(first.health.status, HealthStatus::Unhealthy);
    assert!(first.is_available(), "one failure is not enough");

    clock.advance(MINUTE / 2);
    let (checked, next) = registry.run_due_checks().await.unwrap();
    assert_eq!(checked, 0, "not due yet");
    assert_eq!(next, Some(Duration::from_secs(30)));

    clock.advance(MINUTE / 2);
    assert_eq!(registry.run_due_checks().await.unwrap().0, 1);
    let second = available().await;
    assert_eq!(second.health.consecutive_failures, 2);
    assert!(second.is_available(), "failing for one minute only");

    clock.advance(MINUTE);
    registry.run_due_checks().await.unwrap();
    let third = available().await;
    assert_eq!(third.health.consecutive_failures, 3);
    assert!(!third.is_available(), "failing for two minutes");
    assert!(
        !registry
            .service_health(service.id, true)
            .await
            .unwrap()
            .is_available
    );

    // The first success makes it available again.
    status.store(200, Ordering::SeqCst);
    clock.advance(MINUTE);
    registry.run_due_checks().await.unwrap();
    let recovered = available().await;
    assert!(recovered.is_available());
    assert_eq!(recovered.health.status, HealthStatus::Healthy);
    assert_eq!(recovered.health.consecutive_failures, 0);
    assert_eq!(recovered.health.last_available_at, Some(T0 + 3 * MINUTE));
    let health = registry.service_health(service.id, true).await.unwrap();
    assert_eq!(health.availability_24h, 0.25);

    // History: newest first, scheduled, trimmed to the configured size.
    for _ in 0..4 {
        clock.advance(MINUTE);
        registry.run_due_checks().await.unwrap();
    }
    let filter = CheckFilter {
        service_id: service.id,
        ..CheckFilter::default()
    };
    let history = registry
        .list_checks(&filter, None, 100, true)
        .await
        .unwrap()
        .items;
    assert_eq!(history.len(), 5);
    assert!(
        history
            .windows(2)
            .all(|w| w[0].checked_at > w[1].checked_at)
    );
    assert_eq!(history[0].checked_at, T0 + 7 * MINUTE);
    assert!(history.iter().all(|c| c.trigger == CheckTrigger::Scheduled));
    t.cleanup().await.unwrap();
}

#[tokio::test]
async fn checks_over_the_api() {
    let (server, _) = cloudgene(200).await;
    let api = Api::new().await;
    let mut client = api.client();
    let service = api.create_service(wire_service("alpha", &server.url)).await;

    let refused = client
        .check_service_health(with_token(
            pb::CheckServiceHealthRequest { id: service.id },
            &api.researcher(),
        ))
        .await
        .unwrap_err();
    expect_reason(refused, ErrorReason::PermissionDenied);

    let check = client
        .check_service_health(with_token(
            pb::CheckServiceHealthRequest { id: service.id },
            &api.service_admin(),
        ))
        .await
        .unwrap()
        .into_inner()
        .health_check
        .unwrap();
    assert_eq!(check.status, WireHealth::Healthy as i32);
    assert_eq!(check.http_status, 200);
    assert_eq!(check.trigger, pb::HealthCheckTrigger::OnDemand as i32);

    let again = client
        .check_service_health(with_token(
            pb::CheckServiceHealthRequest { id: service.id },
            &api.admin(),
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::ResourceExhausted);
    {
        use tonic_types::StatusExt;
        let retry = again.get_error_details().retry_info().cloned();
        assert!(retry.is_some_and(|r| r.retry_delay.is_some()));
    }
    let error = api_error(&again);
    assert_eq!(error.reason, ErrorReason::RateLimited);
    assert!(
        error.metadata["retry_after_seconds"]
            .parse::<i64>()
            .unwrap()
            > 0
    );

    let history = client
        .list_health_checks(with_token(
            pb::ListHealthChecksRequest {
                service_id: service.id,
                ..Default::default()
            },
            &api.viewer(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.health_checks, vec![check.clone()]);
    let unhealthy_only = client
        .list_health_checks(with_token(
            pb::ListHealthChecksRequest {
                service_id: service.id,
                status: WireHealth::Unhealthy as i32,
                ..Default::default()
            },
            &api.viewer(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(unhealthy_only.health_checks.is_empty());

    let health = client
        .get_service_health(with_token(
            pb::GetServiceHealthRequest { id: service.id },
            &api.viewer(),
        ))
        .await
        .unwrap()
        .into_inner()
        .health
        .unwrap();
    assert_eq!(health.status, WireHealth::Healthy as i32);
    assert!(health.is_available);
    assert_eq!(health.last_check, Some(check));
    assert_eq!(health.availability_24h, 1.0);
    let read = client
        .get_service(with_token(
            pb::GetServiceRequest { id: service.id },
            &api.viewer(),
        ))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap();
    assert_eq!(read.health_status, WireHealth::Healthy as i32);
    assert!(read.last_health_check_at.is_some());
    api.stop().await;
}
