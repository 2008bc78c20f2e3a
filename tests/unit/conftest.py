"""Fixtures for the tests of the connector in process, with Procurify played by requests-mock
or an in-memory fake."""

from __future__ import annotations

import pytest
from shared import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A clock at 0 that only moves when slept (or when a test moves it)."""
    return FakeClock()
