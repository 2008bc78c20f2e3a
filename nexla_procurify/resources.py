"""The catalogue of Procurify resources, read from ``connector.json`` (data, not code paths):
paths, filters, cursors, keys and write operations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import quote

from nexla_procurify import manifest
from nexla_procurify.errors import ConfigurationError

Pagination = Literal["page", "none", "single"]
Granularity = Literal["date", "date-time"]
# How a request carries its record: the object itself, or a list holding it (user invitations).
BodyShape = Literal["object", "array"]
# Where a create's 2xx answer holds the created record: ``{"data": record}``, ``{"data":
# [record]}`` (user invitations), or the bare record (payment methods).
AnswerShape = Literal["data", "data_list", "record"]


@dataclass(frozen=True)
class Incremental:
    cursor_field: str
    filter: str
    granularity: Granularity


@dataclass(frozen=True)
class PathParam:
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
        return "source" in self.modes

    def list_path(self, values: Mapping[str, str]) -> str:
        assert self.path is not None
        path = self.path
        for param in self.path_params:
            path = path.replace("{" + param.name + "}", values[param.name])
        return path

    def operation(self, name: str) -> Operation:
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
    resources: Mapping[str, Resource]
    max_page_size: int
    default_page_size: int
    default_read_concurrency: int
    max_read_concurrency: int
    default_write_concurrency: int
    max_write_concurrency: int

    def get(self, name: object, mode: str) -> Resource:
        found = self.resources.get(name) if isinstance(name, str) else None
        if found is None or mode not in found.modes:
            names = ", ".join(self.names(mode))
            raise ConfigurationError(f"Unknown {mode} resource {name!r}; choose one of: {names}.")
        return found

    def names(self, mode: str) -> list[str]:
        return [name for name, resource in self.resources.items() if mode in resource.modes]


@cache
def catalogue() -> Catalogue:
    data = manifest.connector_manifest()
    source, destination = data["source"], data["destination"]
    specs = {spec["name"]: spec for spec in data["resources"]}
    return Catalogue(
        # Read-only views: the catalogue is cached and shared by every caller.
        resources=MappingProxyType({spec["name"]: _resource(spec, specs)
                                    for spec in data["resources"]}),
        max_page_size=source["max_page_size"],
        default_page_size=source["default_page_size"],
        default_read_concurrency=source["default_concurrency"],
        max_read_concurrency=source["max_concurrency"],
        default_write_concurrency=destination["default_concurrency"],
        max_write_concurrency=destination["max_concurrency"],
    )
