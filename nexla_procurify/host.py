"""A minimal reference host: loads connector plugins by entry point and drives the hooks."""

from __future__ import annotations

__all__ = ["Host"]

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pluggy

from nexla_procurify import hookspecs
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.messages import Checkpoint, Record


class Host:
    """What a Nexla-style host does with a connector, in a few lines of pluggy.

    Each method calls one hook for ``connector_type`` and returns the answer of the plugin that
    handles that type; when none does, a ``ConfigurationError`` names the installed types."""

    def __init__(self, plugins: Iterable[object] | None = None) -> None:
        """Load the connectors installed under the ``nexla.connectors`` entry point group, or
        register exactly ``plugins`` (hook implementation modules or objects) when given."""
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.plugin_manager.add_hookspecs(hookspecs)
        if plugins is None:
            self.plugin_manager.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
        else:
            for plugin in plugins:
                self.plugin_manager.register(plugin)

    @property
    def hook(self) -> Any:
        """The plugin manager's hook caller, for calling a hook directly."""
        return self.plugin_manager.hook

    def manifests(self) -> list[dict[str, Any]]:
        """The parsed ``connector.json`` of every registered connector."""
        return list(self.hook.connector_manifest())

    def connector_types(self) -> list[str]:
        """The ``type`` of every registered connector (``procurify``)."""
        return [manifest["type"] for manifest in self.manifests()]

    def validate_credential(
        self, connector_type: str, credential: dict[str, Any], *, live: bool = False
    ) -> Any:
        """A ``ValidationResult`` for ``credential``; with ``live``, after also exchanging a
        token and calling Procurify."""
        return self._answer(
            connector_type,
            self.hook.validate_credential(
                connector_type=connector_type, credential=credential, live=live
            ),
        )

    def authenticate(self, connector_type: str, credential: dict[str, Any]) -> Any:
        """A session for ``credential`` (a context manager; ``close()`` releases it), safe to
        share between threads; raises ``CredentialError`` for an invalid credential."""
        return self._answer(
            connector_type,
            self.hook.authenticate(connector_type=connector_type, credential=credential),
        )

    def read(
        self,
        connector_type: str,
        session: Any,
        config: dict[str, Any],
        state: dict[str, Any] | None = None,
    ) -> Iterator[Any]:
        """The ``Record`` and ``Checkpoint`` messages of reading ``config`` from ``state`` (the
        last checkpoint's value of an earlier run, or ``None``), lazily."""
        messages: Iterator[Any] = self._answer(
            connector_type,
            self.hook.read_source(
                connector_type=connector_type, session=session, config=config, state=state
            ),
        )
        return messages

    def read_many(
        self,
        connector_type: str,
        session: Any,
        configs: Mapping[str, dict[str, Any]],
        state: dict[str, Any] | None = None,
    ) -> Iterator[Any]:
        """Several sources at once: ``configs`` maps a stream name of your choosing to a
        source configuration. ``Record`` messages carry their stream's name; each
        ``Checkpoint`` holds every stream's state (``{"streams": {name: state}}``), to hand
        back as ``state`` on the next run. A plugin with the ``read_sources`` hook reads the
        streams side by side in one request budget; for one without it, they are read one
        after the other through ``read_source``, with the same messages."""
        messages: Iterator[Any] | None = self.hook.read_sources(
            connector_type=connector_type, session=session, configs=dict(configs), state=state
        )
        if messages is not None:
            return messages
        if connector_type not in self.connector_types():
            self._answer(connector_type, None)  # raises: no connector handles the type
        return self._one_after_another(connector_type, session, configs, state)

    def _one_after_another(
        self,
        connector_type: str,
        session: Any,
        configs: Mapping[str, dict[str, Any]],
        state: dict[str, Any] | None,
    ) -> Iterator[Any]:
        saved = (state or {}).get("streams") or {}
        states = dict(saved)
        for name, config in configs.items():
            for message in self.read(connector_type, session, config, saved.get(name)):
                if isinstance(message, Record):
                    yield Record(name, message.record)
                elif isinstance(message, Checkpoint):
                    states[name] = message.value
                    yield Checkpoint({"streams": dict(states)})
                else:
                    yield message

    def write(
        self,
        connector_type: str,
        session: Any,
        config: dict[str, Any],
        records: Iterable[dict[str, Any]],
    ) -> Iterator[Any]:
        """One ``WriteResult`` per record of ``records``, in input order, lazily."""
        results: Iterator[Any] = self._answer(
            connector_type,
            self.hook.write_destination(
                connector_type=connector_type, session=session, config=config, records=records
            ),
        )
        return results

    def _answer(self, connector_type: str, answer: Any) -> Any:
        if answer is None:
            known = ", ".join(self.connector_types()) or "none"
            raise ConfigurationError(
                f"No installed connector handles type {connector_type!r} (installed: {known})."
            )
        return answer
