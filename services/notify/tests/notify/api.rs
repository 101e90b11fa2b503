//! The notify service through its gRPC API.

use fip_kit::mesh::ServiceName;
use fip_kit::testing::with_token;
use fip_proto::common::v1::ErrorReason;
use fip_proto::notify::v1 as pb;
use tonic::Code;

use crate::harness::{Mesh, job_completed, reason, violated_fields};

fn outcomes(response: &pb::SendNotificationResponse) -> Vec<(i32, i32)> {
    response
        .deliveries
        .iter()
        .map(|d| (d.channel, d.outcome))
        .collect()
}

const WEB: i32 = pb::DeliveryChannel::Web as i32;
const EMAIL: i32 = pb::DeliveryChannel::Email as i32;
const DELIVERED: i32 = pb::DeliveryOutcome::Delivered as i32;
const BY_PREFERENCE: i32 = pb::DeliveryOutcome::SkippedByPreference as i32;
const QUEUED: i32 = pb::DeliveryOutcome::Queued as i32;

#[tokio::test]
async fn send_list_mark_read_and_unread_counts() {
    let mesh = Mesh::start().await;
    let (ada, token) = mesh.sign_up("ada").await;

    let sent = mesh
        .send(job_completed(ada, "Job completed"))
        .await
        .unwrap();
    assert!(!sent.deduplicated);
    assert_eq!(
        outcomes(&sent),
        [(WEB, DELIVERED), (EMAIL, QUEUED)],
        "web delivered; email wanted by default, in the outbox (the maildir here)"
    );
    let first = sent.notification.unwrap();
    assert!(first.id > 0);
    assert_eq!(first.user_id, ada);
    assert_eq!(first.r#type, pb::NotificationType::JobCompleted as i32);
    assert_eq!(first.action_label, "View results");
    assert!(!first.is_read);
    assert!(first.created_at.is_some() && first.read_at.is_none());
    let second = mesh.send_simple(ada, "Second").await;

    let listed = mesh.list(&token).await;
    assert_eq!(listed.unread_count, 2);
    assert_eq!(listed.next_page_token, "");
    assert_eq!(
        listed.notifications,
        [second.clone(), first.clone()],
        "newest first, as sent"
    );

    let read = mesh
        .inbox()
        .mark_notification_read(with_token(
            pb::MarkNotificationReadRequest { id: first.id },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .notification
        .unwrap();
    assert!(read.is_read);
    assert!(read.read_at.is_some());
    // Marking again is harmless and keeps the first time.
    let again = mesh
        .inbox()
        .mark_notification_read(with_token(
            pb::MarkNotificationReadRequest { id: first.id },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .notification
        .unwrap();
    assert_eq!(again, read);

    let listed = mesh.list(&token).await;
    assert_eq!(listed.unread_count, 1);
    let unread = mesh
        .inbox()
        .list_notifications(with_token(
            pb::ListNotificationsRequest {
                unread_only: true,
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unread.notifications, [second]);
    assert_eq!(unread.unread_count, 1);

    mesh.send_simple(ada, "Third").await;
    let all = mesh
        .inbox()
        .mark_all_notifications_read(with_token(
            pb::MarkAllNotificationsReadRequest::default(),
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((all.marked_count, all.unread_count), (2, 0));
    assert!(
        mesh.list(&token)
            .await
            .notifications
            .iter()
            .all(|n| n.is_read)
    );
    mesh.stop().await;
}

#[tokio::test]
async fn mark_all_read_up_to_a_time() {
    let mesh = Mesh::start().await;
    let (ada, token) = mesh.sign_up("ada").await;
    let old = mesh.send_simple(ada, "Old").await;
    let seen_until = old.created_at.unwrap();
    // Wait (on the clock, not a timer) until a later millisecond, so the
    // next notification is strictly newer.
    while fip_kit::db::now_millis() <= fip_kit::db::millis(&seen_until) {
        tokio::task::yield_now().await;
    }
    let new = mesh.send_simple(ada, "New").await;
    let marked = mesh
        .inbox()
        .mark_all_notifications_read(with_token(
            pb::MarkAllNotificationsReadRequest {
                created_before: Some(seen_until),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((marked.marked_count, marked.unread_count), (1, 1));
    let listed = mesh.list(&token).await.notifications;
    assert_eq!(listed[0].id, new.id);
    assert!(!listed[0].is_read);
    assert!(listed[1].is_read);
    mesh.stop().await;
}

#[tokio::test]
async fn only_platform_services_send() {
    let mesh = Mesh::start().await;
    let (ada, token) = mesh.sign_up("ada").await;
    let request = || job_completed(ada, "Job completed");

    let refused = mesh
        .internal()
        .send_notification(with_token(request(), &token))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(reason(&refused), ErrorReason::PermissionDenied);
    let details = fip_kit::ApiError::from_status(&refused).unwrap();
    assert!(details.metadata["required_identity"].contains("service:jobs"));

    // Services that do not send notifications are refused too.
    let files = mesh
        .internal()
        .send_notification(with_token(
            request(),
            &mesh.service_token(ServiceName::Files),
        ))
        .await
        .unwrap_err();
    assert_eq!(files.code(), Code::PermissionDenied);

    let anonymous = mesh
        .internal()
        .send_notification(request())
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    assert_eq!(reason(&anonymous), ErrorReason::TokenMissing);

    // Nothing was stored by the refused calls.
    assert!(mesh.list(&token).await.notifications.is_empty());

    // The user and registry identities may send.
    for sender in [ServiceName::User, ServiceName::Registry] {
        mesh.internal()
            .send_notification(with_token(request(), &mesh.service_token(sender)))
            .await
            .unwrap();
    }
    assert_eq!(mesh.list(&token).await.notifications.len(), 2);

    // And the inbox is for users, not services.
    let service_reads = mesh
        .inbox()
        .list_notifications(with_token(
            pb::ListNotificationsRequest::default(),
            &mesh.service_token(ServiceName::Jobs),
        ))
        .await
        .unwrap_err();
    assert_eq!(service_reads.code(), Code::PermissionDenied);
    let anonymous = mesh
        .inbox()
        .list_notifications(pb::ListNotificationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(reason(&anonymous), ErrorReason::TokenMissing);
    mesh.stop().await;
}

#[tokio::test]
async fn users_cannot_see_or_mark_each_others_notifications() {
    let mesh = Mesh::start().await;
    let (ada, ada_token) = mesh.sign_up("ada").await;
    let (bob, bob_token) = mesh.sign_up("bob").await;
    let adas = mesh.send_simple(ada, "For Ada").await;
    let bobs = mesh.send_simple(bob, "For Bob").await;

    assert_eq!(
        mesh.list(&ada_token).await.notifications,
        std::slice::from_ref(&adas)
    );
    assert_eq!(mesh.list(&bob_token).await.notifications, [bobs]);

    let denied = mesh
        .inbox()
        .mark_notification_read(with_token(
            pb::MarkNotificationReadRequest { id: adas.id },
            &bob_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        denied.code(),
        Code::NotFound,
        "NOT_FOUND, never PERMISSION_DENIED"
    );
    assert_eq!(reason(&denied), ErrorReason::NotFound);
    let info = fip_kit::ApiError::from_status(&denied).unwrap();
    assert_eq!(info.metadata["resource_type"], "notification");
    assert_eq!(info.metadata["resource_id"], adas.id.to_string());
    // The same answer as for an id that does not exist at all.
    let missing = mesh
        .inbox()
        .mark_notification_read(with_token(
            pb::MarkNotificationReadRequest { id: 987_654 },
            &bob_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // Bob marking all read leaves Ada's alone.
    let bob_all = mesh
        .inbox()
        .mark_all_notifications_read(with_token(
            pb::MarkAllNotificationsReadRequest::default(),
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bob_all.marked_count, 1);
    let adas_now = mesh.list(&ada_token).await;
    assert_eq!(adas_now.unread_count, 1);
    assert!(!adas_now.notifications[0].is_read);
    mesh.stop().await;
}

#[tokio::test]
async fn unknown_recipients_are_not_found() {
    let mesh = Mesh::start().await;
    let missing = mesh
        .send(job_completed(424_242, "Nobody"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let info = fip_kit::ApiError::from_status(&missing).unwrap();
    assert_eq!(info.metadata["resource_type"], "user");
    assert_eq!(info.metadata["resource_id"], "424242");
    mesh.stop().await;
}

#[tokio::test]
async fn a_repeated_dedup_key_sends_nothing_again() {
    let mesh = Mesh::start().await;
    let (ada, token) = mesh.sign_up("ada").await;
    let keyed = |title: &str| pb::SendNotificationRequest {
        dedup_key: "job:01890f3e:completed".into(),
        ..job_completed(ada, title)
    };
    let first = mesh.send(keyed("Job completed")).await.unwrap();
    assert!(!first.deduplicated);
    let (mut watch, unread) = mesh.watch(&token).await;
    assert_eq!(unread, 1);
    let second = mesh.send(keyed("Job completed again")).await.unwrap();
    assert!(second.deduplicated);
    assert_eq!(second.notification, first.notification);
    // The replay reports each channel's outcome now (the mail may have
    // left the outbox since).
    let channels = |r: &pb::SendNotificationResponse| -> Vec<i32> {
        r.deliveries.iter().map(|d| d.channel).collect()
    };
    assert_eq!(channels(&second), channels(&first));
    assert_eq!(mesh.list(&token).await.notifications.len(), 1);
    // Nothing was streamed for the duplicate: the next event is the next
    // real notification.
    let next = mesh.send_simple(ada, "Another").await;
    let event = crate::harness::next(&mut watch).await.unwrap();
    assert_eq!(event.notification.unwrap().id, next.id);
    mesh.stop().await;
}

#[tokio::test]
async fn invalid_sends_are_refused_and_change_nothing() {
    let mesh = Mesh::start().await;
    let (ada, token) = mesh.sign_up("ada").await;
    let bad = pb::SendNotificationRequest {
        user_id: ada,
        r#type: 0,
        title: "  ".into(),
        message: "x".repeat(4001),
        job_id: "not-a-job".into(),
        service_id: -3,
        action_url: "https://elsewhere.example/phish".into(),
        action_label: "Click".into(),
        channels: vec![pb::DeliveryChannel::Web as i32, 42],
        dedup_key: "k".into(),
        qc_summary: None,
    };
    let refused = mesh.send(bad).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(reason(&refused), ErrorReason::ValidationFailed);
    assert_eq!(
        violated_fields(&refused),
        [
            "type",
            "title",
            "message",
            "job_id",
            "service_id",
            "action_url",
            "channels[1]"
        ]
    );
    let no_user = mesh
        .send(pb::SendNotificationRequest {
            user_id: 0,
            ..job_completed(ada, "x")
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_user), ["user_id"]);
    let listed = mesh.list(&token).await;
    assert!(listed.notifications.is_empty());
    assert_eq!(listed.unread_count, 0);
    // The refused call's dedup key was not taken.
    let ok = mesh
        .send(pb::SendNotificationRequest {
            dedup_key: "k".into(),
            ..job_completed(ada, "Fine")
        })
        .await
        .unwrap();
    assert!(!ok.deduplicated);
    mesh.stop().await;
}

#[tokio::test]
async fn invalid_inbox_requests_are_refused() {
    let mesh = Mesh::start().await;
    let (ada, token) = mesh.sign_up("ada").await;
    mesh.send_simple(ada, "One").await;
    let list = |request: pb::ListNotificationsRequest| {
        let mut inbox = mesh.inbox();
        let token = token.clone();
        async move {
            inbox
                .list_notifications(with_token(request, &token))
                .await
                .unwrap_err()
        }
    };
    let bad = list(pb::ListNotificationsRequest {
        page_size: -1,
        page_token: "garbage!".into(),
        types: vec![99],
        job_id: "j".repeat(65),
        ..Default::default()
    })
    .await;
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&bad),
        ["page_size", "types[0]", "job_id", "page_token"]
    );
    let zero = mesh
        .inbox()
        .mark_notification_read(with_token(
            pb::MarkNotificationReadRequest { id: 0 },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&zero), ["id"]);
    assert_eq!(mesh.list(&token).await.unread_count, 1, "nothing changed");
    mesh.stop().await;
}

#[tokio::test]
async fn pages_follow_tokens_bound_to_their_filters() {
    let mesh = Mesh::start().await;
    let (ada, token) = mesh.sign_up("ada").await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(mesh.send_simple(ada, &format!("n{i}")).await.id);
    }
    sent.reverse();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = mesh
            .inbox()
            .list_notifications(with_token(
                pb::ListNotificationsRequest {
                    page_size: 2,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.notifications.len() <= 2);
        assert_eq!(page.unread_count, 5);
        seen.extend(page.notifications.iter().map(|n| n.id));
        if page.next_page_token.is_empty() {
            break;
        }
        // A token replayed with other filters is refused.
        let replay = mesh
            .inbox()
            .list_notifications(with_token(
                pb::ListNotificationsRequest {
                    page_size: 2,
                    page_token: page.next_page_token.clone(),
                    unread_only: true,
                    ..Default::default()
                },
                &token,
            ))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&replay), ["page_token"]);
        page_token = page.next_page_token;
    }
    assert_eq!(seen, sent, "every notification once, newest first");
    mesh.stop().await;
}

#[tokio::test]
async fn preferences_round_trip_with_defaults_and_masks() {
    let mesh = Mesh::start().await;
    let (_, token) = mesh.sign_up("ada").await;
    let get = || {
        let mut inbox = mesh.inbox();
        let token = token.clone();
        async move {
            inbox
                .get_notification_preferences(with_token(
                    pb::GetNotificationPreferencesRequest {},
                    &token,
                ))
                .await
                .unwrap()
                .into_inner()
                .preferences
                .unwrap()
        }
    };
    let update = |preferences: pb::NotificationPreferences, paths: &[&str]| {
        let mut inbox = mesh.inbox();
        let token = token.clone();
        let update_mask = (!paths.is_empty()).then(|| prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        });
        async move {
            inbox
                .update_notification_preferences(with_token(
                    pb::UpdateNotificationPreferencesRequest {
                        preferences: Some(preferences),
                        update_mask,
                    },
                    &token,
                ))
                .await
                .map(|r| r.into_inner().preferences.unwrap())
        }
    };
    let defaults = get().await;
    assert_eq!(
        defaults,
        pb::NotificationPreferences {
            web_enabled: true,
            email_on_job_completed: true,
            email_on_job_failed: true,
            email_on_job_cancelled: false,
            email_on_credential_issue: true,
            email_address: String::new(),
            updated_at: None,
        }
    );

    // Only the masked field changes.
    let saved = update(
        pb::NotificationPreferences {
            email_on_job_cancelled: true,
            ..Default::default()
        },
        &["email_on_job_cancelled"],
    )
    .await
    .unwrap();
    assert!(saved.email_on_job_cancelled);
    assert!(saved.web_enabled && saved.email_on_job_completed);
    assert!(saved.updated_at.is_some());
    assert_eq!(get().await, saved);

    // Bad values change nothing.
    for (preferences, paths, field) in [
        (
            pb::NotificationPreferences {
                email_address: "not an address".into(),
                ..saved.clone()
            },
            vec!["email_address"],
            "preferences.email_address",
        ),
        (saved.clone(), vec!["updated_at"], "update_mask.paths[0]"),
        (saved.clone(), vec!["colour"], "update_mask.paths[0]"),
    ] {
        let refused = update(preferences, &paths).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&refused), [field]);
    }
    let missing = mesh
        .inbox()
        .update_notification_preferences(with_token(
            pb::UpdateNotificationPreferencesRequest {
                preferences: None,
                update_mask: None,
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&missing), ["preferences"]);
    assert_eq!(get().await, saved);

    // No mask: every field is replaced.
    let replaced = update(
        pb::NotificationPreferences {
            web_enabled: false,
            email_address: "lab@example.org".into(),
            ..Default::default()
        },
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        pb::NotificationPreferences {
            updated_at: None,
            ..replaced.clone()
        },
        pb::NotificationPreferences {
            web_enabled: false,
            email_address: "lab@example.org".into(),
            ..Default::default()
        }
    );
    assert_eq!(get().await, replaced);
    mesh.stop().await;
}

#[tokio::test]
async fn preferences_decide_the_channels() {
    let mesh = Mesh::start().await;
    let (ada, token) = mesh.sign_up("ada").await;
    let (mut watch, _) = mesh.watch(&token).await;
    mesh.inbox()
        .update_notification_preferences(with_token(
            pb::UpdateNotificationPreferencesRequest {
                preferences: Some(pb::NotificationPreferences {
                    web_enabled: false,
                    email_on_job_completed: false,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["web_enabled".into(), "email_on_job_completed".into()],
                }),
            },
            &token,
        ))
        .await
        .unwrap();

    // The web channel is off: stored, but neither in the inbox nor streamed.
    let muted = mesh.send(job_completed(ada, "Muted")).await.unwrap();
    assert_eq!(
        outcomes(&muted),
        [(WEB, BY_PREFERENCE), (EMAIL, BY_PREFERENCE)]
    );
    assert!(muted.notification.is_some());
    let listed = mesh.list(&token).await;
    assert!(listed.notifications.is_empty());
    assert_eq!(listed.unread_count, 0);
    let hidden = mesh
        .inbox()
        .mark_notification_read(with_token(
            pb::MarkNotificationReadRequest {
                id: muted.notification.unwrap().id,
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);

    // Asking for a channel does not override the preferences.
    let asked = mesh
        .send(pb::SendNotificationRequest {
            channels: vec![WEB],
            ..job_completed(ada, "Asked for web")
        })
        .await
        .unwrap();
    assert_eq!(outcomes(&asked), [(WEB, BY_PREFERENCE)]);

    // Back on: the next one is listed and streamed (and is the first thing
    // the open watch sees).
    mesh.inbox()
        .update_notification_preferences(with_token(
            pb::UpdateNotificationPreferencesRequest {
                preferences: Some(pb::NotificationPreferences {
                    web_enabled: true,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["web_enabled".into()],
                }),
            },
            &token,
        ))
        .await
        .unwrap();
    let shown = mesh.send(job_completed(ada, "Shown")).await.unwrap();
    assert_eq!(outcomes(&shown), [(WEB, DELIVERED), (EMAIL, BY_PREFERENCE)]);
    let event = crate::harness::next(&mut watch).await.unwrap();
    assert_eq!(event.event, pb::NotificationEvent::Created as i32);
    assert_eq!(event.notification, shown.notification);
    assert_eq!(event.unread_count, 1);
    assert_eq!(mesh.list(&token).await.notifications.len(), 1);

    // Only email asked for: nothing in the inbox, email considered.
    let email_only = mesh
        .send(pb::SendNotificationRequest {
            r#type: pb::NotificationType::System as i32,
            channels: vec![EMAIL],
            ..job_completed(ada, "Maintenance")
        })
        .await
        .unwrap();
    assert_eq!(outcomes(&email_only), [(EMAIL, QUEUED)]);
    assert_eq!(mesh.list(&token).await.notifications.len(), 1);
    mesh.stop().await;
}
