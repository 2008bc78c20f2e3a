"""Detail streams (``bill_details``, ...): each record of a list page read again from its detail
GET, in the list's order, and what a detail that is gone means for the read."""

from __future__ import annotations

__all__ = ["fetch_detail", "with_details", "without_details"]

import logging
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future
from typing import Any

from nexla_procurify.concurrency import result_of
from nexla_procurify.errors import ApiError, TransientError
from nexla_procurify.http import error_for_response
from nexla_procurify.source.pages import PageFetcher

log = logging.getLogger("nexla_procurify.source")


def with_details(
    fetcher: PageFetcher, records: list[dict[str, Any]], missing: list[Any]
) -> Iterable[dict[str, Any]]:
    """``records`` themselves, or for a detail stream their details, in the same order (see
    ``_details``); a list stream's records are handed back as they are, with no generator
    between them and the reader."""
    if fetcher.resource.detail is None:
        return records
    return _details(fetcher, records, missing)


def _details(
    fetcher: PageFetcher, records: list[dict[str, Any]], missing: list[Any]
) -> Iterator[dict[str, Any]]:
    """``records`` themselves, or for a detail stream their details, in the same order;
    up to ``concurrency`` detail requests in flight (fewer while Procurify answers 429).
    The keys of records whose detail answered 404 are added to ``missing``."""
    resource = fetcher.resource
    detail = resource.detail
    if detail is None:
        yield from records
        return
    concurrency = fetcher.config.concurrency
    if concurrency == 1 or len(records) <= 1:
        for record in records:
            found = fetch_detail(fetcher, record)
            if found is not None:
                yield found
            else:
                missing.append(record.get(detail.id_field))
        return
    pending = deque(records)
    in_flight: deque[tuple[dict[str, Any], Future[dict[str, Any] | None]]] = deque()
    abandoned = threading.Event()  # set when these details' reader is done with them
    pool = fetcher.pools(max_workers=concurrency, thread_name_prefix=f"read-{resource.name}")
    try:
        while True:
            while pending and len(in_flight) < fetcher.limit.current:
                record = pending.popleft()
                in_flight.append((record, pool.submit(fetch_detail, fetcher, record, abandoned)))
            if not in_flight:
                return
            record, future = in_flight.popleft()
            found = result_of(future)
            if found is not None:
                yield found
            else:
                missing.append(record.get(detail.id_field))
    finally:
        abandoned.set()
        for _, future in in_flight:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


def fetch_detail(
    fetcher: PageFetcher,
    record: Mapping[str, Any],
    abandoned: threading.Event | None = None,
) -> dict[str, Any] | None:
    """A list record's detail, or ``None`` when Procurify answers 404 for it; once
    ``abandoned`` is set, ``ReadAbandoned`` instead of a request or a retry."""
    resource = fetcher.resource
    detail = resource.detail
    assert detail is not None
    path = detail.path_for(record)
    if path is None:
        raise TransientError(
            f"A {detail.of} record from Procurify has no {detail.id_field!r}, so its detail "
            f"cannot be read; the read of {resource.name} stopped rather than skip it. "
            "Try again later, or read the list resource instead."
        )
    action = f"read {resource.name} record {record[detail.id_field]}"
    answer = fetcher.request(path, {}, action, abandoned)
    response, body = answer.response, answer.body
    if response.status_code == 404:
        return None  # the caller decides what a missing detail means for the read
    if response.status_code >= 300:
        raise error_for_response(response, action)
    fetcher.limit.on_success()
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, dict):
        raise TransientError(
            f"Procurify's answer while trying to {action} had no record: nothing was "
            "skipped; try again later."
        )
    return data


def without_details(
    fetcher: PageFetcher, missing: list[Any], listed: int, page: int, held: bool
) -> bool:
    """Whether the read must hold its cursor after details that answered 404 (``missing``,
    their keys): a record deleted since its list page was read is no longer there to
    lose, but a 404 cannot tell that from a detail path that does not take the list's key,
    so the next run starts again from this run's cursor. When every detail of a page is
    missing, the read stops: that is no deletion."""
    if not missing:
        return held
    resource = fetcher.resource
    detail = resource.detail
    assert detail is not None
    if len(missing) == listed and listed > 1:
        raise ApiError(
            f"Procurify answered 404 Not Found for the detail of every {detail.of} record "
            f"on page {page} of the {resource.name} read ({detail.path} by "
            f"{detail.id_field}), so none could be emitted; the read stopped and its cursor "
            f"did not move. Read the {detail.of} resource instead, and report this.",
            status=404,
        )
    log.warning(
        "Procurify has no detail for %d %s record(s) on page %d of the %s read "
        "(%s): deleted since the list was read? They are not emitted, and the "
        "next run starts again from this run's starting cursor.",
        len(missing),
        detail.of,
        page,
        resource.name,
        ", ".join(str(key) for key in missing[:5]),
    )
    return True
