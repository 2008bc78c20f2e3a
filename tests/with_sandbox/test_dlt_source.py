"""The dlt source's parts that need no dlt: column hints from the flattened schemas, the plan
of each resource (every problem at once), and reading with the state kept in a mapping (as
dlt's resource state is), against the sandbox. The dlt pipeline itself (into DuckDB, twice)
is checked by ``.ci/downstream``, where dlt is installed."""

from __future__ import annotations

import contextlib
import importlib
import itertools
import sys
import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared import REPO

from nexla_procurify import plugin
from nexla_procurify.dlt_columns import column_hints, data_type
from nexla_procurify.dlt_reading import STATE_KEY, plan, read_records
from nexla_procurify.errors import ConfigurationError, CredentialError
from nexla_procurify.host import Host
from nexla_procurify.messages import Checkpoint, Record
from nexla_procurify.resources import catalogue
from nexla_procurify.sandbox import Sandbox
from nexla_procurify.source import ReadState, schema_message

HOST = Host(plugins=[plugin])
ROOT = REPO


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ({"type": ["integer", "null"]}, "bigint"),
        ({"type": "number"}, "double"),
        ({"type": ["integer", "number", "null"]}, "double"),
        ({"type": ["boolean", "null"]}, "bool"),
        ({"type": ["string", "null"], "format": "date-time"}, "timestamp"),
        ({"type": "string", "format": "date"}, "date"),
        ({"type": ["string", "null"], "format": "decimal"}, "text"),  # exact, not rounded
        ({"type": ["string", "null"], "format": "email"}, "text"),
        ({"type": ["object", "null"], "properties": {"a": {"type": "string"}}}, "json"),
        ({"type": ["array", "null"], "items": {"type": "integer"}}, "json"),
        ({"type": ["string", "integer", "null"]}, "json"),
        ({"type": "null"}, "json"),
        ({}, "json"),
    ],
)
def test_data_types(prop: dict[str, Any], expected: str) -> None:
    assert data_type(prop) == expected


@pytest.mark.parametrize("name", catalogue().names("source"))
def test_every_declared_property_is_a_column(name: str) -> None:
    """A column all null in the data is still declared: dlt creates it from the hint."""
    resource = catalogue().resources[name]
    schema = schema_message(resource).schema
    (planned,) = plan([name])
    assert list(planned.columns) == list(schema["properties"])
    assert planned.primary_key == resource.key
    for column, hint in planned.columns.items():
        assert hint["name"] == column
        assert hint["nullable"] is (column not in resource.key)
    assert planned.cursor == (resource.incremental.cursor_field if resource.incremental else None)


def test_column_hints_of_a_schema_without_properties() -> None:
    assert column_hints({"type": "object"}) == {}


def test_plan_defaults_to_every_readable_resource_in_catalogue_order() -> None:
    assert [each.name for each in plan(None)] == catalogue().names("source")


def test_plan_gives_settings_to_every_resource_and_resource_settings_to_one() -> None:
    plans = plan(
        ["vendors", "purchase_orders"],
        {"page_size": 7},
        {"purchase_orders": {"role": "receivable"}},
    )
    assert [dict(each.config) for each in plans] == [
        {"page_size": 7, "resource": "vendors"},
        {"page_size": 7, "role": "receivable", "resource": "purchase_orders"},
    ]


def test_plan_reports_every_problem_at_once() -> None:
    with pytest.raises(ConfigurationError) as raised:
        plan(
            ["nope", "vendors", "vendors", "bills"],
            {"page_size": 0, "resource": "x"},
            {"users": {}, "bills": {"role": "receivable"}},
        )
    message = str(raised.value)
    for part in (
        "Unknown source resource(s) 'nope'",
        "named more than once: vendors",
        "must not name a 'resource'",
        "not selected: users",
        "vendors:",
        "bills:",
        "'page_size'",
        "role",
    ):
        assert part in message


@pytest.mark.parametrize(
    ("resources", "problem"),
    [
        ("vendors", "a list of resource names"),
        ([], "No resource selected"),
        (5, r"'resources' must be a list of resource names, such as .* not int"),
        ({"vendors": True}, "not dict"),
        ([5], "'resources' must hold resource names"),
    ],
)
def test_plan_refuses_a_selection_that_is_not_a_list_of_names(resources: Any, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        plan(resources)


def test_resource_settings_must_be_objects() -> None:
    with pytest.raises(ConfigurationError, match="vendors: its resource settings must be"):
        plan(["vendors"], None, {"vendors": ["page_size"]})  # type: ignore[dict-item]


def test_settings_of_the_wrong_type_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match=r"'settings' must be an object .* not str"):
        plan(["vendors"], "x")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'resource_settings' must be an object"):
        plan(["vendors"], None, 5)  # type: ignore[arg-type]


