"""Reading, unit level (requests-mock plays Procurify's list endpoints): pages and the answers
that break them, and concurrency."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Generator
from typing import Any

import pytest
import requests_mock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared import BASE, FakeClock, no_sleep
from unit.source_helpers import FakeList, split, vendors

from nexla_procurify import source
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.concurrency import Controller, ControllerSettings, Gate
from nexla_procurify.controlled import ControlledSession, controlled
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.errors import PermissionDeniedError, TransientError
from nexla_procurify.http import HttpClient, HttpPolicy, RetryEvent
from nexla_procurify.messages import Record
from nexla_procurify.source import many
from nexla_procurify.source.pages import ReadAbandoned


@pytest.mark.parametrize("concurrency", [1, 4])
def test_reads_every_page_in_order(
    session: ProcurifySession, requests_mock: requests_mock.Mocker, concurrency: int
) -> None:
    fake = FakeList(vendors(23))
    requests_mock.get(f"{BASE}/api/v3/vendors", json=fake)
    config = {"resource": "vendors", "page_size": 5, "concurrency": concurrency}
    records, states = split(source.read(session, config, None))
    assert [record["id"] for record in records] == list(range(1, 24))
    assert sorted(fake.pages_served) == [1, 2, 3, 4, 5]
    assert len(states) == 6  # one per page, then the final one
    assert [state["in_progress"]["page"] for state in states[:-1]] == [1, 2, 3, 4, 5]
    assert states[-1] == {"version": 2, "resource": "vendors"}
    calls = [call for call in requests_mock.request_history if call.method == "GET"]
    assert all(call.qs["order_by"] == ["id"] and call.qs["page_size"] == ["5"] for call in calls)


def test_empty_resource_yields_only_a_final_checkpoint(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(f"{BASE}/api/v3/vendors", json=FakeList([]))
    records, states = split(source.read(session, {"resource": "vendors"}, None))
    assert records == []
    assert states[-1] == {"version": 2, "resource": "vendors"}


def test_pagination_at_the_top_level_is_understood(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = FakeList(vendors(7), pagination_at_top=True)
    requests_mock.get(f"{BASE}/api/v2/ap/company-payment-methods", json=fake)
    config = {"resource": "company_payment_methods", "page_size": 3}
    records, _ = split(source.read(session, config, None))
    assert len(records) == 7


def test_locations_wrapped_in_their_own_data_lists_are_unwrapped(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    wrapped = [{"data": [{"id": n, "name": f"L{n}"}], "metadata": None} for n in (1, 2)]
    requests_mock.get(f"{BASE}/api/v2/locations", json=FakeList(wrapped))
    records, _ = split(source.read(session, {"resource": "locations"}, None))
    assert [record["id"] for record in records] == [1, 2]


def test_single_object_resource(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(f"{BASE}/api/v3/users/me", json={"data": {"id": 7}, "metadata": {}})
    records, states = split(source.read(session, {"resource": "me"}, None))
    assert records == [{"id": 7}]
    assert states == [{"version": 2, "resource": "me"}]


def test_a_page_that_is_not_json_is_fetched_again(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = FakeList(vendors(6))
    requests_mock.get(
        f"{BASE}/api/v3/vendors",
        [
            {"json": fake},
            {"text": "<html>gateway</html>", "status_code": 200},
            {"json": fake},
        ],
    )
    records, _ = split(
        source.read(session, {"resource": "vendors", "page_size": 3, "concurrency": 1}, None)
    )
    assert [record["id"] for record in records] == [1, 2, 3, 4, 5, 6]


def test_a_page_that_is_never_json_fails_with_resource_and_page(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = FakeList(vendors(6))
    garbage = {"text": "<html>gateway</html>", "status_code": 200}
    requests_mock.get(f"{BASE}/api/v3/vendors", [{"json": fake}, *([garbage] * 20)])
    with pytest.raises(TransientError, match="vendors page 2"):
        list(source.read(session, {"resource": "vendors", "page_size": 3, "concurrency": 1}, None))


def test_an_error_on_a_middle_page_names_resource_and_page(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = FakeList(vendors(9))

    def page_three_forbidden(request: Any, context: Any) -> Any:
        if request.qs["page"] == ["3"]:
            context.status_code = 403
            return {"detail": "You do not have permission to perform this action."}
        return fake(request, context)

    requests_mock.get(f"{BASE}/api/v3/vendors", json=page_three_forbidden)
    messages = source.read(session, {"resource": "vendors", "page_size": 3}, None)
    with pytest.raises(PermissionDeniedError, match="vendors page 3"):
        list(messages)


def test_adaptive_limit_halves_on_429_and_grows_back_slowly() -> None:
    limit = source.AdaptiveLimit(8)
    limit.on_retry(RetryEvent("GET", "/x", 1, 429, 1.0))
    assert limit.current == 4
    limit.on_retry(RetryEvent("GET", "/x", 1, 503, 1.0))
    assert limit.current == 4  # only "slow down" shrinks the pool
    for _ in range(3):
        limit.on_success()
    assert limit.current == 4
    limit.on_success()
    assert limit.current == 5
    for _ in range(100):
        limit.on_success()
    assert limit.current == 8


def test_concurrency_shrinks_when_procurify_answers_429(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = FakeList(vendors(40))
    limited = {"json": {"detail": "slow down"}, "status_code": 429, "headers": {"Retry-After": "0"}}
    requests_mock.get(
        f"{BASE}/api/v3/vendors", [{"json": fake}, limited, limited, *([{"json": fake}] * 30)]
    )
    reader_limits: list[int] = []
    original = source.AdaptiveLimit.on_retry

    def spy(self: source.AdaptiveLimit, event: RetryEvent) -> None:
        original(self, event)
        reader_limits.append(self.current)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source.AdaptiveLimit, "on_retry", spy)
        records, _ = split(
            source.read(session, {"resource": "vendors", "page_size": 4, "concurrency": 8}, None)
        )
    assert [record["id"] for record in records] == list(range(1, 41))
    assert reader_limits
    assert reader_limits[-1] < 8


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(min_value=0, max_value=60),
    page_size=st.integers(min_value=1, max_value=12),
    concurrency=st.integers(min_value=1, max_value=8),
)
def test_any_sizes_give_every_record_once_in_order(
    size: int, page_size: int, concurrency: int
) -> None:
    credential = Credential("test", "client", Secret("s3cr3t-value-never-shown"), BASE)
    with (
        requests_mock.Mocker() as mock,
        ProcurifySession(credential, client=HttpClient(HttpPolicy(), sleep=no_sleep)) as session,
    ):
        mock.post(f"{BASE}/api/v3/oauth/token", json={"access_token": "t", "expires_in": 60})
        mock.get(f"{BASE}/api/v3/vendors", json=FakeList(vendors(size)))
        config = {"resource": "vendors", "page_size": page_size, "concurrency": concurrency}
        records, states = split(source.read(session, config, None))
    assert [record["id"] for record in records] == list(range(1, size + 1))
    assert len(states) == max(1, math.ceil(size / page_size)) + 1
    assert json.dumps(states)  # every state is JSON


@pytest.mark.parametrize(
    "body",
    [
        {"detail": "maintenance"},  # no records list at all
        {"data": [{"id": n} for n in range(1, 4)]},  # a full page and no pagination
    ],
)
def test_an_answer_that_cannot_be_paged_fails_rather_than_ending_early(
    session: ProcurifySession, requests_mock: requests_mock.Mocker, body: dict[str, Any]
) -> None:
    requests_mock.get(f"{BASE}/api/v3/order-items", json=body)
    state = {"version": 2, "resource": "order_items", "cursor": "2026-11-20T10:00:00Z"}
    config = {"resource": "order_items", "page_size": 3}
    with pytest.raises(TransientError, match="order_items page 1"):
        list(source.read(session, config, state))


def test_a_short_page_without_pagination_is_the_only_page(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(f"{BASE}/api/v3/vendors", json={"data": [{"id": 1}, {"id": 2}]})
    records, _ = split(source.read(session, {"resource": "vendors", "page_size": 3}, None))
    assert [record["id"] for record in records] == [1, 2]


def test_a_null_data_list_is_an_empty_page(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(
        f"{BASE}/api/v2/ap/vendor-payment-methods",
        json={"data": None, "pagination": {"count": 0, "num_pages": 1}},
    )
    records, _ = split(source.read(session, {"resource": "vendor_payment_methods"}, None))
    assert records == []


def test_concurrency_one_reads_on_the_calling_thread_without_a_pool(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    threads: set[str] = set()
    fake = FakeList(vendors(9))

    def noting_thread(request: Any, context: Any) -> Any:
        threads.add(threading.current_thread().name)
        return fake(request, context)

    requests_mock.get(f"{BASE}/api/v3/vendors", json=noting_thread)
    config = {"resource": "vendors", "page_size": 3, "concurrency": 1}
    messages = source.read(session, config, None)
    next(iter(messages))  # page 1 read; nothing fetched ahead
    assert fake.pages_served == [1]
    list(messages)
    assert threads == {threading.current_thread().name}
    assert fake.pages_served == [1, 2, 3]


def test_pages_announced_without_end_but_empty_stop_the_read_at_once(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    def endless(request: Any, context: Any) -> Any:
        page = int(request.qs["page"][0])
        data = [{"id": 1}, {"id": 2}] if page == 1 else []
        return {"data": data, "metadata": {"pagination": {"count": 2 * 10**9, "num_pages": 10**9}}}

    requests_mock.get(f"{BASE}/api/v3/vendors", json=endless)
    with pytest.raises(TransientError, match=r"vendors page \d+.*was empty"):
        list(source.read(session, {"resource": "vendors", "page_size": 2}, None))
    assert len(requests_mock.request_history) < 40


def test_a_selection_that_keeps_announcing_more_pages_stops_at_the_extra_page_limit(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    def growing(request: Any, context: Any) -> Any:
        page = int(request.qs["page"][0])
        data = [{"id": 2 * page - 1}, {"id": 2 * page}]
        return {"data": data, "metadata": {"pagination": {"num_pages": page + 1}}}

    requests_mock.get(f"{BASE}/api/v3/vendors", json=growing)
    config = {"resource": "vendors", "page_size": 2, "max_extra_pages": 5}
    with pytest.raises(TransientError, match="max_extra_pages"):
        list(source.read(session, config, None))
    assert len(requests_mock.request_history) < 40


@pytest.mark.parametrize("item", [5, "text", None, [1], True])
def test_list_items_that_are_not_records_fail_the_page_naming_it(
    session: ProcurifySession, requests_mock: requests_mock.Mocker, item: Any
) -> None:
    body = {"data": [{"id": 1}, item], "metadata": {"pagination": {"count": 2, "num_pages": 1}}}
    requests_mock.get(f"{BASE}/api/v3/vendors", json=body)
    with pytest.raises(TransientError, match=r"vendors page 1.*item 1 of its list"):
        list(source.read(session, {"resource": "vendors"}, None))


def test_a_page_that_is_not_valid_utf8_fails_rather_than_turning_into_replacement_characters(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    body = (
        b'{"data": [{"id": 1, "name": "Caf\\u00e9 \xff\xfe"}], '
        b'"metadata": {"pagination": {"count": 1, "num_pages": 1}}}'
    )
    requests_mock.get(
        f"{BASE}/api/v3/vendors", content=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(TransientError, match=r"vendors page 1.*not usable JSON \(not valid utf-8"):
        list(source.read(session, {"resource": "vendors"}, None))


def test_a_page_in_utf8_with_a_byte_order_mark_or_a_declared_charset_is_read(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    text = '{"data": [{"id": 1, "name": "Café"}], "metadata": {"pagination": {"num_pages": 1}}}'
    requests_mock.get(
        f"{BASE}/api/v3/vendors",
        [
            {
                "content": b"\xef\xbb\xbf" + text.encode(),
                "headers": {"Content-Type": "application/json"},
            },
            {
                "content": text.encode("latin-1"),
                "headers": {"Content-Type": "application/json; charset=ISO-8859-1"},
            },
        ],
    )
    for _ in range(2):
        records, _ = split(source.read(session, {"resource": "vendors"}, None))
        assert records == [{"id": 1, "name": "Café"}]


def test_the_controlled_session_hears_429s_and_chains_the_callers_listener(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    limited = {"json": {"detail": "slow down"}, "status_code": 429, "headers": {"Retry-After": "0"}}
    requests_mock.get(f"{BASE}/api/v3/x", [limited, {"json": {"ok": True}}])
    gated = controlled(session, 8)
    heard: list[RetryEvent] = []
    answer = gated.request_json("GET", "/api/v3/x", on_retry=heard.append)
    assert answer.body == {"ok": True}
    assert [event.status for event in heard] == [429]
    assert gated.gate.controller.limit == 2  # halved from its start of 2, then one more
    assert not gated.gate.controller.slow_start
    assert gated.gate.in_flight == 0
    gated.close()  # leaves the wrapped session open
    assert session.request("GET", "/api/v3/x").status_code == 200
    assert isinstance(gated, ControlledSession)


def test_the_controlled_session_holds_every_start_until_a_429s_retry(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    limited = {"json": {"detail": "slow down"}, "status_code": 429, "headers": {"Retry-After": "7"}}
    requests_mock.get(f"{BASE}/api/v3/x", [limited, {"json": {"ok": True}}])
    clock = FakeClock()
    gated = ControlledSession(
        session, Gate(Controller(ControllerSettings(maximum=8)), clock=clock, sleep=clock.sleep)
    )
    heard: list[RetryEvent] = []
    gated.request_json("GET", "/api/v3/x", on_retry=heard.append)
    assert heard[0].retry_after == 7.0
    with gated.gate.slot():  # the client waited the 7 s on its own clock; the gate's stood
        began = clock.now
    assert began >= 7.0


def test_an_auto_read_recovers_from_429s_without_losing_or_repeating_a_record(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    fake = FakeList(vendors(60))
    limited = {"json": {"detail": "slow down"}, "status_code": 429, "headers": {"Retry-After": "0"}}
    requests_mock.get(
        f"{BASE}/api/v3/vendors", [{"json": fake}, limited, limited, *([{"json": fake}] * 30)]
    )
    records, _ = split(source.read(session, {"resource": "vendors", "page_size": 4}, None))
    assert [record["id"] for record in records] == list(range(1, 61))


def test_a_closed_read_makes_no_more_retries_of_the_pages_it_prefetched(
    requests_mock: requests_mock.Mocker,
) -> None:
    requests_mock.post(
        f"{BASE}/api/v3/oauth/token",
        json={"access_token": "t0k3n", "expires_in": 86400, "token_type": "Bearer"},
    )
    fake = FakeList(vendors(12))
    page_3: list[int] = []

    def answer(request: Any, context: Any) -> Any:
        if request.qs.get("page") == ["3"]:
            page_3.append(1)
            context.status_code = 503
            return {"detail": "down for a moment"}
        return fake(request, context)

    requests_mock.get(f"{BASE}/api/v3/vendors", json=answer)
    released = threading.Event()
    credential = Credential("test", "client", Secret("s3cr3t-value-never-shown"), BASE)

    def sleep(_: float) -> None:  # a retry's wait lasts until the test releases it
        released.wait(10)

    client = HttpClient(HttpPolicy(), sleep=sleep)
    with ProcurifySession(credential, client=client) as session:
        messages = source.read(
            session, {"resource": "vendors", "page_size": 4, "concurrency": 4}, None
        )
        assert isinstance(messages, Generator)
        for message in messages:  # into page 2: pages 2 and 3 were asked for
            if isinstance(message, Record) and message.record["id"] == 5:
                break
        for _ in range(500):  # page 3's first answer (a 503) is in: its retry now waits
            if page_3:
                break
            released.wait(0.01)
        messages.close()  # the host is done with the read
        released.set()  # page 3's wait ends: its retry would go out now
        for thread in threading.enumerate():
            if thread.name.startswith("read-vendors"):
                thread.join(10)
    # At most the retry already waiting went out after the close (answered 503, not retried
    # again), not the policy's eight attempts.
    assert 1 <= len(page_3) <= 2


def test_a_final_429_is_told_to_the_gate_as_a_refusal(
    requests_mock: requests_mock.Mocker,
) -> None:
    requests_mock.post(
        f"{BASE}/api/v3/oauth/token",
        json={"access_token": "t0k3n", "expires_in": 86400, "token_type": "Bearer"},
    )
    requests_mock.get(
        f"{BASE}/api/v3/x",
        json={"detail": "slow down"},
        status_code=429,
        headers={"Retry-After": "3"},
    )
    credential = Credential("test", "client", Secret("s3cr3t-value-never-shown"), BASE)
    once = HttpClient(HttpPolicy(max_attempts=1), sleep=no_sleep)
    with ProcurifySession(credential, client=once) as session:
        gated = controlled(session, 8)
        answer = gated.request_json("GET", "/api/v3/x")
    assert answer.response.status_code == 429
    controller = gated.gate.controller
    assert controller.limit == 1  # halved from its start of 2, not grown on a "good" answer
    assert not controller.slow_start


def test_the_callers_listener_hears_a_retry_before_the_gate(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    limited = {"json": {"detail": "slow down"}, "status_code": 429, "headers": {"Retry-After": "0"}}
    requests_mock.get(f"{BASE}/api/v3/x", [limited, {"json": {"ok": True}}])
    gated = controlled(session, 8)

    def closed(_: RetryEvent) -> None:
        raise ReadAbandoned("read vendors page 2: its read was closed")

    with pytest.raises(ReadAbandoned):
        gated.request_json("GET", "/api/v3/x", on_retry=closed)
    # The request ended there: no retry, so the gate holds nothing back for one.
    assert gated.gate.controller.slow_start
    assert gated.gate.in_flight == 0


@pytest.mark.parametrize(
    ("concurrencies", "expected"),
    [((None, None), "auto"), ((3, None), "auto"), ((3, 5), 5), ((2, "auto"), "auto")],
)
def test_a_runs_budget_is_auto_unless_every_stream_pins_it(
    concurrencies: tuple[object, object], expected: object
) -> None:
    configs = [
        {"resource": "vendors"} if given is None else {"resource": "vendors", "concurrency": given}
        for given in concurrencies
    ]
    assert many.budget_of(configs) == expected
