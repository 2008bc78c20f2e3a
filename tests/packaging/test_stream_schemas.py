"""Stream schemas are generated from Procurify's contract (``tools/stream_schemas.py``): the
shipped files must be what the generator makes of today's contract and catalogue."""

from __future__ import annotations

import json
from typing import Any

import pytest
from devtools import tool
from jsonschema import Draft202012Validator
from shared import REPO

from nexla_procurify import manifest
from nexla_procurify.resources import catalogue
from nexla_procurify.sandbox.contract import contract

TOOL = tool("stream_schemas")
render = tool("schema_files").render


def generated() -> dict[str, Any]:
    result: dict[str, Any] = TOOL.generate(contract().document, manifest.connector_manifest())
    return result


def test_every_readable_resource_has_a_generated_schema() -> None:
    expected = {catalogue().resources[name].stream_schema for name in catalogue().names("source")}
    assert set(generated()) == expected


@pytest.mark.parametrize("path", sorted(generated()))
def test_the_shipped_stream_schema_is_the_generated_one(path: str) -> None:
    shipped = (REPO / path).read_text(encoding="utf-8")
    assert shipped == render(generated()[path]), (
        f"{path} is stale: run python3 tools/stream_schemas.py"
    )


def test_no_stream_schema_is_left_over() -> None:
    on_disk = {p.relative_to(REPO).as_posix() for p in (REPO / "schemas/streams").glob("*.json")}
    assert on_disk == set(generated())


@pytest.mark.parametrize("path", sorted(generated()))
def test_every_stream_schema_is_a_valid_standalone_schema(path: str) -> None:
    schema = json.loads((REPO / path).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    text = json.dumps(schema)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/$defs/')[1:]}:
        assert ref in schema["$defs"], (path, ref)


def test_a_contract_change_makes_the_schema_stale() -> None:
    document = json.loads(json.dumps(contract().document))
    defs = document["$defs"]
    item = defs["PaginatedDepartmentReadList"]["properties"]["data"]["items"]
    item["properties"]["cost_centre"] = {"type": "string"}
    changed = TOOL.generate(document, manifest.connector_manifest())
    assert (
        changed["schemas/streams/departments.json"]
        != generated()["schemas/streams/departments.json"]
    )
    assert "cost_centre" in changed["schemas/streams/departments.json"]["properties"]


def test_locations_describe_the_records_the_connector_unwraps() -> None:
    schema = generated()["schemas/streams/locations.json"]
    assert "id" in schema["properties"]
    assert "data" not in schema["properties"]


def test_the_check_mode_reports_nothing_stale(capsys: pytest.CaptureFixture[str]) -> None:
    assert TOOL.main(["--check"]) == 0
    assert capsys.readouterr().out == ""
