"""The sandbox's data: one ``Table`` per catalogue resource, seeded, plus record-level edits.

Everything here works on records; HTTP shapes live in ``api.py`` and ``envelope.py``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import Draft202012Validator

from nexla_procurify import manifest
from nexla_procurify.resources import Catalogue, Resource, catalogue
from nexla_procurify.sandbox.data import MODIFIED_FIELDS, Record, build_plan, iso
from nexla_procurify.sandbox.store import Table
from nexla_procurify.sandbox.writes import validator

DEFAULT_RECORDS = 25
_EDITABLE_TEXT = ("name", "description", "comment", "lineComment", "invoice_number", "codename")


def _schema(path: str | None) -> dict[str, Any] | None:
    return None if path is None else manifest.load_json(path)


class Database:
    def __init__(
        self,
        records: int | Mapping[str, int] = DEFAULT_RECORDS,
        *,
        seed: int = 0,
        anchor: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalogue: Catalogue = catalogue()
        self.clock = clock
        self.anchor = anchor if anchor is not None else math.floor(clock() / 3600) * 3600
        self.seed = seed
        unknown = set(records) - set(self.catalogue.resources) if isinstance(records, Mapping) \
            else set()
        if unknown:
            raise ValueError(f"Unknown sandbox resources: {', '.join(sorted(unknown))}")
        self.tables: dict[str, Table] = {}
        self._validators: dict[str, Draft202012Validator | None] = {}
        for name, resource in self.catalogue.resources.items():
            wanted = records.get(name, DEFAULT_RECORDS) if isinstance(records, Mapping) \
                else records
            count = int(wanted)
            if not resource.readable or resource.pagination == "single":
                count = 0
            cursor = resource.incremental.cursor_field if resource.incremental else None
            plan = build_plan(name, _schema(resource.stream_schema), seed=seed,
                              anchor=self.anchor, cursor=cursor)
            self.tables[name] = Table(name, plan, max(0, count), _indexed(resource))

    def resource(self, name: str) -> Resource:
        return self.catalogue.resources[name]

    def table(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(f"Unknown sandbox resource {name!r}") from None

    def stream_validator(self, name: str) -> Draft202012Validator | None:
        if name not in self._validators:
            schema = _schema(self.resource(name).stream_schema)
            self._validators[name] = None if schema is None else validator(schema)
        return self._validators[name]

    def now(self) -> str:
        return iso(self.clock())

    def modified_fields(self, name: str) -> tuple[str, ...]:
        """Fields a write sets to now: the incremental cursor and the usual "modified" ones."""
        resource = self.resource(name)
        fields = self.table(name).plan.field_names
        found = [f for f in MODIFIED_FIELDS if f in fields]
        if resource.incremental and resource.incremental.cursor_field not in found:
            found.append(resource.incremental.cursor_field)
        return tuple(found)

    def stamped(self, name: str, record: Record) -> Record:
        now = self.now()
        return {**record, **dict.fromkeys(self.modified_fields(name), now)}

    def locate(self, name: str, ref: object) -> int | None:
        """A record's position from its id (an int: the id, or the hidden id for records
        without one) or its key (a string such as an order's uuid)."""
        table = self.table(name)
        with table.lock:
            if isinstance(ref, int) and not isinstance(ref, bool):
                return ref - 1 if 0 < ref <= len(table) else None
            key = self.resource(name).key[0]
            return table.position_of(key, ref)

    def edit(self, name: str, ref: object, changes: Mapping[str, Any]) -> Record:
        """Another user edits a record: ``changes`` (or a visible text change) and now."""
        table = self.table(name)
        with table.lock:
            position = self.locate(name, ref)
            if position is None:
                raise KeyError(f"No {name} record {ref!r}")
            current = table.get(position)
            updates = dict(changes)
            if not updates:
                updates = _visible_change(current)
            record = self.stamped(name, {**current, **updates})
            table.put(position, record)
            return record

    def add(self, name: str, fields: Mapping[str, Any]) -> Record:
        """Another user creates a record: the next id, now, and ``fields``."""
        table = self.table(name)

        def build(position: int) -> Record:
            return self.stamped(name, {**table.plan.record(position), **fields})

        return table.append(build)[1]


def _indexed(resource: Resource) -> tuple[str, ...]:
    fields = [resource.lookup.field] if resource.lookup else []
    if resource.upsert_key and resource.upsert_key not in fields:
        fields.append(resource.upsert_key)
    if resource.key and resource.key[0] != "id":
        fields.append(resource.key[0])
    return tuple(fields)


def _visible_change(record: Record) -> dict[str, Any]:
    for field in _EDITABLE_TEXT:
        value = record.get(field)
        if isinstance(value, str):
            return {field: value.removesuffix(" (edited)") + " (edited)"}
    return {}
