"""The host contract: pluggy markers for the ``nexla`` project and the hook specifications.

A host registers this module: ``pm.add_hookspecs(nexla_procurify.hookspecs)``. Every
implementation returns ``None`` for a ``connector_type`` that is not its own, so that several
connectors can share one plugin manager. Hosts pass every argument by keyword, ``live`` too:
pluggy gives hook implementations no defaults.
"""

from __future__ import annotations

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT",
    "authenticate",
    "connector_manifest",
    "hookimpl",
    "hookspec",
    "read_source",
    "read_sources",
    "validate_credential",
    "write_destination",
]

from collections.abc import Iterable, Iterator
from typing import Any

import pluggy

PROJECT = "nexla"
ENTRY_POINT_GROUP = "nexla.connectors"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def connector_manifest() -> dict[str, Any]:  # type: ignore[empty-body]
    """The parsed ``connector.json`` of the plugin (every plugin answers)."""


@hookspec(firstresult=True)
def validate_credential(connector_type: str, credential: dict[str, Any], live: bool) -> Any:
    """A ``ValidationResult``; with ``live`` also exchange a token and call Procurify."""


@hookspec(firstresult=True)
def authenticate(connector_type: str, credential: dict[str, Any]) -> Any:
    """A session bound to the credential's Base URL, safe to share between threads."""


@hookspec(firstresult=True)
def read_source(  # type: ignore[empty-body]
    connector_type: str, session: Any, config: dict[str, Any], state: dict[str, Any] | None
) -> Iterator[Any]:
    """An iterator of ``Record`` and ``Checkpoint`` messages."""


@hookspec(firstresult=True)
def read_sources(  # type: ignore[empty-body]
    connector_type: str,
    session: Any,
    configs: dict[str, dict[str, Any]],
    state: dict[str, Any] | None,
) -> Iterator[Any]:
    """Several sources read side by side in one request budget: ``Record`` messages (their
    ``stream`` the name ``configs`` gives) and ``Checkpoint`` messages holding every stream's
    state. Optional: ``Host.read_many`` reads one source after the other through
    ``read_source`` for a plugin that does not implement it."""


@hookspec(firstresult=True)
def write_destination(  # type: ignore[empty-body]
    connector_type: str, session: Any, config: dict[str, Any], records: Iterable[dict[str, Any]]
) -> Iterator[Any]:
    """An iterator of ``WriteResult``, exactly one per input record, in input order."""
