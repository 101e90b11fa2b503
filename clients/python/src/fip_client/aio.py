"""The asynchronous client (grpc.aio): the same methods as
fip_client.Client, awaited; `watch` is an async iterator."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator, Callable, Sequence

import grpc
import grpc.aio

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

__all__ = ["AsyncClient"]


def channel_for(url: str) -> grpc.aio.Channel:
    address, tls = _core.target_address(url)
    if tls:
        return grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(), options=_core.CHANNEL_OPTIONS)
    return grpc.aio.insecure_channel(address, options=_core.CHANNEL_OPTIONS)


class AsyncClient:
    """A researcher's session on a hub over grpc.aio (see fip_client.Client)."""

    def __init__(
        self,
        url: str,
        *,
        access_token: str | None = None,
        refresh_token: str = "",
        on_tokens: TokensSaved | None = None,
        channel: grpc.aio.Channel | None = None,
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

    async def close(self) -> None:
        await self.channel.close(None)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- calls -----------------------------------------------------------

    async def call(self, method: Callable[..., Any], request: Any) -> Any:
        """As Client.call: renewed when due and once on TOKEN_EXPIRED."""
        await self._renew_if_due()
        try:
            return await method(request() if callable(request) else request,
                                metadata=self.session.metadata())
        except grpc.RpcError as error:
            failure = from_rpc_error(error)
            if not (isinstance(failure, TokenExpired) and self._renewable()):
                raise failure from None
        await self.refresh()
        try:
            return await method(request() if callable(request) else request,
                                metadata=self.session.metadata())
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    async def stream(self, method: Callable[..., Any], request: Any) -> AsyncIterator[Any]:
        await self._renew_if_due()
        for attempt in range(2):
            first = True
            try:
                async for message in method(request, metadata=self.session.metadata()):
                    first = False
                    yield message
                return
            except grpc.RpcError as error:
                failure = from_rpc_error(error)
                if attempt == 0 and first and isinstance(failure, TokenExpired) and self._renewable():
                    await self.refresh()
                    continue
                raise failure from None

    async def pages(self, method: Callable[..., Any], request: Any, field: str) -> AsyncIterator[Any]:
        """Every item of a List method across its pages (page_token)."""
        request = type(request).FromString(request.SerializeToString())
        while True:
            answer = await self.call(method, request)
            for item in getattr(answer, field):
                yield item
            if not answer.next_page_token:
                return
            request.page_token = answer.next_page_token

    # --- the session -----------------------------------------------------

    async def login(self, username: str, password: str) -> auth_pb2.LoginResponse:
        try:
            answer = await self.users.Login(auth_pb2.LoginRequest(username=username, password=password))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        self.session.set(Tokens.from_response(answer))
        return answer

    async def refresh(self) -> Tokens:
        tokens = self.session.tokens
        if tokens is None or not tokens.refresh_token:
            raise FipError("no refresh token: sign in again", reason="TOKEN_MISSING")
        try:
            answer = await self.users.RefreshSession(
                auth_pb2.RefreshSessionRequest(refresh_token=tokens.refresh_token))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        fresh = Tokens.from_response(answer)
        self.session.set(fresh)
        return fresh

    async def logout(self, all_sessions: bool = False) -> None:
        await self.call(self.users.Logout, auth_pb2.LogoutRequest(all_sessions=all_sessions))
        self.session.tokens = None

    def _renewable(self) -> bool:
        tokens = self.session.tokens
        return tokens is not None and bool(tokens.refresh_token)

    async def _renew_if_due(self) -> None:
        tokens = self.session.tokens
        if tokens is not None and tokens.due():
            await self.refresh()

    # --- the registry ----------------------------------------------------

    async def services(self) -> list[imputation_service_pb2.ImputationService]:
        return [s async for s in self.pages(self.registry.ListServices,
                                            imputation_service_pb2.ListServicesRequest(), "services")]

    async def service(self, ref: int | str) -> imputation_service_pb2.ImputationService:
        found = _core.pick_service(ref, await self.services())
        if found is None:
            raise NotFound(f"no imputation service {ref!r}", metadata={"service": str(ref)})
        return found

    async def panels(self, service: int | str | None = None) -> list[reference_panel_pb2.ReferencePanel]:
        request = reference_panel_pb2.ListReferencePanelsRequest()
        if service is not None:
            request.service_id = (await self.service(service)).id
        return [p async for p in self.pages(self.registry.ListReferencePanels, request, "reference_panels")]

    # --- credentials -----------------------------------------------------

    async def set_credential(self, service: int | str, api_token: str, label: str = "") -> credential_pb2.ServiceCredential:
        answer = await self.call(self.credentials.PutServiceCredential, credential_pb2.PutServiceCredentialRequest(
            service_id=(await self.service(service)).id, api_token=api_token, label=label,
            credential_type=credential_pb2.CREDENTIAL_TYPE_API_TOKEN))
        return answer.credential

    async def test_credential(self, service: int | str) -> credential_pb2.VerifyServiceCredentialResponse:
        return await self.call(self.credentials.VerifyServiceCredential,
                               credential_pb2.VerifyServiceCredentialRequest(
                                   service_id=(await self.service(service)).id))

    # --- files -----------------------------------------------------------

    async def upload(self, path: str | Path, *, name: str | None = None,
                     progress: Progress | None = None) -> file_pb2.File:
        path = Path(path)
        answer = await self.call(self.files.UploadFile,
                                 lambda: _core.upload_requests(path, name or path.name, progress))
        return answer.file

    # --- jobs ------------------------------------------------------------

    async def submit(self, file_id: str, targets: Target | Sequence[Target], *, name: str,
                     mode: "job_pb2.JobMode.ValueType" = job_pb2.JOB_MODE_IMPUTATION, r2_filter: float = 0.0,
                     request_id: str = "") -> job_pb2.Job:
        targets = [targets] if isinstance(targets, Target) else list(targets)
        if not targets:
            raise ValueError("submit needs at least one target")
        services = await self.services()
        resolved = []
        for target in targets:
            service = _core.pick_service(target.service, services)
            if service is None:
                raise NotFound(f"no imputation service {target.service!r}")
            panel = _core.pick_panel(target.panel, await self.panels(service.id))
            if panel is None:
                raise NotFound(f"no reference panel {target.panel!r} on {service.slug}")
            resolved.append(_core.job_target(target, service, panel))
        if len(resolved) == 1:
            one = resolved[0]
            answer = await self.call(self.jobs_api.SubmitJob, job_pb2.SubmitJobRequest(
                name=name, service_id=one.service_id, reference_panel_id=one.reference_panel_id,
                build=one.build, phasing=one.phasing, population=one.population,
                input_file_id=file_id, r2_filter=r2_filter, mode=mode, request_id=request_id))
            return answer.job
        answer = await self.call(self.jobs_api.SubmitMultiServiceJob, job_pb2.SubmitMultiServiceJobRequest(
            name=name, input_file_id=file_id, targets=resolved, mode=mode, r2_filter=r2_filter,
            request_id=request_id))
        return answer.parent_job

    async def job(self, job_id: str) -> job_pb2.Job:
        return (await self.call(self.jobs_api.GetJob, job_pb2.GetJobRequest(id=job_id))).job

    def jobs(self, **filters: Any) -> AsyncIterator[job_pb2.Job]:
        return self.pages(self.jobs_api.ListJobs, job_pb2.ListJobsRequest(**filters), "jobs")

    async def cancel(self, job_id: str) -> job_pb2.Job:
        return (await self.call(self.jobs_api.CancelJob, job_pb2.CancelJobRequest(id=job_id))).job

    def watch(self, job_id: str, include_logs: bool = False) -> AsyncIterator[job_event_pb2.WatchJobResponse]:
        """The job's events (WatchJob) as an async iterator, until it ends."""
        return self.stream(self.jobs_api.WatchJob,
                           job_event_pb2.WatchJobRequest(id=job_id, include_logs=include_logs))

    async def wait(self, job_id: str) -> job_pb2.Job:
        while True:
            last: job_pb2.Job | None = None
            async for event in self.watch(job_id):
                if event.HasField("job"):
                    last = event.job
                    if last.status in _core.TERMINAL:
                        break
            if last is None or last.status not in _core.TERMINAL:
                last = await self.job(job_id)
            if last.status in _core.TERMINAL:
                break
        if last.status != job_pb2.JOB_STATUS_COMPLETED:
            raise JobFailed(f"job {job_id} ended {job_pb2.JobStatus.Name(last.status)}: "
                            f"{last.error_message}", last)
        return last

    async def results(self, job_id: str) -> job_result_pb2.ListJobResultsResponse:
        return await self.call(self.jobs_api.ListJobResults, job_result_pb2.ListJobResultsRequest(job_id=job_id))

    async def download(self, job_id: str, folder: str | Path, progress: Progress | None = None) -> list[Path]:
        folder = Path(folder)
        job = await self.job(job_id)
        if job.child_job_ids:
            paths: list[Path] = []
            for child in job.child_job_ids:
                paths += await self.download(child, folder / child, progress)
            return paths
        return [await self.download_result(r, folder, progress) for r in (await self.results(job_id)).files]

    async def download_result(self, result: job_result_pb2.JobResultFile, folder: Path,
                              progress: Progress | None = None) -> Path:
        part = _core.PartialDownload(result, folder)
        try:
            if part.offset < result.size_bytes or result.size_bytes == 0:
                async for message in self.stream(self.files.DownloadFile,
                                                 file_pb2.DownloadFileRequest(
                                                     id=result.file_id, offset=part.offset)):
                    if message.HasField("chunk"):
                        part.write(message.chunk)
                        if progress is not None:
                            progress(part.offset, result.size_bytes)
        finally:
            part.close()
        return part.finish()
