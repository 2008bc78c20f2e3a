"""Building list answers: the page asked for, its links and pagination math, and the body
in Procurify's envelope, shaped as Procurify's response models document them (reading an
envelope is ``nexla_procurify/envelope.py``'s).

Most lists answer ``{"data": [...], "metadata": {"pagination": {...}}}``; payment methods put
``pagination`` next to ``data``; locations wrap each record:
``{"data": [record], "metadata": {}}``.
"""

from __future__ import annotations

__all__ = [
    "SUMMARIES",
    "PageNotFound",
    "list_body",
    "paginate",
    "pagination",
    "purchase_order_counts",
]

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

from nexla_procurify.sandbox.generate import Record
from nexla_procurify.sandbox.registry import CANCELLED, CLOSED, OPEN_STATES
from nexla_procurify.sandbox.store import Table

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 500
PERMISSIONS: Mapping[str, bool] = MappingProxyType(
    {"can_edit": True, "can_delete": True, "can_approve": True}
)
PO_STATUSES = ("all", "open", "partial", "closed", "cancelled")  # metadata.counts keys


class PageNotFound(LookupError):
    """A page number past the end or not a number (Django REST framework answers 404)."""


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    count: int
    num_pages: int

    @property
    def start(self) -> int:
        return (self.number - 1) * self.size

    @property
    def stop(self) -> int:
        return min(self.start + self.size, self.count)


def paginate(query: Mapping[str, str], count: int, max_page_size: int = MAX_PAGE_SIZE) -> Page:
    """The page the query asks for (``page``, ``page_size`` bounded); ``PageNotFound`` past the
    last."""
    size = _positive_int(query.get("page_size"), DEFAULT_PAGE_SIZE)
    size = min(size, max_page_size)
    num_pages = max(1, -(-count // size))
    raw = query.get("page", "1") or "1"
    if raw == "last":
        return Page(num_pages, size, count, num_pages)
    try:
        number = int(raw)
    except ValueError:
        raise PageNotFound(raw) from None
    if number < 1 or number > num_pages:
        raise PageNotFound(raw)
    return Page(number, size, count, num_pages)


def _positive_int(raw: str | None, default: int) -> int:
    try:
        value = int(raw or "")
    except ValueError:
        return default
    return value if value > 0 else default


def links(
    base: str, query: Mapping[str, Sequence[str]], page: Page
) -> tuple[str | None, str | None]:
    """Absolute ``next`` and ``previous`` URLs (DRF drops ``page`` for the first page)."""

    def url(number: int) -> str:
        params = {key: list(values) for key, values in query.items() if key != "page"}
        if number > 1:
            params["page"] = [str(number)]
        encoded = urlencode(params, doseq=True)
        return f"{base}?{encoded}" if encoded else base

    following = url(page.number + 1) if page.number < page.num_pages else None
    previous = url(page.number - 1) if page.number > 1 else None
    return following, previous


def pagination(page: Page, base: str, query: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The ``pagination`` block of a list answer: counts, page numbers and links."""
    following, previous = links(base, query, page)
    return {
        "count": page.count,
        "num_pages": page.num_pages,
        "current_page": page.number,
        "page_size": page.size,
        "next": following,
        "previous": previous,
    }


def list_body(
    records: list[Record],
    paging: dict[str, Any] | None,
    extra_metadata: Mapping[str, Any],
    *,
    wrapped: bool = False,
    top_level: bool = False,
) -> dict[str, Any]:
    """``wrapped``: each record as ``{"data": [record], "metadata": {}}``; ``top_level``:
    ``pagination`` next to ``data``, without ``metadata``."""
    data: list[Any] = records
    if wrapped:
        data = [{"data": [record], "metadata": {}} for record in records]
    if paging is None:
        return {"data": data, "metadata": dict(extra_metadata)}
    if top_level:
        return {"pagination": paging, "data": data}
    return {"data": data, "metadata": {**extra_metadata, "pagination": paging}}


# -- metadata that summarises the whole selection (computed once per table version) ---------------


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _bills(table: Table, positions: Sequence[int]) -> dict[str, Any]:
    currencies = {_currency_id(table.value(p, "currency")) for p in positions}
    total = sum(_number(table.value(p, "total_cost_with_tax")) for p in positions)
    return {
        "summary": {"has_multiple_currency": len(currencies) > 1, "total_cost": round(total, 2)},
        "permissions": dict(PERMISSIONS),
    }


def _ap_items(table: Table, positions: Sequence[int]) -> dict[str, Any]:
    total = sum(_number(table.value(p, "total_cost")) for p in positions)
    return {"summary": {"total_items": len(positions), "total_cost": round(total, 2)}}


def _payments(table: Table, positions: Sequence[int]) -> dict[str, Any]:
    total = sum(_number(table.value(p, "amount")) for p in positions)
    return {"summary": {"total_cost": round(total, 2)}, "permissions": dict(PERMISSIONS)}


def _currency_id(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


SUMMARIES: Mapping[str, Callable[[Table, Sequence[int]], dict[str, Any]]] = MappingProxyType(
    {
        "bills": _bills,
        "ap_items": _ap_items,
        "payments": _payments,
    }
)


def purchase_order_counts(table: Table) -> dict[str, Any]:
    """``metadata.counts`` for both roles (``page`` is filled in per answer)."""
    purchased = dict.fromkeys(PO_STATUSES, 0)
    receivable = dict.fromkeys(PO_STATUSES, 0)
    for position in table.positions():
        state = table.value(position, "state")
        if state in OPEN_STATES:
            partial = table.value(position, "fulfilment_status") == "partial"
            status = "partial" if partial else "open"
            for tally in (purchased, receivable):
                tally["all"] += 1
                tally[status] += 1
            continue
        purchased["all"] += 1
        if state == CLOSED:
            purchased["closed"] += 1
        elif state == CANCELLED:
            purchased["cancelled"] += 1
    return {"purchased": purchased, "receivable": receivable}
