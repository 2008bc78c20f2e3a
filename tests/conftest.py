"""Fixtures for every test folder. The sandbox fixtures are the package's pytest plugin
(``nexla_procurify.pytest_plugin``, loaded by its entry point), under the names used here."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from nexla_procurify.sandbox import Sandbox

pytest_plugins = ["pytester"]

# No timed assertions, Hypothesis's included: on a shared, loaded machine an example may take
# any time. A test's own @settings keeps these unless it sets the same keys.
settings.register_profile("untimed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("untimed")


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
