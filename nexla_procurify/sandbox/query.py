"""List queries: filters, search, date ranges, ordering, as Django REST framework applies them.

``parse`` turns query parameters (already checked against the contract) into a hashable
``Selection``; ``select`` runs it against a table. Without filters and in id order a
selection is a ``range``: serving a page costs O(page size) however large the table.
"""

from __future__ import annotations

__all__ = ["Condition", "InvalidFilter", "PurchaseOrderScope", "parse", "select"]

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from nexla_procurify.sandbox.registry import (
    OPEN_STATES,
    STATUS_STATES,
    Collection,
    Granularity,
)
from nexla_procurify.sandbox.store import Table

SEARCH_FIELDS = frozenset(
    {
        "name",
        "description",
        "code",
        "codename",
        "email",
        "firstName",
        "lastName",
        "external_id",
        "number",
        "PO_Num",
        "invoice_number",
        "vendor_name",
        "sku",
        "internalSKU",
        "title",
        "comments",
        "field_label",
    }
)


class Condition(Protocol):
    """A filter condition on a record of a table."""

    def test(self, table: Table, position: int) -> bool:
        """Whether the record at ``position`` meets the condition."""


@dataclass(frozen=True)
class Exact:
    field: str
    raw: str

    def test(self, table: Table, position: int) -> bool:
        return matches(table.value(position, self.field), self.raw)


@dataclass(frozen=True)
class DateRange:
    """Inclusive on both ends, on the record's UTC date (ISO strings compare as dates)."""

    field: str
    low: str | None
    high: str | None

    def test(self, table: Table, position: int) -> bool:
        value = table.value(position, self.field)
        if isinstance(value, str) and len(value) == 20 and value[10] == "T" and value[19] == "Z":
            day: str | None = value[:10]
        else:
            found = utc_date(value)
            day = None if found is None else found.isoformat()
        if day is None:
            return False
        return (self.low is None or day >= self.low) and (self.high is None or day <= self.high)


@dataclass(frozen=True)
class DateTimeRange:
    field: str
    low: datetime | None
    high: datetime | None

    def test(self, table: Table, position: int) -> bool:
        moment = parse_datetime(table.value(position, self.field))
        if moment is None:
            return False
        return (self.low is None or moment >= self.low) and (
            self.high is None or moment <= self.high
        )


@dataclass(frozen=True)
class Search:
    term: str
    fields: tuple[str, ...]

    def test(self, table: Table, position: int) -> bool:
        for field in self.fields:
            value = table.value(position, field)
            if isinstance(value, list):
                value = " ".join(str(item) for item in value)
            if isinstance(value, str) and self.term in value.lower():
                return True
        return False


@dataclass(frozen=True)
class AnyOf:
    """A repeated parameter (``?locations=1&locations=2``): any value matches."""

    field: str
    raws: tuple[str, ...]

    def test(self, table: Table, position: int) -> bool:
        value = table.value(position, self.field)
        return any(matches(value, raw) for raw in self.raws)


@dataclass(frozen=True)
class PurchaseOrderScope:
    """``/purchase_orders/{role}/{status}``: the states a status lists (``registry``); open and
    partial split on ``fulfilment_status``; receivable lists open purchase orders only."""

    role: str
    status: str

    def test(self, table: Table, position: int) -> bool:
        """Whether the purchase order at ``position`` is in this role's and status's list."""
        state = table.value(position, "state")
        if self.role == "receivable" and state not in OPEN_STATES:
            return False
        states = STATUS_STATES[self.status]
        if states is not None and state not in states:
            return False
        partial = bool(table.value(position, "fulfilment_status") == "partial")
        if self.status == "partial":
            return partial
        return not (self.status == "open" and partial)


@dataclass(frozen=True)
class Selection:
    conditions: tuple[Condition, ...] = ()
    order: str = "id"  # a field, "-field" descending; "id" is the stored order


