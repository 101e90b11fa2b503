//! The store conformance suite: the same checks on SQLite and PostgreSQL.

use fip_kit::db::TestDb;
use fip_kit::mesh::ServiceName;
use fip_notify::model::*;
use fip_notify::store::{ListQuery, SqlStore, Store};

async fn store() -> (TestDb, SqlStore) {
    let db = TestDb::new(ServiceName::Notify, &fip_notify::MIGRATIONS)
        .await
        .unwrap();
    let store = SqlStore::new(db.db.clone());
    (db, store)
}

fn new(user_id: i64, title: &str, at: i64) -> NewNotification {
    NewNotification {
        user_id,
        kind: NotificationKind::JobCompleted,
        title: title.into(),
        message: format!("{title} message"),
        job_id: String::new(),
        service_id: 0,
        action_url: String::new(),
        action_label: String::new(),
        in_inbox: true,
        dedup_key: None,
        created_at: at,
        deliveries: vec![Delivery {
            channel: Channel::Web,
            outcome: Outcome::Delivered,
            error: String::new(),
        }],
        email: None,
    }
}

fn titles(list: &[Notification]) -> Vec<&str> {
    list.iter().map(|n| n.title.as_str()).collect()
}

fn query(user_id: i64) -> ListQuery {
    ListQuery {
        user_id,
        limit: 100,
        ..Default::default()
    }
}

