"""The Singer tap's parts: the flat configuration, the catalog and its selection, the state."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from nexla_procurify.airbyte import protocol
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.flat_config import flat_schema, from_environment, parse_flat_config
from nexla_procurify.resources import catalogue
from nexla_procurify.tap.catalog import discover_catalog, select, select_all
from nexla_procurify.tap.state import bookmarks_from, state_value

CREDENTIAL = {
    "client_id": "abc",
    "client_secret": "s3cr3t-value",
    "base_url": "https://acme.procurify.com",
}


# -- configuration -------------------------------------------------------------------------------


def test_flat_config_makes_each_streams_source_config() -> None:
    config = parse_flat_config(
        {
            **CREDENTIAL,
            "start_date": "2026-01-01",
            "concurrency": 3,
            "page_size": 50,
            "role": "receivable",
            "filters": {"vendors": {"type": 2}},
        }
    )
    assert config.credential["name"] == "Procurify"  # optional here
    assert config.budget == 3
    assert config.source_config("vendors") == {
        "resource": "vendors",
        "concurrency": 3,
        "page_size": 50,
        "filters": {"type": 2},
    }
    assert config.source_config("purchase_orders") == {
        "resource": "purchase_orders",
        "concurrency": 3,
        "page_size": 50,
        "start_date": "2026-01-01",
        "role": "receivable",
    }
    assert "secret" not in repr(config)


def test_flat_config_names_every_problem_without_the_secret() -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_flat_config(
            {
                "client_secret": "s3cr3t-value",
                "base_url": "http://x.example",
                "concurency": 2,
                "page_size": 0,
                "filters": {"nope": {}},
            }
        )
    message = raised.value.message
    for part in ("concurency", "client_id", "base_url", "page_size", "nope"):
        assert part in message
    assert "s3cr3t-value" not in message


def test_settings_from_the_environment_as_meltano_passes_them() -> None:
    environ = {
        "TAP_PROCURIFY_CLIENT_ID": "abc",
        "TAP_PROCURIFY_CONCURRENCY": "4",
        "TAP_PROCURIFY_FILTERS": '{"vendors": {"type": 2}}',
        "TAP_PROCURIFY_START_DATE": "",
        "OTHER": "x",
    }
    assert from_environment("TAP_PROCURIFY_", environ) == {
        "client_id": "abc",
        "concurrency": 4,
        "filters": {"vendors": {"type": 2}},
    }
    with pytest.raises(ConfigurationError, match="TAP_PROCURIFY_PAGE_SIZE"):
        from_environment("TAP_PROCURIFY_", {"TAP_PROCURIFY_PAGE_SIZE": "many"})


def test_the_flat_schema_is_draft7_and_admits_a_good_configuration() -> None:
    schema = flat_schema()
    Draft7Validator.check_schema(schema)
    Draft7Validator(schema).validate(
        {
            **CREDENTIAL,
            "base_url": "http://127.0.0.1:8765",
            "filters": {"vendors": {"type": 2}},
        }
    )
    assert set(schema["required"]) == {"client_id", "client_secret", "base_url"}


# -- catalog -------------------------------------------------------------------------------------


def _entry(stream: str) -> dict[str, Any]:
    return next(e for e in discover_catalog()["streams"] if e["tap_stream_id"] == stream)


def test_discovery_carries_the_standard_metadata() -> None:
    entries = discover_catalog()["streams"]
    assert [e["tap_stream_id"] for e in entries] == list(catalogue().names("source"))
    for entry in entries:
        resource = catalogue().resources[entry["tap_stream_id"]]
        root = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
        assert root["table-key-properties"] == list(resource.key) == entry["key_properties"]
        assert root["selected-by-default"] is True
        if resource.incremental:
            assert root["forced-replication-method"] == "INCREMENTAL"
            assert root["valid-replication-keys"] == [resource.incremental.cursor_field]
            assert entry["replication_key"] == resource.incremental.cursor_field
        else:
            assert root["forced-replication-method"] == "FULL_TABLE"
        fields = {tuple(m["breadcrumb"]): m["metadata"] for m in entry["metadata"]}
        automatic = {*resource.key, entry.get("replication_key")}
        for name in entry["schema"]["properties"]:
            assert fields[("properties", name)]["inclusion"] == (
                "automatic" if name in automatic else "available"
            )
        for name in resource.key:
            assert "null" not in json.dumps(entry["schema"]["properties"][name]["type"])


def _catalog(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"streams": list(entries)}


def _with(entry: dict[str, Any], crumb: list[str], **metadata: Any) -> dict[str, Any]:
    entry = json.loads(json.dumps(entry))
    for item in entry["metadata"]:
        if item["breadcrumb"] == crumb:
            item["metadata"].update(metadata)
    return entry


def test_selection_follows_the_singer_metadata_rules() -> None:
    vendors = _with(_entry("vendors"), [], selected=True)
    vendors = _with(vendors, ["properties", "name"], selected=False)
    vendors = _with(vendors, ["properties", "id"], selected=False)  # automatic: kept
    vendors = _with(vendors, ["properties", "email"], inclusion="unsupported", selected=True)
    users = _with(_entry("users"), [], selected=False)
    orders = _entry("orders")  # nothing said: selected by default
    chosen = select(_catalog(vendors, users, orders))
    assert [each.stream for each in chosen] == ["vendors", "orders"]
    picked = chosen[0]
    assert picked.properties is not None
    assert "name" not in picked.properties
    assert "email" not in picked.properties
    assert "id" in picked.properties
    assert set(picked.schema["properties"]) == picked.properties
    assert picked.project({"id": 1, "name": "x", "email": [], "active": True}) == {
        "id": 1,
        "active": True,
    }


@pytest.mark.parametrize("with_metadata", [True, False])
def test_the_key_and_replication_key_are_kept_when_the_catalogs_schema_leaves_them_out(
    with_metadata: bool,
) -> None:
    orders = _entry("purchase_orders")
    orders["schema"] = {"type": "object", "properties": {"name": {"type": ["string", "null"]}}}
    if with_metadata:
        orders = _with(orders, [], selected=True)
    else:
        orders["metadata"] = []
    [picked] = select(_catalog(orders))
    automatic = {*picked.key_properties, *picked.bookmark_properties}
    assert automatic == {"uuid", "last_modified"}
    assert automatic <= set(picked.schema["properties"])
    record = {"uuid": "u-1", "last_modified": "2026-12-01T00:00:00Z", "name": "x", "other": 1}
    assert automatic <= set(picked.project(record))


def test_a_stream_deselected_by_default_and_metadata_without_a_root() -> None:
    off = _with(_entry("vendors"), [], **{"selected-by-default": False})
    no_root = _entry("users")
    no_root["metadata"] = [m for m in no_root["metadata"] if m["breadcrumb"]]
    bare = {"tap_stream_id": "departments", "schema": {}}  # no metadata at all: selected
    assert [each.stream for each in select(_catalog(off, no_root, bare))] == ["departments"]


def test_a_catalog_naming_an_unknown_stream_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown stream"):
        select(_catalog({"tap_stream_id": "nope", "metadata": []}))
    with pytest.raises(ConfigurationError, match="streams"):
        select([])


def test_without_a_catalog_every_stream_is_read_whole() -> None:
    chosen = select_all()
    assert [each.stream for each in chosen] == list(catalogue().names("source"))
    assert all(each.properties is None for each in chosen)


# -- state ---------------------------------------------------------------------------------------


def test_bookmarks_as_meltano_keeps_them() -> None:
    value = {
        "bookmarks": {"vendors": {"version": 2, "resource": "vendors"}},
        "currently_syncing": None,
    }
    assert bookmarks_from(value) == {"vendors": {"version": 2, "resource": "vendors"}}
    assert bookmarks_from({"type": "STATE", "value": value}) == bookmarks_from(value)
    assert bookmarks_from(None) == {} == bookmarks_from({})
    assert bookmarks_from(state_value(bookmarks_from(value))) == {
        "vendors": {"version": 2, "resource": "vendors", "in_progress": None}
    }


def _deep_merge(source: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """How Meltano merges a newer state into an older one (--merge-state): key by key."""
    for key, value in source.items():
        if isinstance(value, dict):
            _deep_merge(value, target.setdefault(key, {}))
        else:
            target[key] = value
    return target


def test_a_finished_read_clears_an_earlier_position_when_states_are_merged() -> None:
    unfinished = state_value(
        {
            "vendors": {
                "version": 2,
                "resource": "vendors",
                "in_progress": {"page": 7, "page_size": 100},
            }
        }
    )
    finished = state_value({"vendors": {"version": 2, "resource": "vendors"}})
    merged = _deep_merge(finished, json.loads(json.dumps(unfinished)))
    assert merged["bookmarks"]["vendors"]["in_progress"] is None


@pytest.mark.parametrize(
    "state",
    [
        {"version": 2, "resource": "vendors"},  # one resource's state, not bookmarks
        {"bookmarks": {"vendors": 3}},
        {"bookmarks": []},
        [],
    ],
)
def test_a_state_that_is_not_bookmarks_is_refused(state: object) -> None:
    with pytest.raises(ConfigurationError, match="state"):
        bookmarks_from(state)


_STATES = st.dictionaries(
    st.sampled_from(list(catalogue().names("source"))),
    st.fixed_dictionaries(
        {"version": st.just(2), "resource": st.text(max_size=10)},
        optional={
            "cursor": st.text(max_size=25),
            "in_progress": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
        },
    ),
    max_size=6,
)


@given(_STATES)
def test_bookmarks_round_trip(bookmarks: dict[str, dict[str, Any]]) -> None:
    value = state_value(bookmarks)
    expected = {name: {"in_progress": None, **state} for name, state in bookmarks.items()}
    assert bookmarks_from(json.loads(json.dumps(value))) == expected
    assert bookmarks_from({"type": "STATE", "value": value}) == expected
    assert state_value(bookmarks_from(value)) == value


@given(_STATES)
def test_airbyte_stream_states_round_trip(bookmarks: dict[str, dict[str, Any]]) -> None:
    written = [protocol.stream_state(name, value, 0)["state"] for name, value in bookmarks.items()]
    assert protocol.stream_states(json.loads(json.dumps(written))) == bookmarks


@pytest.mark.parametrize(
    "state",
    [
        [{"type": "STREAM", "stream": "vendors"}],
        [{"type": "STREAM", "stream": {"stream_descriptor": "vendors"}}],
        [{"type": "STREAM", "stream": {"stream_descriptor": {"name": 3}, "stream_state": {}}}],
    ],
)
def test_a_malformed_airbyte_stream_state_is_a_configuration_error(state: object) -> None:
    with pytest.raises(ConfigurationError, match="stream_descriptor"):
        protocol.stream_states(state)


@pytest.mark.parametrize("json_schema", ["x", [1], None, 7])
def test_a_configured_stream_whose_json_schema_is_not_an_object_is_read_whole(
    json_schema: object,
) -> None:
    configured = {
        "streams": [
            {
                "stream": {"name": "vendors", "json_schema": json_schema},
                "sync_mode": "full_refresh",
            }
        ]
    }
    [chosen] = protocol.configured_streams(configured)
    assert chosen.fields is None
