"""The synchronous client (grpcio)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import grpc

from fip_client import _core
from fip_client._core import Progress, Target, Tokens, TokensSaved
from fip_client._proto.fip.files.v1 import file_pb2, file_service_pb2_grpc
from fip_client._proto.fip.jobs.v1 import (
    job_event_pb2,
    job_pb2,
    job_result_pb2,
    job_service_pb2_grpc,
)
from fip_client._proto.fip.registry.v1 import (
    imputation_service_pb2,
    reference_panel_pb2,
    registry_service_pb2_grpc,
)
from fip_client._proto.fip.user.v1 import (
    auth_pb2,
    credential_pb2,
    credential_service_pb2_grpc,
    user_service_pb2_grpc,
)
from fip_client.errors import FipError, JobFailed, NotFound, TokenExpired, from_rpc_error

T = TypeVar("T")

__all__ = ["Client"]


def channel_for(url: str) -> grpc.Channel:
    address, tls = _core.target_address(url)
    if tls:
        return grpc.secure_channel(address, grpc.ssl_channel_credentials(), options=_core.CHANNEL_OPTIONS)
    return grpc.insecure_channel(address, options=_core.CHANNEL_OPTIONS)


class Client:
    """A researcher's session on a hub, over gRPC.

    `Client(url)` is anonymous until `login`; `Client(url,
    access_token=...)` uses a token as it is (never renewed unless a
    refresh token is given too). `on_tokens` is called with every new pair
    of tokens: keep the refresh token, each one works once.
    """

    def __init__(
        self,
        url: str,
        *,
        access_token: str | None = None,
        refresh_token: str = "",
        on_tokens: TokensSaved | None = None,
        channel: grpc.Channel | None = None,
    ) -> None:
        self.url = url
        self.channel = channel or channel_for(url)
        tokens = Tokens(access_token, refresh_token) if access_token else None
        self.session = _core.Session(tokens, on_tokens)
        self.users = user_service_pb2_grpc.UserServiceStub(self.channel)
        self.credentials = credential_service_pb2_grpc.CredentialServiceStub(self.channel)
        self.registry = registry_service_pb2_grpc.RegistryServiceStub(self.channel)
        self.jobs_api = job_service_pb2_grpc.JobServiceStub(self.channel)
        self.files = file_service_pb2_grpc.FileServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- calls -----------------------------------------------------------

    def call(self, method: Callable[..., T], request: Any, **kwargs: Any) -> T:
        """Calls a unary (or client-streaming, with an iterable factory)
        method with the session's token: renewed first when due, and once
        more when the hub answers TOKEN_EXPIRED. Raises FipError."""
        self._renew_if_due()
        try:
            return method(request() if callable(request) else request,
                          metadata=self.session.metadata(), **kwargs)
        except grpc.RpcError as error:
            failure = from_rpc_error(error)
            if not (isinstance(failure, TokenExpired) and self._renewable()):
                raise failure from None
        self.refresh()
        try:
            return method(request() if callable(request) else request,
                          metadata=self.session.metadata(), **kwargs)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def stream(self, method: Callable[..., Iterable[T]], request: Any) -> Iterator[T]:
        """Calls a server-streaming method; errors as FipError. A stream
        refused with TOKEN_EXPIRED before its first message is opened again
        after a renewal."""
        self._renew_if_due()
        for attempt in range(2):
            first = True
            try:
                for message in method(request, metadata=self.session.metadata()):
                    first = False
                    yield message
                return
            except grpc.RpcError as error:
                failure = from_rpc_error(error)
                if attempt == 0 and first and isinstance(failure, TokenExpired) and self._renewable():
                    self.refresh()
                    continue
                raise failure from None

    def pages(self, method: Callable[..., Any], request: Any, field: str) -> Iterator[Any]:
        """Every item of a List method across its pages (page_token)."""
        request = type(request).FromString(request.SerializeToString())
        while True:
            answer = self.call(method, request)
            yield from getattr(answer, field)
            if not answer.next_page_token:
                return
            request.page_token = answer.next_page_token

    # --- the session -----------------------------------------------------

    def login(self, username: str, password: str) -> auth_pb2.LoginResponse:
        """Signs in: a 15-minute access token and a refresh token."""
        try:
            answer = self.users.Login(auth_pb2.LoginRequest(username=username, password=password))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        self.session.set(Tokens.from_response(answer))
        return answer

    def refresh(self) -> Tokens:
        """Trades the refresh token for the next pair (each works once)."""
        tokens = self.session.tokens
        if tokens is None or not tokens.refresh_token:
            raise FipError("no refresh token: sign in again", reason="TOKEN_MISSING")
        try:
            answer = self.users.RefreshSession(
                auth_pb2.RefreshSessionRequest(refresh_token=tokens.refresh_token)
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        fresh = Tokens.from_response(answer)
        self.session.set(fresh)
        return fresh

    def logout(self, all_sessions: bool = False) -> None:
        """Ends the session on the hub and forgets the tokens."""
        self.call(self.users.Logout, auth_pb2.LogoutRequest(all_sessions=all_sessions))
        self.session.tokens = None

    def _renewable(self) -> bool:
        tokens = self.session.tokens
        return tokens is not None and bool(tokens.refresh_token)

    def _renew_if_due(self) -> None:
        tokens = self.session.tokens
        if tokens is not None and tokens.due():
            self.refresh()

    # --- the registry ----------------------------------------------------

    def services(self) -> list[imputation_service_pb2.ImputationService]:
        return list(self.pages(self.registry.ListServices,
                               imputation_service_pb2.ListServicesRequest(), "services"))

    def service(self, ref: int | str) -> imputation_service_pb2.ImputationService:
        """A service by id, slug or name."""
        found = _core.pick_service(ref, self.services())
        if found is None:
            raise NotFound(f"no imputation service {ref!r}", metadata={"service": str(ref)})
        return found

    def panels(self, service: int | str | None = None) -> list[reference_panel_pb2.ReferencePanel]:
        request = reference_panel_pb2.ListReferencePanelsRequest()
        if service is not None:
            request.service_id = self.service(service).id
        return list(self.pages(self.registry.ListReferencePanels, request, "reference_panels"))

    def panel(self, service: int | str, ref: int | str) -> reference_panel_pb2.ReferencePanel:
        """A service's panel by id, slug or name."""
        found = _core.pick_panel(ref, self.panels(service))
        if found is None:
            raise NotFound(f"no reference panel {ref!r} on {service!r}", metadata={"panel": str(ref)})
        return found

    # --- credentials -----------------------------------------------------

    def set_credential(self, service: int | str, api_token: str, label: str = "") -> credential_pb2.ServiceCredential:
        """Stores the user's API token for a service (never shown again)."""
        answer = self.call(self.credentials.PutServiceCredential, credential_pb2.PutServiceCredentialRequest(
            service_id=self.service(service).id, api_token=api_token, label=label,
            credential_type=credential_pb2.CREDENTIAL_TYPE_API_TOKEN))
        return answer.credential

    def test_credential(self, service: int | str) -> credential_pb2.VerifyServiceCredentialResponse:
        """Asks the service whether it accepts the stored token."""
        return self.call(self.credentials.VerifyServiceCredential,
                         credential_pb2.VerifyServiceCredentialRequest(service_id=self.service(service).id))

    def list_credentials(self) -> list[credential_pb2.ServiceCredential]:
        return list(self.call(self.credentials.ListServiceCredentials,
                              credential_pb2.ListServiceCredentialsRequest()).credentials)

    # --- files -----------------------------------------------------------

    def upload(self, path: str | Path, *, name: str | None = None, progress: Progress | None = None) -> file_pb2.File:
        """Streams a file in 1 MiB chunks (memory stays flat whatever its
        size); `progress(sent, total)` follows it."""
        path = Path(path)
        answer = self.call(self.files.UploadFile,
                           lambda: _core.upload_requests(path, name or path.name, progress))
        return answer.file

    # --- jobs ------------------------------------------------------------

    def submit(self, file_id: str, targets: Target | Sequence[Target], *, name: str,
               mode: "job_pb2.JobMode.ValueType" = job_pb2.JOB_MODE_IMPUTATION, r2_filter: float = 0.0,
               request_id: str = "") -> job_pb2.Job:
        """Submits an uploaded file to one target (SubmitJob) or several
        (SubmitMultiServiceJob, answered with the parent job)."""
        targets = [targets] if isinstance(targets, Target) else list(targets)
        if not targets:
            raise ValueError("submit needs at least one target")
        services = self.services()
        resolved = []
        for target in targets:
            service = _core.pick_service(target.service, services)
            if service is None:
                raise NotFound(f"no imputation service {target.service!r}")
            panel = _core.pick_panel(target.panel, self.panels(service.id))
            if panel is None:
                raise NotFound(f"no reference panel {target.panel!r} on {service.slug}")
            resolved.append(_core.job_target(target, service, panel))
        if len(resolved) == 1:
            one = resolved[0]
            return self.call(self.jobs_api.SubmitJob, job_pb2.SubmitJobRequest(
                name=name, service_id=one.service_id, reference_panel_id=one.reference_panel_id,
                build=one.build, phasing=one.phasing, population=one.population,
                input_file_id=file_id, r2_filter=r2_filter, mode=mode, request_id=request_id)).job
        return self.call(self.jobs_api.SubmitMultiServiceJob, job_pb2.SubmitMultiServiceJobRequest(
            name=name, input_file_id=file_id, targets=resolved, mode=mode, r2_filter=r2_filter,
            request_id=request_id)).parent_job

    def job(self, job_id: str) -> job_pb2.Job:
        return self.call(self.jobs_api.GetJob, job_pb2.GetJobRequest(id=job_id)).job

    def jobs(self, **filters: Any) -> Iterator[job_pb2.Job]:
        """Every job matching ListJobsRequest's filters, across pages."""
        return self.pages(self.jobs_api.ListJobs, job_pb2.ListJobsRequest(**filters), "jobs")

    def cancel(self, job_id: str) -> job_pb2.Job:
        return self.call(self.jobs_api.CancelJob, job_pb2.CancelJobRequest(id=job_id)).job

    def watch(self, job_id: str, include_logs: bool = False) -> Iterator[job_event_pb2.WatchJobResponse]:
        """The job's events as the hub sends them (WatchJob), until it ends."""
        return self.stream(self.jobs_api.WatchJob,
                           job_event_pb2.WatchJobRequest(id=job_id, include_logs=include_logs))

    def wait(self, job_id: str) -> job_pb2.Job:
        """Follows the job until it ends; raises JobFailed unless it
        completed. A broken stream is opened again."""
        while True:
            last: job_pb2.Job | None = None
            for event in self.watch(job_id):
                if event.HasField("job"):
                    last = event.job
                    if last.status in _core.TERMINAL:
                        break
            if last is None or last.status not in _core.TERMINAL:
                last = self.job(job_id)
            if last.status in _core.TERMINAL:
                break
        if last.status != job_pb2.JOB_STATUS_COMPLETED:
            raise JobFailed(f"job {job_id} ended {job_pb2.JobStatus.Name(last.status)}: "
                            f"{last.error_message}", last)
        return last

    def results(self, job_id: str) -> job_result_pb2.ListJobResultsResponse:
        return self.call(self.jobs_api.ListJobResults, job_result_pb2.ListJobResultsRequest(job_id=job_id))

    def download(self, job_id: str, folder: str | Path, progress: Progress | None = None) -> list[Path]:
        """Downloads a job's results into `folder` (a job of several targets:
        one sub-folder per child job), each checked against the hub's
        SHA-256; a NAME.part left by a broken download is resumed."""
        folder = Path(folder)
        job = self.job(job_id)
        if job.child_job_ids:
            return [p for child in job.child_job_ids
                    for p in self.download(child, folder / child, progress)]
        return [self.download_result(r, folder, progress) for r in self.results(job_id).files]

    def download_result(self, result: job_result_pb2.JobResultFile, folder: Path,
                        progress: Progress | None = None) -> Path:
        part = _core.PartialDownload(result, folder)
        try:
            if part.offset < result.size_bytes or result.size_bytes == 0:
                for message in self.stream(self.files.DownloadFile,
                                           file_pb2.DownloadFileRequest(id=result.file_id,
                                                                                offset=part.offset)):
                    if message.HasField("chunk"):
                        part.write(message.chunk)
                        if progress is not None:
                            progress(part.offset, result.size_bytes)
        finally:
            part.close()
        return part.finish()
