from __future__ import annotations

from collections.abc import Iterator

import pytest

from nexla_procurify.credential import ALLOW_LOOPBACK_ENV
from nexla_procurify.sandbox import Sandbox


@pytest.fixture
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")


@pytest.fixture
def sandbox(allow_loopback: None) -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running
