"""Reading, unit level (requests-mock plays Procurify's list endpoints): the configuration,
filters (typed, listed, repeated) and the paths they choose."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests_mock
from jsonschema import Draft202012Validator
from shared import BASE
from unit.source_helpers import FakeList, split

from nexla_procurify import manifest, source
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.cli import arguments
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.resources import catalogue


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"resource": "invoices"}, "Unknown source resource 'invoices'; choose one of: vendors"),
        ({"resource": "vendors", "colour": "red"}, "Unknown source configuration key"),
        (
            {"resource": "vendors", "filters": {"colour": "red"}},
            "Unknown filter 'colour' for resource 'vendors'. Valid filters: exclude_other, ",
        ),
        ({"resource": "vendors", "filters": {"active": "yes"}}, "Unknown filter 'active'"),
        ({"resource": "users", "filters": {"is_active": "yes"}}, "must be true or false"),
        ({"resource": "vendors", "filters": {"type": 9}}, "must be one of 1, 2, 3"),
        (
            {"resource": "order_items", "filters": {"last_modified_0": "2026-01-01"}},
            "managed by the incremental cursor",
        ),
        (
            {"resource": "order_items", "filters": {"last_modified_1": "yesterday"}},
            "date (YYYY-MM-DD)",
        ),
        ({"resource": "vendors", "start_date": "2026-01-01"}, "only to incremental resources"),
        ({"resource": "bills", "start_date": "01/02/2026"}, "date (YYYY-MM-DD)"),
        ({"resource": "vendors", "page_size": 5000}, "'page_size' must be a whole number"),
        (
            {"resource": "vendors", "concurrency": 0},
            "'concurrency' must be \"auto\" or a whole number",
        ),
        ({"resource": "vendors", "role": "purchased"}, "Unknown source configuration key"),
        ({"resource": "purchase_orders", "status": "lost"}, "'status' must be one of"),
        ({"resource": "bills", "status": "paid"}, "Unknown source configuration key"),
        (
            {"resource": "vendor_details", "start_date": "2026-01-01"},
            "only to incremental resources",
        ),
        ({"resource": "requisitions"}, "Unknown source resource"),
        ("vendors", "must be a JSON object"),
    ],
)
def test_bad_configuration_fails_before_any_request(
    session: ProcurifySession,
    requests_mock: requests_mock.Mocker,
    config: Any,
    message: str,
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        source.read(session, config, None)
    assert requests_mock.request_history == []


def test_purchase_orders_use_role_and_status_in_the_path(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(
        f"{BASE}/api/v2/purchase_orders/receivable/open", json=FakeList([{"uuid": "a"}])
    )
    config = {"resource": "purchase_orders", "role": "receivable", "status": "open"}
    records, _ = split(source.read(session, config, None))
    assert records == [{"uuid": "a"}]


@pytest.mark.parametrize(
    ("resource", "filters", "sent"),
    [
        ("account_codes", {"code": "6000"}, {"code": ["6000"]}),
        ("users", {"is_active": "TRUE", "role": "2.5"}, {"is_active": ["true"], "role": ["2.5"]}),
        ("vendors", {"type": "3"}, {"type": ["3"]}),
    ],
)
def test_filters_given_as_text_are_converted_to_their_type(
    session: ProcurifySession,
    requests_mock: requests_mock.Mocker,
    resource: str,
    filters: dict[str, Any],
    sent: dict[str, list[str]],
) -> None:
    path = source.parse_config({"resource": resource}).resource.list_path({})
    requests_mock.get(f"{BASE}{path}", json=FakeList([]))
    list(source.read(session, {"resource": resource, "filters": filters}, None))
    assert requests_mock.last_request is not None
    for name, value in sent.items():
        assert requests_mock.last_request.qs[name] == value


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"type": "three"}, "must be a whole number"),
        ({"type": 2.5}, "must be a whole number"),
        ({"exclude_other": "maybe"}, "must be true or false"),
    ],
)
def test_filters_of_the_wrong_type_are_refused(
    session: ProcurifySession, filters: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        source.read(session, {"resource": "vendors", "filters": filters}, None)


def test_the_source_schema_lists_exactly_the_catalogue() -> None:
    schema = manifest.schema("source.schema.json")
    assert schema["properties"]["resource"]["enum"] == catalogue().names("source")
    incremental = [name for name, resource in catalogue().resources.items() if resource.incremental]
    assert schema["allOf"][1]["if"]["properties"]["resource"]["not"]["enum"] == incremental
    assert schema["properties"]["page_size"]["maximum"] == catalogue().max_page_size
    with_path = [
        name
        for name, resource in catalogue().resources.items()
        if resource.readable and resource.path_params
    ]
    assert schema["allOf"][0]["if"]["properties"]["resource"]["not"]["enum"] == with_path
    for param in catalogue().resources["purchase_orders"].path_params:
        assert schema["properties"][param.name]["enum"] == list(param.choices)
        assert schema["properties"][param.name]["default"] == param.default


@pytest.mark.parametrize(
    "config",
    [
        {"resource": "vendors"},
        {"resource": "order_items", "start_date": "2026-01-01", "page_size": 500},
        {
            "resource": "purchase_orders",
            "role": "receivable",
            "status": "open",
            "filters": {"pref_vendor": 3},
            "concurrency": 16,
        },
        {"resource": "bills", "start_date": "2026-01-01T08:00:00Z"},
        {"resource": "bill_details", "start_date": "2026-01-01", "filters": {"vendor": 4}},
        {"resource": "purchase_order_details", "role": "receivable", "status": "paid"},
        {"resource": "vendor_details", "filters": {"type": 2}},
    ],
)
def test_configs_the_connector_accepts_pass_the_shipped_schema(config: dict[str, Any]) -> None:
    source.parse_config(config)
    validator = Draft202012Validator(manifest.schema("source.schema.json"))
    assert list(validator.iter_errors(config)) == []


def test_source_settings_sent_as_null_mean_not_set() -> None:
    config = source.parse_config(
        {"resource": "vendors", "start_date": None, "page_size": None, "filters": None}
    )
    assert config.page_size == catalogue().default_page_size
    assert config.start is None


@pytest.mark.parametrize("start", ["20260101", "2026-01-01T00:00:00+00", "2026-W01-1"])
def test_start_dates_the_schema_refuses_are_refused_with_the_forms_it_takes(start: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape("date (YYYY-MM-DD)")):
        source.parse_config({"resource": "bills", "start_date": start})


@pytest.mark.parametrize(
    ("given", "sent"),
    [([1, "2", 3], ["1", "2", "3"]), ("7", ["7"]), (7, ["7"])],
)
def test_a_list_filter_is_sent_as_the_parameter_repeated(
    session: ProcurifySession, requests_mock: requests_mock.Mocker, given: Any, sent: list[str]
) -> None:
    requests_mock.get(f"{BASE}/api/v3/departments", json=FakeList([]))
    config = {"resource": "departments", "filters": {"locations": given}}
    list(source.read(session, config, None))
    assert requests_mock.last_request is not None
    assert requests_mock.last_request.qs["locations"] == sent


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"locations": [1, "two"]}, "Filter 'locations[1]' must be a whole number"),
        ({"locations": [1, True]}, "Filter 'locations[1]' must be a whole number"),
        ({"locations": []}, "Filter 'locations' needs at least one value"),
        ({"search": ["a", "b"]}, "Filter 'search' takes one value, not a list"),
    ],
)
def test_list_filters_check_each_item_and_other_filters_take_one_value(
    filters: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        source.parse_config({"resource": "departments", "filters": filters})


def test_list_filters_in_another_order_are_another_selection() -> None:
    first = source.parse_config({"resource": "departments", "filters": {"locations": [1, 2]}})
    same = source.parse_config({"resource": "departments", "filters": {"locations": [1, 2]}})
    other = source.parse_config({"resource": "departments", "filters": {"locations": [1]}})
    assert first.query_fingerprint == same.query_fingerprint != other.query_fingerprint


def test_purchase_orders_can_be_read_by_the_paid_status(
    session: ProcurifySession, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.get(
        f"{BASE}/api/v2/purchase_orders/purchased/paid", json=FakeList([{"uuid": "p"}])
    )
    records, _ = split(
        source.read(session, {"resource": "purchase_orders", "status": "paid"}, None)
    )
    assert records == [{"uuid": "p"}]


@pytest.mark.parametrize(
    ("argv", "filters"),
    [
        (
            ["--filter", "locations=1", "--filter", "locations=2", "--filter", "search=a=b"],
            {"locations": ["1", "2"], "search": "a=b"},
        ),
        (["--filter", "locations=4"], {"locations": "4"}),
    ],
)
def test_the_command_line_repeats_a_filter_to_give_a_list(
    argv: list[str], filters: dict[str, Any]
) -> None:
    args = arguments.parser().parse_args(["read", "departments", *argv])
    config = arguments.source_config(args)
    assert config["filters"] == filters
    parsed = source.parse_config(config)
    assert parsed.filters["locations"] == tuple(
        [filters["locations"]] if isinstance(filters["locations"], str) else filters["locations"]
    )


def test_a_list_filter_passes_the_shipped_schema() -> None:
    config = {"resource": "departments", "filters": {"locations": [1, 2]}}
    source.parse_config(config)
    validator = Draft202012Validator(manifest.schema("source.schema.json"))
    assert list(validator.iter_errors(config)) == []
