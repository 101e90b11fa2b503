"""The hub under test: tests/e2e/python_sdk.rs starts the platform and the
Cloudgene emulator and passes them here in environment variables."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

import fip_client
from fip_client._proto.fip.user.v1 import auth_pb2


@dataclass(frozen=True)
class Hub:
    url: str
    vcf: Path
    remote_token: str
    service_id: int
    service_slug: str
    second_service_slug: str
    panel_id: int
    panel_slug: str
    token_ttl_seconds: int


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run this suite through tests/e2e/python_sdk.rs")
    return value


@pytest.fixture(scope="session")
def hub() -> Hub:
    return Hub(
        url=_env("FIP_URL"),
        vcf=Path(_env("FIP_VCF")),
        remote_token=_env("FIP_REMOTE_TOKEN"),
        service_id=int(_env("FIP_SERVICE_ID")),
        service_slug=_env("FIP_SERVICE_SLUG"),
        second_service_slug=_env("FIP_SECOND_SERVICE_SLUG"),
        panel_id=int(_env("FIP_PANEL_ID")),
        panel_slug=_env("FIP_PANEL_SLUG"),
        token_ttl_seconds=int(_env("FIP_TOKEN_TTL_SECONDS")),
    )


@dataclass(frozen=True)
class Account:
    username: str
    password: str


@pytest.fixture
def account(hub: Hub) -> Account:
    """A newly registered researcher."""
    name = "py" + uuid.uuid4().hex[:10]
    password = f"{name} long passphrase"
    with fip_client.Client(hub.url) as client:
        client.users.Register(
            auth_pb2.RegisterRequest(
                username=name,
                email=f"{name}@example.org",
                password=password,
                first_name="Py",
                last_name="Test",
            )
        )
    return Account(name, password)


@pytest.fixture(scope="session")
def ada(hub: Hub) -> Account:
    """The researcher whose emulator token the hub was given (ada)."""
    password = "ada's long passphrase"
    with fip_client.Client(hub.url) as client:
        client.users.Register(
            auth_pb2.RegisterRequest(
                username="ada",
                email="ada@example.org",
                password=password,
                first_name="Ada",
                last_name="Lovelace",
            )
        )
    return Account("ada", password)
