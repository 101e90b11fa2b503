// Job detail, live over WatchJob: status and progress as they change, the
// server's step messages, status history, logs, the input's pre-flight
// findings, a parent's children per target, results (kind, size, SHA-256,
// signed-link downloads) and the QC charts; a failed job says why and what
// to do.
import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { apiError, type ApiError } from "@fip/client";
import { GenomeBuild, Phasing } from "@fip/client/gen/fip/common/v1/genome_pb";
import { JobMode, JobStatus, type Job } from "@fip/client/gen/fip/jobs/v1/job_pb";
import { JobLogType, type JobLogEntry, type JobStatusUpdate } from "@fip/client/gen/fip/jobs/v1/job_event_pb";
import { JobResultKind, type ListJobResultsResponse } from "@fip/client/gen/fip/jobs/v1/job_result_pb";
import { InputIssueCode } from "@fip/client/gen/fip/jobs/v1/input_summary_pb";
import { api, gatewayUrl } from "../app/api";
import { capitalise, describe, jobFailure } from "../app/actions";
import { useQuery, useStream } from "../app/hooks";
import { bytes, date, enumLabel, enumName } from "../app/format";
import type { QcSeries } from "../app/qc";
import { isActive } from "./Jobs";
import { Dialog, Empty, ErrorBanner, Loading, PageHeader, ProgressBar, StatusBadge } from "../components/ui";

const QcChart = lazy(() => import("../components/QcChart"));

function byId<T extends { id: bigint }>(list: T[], item: T): T[] {
  return list.some((x) => x.id === item.id) ? list : [...list, item].sort((a, b) => Number(a.id - b.id));
}

/** A job followed live: its first snapshot, then every change. */
function useLiveJob(id: string, includeLogs: boolean) {
  const [job, setJob] = useState<Job>();
  const [updates, setUpdates] = useState<JobStatusUpdate[]>([]);
  const [logs, setLogs] = useState<JobLogEntry[]>([]);
  useEffect(() => {
    setJob(undefined);
    setUpdates([]);
    setLogs([]);
  }, [id]);
  const history = useQuery(
    async (signal) => {
      const [u, l] = await Promise.all([
        api.jobs.listJobStatusUpdates({ jobId: id, pageSize: 500 }, { signal }),
        includeLogs ? api.jobs.listJobLogs({ jobId: id, pageSize: 500 }, { signal }) : Promise.resolve(undefined),
      ]);
      setUpdates((old) => u.statusUpdates.reduce(byId, old));
      if (l) setLogs((old) => l.logs.reduce(byId, old));
      return true;
    },
    [id],
  );
  const stream = useStream(
    (signal) => api.jobs.watchJob({ id, includeLogs }, { signal }),
    (m) => {
      if (m.job) setJob(m.job);
      if (m.event.case === "statusUpdate") setUpdates((old) => byId(old, m.event.value as JobStatusUpdate));
      if (m.event.case === "logEntry") setLogs((old) => byId(old, m.event.value as JobLogEntry));
    },
    [id],
  );
  return { job, updates, logs, error: stream.error ?? history.error, connected: stream.connected };
}

