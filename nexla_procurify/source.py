"""Reading: configuration, pagination with a bounded prefetching pool, incremental state.

The promise: across consecutive runs, every record that was in the selection during a read and
is still in it afterwards is read at least once, whatever the order in which concurrent pages
are answered and whatever changes (edits, additions, removals) happen between any two answers.

The argument. Pages are asked for in order of ``id`` (``order_by``), which no edit changes. An
answer is then a run of consecutive records of the selection *as it was at one instant*: every
record in the selection then whose id lies between the answer's first and last id is in it.
Call a record *stable* when it stayed in the selection from the first answer to the last. A
stable record is in every answer's instant, so it is read as soon as its id falls within some
answer's span (page 1's span reaching down to the start, the last page's up to the end). The
reader keeps ``through`` (``Coverage``): every stable record with an id up to it was emitted.
An answer *connects* when nothing can lie between ``through`` and its first id (that id is at
most ``through``, or the next whole number); it then moves ``through`` to its last id. Pages of
one size never overlap, so when a page does not connect, the reader looks across the boundary:
a small page of another size holding the records on both sides of it (prefetched with the page
when the page's ids do not run on), then wider ones. Records found there are emitted: they are
exactly those that slid onto a page already read. If no look connects, nothing can be proved
and the read *holds*: the next run starts again from this run's starting cursor. When every
answer connected and the last one was the selection's last, every stable record was read.

A record that was not stable joined or changed during the read: Procurify then stamped its
cursor field at that time, after the server time the read started at, and the next cursor is
that start (its ``Date`` header, less a margin), so the next run's filter includes it. Records
are emitted at most once per read, resumes included: a resume starts at the last page emitted
and skips what ``through`` covers. Date-granular filters are sent a day early, so that no time
zone can hide a record.

Lists whose records do not show the id they are ordered by (purchase orders, orders) are
checked the same way with the records themselves as landmarks (``IdentityCoverage``): an answer
connects when it holds the last record covered. When that record leaves the selection during
the read, nothing can be proved and the read holds (and may emit a few records twice).

Limits: the premises are Procurify's: that ids never change, and that every change stamps the
cursor field. Records showing neither their id nor a key fall back to the count: the read holds
its cursor when the count changed in either direction or a page was gone, and a record leaving
while another joins between the same two answers goes unseen. A list without ``order_by``
(custom fields) has no guarantee.

A detail stream (``bill_details``, ...) is its list read exactly so, each page's records then
read again from their detail GET, in the list's order; the page's checkpoint follows its
details, so the same facts hold for it.
"""

from __future__ import annotations

import email.utils
import hashlib
import itertools
import json
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import requests

from nexla_procurify import manifest
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.envelope import NotRecordsError, pagination_value, records_of
from nexla_procurify.errors import ApiError, ConfigurationError, ProcurifyError, TransientError
from nexla_procurify.http import RetryEvent, error_for_response
from nexla_procurify.messages import Checkpoint, Record, SchemaMessage
from nexla_procurify.resources import Resource, catalogue
from nexla_procurify.singer_schema import flatten_schema
from nexla_procurify.validation import describe, schema_problems, validator

log = logging.getLogger("nexla_procurify.source")

STATE_VERSION = 2
# Pages a read may go on to beyond those its first page announced (records created meanwhile).
DEFAULT_MAX_EXTRA_PAGES = 1000
MAX_EXTRA_PAGES_LIMIT = 1_000_000
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
    max_extra_pages: int = DEFAULT_MAX_EXTRA_PAGES

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


def _digest(identity: object) -> str:
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ReadPosition:
    """Where an interrupted read stands: pages up to ``page`` (of ``page_size``) were emitted,
    and every record that stayed in the selection with an order key up to ``through`` was
    emitted. ``held``: the read could not prove that nothing slipped between its pages, so the
    next run starts again from this run's starting cursor."""

    page: int
    page_size: int
    query: str
    next_cursor: str | None
    through: int | str | tuple[Any, ...] | None = None  # an id, or a record's key values
    held: bool = False
    counts: tuple[int, int] | None = None  # fewest and most records counted, without keys


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
                "through": (list(self.position.through)
                            if isinstance(self.position.through, tuple)
                            else self.position.through),
                "held": self.position.held,
                "counts": list(self.position.counts) if self.position.counts else None,
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
    allowed = {"resource", "page_size", "filters", "start_date", "concurrency",
               "max_extra_pages"}
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
        max_extra_pages=_bounded_int(config, "max_extra_pages", DEFAULT_MAX_EXTRA_PAGES,
                                     MAX_EXTRA_PAGES_LIMIT, minimum=0),
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


