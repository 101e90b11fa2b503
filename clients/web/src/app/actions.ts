// What the UI does about an error: decided by the ErrorInfo reason (and its
// metadata), never by the message text. Also what a failed job asks for.
import type { ApiError } from "@fip/client";
import { JobErrorAction, type Job } from "@fip/client/gen/fip/jobs/v1/job_pb";

export type ErrorAction =
  | { kind: "setup_required"; serviceIds: bigint[]; settingsPath: string; inactive: boolean }
  | { kind: "update_credentials"; serviceId: bigint; settingsPath: string; expired: boolean }
  | { kind: "sign_in" }
  | { kind: "fix_fields"; fields: Record<string, string> }
  | { kind: "fix_input"; problems: { code: string; description: string }[] }
  | { kind: "choose_target"; field: string }
  | { kind: "retry_later"; seconds: number }
  | { kind: "wait"; seconds: number }
  | { kind: "contact_support"; traceId: string }
  | { kind: "show"; message: string };

function ids(list: string | undefined, first: string | undefined): bigint[] {
  const raw = (list || first || "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => /^\d+$/.test(s));
  return raw.map((s) => BigInt(s));
}

function fieldsOf(e: ApiError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of e.fieldViolations) out[v.field] = v.description;
  return out;
}

/** The action for an error a call returned. */
export function actionFor(e: ApiError): ErrorAction {
  const m = e.metadata;
  switch (e.reason) {
    case "CREDENTIALS_MISSING": {
      const serviceIds = ids(m.service_ids, m.service_id);
      return {
        kind: "setup_required",
        serviceIds,
        settingsPath: m.settings_path || `/settings/services/${serviceIds[0] ?? ""}`,
        inactive: m.state === "inactive",
      };
    }
    case "CREDENTIALS_REJECTED":
    case "CREDENTIALS_EXPIRED":
      return {
        kind: "update_credentials",
        serviceId: BigInt(/^\d+$/.test(m.service_id ?? "") ? m.service_id : 0),
        settingsPath: m.settings_path || `/settings/services/${m.service_id ?? ""}`,
        expired: e.reason === "CREDENTIALS_EXPIRED",
      };
    case "SESSION_ENDED":
    case "TOKEN_MISSING":
    case "TOKEN_INVALID":
    case "TOKEN_EXPIRED":
      return { kind: "sign_in" };
    case "VALIDATION_FAILED":
    case "ALREADY_EXISTS":
      if (e.fieldViolations.length > 0) return { kind: "fix_fields", fields: fieldsOf(e) };
      if (m.field) return { kind: "fix_fields", fields: { [m.field]: e.message } };
      return { kind: "show", message: e.message };
    case "INPUT_INVALID":
    case "FILE_TOO_LARGE":
    case "INTEGRITY_CHECK_FAILED":
      return {
        kind: "fix_input",
        problems:
          e.fieldViolations.length > 0
            ? e.fieldViolations.map((v) => ({ code: v.reason || e.reason, description: v.description }))
            : [{ code: e.reason, description: e.message }],
      };
    case "TARGET_MISMATCH":
      return { kind: "choose_target", field: m.field ?? e.fieldViolations[0]?.field ?? "" };
    case "SERVICE_UNAVAILABLE":
    case "UPSTREAM_FAILED":
    case "UNAVAILABLE":
      return { kind: "retry_later", seconds: e.retryAfterSeconds || Number(m.retry_after_seconds ?? 0) };
    case "RATE_LIMITED":
    case "LOGIN_THROTTLED":
      return { kind: "wait", seconds: e.retryAfterSeconds || Number(m.retry_after_seconds ?? 0) };
    case "INTERNAL":
      return { kind: "contact_support", traceId: m.trace_id ?? "" };
    default:
      return { kind: "show", message: e.message };
  }
}

/** The sentence for an error the page shows as a banner. */
export function describe(e: ApiError): string {
  const a = actionFor(e);
  switch (a.kind) {
    case "retry_later":
      return `The hub or the imputation server is unavailable right now${a.seconds ? `; try again in ${Math.ceil(a.seconds)} s` : "; try again later"}.`;
    case "wait":
      return `Too many attempts: wait ${Math.ceil(a.seconds) || "a few"} s and try again.`;
    case "contact_support":
      return `Something went wrong on the hub. If it persists, contact the administrators${a.traceId ? ` quoting trace id ${a.traceId}` : ""}.`;
    default:
      return capitalise(e.message);
  }
}

export function capitalise(s: string): string {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

export type JobFailure =
  | { kind: "update_credentials"; path: string; message: string }
  | { kind: "fix_input"; message: string }
  | { kind: "choose_target"; message: string }
  | { kind: "retry_later"; message: string }
  | { kind: "contact_support"; message: string }
  | { kind: "none"; message: string };

/** What a failed job asks of the user (its `error_action`). */
export function jobFailure(job: Job): JobFailure {
  const message = job.errorMessage || "The job failed.";
  switch (job.errorAction) {
    case JobErrorAction.UPDATE_CREDENTIALS:
      return {
        kind: "update_credentials",
        path: job.errorActionUrl || `/settings/services/${job.serviceId}`,
        message,
      };
    case JobErrorAction.FIX_INPUT:
      return { kind: "fix_input", message };
    case JobErrorAction.CHOOSE_ANOTHER_TARGET:
      return { kind: "choose_target", message };
    case JobErrorAction.RETRY_LATER:
      return { kind: "retry_later", message };
    case JobErrorAction.CONTACT_SUPPORT:
      return { kind: "contact_support", message };
    default:
      return { kind: "none", message };
  }
}