#[tokio::test]
async fn notifications_round_trip_newest_first_per_user() {
    let (db, s) = store().await;
    let full = NewNotification {
        kind: NotificationKind::CredentialRejected,
        job_id: "01890f3e-1234-7abc-8def-0123456789ab".into(),
        service_id: 3,
        action_url: "/settings/services/3".into(),
        action_label: "Update credentials".into(),
        deliveries: vec![
            Delivery {
                channel: Channel::Email,
                outcome: Outcome::Failed,
                error: "550 mailbox unavailable".into(),
            },
            Delivery {
                channel: Channel::Web,
                outcome: Outcome::Delivered,
                error: String::new(),
            },
        ],
        ..new(1, "first", 1_000)
    };
    let stored = s.insert(full.clone()).await.unwrap();
    assert!(!stored.deduplicated);
    let n = &stored.notification;
    assert!(n.id > 0);
    assert_eq!(
        (n.user_id, n.kind, n.title.as_str(), n.message.as_str()),
        (
            1,
            NotificationKind::CredentialRejected,
            "first",
            "first message"
        )
    );
    assert_eq!(
        (n.job_id.as_str(), n.service_id, n.action_url.as_str()),
        (full.job_id.as_str(), 3, "/settings/services/3")
    );
    assert_eq!(n.action_label, "Update credentials");
    assert_eq!((n.created_at, n.read_at, n.in_inbox), (1_000, None, true));
    assert_eq!(
        stored
            .deliveries
            .iter()
            .map(|d| d.channel)
            .collect::<Vec<_>>(),
        [Channel::Web, Channel::Email],
        "deliveries come in channel order"
    );
    assert_eq!(s.notification(1, n.id).await.unwrap().as_ref(), Some(n));
    assert_eq!(
        s.notification(2, n.id).await.unwrap(),
        None,
        "another user's"
    );

    s.insert(new(1, "second", 2_000)).await.unwrap();
    s.insert(new(2, "bob's", 2_500)).await.unwrap();
    s.insert(new(1, "third", 3_000)).await.unwrap();
    let list = s.list(&query(1)).await.unwrap();
    assert_eq!(titles(&list), ["third", "second", "first"]);
    assert_eq!(titles(&s.list(&query(2)).await.unwrap()), ["bob's"]);
    assert_eq!(s.unread_count(1).await.unwrap(), 3);
    assert_eq!(s.unread_count(3).await.unwrap(), 0);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn listing_filters_and_cursor() {
    let (db, s) = store().await;
    let job = "01890f3e-1234-7abc-8def-0123456789ab";
    let mut ids = Vec::new();
    for (i, kind) in [
        NotificationKind::JobCompleted,
        NotificationKind::JobFailed,
        NotificationKind::System,
        NotificationKind::JobFailed,
    ]
    .into_iter()
    .enumerate()
    {
        let stored = s
            .insert(NewNotification {
                kind,
                job_id: if i % 2 == 0 {
                    job.into()
                } else {
                    String::new()
                },
                ..new(1, &format!("n{i}"), 1_000 + i as i64)
            })
            .await
            .unwrap();
        ids.push(stored.notification.id);
    }
    let failed = s
        .list(&ListQuery {
            kinds: vec![NotificationKind::JobFailed],
            ..query(1)
        })
        .await
        .unwrap();
    assert_eq!(titles(&failed), ["n3", "n1"]);
    let two_kinds = s
        .list(&ListQuery {
            kinds: vec![NotificationKind::System, NotificationKind::JobCompleted],
            ..query(1)
        })
        .await
        .unwrap();
    assert_eq!(titles(&two_kinds), ["n2", "n0"]);
    let about_job = s
        .list(&ListQuery {
            job_id: Some(job.into()),
            ..query(1)
        })
        .await
        .unwrap();
    assert_eq!(titles(&about_job), ["n2", "n0"]);
    let page = s
        .list(&ListQuery {
            limit: 2,
            ..query(1)
        })
        .await
        .unwrap();
    assert_eq!(titles(&page), ["n3", "n2"]);
    let rest = s
        .list(&ListQuery {
            before_id: Some(page[1].id),
            ..query(1)
        })
        .await
        .unwrap();
    assert_eq!(titles(&rest), ["n1", "n0"]);
    s.mark_read(1, ids[3], 5_000).await.unwrap();
    let unread = s
        .list(&ListQuery {
            unread_only: true,
            ..query(1)
        })
        .await
        .unwrap();
    assert_eq!(titles(&unread), ["n2", "n1", "n0"]);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn marking_read_is_per_user_and_idempotent() {
    let (db, s) = store().await;
    let a = s.insert(new(1, "a", 1_000)).await.unwrap().notification;
    let b = s.insert(new(1, "b", 2_000)).await.unwrap().notification;
    let c = s.insert(new(1, "c", 3_000)).await.unwrap().notification;
    let other = s.insert(new(2, "x", 1_500)).await.unwrap().notification;

    assert_eq!(s.mark_read(2, a.id, 10).await.unwrap(), None, "not bob's");
    assert_eq!(s.mark_read(1, other.id, 10).await.unwrap(), None);
    assert_eq!(s.mark_read(1, 999_999, 10).await.unwrap(), None);
    let (read, changed) = s.mark_read(1, a.id, 10).await.unwrap().unwrap();
    assert!(changed);
    assert_eq!(read.read_at, Some(10));
    let (again, changed) = s.mark_read(1, a.id, 20).await.unwrap().unwrap();
    assert!(!changed);
    assert_eq!(again.read_at, Some(10), "the first read time stays");
    assert_eq!(s.unread_count(1).await.unwrap(), 2);
    assert_eq!(s.unread_count(2).await.unwrap(), 1);

    // Up to a time: only b (c is newer, a is read already).
    assert_eq!(s.mark_all_read(1, Some(2_000), 30).await.unwrap(), 1);
    assert_eq!(
        s.notification(1, b.id).await.unwrap().unwrap().read_at,
        Some(30)
    );
    assert_eq!(
        s.notification(1, c.id).await.unwrap().unwrap().read_at,
        None
    );
    assert_eq!(s.mark_all_read(1, None, 40).await.unwrap(), 1);
    assert_eq!(s.mark_all_read(1, None, 50).await.unwrap(), 0);
    assert_eq!(s.unread_count(1).await.unwrap(), 0);
    assert_eq!(s.unread_count(2).await.unwrap(), 1, "bob's untouched");
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn notifications_kept_out_of_the_inbox_are_invisible_there() {
    let (db, s) = store().await;
    let hidden = s
        .insert(NewNotification {
            in_inbox: false,
            dedup_key: Some("k".into()),
            ..new(1, "hidden", 1_000)
        })
        .await
        .unwrap()
        .notification;
    assert!(!hidden.in_inbox);
    assert!(s.list(&query(1)).await.unwrap().is_empty());
    assert_eq!(s.unread_count(1).await.unwrap(), 0);
    assert_eq!(s.notification(1, hidden.id).await.unwrap(), None);
    assert_eq!(s.mark_read(1, hidden.id, 5).await.unwrap(), None);
    assert_eq!(s.mark_all_read(1, None, 5).await.unwrap(), 0);
    // Still stored: its dedup key holds.
    let again = s.by_dedup_key(1, "k").await.unwrap().unwrap();
    assert_eq!(again.notification, hidden);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn dedup_keys_are_per_user() {
    let (db, s) = store().await;
    let keyed = |user_id, title: &str| NewNotification {
        dedup_key: Some("job:1:completed".into()),
        ..new(user_id, title, 1_000)
    };
    let first = s.insert(keyed(1, "first")).await.unwrap();
    let second = s.insert(keyed(1, "second")).await.unwrap();
    assert!(second.deduplicated);
    assert_eq!(second.notification, first.notification);
    assert_eq!(second.deliveries, first.deliveries);
    let other = s.insert(keyed(2, "other user")).await.unwrap();
    assert!(!other.deduplicated);
    // Without keys nothing is deduplicated.
    s.insert(new(1, "plain", 2_000)).await.unwrap();
    s.insert(new(1, "plain", 2_000)).await.unwrap();
    assert_eq!(
        titles(&s.list(&query(1)).await.unwrap()),
        ["plain", "plain", "first"]
    );
    assert_eq!(s.by_dedup_key(1, "nope").await.unwrap(), None);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn concurrent_sends_with_one_key_store_one_notification() {
    let (db, s) = store().await;
    let s = std::sync::Arc::new(s);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.insert(NewNotification {
                dedup_key: Some("race".into()),
                ..new(1, &format!("attempt {i}"), 1_000)
            })
            .await
            .unwrap()
        }));
    }
    let mut fresh = 0;
    let mut ids = Vec::new();
    for task in tasks {
        let stored = task.await.unwrap();
        fresh += usize::from(!stored.deduplicated);
        ids.push(stored.notification.id);
    }
    assert_eq!(fresh, 1);
    ids.dedup();
    assert_eq!(ids.len(), 1, "every caller got the same notification");
    assert_eq!(s.list(&query(1)).await.unwrap().len(), 1);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn preferences_start_unsaved_and_update_field_by_field() {
    let (db, s) = store().await;
    assert_eq!(s.preferences(1).await.unwrap(), None);
    let saved = s
        .update_preferences(
            1,
            &PreferenceChanges {
                web_enabled: Some(false),
                ..Default::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        saved,
        Preferences {
            web_enabled: false,
            updated_at: Some(100),
            ..Preferences::default()
        },
        "unchanged fields take the defaults"
    );
    let saved = s
        .update_preferences(
            1,
            &PreferenceChanges {
                email_on_job_cancelled: Some(true),
                email_address: Some("lab@example.org".into()),
                ..Default::default()
            },
            200,
        )
        .await
        .unwrap();
    assert_eq!(
        saved,
        Preferences {
            web_enabled: false,
            email_on_job_cancelled: true,
            email_address: "lab@example.org".into(),
            updated_at: Some(200),
            ..Preferences::default()
        },
        "earlier changes stay"
    );
    assert_eq!(s.preferences(1).await.unwrap(), Some(saved));
    assert_eq!(s.preferences(2).await.unwrap(), None, "per user");
    let all = s
        .update_preferences(
            2,
            &PreferenceChanges {
                web_enabled: Some(true),
                email_on_job_completed: Some(false),
                email_on_job_failed: Some(false),
                email_on_job_cancelled: Some(true),
                email_on_credential_issue: Some(false),
                email_address: Some(String::new()),
            },
            300,
        )
        .await
        .unwrap();
    assert_eq!(
        all,
        Preferences {
            web_enabled: true,
            email_on_job_completed: false,
            email_on_job_failed: false,
            email_on_job_cancelled: true,
            email_on_credential_issue: false,
            email_address: String::new(),
            updated_at: Some(300),
        }
    );
    db.cleanup().await.unwrap();
}
