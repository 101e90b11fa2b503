//! The vault's security properties.

use fip_kit::ApiError;
use fip_kit::mesh::ServiceName;
use fip_kit::testing::with_token;
use fip_proto::common::v1::ErrorReason;
use fip_proto::registry::v1::ApiType;
use fip_proto::user::v1 as pb;
use fip_proto::user::v1::credential_internal_service_client::CredentialInternalServiceClient;
use fip_proto::user::v1::lookup_service_credential_response::Secret;
use tonic::Code;

use crate::harness::Mesh;
use crate::remote::{self, GOOD_TOKEN};

fn put(service_id: i64, api_token: &str) -> pb::PutServiceCredentialRequest {
    pb::PutServiceCredentialRequest {
        service_id,
        api_token: api_token.into(),
        ..Default::default()
    }
}

async fn lookup(
    mesh: &Mesh,
    token: Option<&str>,
    user_id: i64,
    service_id: i64,
) -> Result<pb::LookupServiceCredentialResponse, tonic::Status> {
    let mut client = CredentialInternalServiceClient::new(mesh.user_channel.clone());
    let request = pb::LookupServiceCredentialRequest {
        user_id,
        service_id,
        job_id: "job-1".into(),
    };
    let request = match token {
        Some(t) => with_token(request, t),
        None => tonic::Request::new(request),
    };
    client
        .lookup_service_credential(request)
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn users_cannot_reach_each_others_credentials() {
    let mesh = Mesh::start().await;
    let (url, _) = remote::start().await;
    let service = mesh.add_service("h3a", ApiType::Michigan, &url).await;
    let (_, ada) = mesh.sign_up("ada").await;
    let (_, bob) = mesh.sign_up("bob").await;
    mesh.credentials()
        .put_service_credential(with_token(put(service, GOOD_TOKEN), &ada))
        .await
        .unwrap();
    let read = mesh
        .credentials()
        .get_service_credential(with_token(
            pb::GetServiceCredentialRequest {
                service_id: service,
            },
            &bob,
        ))
        .await
        .unwrap_err();
    assert_eq!(read.code(), Code::NotFound);
    let delete = mesh
        .credentials()
        .delete_service_credential(with_token(
            pb::DeleteServiceCredentialRequest {
                service_id: service,
            },
            &bob,
        ))
        .await
        .unwrap_err();
    assert_eq!(delete.code(), Code::NotFound);
    let bobs = mesh
        .credentials()
        .list_service_credentials(with_token(pb::ListServiceCredentialsRequest {}, &bob))
        .await
        .unwrap()
        .into_inner()
        .credentials;
    assert!(bobs.is_empty());
    // Ada's is still there.
    mesh.credentials()
        .get_service_credential(with_token(
            pb::GetServiceCredentialRequest {
                service_id: service,
            },
            &ada,
        ))
        .await
        .expect("ada's credential survives bob's attempts");
    mesh.stop().await;
}

#[tokio::test]
async fn internal_lookup_answers_the_jobs_identity_only() {
    let mesh = Mesh::start().await;
    let (url, _) = remote::start().await;
    let service = mesh.add_service("h3a", ApiType::Michigan, &url).await;
    let (ada_id, ada) = mesh.sign_up("ada").await;
    mesh.credentials()
        .put_service_credential(with_token(put(service, GOOD_TOKEN), &ada))
        .await
        .unwrap();

    let anonymous = lookup(&mesh, None, ada_id, service).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    for token in [
        ada.clone(),
        mesh.admin_token().await,
        mesh.service_token(ServiceName::Registry),
        mesh.service_token(ServiceName::Notify),
    ] {
        let denied = lookup(&mesh, Some(&token), ada_id, service)
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        let details = ApiError::from_status(&denied).unwrap();
        assert_eq!(details.metadata["required_identity"], "service:jobs");
    }

    let jobs = mesh.service_token(ServiceName::Jobs);
    let answer = lookup(&mesh, Some(&jobs), ada_id, service).await.unwrap();
    assert_eq!(
        answer.secret,
        Some(Secret::ApiToken(pb::ApiTokenSecret {
            token: GOOD_TOKEN.into()
        }))
    );
    // Someone without a credential: CREDENTIALS_MISSING with where to fix it.
    let (bob_id, _) = mesh.sign_up("bob").await;
    let missing = lookup(&mesh, Some(&jobs), bob_id, service)
        .await
        .unwrap_err();
    let details = ApiError::from_status(&missing).unwrap();
    assert_eq!(missing.code(), Code::FailedPrecondition);
    assert_eq!(details.reason, ErrorReason::CredentialsMissing);
    assert_eq!(
        details.metadata["settings_path"],
        format!("/settings/services/{service}")
    );

    // Both the refusals and the lookup are in ada's audit trail.
    let mut audit = fip_proto::user::v1::audit_service_client::AuditServiceClient::new(
        mesh.user_channel.clone(),
    );
    let events = audit
        .list_my_audit_events(with_token(
            pb::ListMyAuditEventsRequest {
                actions: vec![pb::AuditAction::CredentialAccessed as i32],
                ..Default::default()
            },
            &ada,
        ))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    let denied = events
        .iter()
        .filter(|e| e.outcome == pb::AuditOutcome::Denied as i32)
        .count();
    let granted: Vec<_> = events
        .iter()
        .filter(|e| e.outcome == pb::AuditOutcome::Success as i32)
        .collect();
    // The four tokens and the anonymous call.
    assert_eq!(denied, 5);
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0].actor, "service:jobs");
    assert_eq!(granted[0].detail.as_ref().unwrap().job_id, "job-1");
    mesh.stop().await;
}

