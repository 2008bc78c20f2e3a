"""Reading many resources in one run, side by side, within one request budget: the reader the
Singer tap and the Airbyte source share.

Each selected stream is read by ``source.read`` itself (so its order, checkpoints and no-loss
promise are exactly those of a single read), on a thread of its own; at most ``streams_at_once``
streams are open at a time, started in the order given. Every request of every stream goes
through one session that bounds the requests in flight over all streams together: with a
number for ``budget``, a ``BudgetedSession`` lets at most that many out (a request waiting out a
retry keeps its place: a server asking to slow down slows the whole run); with ``"auto"``, one
``ControlledSession`` (``controlled.py``) finds the account's limit for the whole run, so that
a 429 to one stream paces them all, as the account's limit is one for them all. The events
come out on the calling thread: for each stream, its records and checkpoints in the order its
read made them, so that a checkpoint follows every record read before it; events of different
streams interleave.

A stream whose read stops on a ``ProcurifyError`` ends with that error in its ``StreamEnded``;
the others go on (their checkpoints stay valid). When ``CIRCUIT_STREAMS`` streams in a row end
on Procurify's side (its retries ran out) with nothing read in between, Procurify is down: the
streams not started yet end at once with a ``TransientError`` saying so (no ``StreamStarted``),
instead of each waiting out its own retries; those already under way finish as they do. Every
stream's configuration and state are checked before any request (``check_reads``): a mistake in
one is reported with all the others and nothing is read. Closing the iterator stops every
stream after its current message.

``read_streams`` is the same read for a host (``Host.read_many``, the ``read_sources`` hook):
``Record`` and ``Checkpoint`` messages like a single read's, every checkpoint holding the state
of every stream (``{"streams": {name: state}}``), so that a host keeps one state per run.
"""

from __future__ import annotations

__all__ = [
    "BudgetedSession",
    "StreamCheckpoint",
    "StreamEnded",
    "StreamEvent",
    "StreamRead",
    "StreamRecord",
    "StreamStarted",
    "budget_of",
    "check_reads",
    "read_many",
    "read_streams",
    "shared_session",
]

import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Unpack

import requests

from nexla_procurify.auth import ProcurifySession
from nexla_procurify.concurrency import AUTO, WAKE, Concurrency
from nexla_procurify.controlled import ControlledSession, controlled
from nexla_procurify.errors import ConfigurationError, ProcurifyError, TransientError
from nexla_procurify.http import Answer, RequestFields, loads
from nexla_procurify.messages import Checkpoint, Record
from nexla_procurify.resources import catalogue
from nexla_procurify.source.config import parse_config
from nexla_procurify.source.pages import PoolFactory
from nexla_procurify.source.reader import read
from nexla_procurify.source.state import parse_state

# The key of a many-stream state holding each stream's own.
STREAMS_KEY = "streams"
# Events waiting for the calling thread, over all streams (a stream's reader waits when full).
QUEUE_SIZE = 512
# Streams that end in a row on Procurify's side (a ``TransientError``: its retries ran out),
# with no record or checkpoint of any stream in between, after which the streams not started
# yet are not tried: each would only spend its own retry budget on the same outage.
CIRCUIT_STREAMS = 3


@dataclass(frozen=True)
class StreamRead:
    """One stream to read: its source configuration (as ``source.read`` takes it) and its
    saved per-resource state (``None`` for a first run)."""

    stream: str
    config: Mapping[str, Any]
    state: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class StreamStarted:
    """A stream's read has begun: it has a slot among the streams read at once."""

    stream: str


@dataclass(frozen=True)
class StreamRecord:
    """One record of a stream, in the order the stream's read emits it."""

    stream: str
    record: Mapping[str, Any]


@dataclass(frozen=True)
class StreamCheckpoint:
    """The stream's state after a page: resuming the stream from it loses no record."""

    stream: str
    value: Mapping[str, Any]


@dataclass(frozen=True)
class StreamEnded:
    """The stream's read is over: complete (``error`` ``None``) or stopped by ``error``."""

    stream: str
    error: ProcurifyError | None = None


StreamEvent = StreamStarted | StreamRecord | StreamCheckpoint | StreamEnded


