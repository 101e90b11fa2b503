// The catalogue: every service with its health, location, API type and
// builds, and its reference panels. Catalogue managers add and edit
// services, sync panels from the server and check health now.
import { useState, type FormEvent } from "react";
import { apiError, type ApiError } from "@fip/client";
import { GenomeBuild } from "@fip/client/gen/fip/common/v1/genome_pb";
import { HealthStatus as HealthStatusNames } from "@fip/client/gen/fip/common/v1/health_pb";
import type { ReferencePanel } from "@fip/client/gen/fip/registry/v1/reference_panel_pb";
import { ApiType, type ImputationService } from "@fip/client/gen/fip/registry/v1/imputation_service_pb";
import { api, useSession } from "../app/api";
import { useCatalog } from "../app/catalog";
import { describe } from "../app/actions";
import { date, enumName, relative } from "../app/format";
import { canManageCatalog } from "../components/Layout";
import { Dialog, Empty, ErrorBanner, HealthBadge, Loading, Notice, PageHeader, SelectField, TextField } from "../components/ui";

export default function ServicesPage() {
  const { user } = useSession();
  const manager = canManageCatalog(user?.roles);
  const { catalog, error, reload } = useCatalog();
  const [editing, setEditing] = useState<ImputationService | "new">();
  return (
    <section>
      <PageHeader title="Imputation services">
        {manager && (
          <button type="button" onClick={() => setEditing("new")}>
            Add service
          </button>
        )}
      </PageHeader>
      {error && <ErrorBanner error={error} retry={reload} />}
      {!catalog && !error && <Loading what="the catalogue" />}
      {catalog && catalog.services.length === 0 && <Empty>No imputation service is registered yet.</Empty>}
      <div className="cards">
        {catalog?.services
          .filter((s) => s.isActive || manager)
          .map((s) => (
            <ServiceCard
              key={String(s.id)}
              service={s}
              panels={catalog.panels.filter((p) => p.serviceId === s.id)}
              manager={manager}
              onEdit={() => setEditing(s)}
              onChanged={reload}
            />
          ))}
      </div>
      {editing && (
        <ServiceForm
          service={editing === "new" ? undefined : editing}
          onClose={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            reload();
          }}
        />
      )}
    </section>
  );
}

