// Notifications: the list (live: new ones arrive on the app's stream),
// mark read, their action links; email preferences per kind.
import { useEffect, useState } from "react";
import { Link } from "react-router";
import { apiError, type ApiError } from "@fip/client";
import type { Notification } from "@fip/client/gen/fip/notify/v1/notification_pb";
import type { NotificationPreferences } from "@fip/client/gen/fip/notify/v1/preferences_pb";
import { api } from "../app/api";
import { useQuery } from "../app/hooks";
import { useInbox } from "../app/notifications";
import { describe } from "../app/actions";
import { date } from "../app/format";
import { Empty, ErrorBanner, Loading, Notice, PageHeader, TextField } from "../components/ui";

export default function NotificationsPage() {
  const inbox = useInbox();
  const [unreadOnly, setUnreadOnly] = useState(false);
  const [pages, setPages] = useState<string[]>([""]);
  const list = useQuery(
    async (signal) => {
      const out: Notification[] = [];
      let next = "";
      for (const token of pages) {
        const r = await api.notifications.listNotifications({ pageSize: 50, pageToken: token, unreadOnly }, { signal });
        out.push(...r.notifications);
        next = r.nextPageToken;
      }
      return { notifications: out, next };
    },
    [unreadOnly, pages.length, inbox.version],
  );
  const [error, setError] = useState<ApiError>();
  async function markRead(n: Notification) {
    try {
      await api.notifications.markNotificationRead({ id: n.id });
      list.reload();
    } catch (e) {
      setError(apiError(e));
    }
  }
  async function markAll() {
    try {
      await api.notifications.markAllNotificationsRead({});
      list.reload();
    } catch (e) {
      setError(apiError(e));
    }
  }
  return (
    <section>
      <PageHeader title="Notifications">
        <button type="button" className="button-secondary" disabled={inbox.unread === 0} onClick={markAll}>
          Mark all read
        </button>
      </PageHeader>
      <p className="muted">{inbox.unread} unread</p>
      <label className="check">
        <input type="checkbox" checked={unreadOnly} onChange={(e) => (setUnreadOnly(e.target.checked), setPages([""]))} /> Unread only
      </label>
      {error && <ErrorBanner error={describe(error)} />}
      {list.error && <ErrorBanner error={list.error} retry={list.reload} />}
      {!list.data && !list.error && <Loading what="notifications" />}
      {list.data && list.data.notifications.length === 0 && <Empty>No notifications.</Empty>}
      {list.data && list.data.notifications.length > 0 && (
        <ul className="list notifications">
          {list.data.notifications.map((n) => (
            <li key={String(n.id)} className={n.isRead ? "list-row" : "list-row unread"}>
              <div>
                <strong>{n.title}</strong> {!n.isRead && <span className="badge">new</span>}
                <div>{n.message}</div>
                <div className="muted small">{date(n.createdAt)}</div>
              </div>
              <div className="list-end">
                {n.actionUrl && (
                  <Link to={n.actionUrl} onClick={() => !n.isRead && markRead(n)}>
                    {n.actionLabel || "Open"}
                  </Link>
                )}
                {!n.isRead && (
                  <button type="button" className="button-link" onClick={() => markRead(n)}>
                    Mark read<span className="visually-hidden">: {n.title}</span>
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
      {list.data?.next && (
        <button type="button" className="button-secondary" onClick={() => setPages((p) => [...p, list.data!.next])}>
          Show more
        </button>
      )}
      <Preferences />
    </section>
  );
}

const KINDS: [keyof NotificationPreferences, string][] = [
  ["emailOnJobCompleted", "A job completed"],
  ["emailOnJobFailed", "A job failed"],
  ["emailOnJobCancelled", "A job was cancelled"],
  ["emailOnCredentialIssue", "A credential was refused or is about to expire"],
];

function Preferences() {
  const prefs = useQuery((signal) => api.notifications.getNotificationPreferences({}, { signal }), []);
  const [p, setP] = useState<NotificationPreferences>();
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<ApiError>();
  useEffect(() => setP(prefs.data?.preferences), [prefs.data]);
  async function save() {
    if (!p) return;
    setSaved(false);
    setError(undefined);
    try {
      const r = await api.notifications.updateNotificationPreferences({
        preferences: p,
        updateMask: {
          paths: ["web_enabled", "email_on_job_completed", "email_on_job_failed", "email_on_job_cancelled", "email_on_credential_issue", "email_address"],
        },
      });
      setP(r.preferences);
      setSaved(true);
    } catch (e) {
      setError(apiError(e));
    }
  }
  return (
    <section className="card" aria-labelledby="prefs-h">
      <h2 id="prefs-h">Email preferences</h2>
      {prefs.error && <ErrorBanner error={prefs.error} retry={prefs.reload} />}
      {!p && !prefs.error && <Loading what="preferences" />}
      {p && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            save();
          }}
        >
          <label className="check">
            <input type="checkbox" checked={p.webEnabled} onChange={(e) => setP({ ...p, webEnabled: e.target.checked })} /> Notify me on the web
          </label>
          <fieldset className="checks">
            <legend>Email me when</legend>
            {KINDS.map(([k, label]) => (
              <label key={k} className="check">
                <input type="checkbox" checked={Boolean(p[k])} onChange={(e) => setP({ ...p, [k]: e.target.checked })} /> {label}
              </label>
            ))}
          </fieldset>
          <TextField
            label="Email address (optional)"
            type="email"
            value={p.emailAddress}
            onChange={(emailAddress) => setP({ ...p, emailAddress })}
            hint="Empty: your account's address"
          />
          {saved && <Notice kind="success">Preferences saved.</Notice>}
          {error && <ErrorBanner error={describe(error)} />}
          <button type="submit">Save preferences</button>
        </form>
      )}
    </section>
  );
}
