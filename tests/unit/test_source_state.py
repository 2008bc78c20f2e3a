"""The read state: ``ReadState.to_dict`` and ``ReadState.from_dict`` give each other back, and
``parse_state`` applies a saved state to the read a configuration asks for."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexla_procurify import source
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.source import ReadPosition, ReadState, parse_state
from nexla_procurify.source.state import MAX_STATE_PAGE
from nexla_procurify.source.times import iso

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))
texts = st.text(min_size=1, max_size=20)
ids = st.integers(min_value=-(2**53), max_value=2**53)
throughs = (
    st.none() | ids | texts | st.lists(st.none() | ids | texts, min_size=1, max_size=8).map(tuple)
)
positions = st.builds(
    ReadPosition,
    page=st.integers(min_value=1, max_value=MAX_STATE_PAGE),
    page_size=st.integers(min_value=1, max_value=500),
    query=texts,
    next_cursor=st.none() | moments.map(iso),
    through=throughs,
    held=st.booleans(),
    counts=st.none() | st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)),
)


@st.composite
def states(draw: st.DrawFn) -> ReadState:
    cursor = draw(st.none() | moments)
    query = draw(texts) if cursor is not None else None
    return ReadState(draw(texts), cursor, draw(st.none() | positions), query)


@settings(max_examples=200, deadline=None)
@given(states())
def test_from_dict_gives_back_what_to_dict_wrote(state: ReadState) -> None:
    written = json.loads(json.dumps(state.to_dict()))  # as a host stores it
    assert ReadState.from_dict(written) == state


def test_a_query_without_a_cursor_is_not_written() -> None:
    state = ReadState("vendors", None, None, "q")
    assert state.to_dict() == {"version": source.STATE_VERSION, "resource": "vendors"}
    assert ReadState.from_dict(state.to_dict()) == ReadState("vendors", None, None)


def test_a_version_1_position_is_dropped_and_its_cursor_kept() -> None:
    value = {
        "version": 1,
        "resource": "bills",
        "cursor": "2026-01-02T03:04:05Z",
        "query": "q",
        "in_progress": {"page": 3, "anything": "old"},
    }
    assert ReadState.from_dict(value) == ReadState(
        "bills", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), None, "q"
    )


@pytest.mark.parametrize("value", [None, [], "state", {"cursor": "2026-01-01"}, {"resource": 3}])
def test_from_dict_refuses_what_names_no_resource(value: object) -> None:
    with pytest.raises(ConfigurationError, match="start without state"):
        ReadState.from_dict(value)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"resource": "bills", "cursor": "yesterday"}, "'cursor'"),
        ({"resource": "bills", "query": 3}, "'query'"),
        ({"resource": "bills", "in_progress": {"page": 0}}, "'in_progress.page'"),
        ({"resource": "bills", "in_progress": {"x": 1}}, "unknown field(s) in 'in_progress': x"),
        ({"resource": "bills", "colour": 1}, "unknown field(s) colour"),
    ],
)
def test_from_dict_names_the_damaged_field(value: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        ReadState.from_dict(value)
    assert field in raised.value.message
    assert "The saved state for 'bills' is damaged" in raised.value.message


def test_parse_state_ignores_a_cursor_of_other_filters_and_a_position_of_another_read() -> None:
    config = source.parse_config({"resource": "bills"})
    other = source.parse_config({"resource": "bills", "filters": {"vendor": 4}})
    cursor = datetime(2026, 1, 2, tzinfo=UTC)
    position = ReadPosition(2, 100, other.position_fingerprint(cursor), None, 7)
    saved = ReadState("bills", cursor, position, other.query_fingerprint).to_dict()
    assert parse_state(saved, config) == ReadState("bills", None, None, config.query_fingerprint)
    assert parse_state(saved, other) == ReadState(
        "bills", cursor, position, other.query_fingerprint
    )


def test_parse_state_refuses_another_resources_state() -> None:
    config = source.parse_config({"resource": "bill_details"})
    with pytest.raises(ConfigurationError, match="does not belong to resource 'bill_details'"):
        parse_state(ReadState("bills", None, None).to_dict(), config)
    assert (
        parse_state(None, config)
        == parse_state({}, config)
        == ReadState("bill_details", None, None)
    )
