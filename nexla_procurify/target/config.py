"""The target's configuration: one flat object from ``--config`` files and ``TARGET_PROCURIFY_*``
environment variables (as Meltano passes a loader's settings), checked all at once, and the
route of each Singer stream to a Procurify resource and operation.

Files are merged in the order given (a later file's setting replaces an earlier one's); an
environment variable replaces both, as the Meltano SDK does with ``--config ENV``. Meltano
passes every setting both ways, so the two always agree under Meltano.
"""

from __future__ import annotations

__all__ = [
    "CREDENTIAL_KEYS",
    "DEFAULT_NAME",
    "ENV_PREFIX",
    "SETTINGS_SCHEMA",
    "STREAM_KEYS",
    "Route",
    "Routing",
    "TargetConfig",
    "environment_settings",
    "load",
    "parse",
]

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from nexla_procurify import destination, jsonlines
from nexla_procurify.cli.inputs import load_json_object
from nexla_procurify.concurrency import AUTO, Concurrency
from nexla_procurify.credential import Credential, credential_schema, loopback_allowed
from nexla_procurify.credential import parse as parse_credential
from nexla_procurify.destination import DestinationConfig
from nexla_procurify.destination.config import ON_ERROR_CHOICES, UPSERT
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.resources import catalogue
from nexla_procurify.settings import Settings, named, without_nulls

ENV_PREFIX = "TARGET_PROCURIFY_"
DEFAULT_NAME = "target-procurify"
CREDENTIAL_KEYS = ("name", "description", "client_id", "client_secret", "base_url")
STREAM_KEYS = ("resource", "operation", "key", "concurrency", "on_error")
WRITE_KEYS = ("dry_run", "concurrency", "on_error")


def _settings_schema() -> dict[str, Any]:
    credential = credential_schema()["properties"]
    write = destination.destination_schema()["properties"]
    stream = {
        "type": "object",
        "additionalProperties": False,
        "properties": {key: write[key] for key in STREAM_KEYS},
    }
    properties: dict[str, Any] = {key: credential[key] for key in CREDENTIAL_KEYS}
    properties["name"] = {**properties["name"], "default": DEFAULT_NAME}
    properties["streams"] = {
        "title": "Streams",
        "description": (
            "Stream name -> where its records go: resource (default: the stream's name), "
            "operation (default: upsert where the resource has one; required otherwise), key, "
            "concurrency, on_error. A stream not listed goes to the resource of its name."
        ),
        "type": "object",
        "additionalProperties": stream,
        "examples": [{"vendor_list": {"resource": "vendors", "operation": "upsert"}}],
    }
    properties.update({key: write[key] for key in WRITE_KEYS})
    properties["dry_run"] = {
        **properties["dry_run"],
        "description": (
            "Validate and report what would be written, without writing; no STATE is echoed, "
            "so that the next run sends the same records again."
        ),
    }
    properties["results_file"] = {
        "title": "Results file",
        "description": (
            "A file for the per-record results (JSON lines, replaced at each run); "
            "standard error when not set."
        ),
        "type": "string",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "target-procurify settings",
        "type": "object",
        "additionalProperties": False,
        "required": ["client_id", "client_secret", "base_url"],
        "properties": properties,
    }


SETTINGS_SCHEMA: Mapping[str, Any] = MappingProxyType(_settings_schema())


@dataclass(frozen=True)
class Route:
    """Where one stream's records go: a checked destination configuration."""

    stream: str
    config: DestinationConfig

    def hook_config(self) -> dict[str, Any]:
        """The configuration for ``write_destination``."""
        config = self.config
        settings: dict[str, Any] = {
            "resource": config.resource,
            "operation": config.operation,
            "dry_run": config.dry_run,
            "concurrency": AUTO if config.auto_concurrency else config.concurrency,
            "on_error": config.on_error,
        }
        if config.key is not None:
            settings["key"] = config.key
        return settings

    def describe(self) -> str:
        """The route in words, for messages: ``stream -> resource operation [by key]``."""
        by = f" by {self.config.key}" if self.config.key else ""
        return f"{self.stream} -> {self.config.resource} {self.config.operation}{by}"


@dataclass(frozen=True)
class Routing:
    """How streams map to resources: the listed streams' own settings, and the write settings
    every stream shares (``None``: the destination's default)."""

    streams: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    dry_run: bool = False
    concurrency: Concurrency | None = None
    on_error: str | None = None

    def route(self, stream: str) -> Route:
        """Where ``stream`` goes, or a ``ConfigurationError`` saying what to set."""
        entry = self.streams.get(stream, {})
        resource_name = entry.get("resource", stream)
        names = catalogue().names("destination")
        if resource_name not in names:
            raise ConfigurationError(
                f"Stream {named(stream)} is not a Procurify destination resource and 'streams' "
                f'does not map it: set "streams": {{{json.dumps(stream)}: {{"resource": '
                f'..., "operation": ...}}}}, with one of the resources {", ".join(names)}.'
            )
        resource = catalogue().get(resource_name, "destination")
        settings: dict[str, Any] = {"resource": resource.name, "dry_run": self.dry_run}
        for key, value in (("concurrency", self.concurrency), ("on_error", self.on_error)):
            if value is not None:
                settings[key] = value
        settings.update(entry)
        if "operation" not in settings:
            if resource.upsert_key is None:
                raise ConfigurationError(
                    f"Stream {named(stream)} writes to {resource.name}, which cannot be "
                    f"upserted: set streams.{stream}.operation to one of "
                    f"{', '.join(resource.write_operations)}."
                )
            settings["operation"] = UPSERT
        try:
            return Route(stream, destination.parse_config(settings))
        except ConfigurationError as error:
            reason = error.message.removeprefix("Invalid destination configuration. ")
            raise ConfigurationError(f"Stream {named(stream)}: {reason}") from None


