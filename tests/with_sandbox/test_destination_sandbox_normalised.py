"""End to end against a sandbox that stores bodies as Procurify's Django REST framework does
and whose lists lag behind its writes: a POST that committed but lost its answer is
recognised as ours, reported ``created`` with its id, and never sent twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from with_sandbox.writing import open_session, write

from nexla_procurify import destination
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.sandbox import Fault, Sandbox

LAG = len(destination.LOOKUP_PAUSES) - 1  # list answers that miss a new record


@pytest.fixture
def drf_sandbox(allow_loopback: None) -> Iterator[Sandbox]:
    with Sandbox(normalise=True, list_lag=LAG) as running:
        yield running


@pytest.fixture
def session(drf_sandbox: Sandbox) -> Iterator[ProcurifySession]:
    with open_session(drf_sandbox) as opened:
        yield opened


CASES = [
    (
        "vendors",
        "/api/v3/vendors",
        {"operation": "create"},
        {
            "name": "  Acme Supplies ",
            "email": ["AP@Acme.TEST", "Billing@ACME.test"],
            "type": 2,
            "overall_score": "12.5",
            "external_id": " NORM-1 ",
            "comments": "first line\n",
        },
    ),
    (
        "vendors",
        "/api/v3/vendors",
        {"operation": "upsert", "key": "external_id"},
        {
            "name": "Globex ",
            "email": ["AP@Globex.Test"],
            "type": 3,
            "overall_score": "7",
            "external_id": "NORM-2",
        },
    ),
    (
        "account_codes",
        "/api/v3/account-codes",
        {"operation": "create"},
        {"code": "  6100-NORM ", "description": " Office supplies\t"},
    ),
    (
        "users",
        "/api/v3/users",
        {"operation": "create"},
        {"email": "Ada.Lovelace@Example.COM", "first_name": " Ada", "last_name": "Lovelace "},
    ),
]


@pytest.mark.parametrize(
    ("resource", "path", "config", "record"),
    CASES,
    ids=[f"{case[0]}-{case[2]['operation']}" for case in CASES],
)
def test_our_normalised_creation_is_found_through_the_lag(
    drf_sandbox: Sandbox,
    session: ProcurifySession,
    resource: str,
    path: str,
    config: dict[str, Any],
    record: dict[str, Any],
) -> None:
    before = drf_sandbox.created(resource)
    drf_sandbox.inject(Fault("commit_then_drop", method="POST", path=path))
    [result] = write(session, {"resource": resource, **config}, [record])
    assert result.status == "created", result.error
    assert drf_sandbox.created(resource) == before + 1
    assert len(drf_sandbox.requests_to(path, method="POST")) == 1
    stored = drf_sandbox.record(resource, result.id) if result.id is not None else None
    assert stored is not None
    # The sandbox did store it normalised: what was sent is not what is listed.
    sent_text = next(
        value
        for value in record.values()
        if isinstance(value, str) and value != value.strip().lower()
    )
    assert sent_text not in stored.values()


def test_an_upsert_of_what_was_stored_normalised_is_unchanged(
    drf_sandbox: Sandbox, session: ProcurifySession
) -> None:
    record = {
        "name": " Initech ",
        "email": ["AP@Initech.Test"],
        "type": 4,
        "overall_score": "3.5",
        "external_id": "NORM-3",
    }
    config = {"resource": "vendors", "operation": "upsert", "key": "external_id"}
    [first] = write(session, config, [record])
    for _ in range(LAG + 1):  # let the list catch up
        session.get("/api/v3/vendors", params={"external_id": "NORM-3"}).close()
    [second] = write(session, config, [record])
    assert (first.status, second.status) == ("created", "unchanged")
    assert second.id == first.id
    assert drf_sandbox.requests_to(f"/api/v3/vendors/{first.id}", method="PATCH") == []


def test_the_sandbox_list_lags_then_shows_the_new_record(
    drf_sandbox: Sandbox, session: ProcurifySession
) -> None:
    created = session.post(
        "/api/v3/vendors",
        json={
            "name": "Lagging",
            "email": ["a@lag.test"],
            "type": 2,
            "overall_score": None,
            "external_id": "LAG-1",
        },
    )
    assert created.status_code == 201
    seen = []
    for _ in range(LAG + 1):
        listed = session.get("/api/v3/vendors", params={"external_id": "LAG-1"}).json()
        seen.append(len(listed["data"]))
    assert seen == [0] * LAG + [1]
