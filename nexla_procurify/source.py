"""Reading: configuration, pagination with a bounded prefetching pool, incremental state.

The promise: across consecutive runs no record is lost, even when records are edited while a
read is under way. It rests on four facts:

- pages are asked for in a stable order (by ``id``, which edits never change), and an
  incremental filter ``modified >= cursor`` only gains records through edits, which shift the
  pages forward: a record may be read twice, not skipped;
- records that leave the selection (deleted, or out of a filter such as ``status``) shift the
  pages back; the read notices the lower count (``SelectionWatch``) and the next run starts
  again from the same cursor;
- the next cursor is the server's time when the read started (its ``Date`` header, less a
  margin), so whatever changed during or after the read is inside the next run's filter;
- date-granular filters are sent a day early, so that no time zone can hide a record.

A detail stream (``bill_details``, ...) is its list read exactly so, each page's records then
read again from their detail GET, in the list's order; the page's checkpoint follows its
details, so the same facts hold for it.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import requests

from nexla_procurify import manifest
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.envelope import pagination_value, records_of
from nexla_procurify.errors import ConfigurationError, ProcurifyError, TransientError
from nexla_procurify.http import RetryEvent, error_for_response
from nexla_procurify.messages import Checkpoint, Record, SchemaMessage
from nexla_procurify.resources import Resource, catalogue
from nexla_procurify.validation import describe, schema_problems, validator

log = logging.getLogger("nexla_procurify.source")

STATE_VERSION = 1
# Without a server clock, assume ours may be this far ahead of Procurify's.
CLOCK_SKEW_ALLOWANCE = timedelta(hours=1)
# Procurify stamps its Date header after running the query: records changed in between must
# still be inside the next run's filter.
SERVER_TIME_MARGIN = timedelta(minutes=5)
# Date-granular filters are interpreted in the company's time zone, at most a day from UTC.
DATE_FILTER_ALLOWANCE = timedelta(days=1)


# A filter's value as sent: one text, or the texts of a filter Procurify takes repeated.
FilterValue = str | tuple[str, ...]


@dataclass(frozen=True)
class SourceConfig:
    resource: Resource
    page_size: int
    filters: Mapping[str, FilterValue]
    path_values: Mapping[str, str]
    start: datetime | None
    concurrency: int

    @property
    def query_fingerprint(self) -> str:
        """Identifies the selection, so that a cursor only moves the start of its own."""
        identity = [self.resource.name, sorted(self.filters.items()),
                    sorted(self.path_values.items())]
        return _digest(identity)

    def position_fingerprint(self, since: datetime | None) -> str:
        """Identifies one read (the selection and where it starts), so that a mid-read
        position is only resumed by the same read."""
        return _digest([self.query_fingerprint, _iso(since) if since else None])


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _digest(identity: object) -> str:
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ReadPosition:
    """Where an interrupted read stands: pages up to ``page`` (of ``page_size``) were emitted.

    ``scope_shrank`` records that records left the selection during the read, which may have
    moved unread records onto pages already read: the next run must then start again from the
    same cursor.
    """

    page: int
    page_size: int
    query: str
    next_cursor: str | None
    scope_shrank: bool = False
    count: int | None = None  # the selection's largest record count seen so far


@dataclass(frozen=True)
class ReadState:
    resource: str
    cursor: datetime | None
    position: ReadPosition | None
    query: str | None = None

    def to_dict(self) -> dict[str, Any]:
        value: dict[str, Any] = {"version": STATE_VERSION, "resource": self.resource}
        if self.cursor is not None:
            value["cursor"] = _iso(self.cursor)
            value["query"] = self.query
        if self.position is not None:
            value["in_progress"] = {
                "page": self.position.page,
                "page_size": self.position.page_size,
                "query": self.position.query,
                "next_cursor": self.position.next_cursor,
                "scope_shrank": self.position.scope_shrank,
                "count": self.position.count,
            }
        return value


# ---------------------------------------------------------------- configuration


def parse_config(config: object) -> SourceConfig:
    """A checked ``SourceConfig``; every problem is a ``ConfigurationError`` naming the key."""
    if not isinstance(config, Mapping):
        raise ConfigurationError("The source configuration must be a JSON object.")
    config = _without_nulls(config)
    cat = catalogue()
    resource = cat.get(config.get("resource"), "source")
    allowed = {"resource", "page_size", "filters", "start_date", "concurrency"}
    allowed |= {param.name for param in resource.path_params}
    unknown = sorted(str(key) for key in config if key not in allowed)
    if unknown:
        raise ConfigurationError(
            f"Unknown source configuration key(s) for {resource.name!r}: {', '.join(unknown)}. "
            f"Allowed: {', '.join(sorted(allowed))}."
        )
    page_size = _bounded_int(config, "page_size", cat.default_page_size, cat.max_page_size)
    concurrency = _bounded_int(
        config, "concurrency", cat.default_read_concurrency, cat.max_read_concurrency
    )
    path_values = {}
    for param in resource.path_params:
        value = config.get(param.name, param.default)
        if value not in param.choices:
            raise ConfigurationError(
                f"{param.name!r} must be one of {', '.join(param.choices)} (got {value!r})."
            )
        path_values[param.name] = value
    parsed = SourceConfig(
        resource=resource,
        page_size=page_size,
        filters=_filters(resource, config.get("filters", {})),
        path_values=path_values,
        start=_start(resource, config.get("start_date")),
        concurrency=concurrency,
    )
    # The shipped schema as a backstop: what a host validated is what we accept.
    problems = schema_problems(validator("schemas/source.schema.json"), dict(config),
                               whole="the configuration")
    if problems:
        raise ConfigurationError(f"Invalid source configuration: {describe(problems)}.")
    return parsed


def _without_nulls(config: Mapping[str, Any]) -> dict[str, Any]:
    """Hosts' forms send ``null`` for a setting left empty: that means "not set"."""
    return {key: value for key, value in config.items() if value is not None}


