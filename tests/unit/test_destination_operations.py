"""The write operations whose shapes differ from the rest, as Procurify's contract has them:
user invitations (a list in, a list out), requisitions (answered with a uuid only), vendors'
computed overall_score, user deactivation and the deprecated purchase-order revise."""

from __future__ import annotations

import dataclasses
import logging
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import requests_mock as requests_mock_module
from shared import BASE as BASE_URL
from unit.destination_helpers import VENDORS, FakeProcurify, make_session, run, vendor, writes
from unit.write_contract import purchase_order_update

from nexla_procurify import destination
from nexla_procurify.messages import WriteResult
from nexla_procurify.resources import catalogue

USERS = "/api/v3/users"
REQUISITIONS = "/api/v3/requisitions"
INVITE = {"resource": "users", "operation": "create", "concurrency": 1}
UUID = "0b9c6a8e-2f1d-4f7e-9a1b-5c3d2e1f0a9b"


def invitation(email: str = "ada@acme.test", **fields: Any) -> dict[str, Any]:
    return {"email": email, "first_name": "Ada", "last_name": "Lovelace", **fields}


def user(user_id: int, email: str = "ada@acme.test", **fields: Any) -> dict[str, Any]:
    """A user as Procurify lists it (profile fields in camelCase)."""
    return {
        "id": user_id,
        "user": user_id + 1000,
        "email": email,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "department": None,
        "approval_delegatee": {"email": email},
        **fields,
    }


def requisition() -> dict[str, Any]:
    return {
        "required_date": "2026-09-30",
        "location_name": "Head Office",
        "department_name": "Finance",
        "line_items": [
            {
                "item_name": "Paper",
                "vendor_name": "Northwind",
                "account_code": "6000",
                "unit_price": "4.50",
                "quantity": "10",
                "unit": "box",
                "currency_code": "USD",
                "custom_fields": [],
            }
        ],
    }


def searches(mocker: requests_mock_module.Mocker) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(call.url).query)
        for call in mocker.request_history
        if call.method == "GET" and urlsplit(call.url).path == USERS
    ]


# ---------------------------------------------------------------------------- invitations


def test_one_record_is_one_invitation_sent_as_a_list(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + USERS, status_code=201, json={"data": [user(31, "ada@acme.test")]}
    )
    [result] = run(INVITE, [invitation(role_id=2, locations=[{"id": 1}])])
    assert (result.status, result.id) == ("created", 31)
    sent = requests_mock.last_request
    assert sent is not None
    assert sent.json() == [invitation(role_id=2, locations=[{"id": 1}])]


