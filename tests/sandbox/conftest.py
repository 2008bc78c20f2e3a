"""Fixtures for the sandbox's own tests (its answers, data, lists and writes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nexla_procurify.credential import ALLOW_LOOPBACK_ENV


@pytest.fixture(scope="module")
def allow_module_loopback() -> Iterator[None]:
    """Loopback base URLs accepted for a whole module (for module-scoped sandboxes)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ALLOW_LOOPBACK_ENV, "1")
        yield
