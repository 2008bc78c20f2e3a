"""Writing with requests-mock, creating: the record sent, local validation, Procurify's
rejections and the errors that fail a record or the run."""

from __future__ import annotations

import json

import pytest
import requests_mock as requests_mock_module
from shared import BASE as BASE_URL
from unit.destination_helpers import (
    ACCESS_TOKEN,
    CREATE,
    TOKEN_PATH,
    VENDORS,
    FakeProcurify,
    run,
    vendor,
    writes,
)

# ------------------------------------------------------------------------------------ create


def test_create_reports_procurify_id_and_sends_the_record(fake: FakeProcurify) -> None:
    results = run(CREATE, [vendor("V-1"), vendor("V-2", name="Beta")])
    assert [(r.index, r.status) for r in results] == [(0, "created"), (1, "created")]
    # With concurrency the two POSTs may reach Procurify in either order: match by key.
    ids = {rec["external_id"]: rec["id"] for rec in fake.records()}
    assert [r.id for r in results] == [ids["V-1"], ids["V-2"]]
    assert results[0].error is None
    sent = sorted(
        (c for c in fake.mocker.request_history if c.method == "POST" and c.url.endswith(VENDORS)),
        key=lambda call: call.json()["external_id"],
    )
    # overall_score is required (nullable) by Procurify, which computes it: sent as null.
    assert sent[0].json() == {**vendor("V-1"), "overall_score": None}
    assert sent[0].headers["Content-Type"] == "application/json"
    assert sent[0].headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_invalid_records_are_rejected_locally_and_the_others_go_on(fake: FakeProcurify) -> None:
    records = [
        vendor("V-1"),
        {"email": "ap@acme.test", "type": 9},
        ["not", "an", "object"],
        vendor("V-2", active="yes"),
        vendor("V-3"),
    ]
    results = run({**CREATE, "concurrency": 3}, records)
    assert [r.status for r in results] == ["created", "rejected", "rejected", "rejected", "created"]
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    missing = results[1]
    assert dict(missing.details) == {
        "name": ("is required",),
        "email": ("must be a list",),
        "type": ("must be one of 2, 7, 3, 4, 6",),
    }
    assert "name is required" in (missing.error or "")
    assert "email must be a list" in (missing.error or "")
    assert results[2].error == "The record must be a JSON object, not a list."
    assert results[3].details == {"active": ("must be true or false",)}
    assert len(writes(fake.mocker)) == 2


def test_rejections_echo_no_value(fake: FakeProcurify) -> None:
    huge = "S3CRET" * 5000
    [result] = run(CREATE, [vendor(email=huge, fax=["x"], type="supplier")])
    assert result.status == "rejected"
    assert "S3CRET" not in json.dumps(result.to_dict())
    assert set(result.details) == {"email", "fax", "type"}


def test_a_record_that_is_not_json_is_rejected(fake: FakeProcurify) -> None:
    # A payment method's ``data`` is an open object: only the JSON check can refuse these.
    [nan, obj] = run(
        {"resource": "company_payment_methods", "operation": "create"},
        [{"data": {"score": float("nan")}}, {"data": {"extra": object()}}],
    )
    assert nan.status == obj.status == "rejected"
    assert "cannot be sent as JSON" in (nan.error or "")
    assert writes(fake.mocker) == []


def test_procurify_400_is_rejected_with_its_field_messages(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + VENDORS,
        status_code=400,
        json={"external_id": ["Vendor with this external id already exists."]},
    )
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "rejected"
    assert result.details == {"external_id": ("Vendor with this external id already exists.",)}
    assert "external_id: Vendor with this external id already exists." in (result.error or "")


@pytest.mark.parametrize(
    ("status", "fragment"),
    [(403, "not allowed"), (404, "Not found"), (401, "refused the access token")],
)
def test_permission_address_and_token_errors_fail(
    requests_mock: requests_mock_module.Mocker, status: int, fragment: str
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + VENDORS, status_code=status, json={"detail": "no"})
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "failed"
    assert fragment in (result.error or "")


def test_a_refused_credential_fails_the_rest_without_calling_again(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    requests_mock.post(BASE_URL + TOKEN_PATH, status_code=401, json={"error": "access_denied"})
    results = run({**CREATE, "concurrency": 1}, [vendor("V-1"), vendor("V-2"), vendor("V-3")])
    assert [r.status for r in results] == ["failed"] * 3
    assert "rejected the Client ID or Client Secret" in (results[2].error or "")
    assert requests_mock.call_count == 1
