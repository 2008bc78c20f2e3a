"""The source configuration: which resource and selection (filters, path values, start date),
how large a page and how many requests at once; checked in full before any request."""

from __future__ import annotations

__all__ = [
    "SOURCE_SCHEMA",
    "FilterValue",
    "SourceConfig",
    "parse_config",
]

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nexla_procurify.concurrency import AUTO
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.resources import Resource, catalogue
from nexla_procurify.settings import Settings
from nexla_procurify.source.times import iso, parse_when

SOURCE_SCHEMA = "schemas/source.schema.json"
# The keys of every source configuration; a resource adds its path parameters (``role``).
KEYS = ("resource", "page_size", "filters", "start_date", "concurrency", "max_extra_pages")

# A filter's value as sent: one text, or the texts of a filter Procurify takes repeated.
FilterValue = str | tuple[str, ...]


@dataclass(frozen=True)
class SourceConfig:
    """A checked source configuration (``parse_config`` makes it)."""

    resource: Resource
    page_size: int
    filters: Mapping[str, FilterValue]
    path_values: Mapping[str, str]
    start: datetime | None
    # The most requests at once: pinned, or the hard maximum under ``auto_concurrency``.
    concurrency: int
    # Pages a read may go on to beyond those its first page announced (records created
    # meanwhile); the default and the limit are the source schema's.
    max_extra_pages: int = field(default_factory=lambda: catalogue().default_max_extra_pages)
    # ``concurrency: "auto"``: a controller finds the limit, up to ``concurrency``.
    auto_concurrency: bool = False

    @property
    def query_fingerprint(self) -> str:
        """Identifies the selection, so that a cursor only moves the start of its own."""
        identity = [
            self.resource.name,
            sorted(self.filters.items()),
            sorted(self.path_values.items()),
        ]
        return _digest(identity)

    def position_fingerprint(self, since: datetime | None) -> str:
        """Identifies one read (the selection and where it starts), so that a mid-read
        position is only resumed by the same read."""
        return _digest([self.query_fingerprint, iso(since) if since else None])


def _digest(identity: object) -> str:
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]


def parse_config(config: object) -> SourceConfig:
    """A checked ``SourceConfig``; otherwise one ``ConfigurationError`` naming every problem,
    each with its key."""
    settings = Settings(config, what="source")
    cat = catalogue()
    resource = settings.resource("source")
    if resource is not None:
        path_names = [param.name for param in resource.path_params]
        where = f" for {resource.name!r}"
    else:  # still name the keys no resource takes
        path_names = [
            param.name
            for each in cat.resources.values()
            if each.readable
            for param in each.path_params
        ]
        where = ""
    settings.unknown_keys(sorted({*KEYS, *path_names}), called="configuration key", where=where)
    page_size = settings.whole_number("page_size", cat.default_page_size, maximum=cat.max_page_size)
    concurrency = settings.concurrency(
        "concurrency", cat.default_read_concurrency, maximum=cat.max_read_concurrency
    )
    max_extra_pages = settings.whole_number(
        "max_extra_pages", cat.default_max_extra_pages, maximum=cat.max_extra_pages_limit, minimum=0
    )
    if resource is None:
        settings.checked()  # raises: the unknown resource is among the problems
    assert resource is not None
    path_values = {
        param.name: settings.choice(param.name, param.choices, param.default)
        for param in resource.path_params
    }
    filters = _filters(settings, resource)
    start = _start(settings, resource)
    # The shipped schema as a backstop: what a host validated is what we accept.
    settings.schema_backstop(SOURCE_SCHEMA)
    settings.checked()
    return SourceConfig(
        resource=resource,
        page_size=page_size,
        filters=filters,
        path_values=path_values,
        start=start,
        concurrency=cat.max_read_concurrency if concurrency == AUTO else concurrency,
        max_extra_pages=max_extra_pages,
        auto_concurrency=concurrency == AUTO,
    )


