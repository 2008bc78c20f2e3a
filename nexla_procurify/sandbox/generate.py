"""Deterministic seeded values generated from the contract's response schemas.

``compile_plan`` turns an object schema into a ``Plan``: a record's position (0-based; its id is
position + 1) gives the record, or one field of it, without materialising the table, so any size
starts instantly and memory stays flat. Every value respects its schema (type, nullability, enum,
``maxLength``, decimal patterns, formats); field names and the enclosing object's name make it
plausible (addresses, currencies, people, products); numbers are sized as the contract's
decimal strings of the same name; a later timestamp (``EARLIER``: an end, a due date) follows
its earlier one. Nested objects and arrays are drawn from a small pool of variants built once
per field (shared, never mutated in place); ``links`` makes children agree with their parents.
"""

from __future__ import annotations

__all__ = ["MODIFIED_FIELDS", "Compiler", "Gen", "Plan", "Record"]

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nexla_procurify.sandbox import words
from nexla_procurify.sandbox.contract import resolve
from nexla_procurify.sandbox.registry import ROLES
from nexla_procurify.sandbox.words import iso, iso_date, mix, salt

Record = dict[str, Any]
Schema = Mapping[str, Any]
Gen = Callable[[int, int], Any]  # (position or variant, record hash) -> value

DAY = 86400
CURSOR_WINDOW = 90 * DAY  # modified fields spread over the 90 days before the anchor
HISTORY_WINDOW = 365 * DAY  # other timestamps: the year before that
MODIFIED_FIELDS = ("dateModified", "last_modified", "last_modified_datetime", "updated_at")
VARIANTS = 12  # nested values per field: ids 1..12, which exist in any default-sized table
MAX_DEPTH = 16
_DECIMAL = re.compile(r"^\^\\d\{0,(\d+)\}\(\?:\\\.\\d\{0,(\d+)\}\)\?\$$")
# later timestamp -> the one it follows (by up to 90 days) in the same object
EARLIER: Mapping[str, str] = {
    "end_datetime": "start_datetime",
    "end_date": "start_date",
    "expiry_date": "date",
    "closed_date": "date",
    "promise_date": "date",
    "dateRequired": "date",
    "due_date": "invoice_date",
    "gl_post_date": "invoice_date",
    "approved_datetime": "created_at",
    "dateInvoiced": "created_at",
    "received_on": "created_at",
}
_DATED = re.compile(r"(_date|Date|datetime|_on|_at)$")
_STIR = 0x2545F4914F6CDD1D
_LINES = ("item", "line", "cost", "payment_method", "approver", "address", "domain")
_MASK = (1 << 64) - 1


def pick(h: int, fsalt: int, size: int) -> int:
    return ((h ^ fsalt) * _STIR & _MASK) % size


@dataclass(frozen=True)
class Plan:
    """How to produce the records of one collection."""

    name: str
    seed: int
    fields: tuple[tuple[str, Gen], ...]
    by_name: Mapping[str, Gen] = field(init=False, repr=False, compare=False, hash=False)
    rsalt: int = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", dict(self.fields))
        object.__setattr__(self, "rsalt", salt(self.name))

    def _hash(self, position: int) -> int:
        return mix(self.seed, self.rsalt, position)

    def record(self, position: int) -> Record:
        """The generated record at ``position`` (the same every time)."""
        h = self._hash(position)
        return {name: gen(position, h) for name, gen in self.fields}

    def value(self, position: int, name: str) -> Any:
        """One field of the record at ``position``, without generating the rest; ``None`` for a
        field the plan has not."""
        gen = self.by_name.get(name)
        return None if gen is None else gen(position, self._hash(position))

    @property
    def field_names(self) -> tuple[str, ...]:
        """The names of the fields, in schema order."""
        return tuple(name for name, _ in self.fields)


