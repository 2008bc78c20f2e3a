"""The reading promise, proved over drawn histories rather than one scenario.

An in-memory Procurify (bills: ordered by ``id``, filtered by ``last_modified_datetime_0`` and
``has_payment``; or purchase orders, ordered by an ``id`` they do not show, known by their
``uuid``, filtered by the date ``modified_date_0``) has its records edited (which moves their
cursor field to "now"), moved in and out of the ``has_payment`` filter, added and removed
before any answer, while the pages of a read, prefetched concurrently, are answered in a drawn
order. Consecutive runs hand their state
on, some interrupted after a drawn checkpoint and resumed from it. Then:

- no loss: after a last run during which nothing changes, the latest version of every record in
  the selection has been emitted by some run;
- no duplicate on resume: within one run (its resumes included) no version is emitted twice;
  for records that do not show their id, unless the run could not check its pages and held
  its cursor (the README's documented re-read).
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests_mock
from drawn import DrawnOrder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared import BASE, no_sleep
from unit.source_helpers import list_answer

from nexla_procurify import source
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.http import HttpClient, HttpPolicy
from nexla_procurify.messages import Checkpoint, Record

FIELD = "last_modified_datetime"


@dataclass(frozen=True)
class Shape:
    """How one resource's list looks: its path, cursor field and filter, and its key."""

    resource: str
    path: str
    field: str
    since: str  # the query parameter of the cursor
    shows_id: bool

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        if self.shows_id:
            return {"id": row["id"], self.field: row[FIELD], "has_payment": row["has_payment"]}
        return {"uuid": f"po-{row['id']}", self.field: row[FIELD]}

    def version(self, record: dict[str, Any]) -> tuple[int, str]:
        if self.shows_id:
            return record["id"], record[self.field]
        return int(record["uuid"].removeprefix("po-")), record[self.field]


BILLS = Shape("bills", "/api/v3/ap/bills", FIELD, f"{FIELD}_0", shows_id=True)
ORDERS = Shape(
    "purchase_orders",
    "/api/v2/purchase_orders/purchased/all",
    "last_modified",
    "modified_date_0",
    shows_id=False,
)
START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(hours=1)  # each change happens an hour after the one before


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeBills:
    """Procurify's bills list over ``rows`` (id -> row), changed by ``change`` before any
    answer while ``changing``."""

    rows: dict[int, dict[str, Any]]
    now: datetime
    change: Callable[[FakeBills], None]
    shape: Shape = BILLS
    changing: bool = True
    answers: int = 0
    history: list[str] = field(default_factory=list)

    def stamp(self, row_id: int, **values: Any) -> None:
        self.now += STEP
        self.rows[row_id] = {**self.rows[row_id], **values, FIELD: _when(self.now)}

    def add(self, row_id: int, has_payment: bool) -> None:
        self.now += STEP
        self.rows[row_id] = {"id": row_id, "has_payment": has_payment, FIELD: _when(self.now)}

    def remove(self, row_id: int) -> None:
        self.now += STEP
        del self.rows[row_id]

    def selection(self, since: str | None, has_payment: str | None) -> list[dict[str, Any]]:
        rows = [row for _, row in sorted(self.rows.items())]
        if since is not None:
            bound = datetime.fromisoformat(since.replace("Z", "+00:00"))
            bound = bound if bound.tzinfo else bound.replace(tzinfo=UTC)  # a date
            rows = [
                row
                for row in rows
                if datetime.fromisoformat(row[FIELD].replace("Z", "+00:00")) >= bound
            ]
        if has_payment is not None:
            rows = [row for row in rows if row["has_payment"] == (has_payment == "true")]
        return rows

    def __call__(self, request: Any, context: Any) -> Any:
        if self.changing:
            self.change(self)
        self.answers += 1
        query = {key: values[0] for key, values in parse_qs(urlsplit(request.url).query).items()}
        rows = self.selection(query.get(self.shape.since), query.get("has_payment"))
        page, size = int(query["page"]), int(query["page_size"])
        context.headers["Date"] = email.utils.format_datetime(self.now, usegmt=True)
        return list_answer(context, rows, page, size, shown=self.shape.record, links=False)


@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    ids: list[int] = []
    next_id = 0
    for _ in range(draw(st.integers(2, 10))):
        next_id += draw(st.integers(1, 3))  # ids with holes, as a filtered selection has them
        ids.append(next_id)
    return {
        "ids": ids,
        "paid": [draw(st.booleans()) for _ in ids],
        # records last changed before the start date: an edit brings them into the selection
        "old": [draw(st.booleans()) for _ in ids],
        "page_size": draw(st.integers(1, 3)),
        "concurrency": draw(st.integers(2, 6)),
        "filtered": draw(st.booleans()),
        "runs": draw(st.integers(1, 3)),
        "shape": draw(st.sampled_from([BILLS, ORDERS])),
    }


