// Job counts by state, recent jobs, every service's health at a glance,
// unread notifications.
import { Link } from "react-router";
import { api, useSession } from "../app/api";
import { useCatalog } from "../app/catalog";
import { useQuery } from "../app/hooks";
import { useInbox } from "../app/notifications";
import { date, relative } from "../app/format";
import { Empty, ErrorBanner, HealthBadge, Loading, PageHeader, ProgressBar, StatusBadge } from "../components/ui";

export function DashboardPage() {
  const { user } = useSession();
  const stats = useQuery((signal) => api.jobs.getDashboardStats({}, { signal }), []);
  const { catalog, error: catalogError, reload } = useCatalog();
  const inbox = useInbox();
  const unread = useQuery(
    (signal) => api.notifications.listNotifications({ unreadOnly: true, pageSize: 5 }, { signal }),
    [inbox.version],
  );
  const latest = unread.data?.notifications ?? [];
  const s = stats.data;
  const counts: [string, bigint | undefined, string][] = [
    ["Total", s?.totalJobs, ""],
    ["Running", s?.runningJobs, "running"],
    ["Queued", s ? s.queuedJobs + s.pendingJobs : undefined, "queued"],
    ["Completed", s?.completedJobs, "completed"],
    ["Failed", s?.failedJobs, "failed"],
    ["Cancelled", s ? s.cancelledJobs + s.expiredJobs : undefined, "cancelled"],
  ];
  const services = catalog?.services.filter((x) => x.isActive) ?? [];
  return (
    <section>
      <PageHeader title="Dashboard">
        <Link className="button" to="/jobs/new">
          New job
        </Link>
      </PageHeader>
      <p className="muted">Welcome back, {user?.firstName || user?.username}.</p>
      {stats.error && <ErrorBanner error={stats.error} retry={stats.reload} />}
      <div className="stat-grid" aria-busy={stats.loading}>
        {counts.map(([label, value, cls]) => (
          <div key={label} className={`stat stat-${cls || "total"}`}>
            <div className="stat-value">{value === undefined ? "…" : String(value)}</div>
            <div className="stat-label">{label}</div>
          </div>
        ))}
      </div>
      <div className="columns">
        <section className="card" aria-labelledby="recent-h">
          <h2 id="recent-h">Recent jobs</h2>
          {stats.loading && !s && <Loading what="recent jobs" />}
          {s && s.recentJobs.length === 0 && (
            <Empty>
              No jobs yet. <Link to="/jobs/new">Submit your first job</Link>.
            </Empty>
          )}
          {s && s.recentJobs.length > 0 && (
            <ul className="list">
              {s.recentJobs.map((j) => (
                <li key={j.id} className="list-row">
                  <div>
                    <Link to={`/jobs/${j.id}`}>{j.name}</Link>
                    <div className="muted small">
                      {j.serviceName || (j.childJobIds.length > 0 ? `${j.childJobIds.length} targets` : "")} · {date(j.createdAt)}
                    </div>
                  </div>
                  <div className="list-end">
                    <StatusBadge status={j.status} />
                    <ProgressBar value={j.progressPercentage} label={`Progress of ${j.name}`} />
                  </div>
                </li>
              ))}
            </ul>
          )}
          <Link to="/jobs">All jobs</Link>
        </section>
        <div className="stack">
          <section className="card" aria-labelledby="health-h">
            <h2 id="health-h">Service health</h2>
            {catalogError && <ErrorBanner error={catalogError} retry={reload} />}
            {!catalog && !catalogError && <Loading what="services" />}
            {catalog && services.length === 0 && <Empty>No imputation service is registered yet.</Empty>}
            <ul className="list">
              {services.map((x) => (
                <li key={String(x.id)} className="list-row">
                  <div>
                    <Link to={`/services#service-${x.id}`}>{x.name}</Link>
                    <div className="muted small">
                      {x.responseTimeMs ? `${x.responseTimeMs} ms · ` : ""}checked {relative(x.lastHealthCheckAt)}
                    </div>
                  </div>
                  <HealthBadge status={x.healthStatus} />
                </li>
              ))}
            </ul>
          </section>
          <section className="card" aria-labelledby="inbox-h">
            <h2 id="inbox-h">
              Notifications <span className="muted">({inbox.unread} unread)</span>
            </h2>
            {unread.error && <ErrorBanner error={unread.error} retry={unread.reload} />}
            {!unread.data && !unread.error ? (
              <Loading what="notifications" />
            ) : latest.length === 0 ? (
              <Empty>Nothing new.</Empty>
            ) : (
              <ul className="list">
                {latest.map((n) => (
                  <li key={String(n.id)} className={n.isRead ? "list-row" : "list-row unread"}>
                    <div>
                      <strong>{n.title}</strong>
                      <div className="muted small">{n.message}</div>
                    </div>
                    {n.actionUrl && <Link to={n.actionUrl}>{n.actionLabel || "Open"}</Link>}
                  </li>
                ))}
              </ul>
            )}
            <Link to="/notifications">All notifications</Link>
          </section>
        </div>
      </div>
    </section>
  );
}
