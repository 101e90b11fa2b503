//! The user service through its gRPC API.

use fip_kit::ApiError;
use fip_kit::auth::{Principal, TokenVerifier};
use fip_kit::testing::with_token;
use fip_proto::common::v1::ErrorReason;
use fip_proto::registry::v1::ApiType;
use fip_proto::user::v1 as pb;
use fip_proto::user::v1::audit_service_client::AuditServiceClient;
use tonic::Code;

use crate::harness::Mesh;
use crate::remote::{self, GOOD_TOKEN, HANG};

fn reason(status: &tonic::Status) -> ErrorReason {
    ApiError::from_status(status)
        .unwrap_or_else(|| panic!("no error details in {status:?}"))
        .reason
}

#[tokio::test]
async fn register_login_and_current_user() {
    let mesh = Mesh::start().await;
    let (id, token) = mesh.sign_up("ada").await;
    let verifier = TokenVerifier::new(&mesh.keys, &mesh.config).unwrap();
    match verifier.verify(&token).unwrap() {
        Principal::User(user) => {
            assert_eq!(user.id, id);
            assert_eq!(user.roles, vec![fip_kit::auth::Role::Researcher]);
        }
        other => panic!("{other:?}"),
    }
    let me = mesh
        .users()
        .get_current_user(with_token(pb::GetCurrentUserRequest {}, &token))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(me.username, "ada");
    assert!(me.last_login.is_some(), "login records last_login");
    assert!(me.date_joined.is_some());

    // Login by email works too, and the reply has the seed's shape.
    let login = mesh
        .users()
        .login(pb::LoginRequest {
            username: "ADA@example.org".into(),
            password: "ada-passphrase".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(login.token_type, "bearer");
    assert_eq!(login.expires_in, 15 * 60);
    assert_eq!(login.refresh_expires_in, 14 * 24 * 3600);
    assert!(login.refresh_token.starts_with("fip_rt_"));

    // The same username or email cannot register twice, whatever the case.
    let again = mesh
        .users()
        .register(pb::RegisterRequest {
            username: "ADA".into(),
            email: "other@example.org".into(),
            password: "a long passphrase".into(),
            first_name: "A".into(),
            last_name: "B".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    mesh.stop().await;
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same_then_get_throttled() {
    let mesh = Mesh::start().await;
    mesh.sign_up("bob").await;
    let attempt = |username: &str, password: &str| {
        let mut users = mesh.users();
        let request = pb::LoginRequest {
            username: username.into(),
            password: password.into(),
        };
        async move { users.login(request).await }
    };
    let unknown = attempt("nobody", "whatever-password").await.unwrap_err();
    let wrong = attempt("bob", "not-the-password").await.unwrap_err();
    assert_eq!(unknown.code(), wrong.code());
    assert_eq!(unknown.message(), wrong.message());
    assert_eq!(reason(&wrong), ErrorReason::LoginFailed);

    // Two more failures reach the limit (3); then even the right password is
    // refused from this address (the tests call from one address; other
    // addresses are not refused: see the sessions tests).
    attempt("bob", "nope-nope-1").await.unwrap_err();
    attempt("bob", "nope-nope-2").await.unwrap_err();
    let refused = attempt("bob", "bob-passphrase").await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(reason(&refused), ErrorReason::LoginThrottled);
    let details = ApiError::from_status(&refused).unwrap();
    assert!(
        details.metadata["retry_after_seconds"]
            .parse::<i64>()
            .unwrap()
            > 0
    );
    mesh.stop().await;
}

#[tokio::test]
async fn throttling_ends_when_the_lockout_has_passed() {
    let mesh = Mesh::start_with(|c| c.user.login_max_failures = 1).await;
    mesh.sign_up("cyd").await;
    let mut users = mesh.users();
    let login = |password: &str| pb::LoginRequest {
        username: "cyd".into(),
        password: password.into(),
    };
    users.login(login("wrong-password")).await.unwrap_err();
    let refused = users.login(login("cyd-passphrase")).await.unwrap_err();
    assert_eq!(reason(&refused), ErrorReason::LoginThrottled);
    // Move the recorded refusals and windows into the past instead of
    // waiting them out.
    let db = fip_user::open_db(&mesh.config).await.unwrap();
    sqlx::query("UPDATE login_throttle SET locked_until = 1, first_failure_at = 1")
        .execute(&db.pool)
        .await
        .unwrap();
    users
        .login(login("cyd-passphrase"))
        .await
        .expect("lockout over");
    mesh.stop().await;
}

#[tokio::test]
async fn registration_is_validated_field_by_field() {
    let mesh = Mesh::start().await;
    let error = mesh
        .users()
        .register(pb::RegisterRequest {
            username: "a b".into(),
            email: "not-an-email".into(),
            password: "short".into(),
            first_name: String::new(),
            last_name: "x".repeat(151),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let details = ApiError::from_status(&error).unwrap();
    let fields: Vec<&str> = details.violations.iter().map(|(f, _)| f.as_str()).collect();
    for field in ["username", "email", "password", "first_name", "last_name"] {
        assert!(fields.contains(&field), "{field} missing from {fields:?}");
    }
    mesh.stop().await;
}

#[tokio::test]
async fn admins_manage_roles_and_activation_of_others_and_it_ends_sessions() {
    let mesh = Mesh::start().await;
    let (ada, ada_token) = mesh.sign_up("ada").await;
    let (bob, bob_token) = mesh.sign_up("bob").await;
    let admin = mesh.admin_token().await;
    let me = mesh
        .users()
        .get_current_user(with_token(pb::GetCurrentUserRequest {}, &admin))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    let roles = |id, roles: &[pb::Role]| pb::SetUserRolesRequest {
        id,
        roles: roles.iter().map(|r| *r as i32).collect(),
    };
    // A researcher cannot change roles.
    let denied = mesh
        .users()
        .set_user_roles(with_token(roles(bob, &[pb::Role::Admin]), &bob_token))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // An admin makes ada an admin: ada's session ends (her token carried
    // the researcher role only), and her next sign-in has the new roles.
    let updated = mesh
        .users()
        .set_user_roles(with_token(
            roles(ada, &[pb::Role::Admin, pb::Role::Researcher]),
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(updated.roles.contains(&(pb::Role::Admin as i32)));
    let ended = mesh
        .users()
        .list_users(with_token(pb::ListUsersRequest::default(), &ada_token))
        .await
        .unwrap_err();
    assert_eq!(reason(&ended), ErrorReason::SessionEnded);
    let ada_admin = mesh.login("ada").await;
    mesh.users()
        .list_users(with_token(pb::ListUsersRequest::default(), &ada_admin))
        .await
        .expect("the new roles hold from the next sign-in");
    // No admin acts on their own roles or activation.
    for own in [
        mesh.users()
            .set_user_roles(with_token(roles(me.id, &[pb::Role::Researcher]), &admin))
            .await
            .unwrap_err(),
        mesh.users()
            .set_user_active(with_token(
                pb::SetUserActiveRequest {
                    id: me.id,
                    is_active: false,
                },
                &admin,
            ))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(own.code(), Code::PermissionDenied);
        assert_eq!(
            ApiError::from_status(&own).unwrap().metadata["target"],
            "self"
        );
    }
    // Deactivating bob ends his session at once, and he cannot sign in.
    mesh.users()
        .set_user_active(with_token(
            pb::SetUserActiveRequest {
                id: bob,
                is_active: false,
            },
            &admin,
        ))
        .await
        .unwrap();
    let gone = mesh
        .users()
        .get_current_user(with_token(pb::GetCurrentUserRequest {}, &bob_token))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::Unauthenticated);
    assert_eq!(reason(&gone), ErrorReason::SessionEnded);
    let refused = mesh
        .users()
        .login(pb::LoginRequest {
            username: "bob".into(),
            password: "bob-passphrase".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), ErrorReason::AccountDisabled);
    // Listing is admin-only and paged.
    let page = mesh
        .users()
        .list_users(with_token(
            pb::ListUsersRequest {
                page_size: 2,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.users.len(), 2);
    assert_eq!(page.total_size, 3);
    assert!(!page.next_page_token.is_empty());
    let rest = mesh
        .users()
        .list_users(with_token(
            pb::ListUsersRequest {
                page_size: 5,
                page_token: page.next_page_token,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.users.len(), 1);
    assert!(page.users.iter().all(|u| u.id != rest.users[0].id));
    mesh.stop().await;
}

#[tokio::test]
async fn password_change_and_profile_update() {
    let mesh = Mesh::start().await;
    let (_, token) = mesh.sign_up("dee").await;
    let wrong = mesh
        .users()
        .change_password(with_token(
            pb::ChangePasswordRequest {
                current_password: "guess-guess".into(),
                new_password: "a new passphrase".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&wrong), ErrorReason::LoginFailed);
    mesh.users()
        .change_password(with_token(
            pb::ChangePasswordRequest {
                current_password: "dee-passphrase".into(),
                new_password: "a new passphrase".into(),
            },
            &token,
        ))
        .await
        .unwrap();
    mesh.users()
        .login(pb::LoginRequest {
            username: "dee".into(),
            password: "a new passphrase".into(),
        })
        .await
        .expect("the new password works");

    let updated = mesh
        .users()
        .update_profile(with_token(
            pb::UpdateProfileRequest {
                user: Some(pb::User {
                    institution: "Wits".into(),
                    first_name: "Ignored".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["institution".into()],
                }),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(updated.institution, "Wits");
    assert_eq!(updated.first_name, "Test", "fields outside the mask stay");
    let immutable = mesh
        .users()
        .update_profile(with_token(
            pb::UpdateProfileRequest {
                user: Some(pb::User::default()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["username".into()],
                }),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(immutable.code(), Code::InvalidArgument);
    mesh.stop().await;
}

async fn put_token(
    mesh: &Mesh,
    token: &str,
    service_id: i64,
    api_token: &str,
) -> Result<pb::ServiceCredential, tonic::Status> {
    mesh.credentials()
        .put_service_credential(with_token(
            pb::PutServiceCredentialRequest {
                service_id,
                api_token: api_token.into(),
                label: "My account".into(),
                ..Default::default()
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().credential.unwrap())
}

async fn verify(
    mesh: &Mesh,
    token: &str,
    service_id: i64,
) -> Result<pb::VerifyServiceCredentialResponse, tonic::Status> {
    mesh.credentials()
        .verify_service_credential(with_token(
            pb::VerifyServiceCredentialRequest { service_id },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn put_replaces_and_never_returns_the_secret() {
    let mesh = Mesh::start().await;
    let (remote_url, _remote) = remote::start().await;
    let service = mesh
        .add_service("h3africa", ApiType::Michigan, &remote_url)
        .await;
    let (_, token) = mesh.sign_up("eve").await;
    let created = put_token(&mesh, &token, service, GOOD_TOKEN).await.unwrap();
    assert!(created.has_api_token);
    assert_eq!(created.credential_type, pb::CredentialType::ApiToken as i32);
    assert_eq!(created.masked_token, "…cdef");
    assert!(!format!("{created:?}").contains(GOOD_TOKEN));
    assert!(!created.is_verified);

    let checked = verify(&mesh, &token, service).await.unwrap();
    assert!(checked.valid);
    assert!(checked.credential.as_ref().unwrap().is_verified);
    assert_eq!(checked.remote_username, "ada");

    // Putting again replaces it and resets verification.
    let replaced = put_token(&mesh, &token, service, "h3a_another_token_987654321")
        .await
        .unwrap();
    assert_eq!(replaced.id, created.id);
    assert!(!replaced.is_verified);
    assert!(replaced.last_verified_at.is_none());
    let listed = mesh
        .credentials()
        .list_service_credentials(with_token(pb::ListServiceCredentialsRequest {}, &token))
        .await
        .unwrap()
        .into_inner()
        .credentials;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].masked_token, "…4321");
    mesh.stop().await;
}

#[tokio::test]
async fn test_connection_against_both_api_families() {
    let mesh = Mesh::start().await;
    let (remote_url, remote) = remote::start().await;
    let michigan = mesh
        .add_service("michigan", ApiType::Michigan, &remote_url)
        .await;
    let wes = mesh
        .add_service("ilifu", ApiType::Ga4ghWes, &remote_url)
        .await;
    let (_, token) = mesh.sign_up("fay").await;

    // A token the server does not know: a normal answer, recorded.
    put_token(&mesh, &token, michigan, "h3a_revoked_token_000000")
        .await
        .unwrap();
    let refused = verify(&mesh, &token, michigan).await.unwrap();
    assert!(!refused.valid);
    let credential = refused.credential.unwrap();
    assert!(!credential.is_verified);
    assert_eq!(credential.verification_error, "Invalid API Token.");

    // WES: 401 for a bad bearer token, valid for the good one.
    put_token(&mesh, &token, wes, "wes-bad-token-1234567")
        .await
        .unwrap();
    let refused = verify(&mesh, &token, wes).await.unwrap();
    assert!(!refused.valid);
    assert!(refused.message.contains("refused"), "{}", refused.message);
    put_token(&mesh, &token, wes, GOOD_TOKEN).await.unwrap();
    assert!(verify(&mesh, &token, wes).await.unwrap().valid);

    // Checks within 10 s of each other are refused.
    let again = verify(&mesh, &token, wes).await.unwrap_err();
    assert_eq!(reason(&again), ErrorReason::RateLimited);

    // Server trouble is an error and records nothing.
    put_token(&mesh, &token, michigan, GOOD_TOKEN)
        .await
        .unwrap();
    for status in [503, 500, HANG] {
        remote.fail(status);
        let error = verify(&mesh, &token, michigan).await.unwrap_err();
        assert_eq!(error.code(), Code::Unavailable, "{status}: {error:?}");
        assert_eq!(reason(&error), ErrorReason::ServiceUnavailable, "{status}");
    }
    let untouched = mesh
        .credentials()
        .get_service_credential(with_token(
            pb::GetServiceCredentialRequest {
                service_id: michigan,
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert!(untouched.last_verified_at.is_none());
    mesh.stop().await;
}

#[tokio::test]
async fn audit_trail_is_kept_and_scoped() {
    let mesh = Mesh::start().await;
    let (remote_url, _) = remote::start().await;
    let service = mesh
        .add_service("topmed", ApiType::Michigan, &remote_url)
        .await;
    let (gil, token) = mesh.sign_up("gil").await;
    put_token(&mesh, &token, service, GOOD_TOKEN).await.unwrap();
    mesh.credentials()
        .delete_service_credential(with_token(
            pb::DeleteServiceCredentialRequest {
                service_id: service,
            },
            &token,
        ))
        .await
        .unwrap();
    let mut audit = AuditServiceClient::new(mesh.user_channel.clone());
    let mine = audit
        .list_my_audit_events(with_token(pb::ListMyAuditEventsRequest::default(), &token))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    let actions: Vec<i32> = mine.iter().map(|e| e.action).collect();
    for expected in [
        pb::AuditAction::UserRegistered,
        pb::AuditAction::Login,
        pb::AuditAction::CredentialCreated,
        pb::AuditAction::CredentialDeleted,
    ] {
        assert!(
            actions.contains(&(expected as i32)),
            "{expected:?} in {actions:?}"
        );
    }
    assert!(mine.iter().all(|e| e.user_id == gil));
    assert_eq!(
        mine[0].action,
        pb::AuditAction::CredentialDeleted as i32,
        "newest first"
    );
    assert!(!mine[0].client_address.is_empty());

    let denied = audit
        .list_audit_events(with_token(pb::ListAuditEventsRequest::default(), &token))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let all = audit
        .list_audit_events(with_token(
            pb::ListAuditEventsRequest {
                user_id: gil,
                actions: vec![pb::AuditAction::Login as i32],
                ..Default::default()
            },
            &mesh.admin_token().await,
        ))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    assert_eq!(all.len(), 1);
    mesh.stop().await;
}
