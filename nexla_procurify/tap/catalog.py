"""The Singer catalog of the tap: discovery (every readable resource with the standard
metadata) and the selection an input catalog makes (streams, and properties within them).

Selection follows the Singer metadata rules as the Meltano SDK applies them: a stream or
property with ``inclusion: unsupported`` is never read and one with ``automatic`` (key
properties, the replication key) always is; otherwise ``selected`` decides, else
``selected-by-default``, else the stream's own selection. A stream without any metadata is
selected; a stream missing from the catalog is not read.
"""

from __future__ import annotations

__all__ = ["SelectedStream", "discover_catalog", "select", "select_all"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nexla_procurify.errors import ConfigurationError
from nexla_procurify.resources import Resource, catalogue
from nexla_procurify.source import schema_message

Breadcrumb = tuple[str, ...]


@dataclass(frozen=True)
class SelectedStream:
    """A stream to read: its ``schema`` (what the SCHEMA message carries, only the selected
    properties), ``key_properties``, ``bookmark_properties`` and the ``properties`` its records
    keep (``None``: every field)."""

    stream: str
    schema: Mapping[str, Any]
    key_properties: tuple[str, ...]
    bookmark_properties: tuple[str, ...]
    properties: frozenset[str] | None

    def project(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The record with only the selected properties."""
        if self.properties is None:
            return dict(record)
        return {name: value for name, value in record.items() if name in self.properties}


def _readable() -> list[Resource]:
    cat = catalogue()
    return [cat.resources[name] for name in cat.names("source")]


def _entry(resource: Resource) -> dict[str, Any]:
    message = schema_message(resource)
    schema = dict(message.schema)
    key = list(message.key_properties)
    replication_key = resource.incremental.cursor_field if resource.incremental else None
    automatic = {*key, *([replication_key] if replication_key else [])}
    root: dict[str, Any] = {
        "inclusion": "available",
        "selected-by-default": True,
        "table-key-properties": key,
        "forced-replication-method": "INCREMENTAL" if replication_key else "FULL_TABLE",
    }
    if replication_key:
        root["valid-replication-keys"] = [replication_key]
    metadata: list[dict[str, Any]] = [{"breadcrumb": [], "metadata": root}]
    for name in schema.get("properties", {}):
        metadata.append(
            {
                "breadcrumb": ["properties", name],
                "metadata": {
                    "inclusion": "automatic" if name in automatic else "available",
                    "selected-by-default": True,
                },
            }
        )
    entry: dict[str, Any] = {
        "tap_stream_id": resource.name,
        "stream": resource.name,
        "schema": schema,
        "key_properties": key,
        "replication_method": root["forced-replication-method"],
        "metadata": metadata,
    }
    if replication_key:
        entry["replication_key"] = replication_key
    return entry


def discover_catalog() -> dict[str, Any]:
    """The catalog of every readable resource (``--discover``)."""
    return {"streams": [_entry(resource) for resource in _readable()]}


def select_all() -> list[SelectedStream]:
    """Without a catalog: every stream selected by default, every property."""
    return [_selected(_entry(resource), _entry(resource)) for resource in _readable()]


def select(catalog: object) -> list[SelectedStream]:
    """The streams an input catalog selects, in catalogue order; a ``ConfigurationError``
    for a catalog that is not one, or names a stream this tap does not have."""
    if not isinstance(catalog, Mapping) or not isinstance(catalog.get("streams"), list):
        raise ConfigurationError("The catalog must be a JSON object with a 'streams' list.")
    given: dict[str, Mapping[str, Any]] = {}
    for number, entry in enumerate(catalog["streams"]):
        name = entry.get("tap_stream_id") if isinstance(entry, Mapping) else None
        if not isinstance(name, str):
            raise ConfigurationError(f"Catalog stream {number} has no 'tap_stream_id'.")
        given[name] = entry
    known = {resource.name: resource for resource in _readable()}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigurationError(
            f"The catalog names unknown stream(s): {', '.join(unknown)}; run --discover again."
        )
    chosen = []
    for name, resource in known.items():
        entry = given.get(name)
        if entry is None:
            continue
        metadata = _metadata(entry)
        if _is_selected(metadata, ()):
            chosen.append(_selected(entry, _entry(resource), metadata))
    return chosen


def _metadata(entry: Mapping[str, Any]) -> dict[Breadcrumb, Mapping[str, Any]]:
    found: dict[Breadcrumb, Mapping[str, Any]] = {}
    listed = entry.get("metadata", [])
    if not isinstance(listed, list):
        raise ConfigurationError(
            f"Catalog stream {entry.get('tap_stream_id')!r}: 'metadata' must be a list."
        )
    for item in listed:
        if (
            isinstance(item, Mapping)
            and isinstance(item.get("breadcrumb"), list)
            and isinstance(item.get("metadata"), Mapping)
        ):
            found[tuple(str(part) for part in item["breadcrumb"])] = item["metadata"]
    if "selected" in entry and () not in found:  # an older tap's stream-level flag
        found[()] = {"selected": entry["selected"]}
    return found


def _is_selected(metadata: Mapping[Breadcrumb, Mapping[str, Any]], crumb: Breadcrumb) -> bool:
    if not metadata:
        return True
    parent = _is_selected(metadata, crumb[:-2]) if crumb else None
    if parent is False:
        return False
    entry = metadata.get(crumb, {})
    inclusion = entry.get("inclusion")
    if inclusion == "unsupported":
        return False
    if inclusion == "automatic":
        return True
    for name in ("selected", "selected-by-default"):
        if isinstance(entry.get(name), bool):
            return bool(entry[name])
    return bool(parent)


def _selected(
    entry: Mapping[str, Any],
    ours: Mapping[str, Any],
    metadata: Mapping[Breadcrumb, Mapping[str, Any]] | None = None,
) -> SelectedStream:
    """The stream as the catalog entry selects it. The schema is the catalog's when it gives
    one with properties (a host may have overridden a type), else ours; key properties and
    the replication key are ours (automatic)."""
    schema = entry.get("schema")
    if not (isinstance(schema, Mapping) and isinstance(schema.get("properties"), Mapping)):
        schema = ours["schema"]
    key: Sequence[str] = ours["key_properties"]
    replication_key = ours.get("replication_key")
    bookmarks = (replication_key,) if replication_key else ()
    automatic = {*key, *bookmarks}
    # The key and the replication key are automatic even when a host's schema leaves them out:
    # without them a loader cannot merge, and the next run cannot resume.
    declared = dict(schema["properties"])
    for name in sorted(automatic - set(declared)):
        declared[name] = ours["schema"]["properties"][name]
    schema = {**schema, "properties": declared}
    if not metadata:
        return SelectedStream(ours["stream"], schema, tuple(key), bookmarks, None)
    properties = frozenset(
        name
        for name in declared
        if name in automatic or _is_selected(metadata, ("properties", name))
    )
    projected = dict(schema)
    projected["properties"] = {
        name: value for name, value in declared.items() if name in properties
    }
    if isinstance(schema.get("required"), list):
        projected["required"] = [name for name in schema["required"] if name in properties]
    return SelectedStream(ours["stream"], projected, tuple(key), bookmarks, properties)