export default function JobDetailPage() {
  const { id = "" } = useParams();
  const live = useLiveJob(id, true);
  const job = live.job;
  const [children, setChildren] = useState<Record<string, Job>>({});
  const onChild = useCallback((j: Job) => setChildren((c) => ({ ...c, [j.id]: j })), []);
  const [cancelOpen, setCancelOpen] = useState(false);
  const [cancelError, setCancelError] = useState<ApiError>();

  if (live.error && !job)
    return (
      <section>
        <PageHeader title="Job" />
        <ErrorBanner error={live.error.reason === "NOT_FOUND" ? "There is no such job (or it is not yours)." : live.error} />
        <Link to="/jobs">Back to the jobs</Link>
      </section>
    );
  if (!job) return <Loading what="the job" />;
  const isParent = job.childJobIds.length > 0;
  const completedTargets = isParent
    ? job.childJobIds.map((c) => children[c]).filter((c): c is Job => !!c && c.status === JobStatus.COMPLETED)
    : job.status === JobStatus.COMPLETED
      ? [job]
      : [];

  return (
    <section className="job-detail">
      <PageHeader title={job.name}>
        {isActive(job) && !job.cancelRequestedAt && (
          <button type="button" className="button-danger" onClick={() => setCancelOpen(true)}>
            Cancel job
          </button>
        )}
      </PageHeader>
      {cancelError && <ErrorBanner error={describe(cancelError)} />}
      <JobSummary job={job} connected={live.connected} />
      {job.status === JobStatus.FAILED && <FailedJob job={job} />}
      {isParent && <Children job={job} onChild={onChild} />}
      {completedTargets.length > 0 && <Results targets={completedTargets} multi={isParent} />}
      {job.inputSummary && <InputFindings job={job} />}
      <div className={isParent ? "" : "columns"}>
        <section className="card" aria-labelledby="history-h">
          <h2 id="history-h">Status history</h2>
          {live.updates.length === 0 ? (
            <Empty>No status change recorded yet.</Empty>
          ) : (
            <ol className="timeline">
              {live.updates.map((u) => (
                <li key={String(u.id)}>
                  <StatusBadge status={u.status} /> <span className="muted small">{date(u.createdAt)}</span>
                  <div>{u.message}</div>
                </li>
              ))}
            </ol>
          )}
        </section>
        {!isParent && (
          <section className="card" aria-labelledby="logs-h">
            <h2 id="logs-h">Log</h2>
            {live.logs.length === 0 ? (
              <Empty>Nothing logged yet.</Empty>
            ) : (
              <ol className="log" data-testid="job-log">
                {live.logs.map((l) => (
                  <li key={String(l.id)} className={`log-${enumName(JobLogType, l.type)}`}>
                    <span className="muted small">{date(l.time)}</span> {l.stepName && <strong>{l.stepName}: </strong>}
                    {l.message}
                  </li>
                ))}
              </ol>
            )}
          </section>
        )}
      </div>
      <Dialog
        open={cancelOpen}
        title="Cancel this job?"
        role="alertdialog"
        onClose={() => setCancelOpen(false)}
        actions={
          <>
            <button type="button" className="button-secondary" onClick={() => setCancelOpen(false)}>
              Keep it running
            </button>
            <button
              type="button"
              className="button-danger"
              onClick={async () => {
                setCancelOpen(false);
                try {
                  await api.jobs.cancelJob({ id: job.id });
                } catch (e) {
                  setCancelError(apiError(e));
                }
              }}
            >
              Cancel the job
            </button>
          </>
        }
      >
        <p>The job is cancelled on the imputation server too{isParent ? ", with every unfinished target" : ""}.</p>
      </Dialog>
    </section>
  );
}

function remoteStep(job: Job): string {
  const r = job.remoteState?.state;
  if (r?.case === "michigan") {
    const m = r.value;
    if (m.positionInQueue > 0) return `${m.stateName}, position ${m.positionInQueue} in the server's queue`;
    return [m.stateName, m.currentStep].filter(Boolean).join(": ");
  }
  if (r?.case === "wes") return r.value.state;
  return "";
}

function JobSummary({ job, connected }: { job: Job; connected: boolean }) {
  const step = remoteStep(job);
  return (
    <div className="card job-summary" aria-live="polite">
      <div className="job-status-line">
        <StatusBadge status={job.status} />
        <ProgressBar value={job.progressPercentage} label="Job progress" />
        {isActive(job) && <span className={`live ${connected ? "live-on" : ""}`}>{connected ? "live" : "reconnecting…"}</span>}
      </div>
      {step && (
        <p className="remote-step" data-testid="remote-step">
          Server: {step}
        </p>
      )}
      {job.cancelRequestedAt && isActive(job) && <p className="muted">Cancelling: waiting for the server to confirm.</p>}
      <dl className="facts facts-inline">
        {job.serviceId > 0n && (
          <>
            <dt>Target</dt>
            <dd>
              {job.serviceName} / {job.referencePanelName}
            </dd>
          </>
        )}
        {job.build !== GenomeBuild.UNSPECIFIED && (
          <>
            <dt>Build</dt>
            <dd>{enumName(GenomeBuild, job.build)}</dd>
          </>
        )}
        {job.phasing !== Phasing.UNSPECIFIED && (
          <>
            <dt>Phasing</dt>
            <dd>{enumLabel(Phasing, job.phasing)}</dd>
          </>
        )}
        {job.population && (
          <>
            <dt>Population</dt>
            <dd>{job.population}</dd>
          </>
        )}
        <dt>Mode</dt>
        <dd>{job.mode === JobMode.QC_ONLY ? "QC only" : "imputation"}</dd>
        {job.r2Filter > 0 && (
          <>
            <dt>r² filter</dt>
            <dd>{job.r2Filter}</dd>
          </>
        )}
        <dt>Created</dt>
        <dd>{date(job.createdAt)}</dd>
        {job.completedAt && (
          <>
            <dt>Finished</dt>
            <dd>{date(job.completedAt)}</dd>
          </>
        )}
        {job.externalJobId && (
          <>
            <dt>Server's id</dt>
            <dd>
              <code>{job.externalJobId}</code>
            </dd>
          </>
        )}
        <dt>Job id</dt>
        <dd>
          <code>{job.id}</code>
        </dd>
      </dl>
    </div>
  );
}

