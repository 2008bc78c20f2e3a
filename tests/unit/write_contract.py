"""Procurify's write contract for the conformance tests: answers made from the contract's
response schemas, a requests-mock Procurify that checks every request against the contract,
and records drawn from the shipped request schemas."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests_mock as requests_mock_module
from hypothesis import strategies as st
from shared import BASE as BASE_URL
from unit.destination_helpers import TOKEN_PATH, make_session

from nexla_procurify import destination
from nexla_procurify.messages import WriteResult
from nexla_procurify.resources import Resource, catalogue
from nexla_procurify.sandbox.contract import Contract, contract
from nexla_procurify.validation import shipped_validator

CREATED_ID = 4321
CREATED_UUID = "0b9c6a8e-2f1d-4f7e-9a1b-5c3d2e1f0a9b"
FOUND_ID = 55


# ------------------------------------------------------------------- the contract's answers


def example(schema: Mapping[str, Any], defs: Contract) -> Any:
    """The smallest instance of a contract schema: required fields only, first choices."""
    schema = defs.resolve(schema)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return example(schema[key][0], defs)
    if "enum" in schema:
        return schema["enum"][0]
    kinds = schema.get("type", "object")
    kind = kinds if isinstance(kinds, str) else next(k for k in kinds if k != "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {
            name: example(props[name], defs) for name in schema.get("required", []) if name in props
        }
    if kind == "array":
        return []
    if kind == "string":
        return {
            "date": "2026-01-01",
            "date-time": "2026-01-01T00:00:00Z",
            "uuid": CREATED_UUID,
            "email": "someone@acme.test",
            "uri": BASE_URL,
            "decimal": "1",
        }.get(schema.get("format", ""), "x" * schema.get("minLength", 1))
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return True
    return None


def id_name(schema: Mapping[str, Any]) -> str:
    props = schema.get("properties", {})
    return "id" if "id" in props else "uuid"


def success_answer(operation: Any) -> tuple[int, Any]:
    """The documented success status and an answer valid against its response schema; a
    created record carries ``CREATED_ID`` (or ``CREATED_UUID`` where it has no id)."""
    status, schema = operation.success()
    if schema is None:
        return int(status), None
    c = contract()
    body = example(schema, c)
    resolved = c.resolve(schema)
    data = resolved.get("properties", {}).get("data")
    if data is None or "id" in resolved.get("properties", {}):  # the bare record
        body[id_name(resolved)] = CREATED_ID
    elif c.resolve(data).get("type") == "array":
        item = c.resolve(data)["items"]
        body["data"] = [{**example(item, c), "id": CREATED_ID}]
    else:
        inner = c.resolve(data)
        name = id_name(inner)
        body["data"] = {**example(inner, c), name: CREATED_ID if name == "id" else CREATED_UUID}
    assert not list(c.validator_for(schema).iter_errors(body)), operation.name
    return int(status), body


def list_answer(operation: Any, records: list[dict[str, Any]]) -> Any:
    c = contract()
    _, schema = operation.success()
    assert schema is not None
    body = example(schema, c)
    item = c.resolve(c.resolve(schema)["properties"]["data"])["items"]
    body["data"] = [{**example(item, c), **record} for record in records]
    body["metadata"] = {
        "pagination": {
            "count": len(records),
            "num_pages": 1,
            "current_page": 1,
            "page_size": 50,
            "next": None,
            "previous": None,
        }
    }
    assert not list(c.validator_for(schema).iter_errors(body)), operation.name
    return body


# ------------------------------------------------------------------------- checking requests


@dataclass
class Procurify:
    """Answers every API request as the contract says, and keeps each for checking.
    ``found`` is what a lookup (a GET of a list) finds; ``uncertain`` answers the next POSTs
    with 502 (an outcome Procurify leaves unknown)."""

    mocker: requests_mock_module.Mocker
    found: list[dict[str, Any]] = field(default_factory=list)
    uncertain: int = 0
    sent: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mocker.register_uri(
            requests_mock_module.ANY, re.compile(re.escape(BASE_URL)), content=self._answer
        )
        self.mocker.post(BASE_URL + TOKEN_PATH, json={"access_token": "t", "expires_in": 86400})

    def _answer(self, request: Any, context: Any) -> bytes:
        self.sent.append(request)
        found = contract().find(request.method, urlsplit(request.url).path)
        if found is None:
            context.status_code = 404
            return b'{"detail": "Not found."}'
        operation, _ = found
        if request.method == "GET":
            return json.dumps(list_answer(operation, self.found)).encode()
        if request.method == "POST" and self.uncertain:
            self.uncertain -= 1
            context.status_code = 502
            return b"Bad gateway"
        status, body = success_answer(operation)
        context.status_code = status
        return b"" if body is None else json.dumps(body).encode()

    def api_requests(self) -> list[Any]:
        return [r for r in self.sent if urlsplit(r.url).path != TOKEN_PATH]


def problems(request: Any) -> list[str]:
    """Every way ``request`` is not a request Procurify's contract documents."""
    c = contract()
    url = urlsplit(request.url)
    found = c.find(request.method, url.path)
    if found is None:
        return [f"{request.method} {url.path} is not in the contract"]
    operation, args = found
    out = [
        f"path {name}: {message}"
        for name, messages in c.path_problems(operation, args).items()
        for message in messages
    ]
    query = parse_qs(url.query, keep_blank_values=True)
    out += [
        f"query {name}: {message}"
        for name, messages in c.query_problems(operation, query).items()
        for message in messages
    ]
    body = None if request.body in (None, b"", "") else json.loads(request.body)
    out += [
        f"body {where or '(root)'}: {message}" for where, message in c.body_errors(operation, body)
    ]
    if operation.request_body is not None and body is not None:
        out += [
            f"body {where}: not declared by the contract"
            for where in c.undeclared(operation.request_body, body)
        ]
    return out


