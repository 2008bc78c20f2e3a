"""Helpers for the reading tests: a Procurify list endpoint for requests-mock, records, and a
read's messages split into records and states."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from shared import SERVER_DATE

from nexla_procurify.messages import Checkpoint, Record


class FakeList:
    """A Procurify list endpoint over ``records``, paginated like Django REST framework."""

    def __init__(self, records: list[dict[str, Any]], *, pagination_at_top: bool = False) -> None:
        self.records = records
        self.pagination_at_top = pagination_at_top
        self.pages_served: list[int] = []

    def __call__(self, request: Any, context: Any) -> Any:
        query = {key: values[0] for key, values in request.qs.items()}
        page, size = int(query.get("page", "1")), int(query.get("page_size", "10"))
        num_pages = max(1, math.ceil(len(self.records) / size))
        context.headers["Date"] = SERVER_DATE
        if page > num_pages:
            context.status_code = 404
            return {"detail": "Invalid page."}
        self.pages_served.append(page)
        pagination = {
            "count": len(self.records),
            "num_pages": num_pages,
            "current_page": page,
            "page_size": size,
            "next": None,
            "previous": None,
        }
        data = self.records[(page - 1) * size : page * size]
        if self.pagination_at_top:
            return {"data": data, "pagination": pagination}
        return {"data": data, "metadata": {"pagination": pagination}}


def vendors(count: int) -> list[dict[str, Any]]:
    return [{"id": number, "name": f"Vendor {number}"} for number in range(1, count + 1)]


def split(messages: Iterator[Record | Checkpoint]) -> tuple[list[Any], list[dict[str, Any]]]:
    records, states = [], []
    for message in messages:
        if isinstance(message, Record):
            records.append(message.record)
        else:
            states.append(dict(message.value))
    return records, states