def _bounded_int(config: Mapping[str, Any], key: str, default: int, maximum: int, *,
                 minimum: int = 1) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ConfigurationError(
            f"{key!r} must be a whole number from {minimum} to {maximum}.")
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


# The most pages a saved position may name: far beyond any real selection, and small enough that
# every computation on it stays exact.
MAX_STATE_PAGE = 10**9
_STATE_KEYS = frozenset({"version", "resource", "cursor", "query", "in_progress"})
_POSITION_KEYS = frozenset({"page", "page_size", "query", "next_cursor", "through", "held",
                            "counts"})


class _DamagedState(Exception):
    """A field of the saved state that cannot be what this connector wrote."""


def parse_state(state: object, config: SourceConfig) -> ReadState:
    """The saved state, checked field by field (no recursion: the state is a flat object); any
    damage is a ``ConfigurationError`` that names the field and says to start without state."""
    name = config.resource.name
    if state is None or state == {}:
        return ReadState(name, None, None)
    if not isinstance(state, Mapping) or state.get("resource") != name:
        raise ConfigurationError(
            f"The saved state does not belong to resource {name!r}: start without state "
            "(a full read) or use the state this resource's last run emitted."
        )
    try:
        return _checked_state(state, config)
    except _DamagedState as damage:
        raise ConfigurationError(
            f"The saved state for {name!r} is damaged ({damage}); start without state for a "
            "full read, or pass the last STATE this resource's run emitted, unchanged."
        ) from None


def _checked_state(state: Mapping[Any, Any], config: SourceConfig) -> ReadState:
    name = config.resource.name
    unknown = sorted(str(key) for key in state if key not in _STATE_KEYS)
    if unknown:
        raise _DamagedState(f"unknown field(s) {', '.join(unknown)}")
    version = state.get("version", STATE_VERSION)
    if version not in (1, STATE_VERSION) or isinstance(version, bool):
        raise _DamagedState(f"'version' must be 1 or {STATE_VERSION}")
    cursor_text = state.get("cursor")
    cursor = None
    if cursor_text is not None:
        if not isinstance(cursor_text, str):
            raise _DamagedState("'cursor' must be an ISO 8601 date-time")
        try:
            cursor = _parse_when(cursor_text, "state cursor")
        except ConfigurationError:
            raise _DamagedState("'cursor' must be an ISO 8601 date-time") from None
    query = state.get("query")
    if query is not None and not isinstance(query, str):
        raise _DamagedState("'query' must be text")
    fingerprint = config.query_fingerprint
    if cursor is not None and query not in (None, fingerprint):
        log.warning("The saved state of %s was made with other filters: its cursor is "
                    "ignored and records are read from the start date.", name)
        cursor = None
    progress = state.get("in_progress")
    position = None
    if progress is not None:
        if not isinstance(progress, Mapping):
            raise _DamagedState("'in_progress' must be an object")
        # A version 1 position cannot say what it covered: the read starts again from its cursor.
        if version == STATE_VERSION:
            checked = _checked_position(progress)
            if checked.query == config.position_fingerprint(cursor or config.start):
                position = checked
    return ReadState(name, cursor, position, fingerprint)