#[tokio::test]
async fn no_token_is_stored_in_plain_text() {
    if std::env::var("FIP_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        // The raw-bytes check reads the SQLite files; the PostgreSQL pass
        // checks the same code path through the embedded run.
        return;
    }
    let mesh = Mesh::start().await;
    let (url, _) = remote::start().await;
    let service = mesh.add_service("h3a", ApiType::Michigan, &url).await;
    let wes = mesh.add_service("wes", ApiType::Ga4ghWes, &url).await;
    let (_, ada) = mesh.sign_up("ada").await;
    let secret = "h3a_SECRET_needle_5f3c9e1d";
    let password = "basic-auth-PASSWORD-needle";
    mesh.credentials()
        .put_service_credential(with_token(put(service, secret), &ada))
        .await
        .unwrap();
    mesh.credentials()
        .put_service_credential(with_token(
            pb::PutServiceCredentialRequest {
                service_id: wes,
                credential_type: pb::CredentialType::BasicAuth as i32,
                username: "ada".into(),
                password: password.into(),
                ..Default::default()
            },
            &ada,
        ))
        .await
        .unwrap();
    let kept = mesh.stop().await;
    let dir = kept.path().to_path_buf();
    let mut scanned = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("user.db") {
            // SQLite may remove its -wal/-shm files as the last pool closes.
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("{name}: {e}"),
            };
            scanned += bytes.len();
            for needle in [secret, password, "SECRET_needle", "PASSWORD-needle"] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{needle} found in plain text in {name}"
                );
            }
        }
    }
    assert!(scanned > 0, "the database files were found and read");
}

#[tokio::test]
async fn key_rotation_keeps_every_credential_readable() {
    let mesh = Mesh::start().await;
    let (url, _) = remote::start().await;
    let mut services = Vec::new();
    for slug in ["one", "two", "three"] {
        services.push(mesh.add_service(slug, ApiType::Michigan, &url).await);
    }
    let mut owners = Vec::new();
    for (i, name) in ["ada", "bob"].iter().enumerate() {
        let (id, token) = mesh.sign_up(name).await;
        for service in &services {
            let secret = format!("token-{name}-{service}-{i}-abcdefgh");
            mesh.credentials()
                .put_service_credential(with_token(put(*service, &secret), &token))
                .await
                .unwrap();
            owners.push((id, *service, secret));
        }
    }
    let before = fip_user::vault::key_ring(&mesh.config)
        .unwrap()
        .active_key_id();
    let report = fip_user::admin::rotate_credential_key(&mesh.config)
        .await
        .unwrap();
    assert_eq!(report.resealed, owners.len());
    assert_ne!(report.active_key_id, before);
    // Every secret still opens, through the running service (which picks up
    // the new key by itself) ...
    let jobs = mesh.service_token(ServiceName::Jobs);
    for (user, service, secret) in &owners {
        let answer = lookup(&mesh, Some(&jobs), *user, *service).await.unwrap();
        assert_eq!(
            answer.secret,
            Some(Secret::ApiToken(pb::ApiTokenSecret {
                token: secret.clone()
            }))
        );
    }
    // ... and all of them are now under the new key.
    let again = fip_user::admin::rotate_credential_key(&mesh.config)
        .await
        .unwrap();
    assert_eq!(
        again.resealed,
        owners.len(),
        "a second rotation re-seals all again"
    );
    mesh.stop().await;
}

#[tokio::test]
async fn bad_credentials_are_refused_and_change_nothing() {
    let mesh = Mesh::start().await;
    let (url, _) = remote::start().await;
    let service = mesh.add_service("h3a", ApiType::Michigan, &url).await;
    let (_, ada) = mesh.sign_up("ada").await;
    let cases = [
        (put(service, ""), "api_token"),
        (put(service, "   "), "api_token"),
        (put(0, GOOD_TOKEN), "service_id"),
        (put(service, &"x".repeat(9000)), "api_token"),
        (
            pb::PutServiceCredentialRequest {
                label: "l".repeat(201),
                ..put(service, GOOD_TOKEN)
            },
            "label",
        ),
        (
            pb::PutServiceCredentialRequest {
                credential_type: pb::CredentialType::BasicAuth as i32,
                username: "ada".into(),
                password: "pw-pw-pw-pw".into(),
                ..put(service, "")
            },
            "credential_type",
        ),
        (
            pb::PutServiceCredentialRequest {
                password: "stray".into(),
                ..put(service, GOOD_TOKEN)
            },
            "password",
        ),
    ];
    for (request, field) in cases {
        let error = mesh
            .credentials()
            .put_service_credential(with_token(request, &ada))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{field}: {error:?}");
        let details = ApiError::from_status(&error).unwrap();
        assert!(
            details.violations.iter().any(|(f, _)| f == field),
            "{field} not in {:?}",
            details.violations
        );
    }
    let unknown = mesh
        .credentials()
        .put_service_credential(with_token(put(424242, GOOD_TOKEN), &ada))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let stored = mesh
        .credentials()
        .list_service_credentials(with_token(pb::ListServiceCredentialsRequest {}, &ada))
        .await
        .unwrap()
        .into_inner()
        .credentials;
    assert!(stored.is_empty(), "nothing was stored: {stored:?}");
    mesh.stop().await;
}
