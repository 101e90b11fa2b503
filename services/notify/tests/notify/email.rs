//! Email against a real SMTP server (scripts/smtp-sink): what a mail
//! carries, outages, refusals, restarts, replicas, preferences and the
//! rate limit. On SQLite, and on PostgreSQL with `FIP_TEST_DATABASE_URL`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use fip_kit::config::Config;
use fip_kit::db::{TestDb, now_millis};
use fip_kit::mesh::ServiceName;
use fip_kit::testing::with_token;
use fip_notify::email::Composer;
use fip_notify::email::sender::{Pacing, Sender};
use fip_notify::email::transport::Smtp;
use fip_notify::model::{EmailStatus, OutboxEmail};
use fip_notify::store::{SqlStore, Store};
use fip_proto::jobs::v1 as jobs_pb;
use fip_proto::notify::v1 as pb;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::harness::{Mesh, job_completed};
use crate::outbox::with_mail;
use crate::smtp::{MAIL_WAIT, SmtpSink, free_port, header};

const HUB: &str = "https://hub.example.org";

/// A sender that looks often and retries soon, so that tests are quick.
fn fast(config: &mut Config, smtp_url: String) {
    config.notify.smtp_url = Some(smtp_url);
    config.notify.public_url = Some(HUB.into());
    config.notify.from = "Imputation Hub <hub@example.org>".into();
    config.notify.send_interval = Duration::from_millis(20);
    config.notify.retry_initial = Duration::from_millis(50);
    config.notify.retry_max = Duration::from_millis(200);
    config.notify.smtp_timeout = Duration::from_secs(5);
    config.notify.lease = Duration::from_secs(10);
}

fn pacing() -> Pacing {
    Pacing {
        send_interval: Duration::from_millis(20),
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        max_attempts: 10,
        lease: Duration::from_secs(10),
        digest_after: None,
    }
}

