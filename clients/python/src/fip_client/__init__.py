"""The Federated Imputation Platform's Python client.

`Client` (sync) and `fip_client.aio.AsyncClient` (asyncio) sign in, store
and test credentials, upload, submit, watch, wait and download with the
SHA-256 checked; errors are `fip_client.errors.FipError` subclasses. The
generated messages and stubs are under `fip_client._proto.fip` (one module
per proto file, e.g. `fip_client._proto.fip.jobs.v1.job_pb2`).
"""

from fip_client._core import Progress, Target, Tokens
from fip_client.aio import AsyncClient
from fip_client.client import Client
from fip_client.errors import FipError

__all__ = ["AsyncClient", "Client", "FipError", "Progress", "Target", "Tokens"]
__version__ = "0.1.0"
