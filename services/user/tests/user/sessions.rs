//! Sessions (refresh, rotation, sign-out, revocation) and the login
//! throttle's model, over the user service's gRPC API.

use fip_kit::ApiError;
use fip_kit::auth::{EdgeIdentity, forwarded};
use fip_kit::testing::with_token;
use fip_proto::common::v1::ErrorReason;
use fip_proto::user::v1 as pb;
use tonic::Code;

use crate::harness::Mesh;

fn reason(status: &tonic::Status) -> ErrorReason {
    ApiError::from_status(status)
        .unwrap_or_else(|| panic!("no error details in {status:?}"))
        .reason
}

/// Whether `token` is still accepted.
async fn works(mesh: &Mesh, token: &str) -> Result<(), ErrorReason> {
    mesh.users()
        .get_current_user(with_token(pb::GetCurrentUserRequest {}, token))
        .await
        .map(|_| ())
        .map_err(|e| reason(&e))
}

async fn refresh(
    mesh: &Mesh,
    refresh_token: &str,
) -> Result<pb::RefreshSessionResponse, ErrorReason> {
    mesh.users()
        .refresh_session(pb::RefreshSessionRequest {
            refresh_token: refresh_token.into(),
        })
        .await
        .map(|r| r.into_inner())
        .map_err(|e| reason(&e))
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replayed_one_ends_the_session() {
    let mesh = Mesh::start().await;
    mesh.sign_up("ada").await;
    let login = mesh.login_full("ada").await;
    let first = refresh(&mesh, &login.refresh_token).await.unwrap();
    assert_ne!(first.refresh_token, login.refresh_token);
    assert_eq!(first.user.unwrap().username, "ada");
    works(&mesh, &first.access_token).await.unwrap();
    // The old access token stays good (same session) until it expires.
    works(&mesh, &login.access_token).await.unwrap();
    let second = refresh(&mesh, &first.refresh_token).await.unwrap();

    // Someone presents the first refresh token again: one of the two
    // holders is not its owner, so the session ends, for both.
    assert_eq!(
        refresh(&mesh, &login.refresh_token).await.unwrap_err(),
        ErrorReason::SessionEnded
    );
    for token in [
        &login.access_token,
        &first.access_token,
        &second.access_token,
    ] {
        assert_eq!(works(&mesh, token).await, Err(ErrorReason::SessionEnded));
    }
    assert_eq!(
        refresh(&mesh, &second.refresh_token).await.unwrap_err(),
        ErrorReason::SessionEnded
    );
    assert_eq!(
        refresh(&mesh, "fip_rt_made-up").await.unwrap_err(),
        ErrorReason::SessionEnded
    );
    let empty = mesh
        .users()
        .refresh_session(pb::RefreshSessionRequest::default())
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    mesh.stop().await;
}

#[tokio::test]
async fn logout_ends_this_session_or_all_of_them() {
    let mesh = Mesh::start().await;
    let (_, laptop) = mesh.sign_up("bea").await;
    let phone = mesh.login_full("bea").await;
    let tablet = mesh.login("bea").await;
    let ended = mesh
        .users()
        .logout(with_token(pb::LogoutRequest::default(), &laptop))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended.ended_sessions, 1);
    assert_eq!(works(&mesh, &laptop).await, Err(ErrorReason::SessionEnded));
    works(&mesh, &phone.access_token).await.unwrap();
    works(&mesh, &tablet).await.unwrap();

    let ended = mesh
        .users()
        .logout(with_token(
            pb::LogoutRequest { all_sessions: true },
            &tablet,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended.ended_sessions, 2);
    assert_eq!(
        works(&mesh, &phone.access_token).await,
        Err(ErrorReason::SessionEnded)
    );
    assert_eq!(
        refresh(&mesh, &phone.refresh_token).await.unwrap_err(),
        ErrorReason::SessionEnded,
        "the refresh token of an ended session is refused"
    );
    mesh.stop().await;
}

#[tokio::test]
async fn a_password_change_ends_every_other_session() {
    let mesh = Mesh::start().await;
    let (_, here) = mesh.sign_up("cat").await;
    let elsewhere = mesh.login_full("cat").await;
    mesh.users()
        .change_password(with_token(
            pb::ChangePasswordRequest {
                current_password: "cat-passphrase".into(),
                new_password: "a new cat passphrase".into(),
            },
            &here,
        ))
        .await
        .unwrap();
    works(&mesh, &here).await.unwrap();
    assert_eq!(
        works(&mesh, &elsewhere.access_token).await,
        Err(ErrorReason::SessionEnded)
    );
    assert_eq!(
        refresh(&mesh, &elsewhere.refresh_token).await.unwrap_err(),
        ErrorReason::SessionEnded
    );
    mesh.stop().await;
}

#[tokio::test]
async fn users_list_and_revoke_their_own_sessions_only() {
    let mesh = Mesh::start().await;
    let (_, first) = mesh.sign_up("dan").await;
    let second = mesh.login("dan").await;
    let (_, eve) = mesh.sign_up("eve").await;
    let list = |token: String| {
        let mut users = mesh.users();
        async move {
            users
                .list_sessions(with_token(pb::ListSessionsRequest::default(), &token))
                .await
                .unwrap()
                .into_inner()
                .sessions
        }
    };
    let sessions = list(second.clone()).await;
    assert_eq!(sessions.len(), 2);
    assert!(sessions[0].current, "newest first, and it is this one");
    assert!(!sessions[1].current);
    assert_eq!(sessions[1].client_address, "127.0.0.1");
    let older = sessions[1].id.clone();

    // Eve cannot see or end dan's session.
    assert_eq!(list(eve.clone()).await.len(), 1);
    let foreign = mesh
        .users()
        .revoke_session(with_token(
            pb::RevokeSessionRequest { id: older.clone() },
            &eve,
        ))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    works(&mesh, &first).await.unwrap();

    mesh.users()
        .revoke_session(with_token(pb::RevokeSessionRequest { id: older }, &second))
        .await
        .unwrap();
    assert_eq!(works(&mesh, &first).await, Err(ErrorReason::SessionEnded));
    assert_eq!(list(second.clone()).await.len(), 1);
    let garbage = mesh
        .users()
        .revoke_session(with_token(
            pb::RevokeSessionRequest {
                id: "x".repeat(5000),
            },
            &second,
        ))
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), Code::InvalidArgument);
    mesh.stop().await;
}

