"""Errors as typed exceptions with their reason and metadata, and the
session's renewals."""

from __future__ import annotations

import time

import grpc
import pytest

import fip_client
from fip_client import Target, errors
from fip_client._proto.fip.registry.v1 import imputation_service_pb2

from conftest import Account, Hub


def test_a_submission_without_a_credential_names_the_service_and_the_settings_page(
    hub: Hub, account: Account
) -> None:
    with fip_client.Client(hub.url) as client:
        client.login(account.username, account.password)
        uploaded = client.upload(hub.vcf)
        with pytest.raises(errors.CredentialsMissing) as failure:
            client.submit(uploaded.id, Target(hub.service_slug, hub.panel_slug), name="no credential")
    error = failure.value
    assert isinstance(error, errors.FipError)
    assert error.reason == "CREDENTIALS_MISSING" and error.reason_number == 12
    assert error.service_id == hub.service_id
    assert error.settings_path
    assert error.code is not None and error.code.name == "FAILED_PRECONDITION"


def test_wrong_passwords_are_refused_then_throttled(hub: Hub, account: Account) -> None:
    with fip_client.Client(hub.url) as client:
        with pytest.raises(errors.LoginFailed):
            client.login(account.username, "not the passphrase")
        throttled = None
        for _ in range(10):
            try:
                client.login(account.username, "not the passphrase")
            except errors.LoginThrottled as error:
                throttled = error
                break
            except errors.LoginFailed:
                continue
    assert throttled is not None, "five failures are throttled"
    assert throttled.retry_after_seconds is not None and throttled.retry_after_seconds > 0


def test_an_unknown_target_is_not_found(hub: Hub, account: Account) -> None:
    with fip_client.Client(hub.url) as client:
        client.login(account.username, account.password)
        with pytest.raises(errors.NotFound):
            client.service("no-such-service")


def test_tokens_are_renewed_when_due_and_a_replayed_refresh_token_ends_the_session(
    hub: Hub, account: Account
) -> None:
    saved: list[fip_client.Tokens] = []
    with fip_client.Client(hub.url, on_tokens=saved.append) as client:
        client.login(account.username, account.password)
        first = saved[-1]

        # Due for renewal: the next call renews first, and keeps the new pair.
        assert client.session.tokens is not None
        client.session.tokens.expires_at = 0.0
        assert client.services()
        assert len(saved) == 2
        second = saved[-1]
        assert second.refresh_token != first.refresh_token
        assert client.session.tokens is second

        # The first refresh token was used: presenting it again ends the session.
        client.session.tokens = fip_client.Tokens(second.access_token, first.refresh_token)
        with pytest.raises(errors.SessionEnded):
            client.refresh()
        client.session.tokens = second
        with pytest.raises(errors.SessionEnded) as ended:
            client.services()
        assert ended.value.reason == "SESSION_ENDED"
        with pytest.raises(errors.SessionEnded):
            client.refresh()


def test_a_call_answered_token_expired_is_renewed_and_made_again(hub: Hub, account: Account) -> None:
    saved: list[fip_client.Tokens] = []
    with fip_client.Client(hub.url, on_tokens=saved.append) as client:
        client.login(account.username, account.password)
        assert client.session.tokens is not None
        client.session.tokens.expires_at = float("inf")  # no renewal before the call

        # The hub's tokens live FIP_TOKEN_TTL_SECONDS: call the raw stub until
        # it refuses this one as expired.
        deadline = time.monotonic() + 10 * hub.token_ttl_seconds + 10
        refused: errors.FipError | None = None
        while refused is None:
            try:
                client.registry.ListServices(
                    imputation_service_pb2.ListServicesRequest(), metadata=client.session.metadata()
                )
            except grpc.RpcError as error:
                refused = errors.from_rpc_error(error)
            assert time.monotonic() < deadline, "the access token never expired"
            time.sleep(0.05)
        assert isinstance(refused, errors.TokenExpired), refused

        # The SDK's call meets the same refusal, renews, and calls again.
        assert client.services()
        assert len(saved) == 2
        assert saved[-1].refresh_token != saved[0].refresh_token
