//! The outbox part of the store conformance suite (SQLite, and PostgreSQL
//! when `FIP_TEST_DATABASE_URL` is set): leases, retries, final outcomes,
//! the rate limit and digests.

use std::collections::HashSet;
use std::sync::Arc;

use fip_kit::db::TestDb;
use fip_kit::mesh::ServiceName;
use fip_notify::model::*;
use fip_notify::store::{SqlStore, Store};

async fn store() -> (TestDb, Arc<SqlStore>) {
    let db = TestDb::new(ServiceName::Notify, &fip_notify::MIGRATIONS)
        .await
        .unwrap();
    let store = Arc::new(SqlStore::new(db.db.clone()));
    (db, store)
}

pub fn mail(n: usize, rate_limit: Option<RateLimit>) -> NewEmail {
    NewEmail {
        message_id: format!("<{}@example.org>", uuid::Uuid::now_v7()),
        to_address: "ada@example.org".into(),
        to_name: "Ada Lovelace".into(),
        subject: format!("mail {n}"),
        body_text: "text".into(),
        body_html: "<p>html</p>".into(),
        action_url: "/jobs/x".into(),
        rate_limit,
    }
}

/// A notification of user 1 with its queued mail, at `at`.
pub fn with_mail(n: usize, at: i64, rate_limit: Option<RateLimit>) -> NewNotification {
    NewNotification {
        user_id: 1,
        kind: NotificationKind::JobCompleted,
        title: format!("mail {n}"),
        message: "m".into(),
        job_id: String::new(),
        service_id: 0,
        action_url: String::new(),
        action_label: String::new(),
        in_inbox: true,
        dedup_key: Some(format!("key-{n}")),
        created_at: at,
        deliveries: vec![Delivery {
            channel: Channel::Email,
            outcome: Outcome::Queued,
            error: String::new(),
        }],
        email: Some(mail(n, rate_limit)),
    }
}

#[tokio::test]
async fn a_lease_keeps_a_mail_to_one_sender_until_it_expires() {
    let (db, s) = store().await;
    let stored = s.insert(with_mail(1, 1_000, None)).await.unwrap();
    let claimed = s.claim_emails("a", 1_000, 2_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].notification_id, Some(stored.notification.id));
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        s.claim_emails("b", 1_500, 2_500, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A's lease expires (a crash): B takes the mail over, A's late answer
    // changes nothing.
    let again = s.claim_emails("b", 2_000, 3_000, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].message_id, claimed[0].message_id,
        "stable Message-ID"
    );
    assert_eq!(again[0].attempts, 2);
    assert!(!s.finish_email(again[0].id, "a", None, 2_100).await.unwrap());
    assert!(s.finish_email(again[0].id, "b", None, 2_100).await.unwrap());
    let mails = s.emails(1).await.unwrap();
    assert_eq!(mails[0].status, EmailStatus::Sent);
    assert_eq!(mails[0].sent_at, Some(2_100));
    assert!(
        s.claim_emails("c", 9_000, 9_999, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let d = s
        .by_dedup_key(1, "key-1")
        .await
        .unwrap()
        .unwrap()
        .deliveries;
    assert_eq!(d[0].outcome, Outcome::Delivered);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn retries_wait_their_turn_and_refusals_are_recorded() {
    let (db, s) = store().await;
    s.insert(with_mail(1, 1_000, None)).await.unwrap();
    let m = s
        .claim_emails("a", 1_000, 5_000, 10)
        .await
        .unwrap()
        .remove(0);
    assert!(
        s.retry_email(m.id, "a", "connection refused", 3_000)
            .await
            .unwrap()
    );
    assert!(
        s.claim_emails("a", 2_999, 9_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let m = s
        .claim_emails("a", 3_000, 9_000, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (m.attempts, m.last_error.as_str()),
        (2, "connection refused")
    );
    assert!(
        s.finish_email(m.id, "a", Some("550 no such user"), 3_100)
            .await
            .unwrap()
    );
    let mails = s.emails(1).await.unwrap();
    assert_eq!(mails[0].status, EmailStatus::Failed);
    assert_eq!(mails[0].last_error, "550 no such user");
    assert!(
        s.claim_emails("a", 99_000, 99_999, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let d = s
        .by_dedup_key(1, "key-1")
        .await
        .unwrap()
        .unwrap()
        .deliveries;
    assert_eq!(
        (d[0].outcome, d[0].error.as_str()),
        (Outcome::Failed, "550 no such user")
    );
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn concurrent_senders_never_claim_one_mail_twice() {
    let (db, s) = store().await;
    for n in 0..40 {
        s.insert(with_mail(n, 1_000, None)).await.unwrap();
    }
    let mut tasks = Vec::new();
    for owner in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = s
                    .claim_emails(&format!("s{owner}"), 1_000, 60_000, 3)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|m| m.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 40, "every mail claimed once");
    assert_eq!(unique.len(), 40);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn over_the_rate_limit_mails_wait_for_one_digest() {
    let (db, s) = store().await;
    let limit = Some(RateLimit { limit: 2, since: 0 });
    for n in 0..5 {
        s.insert(with_mail(n, 1_000 + n as i64, limit))
            .await
            .unwrap();
    }
    let statuses: Vec<EmailStatus> = s
        .emails(1)
        .await
        .unwrap()
        .iter()
        .map(|m| m.status)
        .collect();
    use EmailStatus::*;
    assert_eq!(statuses, [Pending, Pending, Held, Held, Held]);
    assert_eq!(s.digests_due(1_001).await.unwrap(), Vec::<i64>::new());
    assert_eq!(s.digests_due(1_002).await.unwrap(), [1]);
    let held = s.held_emails(1).await.unwrap();
    let ids: Vec<i64> = held.iter().map(|m| m.id).collect();
    let digest = s
        .insert_digest(1, mail(99, None), &ids, 5_000)
        .await
        .unwrap()
        .unwrap();
    // A second sender making the same digest finds the mails taken.
    assert_eq!(
        s.insert_digest(1, mail(98, None), &ids, 5_000)
            .await
            .unwrap(),
        None
    );
    let mails = s.emails(1).await.unwrap();
    assert_eq!(mails.len(), 6);
    assert!(
        mails[2..5]
            .iter()
            .all(|m| m.status == Digested && m.digest_id == Some(digest))
    );
    assert!(s.digests_due(i64::MAX).await.unwrap().is_empty());
    // Pending: the two sent alone and the digest; sending the digest
    // delivers the three notifications it carried.
    let claimed = s.claim_emails("a", 5_000, 9_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(s.finish_email(digest, "a", None, 5_100).await.unwrap());
    for n in 2..5 {
        let d = s
            .by_dedup_key(1, &format!("key-{n}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.deliveries[0].outcome, Outcome::Delivered);
    }
    let d = s.by_dedup_key(1, "key-0").await.unwrap().unwrap();
    assert_eq!(d.deliveries[0].outcome, Outcome::Queued);
    db.cleanup().await.unwrap();
}