def test_profile_field_names_are_not_invitation_fields(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    [result] = run(INVITE, [{"email": "ada@acme.test", "firstName": "Ada"}])
    assert result.status == "rejected"
    assert result.details == {"firstName": ("is not a field Procurify accepts here",)}
    assert writes(requests_mock) == []


@pytest.mark.parametrize(
    "answer",
    [
        {"data": []},
        {"data": [user(31), user(32, "b@x.test")]},
        {"data": {"id": 31}},
        {"data": [{"email": "ada@acme.test"}]},
    ],
)
def test_an_invitation_answer_without_exactly_one_user_is_confirmed_by_search(
    requests_mock: requests_mock_module.Mocker, answer: Any
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + USERS, status_code=201, json=answer)
    requests_mock.get(BASE_URL + USERS, json={"data": [user(31)], "metadata": {}})
    [result] = run(INVITE, [invitation()])
    assert (result.status, result.id) == ("created", 31)
    assert searches(requests_mock)[0]["search"] == ["ada@acme.test"]
    assert len(writes(requests_mock)) == 1


def test_an_uncertain_invitation_found_by_search_is_created_not_sent_again(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + USERS, status_code=502)
    # The search matches loosely; only the exact email counts.
    requests_mock.get(
        BASE_URL + USERS, json={"data": [user(30, "ada@acme.test.uk"), user(31)], "metadata": {}}
    )
    [result] = run(INVITE, [invitation()])
    assert (result.status, result.id) == ("created", 31)
    assert len(writes(requests_mock)) == 1


def test_an_uncertain_invitation_not_found_by_search_may_have_been_created(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    """A free-text search that finds nothing proves nothing (a pending invitation may not be
    listed): the invitation is never sent again."""
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + USERS, exc=requests.exceptions.ReadTimeout)
    requests_mock.get(BASE_URL + USERS, json={"data": [], "metadata": {}})
    [result] = run(INVITE, [invitation()])
    assert result.status == "failed"
    assert "may have been created" in (result.error or "")
    assert "does not prove" in (result.error or "")
    assert ".;" not in (result.error or "")
    assert len(writes(requests_mock)) == 1


def test_an_uncertain_invitation_finding_another_user_with_the_email_is_rejected(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + USERS, status_code=504)
    requests_mock.get(BASE_URL + USERS, json={"data": [user(9, firstName="Grace")], "metadata": {}})
    [result] = run(INVITE, [invitation()])
    assert result.status == "rejected"
    assert "(id 9)" in (result.error or "")
    assert len(writes(requests_mock)) == 1


# ---------------------------------------------------------------------------- requisitions


def test_a_requisition_is_created_with_its_uuid(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + REQUISITIONS, status_code=201, json={"data": {"uuid": UUID}, "metadata": {}}
    )
    [result] = run({"resource": "requisitions", "operation": "create"}, [requisition()])
    assert (result.status, result.id) == ("created", UUID)


@pytest.mark.parametrize(
    ("status", "answer"),
    [(201, {"data": {}}), (201, {"data": {"id": 4}}), (502, {"detail": "Bad gateway"})],
)
def test_a_requisition_without_its_uuid_may_have_been_created(
    requests_mock: requests_mock_module.Mocker, status: int, answer: Any
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + REQUISITIONS, status_code=status, json=answer)
    [result] = run({"resource": "requisitions", "operation": "create"}, [requisition()])
    assert result.status == "failed"
    assert "may have been created" in (result.error or "")
    assert len(writes(requests_mock)) == 1


# ---------------------------------------------------------------------------- overall_score


def test_overall_score_is_sent_as_given_or_null(fake: FakeProcurify) -> None:
    run(
        {"resource": "vendors", "operation": "create", "concurrency": 1},
        [vendor("V-1"), vendor("V-2", overall_score="4.5")],
    )
    sent = [
        call.json()
        for call in fake.mocker.request_history
        if call.method == "POST" and call.url.endswith(VENDORS)
    ]
    assert [body["overall_score"] for body in sent] == [None, "4.5"]


def test_overall_score_is_checked_against_procurify_pattern(fake: FakeProcurify) -> None:
    [result] = run(
        {"resource": "vendors", "operation": "create"}, [vendor("V-1", overall_score="123.4567")]
    )
    assert result.status == "rejected"
    assert "overall_score" in result.details


def test_update_sends_null_overall_score_but_patch_sends_only_the_fields_given(
    fake: FakeProcurify,
) -> None:
    [created] = run({"resource": "vendors", "operation": "create"}, [vendor("V-1")])
    run({"resource": "vendors", "operation": "update"}, [{"id": created.id, **vendor("V-1")}])
    run({"resource": "vendors", "operation": "patch"}, [{"id": created.id, "city": "Oslo"}])
    put, patch = [
        call.json() for call in fake.mocker.request_history if call.method in ("PUT", "PATCH")
    ]
    assert put["overall_score"] is None
    assert patch == {"city": "Oslo"}


def test_an_upsert_never_patches_or_compares_the_computed_score(fake: FakeProcurify) -> None:
    upsert = {"resource": "vendors", "operation": "upsert", "concurrency": 1}
    [created] = run(upsert, [vendor("V-1")])
    fake.stores[VENDORS][created.id]["overall_score"] = "4.250"  # Procurify computed it
    again, changed = run(upsert, [vendor("V-1"), vendor("V-1", city="Oslo")])
    assert (again.status, changed.status) == ("unchanged", "updated")
    [patch] = [call.json() for call in fake.mocker.request_history if call.method == "PATCH"]
    assert "overall_score" not in patch


# ---------------------------------------------------------------------------- deactivation


def test_deactivate_deletes_the_user_without_a_body(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.delete(BASE_URL + USERS + "/7", status_code=204)
    results = run({"resource": "users", "operation": "deactivate"}, [{"id": 7}, {"email": "x"}])
    assert [(r.status, r.id) for r in results] == [("updated", 7), ("rejected", None)]
    assert "id" in results[1].details
    [call] = [c for c in requests_mock.request_history if c.method == "DELETE"]
    assert call.body is None


def test_an_id_given_as_digits_comes_back_as_procurifys_number(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.delete(BASE_URL + USERS + "/302", status_code=204)
    [result] = run({"resource": "users", "operation": "deactivate"}, [{"id": "302"}])
    assert (result.status, result.id) == ("updated", 302)


def test_a_deactivation_that_may_have_taken_effect_says_so(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.delete(BASE_URL + USERS + "/7", status_code=502)
    [result] = run({"resource": "users", "operation": "deactivate"}, [{"id": 7}])
    assert result.status == "failed"
    assert "may have carried out the request to deactivate" in (result.error or "")
    assert "check the users record" in (result.error or "")


def test_a_dry_run_deactivation_sends_nothing(requests_mock: requests_mock_module.Mocker) -> None:
    FakeProcurify(requests_mock)
    [result] = run({"resource": "users", "operation": "deactivate", "dry_run": True}, [{"id": 7}])
    assert (result.status, result.id) == ("validated", 7)
    assert not [c for c in requests_mock.request_history if c.method == "DELETE"]


# ---------------------------------------------------------------------------- revise


def test_revise_puts_to_procurify_older_path_and_warns_it_is_deprecated(
    requests_mock: requests_mock_module.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    FakeProcurify(requests_mock)
    path = "/api/v2/purchase_order/revise/1042"
    requests_mock.put(BASE_URL + path, json={"data": {"uuid": UUID}})
    with caplog.at_level(logging.WARNING, logger="nexla_procurify.destination"):
        [result] = run(
            {"resource": "purchase_orders", "operation": "revise"},
            [{"procurify_PO": 1042, **purchase_order_update()}],
        )
    assert (result.status, result.id) == ("updated", 1042)
    assert writes(requests_mock) == [("PUT", path)]
    assert requests_mock.last_request is not None
    assert "procurify_PO" not in (requests_mock.last_request.json())
    assert "prefer operation 'update'" in caplog.text


def test_an_upsert_that_must_put_sends_the_computed_field_too(fake: FakeProcurify) -> None:
    """Without PATCH, an upsert replaces the found record: PUT needs every required field,
    the computed one included."""
    vendors = catalogue().resources["vendors"]
    without_patch = dataclasses.replace(
        vendors,
        operations=MappingProxyType(
            {name: op for name, op in vendors.operations.items() if name != "patch"}
        ),
    )
    upsert = destination.parse_config(
        {"resource": "vendors", "operation": "upsert", "concurrency": 1}
    )
    plan = destination.Plan.of(upsert, without_patch)
    assert plan.update is not None
    assert plan.update.method == "PUT"

    def run_planned(records: list[dict[str, Any]]) -> list[WriteResult]:
        return list(destination.write_planned(make_session(), plan, records, sleep=lambda _: None))

    [created] = run_planned([vendor("V-1")])
    [changed] = run_planned([vendor("V-1", city="Oslo")])
    assert (created.status, changed.status) == ("created", "updated")
    [put] = [call.json() for call in fake.mocker.request_history if call.method == "PUT"]
    assert put["overall_score"] is None
    assert put["city"] == "Oslo"


# ---------------------------------------------------------------------------- messages


def test_a_decimal_with_too_many_places_says_how_many_are_allowed(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    record = requisition()
    record["line_items"][0]["quantity"] = "10.123456"  # Procurify takes 5 decimal places
    [result] = run({"resource": "requisitions", "operation": "create"}, [record])
    assert result.status == "rejected"
    assert result.details == {
        "line_items.0.quantity": (
            "must be a decimal number written as text, with at most 10 digits before the point "
            "and 5 after",
        )
    }


def test_a_long_list_of_choices_is_counted_not_spelled_out(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    address = {
        "name": "HQ",
        "addressLineOne": "1 Main St",
        "city": "Oslo",
        "postalCode": "0150",
        "country": "Norway",
    }
    location = {
        "name": "Oslo",
        "currency": "NOK",
        "phoneOne": "22000000",
        "primary_billing_address": address,
        "primary_shipping_address": address,
        "shipping_addresses": [],
        "locationTimezone": "Mars/Olympus_Mons",
    }
    [result] = run({"resource": "locations", "operation": "create"}, [location])
    assert result.status == "rejected"
    [message] = result.details["locationTimezone"]
    assert message.startswith('must be one of 439 accepted values (such as "Africa/Abidjan"')
    assert message.endswith(', ...) or one of "" or null')
    assert len(result.error or "") < 500


def test_procurify_field_errors_for_the_invitation_list_name_the_record_fields(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + USERS,
        status_code=400,
        json=[{"email": ["User with this email already exists."]}],
    )
    [result] = run(INVITE, [invitation()])
    assert result.status == "rejected"
    assert result.details == {"email": ("User with this email already exists.",)}
    assert "email: User with this email already exists." in (result.error or "")
    assert "0.email" not in (result.error or "")