@dataclass(frozen=True)
class TargetConfig:
    """The checked configuration (its ``repr`` masks the secret, as ``Credential``'s does)."""

    credential: Credential
    routing: Routing = field(default_factory=Routing)
    results_file: str | None = None

    def credential_dict(self) -> dict[str, Any]:
        """The credential as the hooks take it (with the secret: hand it only to a hook)."""
        credential = {
            "name": self.credential.name,
            "client_id": self.credential.client_id,
            "client_secret": self.credential.client_secret.reveal(),
            "base_url": self.credential.base_url,
        }
        if self.credential.description is not None:
            credential["description"] = self.credential.description
        return credential


def load(paths: Sequence[str], environ: Mapping[str, str]) -> dict[str, Any]:
    """The merged settings: each ``--config`` file in order (``ENV`` reads nothing more: the
    environment is always read), then the environment variables."""
    merged: dict[str, Any] = {}
    for path in paths:
        if path == "ENV":
            continue
        merged.update(load_json_object(Path(path), "config"))
    merged.update(environment_settings(environ))
    return merged


def environment_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings given as ``TARGET_PROCURIFY_<SETTING>`` variables, typed as the setting
    (``true``/``false``, digits, JSON for ``streams``). Other variables with the prefix are
    not settings of ours (Meltano also passes its own extras): they are ignored."""
    found: dict[str, Any] = {}
    for key, spec in SETTINGS_SCHEMA["properties"].items():
        text = environ.get(ENV_PREFIX + key.upper())
        if text is None or text == "":
            continue
        found[key] = _typed(key, text, spec.get("type"))
    return found


def _typed(key: str, text: str, kind: object) -> Any:
    if kind == "boolean" and text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    kinds = kind if isinstance(kind, list) else [kind]
    if "integer" in kinds and text.strip().isdigit():
        return int(text.strip())
    if kind == "object":
        try:
            return jsonlines.load_object(text, f"environment variable {ENV_PREFIX}{key.upper()}")
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
    return text


def parse(raw: Mapping[str, Any]) -> TargetConfig:
    """A ``TargetConfig``, or one error naming every problem: a ``ConfigurationError`` for the
    settings (every listed stream's route included), then a ``CredentialError`` (field by
    field) for the credential."""
    settings = Settings(raw, what="target")
    settings.unknown_keys(list(SETTINGS_SCHEMA["properties"]))
    limits = catalogue()
    routing = Routing(
        streams=MappingProxyType(_streams(settings)),
        dry_run=settings.boolean("dry_run", False),
        concurrency=(
            settings.concurrency(
                "concurrency",
                limits.default_write_concurrency,
                maximum=limits.max_write_concurrency,
            )
            if "concurrency" in settings
            else None
        ),
        on_error=(
            settings.choice("on_error", ON_ERROR_CHOICES, "continue")
            if "on_error" in settings
            else None
        ),
    )
    results_file = settings.text("results_file", example="results.jsonl")
    if results_file is not None and "\0" in results_file:
        settings.problem("'results_file' must be a path without a NUL character (\\u0000).")
        results_file = None
    for stream in routing.streams:
        try:
            routing.route(stream)
        except ConfigurationError as error:
            settings.problem(error.message)
    settings.checked()
    credential = {key: settings.get(key) for key in CREDENTIAL_KEYS if key in settings}
    credential.setdefault("name", DEFAULT_NAME)
    return TargetConfig(
        credential=parse_credential(credential, allow_loopback=loopback_allowed()),
        routing=routing,
        results_file=results_file,
    )


def _streams(settings: Settings) -> dict[str, Mapping[str, Any]]:
    streams = settings.get("streams", {})
    if not isinstance(streams, Mapping):
        settings.problem(
            '\'streams\' must be an object: stream name -> {"resource": ..., "operation": ...}.'
        )
        return {}
    checked: dict[str, Mapping[str, Any]] = {}
    for name, entry in _nested(streams).items():
        if not isinstance(entry, Mapping):
            settings.problem(
                f"streams.{name} must be an object, such as "
                '{"resource": "vendors", "operation": "upsert"}.'
            )
            continue
        unknown = sorted(str(key) for key in entry if key not in STREAM_KEYS)
        if unknown:
            settings.problem(
                f"Unknown setting(s) in streams.{name}: {', '.join(unknown)}. "
                f"Allowed: {', '.join(STREAM_KEYS)}."
            )
            continue
        checked[str(name)] = MappingProxyType(without_nulls(entry))
    return checked


def _nested(streams: Mapping[Any, Any]) -> dict[Any, Any]:
    """``streams`` with Meltano's flattened keys nested again: Meltano passes an object
    setting in its environment variable as ``{"suppliers.resource": "vendors"}``. The part
    after the last dot is the setting (no setting name holds a dot), before it the stream."""
    nested: dict[Any, Any] = {}
    for key, value in streams.items():
        stream, dot, setting = str(key).rpartition(".")
        if dot and stream and setting in STREAM_KEYS and not isinstance(value, Mapping):
            key, value = stream, {setting: value}
        if isinstance(value, Mapping) and isinstance(nested.get(key), dict):
            nested[key] = {**nested[key], **value}
        else:
            nested[key] = dict(value) if isinstance(value, Mapping) else value
    return nested
