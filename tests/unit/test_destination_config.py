"""Destination configuration: every mistake is a clear ``ConfigurationError`` before any request."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock as requests_mock_module
from jsonschema import Draft202012Validator
from shared import BASE as BASE_URL

from nexla_procurify import destination
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.destination import DestinationConfig, parse_config
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.resources import catalogue


def config_error(config: object) -> str:
    with pytest.raises(ConfigurationError) as raised:
        parse_config(config)
    return raised.value.message


def test_defaults_come_from_the_catalogue() -> None:
    parsed = parse_config({"resource": "vendors", "operation": "create"})
    assert parsed == DestinationConfig(
        resource="vendors",
        operation="create",
        key=None,
        dry_run=False,
        concurrency=catalogue().max_write_concurrency,
        on_error="continue",
        auto_concurrency=True,
    )


def test_a_full_upsert_configuration_is_accepted() -> None:
    parsed = parse_config(
        {
            "resource": "account_codes",
            "operation": "upsert",
            "key": "code",
            "dry_run": True,
            "concurrency": 16,
            "on_error": "abort",
        }
    )
    assert (parsed.key, parsed.dry_run, parsed.concurrency, parsed.on_error) == (
        "code",
        True,
        16,
        "abort",
    )


def test_the_configuration_is_frozen() -> None:
    parsed = parse_config({"resource": "vendors", "operation": "create"})
    with pytest.raises(AttributeError):
        parsed.concurrency = 9  # type: ignore[misc]


def test_unknown_keys_are_named_with_the_allowed_ones() -> None:
    message = config_error({"resource": "vendors", "operation": "create", "batch": 5, "mode": 1})
    assert "Unknown destination setting(s): batch, mode" in message
    assert "Allowed: resource, operation, key, dry_run, concurrency, on_error" in message


@pytest.mark.parametrize("resource", ["widgets", "bills", "", 3])
def test_an_unknown_resource_lists_the_destination_resources(resource: Any) -> None:
    message = config_error({"resource": resource, "operation": "create"})
    assert "Unknown destination resource" in message
    for name in catalogue().names("destination"):
        assert name in message


def test_a_missing_resource_is_reported() -> None:
    assert "'resource' is required" in config_error({"operation": "create"})


def test_an_unsupported_operation_lists_the_supported_ones() -> None:
    message = config_error({"resource": "users", "operation": "patch"})
    assert "does not support operation 'patch'" in message
    assert "supported: create, update, deactivate." in message


def test_a_missing_operation_lists_the_supported_ones() -> None:
    message = config_error({"resource": "vendors"})
    assert "'operation' is required" in message
    assert "create, update, patch, upsert" in message


def test_upsert_is_only_offered_where_a_key_exists() -> None:
    message = config_error({"resource": "departments", "operation": "upsert"})
    assert "does not support operation 'upsert'" in message


def test_key_only_applies_to_upsert() -> None:
    message = config_error({"resource": "vendors", "operation": "create", "key": "external_id"})
    assert "'key' applies only to operation \"upsert\"" in message


def test_key_must_be_the_resource_upsert_key() -> None:
    message = config_error({"resource": "vendors", "operation": "upsert", "key": "name"})
    assert "vendors can only be upserted by 'external_id', not by 'name'" in message


@pytest.mark.parametrize("concurrency", [0, 33, -1, "4", True, 2.5, "Auto", "max"])
def test_bad_concurrency(concurrency: Any) -> None:
    message = config_error(
        {"resource": "vendors", "operation": "create", "concurrency": concurrency}
    )
    assert "'concurrency' must be \"auto\" or a whole number from 1 to 32" in message


@pytest.mark.parametrize("on_error", ["stop", "", True])
def test_bad_on_error(on_error: Any) -> None:
    message = config_error({"resource": "vendors", "operation": "create", "on_error": on_error})
    assert '\'on_error\' must be "continue" or "abort"' in message


@pytest.mark.parametrize("dry_run", ["true", 1])
def test_bad_dry_run(dry_run: Any) -> None:
    message = config_error({"resource": "vendors", "operation": "create", "dry_run": dry_run})
    assert "'dry_run' must be true or false" in message


@pytest.mark.parametrize("config", [None, [], "vendors"])
def test_a_configuration_must_be_an_object(config: object) -> None:
    assert "must be a JSON object" in config_error(config)


def test_every_problem_is_reported_at_once() -> None:
    message = config_error(
        {
            "resource": "vendors",
            "operation": "upsert",
            "key": "name",
            "concurrency": 99,
            "on_error": "x",
            "extra": 1,
        }
    )
    for part in ("extra", "not by 'name'", "'concurrency'", "'on_error'"):
        assert part in message


def test_a_huge_value_is_not_echoed() -> None:
    message = config_error({"resource": "vendors", "operation": "x" * 10_000})
    assert "x" * 100 not in message


def test_write_refuses_a_bad_configuration_before_any_request(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    session = ProcurifySession(Credential("t", "client", Secret("secret"), BASE_URL))
    with pytest.raises(ConfigurationError):
        destination.write(session, {"resource": "vendors", "operation": "delete"}, [{}])
    assert requests_mock.call_count == 0


# ------------------------------------------------------------------ the schema and the catalogue


@pytest.fixture(scope="module")
def schema_validator() -> Draft202012Validator:
    schema = destination.destination_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def all_operations() -> set[str]:
    return {
        op
        for name in catalogue().names("destination")
        for op in catalogue().resources[name].write_operations
    }


def test_the_schema_lists_the_destination_resources_and_operations() -> None:
    properties = destination.destination_schema()["properties"]
    assert properties["resource"]["enum"] == catalogue().names("destination")
    assert set(properties["operation"]["enum"]) == all_operations()
    assert properties["concurrency"]["maximum"] == catalogue().max_write_concurrency
    assert properties["concurrency"]["default"] == catalogue().default_write_concurrency


@pytest.mark.parametrize("resource", catalogue().names("destination"))
def test_the_schema_allows_exactly_the_catalogue_operations(
    schema_validator: Draft202012Validator, resource: str
) -> None:
    supported = catalogue().resources[resource].write_operations
    for operation in sorted(all_operations()):
        config = {"resource": resource, "operation": operation}
        assert schema_validator.is_valid(config) == (operation in supported), config


def test_the_schema_describes_which_resources_upsert_by_which_key(
    schema_validator: Draft202012Validator,
) -> None:
    description = destination.destination_schema()["description"]
    for name in catalogue().names("destination"):
        key = catalogue().resources[name].upsert_key
        if key is not None:
            assert f"{name} by {key}" in description
            assert schema_validator.is_valid({"resource": name, "operation": "upsert", "key": key})
            assert not schema_validator.is_valid(
                {"resource": name, "operation": "upsert", "key": "name"}
            )
    assert not schema_validator.is_valid(
        {"resource": "vendors", "operation": "create", "key": "external_id"}
    )
    assert not schema_validator.is_valid({"resource": "vendors", "operation": "create", "x": 1})


def test_the_manifest_points_at_the_schema() -> None:
    from nexla_procurify import manifest

    assert manifest.connector_manifest()["schemas"]["destination"] == (
        "schemas/destination.schema.json"
    )


def test_settings_sent_as_null_mean_not_set() -> None:
    config = destination.parse_config(
        {
            "resource": "vendors",
            "operation": "create",
            "key": None,
            "dry_run": None,
            "concurrency": None,
            "on_error": None,
        }
    )
    assert (config.dry_run, config.on_error) == (False, "continue")
    assert (config.concurrency, config.auto_concurrency) == (
        catalogue().max_write_concurrency,
        True,
    )
