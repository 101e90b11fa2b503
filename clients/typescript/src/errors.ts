// Errors of the platform, decoded the same way whatever the transport:
// gRPC-web calls carry a google.rpc.Status (ErrorInfo, BadRequest, RetryInfo,
// Help details); REST answers carry a fip.common.v1.RestError JSON body.
// Clients branch on `reason`, never on the message text.
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  HelpSchema,
  RetryInfoSchema,
} from "./gen/google/rpc/error_details_pb.js";
import { ErrorReason } from "./gen/fip/common/v1/errors_pb.js";

/** The reasons the platform documents (the enum names, as on the wire). */
export const REASONS: readonly string[] = Object.keys(ErrorReason).filter(
  (k) => Number.isNaN(Number(k)) && k !== "UNSPECIFIED",
);

/** One invalid request field (google.rpc.BadRequest.FieldViolation). */
export interface FieldViolation {
  field: string;
  description: string;
  reason: string;
}

/** A platform error, transport-independent. */
export interface ApiError {
  /** The gRPC code. */
  code: Code;
  /** The gRPC code's name, e.g. `FAILED_PRECONDITION`. */
  status: string;
  /** The ErrorInfo reason; `INTERNAL` when the answer carried none. */
  reason: string;
  /** The server's message for people. */
  message: string;
  /** ErrorInfo metadata, e.g. `{service_id: "1", settings_path: "/settings/services/1"}`. */
  metadata: Record<string, string>;
  fieldViolations: FieldViolation[];
  /** Seconds to wait before retrying; 0 when unknown. */
  retryAfterSeconds: number;
  /** What the user can do (google.rpc.Help), e.g. the settings link. */
  help: { description: string; url: string }[];
}

const CODE_NAMES: Record<number, string> = {
  [Code.Canceled]: "CANCELLED",
  [Code.Unknown]: "UNKNOWN",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED",
  [Code.NotFound]: "NOT_FOUND",
  [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  [Code.ResourceExhausted]: "RESOURCE_EXHAUSTED",
  [Code.FailedPrecondition]: "FAILED_PRECONDITION",
  [Code.Aborted]: "ABORTED",
  [Code.OutOfRange]: "OUT_OF_RANGE",
  [Code.Unimplemented]: "UNIMPLEMENTED",
  [Code.Internal]: "INTERNAL",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DataLoss]: "DATA_LOSS",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
};

/** The gRPC code's name. */
export function codeName(code: Code): string {
  return CODE_NAMES[code] ?? "UNKNOWN";
}

function codeFromName(name: string): Code {
  for (const [code, n] of Object.entries(CODE_NAMES)) {
    if (n === name) return Number(code) as Code;
  }
  return Code.Unknown;
}

function durationSeconds(d: { seconds: bigint; nanos: number } | undefined): number {
  if (!d) return 0;
  return Number(d.seconds) + d.nanos / 1e9;
}

/** Decodes any thrown value into an ApiError. */
export function apiError(error: unknown): ApiError {
  if (isApiError(error)) return error;
  if (error instanceof ApiErrorException) return error.error;
  // A FipError (exceptions.ts) carries its decoded error.
  if (typeof error === "object" && error !== null && isApiError((error as { error?: unknown }).error)) {
    return (error as { error: ApiError }).error;
  }
  const ce = ConnectError.from(error);
  const info = ce.findDetails(ErrorInfoSchema)[0];
  const bad = ce.findDetails(BadRequestSchema)[0];
  const retry = ce.findDetails(RetryInfoSchema)[0];
  const help = ce.findDetails(HelpSchema)[0];
  let reason = info?.reason ?? "";
  if (!reason) {
    // No ErrorInfo: a transport failure (network down, gateway gone) or a
    // server that broke the contract. Treat it like INTERNAL for its code.
    reason = ce.code === Code.Unavailable || ce.code === Code.Unknown ? "UNAVAILABLE" : "INTERNAL";
  }
  return {
    code: ce.code,
    status: codeName(ce.code),
    reason,
    message: ce.rawMessage,
    metadata: { ...(info?.metadata ?? {}) },
    fieldViolations: (bad?.fieldViolations ?? []).map((v) => ({
      field: v.field,
      description: v.description,
      reason: v.reason,
    })),
    retryAfterSeconds: durationSeconds(retry?.retryDelay),
    help: (help?.links ?? []).map((l) => ({ description: l.description, url: l.url })),
  };
}

/** Decodes a REST error body (fip.common.v1.RestError) with its HTTP status. */
export function apiErrorFromRest(httpStatus: number, body: unknown): ApiError {
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const str = (k: string) => (typeof b[k] === "string" ? (b[k] as string) : "");
  const status = str("status") || httpStatusName(httpStatus);
  const metadata: Record<string, string> = {};
  if (typeof b.metadata === "object" && b.metadata !== null) {
    for (const [k, v] of Object.entries(b.metadata as Record<string, unknown>)) {
      metadata[k] = String(v);
    }
  }
  const violations = Array.isArray(b.field_violations) ? b.field_violations : [];
  const help = str("action_url") ? [{ description: str("action"), url: str("action_url") }] : [];
  return {
    code: codeFromName(status),
    status,
    reason: str("error") || (httpStatus >= 500 ? "UPSTREAM_FAILED" : "INTERNAL"),
    message: str("message") || `HTTP ${httpStatus}`,
    metadata,
    fieldViolations: violations.map((v: Record<string, unknown>) => ({
      field: String(v.field ?? ""),
      description: String(v.description ?? ""),
      reason: String(v.reason ?? ""),
    })),
    retryAfterSeconds: Number(b.retry_after_seconds ?? 0) || 0,
    help,
  };
}

function httpStatusName(status: number): string {
  switch (status) {
    case 400:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 409:
      return "ALREADY_EXISTS";
    case 413:
      return "INVALID_ARGUMENT";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 499:
      return "CANCELLED";
    case 501:
      return "UNIMPLEMENTED";
    case 503:
      return "UNAVAILABLE";
    case 504:
      return "DEADLINE_EXCEEDED";
    default:
      return status >= 500 ? "INTERNAL" : "UNKNOWN";
  }
}

/** True for a value already decoded by `apiError`. */
export function isApiError(value: unknown): value is ApiError {
  return (
    typeof value === "object" &&
    value !== null &&
    "reason" in value &&
    "status" in value &&
    "fieldViolations" in value
  );
}

/** An ApiError thrown as an exception (REST helpers throw these). */
export class ApiErrorException extends Error {
  constructor(readonly error: ApiError) {
    super(error.message);
    this.name = "ApiErrorException";
  }
}

/** The reason of any thrown value ("" when it is not a platform error). */
export function reasonOf(error: unknown): string {
  try {
    return apiError(error).reason;
  } catch {
    return "";
  }
}
