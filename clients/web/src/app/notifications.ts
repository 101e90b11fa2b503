// The inbox's unread count and latest notices, followed live on
// WatchNotifications (one stream for the whole app, opened while signed in).
import { useSyncExternalStore } from "react";
import { NotificationEvent, type Notification } from "@fip/client/gen/fip/notify/v1/notification_pb";

interface Inbox {
  unread: number;
  latest: Notification[];
  /** Bumped on every event, for pages that list notifications. */
  version: number;
}

let inbox: Inbox = { unread: 0, latest: [], version: 0 };
const listeners = new Set<() => void>();

function set(next: Inbox) {
  inbox = next;
  for (const l of listeners) l();
}

export function applyNotificationEvent(event: {
  event: NotificationEvent;
  notification?: Notification;
  unreadCount: bigint;
}) {
  let latest = inbox.latest;
  const n = event.notification;
  if (n) {
    if (event.event === NotificationEvent.CREATED || event.event === NotificationEvent.SNAPSHOT) {
      latest = [n, ...latest.filter((x) => x.id !== n.id)].slice(0, 20);
    } else if (event.event === NotificationEvent.READ) {
      latest = latest.map((x) => (x.id === n.id ? n : x));
    }
  }
  if (event.event === NotificationEvent.ALL_READ) {
    latest = latest.map((x) => ({ ...x, isRead: true }));
  }
  set({ unread: Number(event.unreadCount), latest, version: inbox.version + 1 });
}

export function resetInbox() {
  set({ unread: 0, latest: [], version: 0 });
}

export function useInbox(): Inbox {
  return useSyncExternalStore(
    (changed) => {
      listeners.add(changed);
      return () => listeners.delete(changed);
    },
    () => inbox,
  );
}
