"""Reading, integration level: the real connector against the sandbox over loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared import host_read as run  # the read_source hook, as a host calls it

from nexla_procurify import cli, plugin
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import parse
from nexla_procurify.errors import TransientError
from nexla_procurify.host import Host
from nexla_procurify.http import HttpPolicy
from nexla_procurify.messages import Record
from nexla_procurify.resources import catalogue
from nexla_procurify.sandbox import Fault, Sandbox

HOST = Host(plugins=[plugin])


@pytest.fixture
def session(sandbox: Sandbox) -> Iterator[ProcurifySession]:
    with HOST.authenticate("procurify", sandbox.credential()) as opened:
        yield opened


def ids(records: list[dict[str, Any]]) -> list[Any]:
    return [record["id"] for record in records]


@pytest.mark.parametrize("name", catalogue().names("source"))
def test_every_resource_reads_end_to_end(
    session: ProcurifySession, sandbox: Sandbox, name: str
) -> None:
    records, states = run(session, {"resource": name, "page_size": 7})
    detail = catalogue().resources[name].detail
    expected = [None] if name == "me" else sandbox.records(detail.of if detail else name)
    assert len(records) == len(expected) > 0
    key = catalogue().resources[name].key[0]
    keys = [record[key] for record in records]
    assert len(set(keys)) == len(keys)
    assert json.dumps(states[-1])


@pytest.mark.parametrize("concurrency", [1, 6])
def test_many_pages_complete_and_in_order(allow_loopback: None, concurrency: int) -> None:
    with (
        Sandbox(records={"vendors": 237}) as sandbox,
        HOST.authenticate("procurify", sandbox.credential()) as session,
    ):
        records, states = run(
            session, {"resource": "vendors", "page_size": 10, "concurrency": concurrency}
        )
    assert ids(records) == list(range(1, 238))  # short last page of 7 included
    assert len(states) == 25


def test_an_empty_resource(allow_loopback: None) -> None:
    with (
        Sandbox(records={"vendors": 0}) as sandbox,
        HOST.authenticate("procurify", sandbox.credential()) as session,
    ):
        records, states = run(session, {"resource": "vendors"})
    assert records == []
    assert states[-1] == {"version": 2, "resource": "vendors"}


MIDDLE_PAGE_FAULTS = [
    Fault("status", status=429, retry_after=0, times=2),
    Fault("status", status=503, retry_after=0),
    Fault("status", status=500, retry_after=0),
    Fault("drop"),
    Fault("expire_token"),
    Fault("invalid_json"),
]


@pytest.mark.parametrize("fault", MIDDLE_PAGE_FAULTS, ids=lambda f: f"{f.kind}{f.status}")
@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_fault_on_a_middle_page_is_recovered_exactly_once(
    session: ProcurifySession, sandbox: Sandbox, fault: Fault, concurrency: int
) -> None:
    expected = ids(sandbox.records("vendors"))
    sandbox.inject(
        Fault(
            fault.kind,
            status=fault.status,
            retry_after=fault.retry_after,
            times=fault.times,
            path="/api/v3/vendors",
            query=(("page", "3"),),
        )
    )
    records, _ = run(session, {"resource": "vendors", "page_size": 5, "concurrency": concurrency})
    assert ids(records) == expected
    assert len(sandbox.requests_to("/api/v3/vendors")) > len(expected) // 5


def test_tokens_expired_mid_read_are_renewed(session: ProcurifySession, sandbox: Sandbox) -> None:
    sandbox.on_page("vendors", 2, lambda running: running.expire_tokens())
    records, _ = run(session, {"resource": "vendors", "page_size": 5, "concurrency": 1})
    assert ids(records) == ids(sandbox.records("vendors"))
    assert len(sandbox.requests_to("/api/v3/oauth/token")) == 2


def test_a_page_that_keeps_failing_stops_with_resource_and_page(sandbox: Sandbox) -> None:
    sandbox.inject(
        Fault("invalid_json", path="/api/v3/vendors", query=(("page", "2"),), times=None)
    )
    credential = parse(sandbox.credential(), allow_loopback=True)
    quick = HttpPolicy(max_attempts=3, backoff_initial=0.01)
    with (
        ProcurifySession(credential, policy=quick) as session,
        pytest.raises(TransientError, match="vendors page 2"),
    ):
        run(session, {"resource": "vendors", "page_size": 5, "concurrency": 1})
    assert len(sandbox.requests_to("/api/v3/vendors")) == 1 + 3


def boundary(state: dict[str, Any]) -> str:
    """The first date the next run's date-granular filter includes."""
    cursor = datetime.fromisoformat(state["cursor"].replace("Z", "+00:00"))
    return (cursor - timedelta(days=1)).date().isoformat()


def test_second_incremental_run_returns_changed_and_new_records(
    session: ProcurifySession, sandbox: Sandbox
) -> None:
    config = {"resource": "order_items", "page_size": 4}
    first, states = run(session, config)
    assert ids(first) == ids(sandbox.records("order_items"))
    state = states[-1]
    edited = [sandbox.edit("order_items", number)["id"] for number in (2, 9)]
    added = sandbox.add("order_items")["id"]
    second, _ = run(session, config, state)
    changed = {*edited, added}
    assert changed <= set(ids(second))
    # Besides those, only records of the boundary days (read again by design) come back.
    since = boundary(state)
    for record in second:
        assert record["id"] in changed or record["last_modified"][:10] >= since


def test_incremental_first_run_honours_start_date(
    session: ProcurifySession, sandbox: Sandbox
) -> None:
    start = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    records, _ = run(session, {"resource": "bills", "start_date": start})
    everything = sandbox.records("bills")
    expected = [r["id"] for r in everything if r["last_modified_datetime"] >= start]
    assert ids(records) == expected
    assert 0 < len(expected) < len(everything)


