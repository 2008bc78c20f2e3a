"""Detail streams (``bill_details``, ``purchase_order_details``): each record of a list read
again from its detail GET, with the list's promises (no record lost, none emitted twice in a
run, a checkpoint after each page's details, resumable) under any interleaving of the
concurrent detail requests."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Generator, Iterator
from datetime import datetime
from typing import Any

import pytest
import requests_mock
from drawn import DrawnOrder
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shared import BASE, SERVER_DATE, no_sleep
from unit.source_helpers import list_answer

from nexla_procurify import source
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.errors import (
    ApiError,
    ConfigurationError,
    PermissionDeniedError,
    TransientError,
)
from nexla_procurify.http import HttpClient, HttpPolicy
from nexla_procurify.messages import Checkpoint, Record

BILLS = f"{BASE}/api/v3/ap/bills"
BILL = re.compile(re.escape(f"{BASE}/api/v2/ap/bills/") + r"[^/?]+")


def open_session(mock: requests_mock.Mocker) -> ProcurifySession:
    mock.post(f"{BASE}/api/v3/oauth/token", json={"access_token": "t", "expires_in": 86400})
    credential = Credential("test", "client", Secret("s3cr3t-value-never-shown"), BASE)
    return ProcurifySession(credential, client=HttpClient(HttpPolicy(), sleep=no_sleep))


class FakeBills:
    """Procurify's bills: the list (filtered by ``last_modified_datetime_0``, ordered by id)
    and each bill's detail, over one mutable table. ``on_request`` runs before each answer."""

    def __init__(self, count: int) -> None:
        self.bills: dict[int, dict[str, Any]] = {
            n: {"id": n, "uuid": f"bill-{n}", "last_modified_datetime": "2026-11-01T00:00:00Z"}
            for n in range(1, count + 1)
        }
        self.requests = 0
        self.on_request: Callable[[int], object] = lambda _: None
        self.details_served: list[int] = []

    def _selected(self, since: str | None) -> list[dict[str, Any]]:
        rows = [self.bills[n] for n in sorted(self.bills)]
        if since is None:
            return rows
        start = datetime.fromisoformat(since.upper().replace("Z", "+00:00"))
        return [
            row
            for row in rows
            if datetime.fromisoformat(row["last_modified_datetime"].replace("Z", "+00:00")) >= start
        ]

    def listing(self, request: Any, context: Any) -> Any:
        self.requests += 1
        self.on_request(self.requests)
        context.headers["Date"] = SERVER_DATE
        since = request.qs.get("last_modified_datetime_0", [None])[0]
        rows = self._selected(since)
        page, size = int(request.qs["page"][0]), int(request.qs["page_size"][0])
        return list_answer(context, rows, page, size)

    def detail(self, request: Any, context: Any) -> Any:
        self.requests += 1
        self.on_request(self.requests)
        number = int(request.path.rsplit("/", 1)[1])
        if number not in self.bills:
            context.status_code = 404
            return {"detail": "Not found."}
        self.details_served.append(number)
        return {"data": self.detailed(number), "metadata": {"permissions": {}}}

    def detailed(self, number: int) -> dict[str, Any]:
        return {**self.bills[number], "items": [{"id": number * 10}], "costs": []}

    def serve(self, mock: requests_mock.Mocker) -> None:
        mock.get(BILLS, json=self.listing)
        mock.get(BILL, json=self.detail)


def messages_of(
    session: ProcurifySession, config: dict[str, Any], state: Any, pools: Any = None
) -> list[Record | Checkpoint]:
    if pools is None:
        return list(source.read(session, config, state))
    return list(source.read(session, config, state, pools=pools))


def split(messages: list[Record | Checkpoint]) -> tuple[list[dict[str, Any]], list[Any]]:
    records = [dict(m.record) for m in messages if isinstance(m, Record)]
    states = [dict(m.value) for m in messages if isinstance(m, Checkpoint)]
    return records, states


