"""The flat configuration of the hosts that read many streams in one run (the Singer tap, the
Airbyte source): one JSON object holding the credential's fields and the source settings that
apply to every stream; its JSON Schema, its values from environment variables, and each
stream's own source configuration made from it.

Settings: ``client_id``, ``client_secret``, ``base_url`` (required), ``name`` and
``description`` (optional), ``start_date`` (incremental streams only), ``page_size``,
``concurrency`` (``"auto"``, the default: one controller finds the account's limit for all
streams together; or a number, the most requests in flight over all of them), ``max_extra_pages``,
``role`` and ``status`` (purchase orders), ``filters`` (stream -> that stream's filters).
"""

from __future__ import annotations

__all__ = [
    "CREDENTIAL_FIELDS",
    "SETTINGS",
    "FlatConfig",
    "flat_schema",
    "from_environment",
    "parse_flat_config",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from nexla_procurify import manifest
from nexla_procurify.concurrency import AUTO, Concurrency
from nexla_procurify.credential import loopback_allowed, validate
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.jsonlines import load_object
from nexla_procurify.resources import catalogue
from nexla_procurify.settings import Settings
from nexla_procurify.source.config import parse_config
from nexla_procurify.source.times import parse_when

CREDENTIAL_FIELDS = ("name", "description", "client_id", "client_secret", "base_url")
SETTINGS = (
    "start_date",
    "page_size",
    "concurrency",
    "max_extra_pages",
    "role",
    "status",
    "filters",
)
DEFAULT_NAME = "Procurify"
# The requests in flight over all streams of a run, when ``concurrency`` is not set.
DEFAULT_BUDGET: Concurrency = AUTO
_PATH_SETTINGS = ("role", "status")
# How a source configuration's problems begin (``source.config.parse_config``).
_SOURCE_PROBLEMS = "Invalid source configuration. "


@dataclass(frozen=True)
class FlatConfig:
    """A checked flat configuration: the credential (as the hooks take it, never shown) and
    the settings every stream's source configuration is made from."""

    credential: Mapping[str, Any] = field(repr=False)
    settings: Mapping[str, Any]
    budget: Concurrency

    def source_config(self, stream: str) -> dict[str, Any]:
        """The source configuration of ``stream`` (as ``source.read`` takes it): the settings
        that apply to it, ``concurrency`` bounded by the whole run's budget."""
        resource = catalogue().resources[stream]
        config: dict[str, Any] = {"resource": stream, "concurrency": self.budget}
        for key in ("page_size", "max_extra_pages"):
            if key in self.settings:
                config[key] = self.settings[key]
        if resource.incremental is not None and "start_date" in self.settings:
            config["start_date"] = self.settings["start_date"]
        taken = {param.name for param in resource.path_params}
        config.update(
            {
                key: self.settings[key]
                for key in _PATH_SETTINGS
                if key in taken and key in self.settings
            }
        )
        filters = self.settings.get("filters", {}).get(stream)
        if filters:
            config["filters"] = dict(filters)
        return config


def parse_flat_config(config: object, *, what: str = "tap") -> FlatConfig:
    """A checked ``FlatConfig``, or one ``ConfigurationError`` naming every problem (the
    credential's included, never quoting the secret); ``what`` names the configuration."""
    settings = Settings(config, what=what)
    settings.unknown_keys([*CREDENTIAL_FIELDS, *SETTINGS])
    credential = {key: settings.values[key] for key in CREDENTIAL_FIELDS if key in settings}
    credential.setdefault("name", DEFAULT_NAME)
    for error in validate(credential, allow_loopback=loopback_allowed()).errors:
        settings.problem(f"'{error.field}': {error.message}" if error.field else error.message)
    cat = catalogue()
    budget = settings.concurrency("concurrency", DEFAULT_BUDGET, maximum=cat.max_read_concurrency)
    settings.whole_number("page_size", cat.default_page_size, maximum=cat.max_page_size)
    _check_settings(settings)
    filters = settings.get("filters", {})
    readable = cat.names("source")
    if not isinstance(filters, Mapping) or not all(
        isinstance(value, Mapping) for value in filters.values()
    ):
        settings.problem("'filters' must be an object: stream name -> that stream's filters.")
    else:
        unknown = sorted(str(name) for name in filters if name not in readable)
        if unknown:
            settings.problem(f"'filters' names unknown stream(s): {', '.join(unknown)}.")
    chosen = {key: settings.values[key] for key in SETTINGS if key in settings}
    flat = FlatConfig(MappingProxyType(credential), MappingProxyType(chosen), budget)
    if not settings.problems:
        _check_streams(flat, settings)
    settings.checked()
    return flat


def _check_settings(settings: Settings) -> None:
    """The settings every stream shares, checked once as each stream's read checks them:
    ``max_extra_pages``, ``start_date``, and ``role`` and ``status`` against the choices of
    the resources that take them."""
    cat = catalogue()
    settings.whole_number(
        "max_extra_pages",
        cat.default_max_extra_pages,
        maximum=cat.max_extra_pages_limit,
        minimum=0,
    )
    start = settings.text("start_date", example="2026-01-01")
    if start is not None:
        try:
            parse_when(start, "'start_date'")
        except ConfigurationError as error:
            settings.problem(error.message)
    for key in _PATH_SETTINGS:
        choices = [
            choice
            for resource in cat.resources.values()
            if resource.readable
            for param in resource.path_params
            if param.name == key
            for choice in param.choices
        ]
        if key in settings and choices:
            settings.choice(key, list(dict.fromkeys(choices)), choices[0])


def _check_streams(config: FlatConfig, settings: Settings) -> None:
    """Each readable stream's source configuration checked as its read checks it (its
    filters, above all): a problem noted with the stream's name."""
    for stream in catalogue().names("source"):
        try:
            parse_config(config.source_config(stream))
        except ConfigurationError as error:
            settings.problem(f"{stream}: {error.message.removeprefix(_SOURCE_PROBLEMS)}")


def from_environment(prefix: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings given as environment variables ``<prefix><SETTING>`` (as Meltano passes
    them: ``TAP_PROCURIFY_CLIENT_ID``); whole numbers and ``filters`` (JSON) decoded."""
    found: dict[str, Any] = {}
    for key in (*CREDENTIAL_FIELDS, *SETTINGS):
        text = environ.get(prefix + key.upper())
        if text is None or text == "":
            continue
        if key == "concurrency" and text == AUTO:
            found[key] = AUTO
        elif key in ("page_size", "concurrency", "max_extra_pages"):
            try:
                found[key] = int(text)
            except ValueError:
                either = '"auto" or ' if key == "concurrency" else ""
                raise ConfigurationError(
                    f"{prefix}{key.upper()} must be {either}a whole number."
                ) from None
        elif key == "filters":
            # Bounded and strict as a config file: no NaN or Infinity, no nesting that
            # would exhaust the stack.
            try:
                found[key] = load_object(text, f"{prefix}FILTERS")
            except ValueError as error:
                raise ConfigurationError(
                    f"{error}: set it to a JSON object, stream name -> that stream's filters."
                ) from None
        else:
            found[key] = text
    return found


def flat_schema() -> dict[str, Any]:
    """The JSON Schema of the flat configuration (draft 7 words only, as hosts' forms read
    them). The Base URL's pattern is left to the connector's own check, which also admits the
    sandbox on loopback when ``NEXLA_PROCURIFY_ALLOW_LOOPBACK=1``."""
    credential = manifest.load_json("schemas/credential.schema.json")["properties"]
    source = manifest.load_json("schemas/source.schema.json")["properties"]
    properties: dict[str, Any] = {}
    for key in CREDENTIAL_FIELDS:
        prop = {
            name: value
            for name, value in credential[key].items()
            if not (key == "base_url" and name == "pattern")
        }
        properties[key] = prop
    for key in ("start_date", "page_size", "concurrency", "max_extra_pages", "role", "status"):
        properties[key] = dict(source[key])
    properties["concurrency"] = {
        **source["concurrency"],
        "default": DEFAULT_BUDGET,
        "description": "Requests in flight at the same time over all streams (the streams are "
        'read side by side within it): "auto" (the default) finds your account\'s limit for all '
        "of them together (it starts modestly, grows while throughput grows, backs off when "
        "Procurify answers 429 or slows down); a number from 1 to "
        f"{source['concurrency']['maximum']} pins it (still lowered while Procurify "
        "asks to slow down).",
    }
    properties["filters"] = {
        "type": "object",
        "title": "Filters",
        "description": "Stream name -> that stream's Procurify filters, such as "
        '{"locations": {"active": true}} (each resource\'s filters are listed '
        "in connector.json).",
        "additionalProperties": {"type": "object"},
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Procurify",
        "type": "object",
        "additionalProperties": False,
        "required": ["client_id", "client_secret", "base_url"],
        "properties": properties,
    }
