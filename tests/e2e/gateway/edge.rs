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

#[tokio::test]
async fn the_web_ui_is_served_beside_the_api() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>hub</title>",
    )
    .unwrap();
    std::fs::write(web.path().join("app.js"), "console.log('hub')").unwrap();
    let dir = web.path().to_path_buf();
    let platform = TestPlatform::start_with(move |config| {
        config.gateway.web_dir = Some(dir);
    })
    .await;
    let rest = Rest::new(&platform);
    let get = |path: &str| rest.http().get(rest.url(path)).send();
    let index = get("/").await.unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    assert!(index.text().await.unwrap().contains("<title>hub</title>"));
    let script = get("/app.js").await.unwrap();
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    // A client-side route of the UI gets the page; the API keeps its 404s.
    let route = get("/settings/services/1").await.unwrap();
    assert_eq!(route.status(), StatusCode::OK);
    assert!(route.text().await.unwrap().contains("<title>hub</title>"));
    let missing = rest.get("/api/no/such/route", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json["error"], "NOT_FOUND");
    platform.stop().await;
}

#[tokio::test]
async fn each_user_has_a_bucket_of_their_own() {
    let platform = TestPlatform::start_with(|config| {
        config.gateway.rate_limit_per_user = RateQuota {
            burst: 3,
            per_second: 0.001,
        };
    })
    .await;
    let rest = Rest::new(&platform);
    let ada = platform
        .user_token(&[fip_kit::auth::Role::Researcher])
        .await;
    let bob = platform
        .user_token(&[fip_kit::auth::Role::Researcher])
        .await;
    for _ in 0..3 {
        let answer = rest.get("/api/services", Some(&ada)).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let limited = rest.get("/api/services", Some(&ada)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.json["error"], "RATE_LIMITED");
    let mut registry = fip_proto::registry::v1::registry_service_client::RegistryServiceClient::new(
        platform.channel.clone(),
    );
    let status = registry
        .list_services(with_token(Default::default(), &ada))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    // Another user from the same address is not held back.
    let other = rest.get("/api/services", Some(&bob)).await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.headers["ratelimit-remaining"], "2");
    platform.stop().await;
}
