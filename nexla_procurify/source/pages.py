"""Pages of a list: fetching one (checked: a page that cannot be placed stops the read),
prefetching the following ones with a bounded pool, the limit on requests in flight (pinned
and halved on 429, or found by the controller under ``concurrency: "auto"``),
and the looks across a page boundary from inside one wider answer."""

from __future__ import annotations

__all__ = [
    "PROBE_REACHES",
    "WITNESS_REACH",
    "AdaptiveLimit",
    "AutoLimit",
    "Page",
    "PageFetcher",
    "PoolFactory",
    "ReadAbandoned",
    "Unit",
    "no_records",
    "slice_around",
]

import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from nexla_procurify.auth import ProcurifySession
from nexla_procurify.concurrency import result_of
from nexla_procurify.controlled import ControlledSession, controlled
from nexla_procurify.envelope import NotRecordsError, pagination_value, records_of
from nexla_procurify.errors import ProcurifyError, TransientError
from nexla_procurify.http import Answer, RetryEvent, error_for_response
from nexla_procurify.resources import catalogue
from nexla_procurify.source.config import FilterValue, SourceConfig
from nexla_procurify.source.times import server_time

# How far around a page boundary the looks across it reach, one after the other: shifts of up to
# the last reach between two answers are seen through.
WITNESS_REACH = 2
PROBE_REACHES = (8, 32, 128, 250)


@dataclass(frozen=True)
class Page:
    """One answer of a list: ``size`` records asked for at page ``number``."""

    number: int
    size: int
    records: list[dict[str, Any]]
    num_pages: int
    server_time: datetime | None
    count: int | None = None

    @property
    def offset(self) -> int:
        """How many records of the selection come before this answer's first."""
        return (self.number - 1) * self.size

    @property
    def is_last(self) -> bool:
        """Nothing of the selection came after this answer when it was made."""
        return self.number >= self.num_pages


# A page and, when its boundary with the page before may need it, a look across that boundary.
Unit = tuple[Page, Page | None]