def _bounded_int(config: Mapping[str, Any], key: str, default: int, maximum: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ConfigurationError(f"{key!r} must be a whole number from 1 to {maximum}.")
    return value


def _filters(resource: Resource, filters: object) -> dict[str, FilterValue]:
    if not isinstance(filters, Mapping):
        raise ConfigurationError("'filters' must be an object of query parameters.")
    query: dict[str, FilterValue] = {}
    for name, value in filters.items():
        if resource.incremental is not None and name == resource.incremental.filter:
            raise ConfigurationError(
                f"Filter {name!r} is managed by the incremental cursor: use 'start_date' for the "
                "first run instead."
            )
        spec = resource.filters.get(name)
        if spec is None:
            valid = ", ".join(sorted(resource.filters)) or "none"
            raise ConfigurationError(
                f"Unknown filter {name!r} for resource {resource.name!r}. Valid filters: {valid}."
            )
        if spec.get("type") == "array":
            query[name] = _list_filter(name, value, spec.get("items", {}))
        elif isinstance(value, list | tuple):
            raise ConfigurationError(f"Filter {name!r} takes one value, not a list.")
        else:
            query[name] = _filter_value(name, value, spec)
    return query


def _list_filter(name: str, value: object, items: Mapping[str, Any]) -> tuple[str, ...]:
    """A filter Procurify takes repeated (``?locations=1&locations=2``): a list of values, or
    one value alone; each item is checked against the item type."""
    values = value if isinstance(value, list | tuple) else [value]
    if not values:
        raise ConfigurationError(f"Filter {name!r} needs at least one value.")
    return tuple(_filter_value(f"{name}[{index}]", item, items)
                 for index, item in enumerate(values))


def _filter_value(name: str, value: object, spec: Mapping[str, Any]) -> str:
    kind = spec.get("type", "string")
    # Text is accepted for every type ("true", "12"): that is how command lines and query
    # strings carry values.
    if kind == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise ConfigurationError(f"Filter {name!r} must be true or false.")
        return "true" if value else "false"
    if kind in ("integer", "number"):
        value = _number(name, value, whole=kind == "integer")
    elif not isinstance(value, str):
        raise ConfigurationError(f"Filter {name!r} must be text.")
    if "enum" in spec and value not in spec["enum"]:
        choices = ", ".join(str(choice) for choice in spec["enum"])
        raise ConfigurationError(f"Filter {name!r} must be one of {choices}.")
    if spec.get("format") in ("date", "date-time"):
        _parse_when(str(value), f"Filter {name!r}")
    return str(value)


def _number(name: str, value: object, *, whole: bool) -> int | float:
    expected = "a whole number" if whole else "a number"
    if isinstance(value, str):
        try:
            value = int(value) if whole else float(value)
        except ValueError:
            raise ConfigurationError(f"Filter {name!r} must be {expected}.") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"Filter {name!r} must be {expected}.")
    if whole and not isinstance(value, int):
        raise ConfigurationError(f"Filter {name!r} must be {expected}.")
    return value


