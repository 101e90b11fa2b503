// Profile: name, email, institution; change password; signed-in sessions
// (revoke one, sign out everywhere); the user's own audit events.
import { useEffect, useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { apiError, type ApiError } from "@fip/client";
import { AuditAction, AuditOutcome } from "@fip/client/gen/fip/user/v1/audit_pb";
import { Role as RoleNames } from "@fip/client/gen/fip/user/v1/role_pb";
import { api, session, useSession } from "../app/api";
import { useQuery } from "../app/hooks";
import { actionFor, describe } from "../app/actions";
import { date, enumLabel } from "../app/format";
import { Empty, ErrorBanner, Loading, Notice, PageHeader, TextField } from "../components/ui";

export default function ProfilePage() {
  return (
    <section>
      <PageHeader title="Profile" />
      <div className="columns">
        <div className="stack">
          <ProfileForm />
          <PasswordForm />
        </div>
        <div className="stack">
          <Sessions />
          <AuditEvents />
        </div>
      </div>
    </section>
  );
}

function ProfileForm() {
  const { user } = useSession();
  const [v, setV] = useState({ firstName: "", lastName: "", email: "", institution: "", department: "" });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<ApiError>();
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (user)
      setV({
        firstName: user.firstName,
        lastName: user.lastName,
        email: user.email,
        institution: user.institution,
        department: user.department,
      });
  }, [user]);
  const set = (k: keyof typeof v) => (value: string) => setV((o) => ({ ...o, [k]: value }));
  async function save(e: FormEvent) {
    e.preventDefault();
    setSaved(false);
    setError(undefined);
    setErrors({});
    try {
      const r = await api.users.updateProfile({
        user: v,
        updateMask: { paths: ["first_name", "last_name", "email", "institution", "department"] },
      });
      session.setUser(r.user!);
      setSaved(true);
    } catch (err) {
      const ae = apiError(err);
      const a = actionFor(ae);
      if (a.kind === "fix_fields") {
        const f: Record<string, string> = {};
        for (const [k, t] of Object.entries(a.fields)) f[k.replace(/^user\./, "")] = ae.reason === "ALREADY_EXISTS" ? "Already used by another account" : t;
        setErrors(f);
      } else setError(ae);
    }
  }
  return (
    <form className="card" onSubmit={save} aria-labelledby="profile-h" noValidate>
      <h2 id="profile-h">Your details</h2>
      <p className="muted small">
        Signed in as <strong>{user?.username}</strong> · roles: {user?.roles.map((r) => enumLabel(RoleNames, r)).join(", ")}
      </p>
      <div className="grid-2">
        <TextField label="First name" value={v.firstName} onChange={set("firstName")} error={errors.first_name} autoComplete="given-name" />
        <TextField label="Last name" value={v.lastName} onChange={set("lastName")} error={errors.last_name} autoComplete="family-name" />
      </div>
      <TextField label="Email" type="email" value={v.email} onChange={set("email")} error={errors.email} autoComplete="email" />
      <div className="grid-2">
        <TextField label="Institution" value={v.institution} onChange={set("institution")} />
        <TextField label="Department" value={v.department} onChange={set("department")} />
      </div>
      {saved && <Notice kind="success">Saved.</Notice>}
      {error && <ErrorBanner error={describe(error)} />}
      <button type="submit">Save details</button>
    </form>
  );
}

function PasswordForm() {
  const { user } = useSession();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<ApiError>();
  const [done, setDone] = useState(false);
  async function save(e: FormEvent) {
    e.preventDefault();
    setDone(false);
    setError(undefined);
    const found: Record<string, string> = {};
    if (!current) found.current_password = "Required";
    if (next.length < 8) found.new_password = "At least 8 characters";
    if (confirm !== next) found.confirm = "The passwords do not match";
    setErrors(found);
    if (Object.keys(found).length) return;
    try {
      await api.users.changePassword({ currentPassword: current, newPassword: next });
      setCurrent("");
      setNext("");
      setConfirm("");
      setDone(true);
    } catch (err) {
      const ae = apiError(err);
      if (ae.reason === "LOGIN_FAILED") setErrors({ current_password: "This is not your current password" });
      else if (ae.fieldViolations.length) setErrors(Object.fromEntries(ae.fieldViolations.map((v) => [v.field, v.description])));
      else setError(ae);
    }
  }
  return (
    <form className="card" onSubmit={save} aria-labelledby="password-h" noValidate>
      <h2 id="password-h">Change password</h2>
      <input type="text" name="username" autoComplete="username" value={user?.username ?? ""} readOnly hidden />
      <TextField label="Current password" type="password" value={current} onChange={setCurrent} error={errors.current_password} autoComplete="current-password" />
      <TextField label="New password" type="password" value={next} onChange={setNext} error={errors.new_password} autoComplete="new-password" />
      <TextField label="Confirm new password" type="password" value={confirm} onChange={setConfirm} error={errors.confirm} autoComplete="new-password" />
      {done && <Notice kind="success">Password changed. Your other sessions were signed out.</Notice>}
      {error && <ErrorBanner error={describe(error)} />}
      <button type="submit">Change password</button>
    </form>
  );
}

