"""``concurrency: "auto"`` (the default) against a rate-limited sandbox: reads and writes finish,
every record read once and in order, one result per record written, no duplicate created."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from shared import host_read

from nexla_procurify import credential, destination
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.http import HttpClient, HttpPolicy
from nexla_procurify.sandbox import Sandbox


@pytest.fixture(scope="module")
def limited() -> Iterator[Sandbox]:
    with Sandbox(records={"vendors": 120}, rate_limit=40.0, max_at_once=3) as sandbox:
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
