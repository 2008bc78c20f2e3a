"""``connector.json`` against its own schema (``schemas/connector.schema.json``), checked when
the catalogue loads; and what it shares with the configuration schemas said once: the bounds and
defaults live in ``source.schema.json`` / ``destination.schema.json`` (the catalogue derives
them) and the parsers keep to them, the resource lists are checked against the catalogue."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from nexla_procurify import auth, destination, manifest, resources, source
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.resources import catalogue

SHIPPED = manifest.connector_manifest()


def _broken(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = copy.deepcopy(SHIPPED)
    change(document)
    return document


def _resource(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in document["resources"] if r["name"] == name)
    return found


def test_the_connector_schema_is_a_schema_and_the_manifest_passes_it() -> None:
    Draft202012Validator.check_schema(manifest.schema(manifest.CONNECTOR_SCHEMA))
    manifest.check_connector_manifest(SHIPPED)


def test_the_unused_keys_are_gone() -> None:
    assert not any("sync" in resource for resource in SHIPPED["resources"])
    assert "source" not in SHIPPED
    assert "destination" not in SHIPPED
    document = _broken(lambda d: _resource(d, "vendors").update(sync="full_refresh"))
    with pytest.raises(ConfigurationError, match=r"resources\[0\] \(vendors\): unknown key 'sync'"):
        manifest.check_connector_manifest(document)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: _resource(d, "vendors").update(
                stream_shema=_resource(d, "vendors").pop("stream_schema")
            ),
            r"resources\[0\] \(vendors\): unknown key 'stream_shema'",
        ),
        (
            lambda d: _resource(d, "vendors")["operations"]["create"].update(
                methd=_resource(d, "vendors")["operations"]["create"].pop("method")
            ),
            r"(?=.*resources\[0\] \(vendors\)\.operations\.create: missing key 'method')"
            r"(?=.*resources\[0\] \(vendors\)\.operations\.create: unknown key 'methd')",
        ),
        (
            lambda d: _resource(d, "orders")["incremental"].update(granularity="week"),
            r"\(orders\)\.incremental\.granularity: 'week' is not one of",
        ),
        (
            lambda d: _resource(d, "users")["filters"]["search"].update(typ="string"),
            r"\(users\)\.filters\.search: unknown key 'typ'",
        ),
        (lambda d: d.pop("resources"), r"the document: missing key 'resources'"),
        (lambda d: d.update(source={"max_page_size": 500}), r"the document: unknown key 'source'"),
        (
            lambda d: _resource(d, "bill_details")["detail"].update(of="bill"),
            r"resource 'bill_details': detail\.of 'bill' is not a readable resource",
        ),
        (
            lambda d: d["resources"].append(copy.deepcopy(_resource(d, "me"))),
            r"resource 'me' is listed twice",
        ),
    ],
)
def test_a_damaged_manifest_is_an_error_naming_the_key(
    change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    with pytest.raises(ConfigurationError, match=expected) as raised:
        manifest.check_connector_manifest(_broken(change))
    assert "connector.json does not match schemas/connector.schema.json" in raised.value.message


def test_the_catalogue_checks_the_manifest_when_it_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    document = _broken(lambda d: _resource(d, "vendors").pop("title"))
    monkeypatch.setattr(manifest, "connector_manifest", lambda: copy.deepcopy(document))
    with pytest.raises(ConfigurationError, match=r"\(vendors\): missing key 'title'"):
        resources.catalogue.__wrapped__()


def test_the_catalogue_takes_its_bounds_from_the_configuration_schemas() -> None:
    read = manifest.schema("source.schema.json")["properties"]
    write = manifest.schema("destination.schema.json")["properties"]
    cat = catalogue()
    assert (cat.default_page_size, cat.max_page_size) == (
        read["page_size"]["default"],
        read["page_size"]["maximum"],
    )
    assert (cat.default_read_concurrency, cat.max_read_concurrency) == (
        read["concurrency"]["default"],
        read["concurrency"]["maximum"],
    )
    assert (cat.default_write_concurrency, cat.max_write_concurrency) == (
        write["concurrency"]["default"],
        write["concurrency"]["maximum"],
    )


def test_the_source_parser_keeps_to_the_schema_defaults() -> None:
    properties = manifest.schema("source.schema.json")["properties"]
    parsed = source.parse_config({"resource": "purchase_orders"})
    assert parsed.page_size == properties["page_size"]["default"]
    assert properties["concurrency"]["default"] == "auto"
    assert parsed.auto_concurrency
    assert parsed.concurrency == properties["concurrency"]["maximum"]
    assert parsed.max_extra_pages == properties["max_extra_pages"]["default"]
    assert dict(parsed.filters) == properties["filters"]["default"]
    assert dict(parsed.path_values) == {
        name: properties[name]["default"] for name in ("role", "status")
    }


def test_the_destination_parser_keeps_to_the_schema_defaults() -> None:
    properties = destination.destination_schema()["properties"]
    parsed = destination.parse_config({"resource": "vendors", "operation": "create"})
    assert parsed.dry_run == properties["dry_run"]["default"]
    assert properties["concurrency"]["default"] == "auto"
    assert parsed.auto_concurrency
    assert parsed.concurrency == properties["concurrency"]["maximum"]
    assert parsed.on_error == properties["on_error"]["default"]
    assert set(properties["on_error"]["enum"]) == {"continue", "abort"}


@pytest.mark.parametrize(
    ("schema_name", "parse", "base", "key"),
    [
        ("source.schema.json", source.parse_config, {"resource": "vendors"}, "page_size"),
        ("source.schema.json", source.parse_config, {"resource": "vendors"}, "concurrency"),
        ("source.schema.json", source.parse_config, {"resource": "vendors"}, "max_extra_pages"),
        (
            "destination.schema.json",
            destination.parse_config,
            {"resource": "vendors", "operation": "create"},
            "concurrency",
        ),
    ],
)
def test_the_parsers_keep_to_the_schema_bounds(
    schema_name: str, parse: Callable[[object], object], base: dict[str, Any], key: str
) -> None:
    bounds = manifest.schema(schema_name)["properties"][key]
    low, high = bounds["minimum"], bounds["maximum"]
    for accepted in (low, high):
        parse({**base, key: accepted})
    for refused in (low - 1, high + 1):
        with pytest.raises(ConfigurationError, match=key):
            parse({**base, key: refused})


def test_the_source_schema_names_the_incremental_resources() -> None:
    description = manifest.schema("source.schema.json")["description"]
    named = re.search(r"Incremental resources \(([^)]*)\)", description)
    assert named is not None
    incremental = [
        name for name in catalogue().names("source") if catalogue().resources[name].incremental
    ]
    assert named.group(1).split(", ") == incremental


def test_the_destination_schema_names_each_resource_s_operations() -> None:
    # "vendors: create, update, patch, upsert; users: create (an invitation), update, ..."
    description = re.sub(r" \([^)]*\)", "", destination.destination_schema()["description"])
    for name in catalogue().names("destination"):
        operations = catalogue().resources[name].write_operations
        listed = re.search(rf"(?:; |: ){name}: ([a-z_, ]+?)[;.]", description)
        assert listed is not None, name
        assert set(listed.group(1).split(", ")) == set(operations), name


def test_the_authentication_block_is_what_the_token_manager_does() -> None:
    block = SHIPPED["authentication"]
    assert tuple(block["token_paths"]) == auth.TOKEN_PATHS
    assert block["audience"] == auth.AUDIENCE
    assert block["token_lifetime_seconds"] == auth.DEFAULT_LIFETIME
