"""Procurify's read contract for the conformance tests: answers built from the contract's
response schemas, and a requests-mock Procurify that checks every read request against the
contract."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from jsonschema import Draft202012Validator
from shared import SERVER_DATE

from nexla_procurify import manifest
from nexla_procurify.resources import Resource
from nexla_procurify.sandbox.contract import Contract, Operation, contract, undeclared_fields

RECORDS = 3  # per list: more than one page at page_size 2


def example(schema: Mapping[str, Any], doc: Contract, *, full: bool = False) -> Any:
    """An instance of a contract schema: the required fields only (every declared field when
    ``full``), each the simplest value its type, enum, format and pattern allow."""
    schema = doc.resolve(schema)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return example(schema[key][0], doc, full=full)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example(part, doc, full=full)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return next((value for value in schema["enum"] if value is not None), None)
    kinds = schema.get("type")
    kind = (
        kinds
        if isinstance(kinds, str)
        else next((k for k in kinds or ("object",) if k != "null"), "null")
    )
    if kind == "object" or (kinds is None and "properties" in schema):
        properties = schema.get("properties", {})
        names = properties if full else schema.get("required", ())
        return {
            name: example(properties[name], doc, full=full) for name in names if name in properties
        }
    if kind == "array":
        items = schema.get("items")
        return [example(items, doc, full=full)] if full and isinstance(items, Mapping) else []
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return example_text(schema)


def example_text(schema: Mapping[str, Any]) -> str:
    fmt, pattern = schema.get("format"), schema.get("pattern")
    if pattern == "^[0-9]{4}$":
        return "2026"
    if pattern or fmt == "decimal":
        return "1"
    by_format = {
        "date": "2026-11-01",
        "date-time": "2026-11-01T00:00:00Z",
        "email": "someone@example.com",
        "uuid": str(uuid.UUID(int=1)),
        "uri": "https://example.com/x",
    }
    if isinstance(fmt, str) and fmt in by_format:
        return by_format[fmt]
    min_length: int = schema.get("minLength", 1)
    return "x" * max(1, min_length)


def _with_key(
    record: dict[str, Any], schema: Mapping[str, Any], doc: Contract, number: int
) -> dict[str, Any]:
    """``record`` with the ``id`` and ``uuid`` its schema declares set to the ``number``-th."""
    properties = doc.resolve(schema).get("properties", {})
    if "id" in properties:
        record["id"] = number
    if "uuid" in properties:
        record["uuid"] = str(uuid.UUID(int=number))
    return record


class FakeProcurify:
    """Answers every request from the contract, and notes what is wrong with each request."""

    def __init__(self, records: int = RECORDS, *, full: bool = False) -> None:
        self.doc = contract()
        self.records = records
        self.full = full  # records with every declared field, or only the required ones
        self.problems: list[str] = []
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []

    def __call__(self, request: Any, context: Any) -> Any:
        parts = urlsplit(request.url)
        query = parse_qs(parts.query, keep_blank_values=True)
        self.requests.append((request.method, parts.path, query))
        context.headers["Date"] = SERVER_DATE
        found = self.doc.find(request.method, parts.path)
        where = f"{request.method} {parts.path}"
        if found is None:
            self.problems.append(f"{where}: the contract has no such operation")
            context.status_code = 404
            return {"detail": "Not found."}
        operation, args = found
        for name, messages in self.doc.query_problems(operation, query).items():
            self.problems.append(f"{where}: query {name}: {'; '.join(messages)}")
        for name, messages in self.doc.path_problems(operation, args).items():
            self.problems.append(f"{where}: path {name}: {'; '.join(messages)}")
        return self.answer(operation, args, query, context)

    def answer(
        self,
        operation: Operation,
        args: Mapping[str, str],
        query: Mapping[str, list[str]],
        context: Any,
    ) -> Any:
        _, schema = operation.success()
        assert schema is not None
        body = example(schema, self.doc)
        data_schema = self.doc.resolve(self.doc.resolve(schema)["properties"]["data"])
        if data_schema.get("type") != "array":  # one record: users/me or a detail
            record = body["data"] = example(data_schema, self.doc, full=self.full)
            if "id" in args:
                key = unquote(args["id"])
                field = (
                    "id"
                    if "id" in self.doc.resolve(data_schema).get("properties", {}) and key.isdigit()
                    else "uuid"
                )
                record[field] = int(key) if field == "id" else key
            return body
        page = int(query.get("page", ["1"])[0])
        size = int(query.get("page_size", [str(self.records)])[0])
        num_pages = max(1, math.ceil(self.records / size))
        if page > num_pages:
            context.status_code = 404
            return {"detail": "Invalid page."}
        first = (page - 1) * size + 1
        numbers = range(first, min(self.records, page * size) + 1)
        body["data"] = [self.item(data_schema["items"], n) for n in numbers]
        pagination = self._pagination(schema, body)
        if pagination is not None:
            pagination.update(
                count=self.records,
                num_pages=num_pages,
                current_page=page,
                page_size=size,
                next=None,
                previous=None,
            )
        return body

    def _pagination(self, schema: Mapping[str, Any], body: dict[str, Any]) -> dict[str, Any] | None:
        """The pagination object where the answer's schema declares one (``metadata`` or the
        top level), added to ``body`` when it was optional."""
        properties = self.doc.resolve(schema).get("properties", {})
        if "metadata" in properties:
            metadata = self.doc.resolve(properties["metadata"])
            paging = metadata.get("properties", {}).get("pagination")
            if paging is not None:
                holder = body.setdefault("metadata", example(metadata, self.doc))
                found: dict[str, Any] = holder.setdefault("pagination", example(paging, self.doc))
                return found
        if "pagination" in properties:
            top: dict[str, Any] = body.setdefault(
                "pagination", example(properties["pagination"], self.doc)
            )
            return top
        return None

    def item(self, schema: Mapping[str, Any], number: int) -> dict[str, Any]:
        item: dict[str, Any] = example(schema, self.doc, full=self.full)
        inner = self.doc.resolve(schema).get("properties", {}).get("data")
        if (
            "id" not in self.doc.resolve(schema).get("properties", {})
            and inner is not None
            and self.doc.resolve(inner).get("type") == "array"
        ):
            # An item wrapping its own list of records (locations).
            record_schema = self.doc.resolve(inner)["items"]
            item["data"] = [
                _with_key(
                    example(record_schema, self.doc, full=self.full),
                    record_schema,
                    self.doc,
                    number,
                )
            ]
            return item
        return _with_key(item, schema, self.doc, number)


def list_operation(resource: Resource) -> Operation:
    assert resource.path is not None
    return contract().operation("GET", resource.path)


def default_list_path(resource: Resource) -> str:
    return resource.list_path({param.name: param.default for param in resource.path_params})


def expected_records(resource: Resource) -> int:
    return 1 if resource.pagination == "single" else RECORDS


def check_records(resource: Resource, records: list[dict[str, Any]]) -> None:
    """What the connector emitted from contract-shaped answers matches its stream schema."""
    assert resource.stream_schema is not None
    schema = manifest.load_json(resource.stream_schema)
    check = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for record in records:
        assert [error.message for error in check.iter_errors(record)] == [], resource.name
        assert undeclared_fields(schema, record, schema.get("$defs", {})) == [], resource.name
    if resource.key:
        keys = [tuple(record.get(name) for name in resource.key) for record in records]
        assert len(set(keys)) == len(keys), resource.name
