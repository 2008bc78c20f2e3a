"""Procurify's answer envelope: the records under ``data`` and the pagination beside them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def records_of(body: object) -> list[dict[str, Any]] | None:
    """The records of a list answer, or ``None`` when it has no ``data`` list. Items that wrap
    their own ``data`` list (locations, as Procurify documents them) are unwrapped."""
    if not isinstance(body, Mapping):
        return None
    data = body.get("data")
    if data is None and "data" in body:
        return []  # the models allow "data": null for an empty list
    if not isinstance(data, list):
        return None
    records: list[dict[str, Any]] = []
    for item in data:
        if not isinstance(item, dict):
            continue
        inner = item.get("data")
        if "id" not in item and isinstance(inner, list):
            records.extend(record for record in inner if isinstance(record, dict))
        else:
            records.append(item)
    return records


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
