// Small building blocks: labelled fields, states (loading, empty, error),
// status badges, progress bars and a modal dialog.
import { useEffect, useId, useRef, type ReactNode } from "react";
import type { ApiError } from "@fip/client";
import { JobStatus } from "@fip/client/gen/fip/jobs/v1/job_pb";
import { HealthStatus } from "@fip/client/gen/fip/common/v1/health_pb";
import { describe } from "../app/actions";
import { enumLabel } from "../app/format";

export function Field(props: {
  label: string;
  error?: string;
  hint?: ReactNode;
  children: (id: string, describedBy: string | undefined) => ReactNode;
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy =
    [props.hint ? hintId : "", props.error ? errorId : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className={`field${props.error ? " field-invalid" : ""}`}>
      <label htmlFor={id}>{props.label}</label>
      {props.children(id, describedBy)}
      {props.hint && (
        <div className="hint" id={hintId}>
          {props.hint}
        </div>
      )}
      {props.error && (
        <div className="field-error" id={errorId}>
          {props.error}
        </div>
      )}
    </div>
  );
}

export function TextField(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  type?: string;
  error?: string;
  hint?: ReactNode;
  required?: boolean;
  autoComplete?: string;
  name?: string;
  placeholder?: string;
}) {
  return (
    <Field label={props.label} error={props.error} hint={props.hint}>
      {(id, describedBy) => (
        <input
          id={id}
          name={props.name}
          type={props.type ?? "text"}
          value={props.value}
          required={props.required}
          autoComplete={props.autoComplete}
          placeholder={props.placeholder}
          aria-invalid={props.error ? true : undefined}
          aria-describedby={describedBy}
          onChange={(e) => props.onChange(e.target.value)}
        />
      )}
    </Field>
  );
}

export function SelectField(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: { value: string; label: string }[];
  error?: string;
  hint?: ReactNode;
  placeholder?: string;
  disabled?: boolean;
}) {
  return (
    <Field label={props.label} error={props.error} hint={props.hint}>
      {(id, describedBy) => (
        <select
          id={id}
          value={props.value}
          disabled={props.disabled}
          aria-invalid={props.error ? true : undefined}
          aria-describedby={describedBy}
          onChange={(e) => props.onChange(e.target.value)}
        >
          {props.placeholder !== undefined && <option value="">{props.placeholder}</option>}
          {props.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

export function ErrorBanner({ error, retry }: { error: ApiError | string; retry?: () => void }) {
  return (
    <div className="banner banner-error" role="alert">
      <span>{typeof error === "string" ? error : describe(error)}</span>
      {retry && (
        <button type="button" className="button-secondary" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Notice({ kind, children }: { kind: "info" | "success" | "warning"; children: ReactNode }) {
  return (
    <div className={`banner banner-${kind}`} role="status">
      {children}
    </div>
  );
}

export function StatusBadge({ status }: { status: JobStatus }) {
  const name = enumLabel(JobStatus, status);
  return <span className={`badge badge-${name}`}>{name}</span>;
}

export function HealthBadge({ status }: { status: HealthStatus }) {
  const name = status === HealthStatus.UNSPECIFIED ? "unknown" : enumLabel(HealthStatus, status);
  return <span className={`badge health-${name}`}>{name}</span>;
}

export function ProgressBar(props: { value: number; max?: number; label: string }) {
  const max = props.max ?? 100;
  return (
    <div className="progress">
      <progress value={props.value} max={max} aria-label={props.label} />
      <span className="progress-text">{Math.round((props.value / max) * 100)} %</span>
    </div>
  );
}

/** A modal dialog (native <dialog>: focus stays inside, Escape closes). */
export function Dialog(props: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
  actions: ReactNode;
  role?: "dialog" | "alertdialog";
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) {
      if (typeof d.showModal === "function") d.showModal();
      else d.setAttribute("open", "");
    } else if (!props.open && d.open) {
      if (typeof d.close === "function") d.close();
      else d.removeAttribute("open");
    }
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      className="dialog"
      role={props.role}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
    >
      {props.open && (
        <>
          <h2 id={titleId}>{props.title}</h2>
          <div className="dialog-body">{props.children}</div>
          <div className="dialog-actions">{props.actions}</div>
        </>
      )}
    </dialog>
  );
}

/** A page's heading and intro. */
export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Federated Imputation Platform`;
  }, [title]);
  return (
    <header className="page-header">
      <h1>{title}</h1>
      {children && <div className="page-actions">{children}</div>}
    </header>
  );
}