def _checked_position(progress: Mapping[Any, Any]) -> ReadPosition:
    unknown = sorted(str(key) for key in progress if key not in _POSITION_KEYS)
    if unknown:
        raise _DamagedState(f"unknown field(s) in 'in_progress': {', '.join(unknown)}")
    page = _state_int(progress, "page", MAX_STATE_PAGE)
    page_size = _state_int(progress, "page_size", catalogue().max_page_size)
    query = progress.get("query")
    if not isinstance(query, str):
        raise _DamagedState("'in_progress.query' must be text")
    next_cursor = progress.get("next_cursor")
    if next_cursor is not None:
        if not isinstance(next_cursor, str):
            raise _DamagedState("'in_progress.next_cursor' must be an ISO 8601 date-time")
        try:
            _parse_when(next_cursor, "state")
        except ConfigurationError:
            raise _DamagedState("'in_progress.next_cursor' must be an ISO 8601 date-time") \
                from None
    through = progress.get("through")
    if isinstance(through, list) and 0 < len(through) <= 8 and all(
            value is None or (isinstance(value, int | str) and not isinstance(value, bool))
            for value in through):
        through = tuple(through)
    elif through is not None and (isinstance(through, bool)
                                  or not isinstance(through, int | str)):
        raise _DamagedState("'in_progress.through' must be a record id or key")
    held = progress.get("held", False)
    if not isinstance(held, bool):
        raise _DamagedState("'in_progress.held' must be true or false")
    counts = progress.get("counts")
    if counts is not None:
        if not (isinstance(counts, list) and len(counts) == 2 and all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts)):
            raise _DamagedState("'in_progress.counts' must be two whole numbers")
        counts = (counts[0], counts[1])
    return ReadPosition(page, page_size, query, next_cursor, through, held, counts)


def _state_int(progress: Mapping[Any, Any], key: str, maximum: int) -> int:
    value = progress.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise _DamagedState(f"'in_progress.{key}' must be a whole number from 1 to {maximum}")
    return value


# ---------------------------------------------------------------- reading


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


OrderKey = int | str


class Coverage:
    """What the answers absorbed so far prove (the argument is in the module's docstring).

    An answer is a run of consecutive records of the selection as it was at one instant, in
    order of their order key (``id``); so it proves that every record that was in the selection
    then, with a key between its first and its last, is in it. ``through``: every record that
    stayed in the selection with a key up to it was emitted (``complete``: every one). An answer
    *connects* when nothing lies between ``through`` and its first key: its first key is at most
    ``through``, or the next whole number; or it is the selection's first page.
    """

    def __init__(self, order_key: Callable[[Mapping[str, Any]], OrderKey | None],
                 through: OrderKey | None = None) -> None:
        self.order_key = order_key
        self.through = through
        self.complete = False
        self.doubt: str | None = None  # why nothing can be proved, when so

    def connects(self, page: Page) -> bool:
        if self.complete or page.offset == 0:
            return True
        if not page.records or self.through is None:
            return False
        first = self.order_key(page.records[0])
        return first is not None and _at_most_next(first, self.through)

    def absorb(self, page: Page) -> list[dict[str, Any]]:
        """The records of ``page`` not proved emitted already; ``through`` moves past them."""
        if self.complete:
            return []
        keys = [self.order_key(record) for record in page.records]
        if not _ascending(keys):
            self.doubt = "Procurify's records were not in order of their id"
            self.through = None
            return list(page.records)
        through = self.through
        fresh = [record for record, key in zip(page.records, keys, strict=True)
                 if through is None or not _at_most(key, through)]
        if keys:
            last = keys[-1]
            assert last is not None
            self.through = last if through is None or not _at_most(last, through) else through
        if page.is_last and self.doubt is None:
            self.complete = True
        return fresh


# A record's identity (the values of the resource's key), for lists whose records do not show
# the id they are ordered by.
Identity = tuple[Any, ...]


