"""JSON Schema errors in a person's words: which field, and why, never quoting the value
(a value may be a secret or a whole record)."""

from __future__ import annotations

__all__ = ["FieldProblems", "describe", "schema_problems", "shipped_validator"]

import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from nexla_procurify import manifest

TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}

FieldProblems = dict[str, list[str]]
# Longer lists of choices (a location's time zones) are counted, with a few shown.
MAX_CHOICES_SHOWN = 12
# Procurify's decimals are text with bounded digits: ``^\d{0,13}(?:\.\d{0,8})?$``.
_DECIMAL_PATTERN = re.compile(r"\^\\d\{0,(\d+)\}\(\?:\\\.\\d\{0,(\d+)\}\)\?\$")


@cache
def shipped_validator(schema_path: str) -> Draft202012Validator:
    """The validator of a shipped schema (``"schemas/..."``), compiled once: the schemas are
    read-only files of the package."""
    schema = manifest.load_json(schema_path)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_problems(
    validator: Draft202012Validator, instance: Mapping[str, Any], *, whole: str = "record"
) -> FieldProblems:
    """Every field ``instance`` gets wrong and why (field -> messages, in schema order);
    ``whole`` names the instance itself where no field is at fault."""
    problems: FieldProblems = {}
    root = validator.schema if isinstance(validator.schema, Mapping) else {}
    for error in validator.iter_errors(instance):
        for name, message in _describe(error, root, whole):
            messages = problems.setdefault(name, [])
            if message not in messages:
                messages.append(message)
    return problems


def _describe(error: ValidationError, root: Mapping[str, Any], whole: str) -> list[tuple[str, str]]:
    path = ".".join(str(part) for part in error.absolute_path)
    kind, expected = error.validator, error.validator_value
    if kind == "required" and isinstance(error.instance, Mapping) and isinstance(expected, list):
        return [
            (_join(path, name), "is required") for name in expected if name not in error.instance
        ]
    if kind == "additionalProperties" and isinstance(error.instance, Mapping):
        declared = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        return [
            (_join(path, str(name)), "is not a field Procurify accepts here")
            for name in error.instance
            if name not in declared
        ]
    return [(path or whole, _reason(error, root))]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _reason(error: ValidationError, root: Mapping[str, Any]) -> str:
    kind, expected = error.validator, error.validator_value
    if kind == "type":
        return "must be " + _type_phrase(expected)
    if kind == "enum" and isinstance(expected, list):
        return "must be " + _choices(expected)
    if kind in ("anyOf", "oneOf") and isinstance(expected, list):
        return _alternatives_reason(expected, root)
    if kind == "format":
        return f"must be a valid {expected}"
    if kind == "minLength":
        return "must not be empty" if expected == 1 else f"needs at least {expected} characters"
    if kind == "maxLength":
        return f"must have at most {expected} characters"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        return f"is out of range ({kind} {expected})"
    if kind in ("minItems", "maxItems"):
        return f"has the wrong number of entries ({kind} {expected})"
    if kind == "pattern":
        decimal = _DECIMAL_PATTERN.fullmatch(str(expected))
        if decimal is not None:
            before, after = decimal.groups()
            return (
                f"must be a decimal number written as text, with at most {before} digits "
                f"before the point and {after} after"
            )
        return "does not have the expected form"
    return f"is not valid ({kind})"


def _choices(values: Sequence[object]) -> str:
    shown = ", ".join(json.dumps(choice) for choice in values[:MAX_CHOICES_SHOWN])
    if len(values) <= MAX_CHOICES_SHOWN:
        return "one of " + shown
    return f"one of {len(values)} accepted values (such as {shown}, ...)"


def _type_phrase(expected: object) -> str:
    names = [expected] if isinstance(expected, str) else expected
    if not isinstance(names, list):
        return "of another type"
    return " or ".join(TYPE_WORDS.get(str(name), str(name)) for name in names)


def _alternatives_reason(alternatives: list[Mapping[str, Any]], root: Mapping[str, Any]) -> str:
    phrases: list[str] = []
    for alternative in alternatives:
        resolved = _resolve(alternative, root)
        if "enum" in resolved:
            phrase = _choices(resolved["enum"])
        elif "type" in resolved:
            phrase = _type_phrase(resolved["type"])
        else:
            return "does not have an accepted shape"
        if phrase not in phrases:
            phrases.append(phrase)
    return "must be " + " or ".join(phrases)


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/$defs/"):
        found = root.get("$defs", {}).get(reference.removeprefix("#/$defs/"))
        if isinstance(found, Mapping):
            return found
    return schema


def describe(problems: FieldProblems) -> str:
    """``field must be ...; other is required`` for a message."""
    return "; ".join(f"{name} {' and '.join(messages)}" for name, messages in problems.items())
