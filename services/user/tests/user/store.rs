//! The store conformance suite: the same checks on SQLite and PostgreSQL.

use fip_kit::auth::Role;
use fip_kit::db::TestDb;
use fip_kit::mesh::ServiceName;
use fip_user::store::sql::SqlStore;
use fip_user::store::*;
use fip_user::vault::Sealed;

async fn store() -> (TestDb, SqlStore) {
    let db = TestDb::new(ServiceName::User, &fip_user::MIGRATIONS)
        .await
        .unwrap();
    let store = SqlStore::new(db.db.clone());
    (db, store)
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: format!("{name}@Example.org"),
        password_hash: "$argon2id$fake".into(),
        first_name: "F".into(),
        last_name: "L".into(),
        institution: String::new(),
        department: String::new(),
        roles: vec![Role::Researcher],
        created_at: 1_700_000_000_000,
    }
}

fn sealed(tag: u8) -> Sealed {
    Sealed {
        key_id: "k1".into(),
        nonce: vec![tag; 12],
        ciphertext: vec![tag, 1, 2, 3],
    }
}

fn write(user_id: i64, service_id: i64, tag: u8) -> CredentialWrite {
    CredentialWrite {
        user_id,
        service_id,
        kind: CredentialKind::ApiToken,
        label: "label".into(),
        is_active: true,
        expires_at: None,
        masked_token: "…abcd".into(),
        has_api_token: true,
        has_basic_auth: false,
        has_oauth_token: false,
        sealed: sealed(tag),
        at: 1_700_000_000_000 + i64::from(tag),
    }
}

