"""Every record the connector reads from the sandbox validates against its shipped stream schema
and carries no field that schema does not declare (issue 7, item 6)."""

from __future__ import annotations

from typing import Any

import pytest
from shared import assert_records_match

from nexla_procurify import manifest
from nexla_procurify.resources import catalogue
from nexla_procurify.sandbox import Sandbox


@pytest.mark.parametrize("name", catalogue().names("source"))
def test_every_record_matches_its_stream_schema(sandbox: Sandbox, name: str) -> None:
    resource = catalogue().resources[name]
    assert resource.stream_schema is not None
    schema: dict[str, Any] = manifest.load_json(resource.stream_schema)
    assert_records_match(sandbox.credential(), name, schema, schema.get("$defs", {}))
