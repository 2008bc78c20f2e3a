"""Helpers for writing against a sandbox: a session to it that retries briefly and never
sleeps, the write, what the sandbox stored, records, and ``nexla-procurify write``."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from nexla_procurify import cli, credential, destination
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.http import HttpClient, HttpPolicy
from nexla_procurify.messages import WriteResult
from nexla_procurify.sandbox import Sandbox

FAST = HttpPolicy(connect_timeout=5.0, read_timeout=10.0, max_attempts=3, max_elapsed=30.0)


NUMBERS = itertools.count(1)


def open_session(sandbox: Sandbox) -> ProcurifySession:
    parsed = credential.parse(sandbox.credential(), allow_loopback=True)
    return ProcurifySession(parsed, client=HttpClient(FAST, sleep=lambda _: None))


def write(session: ProcurifySession, config: Mapping[str, Any], records: Any) -> list[WriteResult]:
    return list(destination.write(session, config, records, sleep=lambda _: None))


def stored(sandbox: Sandbox, resource: str) -> list[Mapping[str, Any]]:
    return list(sandbox.records(resource))


def unique(prefix: str) -> str:
    return f"{prefix}-{next(NUMBERS)}"


def vendor(external_id: str | None = None, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"name": unique("Vendor"), "email": ["ap@vendor.test"], "type": 2}
    if external_id is not None:
        record["external_id"] = external_id
    return {**record, **fields}


def requisition() -> dict[str, Any]:
    return {
        "required_date": "2026-09-30",
        "location_name": "Head Office",
        "department_name": "Finance",
        "line_items": [
            {
                "item_name": "Paper",
                "vendor_name": "Northwind Paper Corp.",
                "account_code": "6000",
                "unit_price": "4.50",
                "quantity": "10",
                "unit": "box",
                "currency_code": "USD",
                "custom_fields": [
                    {"custom_field_name": "Project code", "custom_field_value": "P-1"}
                ],
            }
        ],
    }


def cli_write(
    capsys: pytest.CaptureFixture[str],
    credential_file: Path,
    resource: str,
    *arguments: str,
    operation: str = "create",
) -> tuple[int, list[dict[str, Any]], str]:
    """``nexla-procurify write RESOURCE ARGUMENTS --operation OPERATION --credential FILE``: its
    exit status, the results it printed (one a line) and what it wrote on standard error."""
    code = cli.main(
        [
            "write",
            resource,
            *arguments,
            "--operation",
            operation,
            "--credential",
            str(credential_file),
        ]
    )
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err
