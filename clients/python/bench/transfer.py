"""Upload and download of one file through the SDK against a running
gateway: throughput and this process's peak RSS.

    python clients/python/bench/transfer.py --url http://127.0.0.1:8080 \
        --username ada --password-env FIP_PASSWORD --size-mib 1024

Run it once per size (each run is its own process, so the peak RSS is that
size's): a flat RSS across sizes shows memory is constant in the file size.
The file is random bytes, written to --dir and deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import fip_client
from fip_client._proto.fip.files.v1 import file_pb2
from fip_client._proto.fip.jobs.v1 import job_result_pb2


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password-env", default="FIP_PASSWORD")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(dir=args.dir, prefix="fip-bench-"))
    source = work / "bench.bin"
    size = args.size_mib << 20
    with source.open("wb") as out:
        for _ in range(args.size_mib):
            out.write(os.urandom(1 << 20))
    baseline = peak_rss_mib()

    with fip_client.Client(args.url) as client:
        client.login(args.username, os.environ[args.password_env])
        started = time.perf_counter()
        uploaded = client.upload(source, name="bench.bin")
        upload_s = time.perf_counter() - started
        after_upload = peak_rss_mib()
        assert uploaded.size_bytes == size

        result = job_result_pb2.JobResultFile(
            file_id=uploaded.id, name="bench.bin", size_bytes=size, sha256=uploaded.sha256
        )
        started = time.perf_counter()
        path = client.download_result(result, work / "down")
        download_s = time.perf_counter() - started
        assert path.stat().st_size == size
        client.call(client.files.DeleteFile, file_pb2.DeleteFileRequest(id=uploaded.id))

    shutil.rmtree(work)
    print(json.dumps({
        "size_mib": args.size_mib,
        "upload_mib_s": round(args.size_mib / upload_s, 1),
        "download_mib_s": round(args.size_mib / download_s, 1),
        "peak_rss_mib_before": round(baseline, 1),
        "peak_rss_mib_after_upload": round(after_upload, 1),
        "peak_rss_mib_end": round(peak_rss_mib(), 1),
    }))


if __name__ == "__main__":
    main()
