"""Helpers for the reading tests: a Procurify list endpoint for requests-mock (and the answer
to one page of any list), records, and a read's messages split into records and states."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from shared import SERVER_DATE

from nexla_procurify.messages import Checkpoint, Record


def list_answer(
    context: Any,
    rows: Sequence[Any],
    page: int,
    size: int,
    *,
    shown: Callable[[Any], Any] = lambda row: row,
    links: bool = True,
    pagination_at_top: bool = False,
) -> dict[str, Any]:
    """Procurify's answer to page ``page`` (of ``size`` rows) of a list of ``rows``, paginated
    like Django REST framework: the page's rows as ``shown``, and the pagination (with null
    ``next`` and ``previous`` links unless not ``links``) under ``metadata``, or beside the data
    with ``pagination_at_top``. Beyond the last page: 404, "Invalid page."."""
    num_pages = max(1, math.ceil(len(rows) / size))
    if page > num_pages:
        context.status_code = 404
        return {"detail": "Invalid page."}
    pagination: dict[str, Any] = {
        "count": len(rows),
        "num_pages": num_pages,
        "current_page": page,
        "page_size": size,
    }
    if links:
        pagination.update(next=None, previous=None)
    data = [shown(row) for row in rows[(page - 1) * size : page * size]]
    if pagination_at_top:
        return {"data": data, "pagination": pagination}
    return {"data": data, "metadata": {"pagination": pagination}}


class FakeList:
    """A Procurify list endpoint over ``records``, paginated like Django REST framework."""

    def __init__(self, records: list[dict[str, Any]], *, pagination_at_top: bool = False) -> None:
        self.records = records
        self.pagination_at_top = pagination_at_top
        self.pages_served: list[int] = []

    def __call__(self, request: Any, context: Any) -> Any:
        query = {key: values[0] for key, values in request.qs.items()}
        page, size = int(query.get("page", "1")), int(query.get("page_size", "10"))
        context.headers["Date"] = SERVER_DATE
        answer = list_answer(
            context, self.records, page, size, pagination_at_top=self.pagination_at_top
        )
        if "data" in answer:
            self.pages_served.append(page)
        return answer


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
