// Admin: accounts (activate, roles) and the audit log of everyone.
import { useState } from "react";
import { apiError, type ApiError } from "@fip/client";
import { Role, type Role as RoleT } from "@fip/client/gen/fip/user/v1/role_pb";
import { AuditAction, AuditOutcome } from "@fip/client/gen/fip/user/v1/audit_pb";
import type { User } from "@fip/client/gen/fip/user/v1/user_pb";
import { api, useSession } from "../app/api";
import { useDebounced, useQuery } from "../app/hooks";
import { describe } from "../app/actions";
import { date, enumLabel, enumValues } from "../app/format";
import { isAdmin } from "../components/Layout";
import { Empty, ErrorBanner, Loading, PageHeader, SelectField, TextField } from "../components/ui";

export default function AdminPage() {
  const { user } = useSession();
  const [tab, setTab] = useState<"users" | "audit">("users");
  if (!isAdmin(user?.roles))
    return (
      <section>
        <PageHeader title="Admin" />
        <ErrorBanner error="Only administrators can open this page." />
      </section>
    );
  return (
    <section>
      <PageHeader title="Admin" />
      <div role="tablist" aria-label="Admin" className="tabs">
        <button type="button" role="tab" aria-selected={tab === "users"} aria-controls="tab-users" onClick={() => setTab("users")}>
          Users
        </button>
        <button type="button" role="tab" aria-selected={tab === "audit"} aria-controls="tab-audit" onClick={() => setTab("audit")}>
          Audit log
        </button>
      </div>
      <div id={`tab-${tab}`} role="tabpanel">
        {tab === "users" ? <Users me={user!.id} /> : <Audit />}
      </div>
    </section>
  );
}

function Users({ me }: { me: bigint }) {
  const [search, setSearch] = useState("");
  const query = useDebounced(search, 300);
  const [tokens, setTokens] = useState<string[]>([""]);
  const [error, setError] = useState<ApiError>();
  const list = useQuery(
    (signal) => api.users.listUsers({ pageSize: 25, pageToken: tokens[tokens.length - 1], query }, { signal }),
    [query, tokens.length],
  );
  async function run(f: () => Promise<unknown>) {
    setError(undefined);
    try {
      await f();
      list.reload();
    } catch (e) {
      setError(apiError(e));
    }
  }
  const toggleRole = (u: User, r: RoleT) => {
    const roles = u.roles.includes(r) ? u.roles.filter((x) => x !== r) : [...u.roles, r];
    return run(() => api.users.setUserRoles({ id: u.id, roles }));
  };
  return (
    <>
      <TextField label="Search users" type="search" value={search} onChange={(v) => (setSearch(v), setTokens([""]))} />
      {error && <ErrorBanner error={error.reason === "LAST_ADMIN" ? "The hub needs at least one active administrator." : describe(error)} />}
      {list.error && <ErrorBanner error={list.error} retry={list.reload} />}
      {!list.data && !list.error && <Loading what="users" />}
      {list.data && list.data.users.length === 0 && <Empty>No user matches.</Empty>}
      {list.data && list.data.users.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Email</th>
                <th scope="col">Roles</th>
                <th scope="col">Active</th>
                <th scope="col">Last sign-in</th>
              </tr>
            </thead>
            <tbody>
              {list.data.users.map((u) => (
                <tr key={String(u.id)}>
                  <td data-label="User">
                    {u.username}
                    <div className="muted small">
                      {u.firstName} {u.lastName}
                    </div>
                  </td>
                  <td data-label="Email">{u.email}</td>
                  <td data-label="Roles">
                    <fieldset className="checks inline">
                      <legend className="visually-hidden">Roles of {u.username}</legend>
                      {enumValues<RoleT>(Role).map((r) => (
                        <label key={r} className="check">
                          <input type="checkbox" checked={u.roles.includes(r)} disabled={u.id === me} onChange={() => toggleRole(u, r)} />
                          {enumLabel(Role, r)}
                        </label>
                      ))}
                    </fieldset>
                  </td>
                  <td data-label="Active">
                    <label className="check">
                      <input
                        type="checkbox"
                        checked={u.isActive}
                        disabled={u.id === me}
                        onChange={(e) => run(() => api.users.setUserActive({ id: u.id, isActive: e.target.checked }))}
                      />
                      <span className="visually-hidden">{u.username} </span>active
                    </label>
                  </td>
                  <td data-label="Last sign-in">{date(u.lastLogin)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav className="pager" aria-label="Pages of users">
        <button type="button" className="button-secondary" disabled={tokens.length <= 1} onClick={() => setTokens((t) => t.slice(0, -1))}>
          Previous
        </button>
        <span>{list.data ? `${Number(list.data.totalSize)} users` : ""}</span>
        <button
          type="button"
          className="button-secondary"
          disabled={!list.data?.nextPageToken}
          onClick={() => setTokens((t) => [...t, list.data!.nextPageToken])}
        >
          Next
        </button>
      </nav>
    </>
  );
}

function Audit() {
  const [outcome, setOutcome] = useState("");
  const [tokens, setTokens] = useState<string[]>([""]);
  const list = useQuery(
    (signal) =>
      api.audit.listAuditEvents(
        { pageSize: 50, pageToken: tokens[tokens.length - 1], outcome: Number(outcome) as AuditOutcome },
        { signal },
      ),
    [outcome, tokens.length],
  );
  return (
    <>
      <SelectField
        label="Outcome"
        value={outcome}
        onChange={(v) => (setOutcome(v), setTokens([""]))}
        placeholder="Any outcome"
        options={enumValues<AuditOutcome>(AuditOutcome).map((o) => ({ value: String(o), label: enumLabel(AuditOutcome, o) }))}
      />
      {list.error && <ErrorBanner error={list.error} retry={list.reload} />}
      {!list.data && !list.error && <Loading what="the audit log" />}
      {list.data && list.data.auditEvents.length === 0 && <Empty>No event.</Empty>}
      {list.data && list.data.auditEvents.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Outcome</th>
                <th scope="col">Resource</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody>
              {list.data.auditEvents.map((e) => (
                <tr key={String(e.id)}>
                  <td data-label="When">{date(e.createdAt)}</td>
                  <td data-label="Actor">{e.actor}</td>
                  <td data-label="Action">{enumLabel(AuditAction, e.action)}</td>
                  <td data-label="Outcome">{enumLabel(AuditOutcome, e.outcome)}</td>
                  <td data-label="Resource">
                    {e.resourceType} {e.resourceId}
                  </td>
                  <td data-label="From">{e.clientAddress}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav className="pager" aria-label="Pages of the audit log">
        <button type="button" className="button-secondary" disabled={tokens.length <= 1} onClick={() => setTokens((t) => t.slice(0, -1))}>
          Previous
        </button>
        <button
          type="button"
          className="button-secondary"
          disabled={!list.data?.nextPageToken}
          onClick={() => setTokens((t) => [...t, list.data!.nextPageToken])}
        >
          Next
        </button>
      </nav>
    </>
  );
}
