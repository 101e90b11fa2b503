// New job: drag-and-drop input checked in the browser by the worker's own
// pre-flight rules (WebAssembly), one or several (service, panel) targets,
// build, phasing, population, mode, r2 filter; "Check only" runs the
// hub's submit checks without creating anything; the upload shows bytes,
// speed and time left and can be cancelled.
import { useEffect, useMemo, useRef, useState, type DragEvent, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { apiError, uploadFile, UploadCancelled, type UploadProgress } from "@fip/client";
import { GenomeBuild, Phasing } from "@fip/client/gen/fip/common/v1/genome_pb";
import { JobMode, type Job } from "@fip/client/gen/fip/jobs/v1/job_pb";
import { api, gatewayUrl, session } from "../app/api";
import { actionFor, describe, type ErrorAction } from "../app/actions";
import { serviceName, useCatalog, type Catalog } from "../app/catalog";
import { newTarget, resetDraft, updateDraft, useDraft, type JobDraft, type TargetDraft } from "../app/draft";
import { useQuery } from "../app/hooks";
import { bytes, duration, enumLabel } from "../app/format";
import { usePreflight, type PreflightState } from "../preflight/usePreflight";
import { Dialog, ErrorBanner, Field, Loading, Notice, PageHeader, ProgressBar, SelectField, TextField } from "../components/ui";

export type FormErrors = Record<string, string>;

/** Client-side checks before anything is uploaded. */
export function validateDraft(d: JobDraft): FormErrors {
  const e: FormErrors = {};
  if (!d.name.trim()) e.name = "Give the job a name";
  else if (d.name.length > 200) e.name = "At most 200 characters";
  if (!d.file) e.input_file_id = "Choose a VCF file";
  if (!d.build) e.build = "Choose the build of your input";
  d.targets.forEach((t, i) => {
    if (!t.serviceId) e[`targets[${i}].service_id`] = "Choose a service";
    else if (!t.panelId) e[`targets[${i}].reference_panel_id`] = "Choose a reference panel";
  });
  const seen = new Set<string>();
  d.targets.forEach((t, i) => {
    const k = `${t.serviceId}/${t.panelId}`;
    if (t.panelId && seen.has(k)) e[`targets[${i}].reference_panel_id`] = "This target is chosen twice";
    seen.add(k);
  });
  if (d.r2Filter && !(Number(d.r2Filter) >= 0 && Number(d.r2Filter) <= 1)) e.r2_filter = "Between 0 and 1";
  return e;
}

/** Maps the hub's field paths (single and multi-service requests) onto the form's. */
export function formErrorsFrom(fields: Record<string, string>, multi: boolean): FormErrors {
  const out: FormErrors = {};
  for (const [path, text] of Object.entries(fields)) {
    if (!multi && ["service_id", "reference_panel_id", "population"].includes(path)) out[`targets[0].${path}`] = text;
    else if (!multi && ["build", "phasing"].includes(path)) out[path] = text;
    else {
      const m = /^targets\[(\d+)\]\.(build|phasing)$/.exec(path);
      out[m ? m[2] : path] = text;
    }
  }
  return out;
}

interface Upload {
  progress: UploadProgress;
  controller: AbortController;
}

export function NewJobPage() {
  const draft = useDraft();
  const navigate = useNavigate();
  const { catalog, error: catalogError, reload } = useCatalog();
  const creds = useQuery((signal) => api.credentials.listServiceCredentials({}, { signal }), []);
  const [errors, setErrors] = useState<FormErrors>({});
  const [banner, setBanner] = useState<string>();
  const [setup, setSetup] = useState<Extract<ErrorAction, { kind: "setup_required" }>>();
  const [inputProblems, setInputProblems] = useState<{ code: string; description: string }[]>();
  const [checked, setChecked] = useState<Job[]>();
  const [upload, setUpload] = useState<Upload>();
  const [busy, setBusy] = useState<"" | "check" | "submit">("");
  const preflight = usePreflight(draft.file, Number(draft.build) || 0);
  const blocking = preflight.state === "done" && "summary" in preflight.outcome && !preflight.outcome.summary.acceptable;
  const notVcf = preflight.state === "done" && "error" in preflight.outcome && preflight.outcome.error.kind === "not_vcf";

  const chosenServices = draft.targets
    .map((t) => catalog?.services.find((s) => String(s.id) === t.serviceId))
    .filter((s): s is NonNullable<typeof s> => !!s);
  const builds = useMemo(() => {
    const all = [GenomeBuild.HG19, GenomeBuild.HG38];
    return chosenServices.length === 0
      ? all
      : all.filter((b) => chosenServices.every((s) => s.supportedBuilds.length === 0 || s.supportedBuilds.includes(b)));
  }, [chosenServices]);
  const phasings = useMemo(() => {
    const all = [Phasing.EAGLE, Phasing.BEAGLE, Phasing.NO_PHASING];
    return all.filter((p) => chosenServices.every((s) => s.supportedPhasing.length === 0 || s.supportedPhasing.includes(p)));
  }, [chosenServices]);
  const r2Values = useMemo(() => {
    const values = new Set<number>([0]);
    for (const s of chosenServices) {
      if (s.apiSettings.case === "michigan") for (const v of s.apiSettings.value.r2FilterValues) values.add(v);
    }
    return [...values].sort((a, b) => a - b);
  }, [chosenServices]);

  const setTarget = (key: number, patch: Partial<TargetDraft>) =>
    updateDraft((d) => ({ targets: d.targets.map((t) => (t.key === key ? { ...t, ...patch } : t)) }));

  function chooseFile(file: File | undefined) {
    setInputProblems(undefined);
    setChecked(undefined);
    updateDraft((d) => ({ file, name: d.name || (file ? file.name.replace(/\.vcf(\.gz)?$/i, "") : "") }));
  }

  async function run(validateOnly: boolean, e?: FormEvent) {
    e?.preventDefault();
    const d = draft;
    const found = validateDraft(d);
    setErrors(found);
    setBanner(undefined);
    setChecked(undefined);
    setInputProblems(undefined);
    if (Object.keys(found).length > 0) {
      setBanner("Some fields need your attention.");
      return;
    }
    setBusy(validateOnly ? "check" : "submit");
    try {
      let stored = d.uploaded && d.uploaded.file === d.file ? d.uploaded.stored : undefined;
      if (!stored) {
        const controller = new AbortController();
        setUpload({ controller, progress: { loaded: 0, total: d.file!.size, bytesPerSecond: 0, secondsLeft: Infinity } });
        stored = await uploadFile({
          baseUrl: gatewayUrl,
          file: d.file!,
          name: d.file!.name,
          contentType: d.file!.name.endsWith(".gz") ? "application/gzip" : "text/plain",
          token: () => session.token(),
          signal: controller.signal,
          onProgress: (progress) => setUpload({ controller, progress }),
        });
        updateDraft({ uploaded: { file: d.file!, stored } });
        setUpload(undefined);
      }
      const build = Number(d.build) as GenomeBuild;
      const phasing = (Number(d.phasing) || Phasing.UNSPECIFIED) as Phasing;
      const mode = d.mode === "qc_only" ? JobMode.QC_ONLY : JobMode.IMPUTATION;
      const r2Filter = d.r2Filter ? Number(d.r2Filter) : undefined;
      let jobs: Job[];
      if (d.targets.length === 1) {
        const t = d.targets[0];
        const res = await api.jobs.submitJob({
          name: d.name.trim(),
          serviceId: BigInt(t.serviceId),
          referencePanelId: BigInt(t.panelId),
          build,
          phasing,
          population: t.population,
          inputFileId: stored.id,
          r2Filter,
          mode,
          validateOnly,
          requestId: validateOnly ? "" : d.requestId,
        });
        jobs = [res.job!];
      } else {
        const res = await api.jobs.submitMultiServiceJob({
          name: d.name.trim(),
          inputFileId: stored.id,
          targets: d.targets.map((t) => ({
            serviceId: BigInt(t.serviceId),
            referencePanelId: BigInt(t.panelId),
            build,
            phasing,
            population: t.population,
          })),
          mode,
          r2Filter,
          validateOnly,
          requestId: validateOnly ? "" : d.requestId,
        });
        jobs = [res.parentJob!, ...res.childJobs];
      }
      if (validateOnly) setChecked(jobs);
      else {
        resetDraft();
        navigate(`/jobs/${jobs[0].id}`);
      }
    } catch (err) {
      setUpload(undefined);
      if (err instanceof UploadCancelled) {
        setBanner("The upload was cancelled: nothing was stored.");
        return;
      }
      const error = apiError(err);
      // Nothing was created: the next attempt is a new submission.
      updateDraft({ requestId: crypto.randomUUID() });
      const action = actionFor(error);
      switch (action.kind) {
        case "setup_required":
          setSetup(action);
          break;
        case "fix_fields":
          setErrors(formErrorsFrom(action.fields, d.targets.length > 1));
          setBanner("The hub refused some fields: see below.");
          break;
        case "choose_target":
          setErrors(formErrorsFrom({ [action.field]: error.message }, d.targets.length > 1));
          setBanner(describe(error));
          break;
        case "fix_input":
          setInputProblems(action.problems);
          if (error.reason === "INPUT_INVALID" || error.reason === "INTEGRITY_CHECK_FAILED") updateDraft({ uploaded: undefined });
          break;
        default:
          setBanner(describe(error));
      }
    } finally {
      setBusy("");
    }
  }

  if (catalogError) return <ErrorBanner error={catalogError} retry={reload} />;
  if (!catalog) return <Loading what="the form" />;
  const hasCredential = (serviceId: string) =>
    creds.data?.credentials.some((c) => String(c.serviceId) === serviceId && c.isActive);

  return (
    <section>
      <PageHeader title="New job" />
      {banner && <ErrorBanner error={banner} />}
      <form onSubmit={(e) => run(false, e)} noValidate className="job-form">
        <div className="card">
          <h2>Input</h2>
          <TextField label="Job name" value={draft.name} onChange={(name) => updateDraft({ name })} error={errors.name} required />
          <DropZone file={draft.file} onFile={chooseFile} error={errors.input_file_id} />
          <div className="grid-2">
              <SelectField
                label="Genome build"
                value={draft.build}
                onChange={(build) => updateDraft({ build })}
                placeholder="Choose the input's build"
                options={builds.map((b) => ({ value: String(b), label: enumName(GenomeBuild, b) }))}
                error={errors.build}
              />
          </div>
          <PreflightPanel state={preflight} build={draft.build} />
          {inputProblems && (
            <div className="banner banner-error" role="alert">
              <strong>Fix the input</strong>
              <ul>
                {inputProblems.map((p, i) => (
                  <li key={i}>
                    <code>{p.code}</code> {p.description}
                  </li>
                ))}
              </ul>
            </div>
          )}
        </div>

        <div className="card">
          <h2>Targets</h2>
          <p className="muted small">
            Each target is one imputation server and reference panel. Several targets make a multi-service job:
            the results are compared side by side.
          </p>
          {draft.targets.map((t, i) => (
            <TargetRow
              key={t.key}
              index={i}
              target={t}
              catalog={catalog}
              build={Number(draft.build)}
              errors={errors}
              removable={draft.targets.length > 1}
              hasCredential={hasCredential}
              onChange={(patch) => setTarget(t.key, patch)}
              onRemove={() => updateDraft((d) => ({ targets: d.targets.filter((x) => x.key !== t.key) }))}
            />
          ))}
          <button
            type="button"
            className="button-secondary"
            disabled={draft.targets.length >= 10}
            onClick={() => updateDraft((d) => ({ targets: [...d.targets, newTarget()] }))}
          >
            Add target
          </button>
        </div>

        <div className="card">
          <h2>Options</h2>
          <div className="grid-2">
            <SelectField
              label="Phasing"
              value={draft.phasing}
              onChange={(phasing) => updateDraft({ phasing })}
              placeholder="The service's default (Eagle)"
              options={phasings.map((p) => ({ value: String(p), label: enumLabel(Phasing, p) }))}
              error={errors.phasing}
            />
            <SelectField
              label="r² filter"
              value={draft.r2Filter}
              onChange={(r2Filter) => updateDraft({ r2Filter })}
              placeholder="None (keep every imputed variant)"
              options={r2Values.filter((v) => v > 0).map((v) => ({ value: String(v), label: `remove r² < ${v}` }))}
              error={errors.r2_filter}
            />
            <fieldset className="radios">
              <legend>Mode</legend>
              <label>
                <input type="radio" name="mode" value="imputation" checked={draft.mode === "imputation"} onChange={() => updateDraft({ mode: "imputation" })} />
                Imputation (QC, phasing and imputation)
              </label>
              <label>
                <input type="radio" name="mode" value="qc_only" checked={draft.mode === "qc_only"} onChange={() => updateDraft({ mode: "qc_only" })} />
                Quality control only
              </label>
            </fieldset>
          </div>
        </div>

        {upload && <UploadPanel upload={upload} />}
        {checked && (
          <Notice kind="success">
            <strong>Everything checks out.</strong> Submitting would create{" "}
            {checked.length === 1 ? "one job" : `a parent job with ${checked.length - 1} target jobs`}:
            <ul>
              {(checked.length === 1 ? checked : checked.slice(1)).map((j, i) => (
                <li key={i}>
                  {j.serviceName || serviceName(catalog, j.serviceId)} / {j.referencePanelName}, {enumName(GenomeBuild, j.build)},{" "}
                  {enumLabel(Phasing, j.phasing)}
                  {j.population ? `, population ${j.population}` : ""}
                </li>
              ))}
            </ul>
          </Notice>
        )}
        {blocking && <ErrorBanner error="The input has problems the servers would refuse: fix the file first (see the findings above)." />}
        <div className="button-row sticky-actions">
          <button type="button" className="button-secondary" disabled={busy !== "" || blocking || notVcf} onClick={() => run(true)}>
            {busy === "check" ? "Checking…" : "Check only"}
          </button>
          <button type="submit" disabled={busy !== "" || blocking || notVcf}>
            {busy === "submit" ? "Submitting…" : "Submit job"}
          </button>
        </div>
      </form>
      <Dialog
        open={!!setup}
        title="Setup required"
        role="alertdialog"
        onClose={() => setSetup(undefined)}
        actions={
          <>
            <button type="button" className="button-secondary" onClick={() => setSetup(undefined)}>
              Cancel
            </button>
            <button
              type="button"
              onClick={() => {
                const path = setup!.settingsPath;
                setSetup(undefined);
                navigate(`${path}?return=${encodeURIComponent("/jobs/new")}`);
              }}
            >
              Configure credentials
            </button>
          </>
        }
      >
        {setup && (
          <p>
            You need to configure your{" "}
            {setup.serviceIds.map((id) => serviceName(catalog, id)).join(", ") || "imputation service"} API credentials
            before submitting jobs.
            {setup.inactive && " Your stored credential is paused."}
          </p>
        )}
      </Dialog>
    </section>
  );
}

function enumName(e: typeof GenomeBuild, v: number): string {
  return String(e[v] ?? v).toLowerCase();
}

function TargetRow(props: {
  index: number;
  target: TargetDraft;
  catalog: Catalog;
  build: number;
  errors: FormErrors;
  removable: boolean;
  hasCredential: (serviceId: string) => boolean | undefined;
  onChange: (patch: Partial<TargetDraft>) => void;
  onRemove: () => void;
}) {
  const { target: t, catalog, index: i } = props;
  const services = catalog.services.filter((s) => s.isActive);
  const panels = catalog.panels.filter(
    (p) => String(p.serviceId) === t.serviceId && p.isActive && (!props.build || p.build === props.build),
  );
  const panel = catalog.panels.find((p) => String(p.id) === t.panelId);
  const n = i + 1;
  return (
    <fieldset className="target">
      <legend>Target {n}</legend>
      <div className="grid-3">
        <SelectField
          label={`Service (target ${n})`}
          value={t.serviceId}
          onChange={(serviceId) => props.onChange({ serviceId, panelId: "", population: "" })}
          placeholder="Choose a service"
          options={services.map((s) => ({
            value: String(s.id),
            label: `${s.name}${props.hasCredential(String(s.id)) === false ? " (no token stored)" : ""}`,
          }))}
          error={props.errors[`targets[${i}].service_id`]}
        />
        <SelectField
          label={`Reference panel (target ${n})`}
          value={t.panelId}
          disabled={!t.serviceId}
          onChange={(panelId) => {
            const p = catalog.panels.find((x) => String(x.id) === panelId);
            props.onChange({ panelId, population: p?.defaultPopulation ?? "" });
          }}
          placeholder={t.serviceId && panels.length === 0 ? "No panel for this build" : "Choose a panel"}
          options={panels.map((p) => ({ value: String(p.id), label: `${p.name} (${String(GenomeBuild[p.build]).toLowerCase()})` }))}
          error={props.errors[`targets[${i}].reference_panel_id`]}
        />
        <SelectField
          label={`Population (target ${n})`}
          value={t.population}
          disabled={!panel || panel.populations.length === 0}
          onChange={(population) => props.onChange({ population })}
          placeholder={panel && panel.populations.length > 0 ? "The panel's default" : "Not applicable"}
          options={(panel?.populations ?? []).map((p) => ({ value: p.id, label: p.name || p.id }))}
          error={props.errors[`targets[${i}].population`]}
        />
      </div>
      {props.removable && (
        <button type="button" className="button-link" onClick={props.onRemove}>
          Remove target {n}
        </button>
      )}
    </fieldset>
  );
}

function DropZone(props: { file: File | undefined; onFile: (f: File | undefined) => void; error?: string }) {
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const f = e.dataTransfer.files[0];
    if (f) props.onFile(f);
  };
  return (
    <Field label="Input VCF (.vcf or .vcf.gz)" error={props.error} hint="Drop the file here, or choose it. It is checked in your browser before anything is uploaded.">
      {(id, describedBy) => (
        <div
          className={`dropzone${over ? " dropzone-over" : ""}`}
          onDragOver={(e) => {
            e.preventDefault();
            setOver(true);
          }}
          onDragLeave={() => setOver(false)}
          onDrop={onDrop}
        >
          <input
            ref={input}
            id={id}
            type="file"
            accept=".vcf,.gz,.bgz,application/gzip,text/plain"
            aria-describedby={describedBy}
            aria-invalid={props.error ? true : undefined}
            onChange={(e) => props.onFile(e.target.files?.[0])}
          />
          {props.file ? (
            <div className="dropzone-file">
              <strong>{props.file.name}</strong> · {bytes(props.file.size)}
            </div>
          ) : (
            <div className="muted">Drag and drop a VCF here</div>
          )}
        </div>
      )}
    </Field>
  );
}