class BudgetedSession(ProcurifySession):
    """``session`` (its token and connections shared) letting at most as many requests be in
    flight as ``slots`` allows, over every thread that uses it. Closing it leaves ``session``
    open: its owner closes it."""

    def __init__(self, session: ProcurifySession, slots: threading.Semaphore) -> None:
        # Not ProcurifySession.__init__: the token manager and the client are the session's.
        self.credential = session.credential
        self.client = session.client
        self.tokens = session.tokens
        self._slots = slots

    def request(
        self, method: str, path: str, **options: Unpack[RequestFields]
    ) -> requests.Response:
        """A request, once one of the run's request slots is free."""
        with self._slots:
            return super().request(method, path, **options)

    def request_json(self, method: str, path: str, **options: Unpack[RequestFields]) -> Answer:
        """A request and its JSON answer, once one of the run's request slots is free. A GET's
        answer is decoded after its slot is given back, so that the next request goes out
        while this one's page is decoded; an answer that is not JSON is asked again under
        the HTTP policy (which retries it like a 5xx)."""
        if method.upper() != "GET":
            with self._slots:
                return super().request_json(method, path, **options)
        with self._slots:
            response = super().request(method, path, **options)
        if not 200 <= response.status_code < 300:
            return Answer(response, None)
        try:
            return Answer(response, loads(response))
        except ValueError:
            with self._slots:
                return super().request_json(method, path, **options)

    def close(self) -> None:
        """Nothing to release: the shared session's owner closes it."""


def check_reads(reads: Sequence[StreamRead]) -> None:
    """Every stream's configuration and state checked before any request: one
    ``ConfigurationError`` naming each stream at fault and its problems."""
    problems: list[str] = []
    seen: set[str] = set()
    for each in reads:
        if each.stream in seen:
            problems.append(f"{each.stream}: selected twice.")
        seen.add(each.stream)
        try:
            parse_state(each.state, parse_config(each.config))
        except ConfigurationError as error:
            problems.append(f"{each.stream}: {error.message}")
    if problems:
        raise ConfigurationError(" ".join(problems))


def read_many(
    session: ProcurifySession,
    reads: Sequence[StreamRead],
    *,
    budget: Concurrency,
    streams_at_once: int | None = None,
    pools: PoolFactory = ThreadPoolExecutor,
) -> Iterator[StreamEvent]:
    """The events of reading every stream of ``reads`` (see the module docstring). Raises a
    ``ConfigurationError`` before any request when a stream's configuration or state is
    wrong; ``budget`` is the most requests in flight over all streams, or ``"auto"``: one
    controller over all streams, up to the hard maximum (a stream read under ``"auto"``
    shares it)."""
    if budget != AUTO and budget < 1:
        raise ConfigurationError("The request budget must be at least 1.")
    check_reads(reads)
    shared = shared_session(session, budget)
    at_once = streams_at_once or (budget if budget != AUTO else catalogue().max_read_concurrency)
    return _Run(shared, reads, at_once, pools).events()


def shared_session(
    session: ProcurifySession, budget: Concurrency
) -> BudgetedSession | ControlledSession:
    """The session every stream of a run reads through: at most ``budget`` requests in flight
    over all of them, or with ``"auto"`` one controller, up to the hard maximum, for them all."""
    if budget == AUTO:
        return controlled(session, catalogue().max_read_concurrency)
    return BudgetedSession(session, threading.BoundedSemaphore(budget))


def read_streams(
    session: ProcurifySession,
    configs: Mapping[str, Mapping[str, Any]],
    state: Mapping[str, Any] | None,
    *,
    pools: PoolFactory = ThreadPoolExecutor,
) -> Iterator[Record | Checkpoint]:
    """Every stream of ``configs`` (a name of the caller's choosing, and a source
    configuration) read side by side in one request budget: ``Record`` messages named after
    their stream, each stream's in its own order, and after each page a ``Checkpoint`` of
    every stream's state (``{"streams": {name: state}}``; streams ``state`` holds that are
    not read here are kept in it). The budget is the largest ``concurrency`` the
    configurations give when every one pins it, and a stream that gives none may use all of
    it; when one leaves it to ``"auto"`` (the default), one controller paces every stream.

    Configuration and state problems of every stream raise one ``ConfigurationError``
    before any request. A stream stopped by a ``ProcurifyError`` lets the others finish;
    then the first such error is raised, naming its stream (the checkpoints emitted until
    then stay valid: resuming from the last one loses no record)."""
    saved = _saved_streams(state)
    budget = budget_of(configs.values())
    reads = [
        StreamRead(
            name,
            {"concurrency": budget, **config} if isinstance(config, Mapping) else config,
            saved.get(name),
        )
        for name, config in configs.items()
    ]
    events = read_many(session, reads, budget=budget, pools=pools)
    return _messages(events, saved)


def budget_of(configs: Iterable[Mapping[str, Any]]) -> Concurrency:
    """``"auto"`` when a configuration leaves its concurrency to it (the default; a pinned
    stream keeps its own bound within the run's controller), else the largest one pinned; one
    at fault is reported later, with every other problem, by ``check_reads``."""
    pinned = []
    for config in configs:  # a configuration that is not a mapping: check_reads says so
        try:
            parsed = parse_config(config)
        except ConfigurationError:
            continue
        if parsed.auto_concurrency:
            return AUTO
        pinned.append(parsed.concurrency)
    return max(pinned, default=AUTO)


