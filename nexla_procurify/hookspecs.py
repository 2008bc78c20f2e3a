"""The host contract: pluggy markers for the ``nexla`` project and the hook specifications.

Every implementation returns ``None`` for a ``connector_type`` that is not its own, so that
several connectors can share one plugin manager.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pluggy

PROJECT = "nexla"
ENTRY_POINT_GROUP = "nexla.connectors"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class ConnectorSpec:
    @hookspec
    def connector_manifest(self) -> dict[str, Any]:
        """The parsed ``connector.json`` of the plugin (every plugin answers)."""
        raise AssertionError("hook specification")

    @hookspec(firstresult=True)
    def validate_credential(
        self, connector_type: str, credential: dict[str, Any], live: bool
    ) -> Any:
        """A ``ValidationResult``; with ``live`` also exchange a token and call Procurify."""
        raise AssertionError("hook specification")

    @hookspec(firstresult=True)
    def authenticate(self, connector_type: str, credential: dict[str, Any]) -> Any:
        """A session bound to the credential's Base URL, safe to share between threads."""
        raise AssertionError("hook specification")

    @hookspec(firstresult=True)
    def read_source(
        self,
        connector_type: str,
        session: Any,
        config: dict[str, Any],
        state: dict[str, Any] | None,
    ) -> Iterator[Any]:
        """An iterator of ``Record`` and ``Checkpoint`` messages."""
        raise AssertionError("hook specification")

    @hookspec(firstresult=True)
    def write_destination(
        self,
        connector_type: str,
        session: Any,
        config: dict[str, Any],
        records: Iterable[dict[str, Any]],
    ) -> Iterator[Any]:
        """An iterator of ``WriteResult``, exactly one per input record, in input order."""
        raise AssertionError("hook specification")