#[tokio::test]
async fn users_are_unique_case_insensitively_and_found_by_login() {
    let (db, s) = store().await;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    assert_eq!(ada.email, "ada@example.org", "emails are stored lowercase");
    assert_eq!(ada.roles, vec![Role::Researcher]);
    assert!(ada.is_active);
    for clash in [
        new_user("ADA"),
        NewUser {
            email: "ADA@example.org".into(),
            ..new_user("other")
        },
    ] {
        assert!(matches!(
            s.create_user(clash).await,
            Err(StoreError::Conflict { .. })
        ));
    }
    assert!(matches!(
        s.create_user(NewUser {
            email: "ADA@example.org".into(),
            ..new_user("other")
        })
        .await,
        Err(StoreError::Conflict { field: "email" })
    ));
    assert_eq!(s.user_by_login("Ada").await.unwrap().unwrap().id, ada.id);
    assert_eq!(
        s.user_by_login("ada@EXAMPLE.org")
            .await
            .unwrap()
            .unwrap()
            .id,
        ada.id
    );
    assert!(s.user_by_login("nobody").await.unwrap().is_none());
    s.set_last_login(ada.id, 42).await.unwrap();
    s.set_password_hash(ada.id, "$argon2id$other")
        .await
        .unwrap();
    let again = s.user_by_id(ada.id).await.unwrap().unwrap();
    assert_eq!(again.last_login, Some(42));
    assert_eq!(again.password_hash, "$argon2id$other");
    assert!(matches!(
        s.set_password_hash(999, "x").await,
        Err(StoreError::NotFound)
    ));
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn profiles_roles_activity_and_listing() {
    let (db, s) = store().await;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let bob = s.create_user(new_user("bob")).await.unwrap();
    let changed = s
        .update_profile(
            ada.id,
            &ProfileChanges {
                institution: Some("Wits".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.institution, "Wits");
    assert_eq!(changed.first_name, "F");
    assert!(matches!(
        s.update_profile(
            ada.id,
            &ProfileChanges {
                email: Some("BOB@example.org".into()),
                ..Default::default()
            }
        )
        .await,
        Err(StoreError::Conflict { field: "email" })
    ));
    let roles = s
        .set_roles(bob.id, &[Role::Admin, Role::Viewer])
        .await
        .unwrap()
        .roles;
    assert_eq!(roles, vec![Role::Admin, Role::Viewer]);
    assert_eq!(s.count_active_admins().await.unwrap(), 1);
    s.set_active(bob.id, false).await.unwrap();
    assert_eq!(s.count_active_admins().await.unwrap(), 0);
    assert!(matches!(
        s.set_roles(999, &[]).await,
        Err(StoreError::NotFound)
    ));

    let (page, total) = s
        .list_users(&UserFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((page.len(), total), (1, 2));
    let (rest, _) = s
        .list_users(&UserFilter {
            limit: 10,
            after_id: page[0].id,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    let (admins, n) = s
        .list_users(&UserFilter {
            role: Some(Role::Admin),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((admins.len(), n, admins[0].id), (1, 1, bob.id));
    let (active, _) = s
        .list_users(&UserFilter {
            is_active: Some(true),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        active.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![ada.id]
    );
    let (found, _) = s
        .list_users(&UserFilter {
            query: Some("BOB@".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn credentials_put_replace_verify_use_and_delete() {
    let (db, s) = store().await;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let (first, replaced) = s.put_credential(write(ada.id, 7, 1)).await.unwrap();
    assert!(!replaced);
    assert_eq!(first.sealed, sealed(1));
    let verified = s
        .record_verification(
            ada.id,
            7,
            &VerificationOutcome {
                is_verified: true,
                verified_at: 5,
                error: String::new(),
                remote_username: "ada".into(),
                expires_at: Some(99),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(verified.is_verified);
    assert_eq!(
        (verified.last_verified_at, verified.expires_at),
        (Some(5), Some(99))
    );
    assert!(s.record_use(first.id, ada.id, 6, None).await.unwrap());
    assert!(
        !s.record_use(first.id, ada.id + 1, 6, None).await.unwrap(),
        "owner is checked"
    );
    assert!(
        s.record_use(first.id, ada.id, 7, Some("401 from server"))
            .await
            .unwrap()
    );
    let rejected = s.credential(ada.id, 7).await.unwrap().unwrap();
    assert!(!rejected.is_verified);
    assert_eq!(rejected.verification_error, "401 from server");
    assert_eq!(rejected.last_used_at, Some(7));

    let (second, replaced) = s.put_credential(write(ada.id, 7, 2)).await.unwrap();
    assert!(replaced);
    assert_eq!(second.id, first.id);
    assert!(
        !second.is_verified && second.last_verified_at.is_none() && second.last_used_at.is_none()
    );
    assert_eq!(second.verification_error, "");
    assert_eq!(second.sealed, sealed(2));
    assert_eq!(second.created_at, first.created_at);

    s.put_credential(write(ada.id, 3, 3)).await.unwrap();
    let listed: Vec<i64> = s
        .list_credentials(ada.id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.service_id)
        .collect();
    assert_eq!(listed, vec![3, 7]);
    assert!(s.list_credentials(ada.id + 1).await.unwrap().is_empty());
    assert!(s.delete_credential(ada.id, 3).await.unwrap());
    assert!(!s.delete_credential(ada.id, 3).await.unwrap());
    assert!(s.credential(ada.id, 3).await.unwrap().is_none());
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn reseal_only_replaces_what_was_read() {
    let (db, s) = store().await;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let (record, _) = s.put_credential(write(ada.id, 1, 1)).await.unwrap();
    let all = s.all_sealed().await.unwrap();
    assert_eq!(all, vec![(record.id, ada.id, 1, sealed(1))]);
    let fresh = Sealed {
        key_id: "k2".into(),
        ..sealed(9)
    };
    assert!(s.reseal(record.id, &sealed(1), &fresh).await.unwrap());
    assert!(
        !s.reseal(record.id, &sealed(1), &sealed(8)).await.unwrap(),
        "stale read loses"
    );
    assert_eq!(
        s.credential(ada.id, 1).await.unwrap().unwrap().sealed,
        fresh
    );
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn login_attempts_are_counted_atomically_per_subject() {
    let (db, s) = store().await;
    let s = std::sync::Arc::new(s);
    // Concurrent attempts each count.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.count_attempt("account_address", "user:1|1.2.3.4", 1_000, 0)
                .await
                .unwrap()
                .failures
        }));
    }
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap());
    }
    counts.sort();
    assert_eq!(counts, (1..=12).collect::<Vec<i64>>());
    // Other subjects are apart.
    let other = s
        .count_attempt("address", "1.2.3.4", 1_000, 0)
        .await
        .unwrap();
    assert_eq!(other.failures, 1);
    // A refusal holds the window open; once both are over, counting
    // starts again.
    s.lock_throttle("account_address", "user:1|1.2.3.4", 5_000)
        .await
        .unwrap();
    let locked = s
        .count_attempt("account_address", "user:1|1.2.3.4", 3_000, 2_000)
        .await
        .unwrap();
    assert_eq!((locked.failures, locked.locked_until), (13, 5_000));
    // A lock is only ever raised.
    s.lock_throttle("account_address", "user:1|1.2.3.4", 4_000)
        .await
        .unwrap();
    let fresh = s
        .count_attempt("account_address", "user:1|1.2.3.4", 6_000, 5_500)
        .await
        .unwrap();
    assert_eq!(
        fresh,
        Throttle {
            failures: 1,
            first_failure_at: 6_000,
            locked_until: 5_000
        }
    );
    // A success takes its own attempt back, or clears the subject.
    s.forgive_attempt("address", "1.2.3.4").await.unwrap();
    s.forgive_attempt("address", "1.2.3.4").await.unwrap();
    let forgiven = s
        .count_attempt("address", "1.2.3.4", 1_100, 0)
        .await
        .unwrap();
    assert_eq!(forgiven.failures, 1, "never below zero");
    s.clear_throttle("account_address", "user:1|1.2.3.4")
        .await
        .unwrap();
    let cleared = s
        .count_attempt("account_address", "user:1|1.2.3.4", 7_000, 0)
        .await
        .unwrap();
    assert_eq!(cleared.failures, 1);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn sessions_rotate_refresh_tokens_and_a_replay_ends_them() {
    let (db, s) = store().await;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let bob = s.create_user(new_user("bob")).await.unwrap();
    let session = |id: &str, user_id, hash: &str| NewSession {
        id: id.into(),
        user_id,
        refresh_hash: hash.into(),
        created_at: 1_000,
        expires_at: 100_000,
        client_address: "10.0.0.1".into(),
        user_agent: "test".into(),
    };
    s.create_session(session("s1", ada.id, "h1")).await.unwrap();
    s.create_session(session("s2", ada.id, "k1")).await.unwrap();
    s.create_session(session("s3", bob.id, "b1")).await.unwrap();
    assert!(s.session_live("s1", ada.id, 2_000).await.unwrap());
    assert!(
        !s.session_live("s1", bob.id, 2_000).await.unwrap(),
        "another user's"
    );
    assert!(
        !s.session_live("s1", ada.id, 100_000).await.unwrap(),
        "expired"
    );

    let Rotation::Rotated(rotated) = s.rotate_refresh("h1", "h2", 2_000, "replay").await.unwrap()
    else {
        panic!("the current token rotates");
    };
    assert_eq!((rotated.id.as_str(), rotated.refreshed_at), ("s1", 2_000));
    let Rotation::Rotated(_) = s.rotate_refresh("h2", "h3", 3_000, "replay").await.unwrap() else {
        panic!("and its successor");
    };
    // h1 is two rotations old: presenting it again ends the session.
    let Rotation::Replayed(replayed) = s.rotate_refresh("h1", "h9", 4_000, "replay").await.unwrap()
    else {
        panic!("a spent token is recognised");
    };
    assert_eq!(replayed.ended_at, Some(4_000));
    assert!(!s.session_live("s1", ada.id, 4_001).await.unwrap());
    assert_eq!(
        s.rotate_refresh("h3", "h4", 5_000, "replay").await.unwrap(),
        Rotation::Refused,
        "the ended session's current token is refused too"
    );
    assert_eq!(
        s.rotate_refresh("nope", "x", 5_000, "replay")
            .await
            .unwrap(),
        Rotation::Refused
    );

    // Listing shows live sessions only, newest first, paged by id.
    s.create_session(session("s4", ada.id, "m1")).await.unwrap();
    let live = s.list_sessions(ada.id, 5_000, None, 10).await.unwrap();
    assert_eq!(
        live.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        ["s4", "s2"]
    );
    let older = s
        .list_sessions(ada.id, 5_000, Some("s4"), 10)
        .await
        .unwrap();
    assert_eq!(older.len(), 1);

    // Ending: one session (its owner's only), or all but one.
    assert!(!s.end_session("s2", bob.id, 6_000, "revoked").await.unwrap());
    assert!(s.end_session("s2", ada.id, 6_000, "revoked").await.unwrap());
    assert!(
        !s.end_session("s2", ada.id, 6_001, "revoked").await.unwrap(),
        "once"
    );
    s.create_session(session("s5", ada.id, "n1")).await.unwrap();
    assert_eq!(
        s.end_user_sessions(ada.id, Some("s5"), 7_000, "password_changed")
            .await
            .unwrap(),
        1
    );
    assert!(s.session_live("s5", ada.id, 7_001).await.unwrap());
    assert!(s.session_live("s3", bob.id, 7_001).await.unwrap());
    // A deactivated user's sessions are not live.
    s.set_active(bob.id, false).await.unwrap();
    assert!(!s.session_live("s3", bob.id, 7_001).await.unwrap());
    assert_eq!(
        s.end_user_sessions(ada.id, None, 8_000, "x").await.unwrap(),
        1
    );
    assert!(!s.session_live("s5", ada.id, 8_001).await.unwrap());
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn audit_events_filter_and_page_newest_first() {
    let (db, s) = store().await;
    for (i, (user, action, outcome)) in [
        (1, "login", "success"),
        (1, "credential_created", "success"),
        (2, "login", "failure"),
        (1, "login", "failure"),
    ]
    .into_iter()
    .enumerate()
    {
        s.append_audit(&AuditRecord {
            user_id: Some(user),
            actor: format!("user{user}"),
            action: action.into(),
            outcome: outcome.into(),
            client_address: "10.0.0.1".into(),
            changed_fields: vec!["email".into(), "last_name".into()],
            previous_roles: vec![Role::Viewer],
            new_roles: vec![Role::Admin, Role::Researcher],
            service_id: Some(5),
            created_at: 100 + i as i64,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let mine = s
        .list_audit(&AuditQuery {
            user_id: Some(1),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 3);
    assert!(mine.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(mine[0].changed_fields, vec!["email", "last_name"]);
    assert_eq!(mine[0].new_roles, vec![Role::Admin, Role::Researcher]);
    assert_eq!(mine[0].service_id, Some(5));
    let logins = s
        .list_audit(&AuditQuery {
            actions: vec!["login".into()],
            outcome: Some("failure".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logins.len(), 2);
    let page = s
        .list_audit(&AuditQuery {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let next = s
        .list_audit(&AuditQuery {
            limit: 2,
            before_id: Some(page[1].id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(next.len(), 2);
    assert!(next[0].id < page[1].id);
    let window = s
        .list_audit(&AuditQuery {
            created_after: Some(101),
            created_before: Some(103),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(window.len(), 2);
    db.cleanup().await.unwrap();
}
