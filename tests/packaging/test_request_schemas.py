"""``schemas/requests/*.json`` are Procurify's request-body schemas from the contract, made
stricter in one way only (undeclared fields refused), regenerated here and compared."""

from __future__ import annotations

import json
from typing import Any

import pytest
from devtools import tool
from jsonschema import Draft202012Validator
from shared import REPO as ROOT

from nexla_procurify import manifest
from nexla_procurify.resources import catalogue
from nexla_procurify.sandbox.contract import contract

TOOL = tool("request_schemas")
render = tool("schema_files").render


def generated() -> dict[str, Any]:
    document = json.loads((ROOT / "contract" / "procurify.json").read_text(encoding="utf-8"))
    result: dict[str, Any] = TOOL.generate(document, manifest.connector_manifest())
    return result


def test_every_shipped_request_schema_is_the_generated_one() -> None:
    schemas = generated()
    shipped = {
        f"schemas/requests/{path.name}" for path in (ROOT / "schemas" / "requests").glob("*.json")
    }
    assert shipped == set(schemas), "run: python3 tools/request_schemas.py"
    for relative, schema in schemas.items():
        text = (ROOT / relative).read_text(encoding="utf-8")
        assert text == render(schema), f"{relative} is stale: run tools/request_schemas.py"


def test_every_operation_with_a_body_has_its_schema() -> None:
    schemas = generated()
    for resource in catalogue().resources.values():
        for operation in resource.operations.values():
            found = contract().operation(operation.method, operation.path)
            assert (operation.request_schema is None) == (found.request_body is None), (
                resource.name,
                operation.name,
            )
            if operation.request_schema is not None:
                assert operation.request_schema in schemas
                Draft202012Validator.check_schema(schemas[operation.request_schema])


@pytest.mark.parametrize("relative", sorted(generated()))
def test_each_keeps_every_contract_constraint_and_refuses_undeclared_fields(
    relative: str,
) -> None:
    ours = manifest.load_json(relative)
    method, path = ours["x-contract"].split(" ", 1)
    theirs = contract().resolve(contract().operation(method, path).request_body or {})
    if theirs.get("type") == "array":
        theirs = contract().resolve(theirs["items"])
    assert ours.get("required", []) == theirs.get("required", [])
    assert set(ours["properties"]) == set(theirs["properties"])
    assert ours["additionalProperties"] is False
    for name, spec in theirs["properties"].items():
        for keyword in ("type", "maxLength", "minLength", "enum", "pattern", "format"):
            assert ours["properties"][name].get(keyword) == spec.get(keyword), (name, keyword)
    check = Draft202012Validator(ours)
    assert any(
        error.validator == "additionalProperties"
        for error in check.iter_errors({"not_a_procurify_field": 1})
    )


def test_users_create_is_one_invitation_of_the_list_procurify_takes() -> None:
    operation = catalogue().resources["users"].operation("create")
    assert operation.body == "array"
    assert operation.answer == "data_list"
    schema = manifest.load_json("schemas/requests/users.create.json")
    listed = contract().resolve(contract().operation("POST", "/api/v3/users").request_body or {})
    assert listed["type"] == "array"
    assert schema["required"] == ["email"]
    assert "first_name" in schema["properties"]
    assert "firstName" not in schema["properties"]


def test_contract_constraints_reach_the_shipped_schemas() -> None:
    """The issue's examples: required-and-nullable overall_score, profile location and
    department required, names at most 150 characters."""
    vendors = manifest.load_json("schemas/requests/vendors.create.json")
    assert "overall_score" in vendors["required"]
    assert vendors["properties"]["overall_score"]["type"] == ["string", "null"]
    assert vendors["properties"]["name"]["maxLength"] == 150
    profile = manifest.load_json("schemas/requests/users.update.json")
    assert {"location", "department"} <= set(profile["required"])
