"""Fixtures for the tests that run the connector against the embedded sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexla_procurify.sandbox import Sandbox


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[Sandbox]:
    """One sandbox for a whole module (a sandbox takes about half a second to stop)."""
    with Sandbox() as running:
        yield running


@pytest.fixture
def credential_file(sandbox: Sandbox, tmp_path: Path) -> Path:
    """The test's sandbox credential in a file, as the command line takes it."""
    path = tmp_path / "credential.json"
    path.write_text(json.dumps(sandbox.credential()))
    return path
