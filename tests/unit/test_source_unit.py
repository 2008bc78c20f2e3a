"""Reading, unit level: requests-mock plays Procurify's list endpoints."""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests_mock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from shared import BASE, SERVER_DATE, no_sleep

from nexla_procurify import manifest, source
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.cli import arguments
from nexla_procurify.controlled import ControlledSession, controlled
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.errors import ConfigurationError, PermissionDeniedError, TransientError
from nexla_procurify.http import HttpClient, HttpPolicy, RetryEvent
from nexla_procurify.messages import Checkpoint, Record
from nexla_procurify.resources import catalogue


class FakeList:
    """A Procurify list endpoint over ``records``, paginated like Django REST framework."""

    def __init__(self, records: list[dict[str, Any]], *, pagination_at_top: bool = False) -> None:
        self.records = records
        self.pagination_at_top = pagination_at_top
        self.pages_served: list[int] = []

    def __call__(self, request: Any, context: Any) -> Any:
        query = {key: values[0] for key, values in request.qs.items()}
        page, size = int(query.get("page", "1")), int(query.get("page_size", "10"))
        num_pages = max(1, math.ceil(len(self.records) / size))
        context.headers["Date"] = SERVER_DATE
        if page > num_pages:
            context.status_code = 404
            return {"detail": "Invalid page."}
        self.pages_served.append(page)
        pagination = {
            "count": len(self.records),
            "num_pages": num_pages,
            "current_page": page,
            "page_size": size,
            "next": None,
            "previous": None,
        }
        data = self.records[(page - 1) * size : page * size]
        if self.pagination_at_top:
            return {"data": data, "pagination": pagination}
        return {"data": data, "metadata": {"pagination": pagination}}


@pytest.fixture
def session(requests_mock: requests_mock.Mocker) -> Iterator[ProcurifySession]:
    requests_mock.post(
        f"{BASE}/api/v3/oauth/token",
        json={"access_token": "t0k3n", "expires_in": 86400, "token_type": "Bearer"},
    )
    credential = Credential("test", "client", Secret("s3cr3t-value-never-shown"), BASE)
    with ProcurifySession(credential, client=HttpClient(HttpPolicy(), sleep=no_sleep)) as opened:
        yield opened


def vendors(count: int) -> list[dict[str, Any]]:
    return [{"id": number, "name": f"Vendor {number}"} for number in range(1, count + 1)]