/// A login as the gateway forwards it for a client at `address`.
fn login_from(
    mesh: &Mesh,
    address: &str,
    username: &str,
    password: &str,
) -> tonic::Request<pb::LoginRequest> {
    let edge = EdgeIdentity::new(&mesh.keys, &mesh.config).unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("user-agent", "browser/1.0".parse().unwrap());
    edge.stamp(&mut headers, Some(address.parse().unwrap()));
    let mut request = tonic::Request::new(pb::LoginRequest {
        username: username.into(),
        password: password.into(),
    });
    *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
    request
}

async fn attempt(
    mesh: &Mesh,
    address: &str,
    username: &str,
    password: &str,
) -> Result<(), ErrorReason> {
    mesh.users()
        .login(login_from(mesh, address, username, password))
        .await
        .map(|_| ())
        .map_err(|e| reason(&e))
}

#[tokio::test]
async fn an_attacker_locks_out_their_own_address_not_the_account_owner() {
    // The harness allows 3 failures per account and address.
    let mesh = Mesh::start().await;
    mesh.sign_up("fay").await;
    let attacker = "203.0.113.9";
    for _ in 0..3 {
        assert_eq!(
            attempt(&mesh, attacker, "fay", "guess-guess").await,
            Err(ErrorReason::LoginFailed)
        );
    }
    // The attacker is refused, even with the right password; by email too
    // (the account is the key, not the login string).
    assert_eq!(
        attempt(&mesh, attacker, "fay", "fay-passphrase").await,
        Err(ErrorReason::LoginThrottled)
    );
    assert_eq!(
        attempt(&mesh, attacker, "FAY@example.org", "guess-guess").await,
        Err(ErrorReason::LoginThrottled)
    );
    // The owner, elsewhere, signs in.
    attempt(&mesh, "198.51.100.7", "fay", "fay-passphrase")
        .await
        .expect("the owner is not locked out");
    // Attempts during the refusal count: the refusal grows.
    let retry = |status: tonic::Status| -> i64 {
        ApiError::from_status(&status).unwrap().metadata["retry_after_seconds"]
            .parse()
            .unwrap()
    };
    let first = mesh
        .users()
        .login(login_from(&mesh, attacker, "fay", "x"))
        .await
        .unwrap_err();
    let later = mesh
        .users()
        .login(login_from(&mesh, attacker, "fay", "x"))
        .await
        .unwrap_err();
    assert!(
        retry(later) > retry(first),
        "each attempt doubles the refusal"
    );
    // The audit says where each came from, as the gateway vouched.
    let events = mesh
        .users()
        .login(login_from(&mesh, "198.51.100.7", "fay", "fay-passphrase"))
        .await
        .unwrap()
        .into_inner();
    let mine = mesh
        .audit()
        .list_my_audit_events(with_token(
            pb::ListMyAuditEventsRequest::default(),
            &events.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    assert!(mine.iter().any(|e| e.client_address == attacker));
    assert!(
        mine.iter()
            .any(|e| e.client_address == "198.51.100.7" && e.user_agent == "browser/1.0")
    );
    mesh.stop().await;
}

#[tokio::test]
async fn a_spraying_address_is_refused_for_every_account() {
    let mesh = Mesh::start_with(|c| c.user.login_max_failures_per_address = 4).await;
    mesh.sign_up("gil").await;
    let sprayer = "192.0.2.66";
    for name in ["a1", "a2", "a3", "a4"] {
        assert_eq!(
            attempt(&mesh, sprayer, name, "Winter2026!").await,
            Err(ErrorReason::LoginFailed)
        );
    }
    assert_eq!(
        attempt(&mesh, sprayer, "gil", "gil-passphrase").await,
        Err(ErrorReason::LoginThrottled)
    );
    attempt(&mesh, "192.0.2.67", "gil", "gil-passphrase")
        .await
        .expect("another address is fine");
    mesh.stop().await;
}

#[tokio::test]
async fn concurrent_guesses_cannot_slip_past_the_limit() {
    let mesh = Mesh::start().await;
    mesh.sign_up("hal").await;
    let mut guesses = Vec::new();
    for i in 0..12 {
        let mut users = mesh.users();
        let request = login_from(&mesh, "203.0.113.50", "hal", &format!("guess-{i}"));
        guesses.push(tokio::spawn(async move { users.login(request).await }));
    }
    let mut failed = 0;
    let mut throttled = 0;
    for guess in guesses {
        match reason(&guess.await.unwrap().unwrap_err()) {
            ErrorReason::LoginFailed => failed += 1,
            ErrorReason::LoginThrottled => throttled += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        failed, 3,
        "only the allowed attempts reached the password check"
    );
    assert_eq!(throttled, 9);
    mesh.stop().await;
}

#[tokio::test]
async fn a_forged_client_address_on_an_internal_port_is_ignored() {
    let mesh = Mesh::start().await;
    mesh.sign_up("ida").await;
    // A direct caller sets the gateway's headers without its identity (and
    // a forged one): they are dropped, and the socket's address counts.
    for forged in [None, Some("not-a-token")] {
        for i in 0..2 {
            let mut request = tonic::Request::new(pb::LoginRequest {
                username: "ida".into(),
                password: format!("wrong-{i}"),
            });
            let metadata = request.metadata_mut();
            metadata.insert(
                forwarded::CLIENT_ADDRESS,
                format!("10.9.9.{i}").parse().unwrap(),
            );
            metadata.insert("x-forwarded-for", format!("10.8.8.{i}").parse().unwrap());
            if let Some(token) = forged {
                metadata.insert(forwarded::EDGE, token.parse().unwrap());
            }
            let _ = mesh.users().login(request).await;
        }
    }
    // Four failures from 127.0.0.1 against a limit of three: refused.
    let refused = mesh
        .users()
        .login(pb::LoginRequest {
            username: "ida".into(),
            password: "ida-passphrase".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), ErrorReason::LoginThrottled);
    mesh.stop().await;
}

#[tokio::test]
async fn session_checks_answer_service_identities_only() {
    let mesh = Mesh::start().await;
    let (ada, token) = mesh.sign_up("ada").await;
    let verifier = fip_kit::auth::TokenVerifier::new(&mesh.keys, &mesh.config).unwrap();
    let fip_kit::auth::Principal::User(user) = verifier.verify(&token).unwrap() else {
        panic!("a user token");
    };
    let check = |bearer: String, session_id: String, user_id: i64| {
        let mut internal = pb::user_internal_service_client::UserInternalServiceClient::new(
            mesh.user_channel.clone(),
        );
        async move {
            internal
                .check_session(with_token(
                    pb::CheckSessionRequest {
                        session_id,
                        user_id,
                    },
                    &bearer,
                ))
                .await
                .map(|r| r.into_inner().live)
        }
    };
    let jobs = mesh.service_token(fip_kit::mesh::ServiceName::Jobs);
    assert!(
        check(jobs.clone(), user.session_id.clone(), ada)
            .await
            .unwrap()
    );
    assert!(
        !check(jobs.clone(), user.session_id.clone(), ada + 1)
            .await
            .unwrap()
    );
    assert!(
        !check(jobs.clone(), "0190-unknown".into(), ada)
            .await
            .unwrap()
    );
    let denied = check(token.clone(), user.session_id.clone(), ada)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    mesh.stop().await;
}
