"""The sandbox's generated data is realistic: every value, at any depth, within its schema's
constraints and formats; numbers within the digits the contract gives decimals of the same name;
timestamps in order; no placeholder text; common fields with real-looking values."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from sandbox.client import Client, path_of

from nexla_procurify.sandbox import Sandbox
from nexla_procurify.sandbox.contract import Operation, contract

RECORDS = 60
GETS = [op for op in contract().operations if op.method == "GET"]
_DECIMAL = re.compile(r"^\^\\d\{0,(\d+)\}\(\?:\\\.\\d\{0,(\d+)\}\)\?\$$")
# (earlier, later) timestamps of one object
ORDERED = (
    ("start_datetime", "end_datetime"),
    ("start_date", "end_date"),
    ("created_at", "updated_at"),
    ("date", "dateModified"),
    ("date", "closed_date"),
    ("date", "expiry_date"),
    ("invoice_date", "due_date"),
    ("date", "last_modified"),
)


def _checker() -> FormatChecker:
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def date_time(value: object) -> bool:
        return not isinstance(value, str) or bool(datetime.fromisoformat(value))

    @checker.checks("decimal", raises=ArithmeticError)
    def decimal(value: object) -> bool:
        return not isinstance(value, str) or Decimal(value).is_finite()

    return checker


CHECKER = _checker()


def strict(schema: Any) -> Draft202012Validator:
    return Draft202012Validator({"$defs": contract().defs, **schema}, format_checker=CHECKER)


def decimal_digits() -> dict[str, tuple[int, int]]:
    """Field name -> the most (whole, decimal) digits any decimal string of that name has in
    the contract (its pattern)."""
    found: dict[str, tuple[int, int]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                match = (
                    _DECIMAL.match(str(prop.get("pattern", ""))) if isinstance(prop, dict) else None
                )
                if match:
                    whole, places = int(match.group(1)), int(match.group(2))
                    was = found.get(name, (0, 0))
                    found[name] = (max(was[0], whole), max(was[1], places))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(json.dumps(contract().document)))
    return found


def objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from objects(item)


def fields(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for name, item in value.items():
            yield from fields(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from fields(item, key)
    else:
        yield key, value


@pytest.fixture(scope="module")
def answers(allow_module_loopback: None) -> list[tuple[Operation, Any]]:
    """Every GET operation's answers: lists (two pages), single records (every id)."""
    found: list[tuple[Operation, Any]] = []
    with Sandbox(records=RECORDS, seed=5) as sandbox:
        client = Client(sandbox)
        for operation in GETS:
            if "{id}" in operation.path:
                for ident in range(1, RECORDS + 1):
                    path = path_of(operation).replace("/3", f"/{ident}")
                    found.append((operation, client.call("GET", path).json()))
                continue
            pages = (1, 2) if "page" in operation.query_params else (1,)
            for page in pages:
                params = {"page_size": 50, "page": page} if len(pages) > 1 else {}
                found.append((operation, client.call("GET", path_of(operation), **params).json()))
    return found


def test_every_value_meets_its_schema_with_formats(answers: list[tuple[Operation, Any]]) -> None:
    for operation, body in answers:
        _, schema = operation.success()
        assert schema is not None
        errors = [
            f"{list(e.absolute_path)}: {e.message[:100]}" for e in strict(schema).iter_errors(body)
        ]
        assert errors == [], (operation.name, errors[:5])


def test_numbers_have_the_digits_of_the_decimals_of_their_name(
    answers: list[tuple[Operation, Any]],
) -> None:
    digits = decimal_digits()
    assert digits["overall_score"] == (2, 3)
    for operation, body in answers:
        for name, value in fields(body):
            if name not in digits or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            whole, places = digits[name]
            _, numerals, exponent = Decimal(str(value)).as_tuple()
            assert isinstance(exponent, int)
            shown = max(0, -exponent)
            assert len(numerals) - shown <= whole, (operation.name, name, value)
            assert shown <= places, (operation.name, name, value)


def test_timestamps_are_in_order(answers: list[tuple[Operation, Any]]) -> None:
    checked = 0
    for operation, body in answers:
        for record in objects(body):
            for first, then in ORDERED:
                early, late = record.get(first), record.get(then)
                if isinstance(early, str) and isinstance(late, str):
                    checked += 1
                    assert _instant(early) <= _instant(late), (operation.name, first, then)
    assert checked > 1000


def _instant(text: str) -> float:
    stamp = datetime.fromisoformat(text if "T" in text else text + "T00:00:00+00:00")
    return stamp.timestamp()


def test_no_placeholder_text(answers: list[tuple[Operation, Any]]) -> None:
    """No string is made of its own field's name and a number ("Item mimetype 10")."""
    strings = 0
    for operation, body in answers:
        for name, value in fields(body):
            if not isinstance(value, str) or not name:
                continue
            strings += 1
            words = re.sub(r"(?<!^)(?=[A-Z])", " ", name).replace("_", " ").lower()
            assert not re.search(rf"{re.escape(words)} \d+$", value.lower()), (
                operation.name,
                name,
                value,
            )
    assert strings > 10000


def test_common_fields_look_real(answers: list[tuple[Operation, Any]]) -> None:
    checks = {
        "mimetype": re.compile(r"^(application|image|text)/[a-z0-9.+-]+$"),
        "file": re.compile(r"^[\w/.-]+\.(pdf|png|jpg|csv|xlsx)$"),
        "sha1_hash": re.compile(r"^[0-9a-f]{40}$"),
        "ip_address": re.compile(r"^\d{1,3}(\.\d{1,3}){3}$"),
        "purchase_order_number": re.compile(r"^PO-\d{6}$"),
        "number": re.compile(r"^(PO-\d{6}|\d{4})$"),
    }
    seen = set()
    for _, body in answers:
        for name, value in fields(body):
            pattern = checks.get(name)
            if pattern is not None and isinstance(value, str):
                seen.add(name)
                assert pattern.match(value), (name, value)
    assert seen == set(checks)
    roles = {
        (r["id"], r["name"])
        for _, body in answers
        for record in objects(body)
        if isinstance(r := record.get("role"), dict) and "name" in r
    }
    assert roles
    assert {name for _, name in roles} <= {
        "Administrator",
        "Approver",
        "Purchaser",
        "Requester",
        "Accounts payable",
    }
