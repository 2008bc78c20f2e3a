"""Secrets that Procurify (or something posing as it) echoes back never reach a message."""

from __future__ import annotations

import pytest
import requests_mock
from shared import BASE

from nexla_procurify import auth
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import Credential, Secret, redact
from nexla_procurify.errors import ApiError, AuthenticationError
from nexla_procurify.http import HttpClient, HttpPolicy, error_for_response

SECRET = "S3CR3T/with+odd=chars"
TOKEN = "tok-ABCDEFGHIJKLMNOP"


def session() -> ProcurifySession:
    credential = Credential("test", "client", Secret(SECRET), BASE)
    return ProcurifySession(credential, client=HttpClient(HttpPolicy(), sleep=lambda _: None))


def test_redact_masks_plain_and_json_escaped_forms() -> None:
    escaped = SECRET.replace("/", "\\/")
    text = ('{"a": "' + SECRET + '", "b": "' + escaped + '"}').encode()
    assert SECRET.encode() not in redact(text, [Secret(SECRET)])
    assert b"S3CR3T" not in redact(text, [Secret(SECRET)])


def test_a_token_endpoint_echoing_the_secret_does_not_leak_it(
    requests_mock: requests_mock.Mocker,
) -> None:
    requests_mock.post(
        f"{BASE}/api/v3/oauth/token",
        status_code=422,
        json={"client_secret": [f"'{SECRET}' is not valid"]},
    )
    with session() as opened, pytest.raises(ApiError) as raised:
        opened.get("/api/v3/users/me")
    assert SECRET not in str(raised.value)
    assert SECRET not in repr(raised.value.field_errors)


def test_an_api_error_echoing_the_token_does_not_leak_it(
    requests_mock: requests_mock.Mocker,
) -> None:
    requests_mock.post(
        f"{BASE}/api/v3/oauth/token", json={"access_token": TOKEN, "expires_in": 86400}
    )
    requests_mock.get(
        f"{BASE}/api/v3/vendors",
        status_code=400,
        json={"detail": [f"Bad header Bearer {TOKEN} with {SECRET}"]},
    )
    with session() as opened:
        response = opened.get("/api/v3/vendors")
        message = error_for_response(response, "read vendors").message
    assert TOKEN not in message
    assert SECRET not in message
    assert "********" in message


def test_live_check_with_an_echoing_token_endpoint_keeps_the_secret_out(
    requests_mock: requests_mock.Mocker,
) -> None:
    requests_mock.post(
        f"{BASE}/api/v3/oauth/token", status_code=401, json={"error": f"bad secret {SECRET}"}
    )
    credential = Credential("test", "client", Secret(SECRET), BASE)
    result = auth.check_connection(credential)
    assert not result.ok
    assert SECRET not in repr(result.to_dict())
    with session() as opened, pytest.raises(AuthenticationError) as raised:
        opened.get("/api/v3/users/me")
    assert SECRET not in str(raised.value)
