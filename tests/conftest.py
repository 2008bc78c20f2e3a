from __future__ import annotations

import logging
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


@pytest.fixture(autouse=True)
def _urllib3_log_level() -> Iterator[None]:
    """The command line quiets urllib3's logger for its process (it logs query strings):
    each test starts with it as it was."""
    logger = logging.getLogger("urllib3")
    level = logger.level
    yield
    logger.setLevel(level)
