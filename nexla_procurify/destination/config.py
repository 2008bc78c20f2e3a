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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from nexla_procurify import manifest
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.resources import Resource, catalogue
from nexla_procurify.validation import schema_problems, validator

OnError = Literal["continue", "abort"]
CONFIG_KEYS = ("resource", "operation", "key", "dry_run", "concurrency", "on_error")
ON_ERROR_CHOICES: tuple[OnError, ...] = ("continue", "abort")
UPSERT = "upsert"
DESTINATION_SCHEMA = "destination.schema.json"
MAX_SHOWN_VALUE = 40


@dataclass(frozen=True)
class DestinationConfig:
    """A checked destination configuration."""

    resource: str
    operation: str
    key: str | None = None
    dry_run: bool = False
    concurrency: int = 4
    on_error: OnError = "continue"

    @property
    def target(self) -> Resource:
        return catalogue().get(self.resource, "destination")


def destination_schema() -> dict[str, Any]:
    return manifest.schema(DESTINATION_SCHEMA)


def parse_config(config: object) -> DestinationConfig:
    """A ``DestinationConfig``, or a ``ConfigurationError`` naming every problem at once."""
    if not isinstance(config, Mapping):
        raise ConfigurationError("The destination configuration must be a JSON object.")
    config = {key: value for key, value in config.items() if value is not None}  # "not set"
    problems: list[str] = []
    unknown = sorted(str(name) for name in config if name not in CONFIG_KEYS)
    if unknown:
        problems.append(
            f"Unknown destination setting(s): {', '.join(unknown)}. "
            f"Allowed: {', '.join(CONFIG_KEYS)}."
        )
    resource = _configured_resource(config, problems)
    operation = _configured_operation(config, resource, problems)
    key = _configured_key(config, resource, operation, problems)
    dry_run = _configured_dry_run(config, problems)
    concurrency = _configured_concurrency(config, problems)
    on_error = _configured_on_error(config, problems)
    if not problems:
        problems.extend(_schema_problems(config))
    if problems:
        raise ConfigurationError("Invalid destination configuration. " + " ".join(problems))
    assert resource is not None
    assert operation is not None
    return DestinationConfig(
        resource=resource.name,
        operation=operation,
        key=key,
        dry_run=dry_run,
        concurrency=concurrency,
        on_error=on_error,
    )


def _configured_resource(config: Mapping[str, Any], problems: list[str]) -> Resource | None:
    names = ", ".join(catalogue().names("destination"))
    if "resource" not in config:
        problems.append(f"'resource' is required; choose one of: {names}.")
        return None
    try:
        return catalogue().get(config["resource"], "destination")
    except ConfigurationError as error:
        problems.append(error.message)
        return None


def _configured_operation(
    config: Mapping[str, Any], resource: Resource | None, problems: list[str]
) -> str | None:
    operation = config.get("operation")
    supported = ", ".join(resource.write_operations) if resource else None
    if operation is None:
        hint = f" for {resource.name}: {supported}" if resource else ""
        problems.append(f"'operation' is required; choose one of the supported operations{hint}.")
        return None
    if not isinstance(operation, str):
        problems.append("'operation' must be text, such as \"create\".")
        return None
    if resource is not None and operation not in resource.write_operations:
        problems.append(
            f"Resource {resource.name!r} does not support operation {_shown(operation)}; "
            f"supported: {supported}."
        )
        return None
    return operation


def _configured_key(
    config: Mapping[str, Any],
    resource: Resource | None,
    operation: str | None,
    problems: list[str],
) -> str | None:
    key = config.get("key")
    if key is None or resource is None or operation is None:
        return None
    if operation != UPSERT:
        problems.append(
            f"'key' applies only to operation \"upsert\"; remove it for {operation!r}."
        )
        return None
    if key != resource.upsert_key:
        problems.append(
            f"{resource.name} can only be upserted by {resource.upsert_key!r}, "
            f"not by {_shown(key)}."
        )
        return None
    return resource.upsert_key


def _configured_dry_run(config: Mapping[str, Any], problems: list[str]) -> bool:
    dry_run = config.get("dry_run", False)
    if not isinstance(dry_run, bool):
        problems.append("'dry_run' must be true or false.")
        return False
    return dry_run


def _configured_concurrency(config: Mapping[str, Any], problems: list[str]) -> int:
    limits = catalogue()
    concurrency = config.get("concurrency", limits.default_write_concurrency)
    upper = limits.max_write_concurrency
    valid = isinstance(concurrency, int) and not isinstance(concurrency, bool)
    if not valid or not 1 <= concurrency <= upper:
        problems.append(f"'concurrency' must be a whole number from 1 to {upper}.")
        return limits.default_write_concurrency
    return int(concurrency)


def _configured_on_error(config: Mapping[str, Any], problems: list[str]) -> OnError:
    on_error = config.get("on_error", "continue")
    for choice in ON_ERROR_CHOICES:
        if on_error == choice:
            return choice
    problems.append("'on_error' must be \"continue\" or \"abort\".")
    return "continue"


def _schema_problems(config: Mapping[str, Any]) -> list[str]:
    """The schema as a backstop: whatever it still refuses, in our words."""
    problems = schema_problems(validator(f"schemas/{DESTINATION_SCHEMA}"), dict(config),
                               whole="the configuration")
    return [f"'{name}' {' and '.join(messages)}." for name, messages in problems.items()]


def _shown(value: object) -> str:
    """A value quoted for a message, shortened so that a huge value does not flood it."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_VALUE else text[: MAX_SHOWN_VALUE - 3] + "..."

