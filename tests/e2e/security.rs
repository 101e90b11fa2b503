//! What an attacker, or a careless client, tries through the public port:
//! revoked sessions, lockouts turned against their victims, oversized ids,
//! fields that may not change, and what the platform leaves on disk. Each
//! attack fails and the legitimate use goes on, over REST and gRPC alike.

use std::net::IpAddr;

use fip_kit::auth::Role;
use fip_kit::testing::with_token;
use fip_proto::common::v1::ErrorReason;
use fip_proto::jobs::v1 as jobs;
use fip_proto::jobs::v1::job_service_client::JobServiceClient;
use fip_proto::user::v1 as user;
use fip_proto::user::v1::user_service_client::UserServiceClient;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tonic::Code;

use crate::gateway::{Answer, Rest, base};
use crate::support::{TestPlatform, sign_up, upload};

fn reason(status: &tonic::Status) -> ErrorReason {
    fip_kit::ApiError::from_status(status)
        .unwrap_or_else(|| panic!("no error details in {status:?}"))
        .reason
}

/// The REST error name of an answer (`{"error": "SESSION_ENDED", ...}`).
fn error(answer: &Answer) -> &str {
    answer.json["error"].as_str().unwrap_or_default()
}

/// A REST client whose connections come from `address` (any 127.0.0.0/8
/// address reaches the loopback gateway), to stand for distinct clients.
fn rest_from(platform: &TestPlatform, address: &str) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder()
        .local_address(address.parse::<IpAddr>().unwrap())
        .user_agent(format!("client-at-{address}"))
        .build()
        .unwrap();
    (client, base(platform))
}