/** "Chrome on Linux" from a user agent string. */
export function clientName(ua: string): string {
  if (!ua) return "Unknown client";
  const browser = /Edg\//.test(ua)
    ? "Edge"
    : /Firefox\//.test(ua)
      ? "Firefox"
      : /Chrome\/|Chromium\//.test(ua)
        ? "Chrome"
        : /Safari\//.test(ua)
          ? "Safari"
          : ua.split(/[ /]/)[0];
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows" : /Mac OS X/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

function Sessions() {
  const navigate = useNavigate();
  const list = useQuery((signal) => api.users.listSessions({ pageSize: 50 }, { signal }), []);
  const [error, setError] = useState<ApiError>();
  async function revoke(id: string, current: boolean) {
    try {
      if (current) {
        await session.logout(false);
        navigate("/login");
        return;
      }
      await api.users.revokeSession({ id });
      list.reload();
    } catch (e) {
      setError(apiError(e));
    }
  }
  return (
    <section className="card" aria-labelledby="sessions-h">
      <h2 id="sessions-h">Signed-in sessions</h2>
      {error && <ErrorBanner error={describe(error)} />}
      {list.error && <ErrorBanner error={list.error} retry={list.reload} />}
      {!list.data && !list.error && <Loading what="sessions" />}
      {list.data && list.data.sessions.length === 0 && <Empty>No session.</Empty>}
      {list.data && list.data.sessions.length > 0 && (
        <ul className="list">
          {list.data.sessions.map((s) => (
            <li key={s.id} className="list-row">
              <div>
                <strong>{s.current ? "This browser" : clientName(s.userAgent)}</strong>
                <div className="muted small">
                  from {s.clientAddress || "?"} · signed in {date(s.createdAt)} · active {date(s.lastRefreshedAt)}
                </div>
              </div>
              <button type="button" className="button-link" onClick={() => revoke(s.id, s.current)}>
                {s.current ? "Sign out" : "Revoke"}
                <span className="visually-hidden"> session from {date(s.createdAt)}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      <button
        type="button"
        className="button-secondary"
        onClick={async () => {
          await session.logout(true);
          navigate("/login");
        }}
      >
        Sign out everywhere
      </button>
    </section>
  );
}

function AuditEvents() {
  const [pages, setPages] = useState<string[]>([""]);
  const list = useQuery(
    async (signal) => {
      const events = [];
      let next = "";
      for (const t of pages) {
        const r = await api.audit.listMyAuditEvents({ pageSize: 25, pageToken: t }, { signal });
        events.push(...r.auditEvents);
        next = r.nextPageToken;
      }
      return { events, next };
    },
    [pages.length],
  );
  return (
    <section className="card" aria-labelledby="audit-h">
      <h2 id="audit-h">Your account's activity</h2>
      {list.error && <ErrorBanner error={list.error} retry={list.reload} />}
      {!list.data && !list.error && <Loading what="activity" />}
      {list.data && list.data.events.length === 0 && <Empty>No activity recorded.</Empty>}
      {list.data && list.data.events.length > 0 && (
        <ul className="list">
          {list.data.events.map((e) => (
            <li key={String(e.id)} className="list-row">
              <div>
                <strong>{enumLabel(AuditAction, e.action)}</strong>{" "}
                <span className={`badge outcome-${enumLabel(AuditOutcome, e.outcome)}`}>{enumLabel(AuditOutcome, e.outcome)}</span>
                <div className="muted small">
                  {date(e.createdAt)} · {e.clientAddress || "—"}
                  {e.detail?.summary ? ` · ${e.detail.summary}` : ""}
                </div>
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
    </section>
  );
}
