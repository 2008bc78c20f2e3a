"""Read conformance: every request the real connector sends while reading, for every readable
resource and every read option, is checked against Procurify's contract
(``contract/procurify.json``): the operation exists, no query parameter is undocumented,
repeated where the contract takes one value, or of the wrong type, and path parameters are
valid. Procurify's answers are built from the contract's response schemas (never from the
connector's stream schemas), and the records the connector emits from them must match the
connector's stream schemas."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

import pytest
import requests_mock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared import BASE, REPO
from shared import host_read as read  # the read_source hook, as a host calls it
from unit.read_contract import (
    RECORDS,
    FakeProcurify,
    check_records,
    default_list_path,
    example_text,
    expected_records,
    list_operation,
)

from nexla_procurify import settings as settings_module
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.http import HttpClient, HttpPolicy
from nexla_procurify.resources import Catalogue, Resource, catalogue
from nexla_procurify.sandbox.contract import contract
from nexla_procurify.source import config as source_config

READABLE = [catalogue().resources[name] for name in catalogue().names("source")]


# Query parameters of list operations that the connector manages itself, not as filters.
MANAGED = {"page", "page_size", "order_by"}


# The contract's ``format`` asks for CSV or JSON: the connector reads JSON, Procurify's default.
NOT_A_FILTER = {"format"}


@pytest.fixture(params=[False, True], ids=["required-fields", "every-field"])
def fake(request: pytest.FixtureRequest) -> FakeProcurify:
    return FakeProcurify(full=request.param)


@pytest.fixture
def session(fake: FakeProcurify) -> Iterator[ProcurifySession]:
    with requests_mock.Mocker(case_sensitive=True) as mock:
        mock.register_uri(requests_mock.ANY, requests_mock.ANY, json=fake)
        mock.post(f"{BASE}/api/v3/oauth/token", json={"access_token": "t", "expires_in": 86400})
        credential = Credential("test", "client", Secret("s3cr3t-value-never-shown"), BASE)
        with ProcurifySession(
            credential, client=HttpClient(HttpPolicy(), sleep=lambda _: None)
        ) as opened:
            yield opened


@pytest.mark.parametrize("resource", READABLE, ids=lambda r: r.name)
def test_each_filter_is_a_documented_parameter_with_the_contracts_type(resource: Resource) -> None:
    operation = list_operation(resource)
    for name, spec in resource.filters.items():
        param = operation.query_params.get(name)
        assert param is not None, f"{resource.name}: {name} is not in {operation.name}"
        documented = dict(contract().resolve(param.schema))
        kinds = documented.get("type")
        if isinstance(kinds, list):  # a query parameter cannot be null: the type without it
            documented["type"] = next(kind for kind in kinds if kind != "null")
        assert dict(spec) == documented, f"{resource.name}: {name}"
        assert (spec.get("type") == "array") == param.repeated, f"{resource.name}: {name}"
    undocumented_as_filter = (
        set(operation.query_params)
        - set(resource.filters)
        - MANAGED
        - NOT_A_FILTER
        - ({resource.incremental.filter} if resource.incremental else set())
    )
    assert undocumented_as_filter == set(), f"{resource.name}: parameters not offered"


@pytest.mark.parametrize("resource", READABLE, ids=lambda r: r.name)
def test_path_params_cursors_and_details_are_the_contracts(resource: Resource) -> None:
    operation = list_operation(resource)
    assert {param.name for param in resource.path_params} <= set(operation.path_params)
    for param in resource.path_params:
        assert set(param.choices) == set(
            contract().resolve(operation.path_params[param.name])["enum"]
        ), param.name
    if resource.incremental is not None:
        assert resource.incremental.filter in operation.query_params
        fmt = operation.query_params[resource.incremental.filter].schema.get("format")
        assert fmt == resource.incremental.granularity
    if resource.order_by is not None:
        assert "order_by" in operation.query_params
    if resource.pagination == "page":
        assert {"page", "page_size"} <= set(operation.query_params)
    if resource.detail is not None:
        contract().operation("GET", resource.detail.path)


@pytest.mark.parametrize("concurrency", [1, 6])
@pytest.mark.parametrize("resource", READABLE, ids=lambda r: r.name)
def test_a_plain_read_sends_only_what_the_contract_documents(
    session: ProcurifySession, fake: FakeProcurify, resource: Resource, concurrency: int
) -> None:
    records, states = read(
        session, {"resource": resource.name, "page_size": 2, "concurrency": concurrency}
    )
    assert fake.problems == []
    assert len(records) == expected_records(resource)
    check_records(resource, records)
    if resource.incremental is not None:  # and the next run, from the saved cursor
        del fake.requests[:]
        list(read(session, {"resource": resource.name, "page_size": 2}, states[-1]))
        assert fake.problems == []
        lists = [query for _, path, query in fake.requests if path == default_list_path(resource)]
        assert lists
        assert all(resource.incremental.filter in query for query in lists)


@pytest.mark.parametrize("page_size", [1, 2, 500])
@pytest.mark.parametrize(
    "resource", [r for r in READABLE if r.pagination == "page"], ids=lambda r: r.name
)
def test_page_size_and_order_are_sent_as_documented(
    session: ProcurifySession, fake: FakeProcurify, resource: Resource, page_size: int
) -> None:
    records, _ = read(session, {"resource": resource.name, "page_size": page_size})
    assert fake.problems == []
    assert len(records) == RECORDS
    lists = [query for _, path, query in fake.requests if path == default_list_path(resource)]
    assert lists
    # Pages of the size asked for; the looks across page boundaries ask for a few records, and
    # every size is one the contract allows.
    assert any(query["page_size"] == [str(page_size)] for query in lists)
    largest = catalogue().max_page_size
    assert all(1 <= int(query["page_size"][0]) <= largest for query in lists)
    if resource.order_by is not None:
        assert all(query["order_by"] == [resource.order_by] for query in lists)


@pytest.mark.parametrize("start", ["2026-11-01", "2026-11-01T08:30:00+02:00"])
@pytest.mark.parametrize("resource", [r for r in READABLE if r.incremental], ids=lambda r: r.name)
def test_start_date_is_sent_in_the_cursor_parameters_documented_format(
    session: ProcurifySession, fake: FakeProcurify, resource: Resource, start: str
) -> None:
    read(session, {"resource": resource.name, "start_date": start})
    assert fake.problems == []
    assert resource.incremental is not None
    assert any(resource.incremental.filter in query for _, _, query in fake.requests)


PATH_CHOICES = [
    (resource, dict(zip([p.name for p in resource.path_params], values, strict=True)))
    for resource in READABLE
    if resource.path_params
    for values in itertools.product(*(p.choices for p in resource.path_params))
]


@pytest.mark.parametrize(
    ("resource", "values"),
    PATH_CHOICES,
    ids=lambda v: v.name if isinstance(v, Resource) else "-".join(v.values()),
)
def test_every_documented_path_choice_is_sent_valid(
    session: ProcurifySession, fake: FakeProcurify, resource: Resource, values: dict[str, str]
) -> None:
    records, _ = read(session, {"resource": resource.name, **values})
    assert fake.problems == []
    assert len(records) == RECORDS
    assert any(path == resource.list_path(values) for _, path, _ in fake.requests)


def _one_value(schema: Mapping[str, Any]) -> Any:
    """A valid config value for a filter of this contract schema."""
    if schema.get("type") == "array":
        item = _one_value(schema["items"])
        return [item, item]
    if "enum" in schema:
        return schema["enum"][-1]
    kinds = schema.get("type")
    assert kinds is not None, schema
    kind = kinds if isinstance(kinds, str) else next(k for k in kinds if k != "null")
    return {"integer": 7, "number": 2.5, "boolean": False}.get(
        kind, example_text(schema) if schema.get("format") else "text"
    )


FILTER_CASES = [(resource, name) for resource in READABLE for name in sorted(resource.filters)]


@pytest.mark.parametrize(
    ("resource", "name"), FILTER_CASES, ids=lambda v: v.name if isinstance(v, Resource) else v
)
def test_every_filter_is_sent_as_the_contract_documents_it(
    session: ProcurifySession, fake: FakeProcurify, resource: Resource, name: str
) -> None:
    value = _one_value(resource.filters[name])
    read(session, {"resource": resource.name, "filters": {name: value}})
    assert fake.problems == []
    sent = [query[name] for _, _, query in fake.requests if name in query]
    assert sent
    expected = (
        [str(v) for v in value]
        if isinstance(value, list)
        else [str(value).lower() if isinstance(value, bool) else str(value)]
    )
    assert sent[0] == expected


def _strategy(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    if schema.get("type") == "array":
        return st.lists(_strategy(schema["items"]), min_size=1, max_size=4)
    if "enum" in schema:
        return st.sampled_from([value for value in schema["enum"] if value is not None])
    kinds = schema.get("type")
    assert kinds is not None, schema
    kind = kinds if isinstance(kinds, str) else next(k for k in kinds if k != "null")
    fmt = schema.get("format")
    if kind == "integer":
        return st.integers(min_value=-(2**31), max_value=2**31 - 1)
    if kind == "number":
        return st.integers(-(10**6), 10**6) | st.floats(-1e9, 1e9, allow_nan=False)
    if kind == "boolean":
        return st.booleans() | st.sampled_from(["true", "false", "TRUE", "False"])
    if fmt == "date":
        return st.dates(date(1990, 1, 1), date(2100, 1, 1)).map(date.isoformat)
    if fmt == "date-time":
        return st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)).map(
            datetime.isoformat
        )
    if fmt == "uuid":
        return st.uuids().map(str)
    return st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
    )


@pytest.mark.parametrize("resource", [r for r in READABLE if r.filters], ids=lambda r: r.name)
def test_any_valid_filters_are_sent_as_documented(resource: Resource) -> None:
    filters = st.fixed_dictionaries(
        {}, optional={name: _strategy(spec) for name, spec in resource.filters.items()}
    )

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(filters=filters, page_size=st.integers(1, 4), concurrency=st.integers(1, 4))
    def check(filters: dict[str, Any], page_size: int, concurrency: int) -> None:
        fake = FakeProcurify()
        with requests_mock.Mocker(case_sensitive=True) as mock:
            mock.register_uri(requests_mock.ANY, requests_mock.ANY, json=fake)
            mock.post(f"{BASE}/api/v3/oauth/token", json={"access_token": "t", "expires_in": 86400})
            credential = Credential("test", "client", Secret("s3cr3t-value-never-shown"), BASE)
            with ProcurifySession(
                credential, client=HttpClient(HttpPolicy(), sleep=lambda _: None)
            ) as opened:
                records, _ = read(
                    opened,
                    {
                        "resource": resource.name,
                        "filters": filters,
                        "page_size": page_size,
                        "concurrency": concurrency,
                    },
                )
        assert fake.problems == []
        assert len(records) == RECORDS

    check()


def test_an_undocumented_or_mistyped_parameter_fails_the_check(
    session: ProcurifySession, fake: FakeProcurify, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connector that believed vendors take a ``colour`` filter, or departments' locations
    one text, is caught."""
    cat = catalogue()
    vendors, departments = cat.resources["vendors"], cat.resources["departments"]
    wrong = dataclasses.replace(
        cat,
        resources=MappingProxyType(
            {
                **cat.resources,
                "vendors": dataclasses.replace(
                    vendors,
                    filters=MappingProxyType(
                        {**vendors.filters, "colour": MappingProxyType({"type": "string"})}
                    ),
                ),
                "departments": dataclasses.replace(
                    departments,
                    filters=MappingProxyType(
                        {**departments.filters, "locations": MappingProxyType({"type": "string"})}
                    ),
                ),
            }
        ),
    )
    _believe(monkeypatch, wrong)
    read(session, {"resource": "vendors", "filters": {"colour": "red"}})
    assert any("has no query parameter 'colour'" in problem for problem in fake.problems)
    fake.problems.clear()
    read(session, {"resource": "departments", "filters": {"locations": "1,2"}})
    assert any("query locations: A valid integer is required" in p for p in fake.problems)