class IdentityCoverage:
    """``Coverage`` for records that do not show the id they are ordered by (purchase orders):
    the same argument, with the records themselves as landmarks instead of their ids.

    ``through`` is the last record covered: every record that stayed in the selection and comes
    no later than it was emitted. An answer that holds that record connects, and everything
    after it in the answer is new; an answer whose last record lies within the last answer
    absorbed adds nothing. Otherwise (the landmark left the selection, or too much moved) it
    does not connect.
    """

    def __init__(self, identity: Callable[[Mapping[str, Any]], Identity | None],
                 through: Identity | None = None) -> None:
        self.identity = identity
        self.through = through
        self.window: list[Identity | None] = [through] if through is not None else []
        self.complete = False
        self.doubt: str | None = None

    def connects(self, page: Page) -> bool:
        if self.complete or (self.through is None and page.offset == 0):
            return True
        if not page.records or self.through is None:
            return False
        keys = [self.identity(record) for record in page.records]
        return self.through in keys or keys[-1] in self.window

    def absorb(self, page: Page) -> list[dict[str, Any]]:
        if self.complete:
            return []
        keys = [self.identity(record) for record in page.records]
        if any(key is None for key in keys) or len(set(keys)) != len(keys):
            self.doubt = "Procurify's records had no key, or the same key twice"
            self.through = None
            self.window = []
            return list(page.records)
        if self.through is None:
            fresh = list(page.records)
        elif self.through in keys:
            fresh = page.records[keys.index(self.through) + 1:]
        elif keys and keys[-1] in self.window:
            fresh = []  # within what the last answer covered
        else:  # taken without connecting (the read holds): all not just seen
            fresh = [record for record, key in zip(page.records, keys, strict=True)
                     if key not in self.window]
        if (fresh or self.through is None) and keys:
            self.through = keys[-1]
            self.window = list(keys)
        if page.is_last and self.doubt is None:
            self.complete = True
        return fresh


def _same_kind(a: OrderKey, b: OrderKey) -> bool:
    return isinstance(a, int) == isinstance(b, int)


def _at_most(key: OrderKey | None, through: OrderKey) -> bool:
    if key is None or not _same_kind(key, through):
        return False
    return key <= through  # type: ignore[operator]  # same kind, checked above


def _at_most_next(key: OrderKey, through: OrderKey) -> bool:
    """Nothing can lie strictly between ``through`` and ``key``."""
    if isinstance(key, int) and isinstance(through, int):
        return key <= through + 1
    return _at_most(key, through)


def _ascending(keys: list[OrderKey | None]) -> bool:
    for before, after in itertools.pairwise(keys):
        if before is None or after is None or not _same_kind(before, after):
            return False
        if not before < after:  # type: ignore[operator]  # same kind, checked above
            return False
    return all(key is not None for key in keys[:1])


def _dense(page: Page, order_key: Callable[[Mapping[str, Any]], OrderKey | None]) -> bool:
    """Whether the page's keys are consecutive whole numbers (its neighbours likely too)."""
    keys = [order_key(record) for record in page.records]
    return all(isinstance(key, int) for key in keys) and all(
        after == before + 1 for before, after in itertools.pairwise(keys)  # type: ignore[operator]
    )


def _slice_around(boundary: int, reach: int, largest: int) -> tuple[int, int]:
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


# A page and, when its boundary with the page before may need it, a look across that boundary.
_Unit = tuple[Page, Page | None]

# How far around a page boundary the looks across it reach, one after the other: shifts of up to
# the last reach between two answers are seen through.
WITNESS_REACH = 2
PROBE_REACHES = (8, 32, 128, 250)