ANYTHING = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.sampled_from(["vendors"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@given(ANYTHING, ANYTHING, ANYTHING)
def test_plan_never_fails_with_anything_but_a_configuration_error(
    resources: Any, common: Any, own: Any
) -> None:
    with contextlib.suppress(ConfigurationError):
        plan(resources, common, own)


def host_read(
    sandbox: Sandbox, config: dict[str, Any], state: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], Any]:
    records, last = [], None
    with HOST.authenticate("procurify", sandbox.credential()) as session:
        for message in HOST.read("procurify", session, config, state):
            if isinstance(message, Record):
                records.append(dict(message.record))
            elif isinstance(message, Checkpoint):
                last = dict(message.value)
    return records, last


@pytest.mark.parametrize("name", ["vendors", "purchase_orders", "bill_details", "me"])
def test_read_records_reads_as_the_hooks_and_keeps_the_last_checkpoint(
    sandbox: Sandbox, name: str
) -> None:
    config = {"resource": name, "page_size": 7}
    state: dict[str, Any] = {}
    records = list(read_records(sandbox.credential(), config, state))
    expected, last = host_read(sandbox, config)
    assert records == expected
    assert list(state) == [STATE_KEY]
    saved = dict(state[STATE_KEY])
    # The same last checkpoint, but for the cursor: the server's clock when each read began.
    assert ("cursor" in saved) == ("cursor" in last)
    assert {**saved, "cursor": None} == {**last, "cursor": None}
    assert ReadState.from_dict(state[STATE_KEY]).to_dict() == state[STATE_KEY]


def test_a_second_read_starts_from_the_saved_state(sandbox: Sandbox) -> None:
    config = {"resource": "purchase_orders"}
    state: dict[str, Any] = {}
    first = list(read_records(sandbox.credential(), config, state))
    saved = dict(state[STATE_KEY])
    second = list(read_records(sandbox.credential(), config, state))
    assert saved.get("cursor")
    assert second == host_read(sandbox, config, saved)[0]
    assert len(second) < len(first)


def test_the_state_follows_each_page(sandbox: Sandbox) -> None:
    state: dict[str, Any] = {}
    config = {"resource": "vendors", "page_size": 5, "concurrency": 1}  # no pages in flight
    records = read_records(sandbox.credential(), config, state)
    for _ in range(6):  # page 1 and the first record of page 2
        next(records)
    assert state[STATE_KEY]["in_progress"]["page"] == 1
    records.close()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stop=st.integers(0, 40), page_size=st.integers(1, 9))
def test_a_read_stopped_anywhere_and_resumed_loses_no_record(
    sandbox: Sandbox, stop: int, page_size: int
) -> None:
    """dlt commits the state with the records extracted before it: what a resumed read adds to
    a stopped one's records covers every record."""
    config = {"resource": "vendors", "page_size": page_size, "concurrency": 1}
    state: dict[str, Any] = {}
    reading = read_records(sandbox.credential(), config, state)
    before = list(itertools.islice(reading, stop))
    reading.close()
    after = list(read_records(sandbox.credential(), config, dict(state)))
    expected = [record["id"] for record in sandbox.records("vendors")]
    assert {record["id"] for record in before + after} == set(expected)
    assert [record["id"] for record in after] == sorted({r["id"] for r in after})


def test_a_bad_credential_is_refused_before_any_request(sandbox: Sandbox) -> None:
    credential = {**sandbox.credential(), "client_id": "", "base_url": "ftp://x"}
    with pytest.raises(CredentialError) as raised:
        next(read_records(credential, {"resource": "vendors"}, {}))
    assert "client_id" in str(raised.value)
    assert "base_url" in str(raised.value)
    assert credential["client_secret"] not in str(raised.value)
    assert sandbox.requests == []


def test_without_dlt_the_import_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dlt", None)  # as if dlt were not installed
    monkeypatch.delitem(sys.modules, "nexla_procurify.dlt", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'nexla-procurify\[dlt\]'"):
        importlib.import_module("nexla_procurify.dlt")


def test_dlt_is_an_optional_extra_that_mypy_may_not_find() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(req.startswith("dlt") for req in project["project"]["optional-dependencies"]["dlt"])
    assert not any(req.startswith("dlt") for req in project["project"]["dependencies"])
    overrides = project["tool"]["mypy"]["overrides"]
    assert {"module": ["dlt", "dlt.*"], "ignore_missing_imports": True} in overrides


def test_closing_the_records_closes_the_read_before_the_session(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dlt closes a resource's generator early (``add_limit``, an error elsewhere): the read
    stops its prefetching before its session is closed."""
    events: list[str] = []

    class Session:
        def __enter__(self) -> Session:
            return self

        def __exit__(self, *_: object) -> None:
            events.append("session closed")

    def messages(**_: Any) -> Any:
        try:
            yield Record("vendors", {"id": 1})
            yield Record("vendors", {"id": 2})
        finally:
            events.append("read closed")

    monkeypatch.setattr(plugin, "authenticate", lambda **_: Session())
    monkeypatch.setattr(plugin, "read_source", messages)
    reading = read_records(sandbox.credential(), {"resource": "vendors"}, {})
    assert next(reading) == {"id": 1}
    reading.close()
    assert events == ["read closed", "session closed"]


def test_a_plan_is_a_value() -> None:
    (planned,) = plan(["vendors"])
    with pytest.raises(TypeError):
        planned.columns["id"]["nullable"] = True  # type: ignore[index]
    with pytest.raises(TypeError):
        planned.config["page_size"] = 1  # type: ignore[index]
