"""Fixtures for the tests of the connector in process, with Procurify played by requests-mock
or an in-memory fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests_mock as requests_mock_module
from shared import BASE, FakeClock, no_sleep
from unit.destination_helpers import VENDORS, FakeProcurify

from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.http import HttpClient, HttpPolicy


@pytest.fixture
def clock() -> FakeClock:
    """A clock at 0 that only moves when slept (or when a test moves it)."""
    return FakeClock()


@pytest.fixture
def fake(requests_mock: requests_mock_module.Mocker) -> FakeProcurify:
    """Procurify's vendors behind requests-mock (with PATCH), for the destination tests; a
    module may define its own ``fake`` instead."""
    return FakeProcurify(requests_mock).serve(VENDORS, patch=True)


@pytest.fixture
def session(requests_mock: requests_mock_module.Mocker) -> Iterator[ProcurifySession]:
    """An open session to Procurify played by requests-mock (its token endpoint answers), for
    the reading tests; a module may define its own ``session`` instead."""
    requests_mock.post(
        f"{BASE}/api/v3/oauth/token",
        json={"access_token": "t0k3n", "expires_in": 86400, "token_type": "Bearer"},
    )
    credential = Credential("test", "client", Secret("s3cr3t-value-never-shown"), BASE)
    with ProcurifySession(credential, client=HttpClient(HttpPolicy(), sleep=no_sleep)) as opened:
        yield opened
