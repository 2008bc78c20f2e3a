"""The API contract (contract/procurify.json) and the module that reads it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from shared import REPO as ROOT

from nexla_procurify.sandbox.contract import Contract, contract, undeclared_fields

DOCUMENT = json.loads((ROOT / "contract" / "procurify.json").read_text(encoding="utf-8"))


def test_contract_names_its_source_and_every_operation_its_sdk_file() -> None:
    assert DOCUMENT["source"]["repository"] == "konfig-sdks/procurify-python-sdk"
    assert len(DOCUMENT["source"]["commit"]) == 40
    for operation in DOCUMENT["operations"]:
        assert operation["provenance"].startswith("procurify_python_sdk/paths/")
        assert operation["provenance"].endswith(f"/{operation['method'].lower()}.py")
    for name, model in DOCUMENT["$defs"].items():
        assert model["x-provenance"].startswith("procurify_python_sdk/model/"), name


def test_every_model_is_a_valid_json_schema_and_every_reference_resolves() -> None:
    for model in DOCUMENT["$defs"].values():
        Draft202012Validator.check_schema(model)
    text = json.dumps(DOCUMENT)
    for name in {part.split('"')[0] for part in text.split('"$ref": "#/$defs/')[1:]}:
        assert name in DOCUMENT["$defs"], name


def test_operations_are_unique_and_cover_procurifys_documented_api() -> None:
    names = [op.name for op in contract().operations]
    assert len(names) == len(set(names)) == 50
    for expected in (
        "POST /oauth/token",
        "GET /api/v3/users/me",
        "POST /api/v3/users",
        "DELETE /api/v3/users/{id}",
        "POST /api/v3/requisitions",
        "PUT /api/v2/purchase_order/revise/{procurify_PO}",
        "GET /api/v2/ap/bills/{id}",
        "GET /api/v2/purchase_orders/{id}",
    ):
        assert expected in names


def test_constraints_from_the_sdk_models_are_kept() -> None:
    vendor = contract().defs["OptimizedVendorRequest"]
    assert set(vendor["required"]) == {"name", "type", "email", "overall_score"}
    assert vendor["properties"]["name"]["maxLength"] == 150
    assert vendor["properties"]["overall_score"]["type"] == ["string", "null"]
    assert vendor["properties"]["overall_score"]["pattern"]
    assert vendor["properties"]["type"]["enum"] == [2, 7, 3, 4, 6]
    users = contract().defs["UsersCreateRequest"]
    assert users["type"] == "array"
    assert users["items"]["required"] == ["email"]
    profile = contract().defs["UserProfileUpsertRequest"]
    assert {"location", "department"} <= set(profile["required"])


def test_a_nullable_composition_keeps_its_null() -> None:
    # the SDK's UserProfileMeApprovalDelegatee is ComposedBase + NoneBase: a nullable allOf
    me = contract().resolve(contract().operation("GET", "/api/v3/users/me").responses["200"] or {})
    delegatee = me["properties"]["data"]["properties"]["approval_delegatee"]
    assert delegatee["anyOf"][1] == {"type": "null"}
    assert contract().validator_for(delegatee).is_valid(None)
    assert not contract().validator_for(delegatee).is_valid("someone")


def test_the_null_enum_correction_is_applied_and_said() -> None:
    assert contract().defs["NullEnum"]["type"] == "null"
    assert "NullEnum" in DOCUMENT["corrections"]


def test_departments_locations_is_a_repeated_integer_list() -> None:
    param = contract().operation("GET", "/api/v3/departments").query_params["locations"]
    assert param.repeated
    assert param.schema["type"] == "array"
    assert param.item_schema["type"] == "integer"


@pytest.mark.parametrize(
    ("method", "path", "template", "args"),
    [
        ("GET", "/api/v3/users/me", "/api/v3/users/me", {}),
        ("PUT", "/api/v3/users/7", "/api/v3/users/{id}", {"id": "7"}),
        ("GET", "/api/v3/custom-fields/order-items", "/api/v3/custom-fields/order-items", {}),
        ("GET", "/api/v2/purchase_orders/12", "/api/v2/purchase_orders/{id}", {"id": "12"}),
        (
            "GET",
            "/api/v2/purchase_orders/purchased/paid",
            "/api/v2/purchase_orders/{role}/{status}",
            {"role": "purchased", "status": "paid"},
        ),
    ],
)
def test_find_prefers_literal_segments(
    method: str, path: str, template: str, args: dict[str, str]
) -> None:
    found = contract().find(method, path)
    assert found is not None
    assert found[0].path == template
    assert found[1] == args


def test_find_is_none_for_paths_and_methods_procurify_does_not_have() -> None:
    assert contract().find("GET", "/api/v3/nothing") is None
    assert contract().find("DELETE", "/api/v3/vendors/1") is None
    assert [op.method for op in contract().on_path("/api/v3/vendors/1")] == ["GET", "PUT", "PATCH"]


def test_query_problems_name_each_parameter() -> None:
    c = contract()
    op = c.operation("GET", "/api/v3/departments")
    assert c.query_problems(op, {"locations": ["1", "2"], "page": ["3"]}) == {}
    problems = c.query_problems(
        op, {"locations": ["x"], "page": ["one"], "bogus": ["1"], "search": ["a", "b"]}
    )
    assert set(problems) == {"locations", "page", "bogus", "search"}


def test_path_problems_check_enums() -> None:
    c = contract()
    op = c.operation("GET", "/api/v2/purchase_orders/{role}/{status}")
    assert c.path_problems(op, {"role": "purchased", "status": "paid"}) == {}
    assert set(c.path_problems(op, {"role": "buyer", "status": "paid"})) == {"role"}


def test_body_errors_and_undeclared_fields() -> None:
    c = contract()
    op = c.operation("POST", "/api/v3/users")
    assert c.body_errors(op, [{"email": "ava@acme.example"}]) == []
    assert [path for path, _ in c.body_errors(op, {"email": "ava@acme.example"})] == [""]
    assert [path for path, _ in c.body_errors(op, [{"first_name": "Ava"}])] == ["[0]"]
    assert c.undeclared(op.request_body or {}, [{"email": "a@b.example", "firstName": "A"}]) == [
        "[0].firstName"
    ]


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), max_size=5))
def test_undeclared_fields_are_exactly_the_keys_outside_properties(extra: dict[str, int]) -> None:
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    instance = {"id": 1, **{k: v for k, v in extra.items() if k != "id"}}
    assert undeclared_fields(schema, instance, {}) == sorted(k for k in instance if k != "id")


def test_undeclared_fields_follow_refs_and_nullable_alternatives() -> None:
    defs = {"Item": {"type": "object", "properties": {"sku": {"type": "string"}}}}
    schema = {
        "type": "object",
        "properties": {"item": {"anyOf": [{"$ref": "#/$defs/Item"}, {"type": "null"}]}},
    }
    assert undeclared_fields(schema, {"item": None}, defs) == []
    assert undeclared_fields(schema, {"item": {"sku": "A", "qty": 1}}, defs) == ["item.qty"]


def test_contract_loads_from_the_shipped_file() -> None:
    assert isinstance(contract(), Contract)
    assert contract().source["commit"] == DOCUMENT["source"]["commit"]
