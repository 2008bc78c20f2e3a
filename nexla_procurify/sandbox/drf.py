"""Request bodies checked against the contract's request schema, answered as Django REST
framework does: ``{"field": ["message"]}`` (nested fields as dotted keys, ``"line_items.0.name"``),
and for a list body one such object per item (``[{}, {"email": [...]}]``).
"""

from __future__ import annotations

__all__ = ["body_errors", "normalised"]

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

if TYPE_CHECKING:
    from nexla_procurify.sandbox.shape import Shaper

REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."
INVALID_EMAIL = "Enter a valid email address."
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PLACES = re.compile(r"\\\.\\d\{0,(\d+)\}")  # the decimal places a pattern allows
DECIMAL_PLACES = 6  # a DecimalField's places where the contract's pattern does not say
_TYPE_MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        "string": "Not a valid string.",
        "integer": "A valid integer is required.",
        "number": "A valid number is required.",
        "boolean": "Must be a valid boolean.",
        "array": 'Expected a list of items but got type "{kind}".',
        "object": 'Expected a dictionary of items but got type "{kind}".',
    }
)
_FORMAT_MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        "date-time": "Datetime has wrong format. Use one of these formats instead: "
        "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
        "date": "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
        "email": INVALID_EMAIL,
        "uuid": "Must be a valid UUID.",
        "uri": "Enter a valid URL.",
    }
)


Errors = dict[str, list[str]]


def body_errors(check: Draft202012Validator, body: Any, many: bool) -> Errors | list[Errors]:
    """Django REST framework style errors for ``body`` (``many``: the schema takes a list);
    empty when it is valid."""
    if many:
        if not isinstance(body, list):
            kind = _json_kind(body)
            return {"non_field_errors": [f'Expected a list of items but got type "{kind}".']}
        items = [field_errors(check, [item], many=True) for item in body]
        return items if any(items) else {}
    return field_errors(check, body)


def field_errors(check: Draft202012Validator, body: Any, *, many: bool = False) -> Errors:
    """The errors of one object (``body``; ``many``: the only item of a one-item list)."""
    target = body[0] if many else body
    if not isinstance(target, dict):
        kind = _json_kind(target)
        return {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
    errors: Errors = {}
    for error in check.iter_errors(body):
        for key, message in _describe(error, 1 if many else 0):
            messages = errors.setdefault(key or "non_field_errors", [])
            if message not in messages:
                messages.append(message)
    for key, value in target.items():
        if "email" in key.lower() and not _emails_ok(value) and key not in errors:
            errors[key] = [INVALID_EMAIL]
    return errors


def _describe(error: ValidationError, skip: int) -> Iterable[tuple[str, str]]:
    path = ".".join(str(part) for part in list(error.absolute_path)[skip:])
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
        yield from _describe(best_match(error.context), skip)
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
    limit = error.validator_value
    if error.validator == "maxLength":
        return f"Ensure this field has no more than {limit} characters."
    if error.validator == "minLength":
        return (
            "This field may not be blank."
            if limit == 1
            else (f"Ensure this field has at least {limit} characters.")
        )
    if error.validator == "maximum":
        return f"Ensure this value is less than or equal to {limit}."
    if error.validator == "minimum":
        return f"Ensure this value is greater than or equal to {limit}."
    if error.validator == "pattern":
        return "Enter a valid value."
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


def normalised(shaper: Shaper, schema: Any, value: Any) -> Any:
    """``value`` (a valid request body) as DRF's serializer fields store it: text trimmed
    (``CharField(trim_whitespace=True)``, the default), e-mail addresses lower-cased
    (``format: email``), decimals reformatted to their places (``format: decimal``:
    ``"12.5"`` is stored ``"12.500"`` where the contract's pattern allows three places)."""
    schema = shaper.resolve(schema) if isinstance(schema, Mapping) else {}
    if isinstance(value, dict):
        props = shaper.properties(schema) or {}
        return {key: normalised(shaper, props.get(key), item) for key, item in value.items()}
    if isinstance(value, list):
        items = shaper.items(schema)
        return [normalised(shaper, items, item) for item in value]
    if not isinstance(value, str):
        return value
    if schema.get("format") == "email":
        return value.strip().lower()
    if schema.get("format") == "decimal":
        return _decimal_text(value, str(schema.get("pattern", "")))
    return value.strip()


def _decimal_text(value: str, pattern: str) -> str:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return value
    if not number.is_finite():
        return value
    places = _PLACES.search(pattern)
    return f"{number:.{int(places.group(1)) if places else DECIMAL_PLACES}f}"
