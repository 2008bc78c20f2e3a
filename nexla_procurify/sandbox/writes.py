"""Request validation with Django REST framework field errors, and shaping written records.

``field_errors`` maps jsonschema errors to ``{"field": ["message"]}`` (nested fields as dotted
keys, ``"line_items.0.name"``); ``merge`` lays a request body over a list record and keeps the
result valid against the stream schema (a field whose request shape differs from its read shape
keeps its previous value, as a server computing that field would).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from nexla_procurify.sandbox.data import Record

REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."
INVALID_EMAIL = "Enter a valid email address."
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TYPE_MESSAGES = {
    "string": "Not a valid string.",
    "integer": "A valid integer is required.",
    "number": "A valid number is required.",
    "boolean": "Must be a valid boolean.",
    "array": 'Expected a list of items but got type "{kind}".',
    "object": 'Expected a dictionary of items but got type "{kind}".',
}
_FORMAT_MESSAGES = {
    "date-time": "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
    "date": "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
}


def validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def field_errors(check: Draft202012Validator, body: Any) -> dict[str, list[str]]:
    """Django REST framework style errors for ``body``; empty when it is valid."""
    if not isinstance(body, dict):
        kind = _json_kind(body)
        return {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
    errors: dict[str, list[str]] = {}
    for error in check.iter_errors(body):
        for key, message in _describe(error):
            messages = errors.setdefault(key or "non_field_errors", [])
            if message not in messages:
                messages.append(message)
    for key, value in body.items():
        if "email" in key.lower() and not _emails_ok(value) and key not in errors:
            errors[key] = [INVALID_EMAIL]
    return errors


def _describe(error: ValidationError) -> Iterable[tuple[str, str]]:
    path = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
        for name in required:
            if name not in instance:
                yield (f"{path}.{name}" if path else name), REQUIRED
        return
    if error.validator == "anyOf" and error.context:
        if error.instance is None:
            yield path, NOT_NULL
            return
        yield from _describe(best_match(error.context))
        return
    yield path, _message(error)


def _message(error: ValidationError) -> str:
    if error.validator == "type":
        if error.instance is None:
            return NOT_NULL
        expected = error.validator_value
        expected = expected[0] if isinstance(expected, list) else expected
        template = _TYPE_MESSAGES.get(str(expected), error.message)
        return template.format(kind=_json_kind(error.instance))
    if error.validator in ("enum", "const"):
        return f'"{error.instance}" is not a valid choice.'
    if error.validator == "format":
        return _FORMAT_MESSAGES.get(str(error.validator_value), error.message)
    return error.message


def _json_kind(value: Any) -> str:
    names = {dict: "dict", list: "list", str: "str", bool: "bool", int: "int", float: "float"}
    return names.get(type(value), "NoneType" if value is None else type(value).__name__)


def _emails_ok(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value == "" or bool(_EMAIL.match(value))
    if isinstance(value, list):
        return all(isinstance(item, str) and bool(_EMAIL.match(item)) for item in value)
    return True


def merge(
    base: Record,
    body: Mapping[str, Any],
    check: Draft202012Validator | None,
    protected: Collection[str],
) -> Record:
    """``base`` with the body's fields laid over it, kept valid against the stream schema."""
    if check is None:
        return {**base, **{k: v for k, v in body.items() if k not in protected}}
    record = dict(base)
    for key, value in body.items():
        if key in record and key not in protected:
            record[key] = value
    for _ in range(5):
        bad = {error.absolute_path[0] for error in check.iter_errors(record)
               if error.absolute_path}
        if not bad:
            break
        for key in bad:
            record[str(key)] = base.get(str(key))
    return record
