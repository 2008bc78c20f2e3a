"""What can be read: the Singer ``SCHEMA`` message of each readable resource."""

from __future__ import annotations

__all__ = ["discover", "schema_message"]

from collections.abc import Iterator

from nexla_procurify import manifest
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.messages import SchemaMessage
from nexla_procurify.resources import Resource, catalogue
from nexla_procurify.singer_schema import flatten_schema


def schema_message(resource: Resource) -> SchemaMessage:
    """The Singer ``SCHEMA`` message of a readable resource."""
    if resource.stream_schema is None:
        raise ConfigurationError(f"Resource {resource.name!r} cannot be read.")
    # Flattened: Singer targets read plain ``type``s, not ``$ref``/``anyOf`` (singer_schema.py).
    schema = flatten_schema(manifest.load_json(resource.stream_schema), resource.key)
    bookmarks = (resource.incremental.cursor_field,) if resource.incremental else ()
    return SchemaMessage(resource.name, schema, resource.key, bookmarks)


def discover() -> Iterator[SchemaMessage]:
    """One ``SCHEMA`` message per readable resource."""
    for name in catalogue().names("source"):
        yield schema_message(catalogue().resources[name])