@pytest.fixture
def fake_session(requests_mock: requests_mock.Mocker) -> Iterator[ProcurifySession]:
    with open_session(requests_mock) as session:
        yield session


@pytest.mark.parametrize("concurrency", [1, 4])
def test_bill_details_are_the_details_of_the_listed_bills_in_list_order(
    fake_session: ProcurifySession, requests_mock: requests_mock.Mocker, concurrency: int
) -> None:
    fake = FakeBills(7)
    fake.serve(requests_mock)
    config = {
        "resource": "bill_details",
        "page_size": 3,
        "concurrency": concurrency,
        "start_date": "2026-10-01",
    }
    messages = messages_of(fake_session, config, None)
    records, states = split(messages)
    assert records == [fake.detailed(n) for n in range(1, 8)]
    assert sorted(fake.details_served) == list(range(1, 8))
    lists = [c for c in requests_mock.request_history if c.url.startswith(BILLS)]
    assert all(c.qs["last_modified_datetime_0"] == ["2026-10-01t00:00:00z"] for c in lists)
    # A page's checkpoint comes after the details of its records.
    kinds = ["R" if isinstance(m, Record) else "C" for m in messages]
    assert "".join(kinds) == "RRRCRRRCRCC"
    assert [s["in_progress"]["page"] for s in states[:-1]] == [1, 2, 3]
    assert states[-1]["resource"] == "bill_details"
    assert states[-1]["cursor"] == "2026-11-29T15:55:00Z"