def _changes(data: st.DataObject) -> Callable[[FakeBills], None]:
    def change(fake: FakeBills) -> None:
        for _ in range(data.draw(st.integers(0, 2), label="changes before this answer")):
            kind = data.draw(st.sampled_from(["edit", "toggle", "add", "remove"]), label="kind")
            existing = sorted(fake.rows)
            if kind == "add" or not existing:
                low = data.draw(st.booleans(), label="add among the old ids")
                new_id = (
                    max(existing, default=0) + 1
                    if not low
                    else data.draw(st.integers(1, max(existing, default=0) + 1), label="id")
                )
                if new_id not in fake.rows:
                    fake.add(new_id, data.draw(st.booleans(), label="has_payment"))
                continue
            row_id = data.draw(st.sampled_from(existing), label="row")
            if kind == "edit":
                fake.stamp(row_id)
            elif kind == "toggle":
                fake.stamp(row_id, has_payment=not fake.rows[row_id]["has_payment"])
            else:
                fake.remove(row_id)

    return change


def _read(
    session: ProcurifySession,
    config: dict[str, Any],
    state: dict[str, Any] | None,
    pool: Callable[..., Executor],
    stop_after: int | None,
    shape: Shape,
) -> tuple[list[tuple[int, str]], dict[str, Any] | None, bool]:
    """The versions emitted, the last state, and whether the read ran to its end."""
    versions: list[tuple[int, str]] = []
    last: dict[str, Any] | None = state
    checkpoints = 0
    messages: Iterator[Record | Checkpoint] = source.read(session, config, state, pools=pool)
    for message in messages:
        if isinstance(message, Record):
            versions.append(shape.version(dict(message.record)))
        else:
            last = dict(message.value)
            checkpoints += 1
            if stop_after is not None and checkpoints >= stop_after and "in_progress" in last:
                assert isinstance(messages, Generator)  # a generator: the host stops it
                messages.close()
                return versions, last, False
    return versions, last, True


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(history=histories(), data=st.data())
def test_no_record_is_lost_and_no_resume_duplicates_under_any_answer_order_and_changes(
    history: dict[str, Any], data: st.DataObject
) -> None:
    start = START + timedelta(days=30)
    rows = {
        row_id: {
            "id": row_id,
            "has_payment": paid,
            FIELD: _when((START if old else start) - (len(history["ids"]) - index) * STEP),
        }
        for index, (row_id, paid, old) in enumerate(
            zip(history["ids"], history["paid"], history["old"], strict=True)
        )
    }
    shape: Shape = history["shape"]
    fake = FakeBills(rows, now=start, change=_changes(data), shape=shape)
    config: dict[str, Any] = {
        "resource": shape.resource,
        "page_size": history["page_size"],
        "concurrency": history["concurrency"],
        "start_date": _when(START),
    }
    filtered = history["filtered"] and shape.shows_id
    if filtered:
        config["filters"] = {"has_payment": True}

    def choose(pending: int) -> int:
        return data.draw(st.integers(0, pending - 1), label="answered next")

    def pool(*, max_workers: int, thread_name_prefix: str) -> Executor:
        return DrawnOrder(choose)

    credential = Credential("test", "client", Secret("s3cr3t-value-never-shown"), BASE)
    emitted: set[tuple[int, str]] = set()
    state: dict[str, Any] | None = None
    with (
        requests_mock.Mocker() as mock,
        ProcurifySession(credential, client=HttpClient(HttpPolicy(), sleep=no_sleep)) as session,
    ):
        mock.post(f"{BASE}/api/v3/oauth/token", json={"access_token": "t", "expires_in": 3600})
        mock.get(f"{BASE}{shape.path}", json=fake)
        for run in range(history["runs"] + 1):
            fake.changing = run < history["runs"]  # the last run: nothing changes
            this_run: list[tuple[int, str]] = []
            cursor_before = (state or {}).get("cursor", _when(START))
            for _ in range(3):  # at most two interruptions, then the run goes to its end
                stop = data.draw(st.one_of(st.none(), st.integers(1, 4)), label="stop after")
                versions, state, ended = _read(session, config, state, pool, stop, shape)
                this_run += versions
                if ended:
                    break
            else:
                versions, state, ended = _read(session, config, state, pool, None, shape)
                this_run += versions
            held = (state or {}).get("cursor") == cursor_before
            if shape.shows_id or not held:
                assert len(this_run) == len(set(this_run)), "a resume emitted a version again"
            emitted |= set(this_run)
    paid = "true" if filtered else None
    latest = {(row["id"], row[FIELD]) for row in fake.selection(_when(START), paid)}
    lost = latest - emitted
    assert not lost, f"records lost for good: {sorted(lost)}"