function FailedJob({ job }: { job: Job }) {
  const failure = jobFailure(job);
  const navigate = useNavigate();
  const [open, setOpen] = useState(true);
  const action =
    failure.kind === "update_credentials" ? (
      <button type="button" onClick={() => navigate(failure.path)}>
        Update credentials
      </button>
    ) : failure.kind === "fix_input" || failure.kind === "choose_target" ? (
      <button type="button" onClick={() => navigate("/jobs/new")}>
        {failure.kind === "fix_input" ? "Fix the input and submit again" : "Choose another target"}
      </button>
    ) : failure.kind === "retry_later" ? (
      <button type="button" onClick={() => navigate("/jobs/new")}>
        Submit again later
      </button>
    ) : null;
  const advice = {
    update_credentials: "The imputation server refused your API token. Update it in your credential settings, then submit again.",
    fix_input: "The server rejected the input file. Fix the file, then submit again.",
    choose_target: "The panel, build or population no longer fit the server: choose another target.",
    retry_later: "The server stayed unavailable through every retry. Submit again later.",
    contact_support: `Nothing you can fix: contact the hub's administrators quoting job id ${job.id}.`,
    none: "",
  }[failure.kind];
  return (
    <>
      <div className="banner banner-error job-failed" role="alert">
        <div>
          <strong>Job failed:</strong> {capitalise(failure.message)}
          {advice && <div>{advice}</div>}
        </div>
        {action}
      </div>
      <Dialog open={open} title="Job failed" role="alertdialog" onClose={() => setOpen(false)} actions={<>
        <button type="button" className="button-secondary" onClick={() => setOpen(false)}>Close</button>
        {action}
      </>}>
        <p>{capitalise(failure.message)}</p>
        {advice && <p>{advice}</p>}
      </Dialog>
    </>
  );
}

function ChildRow({ id, onChild }: { id: string; onChild: (j: Job) => void }) {
  const live = useLiveJob(id, false);
  useEffect(() => {
    if (live.job) onChild(live.job);
  }, [live.job, onChild]);
  const j = live.job;
  if (!j)
    return (
      <tr>
        <td colSpan={4}>{live.error ? describe(live.error) : "Loading…"}</td>
      </tr>
    );
  return (
    <tr data-testid="child-job">
      <td data-label="Target">
        <Link to={`/jobs/${j.id}`}>
          {j.serviceName} / {j.referencePanelName}
        </Link>
      </td>
      <td data-label="Status">
        <StatusBadge status={j.status} />
      </td>
      <td data-label="Progress">
        <ProgressBar value={j.progressPercentage} label={`Progress of ${j.serviceName} / ${j.referencePanelName}`} />
      </td>
      <td data-label="Server">{j.status === JobStatus.FAILED ? j.errorMessage : remoteStep(j)}</td>
    </tr>
  );
}

