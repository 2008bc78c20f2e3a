"""The destination's parts through their own public seams: a record's ``Attempt``, the pure
``Plan`` and the run's ``Circuit``, without a whole write around them."""

from __future__ import annotations

import dataclasses
import json
from types import MappingProxyType
from typing import Any

import pytest
import requests_mock as requests_mock_module
from shared import BASE as BASE_URL
from unit.destination_helpers import TOKEN_PATH, VENDORS, make_session, vendor

from nexla_procurify import destination
from nexla_procurify.destination.attempt import Attempt, RecordRejected
from nexla_procurify.destination.circuit import Circuit
from nexla_procurify.errors import RateLimitError, TransientError
from nexla_procurify.resources import catalogue


@pytest.fixture
def mocker(requests_mock: requests_mock_module.Mocker) -> requests_mock_module.Mocker:
    requests_mock.post(
        BASE_URL + TOKEN_PATH, json={"access_token": "token-0123456789", "expires_in": 86400}
    )
    return requests_mock


def plan(config: dict[str, object]) -> destination.Plan:
    return destination.Plan.of(destination.parse_config(config))


# ------------------------------------------------------------------------------- Attempt


def test_an_attempt_has_written_nothing_until_it_sends(
    mocker: requests_mock_module.Mocker,
) -> None:
    mocker.get(BASE_URL + VENDORS, json={"data": []})
    attempt = Attempt(4, make_session())
    answer = attempt.read_json(VENDORS, {"external_id": "V-1"})
    assert (answer.response.status_code, answer.body) == (200, {"data": []})
    assert not attempt.wrote
    result = attempt.unexpected(KeyError("boom"))
    assert (result.index, result.status) == (4, "failed")
    assert "Unexpected KeyError" in (result.error or "")
    assert "it was not written" in (result.error or "")


def test_an_attempt_that_sent_may_have_written_whatever_happened(
    mocker: requests_mock_module.Mocker,
) -> None:
    mocker.post(BASE_URL + VENDORS, status_code=500)
    attempt = Attempt(0, make_session())
    response = attempt.send("POST", VENDORS, {"name": "Acme", "city": "Malmö"})
    assert response.status_code == 500
    assert attempt.wrote
    request = mocker.last_request
    assert request is not None
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"name": "Acme", "city": "Malmö"}
    assert "it may or may not have been written" in (attempt.unexpected(RuntimeError()).error or "")


def test_attempts_do_not_share_what_they_sent(mocker: requests_mock_module.Mocker) -> None:
    mocker.post(BASE_URL + "/api/v2/purchase_order/close/7", status_code=200)
    session = make_session()
    first, second = Attempt(0, session), Attempt(1, session)
    first.send("POST", "/api/v2/purchase_order/close/7")
    assert first.wrote
    assert not second.wrote
    assert mocker.last_request is not None
    assert mocker.last_request.body is None  # an action sends no body


# ---------------------------------------------------------------------------------- Plan

CYCLIC: dict[str, Any] = {}
CYCLIC["self"] = CYCLIC


def test_a_plan_resolves_an_upsert_to_create_and_patch() -> None:
    upsert = plan({"resource": "vendors", "operation": "upsert"})
    assert upsert.upsert
    assert upsert.operation.name == "create"
    assert upsert.update is not None
    assert upsert.update.method == "PATCH"
    assert upsert.lookup_field == "external_id"


def test_a_plan_for_another_description_of_the_resource() -> None:
    vendors = catalogue().resources["vendors"]
    config = destination.parse_config({"resource": "vendors", "operation": "upsert"})
    without_patch = dataclasses.replace(
        vendors,
        operations=MappingProxyType(
            {name: op for name, op in vendors.operations.items() if name != "patch"}
        ),
    )
    resolved = destination.Plan.of(config, without_patch)
    assert resolved.update is not None
    assert resolved.update.method == "PUT"


def test_preparing_is_pure_and_says_what_to_send_and_where() -> None:
    update = plan({"resource": "vendors", "operation": "update"})
    prepared = update.prepare({"id": "42", **vendor("V-1")})
    assert prepared.target_id == 42
    assert "id" not in prepared.body  # the id goes into the path
    assert prepared.given == {k: v for k, v in prepared.body.items() if k not in prepared.defaulted}
    assert update.addressed({"id": 42}) == ("id", 42)
    assert update.addressed(["not", "a", "record"]) is None


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ([1, 2], "record"),
        (destination.UnreadableRecord("line 3 is not JSON"), "record"),
        ({"id": "../7", **vendor()}, "id"),
        ({"id": 1, **vendor(), "comments": CYCLIC}, "comments"),
    ],
)
def test_preparing_rejects_with_the_field_at_fault(record: object, field: str) -> None:
    update = plan({"resource": "vendors", "operation": "update"})
    with pytest.raises(RecordRejected) as raised:
        update.prepare(record)
    assert field in raised.value.details


# ------------------------------------------------------------------------------- Circuit


def test_a_rate_limit_stops_the_circuit_at_once() -> None:
    circuit = Circuit()
    circuit.note_failure(3, TransientError("Procurify is unavailable."))
    assert circuit.stopped is None
    circuit.note_failure(8, RateLimitError("Procurify kept answering 429."))
    assert circuit.stopped is not None
    assert "after record 8 failed" in circuit.stopped


def test_the_first_reason_to_stop_is_kept() -> None:
    circuit = Circuit()
    circuit.stop("The credential was refused.")
    circuit.note_failure(1, RateLimitError("Procurify kept answering 429."))
    assert circuit.stopped == "The credential was refused."
