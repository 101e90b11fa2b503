"""Typed exceptions for the platform's errors.

Every refusal carries a reason from the closed list in
proto/fip/common/v1/errors.proto, sent as a google.rpc.ErrorInfo inside the
google.rpc.Status of the `grpc-status-details-bin` trailer. `from_rpc_error`
decodes it into the exception class of that reason, with the ErrorInfo's
metadata as a dict and the common keys as attributes.
"""

from __future__ import annotations

from typing import Any, Mapping

import grpc
from google.rpc import error_details_pb2, status_pb2

from fip_client._proto.fip.common.v1 import errors_pb2

__all__ = [
    "FipError",
    "ValidationFailed",
    "NotFound",
    "AlreadyExists",
    "TokenMissing",
    "TokenInvalid",
    "TokenExpired",
    "LoginFailed",
    "LoginThrottled",
    "PermissionDenied",
    "AccountDisabled",
    "RegistrationDisabled",
    "CredentialsMissing",
    "CredentialsRejected",
    "CredentialsExpired",
    "ServiceUnavailable",
    "ServiceInactive",
    "TargetMismatch",
    "InputInvalid",
    "JobNotCancellable",
    "RateLimited",
    "QuotaExceeded",
    "FileTooLarge",
    "IntegrityCheckFailed",
    "ResultsExpired",
    "OperationNotSupported",
    "LastAdmin",
    "UpstreamFailed",
    "Internal",
    "SessionEnded",
    "JobFailed",
    "from_rpc_error",
]

DETAILS_KEY = "grpc-status-details-bin"


class FipError(Exception):
    """A call the platform refused or could not complete.

    `reason` is the ErrorInfo reason without its enum prefix (for example
    "CREDENTIALS_MISSING"), or "" when the answer carried none (a transport
    failure); `code` is the gRPC status code; `metadata` the ErrorInfo's
    metadata.
    """

    reason_name = ""

    def __init__(
        self,
        message: str,
        *,
        reason: str = "",
        code: grpc.StatusCode | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.reason_name
        self.code = code
        self.metadata: dict[str, str] = dict(metadata or {})

    def __str__(self) -> str:
        return f"{self.message} ({self.reason})" if self.reason else self.message

    @property
    def reason_number(self) -> int:
        """The reason as its errors.proto enum number (0 when unknown)."""
        try:
            return int(errors_pb2.ErrorReason.Value("ERROR_REASON_" + self.reason))
        except ValueError:
            return 0


class _WithService(FipError):
    @property
    def service_id(self) -> int | None:
        """The imputation service the error is about, when named."""
        value = self.metadata.get("service_id", "")
        return int(value) if value.isdigit() else None


class ValidationFailed(FipError):
    reason_name = "VALIDATION_FAILED"

    @property
    def field(self) -> str | None:
        return self.metadata.get("field")


class NotFound(FipError):
    reason_name = "NOT_FOUND"


class AlreadyExists(FipError):
    reason_name = "ALREADY_EXISTS"


class TokenMissing(FipError):
    reason_name = "TOKEN_MISSING"


class TokenInvalid(FipError):
    reason_name = "TOKEN_INVALID"


class TokenExpired(FipError):
    reason_name = "TOKEN_EXPIRED"


class LoginFailed(FipError):
    reason_name = "LOGIN_FAILED"


class LoginThrottled(FipError):
    reason_name = "LOGIN_THROTTLED"

    @property
    def retry_after_seconds(self) -> int | None:
        """How long the platform refuses this account from this address."""
        value = self.metadata.get("retry_after_seconds", "")
        return int(value) if value.isdigit() else None


class PermissionDenied(FipError):
    reason_name = "PERMISSION_DENIED"


class AccountDisabled(FipError):
    reason_name = "ACCOUNT_DISABLED"


class RegistrationDisabled(FipError):
    reason_name = "REGISTRATION_DISABLED"


class CredentialsMissing(_WithService):
    """No credential is stored for the service: store one (settings_path
    names the web UI's page for it)."""

    reason_name = "CREDENTIALS_MISSING"

    @property
    def settings_path(self) -> str | None:
        return self.metadata.get("settings_path")


class CredentialsRejected(_WithService):
    reason_name = "CREDENTIALS_REJECTED"


class CredentialsExpired(_WithService):
    reason_name = "CREDENTIALS_EXPIRED"


class ServiceUnavailable(_WithService):
    reason_name = "SERVICE_UNAVAILABLE"


class ServiceInactive(_WithService):
    reason_name = "SERVICE_INACTIVE"


class TargetMismatch(FipError):
    reason_name = "TARGET_MISMATCH"


class InputInvalid(FipError):
    reason_name = "INPUT_INVALID"


class JobNotCancellable(FipError):
    reason_name = "JOB_NOT_CANCELLABLE"


class RateLimited(FipError):
    reason_name = "RATE_LIMITED"

    @property
    def retry_after_seconds(self) -> int | None:
        value = self.metadata.get("retry_after_seconds", "")
        return int(value) if value.isdigit() else None


class QuotaExceeded(FipError):
    reason_name = "QUOTA_EXCEEDED"


class FileTooLarge(FipError):
    reason_name = "FILE_TOO_LARGE"


class IntegrityCheckFailed(FipError):
    reason_name = "INTEGRITY_CHECK_FAILED"


class ResultsExpired(FipError):
    reason_name = "RESULTS_EXPIRED"


class OperationNotSupported(FipError):
    reason_name = "OPERATION_NOT_SUPPORTED"


class LastAdmin(FipError):
    reason_name = "LAST_ADMIN"


class UpstreamFailed(_WithService):
    reason_name = "UPSTREAM_FAILED"


class Internal(FipError):
    reason_name = "INTERNAL"


class SessionEnded(FipError):
    """The session was ended (sign-out, revocation, a replayed refresh
    token): sign in again."""

    reason_name = "SESSION_ENDED"


class JobFailed(FipError):
    """A job that was waited for ended FAILED, CANCELLED or EXPIRED; `job`
    is its last state."""

    def __init__(self, message: str, job: Any) -> None:
        super().__init__(message, reason=errors_pb2.ErrorReason.Name(job.error_reason)[len("ERROR_REASON_") :])
        self.job = job


_BY_REASON: dict[str, type[FipError]] = {
    cls.reason_name: cls
    for cls in list(globals().values())
    if isinstance(cls, type) and issubclass(cls, FipError) and cls.reason_name
}


def _trailer(error: grpc.RpcError) -> bytes | None:
    trailing = getattr(error, "trailing_metadata", None)
    if trailing is None:
        return None
    for key, value in trailing() or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            return value
    return None


def from_rpc_error(error: grpc.RpcError) -> FipError:
    """The typed exception for a failed call."""
    code = error.code() if hasattr(error, "code") else None
    message = (error.details() if hasattr(error, "details") else None) or str(error)
    reason = ""
    metadata: dict[str, str] = {}
    raw = _trailer(error)
    if raw:
        status = status_pb2.Status.FromString(raw)
        message = status.message or message
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason.removeprefix("ERROR_REASON_")
                metadata.update(info.metadata)
    cls = _BY_REASON.get(reason, FipError)
    return cls(message, reason=reason, code=code, metadata=metadata)
