"""Procurify's answer envelope, read: the records under ``data`` and the pagination beside them
(the sandbox builds such answers in ``sandbox/listing.py``)."""

from __future__ import annotations

__all__ = ["NotRecordsError", "pagination_value", "records_of"]

from collections.abc import Mapping
from typing import Any


class NotRecordsError(ValueError):
    """A list answer holds items that are not records (JSON objects)."""


def records_of(body: object) -> list[dict[str, Any]] | None:
    """The records of a list answer, or ``None`` when it has no ``data`` list. Items that wrap
    their own ``data`` list (locations, as Procurify documents them) are unwrapped. An item that
    is not an object raises ``NotRecordsError``: nothing is dropped without a word."""
    if not isinstance(body, Mapping):
        return None
    data = body.get("data")
    if data is None and "data" in body:
        return []  # the models allow "data": null for an empty list
    if not isinstance(data, list):
        return None
    records: list[dict[str, Any]] = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise NotRecordsError(f"item {index} of its list is {_kind(item)}, not a record")
        inner = item.get("data")
        if "id" not in item and isinstance(inner, list):
            for inner_index, record in enumerate(inner):
                if not isinstance(record, dict):
                    raise NotRecordsError(
                        f"item {inner_index} of the list in item {index} is "
                        f"{_kind(record)}, not a record"
                    )
            records.extend(inner)
        else:
            records.append(item)
    return records


def _kind(value: object) -> str:
    """What a JSON value is, in words (never the value itself: it could be anything)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an unknown value"


def pagination_value(body: object, name: str) -> int | None:
    """``num_pages`` or ``count`` from ``metadata.pagination`` (or a top-level ``pagination``,
    as the payment-method lists have it); ``None`` when the answer does not say."""
    if not isinstance(body, Mapping):
        return None
    metadata = body.get("metadata")
    pagination = metadata.get("pagination") if isinstance(metadata, Mapping) else None
    if not isinstance(pagination, Mapping):
        pagination = body.get("pagination")
    value = pagination.get(name) if isinstance(pagination, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
