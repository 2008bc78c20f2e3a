"""A many-stream read left to ``concurrency: "auto"``: one controller paces every stream of
the run (the account's limit is one for them all), and against a rate-limited sandbox every
stream's records come through once, in order."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from nexla_procurify import credential, source
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
    with Sandbox(
        records=dict.fromkeys(STREAMS, 60), rate_limit=20.0, max_at_once=3, seed=7
    ) as sandbox:
        yield sandbox


@pytest.fixture
def session(limited: Sandbox) -> Iterator[ProcurifySession]:
    parsed = credential.parse(limited.credential(), allow_loopback=True)
    with ProcurifySession(parsed, client=HttpClient(HttpPolicy())) as opened:
        yield opened


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
    assert limited.rate_limited > 0  # the limit was reached: the run recovered from its 429s