def _saved_streams(state: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    if state is None:
        return {}
    streams = state.get(STREAMS_KEY) if isinstance(state, Mapping) else None
    if not isinstance(streams, Mapping) or not all(
        isinstance(value, Mapping) for value in streams.values()
    ):
        raise ConfigurationError(
            "The state of a read of several streams must be the value of its last "
            f'checkpoint: {{"{STREAMS_KEY}": {{stream: state, ...}}}}.'
        )
    return dict(streams)


def _messages(
    events: Iterator[StreamEvent], saved: Mapping[str, Mapping[str, Any]]
) -> Iterator[Record | Checkpoint]:
    states = dict(saved)
    failure: ProcurifyError | None = None
    try:
        for event in events:
            if isinstance(event, StreamRecord):
                yield Record(event.stream, event.record)
            elif isinstance(event, StreamCheckpoint):
                states[event.stream] = event.value
                yield Checkpoint({STREAMS_KEY: dict(states)})
            elif isinstance(event, StreamEnded) and event.error and failure is None:
                failure = event.error.in_context(f"Stream {event.stream} stopped")
    finally:
        close = getattr(events, "close", None)
        if callable(close):
            close()
    if failure is not None:
        raise failure


class _Stopped(Exception):
    """The run was closed while a stream waited to hand over an event."""


class _Run:
    """One many-stream read: the stream threads and the queue their events come through."""

    def __init__(
        self,
        session: BudgetedSession | ControlledSession,
        reads: Sequence[StreamRead],
        at_once: int,
        pools: PoolFactory,
    ) -> None:
        self.session = session
        self.pending = deque(reads)
        self.at_once = max(1, at_once)
        self.pools = pools
        self.events_queue: queue.Queue[StreamEvent | BaseException] = queue.Queue(QUEUE_SIZE)
        self.stop = threading.Event()

    def events(self) -> Iterator[StreamEvent]:
        open_streams = 0
        failed_in_a_row = 0  # streams ended on Procurify's side since anything was read
        try:
            while self.pending and open_streams < self.at_once:
                self._start(self.pending.popleft())
                open_streams += 1
            while open_streams:
                try:  # in steps: a stop signal given to another thread is heard here
                    event = self.events_queue.get(timeout=WAKE)
                except queue.Empty:
                    continue
                if isinstance(event, BaseException):
                    raise event  # not a ProcurifyError: a fault of the connector itself
                yield event
                if isinstance(event, StreamRecord | StreamCheckpoint):
                    failed_in_a_row = 0
                if isinstance(event, StreamEnded):
                    open_streams -= 1
                    if isinstance(event.error, TransientError):
                        failed_in_a_row += 1
                        if failed_in_a_row >= CIRCUIT_STREAMS:
                            yield from self._not_started(event.error)
                    if self.pending:
                        self._start(self.pending.popleft())
                        open_streams += 1
        finally:
            self.stop.set()

    def _not_started(self, last: TransientError) -> Iterator[StreamEnded]:
        """Every stream not started yet, ended at once: Procurify failed the streams before
        them, each after its whole retry budget, and would fail these the same way."""
        error = TransientError(
            f"Not read: {CIRCUIT_STREAMS} streams in a row stopped on Procurify's side, so the "
            f"streams not started yet were not tried (the last error: {last.message})"
        )
        while self.pending:
            yield StreamEnded(self.pending.popleft().stream, error)

    def _start(self, each: StreamRead) -> None:
        thread = threading.Thread(
            target=self._stream, args=(each,), daemon=True, name=f"stream-{each.stream}"
        )
        thread.start()

    def _stream(self, each: StreamRead) -> None:
        """One stream's read, on its own thread: every message handed over in order."""
        try:
            self._put(StreamStarted(each.stream))
            messages = read(self.session, each.config, each.state, pools=self.pools)
            try:
                for message in messages:
                    if isinstance(message, Record):
                        self._put(StreamRecord(each.stream, message.record))
                    else:
                        self._put(StreamCheckpoint(each.stream, message.value))
            finally:
                close = getattr(messages, "close", None)
                if callable(close):
                    close()  # stops the stream's page prefetching
            self._put(StreamEnded(each.stream))
        except _Stopped:
            return
        except ProcurifyError as error:
            self._hand_over(StreamEnded(each.stream, error))
        except Exception as error:  # a fault of the connector: raised on the calling thread
            self._hand_over(error)

    def _hand_over(self, event: StreamEvent | BaseException) -> None:
        try:
            self._put(event)
        except _Stopped:
            return

    def _put(self, event: StreamEvent | BaseException) -> None:
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                self.events_queue.put(event, timeout=WAKE)
                return
            except queue.Full:
                continue
