"""Fixtures for every test folder. The sandbox fixtures are the package's pytest plugin
(``nexla_procurify.pytest_plugin``, loaded by its entry point), under the names used here."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from nexla_procurify.sandbox import Sandbox

pytest_plugins = ["pytester"]


@pytest.fixture
def allow_loopback(procurify_loopback: None) -> None:
    """The connector accepts loopback base URLs (the sandbox's, the hostile server's)."""


@pytest.fixture
def sandbox(procurify_sandbox: Sandbox) -> Sandbox:
    """A sandbox for this test (loopback allowed), stopped after it."""
    return procurify_sandbox


@pytest.fixture(autouse=True)
def _urllib3_log_level() -> Iterator[None]:
    """The command line quiets urllib3's logger for its process (it logs query strings):
    each test starts with it as it was."""
    logger = logging.getLogger("urllib3")
    level = logger.level
    yield
    logger.setLevel(level)
