"""Values and fakes that more than one test module uses (fixtures are in ``conftest.py`` files).

Importable from every test folder: ``pythonpath`` in ``pyproject.toml`` puts ``tests/`` first.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from nexla_procurify import plugin
from nexla_procurify.host import Host
from nexla_procurify.messages import Checkpoint, Record
from nexla_procurify.sandbox.contract import undeclared_fields

__all__ = [
    "BASE",
    "OPTIONAL_MODULES",
    "REPO",
    "SERVER_DATE",
    "FakeClock",
    "assert_records_match",
    "host_read",
    "no_sleep",
    "optional_missing",
]

REPO = Path(__file__).resolve().parent.parent
"""The repository checkout the tests run from."""

OPTIONAL_MODULES = {"nexla_procurify.dlt": "dlt"}
"""Modules of optional extras, and the package each needs: imported only where it is installed."""


def optional_missing(module: str) -> bool:
    """Whether ``module`` (dotted) belongs to an optional extra that is not installed here."""
    needs = OPTIONAL_MODULES.get(module)
    return needs is not None and importlib.util.find_spec(needs) is None


BASE = "https://acme.procurify.com"
"""The base URL of the Procurify that requests-mock and the in-memory fakes play."""

SERVER_DATE = "Sun, 29 Nov 2026 16:00:00 GMT"
"""The ``Date`` header the fakes answer with (reads take their cutoff from it)."""


class FakeClock:
    """A monotonic clock that only moves when the client sleeps (or a test moves it)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def no_sleep(_: float) -> None:
    """A ``sleep`` that returns at once (for pacing that a test does not look at)."""
    return None


def host_read(
    session: Any, config: dict[str, Any], state: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A read through the ``read_source`` hook, as a host drives it: (records, states)."""
    records, states = [], []
    for message in Host(plugins=[plugin]).read("procurify", session, config, state):
        if isinstance(message, Record):
            records.append(dict(message.record))
        else:
            assert isinstance(message, Checkpoint)
            states.append(dict(message.value))
    return records, states


def assert_records_match(
    credential: dict[str, Any], name: str, schema: dict[str, Any], defs: dict[str, Any]
) -> None:
    """Every record of resource ``name`` read through the hooks (with ``credential``, at least
    one) validates against ``schema`` and holds no field it does not declare (its ``$ref``s
    resolved in ``defs``)."""
    check = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    host = Host(plugins=[plugin])
    seen = 0
    with host.authenticate("procurify", credential) as session:
        for message in host.read("procurify", session, {"resource": name}, None):
            if not isinstance(message, Record):
                continue
            record = dict(message.record)
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in check.iter_errors(record)]
            assert errors == [], (name, errors[:5])
            assert undeclared_fields(schema, record, defs) == [], name
            seen += 1
    assert seen > 0, f"the sandbox served no {name} record"