def _filters(settings: Settings, resource: Resource) -> dict[str, FilterValue]:
    """The filters as sent; a problem noted for each one that is wrong."""
    filters = settings.get("filters", {})
    if not isinstance(filters, Mapping):
        settings.problem("'filters' must be an object of query parameters.")
        return {}
    query: dict[str, FilterValue] = {}
    for name, value in filters.items():
        try:
            query[name] = _filter(resource, name, value)
        except ConfigurationError as error:
            settings.problem(error.message)
    return query


def _filter(resource: Resource, name: str, value: object) -> FilterValue:
    if resource.incremental is not None and name == resource.incremental.filter:
        raise ConfigurationError(
            f"Filter {name!r} is managed by the incremental cursor: use 'start_date' for the "
            "first run instead."
        )
    spec = resource.filters.get(name)
    if spec is None:
        valid = ", ".join(sorted(resource.filters)) or "none"
        raise ConfigurationError(
            f"Unknown filter {name!r} for resource {resource.name!r}. Valid filters: {valid}."
        )
    if spec.get("type") == "array":
        return _list_filter(name, value, spec.get("items", {}))
    if isinstance(value, list | tuple):
        raise ConfigurationError(f"Filter {name!r} takes one value, not a list.")
    return _filter_value(name, value, spec)


def _list_filter(name: str, value: object, items: Mapping[str, Any]) -> tuple[str, ...]:
    """A filter Procurify takes repeated (``?locations=1&locations=2``): a list of values, or
    one value alone; each item is checked against the item type."""
    values = value if isinstance(value, list | tuple) else [value]
    if not values:
        raise ConfigurationError(f"Filter {name!r} needs at least one value.")
    return tuple(
        _filter_value(f"{name}[{index}]", item, items) for index, item in enumerate(values)
    )


def _filter_value(name: str, value: object, spec: Mapping[str, Any]) -> str:
    kind = spec.get("type", "string")
    # Text is accepted for every type ("true", "12"): that is how command lines and query
    # strings carry values.
    if kind == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise ConfigurationError(f"Filter {name!r} must be true or false.")
        return "true" if value else "false"
    if kind in ("integer", "number"):
        value = _number(name, value, whole=kind == "integer")
    elif not isinstance(value, str):
        raise ConfigurationError(f"Filter {name!r} must be text.")
    if "enum" in spec and value not in spec["enum"]:
        choices = ", ".join(str(choice) for choice in spec["enum"])
        raise ConfigurationError(f"Filter {name!r} must be one of {choices}.")
    if spec.get("format") in ("date", "date-time"):
        parse_when(str(value), f"Filter {name!r}")
    return str(value)


def _number(name: str, value: object, *, whole: bool) -> int | float:
    expected = "a whole number" if whole else "a number"
    if isinstance(value, str):
        try:
            value = int(value) if whole else float(value)
        except ValueError:
            raise ConfigurationError(f"Filter {name!r} must be {expected}.") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"Filter {name!r} must be {expected}.")
    if whole and not isinstance(value, int):
        raise ConfigurationError(f"Filter {name!r} must be {expected}.")
    return value


def _start(settings: Settings, resource: Resource) -> datetime | None:
    """The first run's start, or ``None``; a problem noted when it cannot be one."""
    value = settings.get("start_date")
    if value is None:
        return None
    if resource.incremental is None:
        incremental = [r.name for r in catalogue().resources.values() if r.incremental]
        settings.problem(
            f"'start_date' applies only to incremental resources ({', '.join(incremental)}); "
            f"{resource.name!r} is read in full every run."
        )
        return None
    if not isinstance(value, str):
        settings.problem("'start_date' must be a date (YYYY-MM-DD) or ISO date-time.")
        return None
    try:
        return parse_when(value, "'start_date'")
    except ConfigurationError as error:
        settings.problem(error.message)
        return None