def assert_conforms(procurify: Procurify) -> None:
    sent = procurify.api_requests()
    assert sent, "the connector sent nothing to check"
    for request in sent:
        assert problems(request) == [], f"{request.method} {request.url}"


# ------------------------------------------------------------------------- records from schemas


def from_schema(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Instances of one of our (self-contained) request schemas."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "oneOf" in schema:
        return st.one_of([from_schema(option) for option in schema["oneOf"]])
    kinds = schema.get("type", "object")
    if isinstance(kinds, list):
        return st.one_of([from_schema({**schema, "type": kind}) for kind in kinds])
    if kinds == "null":
        return st.none()
    if kinds == "boolean":
        return st.booleans()
    if kinds in ("integer", "number"):
        return st.integers(min_value=schema.get("minimum", -1000), max_value=10**6)
    if kinds == "array":
        return st.lists(from_schema(schema.get("items", {"type": "string"})), max_size=2)
    if kinds == "object":
        props = schema.get("properties")
        if props is None:  # an open object (payment details, discounts)
            return st.dictionaries(
                st.text(string.ascii_lowercase, min_size=1, max_size=6),
                st.integers() | st.text(max_size=6),
                max_size=2,
            )
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {name: from_schema(spec) for name, spec in props.items() if name in required},
            optional={
                name: from_schema(spec) for name, spec in props.items() if name not in required
            },
        )
    return text(schema)


def text(schema: Mapping[str, Any]) -> st.SearchStrategy[str]:
    fmt = schema.get("format")
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    if fmt == "email":
        return st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.test", fullmatch=True)
    if fmt == "date":
        return st.dates().map(lambda day: day.isoformat())
    if fmt == "date-time":
        return st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat())
    low = schema.get("minLength", 0)
    return st.text(min_size=low, max_size=min(schema.get("maxLength", 12), 12))


def request_schema(path: str) -> Mapping[str, Any]:
    """One of our shipped request schemas (an object schema, never a boolean one)."""
    schema = shipped_validator(path).schema
    assert isinstance(schema, Mapping), path
    return schema


def record_strategy(resource: Resource, name: str) -> st.SearchStrategy[dict[str, Any]]:
    operation = resource.operation("create" if name == "upsert" else name)
    schema = (
        request_schema(operation.request_schema)
        if operation.request_schema
        else {"type": "object", "properties": {}}
    )
    records = from_schema(schema)
    if operation.defaults:  # fields Procurify computes: a record may leave them out
        records = st.tuples(records, st.booleans()).map(
            lambda pair: {
                name: value
                for name, value in pair[0].items()
                if not (pair[1] and name in operation.defaults)
            }
        )
    if operation.id_field is not None:
        records = st.tuples(records, st.integers(1, 10**6)).map(
            lambda pair: {**pair[0], operation.id_field: pair[1]}
        )
    if name == "upsert":
        key = resource.upsert_key
        assert key is not None
        keys = st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=20)
        records = st.tuples(records, keys).map(lambda pair: {**pair[0], key: pair[1]})
    return records


def run(
    config: Mapping[str, Any],
    records: list[dict[str, Any]],
    via: Callable[..., Iterator[WriteResult] | None] | None = None,
) -> list[WriteResult]:
    session = make_session()
    if via is None:
        return list(destination.write(session, config, records, sleep=lambda _: None))
    results = via(connector_type="procurify", session=session, config=dict(config), records=records)
    assert results is not None
    return list(results)


def expected_id(resource: Resource, name: str, record: Mapping[str, Any]) -> Any:
    operation = resource.operation("create" if name == "upsert" else name)
    if operation.id_field is not None:
        return record[operation.id_field]
    return CREATED_UUID if resource.key == ("uuid",) else CREATED_ID


def valid_record(resource: Resource, name: str) -> dict[str, Any]:
    """A small record valid against our request schema (``example`` of our own schema)."""
    operation = resource.operation(name)
    assert operation.request_schema is not None
    schema = request_schema(operation.request_schema)
    record: dict[str, Any] = example(schema, contract())
    assert shipped_validator(operation.request_schema).is_valid(record)
    return record


def purchase_order_update() -> dict[str, Any]:
    """A purchase-order update body valid against the contract (used by other tests)."""
    return valid_record(catalogue().resources["purchase_orders"], "update")
