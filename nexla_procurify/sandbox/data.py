"""Deterministic seeded records, generated lazily from each resource's stream schema.

A ``Plan`` turns a record's position (0-based; the record's id is position + 1) into the record,
or into one field of it, without materialising the table: any size starts instantly and costs
memory only for the records that were edited or created.

Values come from the schema (types, enums, formats) and from field-name heuristics for
plausibility (names, emails, money with fixed decimals, uuids, timestamps); nested objects that
do not vary between records are built once and shared (records are never mutated in place).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
Schema = Mapping[str, Any]
FieldGen = Callable[[int, int], Any]  # (position, record hash) -> value

MASK = (1 << 64) - 1
DAY = 86400
CURSOR_WINDOW = 90 * DAY  # cursor fields spread over the 90 days before the anchor
HISTORY_WINDOW = 365 * DAY  # other date-times: the year before that

MODIFIED_FIELDS = ("dateModified", "last_modified", "last_modified_datetime", "updated_at")

_ADJECTIVES = (
    "Acme", "Northwind", "Summit", "Blue Ridge", "Pacific", "Evergreen", "Granite", "Harbor",
    "Maple", "Silverline", "Redwood", "Lakeside", "Prairie", "Atlas", "Cascade", "Golden",
)
_NOUNS = (
    "Office Supply", "Industrial", "Logistics", "Technologies", "Paper", "Lab Equipment",
    "Furniture", "Catering", "Electric", "Software", "Freight", "Print", "Safety", "Tools",
)
_SUFFIXES = ("Inc.", "Ltd.", "LLC", "Corp.", "Co.", "Group")
_FIRST = (
    "Ava", "Liam", "Noah", "Emma", "Olivia", "Mateo", "Sofia", "Lucas", "Mia", "Ethan",
    "Aria", "Leo", "Chloe", "Kai", "Zoe", "Omar", "Priya", "Hiro", "Nadia", "Jonas",
)
_LAST = (
    "Smith", "Chen", "Garcia", "Patel", "Nguyen", "Kim", "Brown", "Singh", "Martin", "Lopez",
    "Wilson", "Tanaka", "Dubois", "Rossi", "Novak", "Khan", "Silva", "Murphy", "Berg", "Cohen",
)
_CITIES = (
    ("Vancouver", "BC", "Canada", "V6B 1A1"),
    ("Toronto", "ON", "Canada", "M5V 2T6"),
    ("Seattle", "WA", "United States", "98101"),
    ("Austin", "TX", "United States", "73301"),
    ("Denver", "CO", "United States", "80202"),
    ("Montreal", "QC", "Canada", "H2Y 1C6"),
)
_DEPARTMENTS = (
    "Finance", "Operations", "Engineering", "Marketing", "Sales", "Facilities", "IT",
    "Human Resources", "Legal", "Procurement", "Research", "Customer Success",
)
_PRODUCTS = (
    "Printer paper (case)", "Laptop stand", "USB-C dock", "Safety goggles", "Nitrile gloves",
    "Whiteboard markers", "Office chair", "Standing desk", "Coffee beans 1kg", "Toner cartridge",
    "Label printer", "Monitor 27in", "Network switch", "Shipping boxes", "Hand sanitizer",
)
_CURRENCIES = (
    ("USD", "US Dollar", "1.000000"), ("CAD", "Canadian Dollar", "1.360000"),
    ("EUR", "Euro", "0.920000"), ("GBP", "Pound Sterling", "0.790000"),
    ("JPY", "Japanese Yen", "151.200000"), ("AUD", "Australian Dollar", "1.520000"),
    ("CHF", "Swiss Franc", "0.900000"), ("MXN", "Mexican Peso", "17.050000"),
)
_MONEY = ("price", "cost", "total", "subtotal", "amount", "budget", "balance", "freight",
          "other", "tax", "discount", "value")
_RATE = ("rate", "percentage", "quantity", "qty")


def mix(*parts: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps), stable across runs and platforms."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = (h ^ (part & MASK)) * 0xBF58476D1CE4E5B9 & MASK
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & MASK
        h ^= h >> 29
    return h


def salt(text: str) -> int:
    return int.from_bytes(text.encode()[:16].ljust(16, b"\0"), "big") ^ len(text)


def iso(timestamp: float) -> str:
    """UTC ISO-8601 with ``Z``, whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def iso_date(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


@dataclass(frozen=True)
class Plan:
    """How to produce the records of one resource."""

    resource: str
    seed: int
    fields: tuple[tuple[str, FieldGen | None, Any], ...]  # (name, generator, constant)
    by_name: Mapping[str, tuple[FieldGen | None, Any]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    rsalt: int = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {n: (g, c) for n, g, c in self.fields})
        object.__setattr__(self, "rsalt", salt(self.resource))

    def _hash(self, position: int) -> int:
        return mix(self.seed, self.rsalt, position)

    def record(self, position: int) -> Record:
        h = self._hash(position)
        return {
            name: constant if gen is None else gen(position, h)
            for name, gen, constant in self.fields
        }

    def value(self, position: int, name: str) -> Any:
        found = self.by_name.get(name)
        if found is None:
            return None
        gen, constant = found
        return constant if gen is None else gen(position, self._hash(position))

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.fields)


