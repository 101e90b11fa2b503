// Settings → Service credentials: per service, add or replace a token
// (with a label), delete it, Test connection with the server's answer, the
// masked tail, last verified and last used, and how to obtain a token.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { apiError, type ApiError } from "@fip/client";
import { ApiType, type ImputationService } from "@fip/client/gen/fip/registry/v1/imputation_service_pb";
import type { ServiceCredential } from "@fip/client/gen/fip/user/v1/credential_pb";
import type { VerifyServiceCredentialResponse } from "@fip/client/gen/fip/user/v1/credential_pb";
import { api } from "../app/api";
import { useCatalog } from "../app/catalog";
import { useQuery } from "../app/hooks";
import { describe } from "../app/actions";
import { date, relative } from "../app/format";
import { safeNext } from "./Auth";
import { Dialog, Empty, ErrorBanner, Loading, Notice, PageHeader, TextField } from "../components/ui";

export function CredentialsPage() {
  const { serviceId } = useParams();
  const [params] = useSearchParams();
  const back = params.get("return");
  const { catalog, error: catalogError, reload: reloadCatalog } = useCatalog();
  const creds = useQuery((signal) => api.credentials.listServiceCredentials({}, { signal }), []);
  const services = (catalog?.services ?? []).filter((s) => s.isActive || String(s.id) === serviceId);
  const focused = serviceId ? services.filter((s) => String(s.id) === serviceId) : [];
  const others = serviceId ? services.filter((s) => String(s.id) !== serviceId) : services;
  return (
    <section>
      <PageHeader title="Service credentials" />
      <p className="muted">
        Jobs are sent to each imputation server with your own API token for it. Tokens are stored encrypted and
        are never shown again: only their last characters.
      </p>
      {back && (
        <Notice kind="info">
          When your token is stored and tested, <Link to={safeNext(back)}>go back to the job form</Link> — it is
          still filled in.
        </Notice>
      )}
      {(catalogError || creds.error) && (
        <ErrorBanner error={(catalogError ?? creds.error)!} retry={() => (reloadCatalog(), creds.reload())} />
      )}
      {(!catalog || !creds.data) && !catalogError && !creds.error && <Loading what="your credentials" />}
      {catalog && creds.data && services.length === 0 && <Empty>No imputation service is available yet.</Empty>}
      {catalog && creds.data && (
        <div className="cards">
          {[...focused, ...others].map((s) => (
            <CredentialCard
              key={String(s.id)}
              service={s}
              focused={String(s.id) === serviceId}
              back={back}
              credential={creds.data!.credentials.find((c) => c.serviceId === s.id)}
              onChange={creds.reload}
            />
          ))}
        </div>
      )}
    </section>
  );
}

function howToObtain(s: ImputationService): string {
  if (s.apiType === ApiType.MICHIGAN)
    return `Sign in to ${s.name}, open your profile, and create an API token ("Create API Token"). Tokens of these servers last 30 days.`;
  return `Ask the administrators of ${s.name} for a bearer token for its GA4GH WES API.`;
}

