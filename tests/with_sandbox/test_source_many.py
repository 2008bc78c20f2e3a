"""The many-stream reader (nexla_procurify.source.many): each stream's messages in its own
order, exactly once, within one request budget; a failing stream does not stop the others."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any
from unittest import mock

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexla_procurify import http, plugin, source
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import parse
from nexla_procurify.errors import ConfigurationError, TransientError
from nexla_procurify.http import Answer
from nexla_procurify.messages import Checkpoint, Record
from nexla_procurify.resources import catalogue
from nexla_procurify.sandbox import Fault, Sandbox
from nexla_procurify.source import many
from nexla_procurify.source.many import (
    StreamCheckpoint,
    StreamEnded,
    StreamEvent,
    StreamRead,
    StreamRecord,
    StreamStarted,
    check_reads,
    read_many,
)

STREAMS = ("vendors", "departments", "users", "locations", "account_codes")


def _session(sandbox: Sandbox) -> ProcurifySession:
    session = plugin.authenticate(connector_type="procurify", credential=sandbox.credential())
    assert session is not None
    return session


def _by_stream(events: list[StreamEvent]) -> dict[str, list[StreamEvent]]:
    grouped: dict[str, list[StreamEvent]] = {}
    for event in events:
        grouped.setdefault(event.stream, []).append(event)
    return grouped


def test_each_stream_reads_as_its_single_read_does(allow_loopback: None) -> None:
    sizes = {"vendors": 57, "departments": 23, "users": 31, "order_items": 45}
    with Sandbox(records=sizes) as sandbox, _session(sandbox) as session:
        configs = {name: {"resource": name, "page_size": 7, "concurrency": 3} for name in sizes}
        alone = {
            name: [m.to_dict() for m in source.read(session, config, None)]
            for name, config in configs.items()
        }
        events = list(
            read_many(
                session, [StreamRead(name, config) for name, config in configs.items()], budget=3
            )
        )
    grouped = _by_stream(events)
    assert set(grouped) == set(sizes)
    for name, stream_events in grouped.items():
        assert stream_events[0] == StreamStarted(name)
        assert stream_events[-1] == StreamEnded(name)
        messages = [
            Record(name, e.record).to_dict()
            if isinstance(e, StreamRecord)
            else Checkpoint(e.value).to_dict()
            for e in stream_events[1:-1]
            if isinstance(e, StreamRecord | StreamCheckpoint)
        ]
        assert len(messages) == len(stream_events) - 2
        # Same records in the same order, a checkpoint after the same records; the next
        # cursor may differ by the server's clock between the two reads.
        assert [m for m in messages if m["type"] == "RECORD"] == [
            m for m in alone[name] if m["type"] == "RECORD"
        ]
        assert [m["type"] for m in messages] == [m["type"] for m in alone[name]]
        assert sum(m["type"] == "RECORD" for m in messages) == sizes[name]


def test_a_stream_that_fails_does_not_stop_the_others(allow_loopback: None) -> None:
    with (
        Sandbox(records={"vendors": 30, "departments": 30}) as sandbox,
        _session(sandbox) as session,
    ):
        sandbox.inject(Fault("status", status=403, path="/api/v3/departments", times=None))
        events = list(
            read_many(
                session,
                [
                    StreamRead("departments", {"resource": "departments"}),
                    StreamRead("vendors", {"resource": "vendors"}),
                ],
                budget=2,
            )
        )
    grouped = _by_stream(events)
    ended = grouped["departments"][-1]
    assert isinstance(ended, StreamEnded)
    assert ended.error is not None
    assert "403" in ended.error.message
    assert grouped["vendors"][-1] == StreamEnded("vendors")
    assert sum(isinstance(e, StreamRecord) for e in grouped["vendors"]) == 30


def test_check_reads_names_every_stream_at_fault() -> None:
    reads = [
        StreamRead("vendors", {"resource": "vendors", "page_size": 0}),
        StreamRead("orders", {"resource": "orders"}, {"resource": "bills"}),
        StreamRead("users", {"resource": "users"}),
    ]
    with pytest.raises(ConfigurationError) as raised:
        check_reads(reads)
    assert "vendors: " in raised.value.message
    assert "page_size" in raised.value.message
    assert "orders: " in raised.value.message
    assert "does not belong" in raised.value.message
    assert "users" not in raised.value.message


def test_a_wrong_state_is_refused_before_any_request(allow_loopback: None) -> None:
    with Sandbox(records={"vendors": 3}) as sandbox, _session(sandbox) as session:
        before = len(sandbox.requests)
        with pytest.raises(ConfigurationError):
            read_many(
                session,
                [
                    StreamRead(
                        "vendors",
                        {"resource": "vendors"},
                        {"resource": "vendors", "in_progress": 3},
                    )
                ],
                budget=2,
            )
        assert len(sandbox.requests) == before


class _Counting:
    """Stands in for one request of a session: counts how many are in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Answer:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.002)  # lets other threads try to enter meanwhile
        with self.lock:
            self.now -= 1
        raise TransientError("stop here")


