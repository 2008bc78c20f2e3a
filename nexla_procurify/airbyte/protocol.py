"""The Airbyte protocol in the source's terms: the messages it prints (``SPEC``,
``CONNECTION_STATUS``, ``CATALOG``, ``RECORD``, per-stream ``STATE``, ``TRACE``), the catalog of
every readable resource, and what a configured catalog and a saved state say."""

from __future__ import annotations

__all__ = [
    "ConfiguredStream",
    "catalog",
    "configured_streams",
    "connection_status",
    "record",
    "spec",
    "stream_state",
    "stream_states",
    "stream_status",
    "trace_error",
]

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from nexla_procurify.errors import ConfigurationError
from nexla_procurify.flat_config import flat_schema
from nexla_procurify.resources import Resource, catalogue
from nexla_procurify.source import schema_message

FailureType = Literal["config_error", "system_error", "transient_error"]
Status = Literal["STARTED", "RUNNING", "COMPLETE", "INCOMPLETE"]


def _now_ms() -> int:
    return int(time.time() * 1000)


def spec() -> dict[str, Any]:
    """The ``SPEC`` message: the flat configuration's schema, the secret marked for Airbyte."""
    schema = flat_schema()
    schema["properties"]["client_secret"]["airbyte_secret"] = True
    return {
        "type": "SPEC",
        "spec": {
            "connectionSpecification": schema,
            "supportsIncremental": True,
            "supported_destination_sync_modes": ["overwrite", "append", "append_dedup"],
        },
    }


def connection_status(ok: bool, message: str | None = None) -> dict[str, Any]:
    """The ``CONNECTION_STATUS`` message of ``check``."""
    status: dict[str, Any] = {"status": "SUCCEEDED" if ok else "FAILED"}
    if message:
        status["message"] = message
    return {"type": "CONNECTION_STATUS", "connectionStatus": status}


def _stream(resource: Resource) -> dict[str, Any]:
    message = schema_message(resource)
    entry: dict[str, Any] = {
        "name": resource.name,
        "json_schema": dict(message.schema),
        "supported_sync_modes": ["full_refresh"],
        "source_defined_primary_key": [[name] for name in message.key_properties],
    }
    if resource.incremental is not None:
        entry["supported_sync_modes"].append("incremental")
        entry["source_defined_cursor"] = True
        entry["default_cursor_field"] = [resource.incremental.cursor_field]
    return entry


def catalog() -> dict[str, Any]:
    """The ``CATALOG`` message: every readable resource with its sync modes, cursor and key."""
    cat = catalogue()
    return {
        "type": "CATALOG",
        "catalog": {"streams": [_stream(cat.resources[name]) for name in cat.names("source")]},
    }


