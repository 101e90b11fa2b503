//! `WatchNotifications`: live, per caller, bounded, and closed cleanly.

use std::time::Duration;

use fip_kit::testing::with_token;
use fip_notify::model::InboxChange;
use fip_proto::common::v1::ErrorReason;
use fip_proto::notify::v1 as pb;
use futures::StreamExt;
use tonic::Code;

use crate::harness::{Mesh, PROMPTLY, next, reason};

const CREATED: i32 = pb::NotificationEvent::Created as i32;

#[tokio::test]
async fn a_watch_sees_the_callers_new_notifications_only() {
    let mesh = Mesh::start().await;
    let (ada, ada_token) = mesh.sign_up("ada").await;
    let (bob, bob_token) = mesh.sign_up("bob").await;
    mesh.send_simple(ada, "Before watching").await;

    let (mut ada_watch, unread) = mesh.watch(&ada_token).await;
    assert_eq!(unread, 1, "the snapshot counts what is already there");
    let (mut bob_watch, unread) = mesh.watch(&bob_token).await;
    assert_eq!(unread, 0);

    let for_ada = mesh.send_simple(ada, "For Ada").await;
    let for_bob = mesh.send_simple(bob, "For Bob").await;

    let event = next(&mut ada_watch).await.unwrap();
    assert_eq!(event.event, CREATED);
    assert_eq!(event.notification.as_ref(), Some(&for_ada));
    assert_eq!(event.unread_count, 2);
    // Bob's first event is his own notification: Ada's never reached him.
    let event = next(&mut bob_watch).await.unwrap();
    assert_eq!(event.event, CREATED);
    assert_eq!(event.notification.as_ref(), Some(&for_bob));
    assert_eq!(event.unread_count, 1);

    // Reading (e.g. in another tab) is streamed too.
    mesh.inbox()
        .mark_notification_read(with_token(
            pb::MarkNotificationReadRequest { id: for_ada.id },
            &ada_token,
        ))
        .await
        .unwrap();
    let event = next(&mut ada_watch).await.unwrap();
    assert_eq!(event.event, pb::NotificationEvent::Read as i32);
    let read = event.notification.unwrap();
    assert_eq!(read.id, for_ada.id);
    assert!(read.is_read);
    assert_eq!(event.unread_count, 1);

    mesh.inbox()
        .mark_all_notifications_read(with_token(
            pb::MarkAllNotificationsReadRequest::default(),
            &ada_token,
        ))
        .await
        .unwrap();
    let event = next(&mut ada_watch).await.unwrap();
    assert_eq!(event.event, pb::NotificationEvent::AllRead as i32);
    assert!(event.notification.is_none());
    assert_eq!(event.unread_count, 0);
    mesh.stop().await;
}

#[tokio::test]
async fn every_open_watch_of_a_user_gets_each_change() {
    let mesh = Mesh::start().await;
    let (ada, token) = mesh.sign_up("ada").await;
    let (mut first_tab, _) = mesh.watch(&token).await;
    let (mut second_tab, _) = mesh.watch(&token).await;
    let sent = mesh.send_simple(ada, "Both tabs").await;
    for tab in [&mut first_tab, &mut second_tab] {
        assert_eq!(next(tab).await.unwrap().notification.as_ref(), Some(&sent));
    }
    mesh.stop().await;
}

#[tokio::test]
async fn a_lagging_watcher_is_resynchronised_and_holds_up_no_one() {
    let mesh = Mesh::start_with(|config| config.notify.watch_buffer = 4).await;
    let (ada, token) = mesh.sign_up("ada").await;
    // A watcher that reads nothing for a while, straight on the domain
    // (no transport buffers in between).
    let mut slow = mesh.notify.watch(ada).await.unwrap();
    let snapshot = slow.next().await.unwrap().unwrap();
    assert_eq!(snapshot.change, InboxChange::Snapshot);
    let (mut fast, _) = mesh.watch(&token).await;

    let mut sent = Vec::new();
    for i in 0..10 {
        let n = mesh.send_simple(ada, &format!("n{i}")).await;
        // The attentive watcher gets each one as it is sent.
        assert_eq!(
            next(&mut fast).await.unwrap().notification.as_ref(),
            Some(&n)
        );
        sent.push(n.id);
    }
    // The slow one missed the oldest six: a snapshot with the true count
    // replaces them, then the four the bus held.
    let resync = tokio::time::timeout(PROMPTLY, slow.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(resync.change, InboxChange::Snapshot);
    assert_eq!(resync.unread_count, 10);
    for id in &sent[6..] {
        let event = tokio::time::timeout(PROMPTLY, slow.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match event.change {
            InboxChange::Created(n) => assert_eq!(n.id, *id),
            other => panic!("expected a created event, got {other:?}"),
        }
    }
    mesh.stop().await;
}

#[tokio::test]
async fn watches_end_cleanly_on_shutdown() {
    let mesh = Mesh::start().await;
    let (_, token) = mesh.sign_up("ada").await;
    let (mut watch, _) = mesh.watch(&token).await;
    mesh.begin_shutdown();
    // The stream closes without an error, and the server can stop (a watch
    // left open would hold its graceful shutdown forever).
    assert!(next(&mut watch).await.is_none());
    tokio::time::timeout(PROMPTLY, mesh.stop())
        .await
        .expect("the services stop promptly");
}

#[tokio::test]
async fn a_watch_ends_when_its_token_expires() {
    let mesh = Mesh::start().await;
    let (_, ada) = mesh.sign_up("ada").await;

    // Already expired (the auth layer's leeway lets it through; the watch
    // does not).
    let stale = mesh.token_with_ttl(&ada, Duration::ZERO);
    let refused = mesh
        .inbox()
        .watch_notifications(with_token(pb::WatchNotificationsRequest {}, &stale))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(reason(&refused), ErrorReason::TokenExpired);

    // Expires during the watch: the stream ends with TOKEN_EXPIRED.
    let short = mesh.token_with_ttl(&ada, Duration::from_secs(1));
    let (mut watch, _) = mesh.watch(&short).await;
    let ended = tokio::time::timeout(PROMPTLY, watch.next())
        .await
        .expect("the watch ends when the token expires")
        .expect("with a status")
        .unwrap_err();
    assert_eq!(ended.code(), Code::Unauthenticated);
    assert_eq!(reason(&ended), ErrorReason::TokenExpired);
    let info = fip_kit::ApiError::from_status(&ended).unwrap();
    assert_eq!(info.metadata["token_kind"], "access");
    assert!(info.metadata["expired_at"].ends_with('Z'));
    mesh.stop().await;
}
