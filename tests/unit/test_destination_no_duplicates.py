"""Writing with requests-mock, no duplicate creations: a POST whose outcome is unknown is
looked up before it is sent again, and its answers are confirmed."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import requests
import requests_mock as requests_mock_module
from shared import BASE as BASE_URL
from unit.destination_helpers import (
    CREATE,
    VENDORS,
    FakeProcurify,
    paged_lookup,
    run,
    vendor,
    writes,
)

from nexla_procurify import destination, http
from nexla_procurify.destination import create, operations

DEPARTMENT_CREATE = {"resource": "departments", "operation": "create"}
FINANCE = {"branch": 1, "name": "Finance"}
ALREADY_EXISTS = {"external_id": ["vendor with this external id already exists."]}


def lost_then_refused(mocker: requests_mock_module.Mocker, refusal: dict[str, Any]) -> None:
    """A fake Procurify whose first vendor POST loses its answer (502) and whose second is
    refused with 400 ``refusal``."""
    FakeProcurify(mocker)
    mocker.post(
        BASE_URL + VENDORS,
        [
            {"status_code": 502, "json": {"detail": "Bad gateway"}},
            {"status_code": 400, "json": refusal},
        ],
    )


def found_by_the_second_check(mocker: requests_mock_module.Mocker, record: dict[str, Any]) -> None:
    """Vendor lookups that find nothing for as long as the first check looks, then ``record``."""
    pagination = {"count": 0, "num_pages": 1}
    mocker.get(
        BASE_URL + VENDORS,
        [
            *[{"json": {"data": [], "metadata": {"pagination": pagination}}}]
            * len(destination.LOOKUP_PAUSES),
            {"json": {"data": [record], "metadata": {"pagination": {**pagination, "count": 1}}}},
        ],
    )


# ------------------------------------------------------------------- no duplicate creations


@pytest.mark.parametrize("status", [500, 502, 504])
def test_an_uncertain_post_that_took_effect_is_found_not_repeated(
    fake: FakeProcurify, status: int
) -> None:
    fake.post_faults.append((True, status))
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "created"
    assert len(fake.records()) == 1
    assert result.id == fake.records()[0]["id"]
    assert writes(fake.mocker) == [("POST", VENDORS)]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_an_uncertain_post_that_did_not_take_effect_is_sent_again(
    fake: FakeProcurify, status: int
) -> None:
    fake.post_faults.append((False, status))
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "created"
    assert len(fake.records()) == 1
    assert writes(fake.mocker) == [("POST", VENDORS), ("POST", VENDORS)]


@pytest.mark.parametrize(
    "exception", [requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError]
)
def test_a_dropped_or_timed_out_post_is_looked_up(
    fake: FakeProcurify, exception: type[Exception]
) -> None:
    fake.post_faults.append((True, exception))
    [result] = run(CREATE, [vendor("V-1")])
    assert (result.status, result.id) == ("created", fake.records()[0]["id"])
    assert len(fake.records()) == 1
    assert len(writes(fake.mocker)) == 1


def test_creation_gives_up_after_bounded_attempts(fake: FakeProcurify) -> None:
    fake.post_faults.extend([(False, 502)] * 5)
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "failed"
    assert "after 3 attempts" in (result.error or "")
    assert "it was not created" in (result.error or "")
    assert len(writes(fake.mocker)) == destination.MAX_CREATE_ATTEMPTS
    assert fake.records() == []


def test_a_resent_post_refused_as_duplicate_is_found_and_reported_created(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    """The first POST committed but its answer was lost and the lookup did not see it yet;
    the re-sent POST is refused as a duplicate: the record exists, it was created once."""
    lost_then_refused(requests_mock, ALREADY_EXISTS)
    found_by_the_second_check(requests_mock, {"id": 41, **vendor("V-1")})
    [result] = run(CREATE, [vendor("V-1")])
    assert (result.status, result.id, result.error) == ("created", 41, None)
    assert writes(requests_mock) == [("POST", VENDORS), ("POST", VENDORS)]


def test_a_first_post_refused_with_400_is_rejected_without_lookup(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + VENDORS,
        status_code=400,
        json=ALREADY_EXISTS,
    )
    lookups = requests_mock.get(BASE_URL + VENDORS, json={"data": [{"id": 41, **vendor("V-1")}]})
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "rejected"
    assert "external_id" in result.details
    assert lookups.call_count == 0


def test_a_resent_post_refused_and_still_not_found_stays_rejected(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    lost_then_refused(requests_mock, {"name": ["This field is required."]})
    requests_mock.get(BASE_URL + VENDORS, json={"data": []})
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "rejected"
    assert "name" in result.details


def test_the_creation_check_reads_every_page_of_the_lookup(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + VENDORS, status_code=502, json={"detail": "Bad gateway"})
    requests_mock.get(BASE_URL + VENDORS, json=paged_lookup("V-1", found_id=77))
    [result] = run(CREATE, [vendor("V-1")])
    assert (result.status, result.id) == ("created", 77)
    assert writes(requests_mock) == [("POST", VENDORS)]


def test_payment_method_creates_report_the_id_of_the_bare_record(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    """Payment-method creates answer the bare record; its own ``data`` holds payment details."""
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + "/api/v2/ap/company-payment-methods",
        status_code=201,
        json={"data": {"payable_to": "Acme", "id": "acct-9"}, "id": 6, "name": "Wire", "type": 1},
    )
    requests_mock.post(
        BASE_URL + "/api/v2/ap/vendor-payment-methods",
        status_code=201,
        json={"data": {"payable_to": "Acme"}, "id": 8, "vendor": 3},
    )
    [company] = run(
        {"resource": "company_payment_methods", "operation": "create"},
        [{"data": {"payable_to": "Acme", "id": "acct-9"}, "name": "Wire"}],
    )
    [vendor_method] = run(
        {"resource": "vendor_payment_methods", "operation": "create"},
        [{"vendor": 3, "data": {"payable_to": "Acme"}}],
    )
    assert (company.status, company.id) == ("created", 6)
    assert (vendor_method.status, vendor_method.id) == ("created", 8)


def test_an_enveloped_create_answer_still_gives_the_record_id(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + "/api/v3/departments",
        status_code=201,
        json={"data": {"id": 12, "name": "Finance"}, "metadata": {}},
    )
    [result] = run(DEPARTMENT_CREATE, [FINANCE])
    assert (result.status, result.id) == ("created", 12)


@pytest.mark.parametrize("module", [create, operations])
def test_post_outcome_policy_comes_from_the_http_module(module: ModuleType) -> None:
    assert not hasattr(module, "_outcome_unknown")
    assert vars(module)["post_outcome_unknown"] is http.post_outcome_unknown


def test_without_a_lookup_an_uncertain_post_fails_and_is_not_repeated(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    fake = FakeProcurify(requests_mock).serve("/api/v3/departments")
    fake.post_faults.append((True, 502))
    [result] = run(DEPARTMENT_CREATE, [FINANCE])
    assert result.status == "failed"
    assert "may have been created in Procurify" in (result.error or "")
    assert len(writes(requests_mock)) == 1


def test_a_record_without_its_lookup_key_fails_after_an_uncertain_post(
    fake: FakeProcurify,
) -> None:
    fake.post_faults.append((True, requests.exceptions.ReadTimeout))
    [result] = run(CREATE, [vendor()])
    assert result.status == "failed"
    assert "may have been created in Procurify" in (result.error or "")
    assert len(writes(fake.mocker)) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_a_post_surely_not_applied_is_retried_by_the_policy(
    fake: FakeProcurify, status: int
) -> None:
    fake.post_faults.append((False, status))
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "created"
    assert len(writes(fake.mocker)) == 2
    assert len(fake.records()) == 1


def test_a_refused_connection_fails_without_lookup(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + VENDORS, exc=requests.exceptions.ConnectTimeout)
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "failed"
    assert "Could not connect" in (result.error or "")
    assert not [c for c in requests_mock.request_history if c.method == "GET"]


@pytest.mark.parametrize("fault", [502, requests.exceptions.ReadTimeout])
def test_an_uncertain_post_finding_another_record_with_its_key_is_rejected(
    fake: FakeProcurify, fault: int | type[Exception]
) -> None:
    """The key already belonged to an older record (Procurify would refuse the POST as a
    duplicate): finding that record proves nothing was created, and nothing is re-sent."""
    fake.stores[VENDORS][41] = {"id": 41, **vendor("V-1", name="Older vendor")}
    fake.post_faults.append((False, fault))
    [result] = run(CREATE, [vendor("V-1", name="New vendor")])
    assert (result.status, result.id) == ("rejected", None)
    assert "already exists in Procurify (id 41)" in (result.error or "")
    assert result.details == {"external_id": ("already belongs to the Vendors record 41",)}
    assert writes(fake.mocker) == [("POST", VENDORS)]
    assert fake.stores[VENDORS][41]["name"] == "Older vendor"


def test_a_resent_post_refused_finding_another_record_is_rejected_as_existing(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    lost_then_refused(requests_mock, ALREADY_EXISTS)
    found_by_the_second_check(requests_mock, {"id": 41, **vendor("V-1", name="Someone else")})
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "rejected"
    assert "already exists in Procurify (id 41)" in (result.error or "")


@pytest.mark.parametrize("commit", [True, False])
def test_a_success_without_the_created_record_is_confirmed_by_lookup(
    fake: FakeProcurify, commit: bool
) -> None:
    """A 200 whose body holds no record id: found as sent is created (with the id); not found
    is failed as "may have been created", and never sent again."""
    fake.post_faults.append((commit, 200))
    [result] = run(CREATE, [vendor("V-1")])
    if commit:
        assert (result.status, result.id) == ("created", fake.records()[0]["id"])
    else:
        assert result.status == "failed"
        assert "may have been created in Procurify" in (result.error or "")
        assert "HTTP 200 without the created record" in (result.error or "")
    assert writes(fake.mocker) == [("POST", VENDORS)]


def test_a_success_that_is_not_json_without_a_lookup_is_failed(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + "/api/v3/departments", status_code=200, text="<html>maintenance</html>"
    )
    [result] = run(DEPARTMENT_CREATE, [FINANCE])
    assert (result.status, result.id) == ("failed", None)
    assert "may have been created in Procurify" in (result.error or "")
    assert len(writes(requests_mock)) == 1


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirected_post_is_failed_not_created(
    requests_mock: requests_mock_module.Mocker, status: int
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + "/api/v3/departments",
        status_code=status,
        headers={"Location": "https://elsewhere.example/api/v3/departments"},
    )
    [result] = run(DEPARTMENT_CREATE, [FINANCE])
    assert (result.status, result.id) == ("failed", None)
    assert "redirected the request to create a Departments record" in (result.error or "")
    assert f"HTTP {status}" in (result.error or "")
    assert all("elsewhere" not in call.url for call in requests_mock.request_history)
