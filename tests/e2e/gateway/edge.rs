//! The edge: authentication before any upstream call, internal services
//! out of reach, rate limits, CORS preflights and request ids.

use std::time::Duration;

use fip_kit::config::RateQuota;
use fip_kit::error::ApiError;
use fip_kit::mesh::ServiceName;
use fip_kit::testing::with_token;
use fip_proto::common::v1::ErrorReason;
use fip_proto::monitor::v1::GetHealthRequest;
use fip_proto::monitor::v1::monitor_service_client::MonitorServiceClient;
use fip_proto::user::v1::credential_internal_service_client::CredentialInternalServiceClient;
use fip_proto::user::v1::user_service_client::UserServiceClient;
use fip_proto::user::v1::{
    GetCurrentUserRequest, GetCurrentUserResponse, LookupServiceCredentialRequest,
    LookupServiceCredentialResponse,
};
use reqwest::StatusCode;
use tonic::Code;

use super::{GrpcWeb, Rest};
use crate::support::TestPlatform;

#[tokio::test]
async fn calls_without_a_valid_token_are_refused_by_every_protocol() {
    let platform = TestPlatform::start().await;
    let rest = Rest::new(&platform);
    let missing = rest.get("/api/auth/user", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.json["error"], "TOKEN_MISSING");
    assert_eq!(missing.json["status"], "UNAUTHENTICATED");
    let forged = rest.get("/api/services", Some("not.a.token")).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(forged.json["error"], "TOKEN_INVALID");

    let mut users = UserServiceClient::new(platform.channel.clone());
    let status = users
        .get_current_user(GetCurrentUserRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        ApiError::from_status(&status).unwrap().reason,
        ErrorReason::TokenMissing
    );
    let status = users
        .get_current_user(with_token(GetCurrentUserRequest {}, "forged"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    for text in [false, true] {
        let web = GrpcWeb::new(&platform, text);
        let refused = web
            .unary::<_, GetCurrentUserResponse>(
                "/fip.user.v1.UserService/GetCurrentUser",
                &GetCurrentUserRequest {},
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(refused.code, Code::Unauthenticated);
        assert!(
            refused.message.contains("authentication"),
            "{}",
            refused.message
        );
    }
    // Public calls need no token.
    assert_eq!(
        rest.get("/api/monitoring/health", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        rest.get("/api/openapi.json", None).await.status,
        StatusCode::OK
    );
    platform.stop().await;
}

#[tokio::test]
async fn internal_services_are_out_of_reach_of_every_protocol() {
    let platform = TestPlatform::start().await;
    // Even with the one identity the service answers.
    let token = platform.service_token(ServiceName::Jobs);
    let request = LookupServiceCredentialRequest {
        user_id: 1,
        service_id: 1,
        job_id: String::new(),
    };
    let mut grpc = CredentialInternalServiceClient::new(platform.channel.clone());
    let status = grpc
        .lookup_service_credential(with_token(request.clone(), &token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    for text in [false, true] {
        let refused = GrpcWeb::new(&platform, text)
            .unary::<_, LookupServiceCredentialResponse>(
                "/fip.user.v1.CredentialInternalService/LookupServiceCredential",
                &request,
                Some(&token),
            )
            .await
            .unwrap_err();
        assert_eq!(refused.code, Code::Unimplemented);
    }
    let rest = Rest::new(&platform);
    for path in [
        "/api/internal/users/1/service-credentials/1",
        "/fip.user.v1.CredentialInternalService/LookupServiceCredential",
    ] {
        let answer = rest.get(path, Some(&token)).await;
        assert!(
            answer.status == StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.status
        );
    }
    let document = rest.get("/api/openapi.json", None).await.ok();
    let operations = format!("{}{}", document["paths"], document["tags"]);
    assert!(operations.contains("CredentialService"));
    assert!(!operations.contains("InternalService"), "{operations}");
    platform.stop().await;
}

#[tokio::test]
async fn rate_limits_trigger_and_recover() {
    let platform = TestPlatform::start_with(|config| {
        config.gateway.rate_limit_per_address = RateQuota {
            burst: 4,
            per_second: 20.0,
        };
    })
    .await;
    let rest = Rest::new(&platform);
    let mut remaining = Vec::new();
    let limited = loop {
        let answer = rest.get("/api/monitoring/health", None).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            break answer;
        }
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.headers["ratelimit-limit"], "4");
        remaining.push(
            answer.headers["ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
        assert!(remaining.len() <= 8, "never limited: {remaining:?}");
    };
    assert!(remaining.windows(2).all(|w| w[1] <= w[0]), "{remaining:?}");
    assert_eq!(limited.json["error"], "RATE_LIMITED");
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(limited.headers["ratelimit-remaining"], "0");
    assert!(limited.json["retry_after_seconds"].as_u64().unwrap() >= 1);

    // gRPC callers from the same address are limited too, with the reason.
    let mut monitor = MonitorServiceClient::new(platform.channel.clone());
    let status = loop {
        match monitor.get_health(GetHealthRequest::default()).await {
            Ok(_) => continue,
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted);
    let error = ApiError::from_status(&status).unwrap();
    assert_eq!(error.reason, ErrorReason::RateLimited);

    // The bucket refills (20 per second): the first request that gets
    // through ends the wait, which is bounded.
    let recovered = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let answer = rest.get("/api/monitoring/health", None).await;
            if answer.status == StatusCode::OK {
                return answer;
            }
            assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        }
    })
    .await
    .expect("the limit recovers");
    assert_eq!(recovered.headers["ratelimit-limit"], "4");
    platform.stop().await;
}

#[tokio::test]
async fn cors_preflights_answer_and_request_ids_echo() {
    let platform = TestPlatform::start_with(|config| {
        config.gateway.cors_allowed_origins = vec!["https://ui.example.org".into()];
    })
    .await;
    let rest = Rest::new(&platform);
    let http = rest.http();
    let preflight = http
        .request(reqwest::Method::OPTIONS, rest.url("/api/auth/login"))
        .header("origin", "https://ui.example.org")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://ui.example.org"
    );
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("authorization"), "{allowed}");
    // A gRPC-web preflight from the browser.
    let grpc_web = http
        .request(
            reqwest::Method::OPTIONS,
            rest.url("/fip.user.v1.UserService/Login"),
        )
        .header("origin", "https://ui.example.org")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,x-user-agent",
        )
        .send()
        .await
        .unwrap();
    assert!(grpc_web.status().is_success());
    let stranger = http
        .request(reqwest::Method::OPTIONS, rest.url("/api/auth/login"))
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        !stranger
            .headers()
            .contains_key("access-control-allow-origin")
    );
    let simple = http
        .get(rest.url("/api/monitoring/health"))
        .header("origin", "https://ui.example.org")
        .send()
        .await
        .unwrap();
    let exposed = simple.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in [
        "grpc-status",
        "x-request-id",
        "ratelimit-remaining",
        "x-next-page-token",
    ] {
        assert!(exposed.contains(header), "{header} not in {exposed}");
    }

    // Request ids: echoed when sent, made when not, quoted in errors.
    let echoed = http
        .get(rest.url("/api/auth/user"))
        .header("x-request-id", "req-12345")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "req-12345");
    let body: serde_json::Value = echoed.json().await.unwrap();
    assert_eq!(body["trace_id"], "req-12345");
    let made = http
        .get(rest.url("/api/monitoring/health"))
        .send()
        .await
        .unwrap();
    let id = made.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let mut monitor = MonitorServiceClient::new(platform.channel.clone());
    let mut request = tonic::Request::new(GetHealthRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", "grpc-777".parse().unwrap());
    let response = monitor.get_health(request).await.unwrap();
    assert_eq!(response.metadata().get("x-request-id").unwrap(), "grpc-777");
    platform.stop().await;
}