class AdaptiveLimit:
    """How many pages may be in flight: halves when Procurify answers 429, grows back by one
    after as many clean pages as the current limit."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._current = maximum
        self._clean = 0
        self._lock = threading.Lock()

    @property
    def current(self) -> int:
        """How many pages may be fetched at once now."""
        return self._current

    def on_retry(self, event: RetryEvent) -> None:
        """On a retry: a 429 halves the limit."""
        if event.status == 429:
            with self._lock:
                self._current = max(1, self._current // 2)
                self._clean = 0

    def on_success(self) -> None:
        """On a page fetched: the limit grows by one after as many clean pages as it is."""
        with self._lock:
            self._clean += 1
            if self._clean >= self._current and self._current < self.maximum:
                self._current += 1
                self._clean = 0


class AutoLimit:
    """How many pages may be in flight under ``concurrency: "auto"``: the requests themselves
    go through a ``ControlledSession``, whose controller finds the limit; twice as many pages
    are asked for as the limit, so that requests are ready whenever room opens while the
    pages fetched wait for the reader (and the controller sees the limit hold them back)."""

    def __init__(self, session: ControlledSession) -> None:
        self.maximum = session.gate.controller.settings.maximum
        self._gate = session.gate

    @property
    def current(self) -> int:
        """How many pages may be asked for at once now."""
        return min(self.maximum, 2 * self._gate.current + 1)

    def on_retry(self, event: RetryEvent) -> None:
        """Nothing: the controlled session hears of every retry."""

    def on_success(self) -> None:
        """Nothing: the controlled session times every answer."""


class ReadAbandoned(Exception):
    """A prefetch request's read was closed before its answer came: it is not retried (only
    raised on a prefetching thread, whose result nobody reads)."""


class PoolFactory(Protocol):
    """Makes the worker pool of a read (``ThreadPoolExecutor``, or a test's own)."""

    def __call__(self, *, max_workers: int, thread_name_prefix: str) -> Executor:
        """A pool of ``max_workers`` threads named after ``thread_name_prefix``."""


def slice_around(boundary: int, reach: int, largest: int) -> tuple[int, int]:
    """``(page, page_size)`` of the smallest page holding the records ranked ``boundary -
    reach + 1`` to ``boundary + reach`` (ranks from 1), or as many of them as ``largest`` allows.
    Pages of one size never straddle each other's ends, so this is how a page boundary is seen
    from inside one answer."""
    low = max(1, boundary - reach + 1)
    high = boundary + reach
    for size in range(high - low + 1, largest + 1):
        if (low - 1) // size == (high - 1) // size:
            return (low - 1) // size + 1, size
    size = largest
    return (max(low, boundary) - 1) // size + 1, size


class PageFetcher:
    """The requests of one read: its pages, in order and prefetched, and its looks across page
    boundaries; ``limit`` bounds the requests in flight."""

    def __init__(self, session: ProcurifySession, config: SourceConfig, pools: PoolFactory) -> None:
        self.config = config
        self.resource = config.resource
        self.pools = pools
        self.limit: AdaptiveLimit | AutoLimit
        if config.auto_concurrency:
            # A session already under a controller (a many-stream run's) keeps it: one limit.
            gated = (
                session
                if isinstance(session, ControlledSession)
                else controlled(session, config.concurrency)
            )
            self.session: ProcurifySession = gated
            self.limit = AutoLimit(gated)
        else:
            self.session = session
            self.limit = AdaptiveLimit(config.concurrency)

    def pages(
        self, first: Page, params: dict[str, FilterValue], look_across: Callable[[Page], bool]
    ) -> Iterator[Unit]:
        """Pages in order, each with a look across its boundary with the page before when
        ``look_across`` wants one (its own keys do not run on); the ones after ``first`` are
        prefetched by a bounded pool, or, with ``concurrency`` 1, fetched one after the other
        on the reading thread."""
        yield first, None
        last_page = first.num_pages
        most = first.num_pages + self.config.max_extra_pages
        if first.number >= last_page:
            return
        if self.config.concurrency == 1 or self.resource.detail is not None:
            # A detail stream spends its concurrency on the details: one detail request per
            # record, against one list request per page.
            yield from self._sequential(first.number + 1, last_page, most, params, look_across)
            return
        in_flight: deque[tuple[int, Future[Unit | None]]] = deque()
        next_number = first.number + 1
        abandoned = threading.Event()  # set when these pages' reader is done with them
        pool = self.pools(
            max_workers=self.config.concurrency, thread_name_prefix=f"read-{self.resource.name}"
        )
        try:
            while True:
                while next_number <= last_page and len(in_flight) < self.limit.current:
                    in_flight.append(
                        (
                            next_number,
                            pool.submit(self._unit, next_number, params, look_across, abandoned),
                        )
                    )
                    next_number += 1
                if not in_flight:
                    return
                _, future = in_flight.popleft()
                unit = result_of(future)
                if unit is None:  # a page announced earlier is gone: the selection shrank
                    return
                last_page = self._bounded(last_page, unit[0], most)
                yield unit
        finally:
            abandoned.set()
            for _, future in in_flight:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _sequential(
        self,
        number: int,
        last_page: int,
        most: int,
        params: dict[str, FilterValue],
        look_across: Callable[[Page], bool],
    ) -> Iterator[Unit]:
        while number <= last_page:
            unit = self._unit(number, params, look_across)
            if unit is None:  # a page announced earlier is gone: the selection shrank
                return
            last_page = self._bounded(last_page, unit[0], most)
            yield unit
            number += 1

    def _bounded(self, last_page: int, page: Page, most: int) -> int:
        if page.num_pages > most:
            raise TransientError(
                f"Could not read {self.resource.name} page {page.number}: Procurify now "
                f"announces {page.num_pages} pages, more than {most} (the first page's count "
                f"and max_extra_pages, {self.config.max_extra_pages}); the read stopped and "
                "its cursor did not move. Run again later, or raise 'max_extra_pages' if the "
                "selection really grows that fast."
            )
        return max(last_page, page.num_pages)

    def _unit(
        self,
        number: int,
        params: dict[str, FilterValue],
        look_across: Callable[[Page], bool],
        abandoned: threading.Event | None = None,
    ) -> Unit | None:
        page = self.fetch(number, params, abandoned=abandoned)
        if page is None:
            return None
        witness = (
            self.probe(page.offset, WITNESS_REACH, params, abandoned=abandoned)
            if look_across(page)
            else None
        )
        return page, witness

    def probe(
        self,
        boundary: int,
        reach: int,
        params: dict[str, FilterValue],
        *,
        abandoned: threading.Event | None = None,
    ) -> Page | None:
        """The records around rank ``boundary`` (``reach`` on each side) in one answer."""
        number, size = slice_around(boundary, reach, catalogue().max_page_size)
        return self.fetch(
            number, {**params, "page_size": str(size)}, size=size, abandoned=abandoned
        )

    def fetch_first(self, params: dict[str, FilterValue]) -> Page:
        """Page 1, for a resumed read whose page is gone (the selection shrank)."""
        page = self.fetch(1, params)
        assert page is not None  # fetch raises for a missing page 1
        return page

    def fetch(
        self,
        number: int,
        params: Mapping[str, FilterValue],
        *,
        size: int | None = None,
        abandoned: threading.Event | None = None,
    ) -> Page | None:
        """The page, or ``None`` past the end (Procurify answers 404 "Invalid page"). Once
        ``abandoned`` is set, a retry on the way is not made (``ReadAbandoned``)."""
        size = size or self.config.page_size
        path = self.resource.list_path(self.config.path_values)
        action = f"read {self.resource.name} page {number}"
        if size != self.config.page_size:
            action += f" (of {size})"
        answer = self.request(path, {**params, "page": str(number)}, action, abandoned)
        response, body = answer.response, answer.body
        if response.status_code == 404 and number > 1:
            return None
        if response.status_code >= 300:
            raise error_for_response(response, action)
        self.limit.on_success()
        records = self.records(body, action)
        num_pages = pagination_value(body, "num_pages")
        if records is None or (num_pages is None and len(records) >= size):
            # Reading on would end the read early and move the cursor past unread records.
            raise no_records(action)
        if not records and number > 1 and number <= (num_pages or 1):
            # Procurify answers a page past the end with 404: an empty page inside the announced
            # ones is a server that cannot be paged (and could announce pages without end).
            raise TransientError(
                f"Could not {action}: Procurify announced {num_pages} pages but this one was "
                "empty, so the read cannot tell where the records are; it stopped and its "
                "cursor did not move. Try again later."
            )
        return Page(
            number=number,
            size=size,
            records=records,
            num_pages=num_pages or 1,
            server_time=server_time(response),
            count=pagination_value(body, "count"),
        )

    def records(self, body: object, action: str) -> list[dict[str, Any]] | None:
        """The records of an answer, ``None`` when it has no list of them; a list holding
        something other than records stops the read."""
        try:
            return records_of(body)
        except NotRecordsError as error:
            raise TransientError(
                f"Could not {action}: Procurify's answer held {error}; the read stopped "
                "rather than drop them, and its cursor did not move. Try again later; if it "
                "persists, report it to Procurify."
            ) from None

    def request(
        self,
        path: str,
        params: Mapping[str, FilterValue],
        action: str,
        abandoned: threading.Event | None = None,
    ) -> Answer:
        """One GET under the HTTP policy; 429s on the way lower ``limit``. Once ``abandoned``
        is set (nobody will read the answer), it is not sent, nor retried (``ReadAbandoned``)."""
        if abandoned is not None and abandoned.is_set():
            raise ReadAbandoned(f"{action}: its read was closed")
        on_retry = self.limit.on_retry

        def unless_abandoned(event: RetryEvent) -> None:
            if abandoned is not None and abandoned.is_set():
                # Nobody will read this page: no retry, and no more of the run's requests spent.
                raise ReadAbandoned(f"{action}: its read was closed")
            on_retry(event)

        try:
            return self.session.request_json("GET", path, params=params, on_retry=unless_abandoned)
        except ProcurifyError as error:
            raise error.in_context(f"Could not {action}") from error


def no_records(action: str) -> TransientError:
    """The error for a list answer without records or pagination (nothing was skipped)."""
    return TransientError(
        f"Procurify's answer while trying to {action} had no records list or no pagination: "
        "nothing was skipped; try again later."
    )
