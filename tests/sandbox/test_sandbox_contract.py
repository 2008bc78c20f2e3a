"""The sandbox answers as Procurify's contract says: every operation, every answer valid against
its response schema with no undeclared field; requests checked as Procurify checks them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sandbox.client import Client, credentials, path_of, valid_body

from nexla_procurify.sandbox import Sandbox
from nexla_procurify.sandbox.contract import Operation, contract

OPERATIONS = contract().operations


@pytest.fixture(scope="module")
def client(allow_module_loopback: None) -> Iterator[Client]:
    with Sandbox(records=25, seed=3) as sandbox:
        yield Client(sandbox)


def assert_conforms(operation: Operation, response: requests.Response) -> None:
    status, schema = operation.success()
    assert str(response.status_code) == status, (operation.name, response.text[:300])
    if schema is None:
        if status == "204":
            assert response.content == b""
        return
    body = response.json()
    errors = [
        f"{list(e.absolute_path)}: {e.message[:120]}"
        for e in contract().validator_for(schema).iter_errors(body)
    ]
    assert errors == [], (operation.name, errors[:5])
    assert contract().undeclared(schema, body) == [], operation.name


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_every_operation_answers_as_the_contract_says(client: Client, operation: Operation) -> None:
    if operation.path == "/oauth/token":
        response = requests.post(
            client.base + operation.path, json=credentials(client.sandbox), timeout=10
        )
    else:
        params = {"page_size": 100} if "page_size" in operation.query_params else {}
        body = valid_body(operation, OPERATIONS.index(operation))
        response = client.call(operation.method, path_of(operation), body, **params)
    assert_conforms(operation, response)


@pytest.fixture(scope="module")
def written(allow_module_loopback: None) -> Iterator[Client]:
    """A sandbox in which every write operation has been made once, on record 5."""
    with Sandbox(records=25, seed=4) as sandbox:
        writer = Client(sandbox)
        for tag, operation in enumerate(OPERATIONS):
            if operation.method in ("GET",) or operation.path == "/oauth/token":
                continue
            path = path_of(operation).replace("/3", "/5")
            response = writer.call(operation.method, path, valid_body(operation, tag))
            assert response.status_code < 300, (operation.name, response.text[:300])
        yield writer


@pytest.mark.parametrize(
    "operation", [op for op in OPERATIONS if op.method == "GET"], ids=lambda op: op.name
)
def test_answers_still_conform_after_every_write(written: Client, operation: Operation) -> None:
    params = {"page_size": 100} if "page_size" in operation.query_params else {}
    assert_conforms(
        operation, written.call("GET", path_of(operation).replace("/3", "/5"), **params)
    )


def query_value(schema: dict[str, Any], name: str) -> str:
    """A valid value for a documented query parameter."""
    if "enum" in schema:
        return str(next(v for v in schema["enum"] if v is not None))
    kind = schema.get("type")
    kind = next(k for k in kind if k != "null") if isinstance(kind, list) else kind
    if kind in ("integer", "number"):
        return "1"
    if kind == "boolean":
        return "true"
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    if name.endswith(("_0", "_1")) or schema.get("format") == "date":
        return "2026-01-01"
    return "sandbox"


@pytest.mark.parametrize(
    "operation", [op for op in OPERATIONS if op.method == "GET"], ids=lambda op: op.name
)
def test_every_documented_query_parameter_is_accepted(client: Client, operation: Operation) -> None:
    for name, param in operation.query_params.items():
        if name == "format":
            continue
        value = query_value(dict(param.item_schema), name)
        response = client.call("GET", path_of(operation), **{name: value})
        assert response.status_code == 200, (operation.name, name, value, response.text[:200])
        assert_conforms(operation, response)
