//! The in-process event bus: per-user delivery, bounded buffers, lag.

use std::sync::Arc;

use fip_notify::events::{BusItem, EventBus, LocalBus};
use fip_notify::model::{InboxChange, InboxEvent};
use futures::StreamExt;

use crate::harness::PROMPTLY;

fn event(user_id: i64, unread_count: i64) -> InboxEvent {
    InboxEvent {
        user_id,
        change: InboxChange::AllRead,
        unread_count,
    }
}

async fn next(subscription: &mut fip_notify::events::Subscription) -> BusItem {
    tokio::time::timeout(PROMPTLY, subscription.next())
        .await
        .expect("the bus delivers promptly")
        .expect("the subscription is open")
}

#[tokio::test]
async fn subscribers_get_their_own_users_changes_only() {
    let bus = LocalBus::new(16);
    let mut ada = bus.subscribe(1).await.unwrap();
    let mut ada_tab = bus.subscribe(1).await.unwrap();
    let mut bob = bus.subscribe(2).await.unwrap();
    bus.publish(event(1, 5)).await.unwrap();
    bus.publish(event(2, 7)).await.unwrap();
    bus.publish(event(3, 9)).await.unwrap(); // nobody watches user 3
    assert_eq!(next(&mut ada).await, BusItem::Event(Arc::new(event(1, 5))));
    assert_eq!(
        next(&mut ada_tab).await,
        BusItem::Event(Arc::new(event(1, 5)))
    );
    assert_eq!(next(&mut bob).await, BusItem::Event(Arc::new(event(2, 7))));
    // Each got exactly its own: the next thing Ada's stream sees is new.
    bus.publish(event(1, 6)).await.unwrap();
    assert_eq!(next(&mut ada).await, BusItem::Event(Arc::new(event(1, 6))));
}

#[tokio::test]
async fn a_slow_subscriber_lags_without_holding_up_others() {
    let bus = LocalBus::new(4);
    let mut slow = bus.subscribe(1).await.unwrap();
    let mut fast = bus.subscribe(1).await.unwrap();
    for i in 0..10 {
        // Publishing never waits, however far behind `slow` is.
        tokio::time::timeout(PROMPTLY, bus.publish(event(1, i)))
            .await
            .expect("publish does not block")
            .unwrap();
        assert_eq!(next(&mut fast).await, BusItem::Event(Arc::new(event(1, i))));
    }
    // `slow` missed the 6 oldest and then sees the 4 the bus held.
    assert_eq!(next(&mut slow).await, BusItem::Lagged(6));
    for i in 6..10 {
        assert_eq!(next(&mut slow).await, BusItem::Event(Arc::new(event(1, i))));
    }
}

#[tokio::test]
async fn the_last_subscriber_leaving_removes_the_inbox_channel() {
    let bus = LocalBus::new(4);
    let first = bus.subscribe(1).await.unwrap();
    let second = bus.subscribe(1).await.unwrap();
    let other = bus.subscribe(2).await.unwrap();
    assert_eq!(bus.watched_inboxes(), 2);
    drop(first);
    assert_eq!(bus.watched_inboxes(), 2, "user 1 still has a watcher");
    drop(second);
    assert_eq!(bus.watched_inboxes(), 1);
    drop(other);
    assert_eq!(bus.watched_inboxes(), 0);
    // A new subscriber starts afresh and gets what follows.
    let mut again = bus.subscribe(1).await.unwrap();
    bus.publish(event(1, 1)).await.unwrap();
    assert_eq!(
        next(&mut again).await,
        BusItem::Event(Arc::new(event(1, 1)))
    );
}
