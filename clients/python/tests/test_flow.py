"""The whole flow, sync and async: sign in, store and test a credential,
upload, submit, watch, wait, download with the SHA-256 checked."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

import fip_client
from fip_client import Target, errors
from fip_client._proto.fip.jobs.v1 import job_pb2
from fip_client.aio import AsyncClient

from conftest import Account, Hub


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_targets_from_sign_in_to_a_verified_download(hub: Hub, ada: Account, tmp_path: Path) -> None:
    saved: list[fip_client.Tokens] = []
    with fip_client.Client(hub.url, on_tokens=saved.append) as client:
        answer = client.login(ada.username, ada.password)
        assert answer.expires_in == hub.token_ttl_seconds and answer.refresh_token
        assert saved[-1].refresh_token == answer.refresh_token

        for service in (hub.service_slug, hub.second_service_slug):
            credential = client.set_credential(service, hub.remote_token, label="lab account")
            assert credential.has_api_token and hub.remote_token not in credential.masked_token
            verdict = client.test_credential(service)
            assert verdict.valid, verdict.message

        seen: list[tuple[int, int]] = []
        uploaded = client.upload(hub.vcf, progress=lambda done, total: seen.append((done, total)))
        size = hub.vcf.stat().st_size
        assert uploaded.size_bytes == size
        assert uploaded.sha256 == sha256(hub.vcf)
        assert seen[0] == (0, size) and seen[-1] == (size, size)
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)

        parent = client.submit(
            uploaded.id,
            [Target(hub.service_slug, hub.panel_slug), Target(hub.second_service_slug, hub.panel_slug)],
            name="sdk two targets",
        )
        done = client.wait(parent.id)
        assert done.status == job_pb2.JOB_STATUS_COMPLETED
        assert len(done.child_job_ids) == 2

        paths = client.download(parent.id, tmp_path / "results")
        assert paths
        for child in done.child_job_ids:
            results = client.results(child)
            assert results.complete and results.files
            for result in results.files:
                path = tmp_path / "results" / child / Path(result.name).name
                assert path in paths
                assert path.stat().st_size == result.size_bytes
                assert sha256(path) == result.sha256

        # A broken download resumes from its .part file.
        result = client.results(done.child_job_ids[0]).files[0]
        whole = (tmp_path / "results" / done.child_job_ids[0] / Path(result.name).name).read_bytes()
        resumed = tmp_path / "resumed"
        resumed.mkdir()
        (resumed / (Path(result.name).name + ".part")).write_bytes(whole[: len(whole) // 2])
        path = client.download_result(result, resumed)
        assert path.read_bytes() == whole
        assert not (resumed / (Path(result.name).name + ".part")).exists()

        # A corrupt .part fails the check and is deleted.
        corrupt = tmp_path / "corrupt"
        corrupt.mkdir()
        part = corrupt / (Path(result.name).name + ".part")
        part.write_bytes(b"\0" * (len(whole) // 2))
        with pytest.raises(errors.IntegrityCheckFailed) as failure:
            client.download_result(result, corrupt)
        assert failure.value.reason == "INTEGRITY_CHECK_FAILED"
        assert not part.exists() and not (corrupt / Path(result.name).name).exists()

        # Every list across pages, one item a page, is the same as in one page.
        one_page = [j.id for j in client.jobs(page_size=100)]
        paged = [j.id for j in client.jobs(page_size=1)]
        assert len(paged) >= 3 and paged == one_page
        assert parent.id in paged

        client.logout()


def test_the_async_client_watches_a_job_to_its_end(hub: Hub, ada: Account, tmp_path: Path) -> None:
    async def flow() -> None:
        async with AsyncClient(hub.url) as client:
            await client.login(ada.username, ada.password)
            await client.set_credential(hub.service_id, hub.remote_token)
            uploaded = await client.upload(hub.vcf)
            job = await client.submit(uploaded.id, Target(hub.service_id, hub.panel_id), name="sdk async")
            statuses = []
            async for event in client.watch(job.id):
                if event.HasField("job"):
                    statuses.append(event.job.status)
                    if event.job.status == job_pb2.JOB_STATUS_COMPLETED:
                        break
            assert statuses[-1] == job_pb2.JOB_STATUS_COMPLETED
            assert job_pb2.JOB_STATUS_RUNNING in statuses or len(statuses) > 1
            done = await client.wait(job.id)
            assert done.status == job_pb2.JOB_STATUS_COMPLETED
            paths = await client.download(job.id, tmp_path)
            files = (await client.results(job.id)).files
            assert sorted(p.name for p in paths) == sorted(Path(f.name).name for f in files)
            for path, result in zip(sorted(paths), sorted(files, key=lambda f: Path(f.name).name)):
                assert sha256(path) == result.sha256
            jobs = [j.id async for j in client.jobs(page_size=1)]
            assert job.id in jobs

    asyncio.run(flow())