@pytest.mark.parametrize("stop_after", [1, 3, 5])
def test_resuming_from_any_checkpoint_loses_nothing(
    session: ProcurifySession, sandbox: Sandbox, stop_after: int
) -> None:
    config = {"resource": "purchase_orders", "page_size": 4, "concurrency": 3}
    seen: list[str] = []
    state = None
    for message in HOST.read("procurify", session, config, None):
        if isinstance(message, Record):
            seen.append(message.record["uuid"])
        else:
            state = dict(message.value)
            if len(seen) >= stop_after * 4:
                break
    assert state is not None
    assert "in_progress" in state
    sandbox.add("purchase_orders")  # the world moves on between the two runs
    rest, states = run(session, config, state)
    everything = {record["uuid"] for record in sandbox.records("purchase_orders")}
    assert everything <= set(seen) | {record["uuid"] for record in rest}
    assert "in_progress" not in states[-1]


def test_records_edited_during_a_read_are_not_lost_across_two_runs(
    session: ProcurifySession, sandbox: Sandbox
) -> None:
    config = {"resource": "order_items", "page_size": 3, "concurrency": 2}
    # While page 3 is served, someone edits a record already read, one not yet read, and
    # creates a new one.
    sandbox.edit_when("order_items", page=3, record_id=1, changes={"name": "edited early"})
    sandbox.edit_when("order_items", page=3, record_id=20, changes={"name": "edited late"})
    sandbox.edit_when("order_items", page=3, create=True)
    first, states = run(session, config)
    second, _ = run(session, config, states[-1])
    latest: dict[int, str] = {}
    for record in first + second:
        latest[record["id"]] = record["name"]
    final = {record["id"]: record["name"] for record in sandbox.records("order_items")}
    assert latest == final


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(size=st.integers(0, 80), page_size=st.integers(1, 15), concurrency=st.integers(1, 8))
def test_any_table_page_size_and_concurrency_give_each_record_once_in_order(
    allow_loopback: None, size: int, page_size: int, concurrency: int
) -> None:
    with (
        Sandbox(records={"vendors": size}) as sandbox,
        HOST.authenticate("procurify", sandbox.credential()) as session,
    ):
        records, _ = run(
            session, {"resource": "vendors", "page_size": page_size, "concurrency": concurrency}
        )
    assert ids(records) == list(range(1, size + 1))


def test_cli_read_with_state_and_limit(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps(sandbox.credential()))
    assert cli.main(["read", "bills", "--credential", str(credential), "--page-size", "5"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["type"] == "SCHEMA"
    assert lines[0]["key_properties"] == ["id"]
    records = [line for line in lines if line["type"] == "RECORD"]
    assert len(records) == len(sandbox.records("bills"))
    assert f"bills: {len(records)} records" in err
    assert sandbox.credential()["client_secret"] not in out + err

    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps([line for line in lines if line["type"] == "STATE"][-1]))
    sandbox.edit("bills", 3)
    assert (
        cli.main(
            [
                "read",
                "bills",
                "--credential",
                str(credential),
                "--state",
                str(state_file),
                "--limit",
                "1",
            ]
        )
        == 0
    )
    out, _ = capsys.readouterr()
    again = [json.loads(line) for line in out.splitlines()]
    assert [line["type"] for line in again].count("RECORD") == 1


def test_cli_read_with_unknown_filter_is_a_one_line_usage_error(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps(sandbox.credential()))
    code = cli.main(["read", "vendors", "--credential", str(credential), "--filter", "colour=red"])
    assert code == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert "Unknown filter 'colour'" in err
    assert sandbox.requests_to("/api/v3/vendors") == []


def test_records_leaving_the_selection_mid_read_lose_nothing_across_two_runs(
    allow_loopback: None,
) -> None:
    with (
        Sandbox(records={"purchase_orders": 60}) as sandbox,
        HOST.authenticate("procurify", sandbox.credential()) as session,
    ):
        config = {"resource": "purchase_orders", "status": "open", "page_size": 5, "concurrency": 1}
        open_before = [r["uuid"] for r in _open_orders(session)]
        assert len(open_before) > 12
        # While page 2 is served, someone closes the first open purchase order.
        first_open = next(
            r for r in sandbox.records("purchase_orders") if r["uuid"] == open_before[0]
        )
        sandbox.edit_when(
            "purchase_orders", page=2, record_id=first_open["procurify_PO"], changes={"state": 3}
        )
        first, states = run(session, config)
        second, _ = run(session, config, states[-1])
        still_open = set(open_before[1:])
        assert still_open <= {r["uuid"] for r in first} | {r["uuid"] for r in second}


def _open_orders(session: ProcurifySession) -> list[dict[str, Any]]:
    records, _ = run(session, {"resource": "purchase_orders", "status": "open"})
    return records


def test_records_only_joining_during_a_concurrent_read_let_the_cursor_advance(
    allow_loopback: None,
) -> None:
    with (
        Sandbox(records={"order_items": 120}) as sandbox,
        HOST.authenticate("procurify", sandbox.credential()) as session,
    ):
        for page in range(1, 10):
            sandbox.on_page("order_items", page, lambda running: running.add("order_items"))
        sandbox.inject(
            Fault("delay", delay=0.3, path="/api/v3/order-items", query=(("page", "3"),))
        )
        start = {
            "resource": "order_items",
            "page_size": 10,
            "concurrency": 8,
            "start_date": "2020-01-01",
        }
        _, states = run(session, start)
    assert states[-1]["cursor"] > "2026-01-01"  # advanced to this read's start, not kept
    assert not any(state.get("in_progress", {}).get("scope_shrank") for state in states)