class Compiler:
    """Compiles schemas of one collection into generators (at sandbox start, or lazily for the
    extra fields of a detail answer)."""

    def __init__(
        self, collection: str, defs: Mapping[str, Schema], *, seed: int, anchor: float
    ) -> None:
        self.collection = collection
        self.defs = defs
        self.seed = seed
        self.anchor = anchor

    def plan(self, schema: Schema, name: str | None = None) -> Plan:
        """The plan generating records of ``schema`` (an object schema)."""
        inner = self.resolve(schema)
        props: Mapping[str, Schema] = inner.get("properties", {})
        fields = tuple(
            (key, self.gen(prop, key, self.collection, 0)) for key, prop in props.items()
        )
        return Plan(name or self.collection, self.seed, self._ordered(fields, props))

    def value(self, schema: Schema, name: str, position: int) -> Any:
        """One value for ``schema`` (for a single answer's field the record does not hold)."""
        return self.gen(schema, name, self.collection, 0)(position, mix(self.seed, position))

    # -- schema helpers -------------------------------------------------------------------------

    def resolve(self, schema: Schema) -> Schema:
        """``schema`` with its top-level ``$ref`` followed and ``allOf`` parts merged."""
        return resolve(schema, self.defs)

    def branch(self, schema: Schema) -> tuple[Schema | None, bool]:
        """(the first non-null branch, whether null is allowed)."""
        schema = self.resolve(schema)
        options = schema.get("oneOf") or schema.get("anyOf")
        if options:
            nullable = False
            chosen: Schema | None = None
            for option in options:
                found, is_null = self.branch(option)
                nullable = nullable or is_null
                if chosen is None and found is not None:
                    chosen = {
                        **{k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")},
                        **found,
                    }
            return chosen, nullable
        kinds = schema.get("type")
        if kinds == "null":
            return None, True
        if isinstance(kinds, list):
            rest = [kind for kind in kinds if kind != "null"]
            nullable = len(rest) < len(kinds)
            if not rest:
                return None, True
            return {**schema, "type": rest[0]}, nullable
        return schema, False

    # -- generators -----------------------------------------------------------------------------

    def gen(self, schema: Schema, name: str, parent: str, depth: int) -> Gen:
        """The generator of one value of ``schema`` (field ``name`` of ``parent``, ``depth``
        levels down)."""
        inner, nullable = self.branch(schema)
        if inner is None:
            return _const(None)
        kind = inner.get("type")
        if kind == "array" or kind == "object" or "properties" in inner:
            if depth >= MAX_DEPTH:
                return _const(None if nullable else ([] if kind == "array" else {}))
            build = (
                self._array(inner, name, depth)
                if kind == "array"
                else self._object(inner, name, depth)
            )
            if depth > 0:
                return build
            # an optional nested object is absent (null) for half of the records
            pool = tuple(
                None
                if nullable and kind == "object" and k % 2 == 1
                else build(k, mix(self.seed, salt(name), k))
                for k in range(VARIANTS)
            )
            fsalt = salt(self.collection + "." + name) | 1
            return lambda _p, h: pool[((h ^ fsalt) * _STIR & _MASK) % VARIANTS]
        return self.scalar(inner, name, parent, depth)

    def _object(self, schema: Schema, name: str, depth: int) -> Gen:
        props: Mapping[str, Schema] = schema.get("properties", {})
        if name == "role" and "name" in props:
            return _role(props)
        gens = self._ordered(
            tuple((key, self.gen(prop, key, name, depth + 1)) for key, prop in props.items()), props
        )
        return lambda p, h: {key: gen(p, h) for key, gen in gens}

    def _ordered(
        self, gens: tuple[tuple[str, Gen], ...], props: Mapping[str, Schema]
    ) -> tuple[tuple[str, Gen], ...]:
        """``gens`` with each later timestamp (``EARLIER``) generated after its earlier one."""
        found = dict(gens)
        out: list[tuple[str, Gen]] = []
        for key, gen in gens:
            first = EARLIER.get(key)
            fmt = self._stamped(props[key], key)
            if first in found and fmt and self._stamped(props[first], first):
                gen = _after(found[first], gen, fmt, salt("after." + key) | 1)
            out.append((key, gen))
        return tuple(out)

    def _stamped(self, schema: Schema, name: str) -> str | None:
        """The timestamp format of a field (None: not a timestamp)."""
        inner, _ = self.branch(schema)
        if inner is None or inner.get("type") != "string":
            return None
        fmt = inner.get("format")
        if fmt in ("date", "date-time"):
            return str(fmt)
        return "date-time" if fmt is None and _DATED.search(name) else None

    def _array(self, schema: Schema, name: str, depth: int) -> Gen:
        items = schema.get("items")
        if not isinstance(items, Mapping):
            return _const([])
        item = self.gen(items, name.removesuffix("s"), name, depth + 1)
        least = int(schema.get("minItems", 0))
        # line items, costs, approvers: one or two; emails: one; other lists: mostly empty
        lines = any(word in name.lower() for word in _LINES)
        single = "email" in name.lower()

        def build(p: int, h: int) -> list[Any]:
            count = 1 if single else 1 + (h >> 7) % 2 if lines else int((h >> 7) % 3 == 0)
            count = max(least, count)
            # items are variants too: their ids and names agree with the records they cite
            return [item((p * 3 + n) % VARIANTS, mix(h, n)) for n in range(count)]

        return build

    def scalar(self, schema: Schema, name: str, parent: str, depth: int) -> Gen:
        """The generator of a value of a scalar ``schema`` (const, enum, format, type)."""
        fsalt = salt(parent + "." + name) | 1
        if "const" in schema:
            return _const(schema["const"])
        if "enum" in schema:
            choices = tuple(c for c in schema["enum"] if c is not None) or (None,)
            return lambda _p, h: choices[pick(h, fsalt, len(choices))]
        kind = schema.get("type")
        fmt = schema.get("format")
        if kind == "integer":
            return self._integer(schema, name, depth, fsalt)
        if kind == "number":
            # a decimal sized by its name (a score is below 10, a quantity below 100), as the
            # contract's decimal strings of the same names are
            text = _decimal({}, name, fsalt)
            return lambda p, h: float(text(p, h))
        if kind == "boolean":
            if "active" in name.lower():
                return lambda _p, h: pick(h, fsalt, 10) != 0
            return lambda _p, h: pick(h, fsalt, 4) == 0
        if kind != "string":
            return _const(None)
        if fmt is None and _DATED.search(name):
            fmt = "date-time"  # a timestamp the contract types as plain text
        if fmt in ("date-time", "date"):
            return self._timestamp(name, fmt, fsalt)
        if fmt == "uuid" or name.endswith("uuid"):
            seed, rsalt = self.seed, salt(self.collection + "." + parent + "." + name)
            return lambda p, _h: words.uuid_for(seed, rsalt, p)
        if fmt == "decimal" or _DECIMAL.match(str(schema.get("pattern", ""))):
            return _decimal(schema, name, fsalt)
        if schema.get("pattern") == "^[0-9]{4}$":
            return lambda p, _h: f"{1000 + p % 9000:04d}"
        text = words.text(self.collection, name, parent, fmt, fsalt)
        longest, shortest = schema.get("maxLength"), int(schema.get("minLength", 0))
        if shortest:
            return lambda p, h: _fit(text(p, h), longest, shortest)
        if isinstance(longest, int):
            return lambda p, h: text(p, h)[:longest]
        return text

    def _integer(self, schema: Schema, name: str, depth: int, fsalt: int) -> Gen:
        low = schema.get("minimum")
        high = schema.get("maximum")
        if depth == 0 and name in ("id", "user", "procurify_PO"):
            return lambda p, _h: p + 1
        if depth > 0 and (name == "id" or name in words.REFERENCES):
            return lambda p, _h: p % VARIANTS + 1
        span = 20
        base = 1 if low is None or low < 1 else int(low)
        if high is not None and high < base + span:
            span = max(1, int(high) - base + 1)
        return lambda _p, h: base + pick(h, fsalt, span)

    def _timestamp(self, name: str, fmt: str, fsalt: int) -> Gen:
        if name in MODIFIED_FIELDS:
            start, width = self.anchor - CURSOR_WINDOW, CURSOR_WINDOW
        else:
            start, width = self.anchor - CURSOR_WINDOW - HISTORY_WINDOW, HISTORY_WINDOW
        render = iso if fmt == "date-time" else iso_date
        return lambda _p, h: render(start + pick(h, fsalt, int(width)))


def _role(props: Mapping[str, Schema]) -> Gen:
    """A user's role, from the fixed set (``registry.ROLES``)."""

    def role(p: int, _h: int) -> Any:
        number, name, kind = ROLES[p % len(ROLES)]
        found = {"id": number, "name": name, "type": kind}
        return {key: value for key, value in found.items() if key in props}

    return role


def _after(first: Gen, own: Gen, fmt: str, fsalt: int) -> Gen:
    render = iso if fmt == "date-time" else iso_date

    def later(p: int, h: int) -> Any:
        begin = first(p, h)
        if not isinstance(begin, str):
            return own(p, h)
        start = datetime.fromisoformat(begin.replace("Z", "+00:00"))
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        return render(start.timestamp() + DAY + pick(h, fsalt, 89 * DAY))

    return later


def _const(value: Any) -> Gen:
    return lambda _p, _h: value


def _fit(text: str, longest: Any, shortest: int) -> str:
    if isinstance(longest, int) and len(text) > longest:
        text = text[:longest].rstrip() or text[:longest]
    return text.ljust(shortest, "x")


def _decimal(schema: Schema, name: str, fsalt: int) -> Gen:
    """A decimal string within the pattern's digits; rates keep all their places."""
    found = _DECIMAL.match(str(schema.get("pattern", "")))
    whole, places = (int(found.group(1)), int(found.group(2))) if found else (13, 2)
    lower = name.lower()
    shown = places if ("rate" in lower or "score" in lower) else min(places, 2)
    if "rate" in lower and whole >= 3:
        return lambda p, _h: words.rate(p, shown)
    small = any(word in lower for word in ("quantity", "qty", "percentage", "limit"))
    digits = min(whole, 1 if "score" in lower else 2 if small else 5)
    scale = 10**shown
    span = 10**digits * scale

    def render(_p: int, h: int) -> str:
        units = pick(h, fsalt, span)
        if not shown:
            return str(units)
        head = str(units // scale) if digits else ""
        return f"{head}.{units % scale:0{shown}d}"

    return render
