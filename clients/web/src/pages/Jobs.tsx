// Jobs: filters (status, service, dates), search by name, server-side
// pagination, progress bars, cancel with confirmation.
import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { apiError, type ApiError } from "@fip/client";
import { JobStatus, type Job } from "@fip/client/gen/fip/jobs/v1/job_pb";
import { api } from "../app/api";
import { useCatalog } from "../app/catalog";
import { useDebounced, useQuery } from "../app/hooks";
import { describe } from "../app/actions";
import { date, enumLabel, enumValues } from "../app/format";
import { Dialog, Empty, ErrorBanner, Loading, PageHeader, ProgressBar, SelectField, StatusBadge, TextField } from "../components/ui";

const ACTIVE = [JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING];

export function isActive(job: Job): boolean {
  return ACTIVE.includes(job.status);
}

/** The ListJobs request for the page's filters. */
export function listRequest(f: {
  status: string;
  service: string;
  from: string;
  to: string;
  query: string;
  pageSize: number;
  pageToken: string;
}) {
  const day = (s: string, end: boolean) => {
    const d = new Date(`${s}T00:00:00`);
    if (end) d.setDate(d.getDate() + 1);
    return timestampFromDate(d);
  };
  return {
    pageSize: f.pageSize,
    pageToken: f.pageToken,
    status: f.status === "active" ? ACTIVE : f.status ? [Number(f.status) as JobStatus] : [],
    serviceId: f.service ? BigInt(f.service) : 0n,
    createdAfter: f.from ? day(f.from, false) : undefined,
    createdBefore: f.to ? day(f.to, true) : undefined,
    query: f.query.trim(),
    topLevelOnly: true,
  };
}

export function JobsPage() {
  const [params, setParams] = useSearchParams();
  const { catalog } = useCatalog();
  const status = params.get("status") ?? "";
  const service = params.get("service") ?? "";
  const from = params.get("from") ?? "";
  const to = params.get("to") ?? "";
  const [search, setSearch] = useState(params.get("q") ?? "");
  const query = useDebounced(search, 300);
  const [pageSize, setPageSize] = useState(25);
  // Tokens of the pages before this one; the last is this page's.
  const [tokens, setTokens] = useState<string[]>([""]);
  const [cancelling, setCancelling] = useState<Job>();
  const [actionError, setActionError] = useState<ApiError>();
  const filters = { status, service, from, to, query, pageSize };
  const key = JSON.stringify(filters);
  const [lastKey, setLastKey] = useState(key);
  if (key !== lastKey) {
    setLastKey(key);
    setTokens([""]);
  }
  const pageToken = tokens[tokens.length - 1];
  const list = useQuery(
    (signal) => api.jobs.listJobs(listRequest({ ...filters, pageToken }), { signal }),
    [key, pageToken],
  );
  const setFilter = (k: string) => (v: string) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    setParams(next, { replace: true });
  };
  const total = list.data ? Number(list.data.totalSize) : 0;
  const page = tokens.length;
  const pages = Math.max(1, Math.ceil(total / pageSize));

  async function cancel(job: Job) {
    setCancelling(undefined);
    try {
      await api.jobs.cancelJob({ id: job.id });
      list.reload();
    } catch (e) {
      setActionError(apiError(e));
    }
  }

  return (
    <section>
      <PageHeader title="Jobs">
        <Link className="button" to="/jobs/new">
          New job
        </Link>
      </PageHeader>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <TextField label="Search by name" type="search" value={search} onChange={setSearch} />
        <SelectField
          label="Status"
          value={status}
          onChange={setFilter("status")}
          placeholder="Any status"
          options={[
            { value: "active", label: "active (pending, queued, running)" },
            ...enumValues<JobStatus>(JobStatus).map((s) => ({ value: String(s), label: enumLabel(JobStatus, s) })),
          ]}
        />
        <SelectField
          label="Service"
          value={service}
          onChange={setFilter("service")}
          placeholder="Any service"
          options={(catalog?.services ?? []).map((s) => ({ value: String(s.id), label: s.name }))}
        />
        <TextField label="Created from" type="date" value={from} onChange={setFilter("from")} />
        <TextField label="Created until" type="date" value={to} onChange={setFilter("to")} />
      </form>
      {actionError && <ErrorBanner error={describe(actionError)} />}
      {list.error && <ErrorBanner error={list.error} retry={list.reload} />}
      {list.loading && !list.data && <Loading what="jobs" />}
      {list.data && list.data.jobs.length === 0 && (
        <Empty>
          {key === JSON.stringify({ status: "", service: "", from: "", to: "", query: "", pageSize }) ? (
            <>
              No jobs yet. <Link to="/jobs/new">Submit one</Link>.
            </>
          ) : (
            "No job matches these filters."
          )}
        </Empty>
      )}
      {list.data && list.data.jobs.length > 0 && (
        <>
          <div className="table-wrap" aria-busy={list.loading}>
            <table className="table jobs-table stack-table">
              <caption className="visually-hidden">Your jobs, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Target</th>
                  <th scope="col">Status</th>
                  <th scope="col">Progress</th>
                  <th scope="col">Created</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.data.jobs.map((j) => (
                  <tr key={j.id}>
                    <td data-label="Name">
                      <Link to={`/jobs/${j.id}`}>{j.name}</Link>
                    </td>
                    <td data-label="Target">
                      {j.childJobIds.length > 0
                        ? `${j.childJobIds.length} targets`
                        : `${j.serviceName} / ${j.referencePanelName}`}
                    </td>
                    <td data-label="Status">
                      <StatusBadge status={j.status} />
                    </td>
                    <td data-label="Progress">
                      <ProgressBar value={j.progressPercentage} label={`Progress of ${j.name}`} />
                    </td>
                    <td data-label="Created">{date(j.createdAt)}</td>
                    <td>
                      {isActive(j) && !j.cancelRequestedAt && (
                        <button type="button" className="button-link" onClick={() => setCancelling(j)}>
                          Cancel<span className="visually-hidden"> {j.name}</span>
                        </button>
                      )}
                      {j.cancelRequestedAt && isActive(j) && <span className="muted small">cancelling…</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav className="pager" aria-label="Pages">
            <button type="button" className="button-secondary" disabled={page <= 1 || list.loading} onClick={() => setTokens((t) => t.slice(0, -1))}>
              Previous
            </button>
            <span>
              Page {page} of {pages} · {total.toLocaleString()} jobs
            </span>
            <button
              type="button"
              className="button-secondary"
              disabled={!list.data.nextPageToken || list.loading}
              onClick={() => setTokens((t) => [...t, list.data!.nextPageToken])}
            >
              Next
            </button>
            <SelectField
              label="Per page"
              value={String(pageSize)}
              onChange={(v) => setPageSize(Number(v))}
              options={[25, 50, 100].map((n) => ({ value: String(n), label: String(n) }))}
            />
          </nav>
        </>
      )}
      <Dialog
        open={!!cancelling}
        title="Cancel this job?"
        role="alertdialog"
        onClose={() => setCancelling(undefined)}
        actions={
          <>
            <button type="button" className="button-secondary" onClick={() => setCancelling(undefined)}>
              Keep it running
            </button>
            <button type="button" className="button-danger" onClick={() => cancel(cancelling!)}>
              Cancel the job
            </button>
          </>
        }
      >
        <p>
          “{cancelling?.name}” will be cancelled on the imputation server too
          {cancelling && cancelling.childJobIds.length > 0 ? ", with every unfinished target" : ""}.
        </p>
      </Dialog>
    </section>
  );
}
