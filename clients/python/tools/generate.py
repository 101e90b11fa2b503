"""Regenerates fip_client._proto from proto/: messages (protoc's python and
pyi outputs), gRPC stubs (grpcio-tools) and typed stubs (mypy-protobuf).

Run by scripts/generate-sdks (optionally with another proto/ folder as the
argument) with tools/python/sdk-venv's interpreter, which
has the pinned grpcio-tools and mypy-protobuf. The platform's internal
protos (*_internal.proto) are left out: the gateway does not route them.
The google/api and google/rpc imports resolve to googleapis-common-protos.

protoc names modules after the proto files (fip.user.v1.auth_pb2); the
package ships them under fip_client._proto, so module paths are rewritten
to fip_client._proto.fip... (proto full names such as
"/fip.user.v1.UserService/Login" do not end in _pb2 and are left alone).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[3]
PROTO = ROOT / "proto"
OUT = ROOT / "clients/python/src/fip_client/_proto"
PACKAGE = "fip_client._proto"

MODULE = re.compile(r"\bfip\.(?P<path>(?:\w+\.)*\w+_pb2(?:_grpc)?)\b")
FROM = re.compile(r"^from fip\.(?P<path>[\w.]+) import ", re.MULTILINE)


def main() -> int:
    global PROTO
    if len(sys.argv) > 1:
        PROTO = Path(sys.argv[1]).resolve()
    sources = sorted(
        p.relative_to(PROTO).as_posix()
        for p in (PROTO / "fip").rglob("*.proto")
        if not p.name.endswith("_internal.proto")
    )
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    mypy = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO}",
        f"-I{PROTO / 'third_party'}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",
        f"--plugin=protoc-gen-mypy={mypy / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={mypy / 'protoc-gen-mypy_grpc'}",
        f"--python_out={OUT}",
        f"--mypy_out=quiet:{OUT}",
        f"--grpc_python_out={OUT}",
        f"--mypy_grpc_out=quiet:{OUT}",
        *sources,
    ]
    if protoc.main(args) != 0:
        print("generate.py: protoc failed", file=sys.stderr)
        return 1
    for path in sorted(OUT.rglob("*.py*")):
        text = path.read_text()
        text = FROM.sub(lambda m: f"from {PACKAGE}.fip.{m['path']} import ", text)
        text = MODULE.sub(lambda m: f"{PACKAGE}.fip.{m['path']}", text)
        path.write_text(text)
    for folder in [OUT, *sorted(p for p in OUT.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").write_text("")
    return 0


if __name__ == "__main__":
    sys.exit(main())