function Children({ job, onChild }: { job: Job; onChild: (j: Job) => void }) {
  return (
    <section className="card" aria-labelledby="children-h">
      <h2 id="children-h">Targets</h2>
      <div className="table-wrap">
        <table className="table stack-table">
          <thead>
            <tr>
              <th scope="col">Target</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Server</th>
            </tr>
          </thead>
          <tbody>
            {job.childJobIds.map((c) => (
              <ChildRow key={c} id={c} onChild={onChild} />
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

async function download(fileId: string, name: string) {
  const link = await api.files.createDownloadLink({ id: fileId, ttlSeconds: 300n });
  const a = document.createElement("a");
  a.href = `${gatewayUrl}${link.url}`;
  a.download = name;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

function Results({ targets, multi }: { targets: Job[]; multi: boolean }) {
  const ids = targets.map((t) => t.id).join(",");
  const results = useQuery(
    (signal) => Promise.all(targets.map((t) => api.jobs.listJobResults({ jobId: t.id }, { signal }))),
    [ids],
  );
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState("");
  const series: QcSeries[] = useMemo(
    () =>
      (results.data ?? []).flatMap((r: ListJobResultsResponse, i) =>
        r.qcSummary && r.qcSummary.chromosomes.length > 0
          ? [{ label: `${targets[i].serviceName} / ${targets[i].referencePanelName}`, qc: r.qcSummary }]
          : [],
      ),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [results.data],
  );
  const all = (results.data ?? []).flatMap((r, i) => r.files.map((f) => ({ f, target: targets[i] })));
  async function get(fileId: string, name: string) {
    setBusy(fileId);
    setError(undefined);
    try {
      await download(fileId, name);
    } catch (e) {
      setError(apiError(e));
    } finally {
      setBusy("");
    }
  }
  return (
    <>
      <section className="card" aria-labelledby="qc-h">
        <h2 id="qc-h">Quality of the imputation</h2>
        {multi && series.length > 1 && (
          <p className="muted small">Each target's panel on the same chart: which panel imputed this study best.</p>
        )}
        {results.loading && <Loading what="the QC summary" />}
        {results.error && <ErrorBanner error={results.error} retry={results.reload} />}
        {!results.loading && series.length === 0 && !results.error && <Empty>No QC summary for this job.</Empty>}
        {series.length > 0 && (
          <Suspense fallback={<Loading what="the chart" />}>
            <QcChart series={series} />
          </Suspense>
        )}
      </section>
      <section className="card" aria-labelledby="results-h">
        <h2 id="results-h">Results</h2>
        {error && <ErrorBanner error={describe(error)} />}
        {results.data && all.length === 0 && <Empty>No result files.</Empty>}
        {all.length > 0 && (
          <>
            <div className="table-wrap">
              <table className="table results-table stack-table">
                <thead>
                  <tr>
                    {multi && <th scope="col">Target</th>}
                    <th scope="col">File</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Size</th>
                    <th scope="col">SHA-256</th>
                    <th scope="col">
                      <span className="visually-hidden">Download</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {all.map(({ f, target }) => (
                    <tr key={f.fileId} data-testid="result-file">
                      {multi && <td data-label="Target">{target.referencePanelName}</td>}
                      <td data-label="File">{f.name}</td>
                      <td data-label="Kind">{enumLabel(JobResultKind, f.kind)}</td>
                      <td data-label="Size">{bytes(f.sizeBytes)}</td>
                      <td data-label="SHA-256">
                        <code className="sha" data-testid="sha256">
                          {f.sha256}
                        </code>
                      </td>
                      <td>
                        <button type="button" className="button-link" disabled={busy === f.fileId} onClick={() => get(f.fileId, f.name)}>
                          Download<span className="visually-hidden"> {f.name}</span>
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <button
              type="button"
              className="button-secondary"
              disabled={busy !== ""}
              onClick={async () => {
                for (const { f } of all) await get(f.fileId, f.name);
              }}
            >
              Download all ({all.length} files, {bytes(all.reduce((n, { f }) => n + Number(f.sizeBytes), 0))})
            </button>
          </>
        )}
      </section>
    </>
  );
}

function InputFindings({ job }: { job: Job }) {
  const s = job.inputSummary!;
  return (
    <section className="card" aria-labelledby="input-h">
      <h2 id="input-h">Input pre-flight check</h2>
      <dl className="facts facts-inline">
        <dt>Samples</dt>
        <dd>{s.sampleCount}</dd>
        <dt>Variants</dt>
        <dd>{Number(s.variantCount).toLocaleString()}</dd>
        <dt>Chromosomes</dt>
        <dd>{s.chromosomes.map((c) => `${c.chromosome} (${Number(c.variantCount).toLocaleString()})`).join(", ") || "—"}</dd>
        <dt>Phased</dt>
        <dd>{s.isPhased ? "yes" : "no"}</dd>
      </dl>
      {s.warnings.length > 0 ? (
        <ul className="findings">
          {s.warnings.map((w, i) => (
            <li key={i} className="finding-warning">
              <code>{enumName(InputIssueCode, w.code).toUpperCase()}</code> {w.message}
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted small">No finding.</p>
      )}
    </section>
  );
}