def test_purchase_order_details_use_the_list_path_and_each_orders_uuid(
    fake_session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    orders = [{"uuid": f"0b6e{n}-uuid", "procurify_PO": n} for n in (1, 2)]
    requests_mock.get(
        f"{BASE}/api/v2/purchase_orders/receivable/paid",
        json={"data": orders, "metadata": {"pagination": {"num_pages": 1}}},
    )
    for order in orders:
        requests_mock.get(
            f"{BASE}/api/v2/purchase_orders/{order['uuid']}",
            json={
                "data": {**order, "order_items": [{"id": 1}]},
                "metadata": {"can_edit": True, "can_delete": False},
            },
        )
    config = {"resource": "purchase_order_details", "role": "receivable", "status": "paid"}
    records, _ = split(messages_of(fake_session, config, None))
    assert [record["uuid"] for record in records] == ["0b6e1-uuid", "0b6e2-uuid"]
    assert all(record["order_items"] == [{"id": 1}] for record in records)


def test_a_bill_deleted_between_the_list_and_its_detail_is_not_emitted_and_said(
    fake_session: ProcurifySession,
    requests_mock: requests_mock.Mocker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeBills(3)
    fake.serve(requests_mock)
    fake.on_request = lambda number: fake.bills.pop(2, None) if number == 2 else None
    records, states = split(
        messages_of(fake_session, {"resource": "bill_details", "concurrency": 1}, None)
    )
    assert [record["id"] for record in records] == [1, 3]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "Procurify has no detail for 1 bills record(s) on page 1 of the "
        "bill_details read (2): deleted since the list was read? They are not "
        "emitted, and the next run starts again from this run's starting "
        "cursor."
    ]
    # a 404 cannot prove a deletion: the cursor does not move past it
    assert states[-1].get("cursor") is None


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_detail_path_that_answers_404_for_every_bill_stops_the_read(
    fake_session: ProcurifySession, requests_mock: requests_mock.Mocker, concurrency: int
) -> None:
    """Details missing for a whole page are no deletion but a detail path that does not take
    the list's key: the read stops loudly instead of emitting nothing with success."""
    FakeBills(3).serve(requests_mock)
    requests_mock.get(
        re.compile(re.escape(BASE) + r"/api/v2/ap/bills/\d+"),
        status_code=404,
        json={"detail": "Not found."},
    )
    with pytest.raises(ApiError, match="404 Not Found for the detail of every bills record"):
        messages_of(fake_session, {"resource": "bill_details", "concurrency": concurrency}, None)


def test_a_detail_error_stops_the_read_naming_the_record(
    fake_session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    FakeBills(3).serve(requests_mock)
    requests_mock.get(
        f"{BASE}/api/v2/ap/bills/2",
        status_code=403,
        json={"detail": "You do not have permission to perform this action."},
    )
    with pytest.raises(PermissionDeniedError, match="bill_details record 2"):
        messages_of(fake_session, {"resource": "bill_details", "concurrency": 3}, None)


@pytest.mark.parametrize(
    ("listed", "detail", "message"),
    [
        ({"uuid": "no-id"}, None, "has no 'id'"),
        ({"id": 5}, {"detail": "maintenance"}, "bill_details record 5 had no record"),
    ],
)
def test_a_bill_whose_detail_cannot_be_read_stops_the_read_rather_than_skip_it(
    fake_session: ProcurifySession,
    requests_mock: requests_mock.Mocker,
    listed: dict[str, Any],
    detail: dict[str, Any] | None,
    message: str,
) -> None:
    requests_mock.get(
        BILLS, json={"data": [listed], "metadata": {"pagination": {"num_pages": 1, "count": 1}}}
    )
    requests_mock.get(BILL, json=detail)
    with pytest.raises(TransientError, match=message):
        messages_of(fake_session, {"resource": "bill_details"}, None)


def test_a_bills_state_does_not_resume_bill_details(fake_session: ProcurifySession) -> None:
    with pytest.raises(ConfigurationError, match="does not belong to resource 'bill_details'"):
        source.read(
            fake_session,
            {"resource": "bill_details"},
            {"version": 2, "resource": "bills", "cursor": "2026-11-01T00:00:00Z"},
        )


def test_details_never_have_more_requests_in_flight_than_the_concurrency(
    fake_session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = FakeBills(20)
    fake.serve(requests_mock)
    pool = DrawnOrder.from_picks([-1] * 100)  # the newest first
    config = {"resource": "bill_details", "page_size": 20, "concurrency": 3}
    records, _ = split(messages_of(fake_session, config, None, pool))
    assert [record["id"] for record in records] == list(range(1, 21))
    assert pool.most_in_flight == 3


PICKS = st.lists(st.integers(min_value=0, max_value=7), max_size=80)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(min_value=0, max_value=25),
    page_size=st.integers(min_value=1, max_value=8),
    concurrency=st.integers(min_value=2, max_value=6),
    picks=PICKS,
)
@example(count=9, page_size=4, concurrency=3, picks=[2, 1, 0, 2, 1, 0, 1, 0, 0])
def test_any_interleaving_gives_every_detail_once_in_order_with_checkpoints_after_them(
    count: int, page_size: int, concurrency: int, picks: list[int]
) -> None:
    pool = DrawnOrder.from_picks(picks)
    fake = FakeBills(count)
    with requests_mock.Mocker() as mock, open_session(mock) as session:
        fake.serve(mock)
        config = {"resource": "bill_details", "page_size": page_size, "concurrency": concurrency}
        messages = messages_of(session, config, None, pool)
    emitted = 0
    for message in messages:
        if isinstance(message, Record):
            emitted += 1
            assert message.record == fake.detailed(emitted)
        elif "in_progress" in message.value:
            assert emitted == min(count, message.value["in_progress"]["page"] * page_size)
    assert emitted == count


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(min_value=1, max_value=20),
    page_size=st.integers(min_value=1, max_value=6),
    concurrency=st.integers(min_value=1, max_value=5),
    deletions=st.dictionaries(
        st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=20), max_size=4
    ),
    stop_after=st.integers(min_value=0, max_value=10),
    picks=PICKS,
)
# A bill read already is deleted before the next page: the page's first bill moves back.
@example(count=6, page_size=2, concurrency=1, deletions={2: 1}, stop_after=10, picks=[])
@example(count=6, page_size=2, concurrency=2, deletions={5: 1}, stop_after=1, picks=[1, 0])
# A bill deleted during the last run planned: the run after it must still come.
@example(
    count=16, page_size=1, concurrency=1, deletions={1: 1, 6: 2, 33: 3}, stop_after=0, picks=[]
)
def test_no_bill_is_lost_across_an_interrupted_read_its_resume_and_the_next_run(
    count: int,
    page_size: int,
    concurrency: int,
    deletions: dict[int, int],
    stop_after: int,
    picks: list[int],
) -> None:
    """Bills deleted at drawn moments (which shift the pages under the read), the read stopped
    after a drawn checkpoint and resumed from it, then the next incremental runs: every bill
    that was never deleted is emitted, with its detail, by one of them; none twice in a run."""
    pool = DrawnOrder.from_picks(picks)
    fake = FakeBills(count)
    expected = {n: fake.detailed(n) for n in fake.bills}
    fake.on_request = lambda number: fake.bills.pop(deletions.get(number, 0), None)
    config = {"resource": "bill_details", "page_size": page_size, "concurrency": concurrency}
    seen: list[dict[str, Any]] = []
    with requests_mock.Mocker() as mock, open_session(mock) as session:
        fake.serve(mock)
        state: Any = None
        stopped = 0
        for message in source.read(session, config, None, pools=pool):
            if isinstance(message, Record):
                seen.append(dict(message.record))
            else:
                state = dict(message.value)
                stopped += 1
                if stopped > stop_after:
                    break  # the host stops here and resumes from this checkpoint
        # The resumed run, then next incremental runs until one has started after the last
        # deletion: a run that sees bills leave promises them to the run after it.
        last_deletion = max(deletions, default=0)
        for run in range(12):
            started_after_deletions = fake.requests >= last_deletion
            records, states = split(messages_of(session, config, state, pool))
            keys = [record["id"] for record in records]
            assert len(keys) == len(set(keys)), f"run {run + 1} emitted a bill twice"
            seen.extend(records)
            state = states[-1]
            if run >= 1 and started_after_deletions:
                break
    survivors = set(fake.bills)
    emitted = {record["id"] for record in seen}
    assert survivors <= emitted
    for record in seen:
        assert record == expected[record["id"]]