async fn rest_login(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> Answer {
    let response = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    Answer::read(response).await
}

#[tokio::test]
async fn a_deactivated_users_token_stops_at_once_everywhere() {
    let platform = TestPlatform::start().await;
    let rest = Rest::new(&platform);
    let admin = platform.user_token(&[Role::Admin]).await;
    let mallory = sign_up(platform.channel.clone(), "mallory").await;
    let me = rest.get("/api/auth/user", Some(&mallory)).await.ok();
    rest.get("/api/jobs", Some(&mallory)).await.ok();
    let file = upload(platform.channel.clone(), &mallory, "a.vcf.gz", b"x").await;

    let deactivated = rest
        .post(
            &format!("/api/users/{}/active", me["id"]),
            Some(&admin),
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{:#}", deactivated.json);

    // REST, on every service: refused as an ended session.
    for path in [
        "/api/jobs",
        "/api/files",
        "/api/auth/user",
        "/api/notifications",
    ] {
        let answer = rest.get(path, Some(&mallory)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(error(&answer), "SESSION_ENDED", "{path}");
    }
    let submit = rest
        .post(
            "/api/jobs",
            Some(&mallory),
            json!({"name": "x", "service_id": 1, "reference_panel_id": 1, "input_file_id": file}),
        )
        .await;
    assert_eq!(error(&submit), "SESSION_ENDED");
    // gRPC too.
    let refused = JobServiceClient::new(platform.channel.clone())
        .list_jobs(with_token(jobs::ListJobsRequest::default(), &mallory))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(reason(&refused), ErrorReason::SessionEnded);
    // And she cannot sign in again.
    let login = rest_login(
        rest.http(),
        &base(&platform),
        "mallory",
        "mallory-passphrase",
    )
    .await;
    assert_eq!(error(&login), "ACCOUNT_DISABLED");
    platform.stop().await;
}

#[tokio::test]
async fn an_old_admin_token_cannot_take_the_platform_back() {
    let platform = TestPlatform::start().await;
    let rest = Rest::new(&platform);
    let root = platform.user_token(&[Role::Admin]).await;
    let eve = platform.user_token(&[Role::Admin]).await;
    let eve_id = rest.get("/api/auth/user", Some(&eve)).await.ok()["id"].clone();
    let root_id = rest.get("/api/auth/user", Some(&root)).await.ok()["id"].clone();

    // Eve is demoted, then deactivated.
    rest.post(
        &format!("/api/users/{eve_id}/roles"),
        Some(&root),
        json!({"roles": ["researcher"]}),
    )
    .await
    .ok();
    let admin_call = rest.get("/api/users", Some(&eve)).await;
    assert_eq!(
        error(&admin_call),
        "SESSION_ENDED",
        "the demotion ended her session"
    );
    rest.post(
        &format!("/api/users/{eve_id}/active"),
        Some(&root),
        json!({"is_active": false}),
    )
    .await
    .ok();
    // With her old token she can neither reactivate herself nor act on root.
    for (path, body) in [
        (
            format!("/api/users/{eve_id}/active"),
            json!({"is_active": true}),
        ),
        (
            format!("/api/users/{root_id}/active"),
            json!({"is_active": false}),
        ),
        (
            format!("/api/users/{root_id}/roles"),
            json!({"roles": ["viewer"]}),
        ),
    ] {
        let answer = rest.post(&path, Some(&eve), body).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // No admin acts on their own activation or roles.
    let own = rest
        .post(
            &format!("/api/users/{root_id}/roles"),
            Some(&root),
            json!({"roles": ["researcher"]}),
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);
    assert_eq!(own.json["metadata"]["target"], "self");
    // Root still works and can sign in.
    rest.get("/api/users", Some(&root)).await.ok();
    platform.stop().await;
}

#[tokio::test]
async fn sessions_refresh_and_end_over_rest() {
    let platform = TestPlatform::start().await;
    let rest = Rest::new(&platform);
    sign_up(platform.channel.clone(), "ada").await;
    let login = rest_login(rest.http(), &base(&platform), "ada", "ada-passphrase")
        .await
        .ok();
    assert_eq!(login["expires_in"], 900);
    let refreshed = rest
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": login["refresh_token"]}),
        )
        .await
        .ok();
    let token = refreshed["access_token"].as_str().unwrap().to_string();
    rest.get("/api/jobs", Some(&token)).await.ok();
    // Two: sign_up's, and this one (a refresh keeps its session).
    let sessions = rest.get("/api/auth/sessions", Some(&token)).await.ok();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(sessions["sessions"][0]["current"], true);
    assert_eq!(sessions["sessions"][1]["current"], false);

    // A password change ends the other sessions, not the caller's.
    let other = rest_login(rest.http(), &base(&platform), "ada", "ada-passphrase")
        .await
        .ok();
    let other_token = other["access_token"].as_str().unwrap();
    rest.post(
        "/api/auth/change-password",
        Some(&token),
        json!({"current_password": "ada-passphrase", "new_password": "a brand new passphrase"}),
    )
    .await
    .ok();
    rest.get("/api/jobs", Some(&token)).await.ok();
    assert_eq!(
        error(&rest.get("/api/jobs", Some(other_token)).await),
        "SESSION_ENDED"
    );

    // Signing out ends the session and its refresh token.
    rest.post("/api/auth/logout", Some(&token), json!({}))
        .await
        .ok();
    assert_eq!(
        error(&rest.get("/api/jobs", Some(&token)).await),
        "SESSION_ENDED"
    );
    let again = rest
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": refreshed["refresh_token"]}),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error(&again), "SESSION_ENDED");
    platform.stop().await;
}

#[tokio::test]
async fn failed_logins_lock_out_the_attacker_not_the_owner() {
    let platform = TestPlatform::start().await;
    sign_up(platform.channel.clone(), "victim").await;
    let (attacker, url) = rest_from(&platform, "127.0.0.2");
    for _ in 0..5 {
        let answer = rest_login(&attacker, &url, "victim", "a wrong guess").await;
        assert_eq!(error(&answer), "LOGIN_FAILED");
    }
    // The attacker is refused now, right password or not, by email too.
    for login in ["victim", "victim@example.org"] {
        let answer = rest_login(&attacker, &url, login, "victim-passphrase").await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error(&answer), "LOGIN_THROTTLED");
    }
    // The owner, from another address, is not.
    let (owner, _) = rest_from(&platform, "127.0.0.3");
    let answer = rest_login(&owner, &url, "victim", "victim-passphrase").await;
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.json);
    let token = answer.json["access_token"].as_str().unwrap().to_string();
    // The audit shows each client's own address and user agent.
    let events = owner
        .get(format!("{url}/api/users/me/audit-events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let events = Answer::read(events).await.ok();
    let events = events["audit_events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["client_address"] == "127.0.0.2"
        && e["user_agent"] == "client-at-127.0.0.2"));
    assert!(events.iter().any(|e| e["client_address"] == "127.0.0.3"
        && e["user_agent"] == "client-at-127.0.0.3"));
    // Not the gateway's own (`tonic/...`) for calls that came over REST.
    assert!(
        events
            .iter()
            .filter(|e| e["client_address"] != "127.0.0.1")
            .all(|e| e["user_agent"]
                .as_str()
                .unwrap_or_default()
                .starts_with("client-at-"))
    );
    platform.stop().await;
}

#[tokio::test]
async fn oversized_ids_get_a_clear_answer_on_every_protocol() {
    let platform = TestPlatform::start().await;
    let rest = Rest::new(&platform);
    let token = sign_up(platform.channel.clone(), "ada").await;
    for length in [6_000, 30_000] {
        let id = "a".repeat(length);
        for path in [format!("/api/jobs/{id}"), format!("/api/files/{id}")] {
            let answer = rest.get(&path, Some(&token)).await;
            assert!(
                answer.status == StatusCode::NOT_FOUND || answer.status == StatusCode::BAD_REQUEST,
                "{length}: {} {:#}",
                answer.status,
                answer.json
            );
            let text = answer.json.to_string();
            assert!(text.len() < 4_000, "the id is not echoed whole");
        }
        let status = JobServiceClient::new(platform.channel.clone())
            .get_job(with_token(jobs::GetJobRequest { id: id.clone() }, &token))
            .await
            .unwrap_err();
        assert!(
            matches!(status.code(), Code::NotFound | Code::InvalidArgument),
            "{status:?}"
        );
    }
    platform.stop().await;
}

#[tokio::test]
async fn fields_that_cannot_change_are_refused_and_bad_text_too() {
    let platform = TestPlatform::start().await;
    let rest = Rest::new(&platform);
    let token = sign_up(platform.channel.clone(), "ada").await;
    let patch = |body: Value| {
        let rest = rest.clone();
        let token = token.clone();
        async move {
            rest.call(Method::PATCH, "/api/users/me", Some(&token), Some(body))
                .await
        }
    };
    for (body, field) in [
        (json!({"roles": ["admin"]}), "user.roles"),
        (json!({"is_active": true}), "user.is_active"),
        (json!({"username": "root"}), "user.username"),
        (json!({"first_name": "A\u{0}da"}), "first_name"),
        (json!({"last_name": "L\u{1b}[31movelace"}), "last_name"),
        (json!({"institution": "line\nbreak"}), "institution"),
    ] {
        let answer = patch(body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.json["field_violations"][0]["field"], field, "{body}");
    }
    let me = rest.get("/api/users/me", Some(&token)).await.ok();
    assert_eq!(me["roles"], json!(["researcher"]));
    assert_eq!(me["first_name"], "Test", "nothing changed");
    patch(json!({"first_name": "Ada"})).await.ok();
    // Over gRPC the same.
    let refused = UserServiceClient::new(platform.channel.clone())
        .update_profile(with_token(
            user::UpdateProfileRequest {
                user: Some(user::User {
                    roles: vec![user::Role::Admin as i32],
                    ..Default::default()
                }),
                update_mask: None,
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    // A page size out of range is blamed on page_size.
    let answer = rest
        .get("/api/jobs?page_size=99999999999", Some(&token))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["field_violations"][0]["field"], "page_size");
    platform.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let platform = TestPlatform::start().await;
    let token = sign_up(platform.channel.clone(), "ada").await;
    upload(
        platform.channel.clone(),
        &token,
        "study.vcf.gz",
        b"genotypes",
    )
    .await;
    let dir = platform.platform.config.data_dir.clone();
    let mut seen = 0;
    let mut stack = vec![dir];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            seen += 1;
        }
    }
    assert!(seen >= 3, "keys, and on SQLite databases, and the upload");
    platform.stop().await;
}