/// Waits until `check` holds for the outbox of `user_id`; returns it.
async fn outbox_until(
    store: &Arc<dyn Store>,
    user_id: i64,
    what: &str,
    check: impl Fn(&[OutboxEmail]) -> bool,
) -> Vec<OutboxEmail> {
    let deadline = tokio::time::Instant::now() + MAIL_WAIT;
    loop {
        let mails = store.emails(user_id).await.unwrap();
        if check(&mails) {
            return mails;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox never got {what}: {mails:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn subjects(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| header(m, "subject").to_string())
        .collect()
}

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

fn html(m: &Value) -> &str {
    m["html"].as_str().unwrap_or_default()
}

fn qc() -> jobs_pb::QcSummary {
    jobs_pb::QcSummary {
        chromosomes: vec![jobs_pb::ChromosomeQc {
            chromosome: "20".into(),
            variant_count: 12_345,
            typed_variant_count: 1_000,
            mean_r2: 0.8766,
            count_r2_ge_0_3: 11_111,
            count_r2_ge_0_8: 9_876,
        }],
        variant_count: 12_345,
        mean_r2: 0.8766,
        count_r2_ge_0_3: 11_111,
        count_r2_ge_0_8: 9_876,
    }
}

#[tokio::test]
async fn a_completed_job_mail_has_both_parts_the_links_and_no_secret() {
    let sink = SmtpSink::start(0, &[]).await;
    let url = sink.url();
    let mesh = Mesh::start_with(|c| fast(c, url)).await;
    let (ada, _token) = mesh.sign_up("ada").await;
    let job = "01890f3e-1234-7abc-8def-0123456789ab";
    let sent = mesh
        .send(pb::SendNotificationRequest {
            qc_summary: Some(qc()),
            dedup_key: format!("job:{job}:completed"),
            ..job_completed(ada, "Job completed: chr20")
        })
        .await
        .unwrap();
    assert_eq!(
        sent.deliveries[1].outcome,
        pb::DeliveryOutcome::Queued as i32
    );
    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["ada@example.org"]));
    assert_eq!(mail["content_type"], "multipart/alternative");
    assert_eq!(header(&mail, "subject"), "Job completed: chr20");
    assert!(header(&mail, "to").contains("Test ada"), "{mail}");
    assert!(header(&mail, "from").contains("hub@example.org"));
    assert_eq!(
        header(&mail, "list-unsubscribe"),
        format!("<{HUB}/notifications>")
    );
    let message_id = header(&mail, "message-id");
    assert!(message_id.ends_with("@example.org>"), "{message_id}");
    let link = format!("{HUB}/jobs/{job}");
    for part in [text(&mail), html(&mail)] {
        assert!(part.contains("Hello Test ada"), "{part}");
        assert!(part.contains(&link), "{part}");
        assert!(part.contains(&format!("{HUB}/notifications")));
        assert!(part.contains("View results"));
        for figure in ["0.877", "12345", "11111", "9876"] {
            assert!(part.contains(figure), "{figure} in {part}");
        }
        // Nothing secret: not the caller's service token, not the
        // password of the account.
        assert!(!part.contains(&mesh.service_token(ServiceName::Jobs)[..40]));
        assert!(!part.contains("ada-passphrase"));
    }
    assert!(html(&mail).contains(&format!("<a href=\"{link}\">")));
    let store = mesh.notify.store().clone();
    let mails = outbox_until(&store, ada, "a sent mail", |m| {
        m.len() == 1 && m[0].status == EmailStatus::Sent
    })
    .await;
    assert_eq!(mails[0].message_id, message_id);

    // The same key again sends nothing; the next mail is the marker.
    let again = mesh
        .send(pb::SendNotificationRequest {
            dedup_key: format!("job:{job}:completed"),
            ..job_completed(ada, "Job completed: chr20")
        })
        .await
        .unwrap();
    assert!(again.deduplicated);
    mesh.send_simple(ada, "Marker").await;
    let all = sink.wait_for(2).await;
    assert_eq!(subjects(&all), ["Job completed: chr20", "Marker"]);
    mesh.stop().await;
    sink.stop().await;
}

#[tokio::test]
async fn a_mail_sent_while_smtp_is_down_arrives_once_it_is_up() {
    let port = free_port();
    let mesh = Mesh::start_with(|c| fast(c, format!("smtp://127.0.0.1:{port}"))).await;
    let (ada, _) = mesh.sign_up("ada").await;
    mesh.send_simple(ada, "During the outage").await;
    let store = mesh.notify.store().clone();
    let waiting = outbox_until(&store, ada, "failed attempts", |m| {
        m.len() == 1 && m[0].attempts >= 2 && m[0].status == EmailStatus::Pending
    })
    .await;
    assert!(!waiting[0].last_error.is_empty());

    let sink = SmtpSink::start(port, &[]).await;
    let mails = outbox_until(&store, ada, "a sent mail", |m| {
        m[0].status == EmailStatus::Sent
    })
    .await;
    assert_eq!(
        header(&sink.messages()[0], "message-id"),
        mails[0].message_id
    );
    mesh.send_simple(ada, "Marker").await;
    let all = sink.wait_for(2).await;
    assert_eq!(
        subjects(&all),
        ["During the outage", "Marker"],
        "delivered exactly once"
    );
    mesh.stop().await;
    sink.stop().await;
}

#[tokio::test]
async fn a_550_is_recorded_as_failed_and_not_retried() {
    let sink = SmtpSink::start(0, &["ada@example.org"]).await;
    let url = sink.url();
    let mesh = Mesh::start_with(|c| fast(c, url)).await;
    let (ada, _) = mesh.sign_up("ada").await;
    let (bob, _) = mesh.sign_up("bob").await;
    let sent = mesh
        .send(pb::SendNotificationRequest {
            dedup_key: "refused".into(),
            ..job_completed(ada, "Refused")
        })
        .await
        .unwrap();
    let store = mesh.notify.store().clone();
    let mails = outbox_until(&store, ada, "a failed mail", |m| {
        m.len() == 1 && m[0].status == EmailStatus::Failed
    })
    .await;
    assert_eq!(mails[0].attempts, 1);
    assert!(
        mails[0].last_error.contains("550"),
        "{}",
        mails[0].last_error
    );
    let n = store.by_dedup_key(ada, "refused").await.unwrap().unwrap();
    assert_eq!(n.notification.id, sent.notification.unwrap().id);
    let email = n.deliveries.iter().find(|d| d.error.contains("550"));
    assert!(email.is_some(), "the delivery records the refusal: {n:?}");

    // The sender went on: bob's mail arrives, ada was refused only once.
    mesh.send_simple(bob, "For bob").await;
    assert_eq!(subjects(&sink.wait_for(1).await), ["For bob"]);
    assert_eq!(sink.rejected(), ["ada@example.org"]);
    mesh.stop().await;
    sink.stop().await;
}

#[tokio::test]
async fn preferences_off_send_nothing() {
    let sink = SmtpSink::start(0, &[]).await;
    let url = sink.url();
    let mesh = Mesh::start_with(|c| fast(c, url)).await;
    let (ada, token) = mesh.sign_up("ada").await;
    mesh.inbox()
        .update_notification_preferences(with_token(
            pb::UpdateNotificationPreferencesRequest {
                preferences: Some(pb::NotificationPreferences {
                    email_on_job_completed: false,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["email_on_job_completed".into()],
                }),
            },
            &token,
        ))
        .await
        .unwrap();
    let off = mesh.send(job_completed(ada, "Not mailed")).await.unwrap();
    assert_eq!(
        off.deliveries[1].outcome,
        pb::DeliveryOutcome::SkippedByPreference as i32
    );
    mesh.send(pb::SendNotificationRequest {
        r#type: pb::NotificationType::JobFailed as i32,
        ..job_completed(ada, "Mailed")
    })
    .await
    .unwrap();
    assert_eq!(subjects(&sink.wait_for(1).await), ["Mailed"]);
    let store = mesh.notify.store().clone();
    assert_eq!(store.emails(ada).await.unwrap().len(), 1);
    mesh.stop().await;
    sink.stop().await;
}

#[tokio::test]
async fn over_the_rate_limit_a_digest_replaces_the_storm() {
    let sink = SmtpSink::start(0, &[]).await;
    let url = sink.url();
    let mesh = Mesh::start_with(|c| {
        fast(c, url);
        c.notify.rate_limit = 2;
        c.notify.rate_window = Duration::from_millis(500);
    })
    .await;
    let (ada, _) = mesh.sign_up("ada").await;
    for n in 1..=5 {
        mesh.send_simple(ada, &format!("Job {n}")).await;
    }
    let all = sink.wait_for(3).await;
    assert_eq!(
        subjects(&all),
        ["Job 1", "Job 2", "3 notifications from the imputation hub"]
    );
    for n in 3..=5 {
        assert!(
            text(&all[2]).contains(&format!("Job {n}")),
            "{}",
            text(&all[2])
        );
    }
    let store = mesh.notify.store().clone();
    outbox_until(&store, ada, "every mail sent or digested", |m| {
        m.len() == 6
            && m.iter()
                .all(|e| matches!(e.status, EmailStatus::Sent | EmailStatus::Digested))
    })
    .await;
    mesh.stop().await;
    sink.stop().await;
}

/// A sender over `store` to `sink`, as a notify replica runs it.
fn replica(store: Arc<dyn Store>, sink: &SmtpSink) -> Sender {
    let from: lettre::message::Mailbox = "Hub <hub@example.org>".parse().unwrap();
    Sender::new(
        store,
        Arc::new(Smtp::new(&sink.url(), Duration::from_secs(5)).unwrap()),
        Arc::new(Composer::new(HUB, &from).unwrap()),
        from,
        pacing(),
        Arc::new(tokio::sync::Notify::new()),
    )
}

#[tokio::test]
async fn a_restart_mid_delivery_loses_nothing_and_sends_once() {
    let sink = SmtpSink::start(0, &[]).await;
    let db = TestDb::new(ServiceName::Notify, &fip_notify::MIGRATIONS)
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(SqlStore::new(db.db.clone()));
    let now = now_millis();
    store.insert(with_mail(1, now, None)).await.unwrap();
    // A replica claimed it and died before sending: its lease runs out.
    let claimed = store
        .claim_emails("crashed", now, now + 300, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let shutdown = CancellationToken::new();
    let restarted = tokio::spawn(replica(store.clone(), &sink).run(shutdown.clone()));
    let mails = outbox_until(&store, 1, "the mail sent", |m| {
        m[0].status == EmailStatus::Sent
    })
    .await;
    assert_eq!(mails[0].attempts, 2);
    store
        .insert(with_mail(2, now_millis(), None))
        .await
        .unwrap();
    let all = sink.wait_for(2).await;
    assert_eq!(subjects(&all), ["mail 1", "mail 2"]);
    assert_eq!(header(&all[0], "message-id"), claimed[0].message_id);
    shutdown.cancel();
    restarted.await.unwrap();
    db.cleanup().await.unwrap();
    sink.stop().await;
}

#[tokio::test]
async fn two_replicas_never_send_one_mail_twice() {
    let sink = SmtpSink::start(0, &[]).await;
    let db = TestDb::new(ServiceName::Notify, &fip_notify::MIGRATIONS)
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(SqlStore::new(db.db.clone()));
    let now = now_millis();
    for n in 0..30 {
        store.insert(with_mail(n, now, None)).await.unwrap();
    }
    let shutdown = CancellationToken::new();
    let a = tokio::spawn(replica(store.clone(), &sink).run(shutdown.clone()));
    let b = tokio::spawn(replica(store.clone(), &sink).run(shutdown.clone()));
    outbox_until(&store, 1, "every mail sent", |m| {
        m.len() == 30 && m.iter().all(|e| e.status == EmailStatus::Sent)
    })
    .await;
    shutdown.cancel();
    a.await.unwrap();
    b.await.unwrap();
    let all = sink.messages();
    let ids: HashSet<&str> = all.iter().map(|m| header(m, "message-id")).collect();
    assert_eq!(all.len(), 30, "one message per mail");
    assert_eq!(ids.len(), 30);
    db.cleanup().await.unwrap();
    sink.stop().await;
}
