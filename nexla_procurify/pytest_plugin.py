"""The sandbox as pytest fixtures, so that a host's own tests can run against one.

Installed with the package, pytest loads it by entry point (``pytest11``: ``procurify_sandbox``;
``-p no:procurify_sandbox`` turns it off)::

    def test_live_check(procurify_credential):
        result = Host().validate_credential("procurify", procurify_credential, live=True)
        assert result.ok

    @pytest.mark.procurify_sandbox(records=5, seed=7)      # options of ``Sandbox``
    def test_with_five_vendors(procurify_sandbox): ...

``procurify_loopback``: the connector accepts loopback base URLs during the test.
``procurify_sandbox``: a ``Sandbox`` running for the test (loopback allowed), stopped after it.
``procurify_credential``: the credential dict for that sandbox (it holds the sandbox's secret).

It lives outside ``nexla_procurify.sandbox`` and imports the sandbox only when a fixture is
used: pytest loads the plugin at startup in every run of an environment that has the package.
"""

from __future__ import annotations

__all__ = ["procurify_credential", "procurify_loopback", "procurify_sandbox"]

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from nexla_procurify.credential import ALLOW_LOOPBACK_ENV

if TYPE_CHECKING:
    from nexla_procurify.sandbox import Sandbox

MARKER = "procurify_sandbox"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): start the test's procurify_sandbox as Sandbox(**options)",
    )


@pytest.fixture
def procurify_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The connector accepts loopback base URLs (the sandbox's) until the test ends."""
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")


@pytest.fixture
def procurify_sandbox(
    procurify_loopback: None, request: pytest.FixtureRequest
) -> Iterator[Sandbox]:
    """A sandbox running on loopback for this test, with the options of the test's
    ``procurify_sandbox`` marker if it has one."""
    from nexla_procurify.sandbox import Sandbox

    marker = request.node.get_closest_marker(MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    with Sandbox(**options) as running:
        yield running


@pytest.fixture
def procurify_credential(procurify_sandbox: Sandbox) -> dict[str, Any]:
    """The credential for this test's sandbox."""
    return procurify_sandbox.credential()
