"""Reading, unit level (requests-mock plays Procurify's list endpoints): incremental reads,
the cursor and the server's clock, states, resuming, and records that move during a read."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests_mock
from shared import BASE, SERVER_DATE
from unit.source_helpers import FakeList, split, vendors

from nexla_procurify import source
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.messages import Checkpoint


def test_incremental_read_filters_from_the_cursor_a_day_early(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(f"{BASE}/api/v3/order-items", json=FakeList(vendors(2)))
    state = {"version": 2, "resource": "order_items", "cursor": "2026-11-20T10:00:00Z"}
    _, states = split(source.read(session, {"resource": "order_items"}, state))
    assert requests_mock.last_request is not None
    assert requests_mock.last_request.qs["last_modified_0"] == ["2026-11-19"]
    # The next cursor is the server's time when the read started (its Date header), less a
    # margin for the time between Procurify's query and its Date stamp.
    assert states[-1]["cursor"] == "2026-11-29T15:55:00Z"
    assert "in_progress" not in states[-1]


def test_bills_filter_on_a_date_time(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(f"{BASE}/api/v3/ap/bills", json=FakeList(vendors(1)))
    config = {"resource": "bills", "start_date": "2026-11-01T08:30:00+02:00"}
    list(source.read(session, config, None))
    assert requests_mock.last_request is not None
    assert requests_mock.last_request.qs["last_modified_datetime_0"] == ["2026-11-01t06:30:00z"]


def test_resume_starts_at_the_last_emitted_page_and_keeps_the_pending_cursor(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = FakeList(vendors(10))
    requests_mock.get(f"{BASE}/api/v3/order-items", json=fake)
    config = {"resource": "order_items", "page_size": 2, "concurrency": 1}
    first_run = source.read(session, config, None)
    checkpoints = [m.value for m in first_run if isinstance(m, Checkpoint)]
    after_page_three = dict(checkpoints[2])
    fake.pages_served.clear()
    records, states = split(source.read(session, config, after_page_three))
    assert fake.pages_served == [3, 4, 5]
    # Page 3 is read again, but its records were emitted before the interruption: not again.
    assert [record["id"] for record in records] == [7, 8, 9, 10]
    assert states[-1]["cursor"] == after_page_three["in_progress"]["next_cursor"]


def test_resume_with_another_page_size_re_reads_rather_than_skips(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(f"{BASE}/api/v3/vendors", json=FakeList(vendors(30)))
    config = {"resource": "vendors", "page_size": 4, "concurrency": 1}
    checkpoints = [m.value for m in source.read(session, config, None) if isinstance(m, Checkpoint)]
    state = dict(checkpoints[4])  # pages 1..5 of 4 emitted: records 1..20
    records, _ = split(source.read(session, {**config, "page_size": 7}, state))
    assert [record["id"] for record in records] == list(range(21, 31))


def test_a_state_for_other_filters_restarts_from_page_one(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = FakeList(vendors(6))
    requests_mock.get(f"{BASE}/api/v3/vendors", json=fake)
    config = {"resource": "vendors", "page_size": 2, "concurrency": 1}
    checkpoints = [m.value for m in source.read(session, config, None) if isinstance(m, Checkpoint)]
    fake.pages_served.clear()
    list(source.read(session, {**config, "filters": {"exclude_other": True}}, dict(checkpoints[1])))
    assert fake.pages_served == [1, 2, 3]


def test_records_repeated_across_a_page_boundary_are_emitted_once(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    pages = {
        "1": [{"id": 1}, {"id": 2}],
        "2": [{"id": 2}, {"id": 3}],  # a record inserted before id 2 pushed it forward
        "3": [{"id": 4}],
    }

    def shifting(request: Any, context: Any) -> Any:
        page = request.qs["page"][0]
        pagination = {"num_pages": 3, "count": 5, "current_page": int(page)}
        return {"data": pages[page], "metadata": {"pagination": pagination}}

    requests_mock.get(f"{BASE}/api/v3/vendors", json=shifting)
    records, _ = split(source.read(session, {"resource": "vendors", "page_size": 2}, None))
    assert [record["id"] for record in records] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "state",
    [{"resource": "bills", "cursor": "2026-01-01"}, {"resource": "vendors", "cursor": 5}, []],
)
def test_a_foreign_or_damaged_state_is_refused(session: ProcurifySession, state: Any) -> None:
    with pytest.raises(ConfigurationError, match="state"):
        source.read(session, {"resource": "vendors"}, state)


def test_records_that_slid_onto_a_page_already_read_are_read_and_the_cursor_advances(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = FakeList(vendors(9))

    def shrinking(request: Any, context: Any) -> Any:
        if request.qs["page"] == ["2"]:
            del fake.records[0]  # someone closed a record already read: the rest shift back
        return fake(request, context)

    requests_mock.get(f"{BASE}/api/v3/order-items", json=shrinking)
    state = {"version": 2, "resource": "order_items", "cursor": "2026-11-20T10:00:00Z"}
    config = {"resource": "order_items", "page_size": 3, "concurrency": 1}
    records, states = split(source.read(session, config, state))
    # Record 4 slid onto page 1, already read: a look across the boundary of page 2 found it.
    assert [record["id"] for record in records] == list(range(1, 10))
    assert states[-1]["cursor"] == "2026-11-29T15:55:00Z"  # proved complete: it advances


def test_a_cursor_saved_with_other_filters_is_not_applied(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(f"{BASE}/api/v3/order-items", json=FakeList(vendors(2)))
    config = {"resource": "order_items", "filters": {"status": 3}}
    _, states = split(source.read(session, config, None))
    other = {**config, "filters": {"status": 4}}
    list(source.read(session, other, states[-1]))
    assert requests_mock.last_request is not None
    assert "last_modified_0" not in requests_mock.last_request.qs
    list(source.read(session, config, states[-1]))
    assert "last_modified_0" in requests_mock.last_request.qs


def test_mid_read_checkpoints_keep_the_cursor_and_the_selection_they_belong_to(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(f"{BASE}/api/v3/order-items", json=FakeList(vendors(4)))
    state = {"version": 2, "resource": "order_items", "cursor": "2026-11-20T10:00:00Z"}
    config = {"resource": "order_items", "page_size": 2, "filters": {"status": 3}}
    _, states = split(source.read(session, config, state))
    middle, final = states[0], states[-1]
    assert middle["cursor"] == "2026-11-20T10:00:00Z"
    assert middle["query"] == final["query"]
    assert middle["in_progress"]["query"] != middle["query"]  # the read, not just the selection


def test_a_page_gone_at_the_end_counts_as_a_shrinking_selection(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    def third_page_gone(request: Any, context: Any) -> Any:
        page = int(request.qs["page"][0])
        if page == 3:  # a record left the selection: page 3 is gone, the count not yet lower
            context.status_code = 404
            return {"detail": "Invalid page."}
        pagination = {"count": 11, "num_pages": 3, "current_page": page}
        data = vendors(11)[(page - 1) * 5 : page * 5]
        return {"data": data, "metadata": {"pagination": pagination}}

    requests_mock.get(f"{BASE}/api/v3/order-items", json=third_page_gone)
    state = {"version": 2, "resource": "order_items", "cursor": "2026-11-20T10:00:00Z"}
    config = {"resource": "order_items", "page_size": 5, "concurrency": 1}
    records, states = split(source.read(session, config, state))
    assert len(records) == 10
    assert states[-1]["cursor"] == "2026-11-20T10:00:00Z"  # the next run starts here again


def test_a_resume_with_another_start_date_starts_the_read_again(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = FakeList(vendors(9))
    requests_mock.get(f"{BASE}/api/v3/order-items", json=fake)
    config = {
        "resource": "order_items",
        "page_size": 3,
        "concurrency": 1,
        "start_date": "2026-11-01",
    }
    checkpoints = [m.value for m in source.read(session, config, None) if isinstance(m, Checkpoint)]
    fake.pages_served.clear()
    wider = {**config, "start_date": "2026-09-01"}
    list(source.read(session, wider, dict(checkpoints[1])))
    assert fake.pages_served == [1, 2, 3]
    fake.pages_served.clear()
    list(source.read(session, config, dict(checkpoints[1])))
    assert fake.pages_served == [2, 3]


def test_without_a_server_clock_the_cursor_allows_for_clock_skew(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(
        f"{BASE}/api/v3/ap/bills", json={"data": [], "metadata": {"pagination": {"num_pages": 1}}}
    )
    before = datetime.now(UTC)
    _, states = split(source.read(session, {"resource": "bills"}, None))
    cursor = datetime.fromisoformat(states[-1]["cursor"].replace("Z", "+00:00"))
    assert cursor <= before - source.CLOCK_SKEW_ALLOWANCE + timedelta(seconds=5)


@pytest.mark.parametrize(
    "date",
    [
        "Fri, 01 Jan 2100 00:00:00 GMT",  # a clock far ahead (a proxy's, say)
        "Fri, 01 Jan 2100 00:00:00 -0000",  # no zone: a time that cannot be placed
        "Tue, 01 Dec 2026 23:59:59",  # no zone at all
    ],
)
def test_a_server_clock_ahead_of_ours_never_moves_the_cursor_into_the_future(
    session: ProcurifySession, requests_mock: requests_mock.Mocker, date: str
) -> None:
    requests_mock.get(
        f"{BASE}/api/v3/ap/bills",
        headers={"Date": date},
        json={"data": [], "metadata": {"pagination": {"num_pages": 1}}},
    )
    _, states = split(source.read(session, {"resource": "bills"}, None))
    after = datetime.now(UTC)
    cursor = datetime.fromisoformat(states[-1]["cursor"].replace("Z", "+00:00"))
    assert cursor <= after - source.SERVER_TIME_MARGIN


def test_a_server_clock_behind_ours_is_the_one_the_cursor_follows(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(
        f"{BASE}/api/v3/ap/bills",
        headers={"Date": SERVER_DATE},
        json={"data": [], "metadata": {"pagination": {"num_pages": 1}}},
    )
    _, states = split(source.read(session, {"resource": "bills"}, None))
    assert states[-1]["cursor"] == "2026-11-29T15:55:00Z"


def test_records_leaving_between_an_interruption_and_the_resume_are_noticed(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = FakeList(vendors(9))
    requests_mock.get(f"{BASE}/api/v3/order-items", json=fake)
    state = {"version": 2, "resource": "order_items", "cursor": "2026-11-20T10:00:00Z"}
    config = {"resource": "order_items", "page_size": 3, "concurrency": 1}
    checkpoints = [
        m.value for m in source.read(session, config, state) if isinstance(m, Checkpoint)
    ]
    interrupted = dict(checkpoints[1])  # pages 1 and 2 emitted
    del fake.records[:2]  # while the host was down, two records read already left
    records, states = split(source.read(session, config, interrupted))
    assert [record["id"] for record in records] == [7, 8, 9]
    assert states[-1]["cursor"] == "2026-11-29T15:55:00Z"


VALID_POSITION = {
    "page": 2,
    "page_size": 3,
    "query": "q",
    "next_cursor": None,
    "through": 6,
    "held": False,
    "counts": None,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"page": 1e400}, "in_progress.page"),
        ({"page": float("nan")}, "in_progress.page"),
        ({"page": -5}, "in_progress.page"),
        ({"page": 0}, "in_progress.page"),
        ({"page": 10**400}, "in_progress.page"),
        ({"page": True}, "in_progress.page"),
        ({"page": "3"}, "in_progress.page"),
        ({"page_size": 2.5}, "in_progress.page_size"),
        ({"through": {"id": 1}}, "in_progress.through"),
        ({"through": [[1]]}, "in_progress.through"),
        ({"held": "no"}, "in_progress.held"),
        ({"counts": [1]}, "in_progress.counts"),
        ({"next_cursor": 5}, "in_progress.next_cursor"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_damaged_position_is_a_configuration_error_naming_the_field(
    session: ProcurifySession,
    requests_mock: requests_mock.Mocker,
    change: dict[str, Any],
    field: str,
) -> None:
    state = {"version": 2, "resource": "vendors", "in_progress": {**VALID_POSITION, **change}}
    with pytest.raises(ConfigurationError, match=re.escape(field)) as raised:
        source.read(session, {"resource": "vendors"}, state)
    assert "damaged" in str(raised.value)
    assert "start without state" in str(raised.value)
    assert requests_mock.request_history == []


@pytest.mark.parametrize(
    ("state", "field"),
    [
        ({"version": 2, "resource": "bills", "cursor": 1e400}, "cursor"),
        ({"version": 2, "resource": "bills", "cursor": "2026-01-01", "extra": 1}, "extra"),
        ({"version": 7, "resource": "bills"}, "version"),
        ({"version": 2, "resource": "bills", "in_progress": [1]}, "in_progress"),
    ],
)
def test_a_damaged_state_names_the_field_and_says_what_to_do(
    session: ProcurifySession, state: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(field)) as raised:
        source.read(session, {"resource": "bills"}, state)
    assert "start without state" in str(raised.value)


class JoiningOrders:
    """Purchase orders (records without the id they are ordered by); one joins at the start of
    the selection just before page 2 of the read is answered."""

    def __init__(self, orders: list[dict[str, Any]]) -> None:
        self.orders = orders
        self.joined = False

    def __call__(self, request: Any, context: Any) -> Any:
        page, size = int(request.qs["page"][0]), int(request.qs["page_size"][0])
        if page == 2 and not self.joined:
            self.joined = True
            self.orders.insert(0, {"uuid": "new", "n": -1})
        pagination = {
            "count": len(self.orders),
            "num_pages": max(1, math.ceil(len(self.orders) / size)),
        }
        context.headers["Date"] = SERVER_DATE
        if page > pagination["num_pages"]:
            context.status_code = 404
            return {"detail": "Invalid page."}
        return {
            "data": self.orders[(page - 1) * size : page * size],
            "metadata": {"pagination": pagination},
        }


def test_records_without_their_order_key_are_checked_by_their_own_key(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = JoiningOrders([{"uuid": f"u{n}", "n": n} for n in range(6)])
    requests_mock.get(f"{BASE}/api/v2/purchase_orders/purchased/all", json=fake)
    state = {"version": 2, "resource": "purchase_orders", "cursor": "2026-11-20T10:00:00Z"}
    config = {"resource": "purchase_orders", "page_size": 2, "concurrency": 1}
    records, states = split(source.read(session, config, state))
    # u1 slid onto page 2 and u2 was seen there: every order is read once, the cursor moves.
    assert [record["uuid"] for record in records] == [f"u{n}" for n in range(6)]
    assert states[-1]["cursor"] == "2026-11-29T15:55:00Z"


def test_records_without_any_key_hold_the_cursor_when_the_count_changes(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = JoiningOrders([{"n": n} for n in range(6)])
    requests_mock.get(f"{BASE}/api/v2/purchase_orders/purchased/all", json=fake)
    state = {"version": 2, "resource": "purchase_orders", "cursor": "2026-11-20T10:00:00Z"}
    config = {"resource": "purchase_orders", "page_size": 2, "concurrency": 1}
    _, states = split(source.read(session, config, state))
    assert states[-1]["cursor"] == "2026-11-20T10:00:00Z"  # the next run starts here again


def test_records_out_of_order_hold_the_cursor_without_endless_looks(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    def unordered(request: Any, context: Any) -> Any:
        page, size = int(request.qs["page"][0]), int(request.qs["page_size"][0])
        ids = [30, 10, 20, 60, 50, 40, 90, 80, 70]  # a server that ignores order_by
        context.headers["Date"] = SERVER_DATE
        pagination = {"count": 9, "num_pages": math.ceil(9 / size)}
        if page > pagination["num_pages"]:
            context.status_code = 404
            return {"detail": "Invalid page."}
        return {
            "data": [{"id": n} for n in ids[(page - 1) * size : page * size]],
            "metadata": {"pagination": pagination},
        }

    requests_mock.get(f"{BASE}/api/v3/order-items", json=unordered)
    state = {"version": 2, "resource": "order_items", "cursor": "2026-11-20T10:00:00Z"}
    config = {"resource": "order_items", "page_size": 3, "concurrency": 1}
    records, states = split(source.read(session, config, state))
    assert sorted(record["id"] for record in records) == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert states[-1]["cursor"] == "2026-11-20T10:00:00Z"  # nothing proved: held
    assert len(requests_mock.request_history) <= 6