def _start(resource: Resource, value: object) -> datetime | None:
    if value is None:
        return None
    if resource.incremental is None:
        incremental = [r.name for r in catalogue().resources.values() if r.incremental]
        raise ConfigurationError(
            f"'start_date' applies only to incremental resources ({', '.join(incremental)}); "
            f"{resource.name!r} is read in full every run."
        )
    if not isinstance(value, str):
        raise ConfigurationError("'start_date' must be a date (YYYY-MM-DD) or ISO date-time.")
    return _parse_when(value, "'start_date'")


# The forms source.schema.json allows for start_date: a date, or a date-time.
WHEN_FORM = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)


def _parse_when(value: str, what: str) -> datetime:
    try:
        if not WHEN_FORM.match(value):
            raise ValueError(value)
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"{what} must be a date (YYYY-MM-DD) or an ISO 8601 date-time."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- state


def parse_state(state: object, config: SourceConfig) -> ReadState:
    name = config.resource.name
    if state is None or state == {}:
        return ReadState(name, None, None)
    if not isinstance(state, Mapping) or state.get("resource") != name:
        raise ConfigurationError(
            f"The saved state does not belong to resource {name!r}: start without state "
            "(a full read) or use the state this resource's last run emitted."
        )
    fingerprint = config.query_fingerprint
    try:
        cursor = _parse_when(state["cursor"], "state cursor") if state.get("cursor") else None
        if cursor is not None and state.get("query") not in (None, fingerprint):
            log.warning("The saved state of %s was made with other filters: its cursor is "
                        "ignored and records are read from the start date.", name)
            cursor = None
        progress = state.get("in_progress")
        position = None
        this_read = config.position_fingerprint(cursor or config.start)
        if isinstance(progress, Mapping) and progress.get("query") == this_read:
            position = ReadPosition(
                page=int(progress["page"]),
                page_size=int(progress["page_size"]),
                query=str(progress["query"]),
                next_cursor=progress.get("next_cursor"),
                scope_shrank=bool(progress.get("scope_shrank", False)),
                count=_optional_int(progress.get("count")),
            )
    except (KeyError, TypeError, ValueError, ConfigurationError):
        raise ConfigurationError(
            f"The saved state for {name!r} is damaged; start without state for a full read."
        ) from None
    return ReadState(name, cursor, position, fingerprint)


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Page:
    number: int
    records: list[dict[str, Any]]
    num_pages: int
    server_time: datetime | None


