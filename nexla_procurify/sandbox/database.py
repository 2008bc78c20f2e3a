"""The sandbox's data: one ``Table`` per collection, seeded from the contract's list schemas,
plus record-level edits and the fitting of records to each answer's schema.

Everything here works on records; HTTP shapes live in ``api.py`` and ``listing.py``.
"""

from __future__ import annotations

__all__ = ["DEFAULT_RECORDS", "Database"]

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from nexla_procurify.sandbox import links
from nexla_procurify.sandbox.contract import Contract, Operation, contract
from nexla_procurify.sandbox.generate import MODIFIED_FIELDS, Compiler, Plan, Record
from nexla_procurify.sandbox.registry import COLLECTIONS, ME_EMAIL, ME_NAMES, Collection
from nexla_procurify.sandbox.shape import Schema, Shaper
from nexla_procurify.sandbox.store import Table
from nexla_procurify.sandbox.words import iso

DEFAULT_RECORDS = 25
_EDITABLE_TEXT = ("name", "description", "comment", "lineComment", "invoice_number", "codename")
_WRITE_ONLY = frozenset({"requisitions", "me"})


class Database:
    """The sandbox's data: one table per collection, generated from the contract's schemas, with
    a clock for the timestamps writes set."""

    def __init__(
        self,
        records: int | Mapping[str, int] = DEFAULT_RECORDS,
        *,
        seed: int = 0,
        anchor: float | None = None,
        clock: Callable[[], float] = time.time,
        normalise: bool = False,
        list_lag: int = 0,
    ) -> None:
        """``normalise``: store written text, e-mails and decimals as DRF does
        (``drf.normalised``). ``list_lag``: a record created through the API is left out of
        that many list answers, as a list lagging behind writes."""
        self.normalise = normalise
        self.list_lag = list_lag
        self.contract: Contract = contract()
        self.shaper = Shaper(self.contract)
        self.clock = clock
        self.anchor = anchor if anchor is not None else math.floor(clock() / 3600) * 3600
        self.seed = seed
        unknown = set(records) - set(COLLECTIONS) if isinstance(records, Mapping) else set()
        if unknown:
            raise ValueError(f"Unknown sandbox resources: {', '.join(sorted(unknown))}")
        self.tables: dict[str, Table] = {}
        # compiled plans and fitted schemas, keyed by the schema object's id; the schema is kept
        # with its plan so that the id stays its own
        self._plans: dict[tuple[str, int], tuple[Schema, Plan]] = {}
        self._schemas: dict[str, Schema] = {}
        self._lock = threading.Lock()
        for name, collection in COLLECTIONS.items():
            wanted = records.get(name, DEFAULT_RECORDS) if isinstance(records, Mapping) else records
            count = 0 if name in _WRITE_ONLY else max(0, int(wanted))
            indexed = tuple(f for f in (*collection.unique, collection.key) if f != "id")
            self.tables[name] = Table(name, self._planner(collection), count, indexed)

    def collection(self, name: str) -> Collection:
        """The registry's description of the collection ``name``."""
        return COLLECTIONS[name]

    def table(self, name: str) -> Table:
        """The table of the collection ``name``; ``KeyError`` naming it when there is none."""
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(f"Unknown sandbox resource {name!r}") from None

    # -- schemas and generation -----------------------------------------------------------------

    def compiler(self, name: str) -> Compiler:
        """A record generator for the collection ``name`` (this database's seed and time anchor)."""
        return Compiler(name, self.contract.defs, seed=self.seed, anchor=self.anchor)

    def item_schema(self, name: str) -> Schema:
        """The schema of one record, as the collection's list answers it."""
        return self._remembered("item " + name, lambda: self._item_schema(name))

    def _remembered(self, key: str, compute: Callable[[], Schema]) -> Schema:
        with self._lock:
            found = self._schemas.get(key)
        if found is None:
            found = compute()
            with self._lock:
                found = self._schemas.setdefault(key, found)
        return found

    def _item_schema(self, name: str) -> Schema:
        collection = self.collection(name)
        if collection.list_op is None:
            return {"type": "object", "properties": {}}
        method, template = collection.list_op.split(" ", 1)
        item = self.data_schema(self.contract.operation(method, template))
        item = self.shaper.items(item) or item
        if collection.wrapped:
            inner = self.shaper.items((self.shaper.properties(item) or {})["data"])
            assert inner is not None
            item = inner
        return self.shaper.resolve(item)

    def data_schema(self, operation: Operation) -> Schema:
        """The schema of ``data`` in the operation's success answer (the whole body when the
        answer has no envelope)."""
        return self._remembered("data " + operation.name, lambda: self._data_schema(operation))

    def _data_schema(self, operation: Operation) -> Schema:
        _, schema = operation.success()
        if schema is None:
            return {}
        props = self.shaper.properties(schema) or {}
        return (
            self.shaper.resolve(props["data"])
            if "data" in props and ("metadata" in props or "pagination" in props)
            else self.shaper.resolve(schema)
        )

    def _planner(self, collection: Collection) -> Callable[[], Plan]:
        def compile_plan() -> Plan:
            plan = self.compiler(collection.name).plan(self.item_schema(collection.name))
            return links.linked(self, collection.name, plan)

        return compile_plan

    def plan_for(self, name: str, schema: Schema) -> Plan:
        """The generator of ``schema``'s fields for records of ``name`` (compiled once)."""
        key = (name, id(schema))
        with self._lock:
            found = self._plans.get(key)
        if found is None or found[0] is not schema:
            found = (schema, self.compiler(name).plan(schema))
            with self._lock:
                self._plans[key] = found
        return found[1]

    def shape(self, name: str, record: Mapping[str, Any], schema: Schema, position: int) -> Record:
        """``record`` as an answer of ``schema`` shows it."""
        plan = self.plan_for(name, schema)
        shaped = self.shaper.project(record, schema, lambda field, _: plan.value(position, field))
        return links.fill_children(self, name, shaped, position, schema)

    def me(self, schema: Schema) -> Record:
        """The user the sandbox's token speaks for, generated from ``schema``."""
        record = self.plan_for("me", schema).record(0)
        first, last = ME_NAMES
        fixed = {"email": ME_EMAIL, "firstName": first, "lastName": last, "is_active": True}
        return {**record, **{k: v for k, v in fixed.items() if k in record}}

    # -- writes ---------------------------------------------------------------------------------

    def now(self) -> str:
        """The sandbox clock's time, as ISO text."""
        return iso(self.clock())

    def modified_fields(self, name: str) -> tuple[str, ...]:
        """Fields a write sets to now (the collection's modified timestamps)."""
        fields = self.table(name).plan.field_names
        return tuple(f for f in MODIFIED_FIELDS if f in fields)

    def stamped(self, name: str, record: Record) -> Record:
        """``record`` with the collection's modified timestamps set to now."""
        return {**record, **dict.fromkeys(self.modified_fields(name), self.now())}

    def locate(self, name: str, ref: object) -> int | None:
        """A record's position from its id (an int: the id, or the position + 1 for records
        without one) or its key (a string such as an order's uuid)."""
        table = self.table(name)
        with table.lock:
            if isinstance(ref, int) and not isinstance(ref, bool):
                return ref - 1 if 0 < ref <= len(table) else None
            return table.position_of(self.collection(name).key, ref)

    def edit(self, name: str, ref: object, changes: Mapping[str, Any]) -> Record:
        """Another user edits a record: ``changes`` (or a visible text change) and now."""
        table = self.table(name)
        with table.lock:
            position = self.locate(name, ref)
            if position is None:
                raise KeyError(f"No {name} record {ref!r}")
            current = table.get(position)
            updates = dict(changes) or _visible_change(current)
            record = self.stamped(name, {**current, **updates})
            table.put(position, record)
            return record

    def add(self, name: str, fields: Mapping[str, Any]) -> Record:
        """Another user creates a record: the next id, now, and ``fields``."""
        table = self.table(name)

        def build(position: int) -> Record:
            return self.stamped(name, {**table.plan.record(position), **fields})

        return table.append(build)[1]


def _visible_change(record: Record) -> dict[str, Any]:
    for field in _EDITABLE_TEXT:
        value = record.get(field)
        if isinstance(value, str):
            return {field: value.removesuffix(" (edited)") + " (edited)"}
    return {}
