"""What the sync and async clients share: the session's tokens, targets,
request building and the download's bookkeeping."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from fip_client._proto.fip.common.v1 import genome_pb2
from fip_client._proto.fip.files.v1 import file_pb2
from fip_client._proto.fip.jobs.v1 import job_pb2, job_result_pb2
from fip_client._proto.fip.registry.v1 import imputation_service_pb2, reference_panel_pb2
from fip_client._proto.fip.user.v1 import auth_pb2
from fip_client.errors import IntegrityCheckFailed

CHUNK = 1 << 20
"""Upload and download chunk size: 1 MiB."""

CHANNEL_OPTIONS = [("grpc.http2.bdp_probe", 0)]
"""No bandwidth-delay probing: with it, grpc-core grows the download's
HTTP/2 window and buffers ever more of a fast stream ahead of the reader
(peak RSS 78 MiB for 1 GiB, 130 MiB for 2 GiB); without it memory stays
flat, at the same throughput on loopback (clients/python/README.md)."""

REFRESH_MARGIN = 60.0
"""The access token is renewed this many seconds before it expires."""

TERMINAL = frozenset(
    {
        job_pb2.JOB_STATUS_COMPLETED,
        job_pb2.JOB_STATUS_FAILED,
        job_pb2.JOB_STATUS_CANCELLED,
        job_pb2.JOB_STATUS_EXPIRED,
    }
)

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) as a transfer moves."""

TokensSaved = Callable[["Tokens"], None]
"""Called with each new pair of tokens, so that a caller can keep the
refresh token (each works once)."""


def target_address(url: str) -> tuple[str, bool]:
    """The grpc target and whether it needs TLS, from a gateway URL
    (http://host:port, https://host, or host:port)."""
    if url.startswith("https://"):
        rest, tls = url[len("https://") :], True
    elif url.startswith("http://"):
        rest, tls = url[len("http://") :], False
    else:
        rest, tls = url, False
    rest = rest.rstrip("/")
    if ":" not in rest.rsplit("]", 1)[-1]:
        rest += ":443" if tls else ":80"
    return rest, tls


@dataclass
class Tokens:
    """A session's tokens; `expires_at` is a time.monotonic() deadline."""

    access_token: str
    refresh_token: str = ""
    expires_at: float = float("inf")

    @classmethod
    def from_response(
        cls, answer: auth_pb2.LoginResponse | auth_pb2.RefreshSessionResponse
    ) -> "Tokens":
        return cls(
            access_token=answer.access_token,
            refresh_token=answer.refresh_token,
            expires_at=time.monotonic() + answer.expires_in,
        )

    def due(self, margin: float = REFRESH_MARGIN) -> bool:
        return bool(self.refresh_token) and time.monotonic() >= self.expires_at - margin


class Session:
    """The current tokens, swapped under a lock."""

    def __init__(self, tokens: Tokens | None, on_tokens: TokensSaved | None) -> None:
        self._lock = threading.Lock()
        self.tokens = tokens
        self.on_tokens = on_tokens

    def set(self, tokens: Tokens | None) -> None:
        with self._lock:
            self.tokens = tokens
        if tokens is not None and self.on_tokens is not None:
            self.on_tokens(tokens)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        tokens = self.tokens
        if tokens is None:
            return ()
        return (("authorization", f"Bearer {tokens.access_token}"),)


@dataclass(frozen=True)
class Target:
    """Where to impute: a service and a panel, each by id or slug (or name);
    the build and population default to the panel's, phasing to Eagle."""

    service: int | str
    panel: int | str
    build: "genome_pb2.GenomeBuild.ValueType | None" = None
    population: str | None = None
    phasing: "genome_pb2.Phasing.ValueType" = genome_pb2.PHASING_EAGLE


def matches(ref: int | str, item_id: int, slug: str, name: str) -> bool:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return int(ref) == item_id
    return ref in (slug, name)


def pick_service(
    ref: int | str, services: Sequence[imputation_service_pb2.ImputationService]
) -> imputation_service_pb2.ImputationService | None:
    return next((s for s in services if matches(ref, s.id, s.slug, s.name)), None)


def pick_panel(
    ref: int | str, panels: Sequence[reference_panel_pb2.ReferencePanel]
) -> reference_panel_pb2.ReferencePanel | None:
    return next((p for p in panels if matches(ref, p.id, p.slug, p.name)), None)


def job_target(
    target: Target,
    service: imputation_service_pb2.ImputationService,
    panel: reference_panel_pb2.ReferencePanel,
) -> job_pb2.JobTarget:
    return job_pb2.JobTarget(
        service_id=service.id,
        reference_panel_id=panel.id,
        build=target.build if target.build is not None else panel.build,
        phasing=target.phasing,
        population=target.population
        if target.population is not None
        else panel.default_population,
    )


def upload_requests(
    path: Path, name: str, progress: Progress | None, chunk_size: int = CHUNK
) -> Iterator[file_pb2.UploadFileRequest]:
    """The metadata message, then the file in chunks, read as they are sent."""
    size = path.stat().st_size
    yield file_pb2.UploadFileRequest(
        metadata=file_pb2.UploadFileMetadata(
            name=name,
            kind=file_pb2.FILE_KIND_INPUT,
            content_type="application/gzip" if name.endswith(".gz") else "text/plain",
            expected_size_bytes=size,
        )
    )
    sent = 0
    if progress is not None:
        progress(0, size)
    with path.open("rb") as source:
        while chunk := source.read(chunk_size):
            yield file_pb2.UploadFileRequest(chunk=chunk)
            sent += len(chunk)
            if progress is not None:
                progress(sent, size)


class PartialDownload:
    """NAME.part beside the destination, resumed from its length; the
    whole content is hashed, and only a match with the hub's SHA-256
    becomes NAME."""

    def __init__(self, result: job_result_pb2.JobResultFile, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.result = result
        self.final = folder / Path(result.name).name
        self.part = self.final.with_name(self.final.name + ".part")
        self.hash = hashlib.sha256()
        self.offset = 0
        if self.part.exists():
            with self.part.open("rb") as old:
                while block := old.read(CHUNK):
                    self.hash.update(block)
                    self.offset += len(block)
        self.out = self.part.open("ab")

    def write(self, chunk: bytes) -> None:
        self.out.write(chunk)
        self.hash.update(chunk)
        self.offset += len(chunk)

    def finish(self) -> Path:
        self.out.close()
        digest = self.hash.hexdigest()
        if digest != self.result.sha256.lower():
            self.part.unlink(missing_ok=True)
            raise IntegrityCheckFailed(
                f"{self.result.name}: SHA-256 {digest} does not match the hub's "
                f"{self.result.sha256}; the partial file was deleted",
                metadata={"file_id": self.result.file_id, "name": self.result.name},
            )
        os.replace(self.part, self.final)
        return self.final

    def close(self) -> None:
        self.out.close()
