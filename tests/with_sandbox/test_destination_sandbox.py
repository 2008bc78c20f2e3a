"""Writing against the embedded sandbox: every resource and operation end to end."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from with_sandbox.writing import open_session, requisition, stored, unique, vendor, write

from nexla_procurify import resources
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.sandbox import Sandbox


@pytest.fixture
def session(sandbox: Sandbox) -> Iterator[ProcurifySession]:
    # No skip: a broken sandbox write path must fail these tests, not hide them.
    with open_session(sandbox) as opened:
        yield opened


def built_on_the_catalogue() -> bool:
    """Whether the sandbox still serves the connector's own catalogue (``connector.json``)
    instead of Procurify's contract. That older sandbox cannot take a list body (user
    invitations) nor answer a requisition's ``uuid``, so only with it do the tests of those
    answers skip; the contract-built sandbox imports nothing of the catalogue and runs them."""
    try:
        api = importlib.import_module("nexla_procurify.sandbox.api")
    except ImportError:
        return False
    return getattr(api, "Resource", None) is resources.Resource


CATALOGUE_SANDBOX = pytest.mark.skipif(
    built_on_the_catalogue(),
    reason="this sandbox serves connector.json, not Procurify's contract, for this answer",
)


def invitation() -> dict[str, Any]:
    return {"email": f"{unique('user')}@acme.test", "first_name": "Ada", "last_name": "Lovelace"}


def first_id(sandbox: Sandbox, resource: str, field: str = "id") -> Any:
    records = stored(sandbox, resource)
    assert records, f"the sandbox should hold seeded {resource}"
    return records[0][field]


CREATES: dict[str, Any] = {
    "vendors": lambda: vendor(unique("EXT")),
    "account_codes": lambda: {"code": unique("6"), "description": "Travel"},
    "catalog_items": lambda: {"name": unique("Item"), "currency": 1, "custom_fields": []},
}


@pytest.mark.parametrize("resource", sorted(CREATES))
def test_create_then_update(sandbox: Sandbox, session: ProcurifySession, resource: str) -> None:
    record = CREATES[resource]()
    [created] = write(session, {"resource": resource, "operation": "create"}, [record])
    assert created.status == "created", created.error
    assert created.id is not None
    changed = {**record, "id": created.id}
    changed_field = next(name for name in ("name", "description") if name in record)
    changed[changed_field] = "Renamed"
    [updated] = write(session, {"resource": resource, "operation": "update"}, [changed])
    assert (updated.status, updated.id) == ("updated", created.id), updated.error
    [found] = [r for r in stored(sandbox, resource) if r["id"] == created.id]
    assert found[changed_field] == "Renamed"


def test_department_create_and_update(sandbox: Sandbox, session: ProcurifySession) -> None:
    branch = first_id(sandbox, "locations")
    record = {"branch": branch, "name": unique("Dept")}
    [created] = write(session, {"resource": "departments", "operation": "create"}, [record])
    assert created.status == "created", created.error
    [updated] = write(
        session,
        {"resource": "departments", "operation": "update"},
        [{**record, "id": created.id, "name": "Finance"}],
    )
    assert updated.status == "updated", updated.error


def address(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "addressLineOne": "1 Main Street",
        "city": "Vancouver",
        "postalCode": "V6B 1A1",
        "country": "Canada",
    }


def test_location_create(sandbox: Sandbox, session: ProcurifySession) -> None:
    name = unique("Office")
    record = {
        "name": name,
        "currency": "CAD",
        "phoneOne": "+1-604-555-0100",
        "primary_billing_address": address("Billing"),
        "primary_shipping_address": address("Shipping"),
        "shipping_addresses": [address("Dock")],
    }
    [created] = write(session, {"resource": "locations", "operation": "create"}, [record])
    assert created.status == "created", created.error
    [found] = [r for r in stored(sandbox, "locations") if r["name"] == name]
    assert created.id == found["id"]


@pytest.mark.parametrize("resource", ["company_payment_methods", "vendor_payment_methods"])
def test_payment_method_create_reports_the_real_id(
    sandbox: Sandbox, session: ProcurifySession, resource: str
) -> None:
    """These creates answer the bare record, whose own ``data`` is the payment details."""
    name = unique("Wire")
    record: dict[str, Any] = {
        "data": {"payable_to": "Acme Supplies", "account": "12-345"},
        "name": name,
        "type": 2,
        "currency": 1,
    }
    if resource == "vendor_payment_methods":
        record["vendor"] = first_id(sandbox, "vendors")
    before = {r["id"] for r in stored(sandbox, resource)}
    [created] = write(session, {"resource": resource, "operation": "create"}, [record])
    assert created.status == "created", created.error
    [found] = [r for r in stored(sandbox, resource) if r["id"] not in before]
    assert found["name"] == name
    assert created.id == found["id"]
    assert isinstance(created.id, int)


@CATALOGUE_SANDBOX
def test_requisition_create_reports_its_uuid(sandbox: Sandbox, session: ProcurifySession) -> None:
    created_before = sandbox.created("requisitions")
    [created] = write(session, {"resource": "requisitions", "operation": "create"}, [requisition()])
    assert created.status == "created", created.error
    assert isinstance(created.id, str)
    assert sandbox.created("requisitions") == created_before + 1
    assert created.id in {r.get("uuid") for r in stored(sandbox, "requisitions")}


def test_requisition_create_refused_by_procurify_is_rejected(session: ProcurifySession) -> None:
    [result] = write(
        session,
        {"resource": "requisitions", "operation": "create"},
        [
            {
                "required_date": "30/09/2026",
                "location_name": "Head Office",
                "department_name": "Finance",
                "line_items": [],
            }
        ],
    )
    assert result.status == "rejected"
    assert "required_date" in result.details


def test_custom_field_update(sandbox: Sandbox, session: ProcurifySession) -> None:
    field_id = first_id(sandbox, "custom_fields")
    record = {
        "id": field_id,
        "name": "Cost centre",
        "field_type": "t",
        "default_value": "CC-1",
        "is_required": False,
    }
    [updated] = write(session, {"resource": "custom_fields", "operation": "update"}, [record])
    assert (updated.status, updated.id) == ("updated", field_id), updated.error
    found = sandbox.record("custom_fields", field_id)
    assert found is not None
    assert (found["name"], found["default_value"], found["is_required"]) == (
        "Cost centre",
        "CC-1",
        False,
    )
    assert len(sandbox.requests_to(f"/api/v3/custom-fields/{field_id}", method="PUT")) == 1


def purchase_order_update(procurify_po: int, version: int) -> dict[str, Any]:
    """A body valid against schemas/requests/purchase_orders.update.json."""
    side = {
        "name": "Northwind Paper Corp.",
        "contact": "Ava Smith",
        "addressLineOne": "1 Main Street",
        "postalCode": "V6B 1A1",
        "city": "Vancouver",
        "country": "Canada",
        "address": 1,
    }
    record: dict[str, Any] = {
        "procurify_PO": procurify_po,
        "version": version,
        "order_items": [
            {
                "id": 1,
                "name": "Paper",
                "unit": "box",
                "quantity": "10",
                "price": "4.50",
                "custom_fields": [],
            }
        ],
        "promise_date": "2026-09-30T12:00:00Z",
        "discount": {},
        "tax": {},
        "comment": "Deliver to the loading dock",
    }
    for role in ("buyer", "receiver"):
        record.update({f"{role}_{name}": value for name, value in side.items()})
    return record


@pytest.mark.parametrize(
    ("operation", "path"),
    [
        ("update", "/api/v3/purchase-orders/{}"),
        ("revise", "/api/v2/purchase_order/revise/{}"),  # deprecated by Procurify, still served
    ],
)
def test_purchase_order_update(
    sandbox: Sandbox, session: ProcurifySession, operation: str, path: str
) -> None:
    [current] = stored(sandbox, "purchase_orders")[:1]
    procurify_po = current["procurify_PO"]
    record = purchase_order_update(procurify_po, current["version"])
    [updated] = write(session, {"resource": "purchase_orders", "operation": operation}, [record])
    assert (updated.status, updated.id) == ("updated", procurify_po), updated.error
    assert len(sandbox.requests_to(path.format(procurify_po), method="PUT")) == 1
    [found] = [r for r in stored(sandbox, "purchase_orders") if r["procurify_PO"] == procurify_po]
    assert (found["comment"], found["buyer_city"]) == ("Deliver to the loading dock", "Vancouver")


@CATALOGUE_SANDBOX
def test_a_user_invitation_then_update_report_the_same_id(
    sandbox: Sandbox, session: ProcurifySession
) -> None:
    record = {**invitation(), "first_name": "Grace", "last_name": "Hopper"}
    posts_before = len(sandbox.requests_to("/api/v3/users", method="POST"))
    [created] = write(session, {"resource": "users", "operation": "create"}, [record])
    assert created.status == "created", created.error
    assert len(sandbox.requests_to("/api/v3/users", method="POST")) == posts_before + 1
    profile = {
        "id": created.id,
        "email": record["email"],
        "firstName": "Grace",
        "lastName": "Hopper",
        "location": None,
        "department": None,
        "position": "Rear Admiral",
    }
    [updated] = write(session, {"resource": "users", "operation": "update"}, [profile])
    assert (updated.status, updated.id) == ("updated", created.id), updated.error
    found = sandbox.record("users", created.id)
    assert found is not None
    assert (found["email"], found["position"]) == (record["email"], "Rear Admiral")


def test_a_user_is_deactivated(sandbox: Sandbox, session: ProcurifySession) -> None:
    user_id = first_id(sandbox, "users")
    [result] = write(session, {"resource": "users", "operation": "deactivate"}, [{"id": user_id}])
    assert (result.status, result.id) == ("updated", user_id), result.error
    assert len(sandbox.requests_to(f"/api/v3/users/{user_id}", method="DELETE")) == 1


def test_vendor_patch_changes_only_the_fields_sent(
    sandbox: Sandbox, session: ProcurifySession
) -> None:
    record = vendor(unique("EXT"))
    [created] = write(session, {"resource": "vendors", "operation": "create"}, [record])
    [patched] = write(
        session,
        {"resource": "vendors", "operation": "patch"},
        [{"id": created.id, "city": "Vancouver"}],
    )
    assert patched.status == "updated", patched.error
    [found] = [r for r in stored(sandbox, "vendors") if r["id"] == created.id]
    assert (found["city"], found["name"]) == ("Vancouver", record["name"])


def test_update_of_an_unknown_id_fails(session: ProcurifySession) -> None:
    [result] = write(
        session, {"resource": "vendors", "operation": "update"}, [{"id": 987654321, **vendor()}]
    )
    assert result.status == "failed"
    assert "Not found" in (result.error or "")


def test_procurify_field_errors_are_rejections(session: ProcurifySession) -> None:
    key = unique("EXT")
    results = write(
        session,
        {"resource": "vendors", "operation": "create", "concurrency": 1},
        [vendor(key), vendor(key)],
    )
    assert [r.status for r in results] == ["created", "rejected"]
    assert "external_id" in results[1].details


@pytest.mark.parametrize("resource_key", [("vendors", "external_id"), ("account_codes", "code")])
def test_upsert_twice_creates_once(
    sandbox: Sandbox, session: ProcurifySession, resource_key: tuple[str, str]
) -> None:
    resource, key = resource_key
    record = CREATES[resource]()
    config = {"resource": resource, "operation": "upsert", "key": key}
    [first] = write(session, config, [record])
    [second] = write(session, config, [record])
    [third] = write(
        session,
        config,
        [
            {**record, "description": "Changed"}
            if resource == "account_codes"
            else {**record, "city": "Paris"}
        ],
    )
    assert (first.status, second.status, third.status) == ("created", "unchanged", "updated")
    assert first.id == second.id == third.id
    assert sum(1 for r in stored(sandbox, resource) if r.get(key) == record[key]) == 1


def test_dry_run_writes_nothing(sandbox: Sandbox, session: ProcurifySession) -> None:
    before = len(stored(sandbox, "vendors"))
    results = write(
        session,
        {"resource": "vendors", "operation": "upsert", "dry_run": True},
        [vendor(unique("EXT")), vendor(unique("EXT"))],
    )
    assert [r.status for r in results] == ["validated", "validated"]
    assert len(stored(sandbox, "vendors")) == before
    assert not [r for r in sandbox.requests if r.method in ("PUT", "PATCH")]


@pytest.mark.parametrize("action", ["close", "reopen"])
def test_purchase_order_actions(sandbox: Sandbox, session: ProcurifySession, action: str) -> None:
    purchase_order = first_id(sandbox, "purchase_orders", "procurify_PO")
    [result] = write(
        session,
        {"resource": "purchase_orders", "operation": action},
        [{"procurify_PO": purchase_order}],
    )
    assert (result.status, result.id) == ("updated", purchase_order), result.error
    assert (
        len(
            sandbox.requests_to(f"/api/v3/purchase-orders/{purchase_order}/{action}", method="POST")
        )
        == 1
    )


def test_close_then_reopen_a_purchase_order(sandbox: Sandbox, session: ProcurifySession) -> None:
    purchase_order = first_id(sandbox, "purchase_orders", "procurify_PO")
    for action in ("close", "reopen"):
        [result] = write(
            session,
            {"resource": "purchase_orders", "operation": action},
            [{"procurify_PO": purchase_order}],
        )
        assert result.status == "updated", result.error
