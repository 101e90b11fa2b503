//! The mesh comes up, is discoverable by reflection, reports health, keeps
//! internal services private, and refuses bad tokens with typed errors.

use std::collections::BTreeSet;
use std::process::Command;

use fip_kit::auth::Role;
use fip_kit::error::ApiError;
use fip_kit::mesh::ServiceName;
use fip_kit::testing::with_token;
use fip_proto::common::v1::{ErrorReason, HealthStatus};
use fip_proto::monitor::v1::monitor_service_client::MonitorServiceClient;
use fip_proto::monitor::v1::{DeploymentMode, GetHealthRequest, GetSystemStatusRequest};
use fip_proto::user::v1::LookupServiceCredentialRequest;
use fip_proto::user::v1::credential_internal_service_client::CredentialInternalServiceClient;
use prost::Message;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::support::TestPlatform;

/// Every `fip.*` service in the contracts, split into (public, internal).
fn contract_services() -> (BTreeSet<String>, BTreeSet<String>) {
    let set = prost_types::FileDescriptorSet::decode(fip_proto::FILE_DESCRIPTOR_SET).unwrap();
    let all: Vec<String> = set
        .file
        .iter()
        .filter(|f| f.package().starts_with("fip."))
        .flat_map(|f| {
            f.service
                .iter()
                .map(move |s| format!("{}.{}", f.package(), s.name()))
        })
        .collect();
    let (internal, public): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|n| n.ends_with("InternalService"));
    (public.into_iter().collect(), internal.into_iter().collect())
}

#[tokio::test]
async fn reflection_lists_public_services_only() {
    let platform = TestPlatform::start().await;
    let mut client = ServerReflectionClient::new(platform.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reflection reply {reply:?}");
    };
    let listed: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    let (public, internal) = contract_services();
    assert!(public.len() >= 8, "contracts define the public services");
    assert!(!internal.is_empty(), "contracts define internal services");
    for name in &public {
        assert!(listed.contains(name), "{name} is not listed: {listed:?}");
    }
    for name in &internal {
        assert!(!listed.contains(name), "{name} must not be listed");
    }
    platform.stop().await;
}

#[tokio::test]
async fn buf_curl_lists_every_public_method() {
    let platform = TestPlatform::start().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let buf = root.join("tools/node_modules/.bin/buf");
    assert!(
        buf.exists(),
        "buf is not installed: run scripts/install-tools (scripts/test does)"
    );
    let url = platform.platform.gateway_url().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(buf)
            .args([
                "curl",
                "--protocol",
                "grpc",
                "--http2-prior-knowledge",
                "--list-methods",
                &url,
            ])
            .output()
            .expect("buf runs")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let services: BTreeSet<&str> = stdout.lines().filter_map(|l| l.split('/').next()).collect();
    let (public, internal) = contract_services();
    for name in &public {
        assert!(
            services.contains(name.as_str()),
            "buf curl misses {name}:\n{stdout}"
        );
    }
    for name in &internal {
        assert!(!services.contains(name.as_str()), "buf curl shows {name}");
    }
    assert!(stdout.contains("fip.user.v1.UserService/Login"));
    platform.stop().await;
}

#[tokio::test]
async fn gateway_health_is_serving_for_each_public_service() {
    let platform = TestPlatform::start().await;
    let mut health = HealthClient::new(platform.channel.clone());
    let (public, _) = contract_services();
    for service in public {
        let reply = health
            .check(HealthCheckRequest {
                service: service.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("{service}: {e}"))
            .into_inner();
        assert_eq!(reply.status, ServingStatus::Serving as i32, "{service}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "fip.nope.v1.NopeService".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    platform.stop().await;
}

#[tokio::test]
async fn internal_services_are_not_reachable_through_the_gateway() {
    let platform = TestPlatform::start().await;
    let token = platform.service_token(ServiceName::Jobs);
    let mut client = CredentialInternalServiceClient::new(platform.channel.clone());
    let error = client
        .lookup_service_credential(with_token(
            LookupServiceCredentialRequest::default(),
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unimplemented, "{error:?}");
    platform.stop().await;
}

#[tokio::test]
async fn tokens_are_checked_with_typed_errors() {
    let platform = TestPlatform::start().await;
    let mut monitor = MonitorServiceClient::new(platform.channel.clone());

    let reason = |status: tonic::Status| {
        let error = ApiError::from_status(&status).expect("typed error details");
        (status.code(), error.reason)
    };
    let missing = monitor
        .get_system_status(GetSystemStatusRequest {})
        .await
        .unwrap_err();
    assert_eq!(
        reason(missing),
        (Code::Unauthenticated, ErrorReason::TokenMissing)
    );

    let garbage = monitor
        .get_system_status(with_token(GetSystemStatusRequest {}, "not.a.token"))
        .await
        .unwrap_err();
    assert_eq!(
        reason(garbage),
        (Code::Unauthenticated, ErrorReason::TokenInvalid)
    );

    let researcher = platform.user_token(&[Role::Researcher]).await;
    let denied = monitor
        .get_system_status(with_token(GetSystemStatusRequest {}, &researcher))
        .await
        .unwrap_err();
    assert_eq!(
        reason(denied),
        (Code::PermissionDenied, ErrorReason::PermissionDenied)
    );

    let admin = platform.user_token(&[Role::Admin]).await;
    let status = monitor
        .get_system_status(with_token(GetSystemStatusRequest {}, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.mode, DeploymentMode::Embedded as i32);
    assert_eq!(status.components.len(), ServiceName::ALL.len());
    platform.stop().await;
}

#[tokio::test]
async fn monitor_reports_every_service_healthy() {
    let platform = TestPlatform::start().await;
    let mut monitor = MonitorServiceClient::new(platform.channel.clone());
    let health = monitor
        .get_health(GetHealthRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, HealthStatus::Healthy as i32, "{health:?}");
    let names: BTreeSet<_> = health.components.iter().map(|c| c.name.clone()).collect();
    let expected: BTreeSet<_> = ServiceName::ALL.iter().map(|n| n.to_string()).collect();
    assert_eq!(names, expected);
    platform.stop().await;
}