class _Builder:
    """Builds a ``Plan`` from a stream schema (one per resource, at sandbox start)."""

    def __init__(self, resource: str, schema: Schema, seed: int, anchor: float,
                 cursor: str | None) -> None:
        self.resource = resource
        self.schema = schema
        self.defs: Mapping[str, Any] = schema.get("$defs", {})
        self.seed = seed
        self.anchor = anchor
        self.cursor = cursor

    def plan(self) -> Plan:
        required = set(self.schema.get("required", ()))
        fields: list[tuple[str, FieldGen | None, Any]] = []
        for name, prop in self.schema.get("properties", {}).items():
            gen = _special(self.resource, name, self)
            if gen is None:
                gen = self.top_level(name, prop, name in required)
            if isinstance(gen, _Const):
                fields.append((name, None, gen.value))
            else:
                fields.append((name, gen, None))
        return Plan(self.resource, self.seed, tuple(fields))

    # -- schema helpers -------------------------------------------------------------------------

    def resolve(self, schema: Schema) -> Schema:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            resolved: Schema = self.defs[ref.rsplit("/", 1)[1]]
            return resolved
        return schema

    def non_null(self, schema: Schema) -> tuple[Schema | None, bool]:
        """(the non-null branch, whether null is allowed)."""
        schema = self.resolve(schema)
        branches = schema.get("anyOf")
        if branches is None:
            return schema, schema.get("type") == "null"
        nullable = any(branch.get("type") == "null" for branch in branches)
        for branch in branches:
            if branch.get("type") != "null" and branch:
                return self.resolve(branch), nullable
        return None, nullable

    # -- generators -----------------------------------------------------------------------------

    def top_level(self, name: str, prop: Schema, required: bool) -> FieldGen | _Const:
        inner, nullable = self.non_null(prop)
        if inner is None:
            return _Const(None)
        kind = inner.get("type")
        if kind == "object" or "properties" in inner or kind == "array":
            if not required and nullable:
                return _Const(None)
            return _Const(self.example(name, inner, 0, name))
        return self.scalar(name, inner)

    def scalar(self, name: str, schema: Schema) -> FieldGen | _Const:
        fsalt = salt(name) | 1
        lower = name.lower()
        if "const" in schema:
            return _Const(schema["const"])
        if "enum" in schema:
            choices = tuple(schema["enum"])
            return lambda _p, h: choices[((h ^ fsalt) * 0x2545F4914F6CDD1D & MASK) % len(choices)]
        kind = schema.get("type")
        fmt = schema.get("format")
        if fmt in ("date-time", "date"):
            return self.timestamp(name, fmt, fsalt)
        if kind == "integer":
            if name == "id":
                return lambda p, _h: p + 1
            return lambda _p, h: 1 + ((h ^ fsalt) * 0x2545F4914F6CDD1D & MASK) % 20
        if kind == "number":
            return lambda _p, h: round(((h ^ fsalt) * 0x2545F4914F6CDD1D & MASK) % 500000 / 100, 2)
        if kind == "boolean":
            if "active" in lower:
                return lambda _p, h: (h ^ fsalt) % 10 != 0
            return lambda _p, h: (h ^ fsalt) % 4 == 0
        if kind == "string":
            return self.text(name, fsalt)
        return _Const(None)

    def timestamp(self, name: str, fmt: str, fsalt: int) -> FieldGen:
        anchor = self.anchor
        if name == self.cursor or name in MODIFIED_FIELDS:
            start, width = anchor - CURSOR_WINDOW, CURSOR_WINDOW
        else:
            start, width = anchor - CURSOR_WINDOW - HISTORY_WINDOW, HISTORY_WINDOW
        render = iso if fmt == "date-time" else iso_date
        return lambda _p, h: render(start + ((h ^ fsalt) * 0x2545F4914F6CDD1D & MASK) % width)

    def text(self, name: str, fsalt: int) -> FieldGen:
        lower = name.lower()
        title = self.resource.replace("_", " ").rstrip("s").capitalize()

        def pick(options: tuple[Any, ...]) -> FieldGen:
            return lambda _p, h: options[((h ^ fsalt) * 0x2545F4914F6CDD1D & MASK) % len(options)]

        if "uuid" in lower:
            seed = self.seed
            rsalt = salt(self.resource + "." + name)
            return lambda p, _h: str(uuid.UUID(int=mix(seed, rsalt, p) << 64 | mix(rsalt, p)))
        if "email" in lower:
            return lambda p, h: _email(p, h)
        if "phone" in lower or lower == "fax":
            return lambda p, _h: f"+1-604-555-{p % 10000:04d}"
        if "city" in lower:
            return pick(tuple(city[0] for city in _CITIES))
        if "state_province" in lower or lower == "province":
            return pick(tuple(city[1] for city in _CITIES))
        if "country" in lower:
            return pick(("Canada", "United States"))
        if "postalcode" in lower:
            return pick(tuple(city[3] for city in _CITIES))
        if "addresslineone" in lower:
            return lambda p, h: f"{100 + (h ^ fsalt) % 9900} {_LAST[p % len(_LAST)]} Street"
        if "url" in lower or "image" in lower or "logo" in lower or "icon" in lower:
            return lambda p, _h: f"https://sandbox.example/{self.resource}/{p + 1}"
        if any(word in lower for word in _RATE):
            return lambda _p, h: f"{1 + ((h ^ fsalt) * 0x2545F4914F6CDD1D & MASK) % 50}.000000"
        if any(word in lower for word in _MONEY):
            return lambda _p, h: f"{((h ^ fsalt) * 0x2545F4914F6CDD1D & MASK) % 500000 / 100:.2f}"
        if lower in ("firstname", "first_name"):
            return lambda p, _h: _FIRST[p % len(_FIRST)]
        if lower in ("lastname", "last_name"):
            return lambda p, _h: _LAST[(p // len(_FIRST)) % len(_LAST)]
        if lower.endswith("name"):
            return lambda p, h: _person(p) if "contact" in lower else _company(h)
        if lower == "external_id":
            prefix = self.resource[:1].upper()
            return lambda p, _h: f"{prefix}-{p + 1:06d}"
        if lower in ("sku", "internalsku"):
            return lambda p, _h: f"SKU-{p + 1:06d}"
        if lower in ("number", "po_num", "invoice_number", "num"):
            return lambda p, _h: f"{title[:2].upper()}-{p + 1:06d}"
        if lower in ("unit", "unittype"):
            return pick(("each", "box", "case", "hour", "kg"))
        if "contact" in lower:
            return lambda p, _h: _person(p)
        return lambda p, _h: f"{title} {name.replace('_', ' ')} {p + 1}"

    def example(self, name: str, schema: Schema, depth: int, parent: str) -> Any:
        """A constant, valid value for a nested schema (required properties, plus id/name)."""
        schema = self.resolve(schema)
        inner, nullable = self.non_null(schema)
        if inner is None:
            return None
        kind = inner.get("type")
        if kind == "array":
            if "email" in name.lower():
                return [_email(0, 0)]
            return []
        if kind == "object" or "properties" in inner:
            props: Mapping[str, Any] = inner.get("properties", {})
            if not props:
                return {}
            if depth > 6 and nullable:
                return None
            required = inner.get("required", ())
            keep = [key for key in props if key in required or key in ("id", "name")]
            return {key: self.example(key, props[key], depth + 1, name) for key in keep}
        gen = self.scalar(name, inner)
        if isinstance(gen, _Const):
            return gen.value
        return _nested_scalar(name, parent, gen)


@dataclass(frozen=True)
class _Const:
    value: Any


def _nested_scalar(name: str, parent: str, gen: FieldGen) -> Any:
    if name == "id":
        return 1
    lower, owner = name.lower(), parent.lower()
    if lower == "name":
        if "currency" in owner:
            return "USD"
        if "department" in owner:
            return "Finance"
        if "vendor" in owner:
            return "Acme Office Supply Inc."
        if "user" in owner or "approver" in owner or "purchaser" in owner:
            return "Sandy Box"
        if "account" in owner:
            return "Office supplies"
        return "Head Office"
    if lower == "rate":
        return "1.000000"
    return gen(0, mix(salt(name)))


def _company(h: int) -> str:
    return (
        f"{_ADJECTIVES[h % len(_ADJECTIVES)]} {_NOUNS[(h >> 8) % len(_NOUNS)]} "
        f"{_SUFFIXES[(h >> 16) % len(_SUFFIXES)]}"
    )


def _person(position: int) -> str:
    return f"{_FIRST[position % len(_FIRST)]} {_LAST[(position // len(_FIRST)) % len(_LAST)]}"


def _email(position: int, h: int) -> str:
    first = _FIRST[position % len(_FIRST)].lower()
    last = _LAST[(position // len(_FIRST)) % len(_LAST)].lower()
    return f"{first}.{last}{position + 1}@sandbox.example"


# -- per-resource plausibility (fields whose generic value would look wrong) ---------------------


def _special(resource: str, name: str, builder: _Builder) -> FieldGen | _Const | None:
    if name == "name":
        return _NAMERS.get(resource)
    if resource == "vendors":
        if name == "email":
            return lambda p, h: [_email(p, h), f"ap{p + 1}@sandbox.example"]
        if name == "external_id":
            return lambda p, _h: f"V-{p + 1:06d}"
        if name == "overall_score":
            return lambda _p, h: f"{h % 5 + 1}.00"
    if resource == "purchase_orders":
        if name == "procurify_PO":
            return lambda p, _h: p + 1
        if name == "number" or name == "PO_Num":
            return lambda p, _h: f"PO-{p + 1:06d}"
        if name == "state":
            return lambda _p, h: (0, 0, 0, 5, 3, 4, 1)[h % 7]
        if name == "fulfilment_status":
            return lambda _p, h: ("empty", "partial", "full")[(h >> 8) % 3]
        if name == "closed_date":
            return _Const(None)
    if resource == "currencies":
        if name == "rate":
            return lambda p, _h: _CURRENCIES[p % len(_CURRENCIES)][2]
        if name == "description":
            return lambda p, _h: _CURRENCIES[p % len(_CURRENCIES)][1]
        if name == "base":
            return lambda p, _h: p == 0
    if resource == "account_codes" and name == "code":
        return lambda p, _h: f"{4000 + p}"
    if resource == "account_codes" and name == "description":
        return lambda p, _h: f"{_DEPARTMENTS[p % len(_DEPARTMENTS)]} expenses {p + 1}"
    if resource == "permissions" and name == "codename":
        return lambda p, _h: f"can_manage_{('orders', 'bills', 'vendors', 'users')[p % 4]}_{p + 1}"
    if resource == "users" and name == "user":
        return lambda p, _h: p + 1
    if resource in ("order_items", "global_order_items", "catalog_items", "ap_items") \
            and name == "description":
        return lambda p, _h: f"{_PRODUCTS[p % len(_PRODUCTS)]} for {_DEPARTMENTS[p % 12]}"
    return None


def _suffixed(options: tuple[str, ...]) -> FieldGen:
    def name(position: int, _h: int) -> str:
        base = options[position % len(options)]
        cycle = position // len(options)
        return base if cycle == 0 else f"{base} {cycle + 1}"

    return name


_NAMERS: Mapping[str, FieldGen] = {
    "vendors": lambda _p, h: _company(h),
    "departments": _suffixed(_DEPARTMENTS),
    "locations": _suffixed(tuple(f"{city[0]} Office" for city in _CITIES)),
    "currencies": _suffixed(tuple(code for code, _, _ in _CURRENCIES)),
    "catalog_items": _suffixed(_PRODUCTS),
    "order_items": _suffixed(_PRODUCTS),
    "global_order_items": _suffixed(_PRODUCTS),
    "catalog_bundles": _suffixed(tuple(f"{d} starter kit" for d in _DEPARTMENTS)),
    "permission_groups": _suffixed(("Requesters", "Approvers", "Purchasers", "AP clerks")),
    "custom_fields": _suffixed(("Project code", "Cost center", "Grant", "Asset tag")),
    "company_payment_methods": _suffixed(("Corporate Visa", "Operating account", "Amex")),
    "vendor_payment_methods": _suffixed(("Wire transfer", "ACH", "Cheque")),
}


def build_plan(resource: str, schema: Schema | None, *, seed: int, anchor: float,
               cursor: str | None) -> Plan:
    if schema is None:
        return Plan(resource, seed, ())
    return _Builder(resource, schema, seed, anchor, cursor).plan()
