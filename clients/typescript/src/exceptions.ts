// Platform errors as exception classes, one per reason a caller acts on,
// decoded by errors.ts from google.rpc.Status details (or a REST body).
// Every class carries the whole decoded error: reason, metadata, field
// violations, retry delay and help links.
// They extend ConnectError, so code that reads a ConnectError (errors.ts's
// apiError, the web UI) reads them unchanged.
import { Code, ConnectError } from "@connectrpc/connect";
import { apiError, type ApiError, type FieldViolation } from "./errors.js";

/** Any error answered by the platform (or its transport). */
export class FipError extends ConnectError {
  /** The decoded error (gRPC code, reason, metadata, ...). */
  readonly error: ApiError;
  constructor(source: ConnectError, error: ApiError = apiError(source)) {
    super(source.rawMessage, source.code, source.metadata, undefined, source.cause ?? source);
    this.details = source.details;
    this.name = new.target.name;
    this.error = error;
  }
  /** Plain prototype checks: ConnectError's own check would take any ConnectError for a FipError. */
  static [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
  /** The ErrorInfo reason, e.g. `CREDENTIALS_MISSING`. */
  get reason(): string {
    return this.error.reason;
  }
  /** The ErrorInfo metadata, e.g. `{service_id, settings_path}` (`metadata` is ConnectError's, the trailers). */
  get meta(): Record<string, string> {
    return this.error.metadata;
  }
  get fieldViolations(): FieldViolation[] {
    return this.error.fieldViolations;
  }
  /** Seconds to wait before retrying (RetryInfo, else metadata), 0 when unknown. */
  get retryAfterSeconds(): number {
    return this.error.retryAfterSeconds || Number(this.error.metadata.retry_after_seconds ?? 0) || 0;
  }
}

/** The metadata's `service_id` as a number (0 when absent). */
function serviceIdOf(e: ApiError): number {
  return Number(e.metadata.service_id ?? 0) || 0;
}

/** No credential stored for a target's service: store one (`settingsPath` in the web UI). */
export class CredentialsMissing extends FipError {
  get serviceId(): number {
    return serviceIdOf(this.error);
  }
  /** Every service without a credential (multi-service submissions). */
  get serviceIds(): number[] {
    const all = this.error.metadata.service_ids;
    return all ? all.split(",").map(Number) : [this.serviceId];
  }
  get settingsPath(): string {
    return this.error.metadata.settings_path ?? "";
  }
}
/** The external server refused the stored token: replace it. */
export class CredentialsRejected extends CredentialsMissing {}
/** The stored token has expired on the external server. */
export class CredentialsExpired extends CredentialsMissing {
  get expiredAt(): string {
    return this.error.metadata.expired_at ?? "";
  }
}
/** The session was ended (signed out, revoked, a replayed refresh token): sign in again. */
export class SessionEnded extends FipError {}
/** The access token expired (the client refreshes and retries once before this reaches you). */
export class TokenExpired extends FipError {}
/** No, or an unusable, access token: sign in. */
export class NotSignedIn extends FipError {}
/** Wrong username or password. */
export class LoginFailed extends FipError {}
/** Too many failed sign-ins from this address: wait `retryAfterSeconds`. */
export class LoginThrottled extends FipError {}
export class AccountDisabled extends FipError {}
export class PermissionDenied extends FipError {}
/** The request is invalid; `fieldViolations` says where. */
export class ValidationFailed extends FipError {}
/** The input file failed the pre-flight check; `fieldViolations` lists each finding. */
export class InputInvalid extends FipError {}
export class NotFound extends FipError {}
export class AlreadyExists extends FipError {}
/** Too many calls: wait `retryAfterSeconds`. */
export class RateLimited extends FipError {}
export class QuotaExceeded extends FipError {}
export class FileTooLarge extends FipError {}
/** Bytes did not match their SHA-256 (an upload's expected hash, or a download). */
export class IntegrityCheckFailed extends FipError {}
export class ResultsExpired extends FipError {}
/** An external server (or the hub) cannot be reached now; retrying may help. */
export class ServiceUnavailable extends FipError {
  get serviceId(): number {
    return serviceIdOf(this.error);
  }
}
export class ServiceInactive extends ServiceUnavailable {}
/** The panel does not belong to the service, or the build does not match. */
export class TargetMismatch extends FipError {}
export class JobNotCancellable extends FipError {}
export class UpstreamFailed extends FipError {}

const CLASSES: Record<string, new (source: ConnectError, error?: ApiError) => FipError> = {
  CREDENTIALS_MISSING: CredentialsMissing,
  CREDENTIALS_REJECTED: CredentialsRejected,
  CREDENTIALS_EXPIRED: CredentialsExpired,
  SESSION_ENDED: SessionEnded,
  TOKEN_EXPIRED: TokenExpired,
  TOKEN_MISSING: NotSignedIn,
  TOKEN_INVALID: NotSignedIn,
  LOGIN_FAILED: LoginFailed,
  LOGIN_THROTTLED: LoginThrottled,
  ACCOUNT_DISABLED: AccountDisabled,
  PERMISSION_DENIED: PermissionDenied,
  VALIDATION_FAILED: ValidationFailed,
  INPUT_INVALID: InputInvalid,
  NOT_FOUND: NotFound,
  ALREADY_EXISTS: AlreadyExists,
  RATE_LIMITED: RateLimited,
  QUOTA_EXCEEDED: QuotaExceeded,
  FILE_TOO_LARGE: FileTooLarge,
  INTEGRITY_CHECK_FAILED: IntegrityCheckFailed,
  RESULTS_EXPIRED: ResultsExpired,
  SERVICE_UNAVAILABLE: ServiceUnavailable,
  UNAVAILABLE: ServiceUnavailable,
  SERVICE_INACTIVE: ServiceInactive,
  TARGET_MISMATCH: TargetMismatch,
  JOB_NOT_CANCELLABLE: JobNotCancellable,
  UPSTREAM_FAILED: UpstreamFailed,
};

/** Any thrown value as the FipError subclass of its reason (a FipError is returned as it is). */
export function toFipError(error: unknown): FipError {
  if (error instanceof FipError) return error;
  const source = ConnectError.from(error);
  // A FipError thrown inside the transport (a refresh that found the session
  // ended) comes back wrapped by the client.
  if (source.cause instanceof FipError) return source.cause;
  const decoded = apiError(source);
  const Class = CLASSES[decoded.reason] ?? FipError;
  return new Class(source, decoded);
}

/** A client-side integrity failure (a download whose bytes do not match the hub's SHA-256). */
export function integrityError(message: string, metadata: Record<string, string>): FipError {
  return new IntegrityCheckFailed(new ConnectError(message, Code.DataLoss), {
    code: Code.DataLoss,
    status: "DATA_LOSS",
    reason: "INTEGRITY_CHECK_FAILED",
    message,
    metadata,
    fieldViolations: [],
    retryAfterSeconds: 0,
    help: [],
  });
}