def split(messages: Iterator[Record | Checkpoint]) -> tuple[list[Any], list[dict[str, Any]]]:
    records, states = [], []
    for message in messages:
        if isinstance(message, Record):
            records.append(message.record)
        else:
            states.append(dict(message.value))
    return records, states


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
    ("config", "message"),
    [
        ({"resource": "invoices"}, "Unknown source resource 'invoices'; choose one of: vendors"),
        ({"resource": "vendors", "colour": "red"}, "Unknown source configuration key"),
        (
            {"resource": "vendors", "filters": {"colour": "red"}},
            "Unknown filter 'colour' for resource 'vendors'. Valid filters: exclude_other, ",
        ),
        ({"resource": "vendors", "filters": {"active": "yes"}}, "Unknown filter 'active'"),
        ({"resource": "users", "filters": {"is_active": "yes"}}, "must be true or false"),
        ({"resource": "vendors", "filters": {"type": 9}}, "must be one of 1, 2, 3"),
        (
            {"resource": "order_items", "filters": {"last_modified_0": "2026-01-01"}},
            "managed by the incremental cursor",
        ),
        (
            {"resource": "order_items", "filters": {"last_modified_1": "yesterday"}},
            "date (YYYY-MM-DD)",
        ),
        ({"resource": "vendors", "start_date": "2026-01-01"}, "only to incremental resources"),
        ({"resource": "bills", "start_date": "01/02/2026"}, "date (YYYY-MM-DD)"),
        ({"resource": "vendors", "page_size": 5000}, "'page_size' must be a whole number"),
        (
            {"resource": "vendors", "concurrency": 0},
            "'concurrency' must be \"auto\" or a whole number",
        ),
        ({"resource": "vendors", "role": "purchased"}, "Unknown source configuration key"),
        ({"resource": "purchase_orders", "status": "lost"}, "'status' must be one of"),
        ({"resource": "bills", "status": "paid"}, "Unknown source configuration key"),
        (
            {"resource": "vendor_details", "start_date": "2026-01-01"},
            "only to incremental resources",
        ),
        ({"resource": "requisitions"}, "Unknown source resource"),
        ("vendors", "must be a JSON object"),
    ],
)
def test_bad_configuration_fails_before_any_request(
    session: ProcurifySession,
    requests_mock: requests_mock.Mocker,
    config: Any,
    message: str,
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        source.read(session, config, None)
    assert requests_mock.request_history == []


@pytest.mark.parametrize(
    "state",
    [{"resource": "bills", "cursor": "2026-01-01"}, {"resource": "vendors", "cursor": 5}, []],
)
def test_a_foreign_or_damaged_state_is_refused(session: ProcurifySession, state: Any) -> None:
    with pytest.raises(ConfigurationError, match="state"):
        source.read(session, {"resource": "vendors"}, state)


def test_purchase_orders_use_role_and_status_in_the_path(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(
        f"{BASE}/api/v2/purchase_orders/receivable/open", json=FakeList([{"uuid": "a"}])
    )
    config = {"resource": "purchase_orders", "role": "receivable", "status": "open"}
    records, _ = split(source.read(session, config, None))
    assert records == [{"uuid": "a"}]


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


@pytest.mark.parametrize(
    ("resource", "filters", "sent"),
    [
        ("account_codes", {"code": "6000"}, {"code": ["6000"]}),
        ("users", {"is_active": "TRUE", "role": "2.5"}, {"is_active": ["true"], "role": ["2.5"]}),
        ("vendors", {"type": "3"}, {"type": ["3"]}),
    ],
)
def test_filters_given_as_text_are_converted_to_their_type(
    session: ProcurifySession,
    requests_mock: requests_mock.Mocker,
    resource: str,
    filters: dict[str, Any],
    sent: dict[str, list[str]],
) -> None:
    path = source.parse_config({"resource": resource}).resource.list_path({})
    requests_mock.get(f"{BASE}{path}", json=FakeList([]))
    list(source.read(session, {"resource": resource, "filters": filters}, None))
    assert requests_mock.last_request is not None
    for name, value in sent.items():
        assert requests_mock.last_request.qs[name] == value


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"type": "three"}, "must be a whole number"),
        ({"type": 2.5}, "must be a whole number"),
        ({"exclude_other": "maybe"}, "must be true or false"),
    ],
)
def test_filters_of_the_wrong_type_are_refused(
    session: ProcurifySession, filters: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        source.read(session, {"resource": "vendors", "filters": filters}, None)


def test_the_source_schema_lists_exactly_the_catalogue() -> None:
    schema = manifest.schema("source.schema.json")
    assert schema["properties"]["resource"]["enum"] == catalogue().names("source")
    incremental = [name for name, resource in catalogue().resources.items() if resource.incremental]
    assert schema["allOf"][1]["if"]["properties"]["resource"]["not"]["enum"] == incremental
    assert schema["properties"]["page_size"]["maximum"] == catalogue().max_page_size
    with_path = [
        name
        for name, resource in catalogue().resources.items()
        if resource.readable and resource.path_params
    ]
    assert schema["allOf"][0]["if"]["properties"]["resource"]["not"]["enum"] == with_path
    for param in catalogue().resources["purchase_orders"].path_params:
        assert schema["properties"][param.name]["enum"] == list(param.choices)
        assert schema["properties"][param.name]["default"] == param.default


@pytest.mark.parametrize(
    "config",
    [
        {"resource": "vendors"},
        {"resource": "order_items", "start_date": "2026-01-01", "page_size": 500},
        {
            "resource": "purchase_orders",
            "role": "receivable",
            "status": "open",
            "filters": {"pref_vendor": 3},
            "concurrency": 16,
        },
        {"resource": "bills", "start_date": "2026-01-01T08:00:00Z"},
        {"resource": "bill_details", "start_date": "2026-01-01", "filters": {"vendor": 4}},
        {"resource": "purchase_order_details", "role": "receivable", "status": "paid"},
        {"resource": "vendor_details", "filters": {"type": 2}},
    ],
)
def test_configs_the_connector_accepts_pass_the_shipped_schema(config: dict[str, Any]) -> None:
    source.parse_config(config)
    validator = Draft202012Validator(manifest.schema("source.schema.json"))
    assert list(validator.iter_errors(config)) == []


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


def test_a_null_data_list_is_an_empty_page(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(
        f"{BASE}/api/v2/ap/vendor-payment-methods",
        json={"data": None, "pagination": {"count": 0, "num_pages": 1}},
    )
    records, _ = split(source.read(session, {"resource": "vendor_payment_methods"}, None))
    assert records == []


def test_source_settings_sent_as_null_mean_not_set() -> None:
    config = source.parse_config(
        {"resource": "vendors", "start_date": None, "page_size": None, "filters": None}
    )
    assert config.page_size == catalogue().default_page_size
    assert config.start is None


@pytest.mark.parametrize("start", ["20260101", "2026-01-01T00:00:00+00", "2026-W01-1"])
def test_start_dates_the_schema_refuses_are_refused_with_the_forms_it_takes(start: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape("date (YYYY-MM-DD)")):
        source.parse_config({"resource": "bills", "start_date": start})


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


@pytest.mark.parametrize(
    ("given", "sent"),
    [([1, "2", 3], ["1", "2", "3"]), ("7", ["7"]), (7, ["7"])],
)
def test_a_list_filter_is_sent_as_the_parameter_repeated(
    session: ProcurifySession, requests_mock: requests_mock.Mocker, given: Any, sent: list[str]
) -> None:
    requests_mock.get(f"{BASE}/api/v3/departments", json=FakeList([]))
    config = {"resource": "departments", "filters": {"locations": given}}
    list(source.read(session, config, None))
    assert requests_mock.last_request is not None
    assert requests_mock.last_request.qs["locations"] == sent


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"locations": [1, "two"]}, "Filter 'locations[1]' must be a whole number"),
        ({"locations": [1, True]}, "Filter 'locations[1]' must be a whole number"),
        ({"locations": []}, "Filter 'locations' needs at least one value"),
        ({"search": ["a", "b"]}, "Filter 'search' takes one value, not a list"),
    ],
)
def test_list_filters_check_each_item_and_other_filters_take_one_value(
    filters: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        source.parse_config({"resource": "departments", "filters": filters})


def test_list_filters_in_another_order_are_another_selection() -> None:
    first = source.parse_config({"resource": "departments", "filters": {"locations": [1, 2]}})
    same = source.parse_config({"resource": "departments", "filters": {"locations": [1, 2]}})
    other = source.parse_config({"resource": "departments", "filters": {"locations": [1]}})
    assert first.query_fingerprint == same.query_fingerprint != other.query_fingerprint


def test_purchase_orders_can_be_read_by_the_paid_status(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(
        f"{BASE}/api/v2/purchase_orders/purchased/paid", json=FakeList([{"uuid": "p"}])
    )
    records, _ = split(
        source.read(session, {"resource": "purchase_orders", "status": "paid"}, None)
    )
    assert records == [{"uuid": "p"}]


@pytest.mark.parametrize(
    ("argv", "filters"),
    [
        (
            ["--filter", "locations=1", "--filter", "locations=2", "--filter", "search=a=b"],
            {"locations": ["1", "2"], "search": "a=b"},
        ),
        (["--filter", "locations=4"], {"locations": "4"}),
    ],
)
def test_the_command_line_repeats_a_filter_to_give_a_list(
    argv: list[str], filters: dict[str, Any]
) -> None:
    args = arguments.parser().parse_args(["read", "departments", *argv])
    config = arguments.source_config(args)
    assert config["filters"] == filters
    parsed = source.parse_config(config)
    assert parsed.filters["locations"] == tuple(
        [filters["locations"]] if isinstance(filters["locations"], str) else filters["locations"]
    )


def test_a_list_filter_passes_the_shipped_schema() -> None:
    config = {"resource": "departments", "filters": {"locations": [1, 2]}}
    source.parse_config(config)
    validator = Draft202012Validator(manifest.schema("source.schema.json"))
    assert list(validator.iter_errors(config)) == []


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
