"""Every record the connector reads from the sandbox validates against its shipped stream schema
and carries no field that schema does not declare (issue 7, item 6)."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from nexla_procurify import manifest, plugin
from nexla_procurify.host import Host
from nexla_procurify.messages import Record
from nexla_procurify.resources import catalogue
from nexla_procurify.sandbox import Sandbox
from nexla_procurify.sandbox.contract import undeclared_fields

HOST = Host(plugins=[plugin])


@pytest.mark.parametrize("name", catalogue().names("source"))
def test_every_record_matches_its_stream_schema(sandbox: Sandbox, name: str) -> None:
    resource = catalogue().resources[name]
    assert resource.stream_schema is not None
    schema: dict[str, Any] = manifest.load_json(resource.stream_schema)
    check = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    defs = schema.get("$defs", {})
    seen = 0
    with HOST.authenticate("procurify", sandbox.credential()) as session:
        for message in HOST.read("procurify", session, {"resource": name}, None):
            if not isinstance(message, Record):
                continue
            record = dict(message.record)
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in check.iter_errors(record)]
            assert errors == [], (name, errors[:5])
            assert undeclared_fields(schema, record, defs) == [], name
            seen += 1
    assert seen > 0, f"the sandbox served no {name} record"
