"""``concurrency: "auto"`` (the default) against a rate-limited sandbox: reads and writes finish,
every record read once and in order, one result per record written, no duplicate created; a
many-stream read has one controller for all its streams (the account's limit is one)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from shared import host_read

from nexla_procurify import credential, destination, source
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.controlled import ControlledSession
from nexla_procurify.http import HttpClient, HttpPolicy
from nexla_procurify.messages import Checkpoint, Record
from nexla_procurify.resources import catalogue
from nexla_procurify.sandbox import Sandbox
from nexla_procurify.source import many
from nexla_procurify.source.pages import PageFetcher

STREAMS = ("vendors", "departments", "users", "locations", "account_codes")


@pytest.fixture(scope="module")
def limited() -> Iterator[Sandbox]:
    records = {**dict.fromkeys(STREAMS, 60), "vendors": 120}
    with Sandbox(records=records, rate_limit=40.0, max_at_once=3) as sandbox:
        yield sandbox


@pytest.fixture
def session(limited: Sandbox) -> Iterator[ProcurifySession]:
    parsed = credential.parse(limited.credential(), allow_loopback=True)
    with ProcurifySession(parsed, client=HttpClient(HttpPolicy())) as opened:
        yield opened


def test_an_auto_read_gets_every_record_once_in_order(
    limited: Sandbox, session: ProcurifySession
) -> None:
    records, states = host_read(session, {"resource": "vendors", "page_size": 5})
    assert [record["id"] for record in records] == [row["id"] for row in limited.records("vendors")]
    assert states


def test_an_auto_write_gives_one_result_per_record_and_creates_each_once(
    limited: Sandbox, session: ProcurifySession
) -> None:
    records: list[dict[str, Any]] = [
        {"name": f"Auto vendor {n}", "email": ["ap@vendor.test"], "type": 2, "external_id": f"a{n}"}
        for n in range(40)
    ]
    before = limited.created("vendors")
    results = list(
        destination.write(
            session,
            {"resource": "vendors", "operation": "upsert"},
            records + records[:5],
            sleep=lambda _: None,
        )
    )
    assert [result.index for result in results] == list(range(45))
    assert [result.status for result in results[:40]] == ["created"] * 40
    assert all(result.status in ("updated", "unchanged") for result in results[40:])
    assert limited.created("vendors") - before == 40


def test_an_auto_run_shares_one_controller_and_a_number_one_budget(
    session: ProcurifySession,
) -> None:
    shared = many.shared_session(session, "auto")
    assert isinstance(shared, ControlledSession)
    assert shared.gate.controller.settings.maximum == catalogue().max_read_concurrency
    assert isinstance(many.shared_session(session, 3), many.BudgetedSession)
    # A stream read under "auto" through the run's session keeps the run's controller.
    fetcher = PageFetcher(shared, source.parse_config({"resource": "vendors"}), ThreadPoolExecutor)
    assert fetcher.session is shared
    alone = PageFetcher(session, source.parse_config({"resource": "vendors"}), ThreadPoolExecutor)
    assert isinstance(alone.session, ControlledSession)
    assert alone.session is not session


def test_a_whole_account_read_under_a_rate_limit_gets_every_record_once_in_order(
    limited: Sandbox, session: ProcurifySession
) -> None:
    before = limited.rate_limited
    configs = {name: {"resource": name, "page_size": 5} for name in STREAMS}
    got: dict[str, list[object]] = {name: [] for name in STREAMS}
    last: Checkpoint | None = None
    for message in source.read_streams(session, configs, None):
        if isinstance(message, Record):
            got[message.stream].append(message.record["id"])
        else:
            last = message
    for name in STREAMS:
        assert got[name] == [row["id"] for row in limited.records(name)], name
    assert last is not None
    assert set(last.value["streams"]) == set(STREAMS)
    assert limited.rate_limited > before  # the limit was reached: the run recovered from 429s