@pytest.mark.parametrize("budget", [1, 3])
def test_the_budget_bounds_requests_in_flight_over_all_streams(
    allow_loopback: None, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    counting = _Counting()
    with Sandbox() as sandbox, _session(sandbox) as session:
        # A GET's answer is decoded outside its slot: it goes out through ``request``.
        monkeypatch.setattr(ProcurifySession, "request_json", counting)
        monkeypatch.setattr(ProcurifySession, "request", counting)
        budgeted = many.BudgetedSession(session, threading.BoundedSemaphore(budget))
        threads = [threading.Thread(target=_try, args=(budgeted,)) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert 1 <= counting.most <= budget


def _try(session: ProcurifySession) -> None:
    for _ in range(5):
        with contextlib.suppress(TransientError):
            session.request_json("GET", "/api/v3/vendors")


def _offline() -> ProcurifySession:
    """A session that is never used (the reads are scripted)."""
    return ProcurifySession(
        parse(
            {
                "name": "x",
                "client_id": "id",
                "client_secret": "secret",
                "base_url": "https://acme.procurify.com",
            }
        )
    )


def _not_started(events: list[StreamEvent]) -> set[str]:
    """The streams the run did not start, checked to be only those after ``CIRCUIT_STREAMS``
    streams ended in a row on Procurify's side with nothing read in between."""
    skipped: set[str] = set()
    started: set[str] = set()
    in_a_row = 0
    for event in events:
        if isinstance(event, StreamStarted):
            started.add(event.stream)
        elif isinstance(event, StreamRecord | StreamCheckpoint):
            in_a_row = 0
        elif event.stream not in started:
            assert in_a_row >= many.CIRCUIT_STREAMS
            assert event.error is not None
            assert event.error.message.startswith("Not read: 3 streams in a row")
            skipped.add(event.stream)
        elif isinstance(event.error, TransientError):
            in_a_row += 1
    return skipped


# -- the interleaving, with scripted reads -------------------------------------------------------

Script = list[str]  # "r" a record, "c" a checkpoint, "x" the read fails there


def _scripted(scripts: Mapping[str, Script]) -> Any:
    def read(
        session: object, config: Mapping[str, Any], state: object, **_: object
    ) -> Iterator[Record | Checkpoint]:
        name = config["resource"]
        for number, step in enumerate(scripts[name]):
            if step == "x":
                raise TransientError(f"{name} failed at {number}")
            if step == "r":
                yield Record(name, {"id": number})
            else:
                yield Checkpoint({"resource": name, "after": number})

    return read


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scripts=st.lists(
        st.lists(st.sampled_from("rrc"), max_size=30)
        .map(list)
        .flatmap(lambda s: st.sampled_from([s, [*s, "x"]])),
        min_size=1,
        max_size=len(STREAMS),
    ),
    budget=st.integers(1, 4),
    at_once=st.integers(1, 5),
)
def test_every_message_once_in_its_stream_order(
    scripts: list[Script], budget: int, at_once: int
) -> None:
    named = dict(zip(STREAMS, scripts, strict=False))
    with mock.patch.object(many, "read", _scripted(named)):
        events = list(
            read_many(
                _offline(),
                [StreamRead(name, {"resource": name}) for name in named],
                budget=budget,
                streams_at_once=at_once,
            )
        )
    grouped = _by_stream(events)
    assert set(grouped) == set(named)
    skipped = _not_started(events)
    for name, script in named.items():
        got = grouped[name]
        if name in skipped:
            continue
        assert got[0] == StreamStarted(name)
        ended = got[-1]
        assert isinstance(ended, StreamEnded)
        assert (ended.error is not None) == (script[-1:] == ["x"])
        steps = [
            ("r", e.record["id"]) if isinstance(e, StreamRecord) else ("c", e.value["after"])
            for e in got[1:-1]
            if isinstance(e, StreamRecord | StreamCheckpoint)
        ]
        assert steps == [(step, number) for number, step in enumerate(script) if step != "x"]
    # never more streams open at once than asked
    open_now = most = 0
    for event in events:
        if isinstance(event, StreamStarted):
            open_now += 1
            most = max(most, open_now)
        elif isinstance(event, StreamEnded):
            open_now -= 1
    assert most <= at_once


NAMES = tuple(catalogue().names("source"))


@pytest.mark.parametrize("at_once", [1, 2, 6])
def test_when_procurify_is_down_the_streams_not_started_are_not_tried(at_once: int) -> None:
    down = {name: ["x"] for name in NAMES}  # every stream fails once its retries ran out
    with mock.patch.object(many, "read", _scripted(down)):
        events = list(
            read_many(
                _offline(),
                [StreamRead(name, {"resource": name}) for name in down],
                budget=6,
                streams_at_once=at_once,
            )
        )
    started = [e.stream for e in events if isinstance(e, StreamStarted)]
    # Those open when the third failure came, and the two started after the first two.
    assert len(started) == at_once + many.CIRCUIT_STREAMS - 1
    ended = [e for e in events if isinstance(e, StreamEnded)]
    assert sorted(e.stream for e in ended) == sorted(NAMES)  # every stream still ends
    assert all(e.error is not None for e in ended)
    assert _not_started(events) == set(NAMES) - set(started)
    not_read = next(e for e in ended if e.stream not in started)
    assert not_read.error is not None
    assert "(the last error: " in not_read.error.message
    assert isinstance(not_read.error, TransientError)


def test_anything_read_between_failures_keeps_the_run_going() -> None:
    scripts = {name: ["x"] for name in NAMES}
    for name in NAMES[2::3]:  # every third stream is read: never three failures in a row
        scripts[name] = ["r", "c"]
    with mock.patch.object(many, "read", _scripted(scripts)):
        events = list(
            read_many(
                _offline(),
                [StreamRead(name, {"resource": name}) for name in scripts],
                budget=6,
                streams_at_once=1,
            )
        )
    assert {e.stream for e in events if isinstance(e, StreamStarted)} == set(NAMES)


def test_closing_the_run_stops_its_streams() -> None:
    endless = {"vendors": ["r"] * 100_000, "users": ["r"] * 100_000}
    with mock.patch.object(many, "read", _scripted(endless)):
        events = read_many(
            _offline(), [StreamRead(name, {"resource": name}) for name in endless], budget=2
        )
        for _ in range(10):
            next(events)
        events.close()  # type: ignore[attr-defined]
        for thread in threading.enumerate():
            if thread.name.startswith("stream-"):
                thread.join(timeout=30)
                assert not thread.is_alive()


def test_a_page_is_decoded_after_its_request_slot_is_given_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slots = threading.BoundedSemaphore(1)
    response = requests.Response()
    response.status_code = 200
    response._content = b'{"data": []}'
    monkeypatch.setattr(ProcurifySession, "request", lambda *_, **__: response)
    free_while_decoding: list[bool] = []
    decode = http.loads

    def loads(answer: requests.Response) -> Any:
        free = slots.acquire(blocking=False)
        free_while_decoding.append(free)
        if free:
            slots.release()
        return decode(answer)

    monkeypatch.setattr(many, "loads", loads)  # the name many.py decodes a page with
    answer = many.BudgetedSession(_offline(), slots).request_json("GET", "/api/v3/vendors")
    assert answer.body == {"data": []}
    assert free_while_decoding == [True]