def _believe(monkeypatch: pytest.MonkeyPatch, wrong: Catalogue) -> None:
    """The source's configuration is parsed against ``wrong`` (what reads configure)."""
    for module in (source_config, settings_module):
        monkeypatch.setattr(module, "catalogue", lambda: wrong)


def test_an_undocumented_path_fails_the_check(
    session: ProcurifySession, fake: FakeProcurify, monkeypatch: pytest.MonkeyPatch
) -> None:
    cat = catalogue()
    orders = cat.resources["purchase_orders"]
    wrong = dataclasses.replace(
        cat,
        resources=MappingProxyType(
            {
                **cat.resources,
                "purchase_orders": dataclasses.replace(
                    orders,
                    path_params=tuple(
                        dataclasses.replace(p, default="lost", choices=(*p.choices, "lost"))
                        if p.name == "status"
                        else p
                        for p in orders.path_params
                    ),
                ),
            }
        ),
    )
    _believe(monkeypatch, wrong)
    read(session, {"resource": "purchase_orders"})
    assert any("path status: 'lost' is not a valid choice" in p for p in fake.problems)


@pytest.mark.parametrize("full", [False, True])
def test_answers_built_from_the_contract_are_valid_per_the_contract(full: bool) -> None:
    fake = FakeProcurify(full=full)
    doc = contract()
    for resource in READABLE:
        operation = list_operation(resource)

        class Context:
            status_code = 200
            headers: dict[str, str] = {}  # noqa: RUF012

        path_args = {p.name: p.default for p in resource.path_params}
        answers = [(operation, fake.answer(operation, path_args, {"page_size": ["2"]}, Context()))]
        if resource.detail is not None:
            detail = doc.operation("GET", resource.detail.path)
            key = "2" if resource.detail.id_field == "id" else str(uuid.UUID(int=2))
            answers.append((detail, fake.answer(detail, {"id": key}, {}, Context())))
        for answered, body in answers:
            _, schema = answered.success()
            assert schema is not None
            errors = [e.message for e in doc.validator_for(schema).iter_errors(body)]
            assert errors == [], (answered.name, errors[:3])


def test_every_read_of_the_contract_is_a_stream_or_named_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    used = {r.path for r in READABLE} | {r.detail.path for r in READABLE if r.detail}
    for operation in contract().operations:
        if operation.method == "GET" and operation.path not in used:
            assert f"| `GET {operation.path}` |" in readme, operation.name
    for resource in READABLE:
        assert f"| `{resource.name}` |" in readme, resource.name