function ServiceCard(props: {
  service: ImputationService;
  panels: ReferencePanel[];
  manager: boolean;
  onEdit: () => void;
  onChanged: () => void;
}) {
  const s = props.service;
  const [busy, setBusy] = useState("");
  const [note, setNote] = useState<string>();
  const [error, setError] = useState<ApiError>();
  async function act(what: "health" | "sync") {
    setBusy(what);
    setError(undefined);
    setNote(undefined);
    try {
      if (what === "health") {
        const r = await api.registry.checkServiceHealth({ id: s.id });
        const c = r.healthCheck!;
        setNote(`Health: ${enumName(HealthStatusNames, c.status)}${c.responseTimeMs ? ` in ${c.responseTimeMs} ms` : ""}${c.error ? ` (${c.error})` : ""}.`);
      } else {
        const r = await api.registry.syncReferencePanels({ id: s.id });
        setNote(`Panels synced: ${r.added.length} added, ${r.updated.length} updated, ${r.deactivated.length} deactivated, ${r.unchangedCount} unchanged.`);
      }
      props.onChanged();
    } catch (e) {
      setError(apiError(e));
    } finally {
      setBusy("");
    }
  }
  return (
    <article className="card service" id={`service-${s.id}`} aria-labelledby={`svc-${s.id}`}>
      <header className="card-header">
        <h2 id={`svc-${s.id}`}>{s.name}</h2>
        <HealthBadge status={s.healthStatus} />
      </header>
      {!s.isActive && <Notice kind="warning">Inactive: not offered for new jobs.</Notice>}
      {s.description && <p>{s.description}</p>}
      <dl className="facts">
        <dt>API</dt>
        <dd>{s.apiType === ApiType.MICHIGAN ? "Cloudgene (Michigan API v2)" : "GA4GH WES"}</dd>
        <dt>Location</dt>
        <dd>{[s.locationInstitution, s.locationCountry].filter(Boolean).join(", ") || "—"}</dd>
        <dt>Builds</dt>
        <dd>{s.supportedBuilds.map((b) => enumName(GenomeBuild, b)).join(", ") || "—"}</dd>
        <dt>Health</dt>
        <dd>
          {s.isAvailable ? "available" : "unavailable"}
          {s.responseTimeMs > 0 && ` · ${s.responseTimeMs} ms`} · last check {relative(s.lastHealthCheckAt)}
          {s.lastHealthCheckAt && <span className="muted small"> ({date(s.lastHealthCheckAt)})</span>}
        </dd>
        {s.healthError && (
          <>
            <dt>Error</dt>
            <dd className="error-text">{s.healthError}</dd>
          </>
        )}
        <dt>Address</dt>
        <dd>
          <code className="wrap">{s.baseUrl}</code>
        </dd>
      </dl>
      <details className="panels">
        <summary>
          Reference panels ({props.panels.filter((p) => p.isActive).length})
        </summary>
        {props.panels.length === 0 ? (
          <Empty>No panel registered.</Empty>
        ) : (
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Panel</th>
                  <th scope="col">Build</th>
                  <th scope="col">Populations</th>
                  <th scope="col">Samples</th>
                </tr>
              </thead>
              <tbody>
                {props.panels.map((p) => (
                  <tr key={String(p.id)} className={p.isActive ? "" : "inactive"}>
                    <td data-label="Panel">
                      {p.name}
                      {!p.isActive && <span className="muted small"> (inactive)</span>}
                    </td>
                    <td data-label="Build">{enumName(GenomeBuild, p.build)}</td>
                    <td data-label="Populations">{p.populations.map((x) => x.name || x.id).join(", ") || "—"}</td>
                    <td data-label="Samples">{p.sampleCount ? Number(p.sampleCount).toLocaleString() : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </details>
      {note && <Notice kind="info">{note}</Notice>}
      {error && <ErrorBanner error={describe(error)} />}
      {props.manager && (
        <div className="button-row">
          <button type="button" className="button-secondary" disabled={busy !== ""} onClick={() => act("health")}>
            {busy === "health" ? "Checking…" : "Check health"}
            <span className="visually-hidden"> of {s.name}</span>
          </button>
          {s.apiType === ApiType.MICHIGAN && (
            <button type="button" className="button-secondary" disabled={busy !== ""} onClick={() => act("sync")}>
              {busy === "sync" ? "Syncing…" : "Sync panels"}
              <span className="visually-hidden"> of {s.name}</span>
            </button>
          )}
          <button type="button" className="button-secondary" onClick={props.onEdit}>
            Edit<span className="visually-hidden"> {s.name}</span>
          </button>
        </div>
      )}
    </article>
  );
}

function ServiceForm(props: { service?: ImputationService; onClose: () => void; onSaved: () => void }) {
  const s = props.service;
  const [v, setV] = useState({
    name: s?.name ?? "",
    slug: s?.slug ?? "",
    apiType: String(s?.apiType ?? ApiType.MICHIGAN),
    baseUrl: s?.baseUrl ?? "",
    description: s?.description ?? "",
    country: s?.locationCountry ?? "",
    institution: s?.locationInstitution ?? "",
    hg19: s ? s.supportedBuilds.includes(GenomeBuild.HG19) : true,
    hg38: s ? s.supportedBuilds.includes(GenomeBuild.HG38) : true,
    active: s?.isActive ?? true,
    instructions: s?.authInstructionsUrl ?? "",
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<ApiError>();
  const set = (k: keyof typeof v) => (value: string | boolean) => setV((o) => ({ ...o, [k]: value }));
  async function save(e: FormEvent) {
    e.preventDefault();
    const found: Record<string, string> = {};
    if (!v.name.trim()) found.name = "Required";
    if (!/^[a-z0-9-]+$/.test(v.slug)) found.slug = "Lowercase letters, digits and -";
    if (!/^https?:\/\//.test(v.baseUrl)) found.base_url = "An http(s) URL";
    if (!v.hg19 && !v.hg38) found.supported_builds = "At least one build";
    setErrors(found);
    if (Object.keys(found).length) return;
    const service = {
      name: v.name.trim(),
      slug: v.slug,
      apiType: Number(v.apiType) as ApiType,
      baseUrl: v.baseUrl.trim(),
      description: v.description,
      locationCountry: v.country,
      locationInstitution: v.institution,
      supportedBuilds: [v.hg19 && GenomeBuild.HG19, v.hg38 && GenomeBuild.HG38].filter((b): b is GenomeBuild => !!b),
      isActive: v.active,
      authInstructionsUrl: v.instructions,
    };
    try {
      if (s) {
        await api.registry.updateService({
          id: s.id,
          service,
          updateMask: {
            paths: ["name", "base_url", "description", "location_country", "location_institution", "supported_builds", "is_active", "auth_instructions_url"],
          },
        });
      } else {
        await api.registry.createService({ service });
      }
      props.onSaved();
    } catch (err) {
      const ae = apiError(err);
      if (ae.fieldViolations.length) {
        const f: Record<string, string> = {};
        for (const x of ae.fieldViolations) f[x.field.replace(/^service\./, "")] = x.description;
        setErrors(f);
      } else setError(ae);
    }
  }
  return (
    <Dialog
      open
      title={s ? `Edit ${s.name}` : "Add an imputation service"}
      onClose={props.onClose}
      actions={
        <>
          <button type="button" className="button-secondary" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" form="service-form">
            Save
          </button>
        </>
      }
    >
      <form id="service-form" onSubmit={save} noValidate>
        {error && <ErrorBanner error={describe(error)} />}
        <TextField label="Name" value={v.name} onChange={set("name")} error={errors.name} />
        <TextField label="Slug" value={v.slug} onChange={set("slug")} error={errors.slug} hint={s ? "Cannot be changed" : undefined} />
        <SelectField
          label="API type"
          value={v.apiType}
          onChange={set("apiType")}
          disabled={!!s}
          options={[
            { value: String(ApiType.MICHIGAN), label: "Cloudgene (Michigan API v2)" },
            { value: String(ApiType.GA4GH_WES), label: "GA4GH WES" },
          ]}
        />
        <TextField label="Base URL" value={v.baseUrl} onChange={set("baseUrl")} error={errors.base_url} />
        <TextField label="Description" value={v.description} onChange={set("description")} />
        <div className="grid-2">
          <TextField label="Country" value={v.country} onChange={set("country")} />
          <TextField label="Institution" value={v.institution} onChange={set("institution")} />
        </div>
        <TextField label="Token instructions URL" value={v.instructions} onChange={set("instructions")} />
        <fieldset className="checks">
          <legend>Builds</legend>
          <label>
            <input type="checkbox" checked={v.hg19} onChange={(e) => set("hg19")(e.target.checked)} /> hg19
          </label>
          <label>
            <input type="checkbox" checked={v.hg38} onChange={(e) => set("hg38")(e.target.checked)} /> hg38
          </label>
          {errors.supported_builds && <div className="field-error">{errors.supported_builds}</div>}
        </fieldset>
        <label className="check">
          <input type="checkbox" checked={v.active} onChange={(e) => set("active")(e.target.checked)} /> Active (offered for new jobs)
        </label>
        {v.apiType === String(ApiType.GA4GH_WES) && !s && (
          <p className="muted small">A WES node also needs its workflow settings: see the README's “Registering a WES node”.</p>
        )}
      </form>
    </Dialog>
  );
}