export function CredentialCard(props: {
  service: ImputationService;
  credential: ServiceCredential | undefined;
  focused: boolean;
  back: string | null;
  onChange: () => void;
}) {
  const { service: s, credential: c } = props;
  const [token, setToken] = useState("");
  const [label, setLabel] = useState(c?.label ?? "");
  const [busy, setBusy] = useState<"" | "save" | "test" | "delete">("");
  const [error, setError] = useState<ApiError>();
  const [fieldError, setFieldError] = useState<string>();
  const [result, setResult] = useState<VerifyServiceCredentialResponse>();
  const [saved, setSaved] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    if (props.focused) {
      ref.current?.scrollIntoView({ block: "start" });
      ref.current?.querySelector<HTMLInputElement>("input[type=password]")?.focus();
    }
  }, [props.focused]);
  useEffect(() => setLabel(c?.label ?? ""), [c?.label]);
  const headingId = `cred-${s.id}`;

  async function save(e: FormEvent) {
    e.preventDefault();
    if (!token.trim()) {
      setFieldError("Paste the API token");
      return;
    }
    setBusy("save");
    setError(undefined);
    setFieldError(undefined);
    setResult(undefined);
    try {
      await api.credentials.putServiceCredential({ serviceId: s.id, apiToken: token.trim(), label });
      setToken("");
      setSaved(true);
      props.onChange();
    } catch (err) {
      const e2 = apiError(err);
      const v = e2.fieldViolations.find((f) => f.field === "api_token" || f.field === "label");
      if (v) setFieldError(v.description);
      else setError(e2);
    } finally {
      setBusy("");
    }
  }

  async function test() {
    setBusy("test");
    setError(undefined);
    setResult(undefined);
    try {
      setResult(await api.credentials.verifyServiceCredential({ serviceId: s.id }));
      props.onChange();
    } catch (err) {
      setError(apiError(err));
    } finally {
      setBusy("");
    }
  }

  async function remove() {
    setBusy("delete");
    setConfirmDelete(false);
    try {
      await api.credentials.deleteServiceCredential({ serviceId: s.id });
      setResult(undefined);
      setSaved(false);
      props.onChange();
    } catch (err) {
      setError(apiError(err));
    } finally {
      setBusy("");
    }
  }

  return (
    <article
      ref={ref}
      className={`card credential${props.focused ? " card-focused" : ""}`}
      aria-labelledby={headingId}
      data-service-id={String(s.id)}
    >
      <header className="card-header">
        <h2 id={headingId}>{s.name}</h2>
        <span className="muted small">{s.apiType === ApiType.MICHIGAN ? "Cloudgene API" : "GA4GH WES"}</span>
      </header>
      {c ? (
        <dl className="facts">
          <dt>Token</dt>
          <dd>
            <code>{c.maskedToken || "stored"}</code>
            {c.label && <span className="muted"> · {c.label}</span>}
          </dd>
          <dt>Status</dt>
          <dd>
            {c.isVerified ? (
              <span className="badge health-healthy">verified</span>
            ) : c.verificationError ? (
              <span className="badge health-unhealthy">refused</span>
            ) : (
              <span className="badge">not tested</span>
            )}
            {c.verificationError && <span className="muted"> {c.verificationError}</span>}
          </dd>
          <dt>Last verified</dt>
          <dd>{c.lastVerifiedAt ? `${date(c.lastVerifiedAt)} (${relative(c.lastVerifiedAt)})` : "never"}</dd>
          <dt>Last used</dt>
          <dd>{c.lastUsedAt ? date(c.lastUsedAt) : "never"}</dd>
          {c.expiresAt && (
            <>
              <dt>Expires</dt>
              <dd>{date(c.expiresAt)}</dd>
            </>
          )}
          {c.remoteUsername && (
            <>
              <dt>Account</dt>
              <dd>{c.remoteUsername}</dd>
            </>
          )}
        </dl>
      ) : (
        <p className="muted">No token stored for this service.</p>
      )}
      {saved && <Notice kind="success">Token saved. Use Test connection to check it with the server.</Notice>}
      {result && (
        <div className={`banner ${result.valid ? "banner-success" : "banner-error"}`} role="status" data-testid="verify-result">
          <strong>{result.valid ? "Connection works" : "The server refused the token"}</strong>: {result.message}
          {result.remoteUsername && <> (account {result.remoteUsername})</>}
          {result.responseTimeMs > 0 && <span className="muted"> · {result.responseTimeMs} ms</span>}
        </div>
      )}
      {error && <ErrorBanner error={describe(error)} />}
      <form onSubmit={save} className="credential-form" noValidate>
        <div>
          <TextField
            label={c ? `New API token for ${s.name}` : `API token for ${s.name}`}
            type="password"
            value={token}
            onChange={setToken}
            autoComplete="off"
            error={fieldError}
            name={`token-${s.id}`}
          />
          <TextField label="Label (optional)" value={label} onChange={setLabel} placeholder="e.g. My account" />
        </div>
        <div className="button-row">
          <button type="submit" disabled={busy !== ""}>
            {busy === "save" ? "Saving…" : c ? "Replace token" : "Save token"}
          </button>
          {c && (
            <>
              <button type="button" className="button-secondary" disabled={busy !== ""} onClick={test}>
                {busy === "test" ? "Testing…" : "Test connection"}
              </button>
              <button type="button" className="button-danger" disabled={busy !== ""} onClick={() => setConfirmDelete(true)}>
                Delete token
              </button>
            </>
          )}
          {props.back && props.focused && c && (
            <Link className="button button-secondary" to={safeNext(props.back)}>
              Back to the job form
            </Link>
          )}
        </div>
      </form>
      <details className="howto">
        <summary>How to obtain a token</summary>
        <p>{howToObtain(s)}</p>
        {s.authInstructionsUrl && (
          <p>
            <a href={s.authInstructionsUrl} target="_blank" rel="noreferrer noopener">
              {s.name}: instructions
            </a>
          </p>
        )}
      </details>
      <Dialog
        open={confirmDelete}
        title={`Delete your ${s.name} token?`}
        onClose={() => setConfirmDelete(false)}
        role="alertdialog"
        actions={
          <>
            <button type="button" className="button-secondary" onClick={() => setConfirmDelete(false)}>
              Keep it
            </button>
            <button type="button" className="button-danger" onClick={remove}>
              Delete
            </button>
          </>
        }
      >
        <p>New jobs for {s.name} will need a token again. Jobs already running keep theirs.</p>
      </Dialog>
    </article>
  );
}