def test_a_closed_read_makes_no_more_retries_of_the_details_it_prefetched(
    requests_mock: requests_mock.Mocker,
) -> None:
    fake = FakeBills(8)
    fake.serve(requests_mock)
    failing: list[int] = []

    def detail(request: Any, context: Any) -> Any:
        if request.path.endswith("/8"):
            failing.append(1)
            context.status_code = 503
            return {"detail": "down for a moment"}
        return fake.detail(request, context)

    requests_mock.get(BILL, json=detail)
    requests_mock.post(
        f"{BASE}/api/v3/oauth/token", json={"access_token": "t", "expires_in": 86400}
    )
    released = threading.Event()

    def sleep(_: float) -> None:  # a retry's wait lasts until the test releases it
        released.wait(10)

    credential = Credential("test", "client", Secret("s3cr3t-value-never-shown"), BASE)
    client = HttpClient(HttpPolicy(), sleep=sleep)
    with ProcurifySession(credential, client=client) as session:
        config = {"resource": "bill_details", "page_size": 8, "concurrency": 8}
        messages = source.read(session, config, None)
        assert isinstance(messages, Generator)
        first = next(messages)  # the page's eight details were asked for at once
        assert isinstance(first, Record)
        for _ in range(500):  # bill 8's first answer (a 503) is in: its retry now waits
            if failing:
                break
            released.wait(0.01)
        assert failing
        messages.close()  # the host is done with the read
        released.set()
        for thread in threading.enumerate():
            if thread.name.startswith("read-bill_details"):
                thread.join(10)
    # At most the retry already waiting went out after the close, not the policy's eight.
    assert 1 <= len(failing) <= 2
