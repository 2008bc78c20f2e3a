"""Fixtures for the tests of the connector in process, with Procurify played by requests-mock
or an in-memory fake."""

from __future__ import annotations

import pytest
import requests_mock as requests_mock_module
from shared import FakeClock
from unit.destination_helpers import VENDORS, FakeProcurify


@pytest.fixture
def clock() -> FakeClock:
    """A clock at 0 that only moves when slept (or when a test moves it)."""
    return FakeClock()


@pytest.fixture
def fake(requests_mock: requests_mock_module.Mocker) -> FakeProcurify:
    """Procurify's vendors behind requests-mock (with PATCH), for the destination tests; a
    module may define its own ``fake`` instead."""
    return FakeProcurify(requests_mock).serve(VENDORS, patch=True)