class SelectionWatch:
    """Notices the selection shrinking during a read: an answer counting fewer records than an
    answer that had arrived before its request was sent, or an announced page gone.

    Only answers ordered in time are compared, so concurrent pages never raise a false alarm,
    and records joining never do. One record leaving while another joins between two answers
    cannot be seen: the count stays the same.
    """

    # More answers than this cannot arrive while one request is in flight: the window of
    # pages in flight is at most ``max_concurrency``.
    RECENT = 64

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, earlier_count: int | None = None
    ) -> None:
        """``earlier_count``: what the interrupted read this one resumes had seen."""
        self.clock = clock
        self._lock = threading.Lock()
        self._recent: deque[tuple[float, int]] = deque()  # (arrived at, count)
        self._settled_max = earlier_count  # largest count among older answers
        self._shrank = False

    @property
    def shrank(self) -> bool:
        return self._shrank

    @property
    def largest_count(self) -> int | None:
        with self._lock:
            counts = [count for _, count in self._recent]
            if self._settled_max is not None:
                counts.append(self._settled_max)
            return max(counts, default=None)

    def observe(self, count: int | None, sent_at: float) -> None:
        if count is None:
            return
        with self._lock:
            earlier = [seen for arrived, seen in self._recent if arrived < sent_at]
            if self._settled_max is not None:
                earlier.append(self._settled_max)
            if earlier and count < max(earlier):
                self._shrank = True
            self._recent.append((self.clock(), count))
            if len(self._recent) > self.RECENT:
                _, oldest = self._recent.popleft()
                self._settled_max = max(oldest, self._settled_max or 0)

    def mark_shrunk(self) -> None:
        self._shrank = True


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
        return self._current

    def on_retry(self, event: RetryEvent) -> None:
        if event.status == 429:
            with self._lock:
                self._current = max(1, self._current // 2)
                self._clean = 0

    def on_success(self) -> None:
        with self._lock:
            self._clean += 1
            if self._clean >= self._current and self._current < self.maximum:
                self._current += 1
                self._clean = 0


class PoolFactory(Protocol):
    """Makes the worker pool of a read (``ThreadPoolExecutor``, or a test's own)."""

    def __call__(self, *, max_workers: int, thread_name_prefix: str) -> Executor: ...


def read(
    session: ProcurifySession,
    config: Mapping[str, Any],
    state: Mapping[str, Any] | None,
    *,
    pools: PoolFactory = ThreadPoolExecutor,
) -> Iterator[Record | Checkpoint]:
    """``Record`` and ``Checkpoint`` messages; configuration problems raise before any request."""
    parsed = parse_config(config)
    saved = parse_state(state, parsed)
    return _Reader(session, parsed, saved, pools).messages()


class _Reader:
    def __init__(self, session: ProcurifySession, config: SourceConfig, state: ReadState,
                 pools: PoolFactory = ThreadPoolExecutor) -> None:
        self.session = session
        self.config = config
        self.state = state
        self.resource = config.resource
        self.pools = pools
        self.limit = AdaptiveLimit(config.concurrency)
        earlier = state.position.count if state.position else None
        self.selection = SelectionWatch(earlier_count=earlier)

    def messages(self) -> Iterator[Record | Checkpoint]:
        if self.resource.pagination != "page":
            yield from self._unpaginated()
            return
        first_page = 1
        next_cursor: datetime | None = None
        scope_shrank = False
        position = self.state.position
        if position is not None:
            # Re-read the last emitted page: it covers records shifted back by deletions.
            first_page = (position.page - 1) * position.page_size // self.config.page_size + 1
            scope_shrank = position.scope_shrank
            if position.next_cursor:
                next_cursor = _parse_when(position.next_cursor, "state")
        params = self._params()
        first = self._fetch(first_page, params) or self._fetch_first(params)
        if next_cursor is None:
            if first.server_time is not None:
                next_cursor = first.server_time - SERVER_TIME_MARGIN
            else:
                next_cursor = datetime.now(UTC) - CLOCK_SKEW_ALLOWANCE
        stream = self.resource.name
        previous_keys: set[Any] = set()
        for page in self._pages(first, params):
            scope_shrank = self._noticed_shrinking(scope_shrank)
            keys = set()
            fresh = []
            for record in page.records:
                key = self._key(record)
                keys.add(key)
                if key is None or key not in previous_keys:
                    fresh.append(record)
            previous_keys = keys
            # A detail stream emits each record's detail; the page's checkpoint follows them.
            for record in self._with_details(fresh):
                yield Record(stream, record)
            position = self._position(page.number, next_cursor, scope_shrank)
            state = ReadState(stream, self.state.cursor, position, self.config.query_fingerprint)
            yield Checkpoint(state.to_dict())
        scope_shrank = self._noticed_shrinking(scope_shrank)  # e.g. the last page was gone
        yield Checkpoint(self._final_state(next_cursor, scope_shrank).to_dict())

    def _noticed_shrinking(self, already: bool) -> bool:
        """Whether the selection shrank during this read (said once, in the log)."""
        if already or not self.selection.shrank:
            return already
        if self.resource.incremental is None:
            consequence = "this run may have missed some; the next full read includes them"
        else:
            consequence = ("the next run starts again from this run's starting cursor so "
                           "that none is missed")
        log.warning("Records left the %s selection during the read, which moves the pages "
                    "after them: %s.", self.resource.name, consequence)
        return True

    def _final_state(self, next_cursor: datetime, scope_shrank: bool) -> ReadState:
        if self.resource.incremental is None:
            return ReadState(self.resource.name, None, None)
        start = self.state.cursor or self.config.start
        cursor = start if scope_shrank else next_cursor
        return ReadState(self.resource.name, cursor, None, self.config.query_fingerprint)

    def _unpaginated(self) -> Iterator[Record | Checkpoint]:
        path = self.resource.list_path(self.config.path_values)
        action = f"read {self.resource.name}"
        response, body = self._request(path, dict(self.config.filters), action)
        if response.status_code >= 300:
            raise error_for_response(response, action)
        data = body.get("data") if isinstance(body, Mapping) else None
        records = [data] if isinstance(data, dict) else records_of(body)
        if records is None:
            raise _no_records(action)
        for record in records:
            yield Record(self.resource.name, record)
        yield Checkpoint(ReadState(self.resource.name, None, None).to_dict())

    def _params(self) -> dict[str, FilterValue]:
        params = dict(self.config.filters)
        params["page_size"] = str(self.config.page_size)
        if self.resource.order_by:
            params["order_by"] = self.resource.order_by
        incremental = self.resource.incremental
        since = self.state.cursor or self.config.start
        if incremental is not None and since is not None:
            if incremental.granularity == "date":
                params[incremental.filter] = (since - DATE_FILTER_ALLOWANCE).date().isoformat()
            else:
                params[incremental.filter] = _iso(since)
        return params

    def _position(self, page: int, next_cursor: datetime, scope_shrank: bool) -> ReadPosition:
        return ReadPosition(
            page=page,
            page_size=self.config.page_size,
            query=self.config.position_fingerprint(self.state.cursor or self.config.start),
            next_cursor=_iso(next_cursor) if self.resource.incremental else None,
            scope_shrank=scope_shrank,
            count=self.selection.largest_count,
        )

    def _key(self, record: Mapping[str, Any]) -> Any:
        values = tuple(record.get(name) for name in self.resource.key)
        return None if all(value is None for value in values) else values

    def _pages(self, first: Page, params: dict[str, FilterValue]) -> Iterator[Page]:
        """Pages in order; the ones after ``first`` are prefetched by a bounded pool, or, with
        ``concurrency`` 1, fetched one after the other on the reading thread."""
        yield first
        last_page = first.num_pages
        if first.number >= last_page:
            return
        if self.config.concurrency == 1 or self.resource.detail is not None:
            # A detail stream spends its concurrency on the details: one detail request per
            # record, against one list request per page.
            yield from self._sequential_pages(first.number + 1, last_page, params)
            return
        in_flight: deque[tuple[int, Future[Page | None]]] = deque()
        next_number = first.number + 1
        pool = self.pools(
            max_workers=self.config.concurrency, thread_name_prefix=f"read-{self.resource.name}"
        )
        try:
            while True:
                while next_number <= last_page and len(in_flight) < self.limit.current:
                    in_flight.append((next_number, pool.submit(self._fetch, next_number, params)))
                    next_number += 1
                if not in_flight:
                    return
                _, future = in_flight.popleft()
                page = future.result()
                if page is None:  # a page announced earlier is gone: the selection shrank
                    self.selection.mark_shrunk()
                    return
                last_page = max(last_page, page.num_pages)
                yield page
        finally:
            for _, future in in_flight:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _with_details(self, records: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``records`` themselves, or for a detail stream their details, in the same order;
        up to ``concurrency`` detail requests in flight (fewer while Procurify answers 429)."""
        if self.resource.detail is None:
            yield from records
            return
        if self.config.concurrency == 1 or len(records) <= 1:
            for record in records:
                found = self._fetch_detail(record)
                if found is not None:
                    yield found
            return
        pending = deque(records)
        in_flight: deque[Future[dict[str, Any] | None]] = deque()
        pool = self.pools(max_workers=self.config.concurrency,
                          thread_name_prefix=f"read-{self.resource.name}")
        try:
            while True:
                while pending and len(in_flight) < self.limit.current:
                    in_flight.append(pool.submit(self._fetch_detail, pending.popleft()))
                if not in_flight:
                    return
                found = in_flight.popleft().result()
                if found is not None:
                    yield found
        finally:
            for future in in_flight:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _fetch_detail(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """A list record's detail, or ``None`` when it was deleted since the list was read."""
        detail = self.resource.detail
        assert detail is not None
        path = detail.path_for(record)
        if path is None:
            raise TransientError(
                f"A {detail.of} record from Procurify has no {detail.id_field!r}, so its detail "
                f"cannot be read; the read of {self.resource.name} stopped rather than skip it. "
                "Try again later, or read the list resource instead."
            )
        action = f"read {self.resource.name} record {record[detail.id_field]}"
        response, body = self._request(path, {}, action)
        if response.status_code == 404:
            # Deleted between the list and now: it is no longer there to lose. Said aloud, so
            # that a detail path that stopped taking the list's key cannot pass unnoticed.
            log.warning("Could not %s: Procurify no longer has it (deleted since the list was "
                        "read?); it is not emitted.", action)
            return None
        if response.status_code >= 300:
            raise error_for_response(response, action)
        self.limit.on_success()
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, dict):
            raise TransientError(
                f"Procurify's answer while trying to {action} had no record: nothing was "
                "skipped; try again later."
            )
        return data

    def _sequential_pages(self, number: int, last_page: int, params: dict[str, FilterValue]
                          ) -> Iterator[Page]:
        while number <= last_page:
            page = self._fetch(number, params)
            if page is None:  # a page announced earlier is gone: the selection shrank
                self.selection.mark_shrunk()
                return
            last_page = max(last_page, page.num_pages)
            yield page
            number += 1

    def _fetch_first(self, params: dict[str, FilterValue]) -> Page:
        """Page 1, for a resumed read whose page is gone (the selection shrank)."""
        page = self._fetch(1, params)
        assert page is not None  # _fetch raises for a missing page 1
        return page

    def _fetch(self, number: int, params: dict[str, FilterValue]) -> Page | None:
        """The page, or ``None`` past the end (Procurify answers 404 "Invalid page")."""
        path = self.resource.list_path(self.config.path_values)
        action = f"read {self.resource.name} page {number}"
        sent_at = self.selection.clock()
        response, body = self._request(path, {**params, "page": str(number)}, action)
        if response.status_code == 404 and number > 1:
            return None
        if response.status_code >= 300:
            raise error_for_response(response, action)
        self.limit.on_success()
        records = records_of(body)
        num_pages = pagination_value(body, "num_pages")
        if records is None or (num_pages is None and len(records) >= self.config.page_size):
            # Reading on would end the read early and move the cursor past unread records.
            raise _no_records(action)
        self.selection.observe(pagination_value(body, "count"), sent_at)
        return Page(
            number=number,
            records=records,
            num_pages=num_pages or 1,
            server_time=_server_time(response),
        )

    def _request(
        self, path: str, params: Mapping[str, FilterValue], action: str
    ) -> tuple[requests.Response, Any]:
        try:
            return self.session.request_json(
                "GET", path, params=params, on_retry=self.limit.on_retry
            )
        except ProcurifyError as error:
            raise error.in_context(f"Could not {action}") from error


def _no_records(action: str) -> TransientError:
    return TransientError(
        f"Procurify's answer while trying to {action} had no records list or no pagination: "
        "nothing was skipped; try again later."
    )


def _server_time(response: requests.Response) -> datetime | None:
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- catalogue


def schema_message(resource: Resource) -> SchemaMessage:
    """The Singer ``SCHEMA`` message of a readable resource."""
    if resource.stream_schema is None:
        raise ConfigurationError(f"Resource {resource.name!r} cannot be read.")
    schema: dict[str, Any] = manifest.load_json(resource.stream_schema)
    bookmarks = (resource.incremental.cursor_field,) if resource.incremental else ()
    return SchemaMessage(resource.name, schema, resource.key, bookmarks)


def discover() -> Iterator[SchemaMessage]:
    """One ``SCHEMA`` message per readable resource."""
    for name in catalogue().names("source"):
        yield schema_message(catalogue().resources[name])