export function PreflightPanel({ state, build }: { state: PreflightState; build: string }) {
  if (state.state === "idle")
    return build ? null : <p className="muted small">Choose the genome build to check the file.</p>;
  if (state.state === "running")
    return (
      <div className="preflight" aria-live="polite">
        <span>Checking the file in your browser…</span>
        <ProgressBar value={state.read} max={Math.max(1, state.total)} label="Pre-flight check progress" />
        <span className="muted small">
          {bytes(state.read)} of {bytes(state.total)}
        </span>
      </div>
    );
  const o = state.outcome;
  if ("error" in o)
    return (
      <div className={`banner ${o.error.kind === "crashed" ? "banner-warning" : "banner-error"}`} role="alert" data-testid="preflight">
        <strong>{o.error.kind === "not_vcf" ? "Not a VCF the servers accept" : "The file could not be checked here"}</strong>:{" "}
        {o.error.message}
        {o.error.kind === "crashed" && " The hub checks it again after the upload."}
      </div>
    );
  const s = o.summary;
  const speed = state.seconds > 0 ? `${bytes(state.bytes / state.seconds)}/s` : "";
  return (
    <div className="preflight" data-testid="preflight" aria-live="polite">
      <div className={`banner ${s.acceptable ? (s.warnings.length ? "banner-warning" : "banner-success") : "banner-error"}`} role="status">
        <strong>{s.acceptable ? "The file passes the pre-flight check" : "The servers would refuse this file"}</strong>
        <span className="muted small">
          {" "}
          (checked in {state.seconds.toFixed(1)} s{speed ? `, ${speed}` : ""}: the same rules the hub's worker applies)
        </span>
      </div>
      <dl className="facts facts-inline">
        <dt>Samples</dt>
        <dd>{s.sample_count}</dd>
        <dt>Variants</dt>
        <dd>{s.variant_count.toLocaleString()}</dd>
        <dt>Chromosomes</dt>
        <dd>{s.chromosomes.map((c) => c.chromosome).join(", ") || "—"}</dd>
        <dt>Phased</dt>
        <dd>{s.is_phased ? "yes" : s.phasing.toLowerCase()}</dd>
        <dt>Format</dt>
        <dd>{s.format.replace("VcfBgzf", "VCF, BGZF").replace("VcfGzip", "VCF, gzip")}</dd>
        {s.detected_build && (
          <>
            <dt>Positions fit</dt>
            <dd>{s.detected_build}</dd>
          </>
        )}
      </dl>
      {(s.blocking.length > 0 || s.warnings.length > 0) && (
        <ul className="findings">
          {[...s.blocking, ...s.warnings].map((f, i) => (
            <li key={i} className={f.blocking ? "finding-blocking" : "finding-warning"}>
              <span className="badge">{f.blocking ? "problem" : "warning"}</span> <code>{f.code}</code> {f.message}
              {f.chromosome && ` (chromosome ${f.chromosome})`}
              {f.line > 0 && ` (line ${f.line})`}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function UploadPanel({ upload }: { upload: Upload }) {
  const p = upload.progress;
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.scrollIntoView({ block: "nearest" });
  }, []);
  return (
    <div ref={ref} className="card upload" aria-live="polite" data-testid="upload">
      <h2>Uploading</h2>
      <ProgressBar value={p.loaded} max={Math.max(1, p.total)} label="Upload progress" />
      <p>
        {bytes(p.loaded)} of {bytes(p.total)} · {p.bytesPerSecond > 0 ? `${bytes(p.bytesPerSecond)}/s` : "starting"} ·{" "}
        {p.loaded >= p.total ? "checking on the hub…" : `${duration(p.secondsLeft)} left`}
      </p>
      <button type="button" className="button-danger" onClick={() => upload.controller.abort()}>
        Cancel upload
      </button>
    </div>
  );
}