@dataclass(frozen=True)
class ConfiguredStream:
    """A stream of a configured catalog: whether it is read ``incremental``ly (from its saved
    state) and the fields its records keep (``None``: every field)."""

    stream: str
    incremental: bool
    fields: frozenset[str] | None

    def project(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` with only the fields the catalog selected (all when it selected none)."""
        if self.fields is None:
            return dict(data)
        return {name: value for name, value in data.items() if name in self.fields}


def configured_streams(configured: object) -> list[ConfiguredStream]:
    """The streams a configured catalog asks for, in its order; a ``ConfigurationError`` for one
    that is not a configured catalog of this source."""
    if not isinstance(configured, Mapping) or not isinstance(configured.get("streams"), list):
        raise ConfigurationError(
            "The catalog must be a configured catalog: an object with a 'streams' list."
        )
    cat = catalogue()
    readable = cat.names("source")
    chosen = []
    for number, item in enumerate(configured["streams"]):
        stream = item.get("stream") if isinstance(item, Mapping) else None
        name = stream.get("name") if isinstance(stream, Mapping) else None
        if not isinstance(name, str):
            raise ConfigurationError(f"Configured stream {number} has no stream name.")
        if name not in readable:
            raise ConfigurationError(f"Unknown stream {name!r}; run discover again.")
        assert isinstance(stream, Mapping)
        resource = cat.resources[name]
        mode = item.get("sync_mode", "full_refresh")
        if mode not in ("full_refresh", "incremental"):
            raise ConfigurationError(f"Stream {name!r} cannot be read with sync_mode {mode!r}.")
        fields = None
        json_schema = stream.get("json_schema")
        properties = json_schema.get("properties") if isinstance(json_schema, Mapping) else None
        if isinstance(properties, Mapping) and properties:
            fields = frozenset(
                [
                    *properties,
                    *resource.key,
                    *([resource.incremental.cursor_field] if resource.incremental else []),
                ]
            )
        # Hosts ask for ``incremental`` on every stream (PyAirbyte does): a stream without a
        # cursor is then read in full, as the Airbyte CDK does.
        incremental = mode == "incremental" and resource.incremental is not None
        chosen.append(ConfiguredStream(name, incremental, fields))
    return chosen


def stream_states(state: object) -> dict[str, Mapping[str, Any]]:
    """The per-stream states of a saved state: a list of ``STREAM`` state messages (or of
    ``STATE`` messages holding them), a ``LEGACY`` one, or an object of stream -> state."""
    if state is None or state == {} or state == []:
        return {}
    if isinstance(state, Mapping):
        state = [state] if "type" in state else [{"type": "LEGACY", "data": state}]
    if not isinstance(state, list):
        raise ConfigurationError("The state must be a list of Airbyte state messages.")
    found: dict[str, Mapping[str, Any]] = {}
    for item in state:
        if isinstance(item, Mapping) and item.get("type") == "STATE":
            item = item.get("state")
        if not isinstance(item, Mapping):
            raise ConfigurationError("Each state message must be an object.")
        kind = item.get("type", "LEGACY")
        if kind == "STREAM":
            stream = item.get("stream")
            descriptor = stream.get("stream_descriptor") if isinstance(stream, Mapping) else None
            name = descriptor.get("name") if isinstance(descriptor, Mapping) else None
            if not isinstance(stream, Mapping) or not isinstance(name, str):
                raise ConfigurationError(
                    "A STREAM state must hold stream.stream_descriptor.name and stream_state."
                )
            value = stream.get("stream_state")
            if isinstance(name, str) and isinstance(value, Mapping):
                found[name] = value
            elif isinstance(name, str) and value is not None:
                raise ConfigurationError(f"The state of stream {name!r} must be an object.")
        elif kind == "LEGACY" and isinstance(item.get("data"), Mapping):
            found.update(
                {
                    str(name): value
                    for name, value in item["data"].items()
                    if isinstance(value, Mapping)
                }
            )
        else:
            raise ConfigurationError(
                f"State messages of type {kind!r} are not supported: "
                "this source keeps one state per stream."
            )
    return found


def record(stream: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``RECORD`` message of one record, stamped with the time it is emitted."""
    return {
        "type": "RECORD",
        "record": {"stream": stream, "data": dict(data), "emitted_at": _now_ms()},
    }


def stream_state(stream: str, value: Mapping[str, Any], records: int) -> dict[str, Any]:
    """A per-stream ``STATE``; ``records``: records of the stream since its state before."""
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": stream}, "stream_state": dict(value)},
            "sourceStats": {"recordCount": float(records)},
        },
    }


def stream_status(stream: str, status: Status) -> dict[str, Any]:
    """The ``TRACE`` message saying where a stream stands (started, running, complete...)."""
    return {
        "type": "TRACE",
        "trace": {
            "type": "STREAM_STATUS",
            "emitted_at": float(_now_ms()),
            "stream_status": {"stream_descriptor": {"name": stream}, "status": status},
        },
    }


def trace_error(message: str, failure: FailureType, stream: str | None = None) -> dict[str, Any]:
    """The ``TRACE`` error message: what went wrong, whose fault, and for which stream."""
    error: dict[str, Any] = {"message": message, "failure_type": failure}
    if stream is not None:
        error["stream_descriptor"] = {"name": stream}
    return {
        "type": "TRACE",
        "trace": {"type": "ERROR", "emitted_at": float(_now_ms()), "error": error},
    }