class _Reader:
    def __init__(self, session: ProcurifySession, config: SourceConfig, state: ReadState,
                 pools: PoolFactory = ThreadPoolExecutor) -> None:
        self.session = session
        self.config = config
        self.state = state
        self.resource = config.resource
        self.pools = pools
        self.limit = AdaptiveLimit(config.concurrency)
        # Whether page boundaries are checked by the records' order keys (``Coverage``) or
        # identities (``IdentityCoverage``), or, for records that show neither, by the
        # selection's count (``_counted``).
        self.keyed = self.resource.order_by is not None
        position = state.position
        self.counts = position.counts if position else None
        self._ended = False  # whether the last page answered was the selection's last
        self._ordered = True  # whether records show the id they are ordered by
        self._doubtful = False  # whether the coverage gave up (no more looks across boundaries)

    def messages(self) -> Iterator[Record | Checkpoint]:
        if self.resource.pagination != "page":
            yield from self._unpaginated()
            return
        first_page = 1
        next_cursor: datetime | None = None
        position = self.state.position
        saved_through = position.through if position else None
        held = False
        if position is not None:
            # Start again at the last emitted page: what it covered is skipped by key.
            first_page = (position.page - 1) * position.page_size // self.config.page_size + 1
            held = position.held
            if position.next_cursor:
                next_cursor = _parse_when(position.next_cursor, "state")
        params = self._params()
        first = self._fetch(first_page, params) or self._fetch_first(params)
        coverage: Coverage | IdentityCoverage = Coverage(self._order_key)
        if any(self._order_key(record) is None for record in first.records):
            coverage = IdentityCoverage(self._key)
            self.keyed = self.keyed and all(self._key(record) is not None
                                            for record in first.records)
        self._ordered = isinstance(coverage, Coverage)
        if isinstance(saved_through, tuple) == isinstance(coverage, IdentityCoverage):
            coverage.through = saved_through
            if isinstance(coverage, IdentityCoverage) and isinstance(saved_through, tuple):
                coverage.window = [saved_through]
        elif saved_through is not None and first.number != 1:
            first = self._fetch_first(params)  # the records changed kind: start again
        if next_cursor is None:
            next_cursor = self._next_cursor(first.server_time, datetime.now(UTC))
        stream = self.resource.name
        previous_keys: set[Any] = set()
        last_number = first.number
        for page, witness in self._pages(first, params):
            last_number = page.number
            if not self.keyed:
                fresh, previous_keys = self._unordered(page, previous_keys)
                held = self._counted(page, held)
            else:
                fresh = self._settle(coverage, page, witness, params)
                held = self._doubted(coverage, held)
            # A detail stream emits each record's detail; the page's checkpoint follows them.
            missing: list[Any] = []
            for record in self._with_details(fresh, missing):
                yield Record(stream, record)
            held = self._without_details(missing, len(fresh), page.number, held)
            position = self._position(page.number, next_cursor, coverage.through, held)
            state = ReadState(stream, self.state.cursor, position, self.config.query_fingerprint)
            yield Checkpoint(state.to_dict())
        if self.keyed and not coverage.complete and coverage.doubt is None:
            # The last page was gone, or not the last when it was answered: look at the end.
            fresh = self._close(coverage, last_number, params)
            held = self._doubted(coverage, held)
            missing = []
            for record in self._with_details(fresh, missing):
                yield Record(stream, record)
            held = self._without_details(missing, len(fresh), last_number, held)
        if not self.keyed and not self._ended:
            held = self._counted(None, held)
        yield Checkpoint(self._final_state(next_cursor, held).to_dict())

    def _counted(self, page: Page | None, held: bool) -> bool:
        """For records that do not show their order key: the read holds its cursor when the
        selection's count changed in either direction, or a page announced was gone (``page``
        ``None``). A record leaving while another joins between two answers is not seen."""
        if page is not None and page.count is not None:
            low, high = self.counts or (page.count, page.count)
            self.counts = (min(low, page.count), max(high, page.count))
        changed = page is None or (self.counts is not None and self.counts[0] != self.counts[1])
        if held or not changed:
            return held
        log.warning("The %s selection changed while it was read (its count or its pages); its "
                    "records do not show the id they are ordered by, so %s.", self.resource.name,
                    "the next run starts again from this run's starting cursor"
                    if self.resource.incremental else "the next full read includes any missed")
        return True

    def _unordered(self, page: Page, previous_keys: set[Any]
                   ) -> tuple[list[dict[str, Any]], set[Any]]:
        """A list without a stable order: records repeated from the page before are dropped."""
        keys = set()
        fresh = []
        for record in page.records:
            key = self._key(record)
            keys.add(key)
            if key is None or key not in previous_keys:
                fresh.append(record)
        return fresh, keys

    def _settle(self, coverage: Coverage | IdentityCoverage, page: Page, witness: Page | None,
                params: dict[str, FilterValue]) -> list[dict[str, Any]]:
        """The records to emit for ``page``: first those of the looks across its boundary with
        what is covered (records that moved there while the pages were answered), then its own
        not yet covered. When no look connects, the page is taken anyway and the read holds
        its cursor."""
        if coverage.doubt is not None:  # the read holds already: nothing left to prove
            return coverage.absorb(page)
        fresh: list[dict[str, Any]] = []
        if not coverage.connects(page) and witness is not None and coverage.connects(witness):
            fresh += coverage.absorb(witness)
        for reach in PROBE_REACHES:
            if coverage.connects(page):
                break
            probe = self._probe(page.offset, reach, params)
            if probe is not None and coverage.connects(probe):
                fresh += coverage.absorb(probe)
        if not coverage.connects(page) and coverage.doubt is None:
            coverage.doubt = (f"page {page.number} did not join the pages before it, even "
                              "looked at from inside wider answers")
        return fresh + coverage.absorb(page)

    def _close(self, coverage: Coverage | IdentityCoverage, last_number: int,
               params: dict[str, FilterValue]) -> list[dict[str, Any]]:
        """Look at the end of the selection until an answer that connects is its last."""
        fresh: list[dict[str, Any]] = []
        boundary = last_number * self.config.page_size
        for reach in (WITNESS_REACH, *PROBE_REACHES):
            probe = self._probe(boundary, reach, params)
            if probe is not None and coverage.connects(probe):
                fresh += coverage.absorb(probe)
                if coverage.complete:
                    return fresh
                boundary = probe.offset + len(probe.records)
        if coverage.doubt is None:
            coverage.doubt = "the end of the selection moved while it was read"
        return fresh

    def _doubted(self, coverage: Coverage | IdentityCoverage, held: bool) -> bool:
        """Whether the read must hold its cursor (said once, in the log)."""
        if coverage.doubt is not None:
            self._doubtful = True
        if held or coverage.doubt is None:
            return held
        if self.resource.incremental is None:
            consequence = "this run may have missed some; the next full read includes them"
        else:
            consequence = ("the next run starts again from this run's starting cursor so "
                           "that none is missed")
        log.warning("The %s selection changed while it was read and the read could not prove "
                    "that no record slipped between its pages (%s): %s.",
                    self.resource.name, coverage.doubt, consequence)
        return True

    def _next_cursor(self, server_time: datetime | None, local_now: datetime) -> datetime:
        """Where the next run starts: the earlier of Procurify's clock and ours (a clock
        running ahead, on either side, must never move the cursor past records not yet read),
        less a margin; an hour before our clock when Procurify's is not known."""
        if server_time is None:
            return local_now - CLOCK_SKEW_ALLOWANCE
        if server_time - local_now > CLOCK_SKEW_ALLOWANCE:
            log.warning("Procurify's clock (its Date header, %s) is more than %s ahead of this "
                        "machine's (%s): the next %s run starts from this machine's.",
                        server_time.isoformat(), CLOCK_SKEW_ALLOWANCE, local_now.isoformat(),
                        self.resource.name)
        return min(server_time, local_now) - SERVER_TIME_MARGIN

    def _final_state(self, next_cursor: datetime, held: bool) -> ReadState:
        if self.resource.incremental is None:
            return ReadState(self.resource.name, None, None)
        start = self.state.cursor or self.config.start
        cursor = start if held else next_cursor
        return ReadState(self.resource.name, cursor, None, self.config.query_fingerprint)

    def _unpaginated(self) -> Iterator[Record | Checkpoint]:
        path = self.resource.list_path(self.config.path_values)
        action = f"read {self.resource.name}"
        response, body = self._request(path, dict(self.config.filters), action)
        if response.status_code >= 300:
            raise error_for_response(response, action)
        data = body.get("data") if isinstance(body, Mapping) else None
        records = [data] if isinstance(data, dict) else self._records(body, action)
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

    def _position(self, page: int, next_cursor: datetime, through: OrderKey | Identity | None,
                  held: bool) -> ReadPosition:
        return ReadPosition(
            page=page,
            page_size=self.config.page_size,
            query=self.config.position_fingerprint(self.state.cursor or self.config.start),
            next_cursor=_iso(next_cursor) if self.resource.incremental else None,
            through=through,
            held=held,
            counts=self.counts,
        )

    def _key(self, record: Mapping[str, Any]) -> Identity | None:
        values = tuple(record.get(name) for name in self.resource.key)
        if any(isinstance(value, dict | list) for value in values):
            return None
        return None if all(value is None for value in values) else values

    def _order_key(self, record: Mapping[str, Any]) -> OrderKey | None:
        value = record.get(self.resource.order_by or "")
        if isinstance(value, bool) or not isinstance(value, int | str):
            return None
        return value

    def _pages(self, first: Page, params: dict[str, FilterValue]) -> Iterator[_Unit]:
        """Pages in order, each with a look across its boundary with the page before when its
        own keys do not run on; the ones after ``first`` are prefetched by a bounded pool, or,
        with ``concurrency`` 1, fetched one after the other on the reading thread."""
        yield first, None
        self._ended = first.is_last
        last_page = first.num_pages
        most = first.num_pages + self.config.max_extra_pages
        if first.number >= last_page:
            return
        if self.config.concurrency == 1 or self.resource.detail is not None:
            # A detail stream spends its concurrency on the details: one detail request per
            # record, against one list request per page.
            yield from self._sequential_pages(first.number + 1, last_page, most, params)
            return
        in_flight: deque[tuple[int, Future[_Unit | None]]] = deque()
        next_number = first.number + 1
        pool = self.pools(
            max_workers=self.config.concurrency, thread_name_prefix=f"read-{self.resource.name}"
        )
        try:
            while True:
                while next_number <= last_page and len(in_flight) < self.limit.current:
                    in_flight.append((next_number, pool.submit(self._unit, next_number, params)))
                    next_number += 1
                if not in_flight:
                    return
                _, future = in_flight.popleft()
                unit = future.result()
                if unit is None:  # a page announced earlier is gone: the selection shrank
                    return
                last_page = self._bounded(last_page, unit[0], most)
                self._ended = unit[0].is_last
                yield unit
        finally:
            for _, future in in_flight:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

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

    def _unit(self, number: int, params: dict[str, FilterValue]) -> _Unit | None:
        page = self._fetch(number, params)
        if page is None:
            return None
        witness = None
        if self.keyed and not self._doubtful and not (
                self._ordered and _dense(page, self._order_key)):
            witness = self._probe(page.offset, WITNESS_REACH, params)
        return page, witness

    def _probe(self, boundary: int, reach: int, params: dict[str, FilterValue]) -> Page | None:
        """The records around rank ``boundary`` (``reach`` on each side) in one answer."""
        number, size = _slice_around(boundary, reach, catalogue().max_page_size)
        return self._fetch(number, {**params, "page_size": str(size)}, size=size)

    def _without_details(self, missing: list[Any], listed: int, page: int, held: bool) -> bool:
        """Whether the read must hold its cursor after details that answered 404 (``missing``,
        their keys): a record deleted since its list page was read is no longer there to
        lose, but a 404 cannot tell that from a detail path that does not take the list's key,
        so the next run starts again from this run's cursor. When every detail of a page is
        missing, the read stops: that is no deletion."""
        if not missing:
            return held
        detail = self.resource.detail
        assert detail is not None
        if len(missing) == listed and listed > 1:
            raise ApiError(
                f"Procurify answered 404 Not Found for the detail of every {detail.of} record "
                f"on page {page} of the {self.resource.name} read ({detail.path} by "
                f"{detail.id_field}), so none could be emitted; the read stopped and its cursor "
                f"did not move. Read the {detail.of} resource instead, and report this.",
                status=404,
            )
        log.warning("Procurify has no detail for %d %s record(s) on page %d of the %s read "
                    "(%s): deleted since the list was read? They are not emitted, and the "
                    "next run starts again from this run's starting cursor.", len(missing),
                    detail.of, page, self.resource.name,
                    ", ".join(str(key) for key in missing[:5]))
        return True

    def _with_details(self, records: list[dict[str, Any]],
                      missing: list[Any]) -> Iterator[dict[str, Any]]:
        """``records`` themselves, or for a detail stream their details, in the same order;
        up to ``concurrency`` detail requests in flight (fewer while Procurify answers 429).
        The keys of records whose detail answered 404 are added to ``missing``."""
        detail = self.resource.detail
        if detail is None:
            yield from records
            return
        if self.config.concurrency == 1 or len(records) <= 1:
            for record in records:
                found = self._fetch_detail(record)
                if found is not None:
                    yield found
                else:
                    missing.append(record.get(detail.id_field))
            return
        pending = deque(records)
        in_flight: deque[tuple[dict[str, Any], Future[dict[str, Any] | None]]] = deque()
        pool = self.pools(max_workers=self.config.concurrency,
                          thread_name_prefix=f"read-{self.resource.name}")
        try:
            while True:
                while pending and len(in_flight) < self.limit.current:
                    record = pending.popleft()
                    in_flight.append((record, pool.submit(self._fetch_detail, record)))
                if not in_flight:
                    return
                record, future = in_flight.popleft()
                found = future.result()
                if found is not None:
                    yield found
                else:
                    missing.append(record.get(detail.id_field))
        finally:
            for _, future in in_flight:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _fetch_detail(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """A list record's detail, or ``None`` when Procurify answers 404 for it."""
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
            return None  # the caller decides what a missing detail means for the read
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

    def _sequential_pages(self, number: int, last_page: int, most: int,
                          params: dict[str, FilterValue]) -> Iterator[_Unit]:
        while number <= last_page:
            unit = self._unit(number, params)
            if unit is None:  # a page announced earlier is gone: the selection shrank
                return
            last_page = self._bounded(last_page, unit[0], most)
            self._ended = unit[0].is_last
            yield unit
            number += 1

    def _fetch_first(self, params: dict[str, FilterValue]) -> Page:
        """Page 1, for a resumed read whose page is gone (the selection shrank)."""
        page = self._fetch(1, params)
        assert page is not None  # _fetch raises for a missing page 1
        return page

    def _fetch(self, number: int, params: Mapping[str, FilterValue], *,
               size: int | None = None) -> Page | None:
        """The page, or ``None`` past the end (Procurify answers 404 "Invalid page")."""
        size = size or self.config.page_size
        path = self.resource.list_path(self.config.path_values)
        action = f"read {self.resource.name} page {number}"
        if size != self.config.page_size:
            action += f" (of {size})"
        response, body = self._request(path, {**params, "page": str(number)}, action)
        if response.status_code == 404 and number > 1:
            return None
        if response.status_code >= 300:
            raise error_for_response(response, action)
        self.limit.on_success()
        records = self._records(body, action)
        num_pages = pagination_value(body, "num_pages")
        if records is None or (num_pages is None and len(records) >= size):
            # Reading on would end the read early and move the cursor past unread records.
            raise _no_records(action)
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
            server_time=_server_time(response),
            count=pagination_value(body, "count"),
        )

    def _records(self, body: object, action: str) -> list[dict[str, Any]] | None:
        try:
            return records_of(body)
        except NotRecordsError as error:
            raise TransientError(
                f"Could not {action}: Procurify's answer held {error}; the read stopped "
                "rather than drop them, and its cursor did not move. Try again later; if it "
                "persists, report it to Procurify."
            ) from None

    def _request(
        self, path: str, params: Mapping[str, FilterValue], action: str
    ) -> tuple[requests.Response, Any]:
        try:
            answer = self.session.request_json(
                "GET", path, params=params, on_retry=self.limit.on_retry
            )
            return answer.response, answer.body
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
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:  # no zone (or "-0000"): a time we cannot place
        return None
    return parsed.astimezone(UTC)


# ---------------------------------------------------------------- catalogue


def schema_message(resource: Resource) -> SchemaMessage:
    """The Singer ``SCHEMA`` message of a readable resource."""
    if resource.stream_schema is None:
        raise ConfigurationError(f"Resource {resource.name!r} cannot be read.")
    # Flattened: Singer targets read plain ``type``s, not ``$ref``/``anyOf`` (singer_schema.py).
    schema = flatten_schema(manifest.load_json(resource.stream_schema), resource.key)
    bookmarks = (resource.incremental.cursor_field,) if resource.incremental else ()
    return SchemaMessage(resource.name, schema, resource.key, bookmarks)


def discover() -> Iterator[SchemaMessage]:
    """One ``SCHEMA`` message per readable resource."""
    for name in catalogue().names("source"):
        yield schema_message(catalogue().resources[name])
