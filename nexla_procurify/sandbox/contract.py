"""Procurify's API contract (``contract/procurify.json``), as the sandbox and the tests read it.

The contract is extracted from Procurify's published SDK by ``tools/extract_contract.py``; it is
Procurify's word, never the connector's. This module finds the operation a request addresses,
checks a request's query parameters and body against it, and validates answers.
"""

from __future__ import annotations

__all__ = [
    "Contract",
    "Operation",
    "QueryParam",
    "contract",
    "resolve",
    "undeclared_fields",
]

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

_FILE = "procurify.json"
Schema = Mapping[str, Any]


@dataclass(frozen=True)
class QueryParam:
    """One documented query parameter of an operation."""

    name: str
    schema: Schema
    required: bool
    repeated: bool  # an array sent as the parameter repeated: ``?locations=1&locations=2``

    @property
    def item_schema(self) -> Schema:
        """The schema of one value (an item's, for a parameter sent repeated)."""
        items = self.schema.get("items")
        return items if self.repeated and isinstance(items, Mapping) else self.schema


@dataclass(frozen=True)
class Operation:
    """One documented operation: method, path template, parameters, request and answer schemas."""

    method: str
    path: str  # a template: ``/api/v3/vendors/{id}``
    path_params: Mapping[str, Schema]
    query_params: Mapping[str, QueryParam]
    request_body: Schema | None
    responses: Mapping[str, Schema | None]
    provenance: str

    @property
    def name(self) -> str:
        """``"METHOD /path/template"``."""
        return f"{self.method} {self.path}"

    @property
    def literal_segments(self) -> int:
        """How many fixed (non-parameter) segments the path has: the more specific template wins."""
        return sum(1 for part in self.path.split("/") if part and not part.startswith("{"))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters when ``method path`` addresses this operation."""
        if method.upper() != self.method:
            return None
        found = _template(self.path).fullmatch(path)
        return None if found is None else found.groupdict()

    def success(self) -> tuple[str, Schema | None]:
        """The documented success status and its body schema."""
        status = min(self.responses)
        return status, self.responses[status]


class Contract:
    """The recorded API contract: its operations and the schemas they share."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.defs: Mapping[str, Schema] = document["$defs"]
        self.source: Mapping[str, Any] = document["source"]
        self.operations: tuple[Operation, ...] = tuple(
            _operation(raw) for raw in document["operations"]
        )

    def find(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation ``method path`` addresses (literal segments win over parameters)."""
        best: tuple[Operation, dict[str, str]] | None = None
        for operation in self.operations:
            args = operation.match(method, path)
            if args is not None and (
                best is None or operation.literal_segments > best[0].literal_segments
            ):
                best = (operation, args)
        return best

    def operation(self, method: str, template: str) -> Operation:
        """The operation ``method template``; ``KeyError`` when the contract has none."""
        for operation in self.operations:
            if operation.method == method.upper() and operation.path == template:
                return operation
        raise KeyError(f"The contract has no {method.upper()} {template}")

    def on_path(self, path: str) -> list[Operation]:
        """Every operation on ``path`` whatever its method (for 405 answers)."""
        return [op for op in self.operations if op.match(op.method, path) is not None]

    def resolve(self, schema: Schema) -> Schema:
        """``schema`` with its top-level ``$ref`` followed and ``allOf`` parts merged."""
        return resolve(schema, self.defs)

    def validator_for(self, schema: Schema) -> Draft202012Validator:
        """The validator of one schema of the contract (its ``$ref``s resolved against the
        contract's definitions), compiled once per contract and schema."""
        return _validator(self, json.dumps(schema, sort_keys=True))

    def query_problems(
        self, operation: Operation, params: Mapping[str, Sequence[str]]
    ) -> dict[str, list[str]]:
        """What is wrong with a request's query parameters: undocumented, repeated where the
        contract takes one value, or not of the documented type."""
        problems: dict[str, list[str]] = {}
        for name, values in params.items():
            param = operation.query_params.get(name)
            if param is None:
                problems[name] = [f"{operation.name} has no query parameter {name!r}."]
                continue
            if len(values) > 1 and not param.repeated:
                problems[name] = ["Only one value is allowed."]
                continue
            for value in values:
                message = self._value_problem(param.item_schema, value)
                if message:
                    problems.setdefault(name, []).append(message)
        for name, param in operation.query_params.items():
            if param.required and name not in params:
                problems[name] = ["This parameter is required."]
        return problems

    def _value_problem(self, schema: Schema, text: str) -> str | None:
        schema = self.resolve(schema)
        value: Any = text
        kinds = schema.get("type")
        kind = (
            kinds if isinstance(kinds, str) else next((k for k in kinds or () if k != "null"), None)
        )
        if kind == "integer":
            if not re.fullmatch(r"-?\d+", text):
                return f"A valid integer is required, not {text!r}."
            value = int(text)
        elif kind == "number":
            try:
                value = float(text)
            except ValueError:
                return f"A valid number is required, not {text!r}."
        elif kind == "boolean":
            if text not in ("true", "false", "True", "False", "1", "0"):
                return f"Must be a valid boolean, not {text!r}."
            value = text in ("true", "True", "1")
        fmt = schema.get("format")
        try:
            if fmt == "date":
                date.fromisoformat(text)
            elif fmt == "date-time":
                datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return f"Not a valid {fmt}: {text!r}."
        if "enum" in schema and value not in schema["enum"]:
            return f"{text!r} is not a valid choice."
        return None

    def path_problems(self, operation: Operation, args: Mapping[str, str]) -> dict[str, list[str]]:
        """Path parameters that are not of their documented type or choices."""
        problems: dict[str, list[str]] = {}
        for name, value in args.items():
            message = self._value_problem(operation.path_params.get(name, {}), value)
            if message:
                problems[name] = [message]
        return problems

    def body_errors(self, operation: Operation, body: Any) -> list[tuple[str, str]]:
        """(JSON path, message) for each way ``body`` breaks the operation's request schema."""
        if operation.request_body is None:
            return [] if body is None else [("", f"{operation.name} takes no body.")]
        check = self.validator_for(operation.request_body)
        return [
            (_json_path(error.absolute_path), error.message) for error in check.iter_errors(body)
        ]

    def undeclared(self, schema: Schema, instance: Any) -> list[str]:
        """JSON paths of fields in ``instance`` that ``schema`` does not declare."""
        return undeclared_fields(schema, instance, self.defs)


def resolve(schema: Schema, defs: Mapping[str, Schema]) -> Schema:
    """``schema`` with its top-level ``$ref`` followed (into ``defs``) and its ``allOf`` parts
    merged into one schema."""
    while "$ref" in schema:
        schema = defs[str(schema["$ref"]).rsplit("/", 1)[1]]
    if "allOf" not in schema:
        return schema
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        merged.update(resolve(part, defs))
    return merged


def undeclared_fields(
    schema: Schema, instance: Any, defs: Mapping[str, Schema], path: str = ""
) -> list[str]:
    """JSON paths of object fields in ``instance`` that ``schema`` declares nowhere (through
    ``$ref`` into ``defs``, ``properties``, ``items``, ``allOf``/``anyOf``/``oneOf``)."""
    found: list[str] = []
    for branch in _branches(schema, instance, defs):
        if isinstance(instance, Mapping):
            props = branch.get("properties")
            extra = branch.get("additionalProperties")
            for key, value in instance.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(props, Mapping) and key in props:
                    found.extend(undeclared_fields(props[key], value, defs, where))
                elif isinstance(extra, Mapping):
                    found.extend(undeclared_fields(extra, value, defs, where))
                elif props is not None and extra is None:
                    found.append(where)
        elif isinstance(instance, list) and isinstance(branch.get("items"), Mapping):
            for index, item in enumerate(instance):
                found.extend(undeclared_fields(branch["items"], item, defs, f"{path}[{index}]"))
    return sorted(set(found))


def _branches(schema: Schema, instance: Any, defs: Mapping[str, Schema]) -> Iterator[Schema]:
    """The schemas that describe ``instance``: ``schema`` itself, what it references, and the
    composition branches that accept ``instance`` (the first for ``anyOf``/``oneOf``)."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[1]
        yield from _branches(defs[name], instance, defs)
    if "properties" in schema or "items" in schema or "additionalProperties" in schema:
        yield schema
    for sub in schema.get("allOf", ()):
        yield from _branches(sub, instance, defs)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if options:
            root = {"$defs": dict(defs)}
            for option in options:
                if Draft202012Validator({**root, **option}).is_valid(instance):
                    yield from _branches(option, instance, defs)
                    break


def _json_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _operation(raw: Mapping[str, Any]) -> Operation:
    return Operation(
        method=raw["method"],
        path=raw["path"],
        path_params={name: p["schema"] for name, p in raw["path_params"].items()},
        query_params={
            name: QueryParam(name, p["schema"], bool(p["required"]), bool(p["repeated"]))
            for name, p in raw["query_params"].items()
        },
        request_body=None if raw["request_body"] is None else raw["request_body"]["schema"],
        responses={status: r["schema"] for status, r in raw["responses"].items()},
        provenance=raw["provenance"],
    )


@cache
def _template(path: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(pattern + "/?")


@cache
def _validator(owner: Contract, schema_json: str) -> Draft202012Validator:
    schema = {"$defs": owner.defs, **json.loads(schema_json)}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _document() -> Any:
    packaged = files("nexla_procurify").joinpath("contract", _FILE)
    if packaged.is_file():
        return json.loads(packaged.read_text(encoding="utf-8"))
    source = Path(__file__).resolve().parents[2] / "contract" / _FILE
    return json.loads(source.read_text(encoding="utf-8"))


@cache
def contract() -> Contract:
    """The contract, loaded once (treat it as read-only)."""
    return Contract(_document())
