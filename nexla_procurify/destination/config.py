"""The destination configuration: parsed and checked before anything is sent.

Every problem is named at once, in one ``ConfigurationError``; the shipped
``destination.schema.json`` is the backstop for whatever the checks here let through.
"""

from __future__ import annotations

__all__ = [
    "CONFIG_KEYS",
    "DESTINATION_SCHEMA",
    "MAX_SHOWN_VALUE",
    "ON_ERROR_CHOICES",
    "UPSERT",
    "DestinationConfig",
    "OnError",
    "destination_schema",
    "parse_config",
]

from dataclasses import dataclass, field
from typing import Any, Literal

from nexla_procurify import manifest
from nexla_procurify.concurrency import AUTO, Concurrency
from nexla_procurify.resources import Resource, catalogue
from nexla_procurify.settings import MAX_SHOWN_VALUE, Settings, shown

OnError = Literal["continue", "abort"]
CONFIG_KEYS = ("resource", "operation", "key", "dry_run", "concurrency", "on_error")
ON_ERROR_CHOICES: tuple[OnError, ...] = ("continue", "abort")
UPSERT = "upsert"
DESTINATION_SCHEMA = "destination.schema.json"


@dataclass(frozen=True)
class DestinationConfig:
    """A checked destination configuration."""

    resource: str
    operation: str
    key: str | None = None
    dry_run: bool = False
    # The most records at once: pinned, or the hard maximum under ``auto_concurrency`` (the
    # default, as the destination schema says: the catalogue reads it there).
    concurrency: int = field(default_factory=lambda: _concurrency()[0])
    on_error: OnError = "continue"
    auto_concurrency: bool = field(default_factory=lambda: _concurrency()[1])

    @property
    def target(self) -> Resource:
        """The resource written to, from the catalogue."""
        return catalogue().get(self.resource, "destination")


def _concurrency(chosen: Concurrency | None = None) -> tuple[int, bool]:
    """``(most at once, automatic)`` for a configured concurrency (``None``: the default)."""
    limits = catalogue()
    value = limits.default_write_concurrency if chosen is None else chosen
    if value == AUTO:
        return limits.max_write_concurrency, True
    assert isinstance(value, int)
    return value, False


def destination_schema() -> dict[str, Any]:
    """The shipped destination configuration schema."""
    return manifest.schema(DESTINATION_SCHEMA)


def parse_config(config: object) -> DestinationConfig:
    """A ``DestinationConfig``, or a ``ConfigurationError`` naming every problem at once."""
    settings = Settings(config, what="destination")
    settings.unknown_keys(CONFIG_KEYS)
    resource = settings.resource("destination")
    operation = _configured_operation(settings, resource)
    key = _configured_key(settings, resource, operation)
    limits = catalogue()
    dry_run = settings.boolean("dry_run", False)
    concurrency, automatic = _concurrency(
        settings.concurrency(
            "concurrency", limits.default_write_concurrency, maximum=limits.max_write_concurrency
        )
    )
    on_error = settings.choice("on_error", ON_ERROR_CHOICES, "continue")
    settings.schema_backstop(f"schemas/{DESTINATION_SCHEMA}")
    settings.checked()
    assert resource is not None
    assert operation is not None
    return DestinationConfig(
        resource=resource.name,
        operation=operation,
        key=key,
        dry_run=dry_run,
        concurrency=concurrency,
        on_error=on_error,
        auto_concurrency=automatic,
    )


def _configured_operation(settings: Settings, resource: Resource | None) -> str | None:
    supported = ", ".join(resource.write_operations) if resource else None
    if "operation" not in settings:
        hint = f" for {resource.name}: {supported}" if resource else ""
        settings.problem(f"'operation' is required; choose one of the supported operations{hint}.")
        return None
    operation = settings.text("operation", example="create")
    if operation is None:
        return None
    if resource is not None and operation not in resource.write_operations:
        settings.problem(
            f"Resource {resource.name!r} does not support operation {shown(operation)}; "
            f"supported: {supported}."
        )
        return None
    return operation


def _configured_key(
    settings: Settings, resource: Resource | None, operation: str | None
) -> str | None:
    key = settings.get("key")
    if key is None or resource is None or operation is None:
        return None
    if operation != UPSERT:
        settings.problem(
            f"'key' applies only to operation \"upsert\"; remove it for {operation!r}."
        )
        return None
    if key != resource.upsert_key:
        settings.problem(
            f"{resource.name} can only be upserted by {resource.upsert_key!r}, not by {shown(key)}."
        )
        return None
    return resource.upsert_key
