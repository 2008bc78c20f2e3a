"""The source configuration, parsed the shared way: every problem is named at once."""

from __future__ import annotations

import pytest

from nexla_procurify import source
from nexla_procurify.errors import ConfigurationError


def config_error(config: object) -> str:
    with pytest.raises(ConfigurationError) as raised:
        source.parse_config(config)
    return raised.value.message


def test_every_problem_is_reported_at_once() -> None:
    message = config_error(
        {
            "resource": "vendors",
            "page_size": 0,
            "concurrency": 99,
            "colour": "red",
            "max_extra_pages": -1,
            "filters": {"type": 9, "active": True, "exclude_other": "maybe"},
        }
    )
    assert message.startswith("Invalid source configuration. ")
    for part in (
        "Unknown source configuration key(s) for 'vendors': colour.",
        "'page_size' must be a whole number from 1 to 500.",
        "'concurrency' must be \"auto\" or a whole number from 1 to 32.",
        "'max_extra_pages' must be a whole number from 0 to 1000000.",
        "Filter 'type' must be one of 1, 2, 3,",
        "Unknown filter 'active' for resource 'vendors'.",
        "Filter 'exclude_other' must be true or false.",
    ):
        assert part in message


def test_an_unknown_resource_is_reported_with_the_other_problems() -> None:
    message = config_error({"resource": "invoices", "page_size": "big", "colour": 1})
    assert "Unknown source resource 'invoices'; choose one of: vendors" in message
    assert "'page_size' must be a whole number" in message
    assert "Unknown source configuration key(s): colour." in message


@pytest.mark.parametrize("config", [{}, {"resource": None}, {"page_size": 0}])
def test_a_missing_resource_is_said_to_be_required_as_the_destination_says(
    config: dict[str, object],
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        source.parse_config(config)
    assert "'resource' is required; choose one of: " in raised.value.message
    assert "None" not in raised.value.message


def test_path_values_and_the_start_date_are_checked_with_the_rest() -> None:
    message = config_error(
        {
            "resource": "purchase_orders",
            "status": "lost",
            "role": "x",
            "start_date": "soon",
            "concurrency": 0,
        }
    )
    assert '\'status\' must be one of "all", "open"' in message
    assert "'role' must be \"purchased\" or \"receivable\" (got 'x')." in message
    assert "'start_date' must be a date (YYYY-MM-DD)" in message
    assert "'concurrency' must be \"auto\" or a whole number" in message


def test_a_good_configuration_is_parsed_as_before() -> None:
    parsed = source.parse_config(
        {
            "resource": "purchase_orders",
            "role": "receivable",
            "filters": {"pref_vendor": "3"},
            "start_date": "2026-01-01",
            "concurrency": None,
        }
    )
    assert parsed.path_values == {"role": "receivable", "status": "all"}
    assert parsed.filters == {"pref_vendor": "3"}
    assert parsed.start is not None
    assert parsed.start.isoformat() == "2026-01-01T00:00:00+00:00"