class InvalidFilter(ValueError):
    """Query parameters refused: the problems by parameter, answered as a 400."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(str(errors))
        self.errors = errors


_CONTROL = frozenset({"page", "page_size", "format", "order_by", "search"})


def parse(
    collection: Collection,
    fields: Sequence[str],
    query: Mapping[str, Sequence[str]],
    scope: Condition | None = None,
) -> Selection:
    """The selection ``query`` asks for (parameters the records have no field for are
    accepted and not applied)."""
    known = set(fields)
    conditions: list[Condition] = [] if scope is None else [scope]
    errors: dict[str, list[str]] = {}
    ranges: dict[str, tuple[str, Granularity]] = {}
    for name, values in query.items():
        raws = tuple(v for v in values if v != "")
        if name in _CONTROL or not raws:
            continue
        if name[-2:] in ("_0", "_1"):
            target = _range_target(collection, known, name[:-2])
            if target is not None:
                ranges.setdefault(name[:-2], target)
            continue
        field = collection.filters.get(name, name)
        if field in known:
            conditions.append(Exact(field, raws[0]) if len(raws) == 1 else AnyOf(field, raws))
    term = (query.get("search") or [""])[-1].strip().lower()
    if term:
        conditions.append(Search(term, tuple(f for f in fields if f in SEARCH_FIELDS)))
    for base, (field, granularity) in ranges.items():
        low_raw = (query.get(base + "_0") or [""])[-1]
        high_raw = (query.get(base + "_1") or [""])[-1]
        try:
            if granularity == "date-time":
                conditions.append(
                    DateTimeRange(field, _query_datetime(low_raw), _query_datetime(high_raw))
                )
            else:
                conditions.append(DateRange(field, _query_date(low_raw), _query_date(high_raw)))
        except ValueError:
            message = (
                "Enter a valid date/time."
                if granularity == "date-time"
                else ("Enter a valid date.")
            )
            bad = base + ("_0" if _invalid(low_raw, granularity) else "_1")
            errors[bad] = [message]
    if errors:
        raise InvalidFilter(errors)
    order = (query.get("order_by") or [""])[-1].split(",")[0].strip() or "id"
    if order.lstrip("-") not in known | {"id"}:
        order = "id"
    return Selection(tuple(conditions), order)


def _range_target(
    collection: Collection, known: set[str], base: str
) -> tuple[str, Granularity] | None:
    if base in collection.ranges:
        return collection.ranges[base]
    if base in known:
        return base, "date"
    return None


def _invalid(raw: str, granularity: str) -> bool:
    try:
        if granularity == "date-time":
            _query_datetime(raw)
        else:
            _query_date(raw)
    except ValueError:
        return True
    return False


def _query_date(raw: str) -> str | None:
    return date.fromisoformat(raw.strip()).isoformat() if raw.strip() else None


def _query_datetime(raw: str) -> datetime | None:
    if not raw.strip():
        return None
    moment = datetime.fromisoformat(raw.strip().replace(" ", "+"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def utc_date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    if len(value) == 10 or (value[-1] == "Z" and value[10:11] == "T"):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    moment = parse_datetime(value)
    return None if moment is None else moment.astimezone(UTC).date()


def matches(value: Any, raw: str) -> bool:
    """Django-style exact match of a record value against a query string."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, list):
        return any(matches(item, raw) for item in value)
    if isinstance(value, bool):
        return raw.lower() in (("true", "1", "yes") if value else ("false", "0", "no"))
    if isinstance(value, int | float):
        try:
            return float(raw) == float(value)
        except ValueError:
            return False
    return value is not None and str(value) == raw


def select(table: Table, selection: Selection) -> Sequence[int]:
    """Positions of the matching records, in order (call with the table's lock held)."""
    size = len(table)
    if not selection.conditions and selection.order == "id":
        return range(size)
    if not selection.conditions and selection.order == "-id":
        return range(size - 1, -1, -1)

    def compute() -> Sequence[int]:
        candidates: Sequence[int] = range(size)
        conditions = list(selection.conditions)
        for condition in conditions:
            if isinstance(condition, Exact) and table.is_indexed(condition.field):
                candidates = table.find(condition.field, condition.raw)
                break
        found = [p for p in candidates if all(c.test(table, p) for c in conditions)]
        field = selection.order.lstrip("-")
        if field != "id":
            found.sort(
                key=lambda p: _sort_key(table.value(p, field)),
                reverse=selection.order.startswith("-"),
            )
        elif selection.order.startswith("-"):
            found.reverse()
        return array("q", found)

    result: Sequence[int] = table.cached(selection, compute)
    return result


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, dict):
        value = value.get("id", value.get("name"))
    if value is None:
        return (2, 0)
    if isinstance(value, bool | int | float):
        return (0, float(value))
    return (1, str(value))
