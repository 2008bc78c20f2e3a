"""Write conformance: every request the connector sends, for every write operation of every
writable resource, is checked against Procurify's contract (``contract/procurify.json``):
the operation exists, its path and query parameters are documented and valid, and its body
is valid against the contract's request schema with no field the contract does not declare.
Procurify's answers are made from the contract's response schemas (never from ours), so the
results also show that the connector reads each answer as Procurify shapes it.

Records are drawn by hypothesis from the shipped request schemas (``schemas/requests``): a
record the connector accepts must make a request Procurify accepts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
import requests_mock as requests_mock_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared import BASE as BASE_URL
from unit.write_contract import (
    FOUND_ID,
    Procurify,
    assert_conforms,
    expected_id,
    problems,
    record_strategy,
    run,
    valid_record,
)

from nexla_procurify import plugin
from nexla_procurify.resources import catalogue
from nexla_procurify.sandbox.contract import contract

WRITES = [
    (resource.name, name)
    for resource in catalogue().resources.values()
    if "destination" in resource.modes
    for name in resource.write_operations
]


# ------------------------------------------------------------------------- the tests


@pytest.mark.parametrize(("resource_name", "operation_name"), WRITES)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
@given(data=st.data())
def test_every_write_sends_what_the_contract_documents(
    resource_name: str, operation_name: str, data: st.DataObject
) -> None:
    resource = catalogue().resources[resource_name]
    record = data.draw(record_strategy(resource, operation_name), label="record")
    config = {"resource": resource_name, "operation": operation_name}
    with requests_mock_module.Mocker() as mocker:
        procurify = Procurify(mocker)
        [result] = run(config, [record], via=plugin.write_destination)
        assert_conforms(procurify)
    wanted = "created" if operation_name in ("create", "upsert") else "updated"
    assert (result.status, result.id) == (wanted, expected_id(resource, operation_name, record)), (
        result
    )


UPSERTS = [(name, op) for name, op in WRITES if op == "upsert"]


@pytest.mark.parametrize(("resource_name", "operation_name"), UPSERTS)
def test_an_upsert_that_finds_its_record_changes_it_as_the_contract_documents(
    resource_name: str, operation_name: str
) -> None:
    resource = catalogue().resources[resource_name]
    key = resource.upsert_key
    assert key is not None
    record = {**valid_record(resource, "create"), key: "K-1"}
    changed = next(name for name in ("name", "description") if name in record)
    record[changed] = "Changed by the upsert"
    with requests_mock_module.Mocker() as mocker:
        procurify = Procurify(mocker, found=[{"id": FOUND_ID, key: "K-1"}])
        [result] = run({"resource": resource_name, "operation": "upsert"}, [record])
        assert_conforms(procurify)
    assert (result.status, result.id) == ("updated", FOUND_ID)
    assert [r.method for r in procurify.api_requests()] == [
        "GET",
        "PATCH" if "patch" in resource.operations else "PUT",
    ]


LOOKUPS = [
    name
    for name, resource in catalogue().resources.items()
    if resource.lookup is not None and "create" in resource.operations
]


@pytest.mark.parametrize("resource_name", LOOKUPS)
def test_the_checks_after_an_uncertain_create_are_documented_requests(
    resource_name: str,
) -> None:
    resource = catalogue().resources[resource_name]
    assert resource.lookup is not None
    record = valid_record(resource, "create")
    record[resource.lookup.field] = "someone@acme.test"
    with requests_mock_module.Mocker() as mocker:
        procurify = Procurify(mocker, uncertain=5)
        [result] = run({"resource": resource_name, "operation": "create"}, [record])
        assert_conforms(procurify)
    assert result.status == "failed"
    assert "GET" in {r.method for r in procurify.api_requests()}


# ------------------------------------------------------------------------- the checker can fail


@pytest.mark.parametrize(
    ("method", "url", "body", "problem"),
    [
        ("POST", "/api/v3/vendor", {"name": "x"}, "not in the contract"),
        ("POST", "/api/v3/users", {"email": "a@b.test"}, "body (root)"),
        ("POST", "/api/v3/users", [{"email": "a@b.test", "firstName": "A"}], "not declared"),
        ("POST", "/api/v3/vendors", {"name": "x", "email": [], "type": 2}, "overall_score"),
        ("GET", "/api/v3/vendors?externalId=1", None, "query externalId"),
        ("GET", "/api/v3/departments?locations=a", None, "query locations"),
        ("PUT", "/api/v3/vendors/abc", None, "path id"),
        ("POST", "/api/v3/purchase-orders/5/close", {"x": 1}, "takes no body"),
    ],
)
def test_the_check_finds_what_the_contract_does_not_have(
    method: str, url: str, body: Any, problem: str
) -> None:
    request = _Request(method, BASE_URL + url, None if body is None else json.dumps(body))
    assert any(problem in found for found in problems(request)), problems(request)


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    body: str | None


# ------------------------------------------------------------------------- coverage


def test_every_write_operation_of_the_contract_is_a_connector_operation() -> None:
    """Nothing Procurify documents for writing is left out (``POST /oauth/token`` is the token
    request, made by the authentication, not a write), and every connector operation is one
    Procurify documents."""
    documented = {
        (op.method, op.path)
        for op in contract().operations
        if op.method != "GET" and op.path != "/oauth/token"
    }
    ours = {
        (op.method, op.path)
        for resource in catalogue().resources.values()
        for op in resource.operations.values()
    }
    assert ours == documented
