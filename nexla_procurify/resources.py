"""The catalogue of Procurify resources, read from ``connector.json`` (data, not code paths):
paths, filters, cursors, keys and write operations."""

from __future__ import annotations

__all__ = [
    "LIST_KEYS",
    "AnswerShape",
    "BodyShape",
    "Catalogue",
    "Detail",
    "Granularity",
    "Incremental",
    "Lookup",
    "Operation",
    "Pagination",
    "PathParam",
    "Resource",
    "catalogue",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import quote

from nexla_procurify import manifest
from nexla_procurify.concurrency import AUTO, Concurrency
from nexla_procurify.errors import ConfigurationError

# How a list is read: page-number pages (``?page=&page_size=``), one answer holding every
# record, or one record (``/users/me``).
Pagination = Literal["page", "none", "single"]
# What an incremental cursor holds, and so what its filter takes: a day or an instant.
Granularity = Literal["date", "date-time"]
# How a request carries its record: the object itself, or a list holding it (user invitations).
BodyShape = Literal["object", "array"]
# Where a create's 2xx answer holds the created record: ``{"data": record}``, ``{"data":
# [record]}`` (user invitations), or the bare record (payment methods).
AnswerShape = Literal["data", "data_list", "record"]


@dataclass(frozen=True)
class Incremental:
    """How a resource is read incrementally: records whose ``cursor_field`` is at or after the
    saved cursor, asked for with the list filter ``filter`` (a ``*_0`` lower bound) at the
    cursor's ``granularity``."""

    cursor_field: str
    filter: str
    granularity: Granularity


@dataclass(frozen=True)
class PathParam:
    """A ``{name}`` in a list path, set by the source configuration key of the same name
    (purchase orders' ``role`` and ``status``): one of ``choices``, else ``default``."""

    name: str
    default: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class Detail:
    """A stream of detail records: each record of the list ``of`` read again from ``path``
    (``GET /api/v2/ap/bills/{id}``), ``{id}`` taken from the list record's ``id_field``."""

    of: str
    path: str
    id_field: str

    def path_for(self, record: Mapping[str, Any]) -> str | None:
        """The detail path of a list record, or ``None`` when the record has no usable id."""
        value = record.get(self.id_field)
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            return None
        return self.path.replace("{id}", quote(str(value), safe=""))


@dataclass(frozen=True)
class Operation:
    """A write operation (``create``, ``update``, ``patch``, or an action such as ``close``):
    the HTTP ``method`` and ``path`` (``{id}`` taken from the record's ``id_field``), and the
    request schema records are validated against before any call (``None``: no body)."""

    name: str
    method: str
    path: str
    request_schema: str | None
    id_field: str | None
    body: BodyShape = "object"
    answer: AnswerShape = "data"
    # Fields Procurify requires but computes itself (a vendor's ``overall_score``): sent with
    # this value when the record leaves them out.
    defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # The operation Procurify recommends instead of this deprecated one.
    deprecated_for: str | None = None


@dataclass(frozen=True)
class Lookup:
    """How to find an existing record by a natural key: ``GET <list>?<filter>=<value>``.

    ``conclusive`` says the filter is an exact match, so that "not found" proves the record
    does not exist; a free-text ``search`` is not, and only a record found counts. ``compare``
    maps a request field to the record field that holds it, for the fields that tell whether a
    found record is the one sent (default: every field sent, under the same name)."""

    field: str
    filter: str
    conclusive: bool = True
    compare: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Resource:
    """One Procurify resource as ``connector.json`` describes it.

    ``name`` is what configurations say (``vendors``), ``title`` what people read; ``modes``
    holds ``source`` and/or ``destination``; ``key`` the fields that identify a record (the
    SCHEMA message's key properties). Reading: the list ``path`` (``None`` for a
    destination-only resource), its ``pagination``, the stable ``order_by`` a read asks for
    (``None`` where the list takes none), the query parameters it accepts as ``filters`` (name
    -> JSON Schema of the value), ``incremental`` when it is read from a cursor, the
    ``path_params`` its path takes, the record schema ``stream_schema`` (a path under the
    package's files), and ``detail`` for a stream of detail records. Writing: ``operations`` by
    name (upsert aside), ``upsert_key`` (the natural key an upsert finds records by, ``None``:
    no upsert) and ``lookup`` (how to find a record by that key)."""

    name: str
    title: str
    modes: tuple[str, ...]
    key: tuple[str, ...]
    path: str | None
    pagination: Pagination
    order_by: str | None
    filters: Mapping[str, Mapping[str, Any]]
    incremental: Incremental | None
    path_params: tuple[PathParam, ...]
    stream_schema: str | None
    operations: Mapping[str, Operation]
    upsert_key: str | None
    lookup: Lookup | None
    detail: Detail | None = None

    @property
    def readable(self) -> bool:
        """Whether the resource can be read (its modes include ``source``)."""
        return "source" in self.modes

    def list_path(self, values: Mapping[str, str]) -> str:
        """The list path with each path parameter replaced by its value in ``values``."""
        assert self.path is not None
        path = self.path
        for param in self.path_params:
            path = path.replace("{" + param.name + "}", values[param.name])
        return path

    def operation(self, name: str) -> Operation:
        """The write operation ``name``; a ``ConfigurationError`` listing the supported ones
        when the resource has no such operation."""
        try:
            return self.operations[name]
        except KeyError:
            supported = ", ".join(self.write_operations) or "none"
            raise ConfigurationError(
                f"Resource {self.name!r} does not support operation {name!r}; "
                f"supported: {supported}."
            ) from None

    @property
    def write_operations(self) -> tuple[str, ...]:
        """The names of every write operation, ``upsert`` included when the resource has one."""
        names = list(self.operations)
        if self.upsert_key is not None:
            names.append("upsert")
        return tuple(names)


# What a detail stream takes from the list it reads the details of.
LIST_KEYS = ("path", "pagination", "order_by", "filters", "incremental", "path_params")


def _resource(data: Mapping[str, Any], specs: Mapping[str, Mapping[str, Any]]) -> Resource:
    detail = data.get("detail")
    if detail is not None:
        listed = specs[detail["of"]]
        data = {**data, **{key: listed[key] for key in LIST_KEYS if key in listed}}
    operations: dict[str, Operation] = {}
    upsert_key: str | None = None
    for name, spec in data.get("operations", {}).items():
        if name == "upsert":
            upsert_key = spec["key"]
            continue
        operations[name] = Operation(
            name=name,
            method=spec["method"],
            path=spec["path"],
            request_schema=spec.get("request_schema"),
            id_field=spec.get("id_field"),
            body=spec.get("body", "object"),
            answer=spec.get("answer", "data"),
            defaults=MappingProxyType(dict(spec.get("defaults", {}))),
            deprecated_for=spec.get("deprecated_for"),
        )
    incremental = data.get("incremental")
    lookup = data.get("lookup")
    return Resource(
        name=data["name"],
        title=data["title"],
        modes=tuple(data["modes"]),
        key=tuple(data["key"]),
        path=data.get("path"),
        pagination=data.get("pagination", "page"),
        order_by=data.get("order_by"),
        filters=MappingProxyType(
            {name: MappingProxyType(spec) for name, spec in data.get("filters", {}).items()}
        ),
        incremental=Incremental(**incremental) if incremental else None,
        path_params=tuple(
            PathParam(name, spec["default"], tuple(spec["enum"]))
            for name, spec in data.get("path_params", {}).items()
        ),
        stream_schema=data.get("stream_schema"),
        operations=MappingProxyType(operations),
        upsert_key=upsert_key,
        lookup=_lookup(lookup) if lookup else None,
        detail=Detail(**detail) if detail else None,
    )


def _lookup(data: Mapping[str, Any]) -> Lookup:
    compare = data.get("compare")
    return Lookup(
        field=data["field"],
        filter=data["filter"],
        conclusive=data.get("conclusive", True),
        compare=MappingProxyType(dict(compare)) if compare is not None else None,
    )


@dataclass(frozen=True)
class Catalogue:
    """Every resource by name, in ``connector.json``'s order, and the bounds and defaults of
    page size, read and write concurrency and extra pages (from the source and destination
    schemas)."""

    resources: Mapping[str, Resource]
    max_page_size: int
    default_page_size: int
    default_read_concurrency: Concurrency
    max_read_concurrency: int
    default_write_concurrency: Concurrency
    max_write_concurrency: int
    default_max_extra_pages: int
    max_extra_pages_limit: int

    def get(self, name: object, mode: str) -> Resource:
        """The resource ``name`` in ``mode`` (``source`` or ``destination``); a
        ``ConfigurationError`` listing the choices when there is none."""
        found = self.resources.get(name) if isinstance(name, str) else None
        if found is None or mode not in found.modes:
            names = ", ".join(self.names(mode))
            raise ConfigurationError(f"Unknown {mode} resource {name!r}; choose one of: {names}.")
        return found

    def names(self, mode: str) -> list[str]:
        """The names of the resources available in ``mode``, in catalogue order."""
        return [name for name, resource in self.resources.items() if mode in resource.modes]


@cache
def catalogue() -> Catalogue:
    """The catalogue of the shipped ``connector.json``, checked against its schema first (a
    damaged file is a ``ConfigurationError`` naming each fault). Loaded once and shared.

    Page-size and concurrency bounds and defaults are read from the source and destination
    configuration schemas, the one place they are said (a host shows them in its forms)."""
    data = manifest.connector_manifest()
    manifest.check_connector_manifest(data)
    source = _properties(data["schemas"]["source"])
    destination = _properties(data["schemas"]["destination"])
    specs = {spec["name"]: spec for spec in data["resources"]}
    return Catalogue(
        # Read-only views: the catalogue is cached and shared by every caller.
        resources=MappingProxyType(
            {spec["name"]: _resource(spec, specs) for spec in data["resources"]}
        ),
        max_page_size=_bound(source, "page_size", "maximum"),
        default_page_size=_bound(source, "page_size", "default"),
        default_read_concurrency=_concurrency_default(source),
        max_read_concurrency=_bound(source, "concurrency", "maximum"),
        default_write_concurrency=_concurrency_default(destination),
        max_write_concurrency=_bound(destination, "concurrency", "maximum"),
        default_max_extra_pages=_bound(source, "max_extra_pages", "default"),
        max_extra_pages_limit=_bound(source, "max_extra_pages", "maximum"),
    )


def _properties(relative: str) -> tuple[str, Mapping[str, Any]]:
    """A configuration schema's name and its properties (``schemas/source.schema.json``)."""
    loaded = manifest.load_json(relative)
    properties = loaded.get("properties") if isinstance(loaded, dict) else None
    return relative, properties if isinstance(properties, dict) else {}


def _concurrency_default(schema: tuple[str, Mapping[str, Any]]) -> Concurrency:
    """The default ``concurrency`` of a configuration schema: ``"auto"`` or a whole number."""
    prop = schema[1].get("concurrency")
    if isinstance(prop, Mapping) and prop.get("default") == AUTO:
        return AUTO
    return _bound(schema, "concurrency", "default")


def _bound(schema: tuple[str, Mapping[str, Any]], key: str, bound: str) -> int:
    """A whole-number bound or default of a configuration key, as its schema says it."""
    relative, properties = schema
    prop = properties.get(key)
    value = prop.get(bound) if isinstance(prop, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(
            f"{relative} does not give {key!r} a whole-number {bound!r} (the package's "
            "schemas are damaged: reinstall it)."
        )
    return value
