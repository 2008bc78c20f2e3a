"""The credential: JSON Schema and ``validate()`` agree, and every problem has its own message."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from shared import REPO

from nexla_procurify import credential as cred_module
from nexla_procurify import plugin
from nexla_procurify.credential import (
    ALLOW_LOOPBACK_ENV,
    MASK,
    Credential,
    Secret,
    credential_schema,
    loopback_allowed,
    parse,
    validate,
)
from nexla_procurify.errors import CredentialError

SCHEMA_FILE = REPO / "schemas" / "credential.schema.json"
SECRET = "s3cr3tValueThatMustNeverShow42"
GENERIC = "must be exactly https://<company>.procurify.com"


def good(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Procurify production",
        "client_id": "aBcD1234eFgH5678",
        "client_secret": SECRET,
        "base_url": "https://acme.procurify.com",
    }
    data.update(overrides)
    return data


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(loaded)
    return loaded


@pytest.fixture
def no_loopback_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)


def schema_accepts(schema: dict[str, Any], data: object) -> bool:
    return bool(Draft202012Validator(schema).is_valid(data))


def base_url_messages(data: dict[str, Any], *, allow_loopback: bool = False) -> list[str]:
    result = validate(data, allow_loopback=allow_loopback)
    assert all(error.field == "base_url" for error in result.errors), result.errors
    return [error.message for error in result.errors]


GOOD_BASE_URLS = [
    "https://acme.procurify.com",
    "https://my-company.procurify.com",
    "https://a1.procurify.com",
    "https://x.procurify.com",
    "https://123.procurify.com",
    "https://xn--bcher-kva.procurify.com",
    "https://" + "a" * 63 + ".procurify.com",
]

# (base_url, a phrase only that problem's message holds)
BAD_BASE_URLS = [
    ("http://acme.procurify.com", "must use https://"),
    ("ftp://acme.procurify.com", "must use https://"),
    ("acme.procurify.com", "must start with https://"),
    ("//acme.procurify.com", "must start with https://"),
    ("https://acme.procurify.com/", "must not end with a slash"),
    ("https://acme.procurify.com/api/v3", "must not include a path"),
    ("https://acme.procurify.com/login/", "must not include a path"),
    ("https://acme.procurify.com:443", "must not include a port (:443)"),
    ("https://acme.procurify.com:8443", "must not include a port (:8443)"),
    ("https://acme.procurify.com:abc", "is not a valid address"),
    ("https://user@acme.procurify.com", "user name or password"),
    ("https://user:pw@acme.procurify.com", "user name or password"),
    ("https://acme.procurify.com?x=1", "must not include a query"),
    ("https://acme.procurify.com?", "must not include a query"),
    ("https://acme.procurify.com#top", "must not include a fragment"),
    ("https://acme.procurify.com#", "must not include a fragment"),
    ("https://acme.example.com", "an address on procurify.com"),
    ("https://procurify.com.evil.example", "an address on procurify.com"),
    ("https://evilprocurify.com", "an address on procurify.com"),
    ("https://acme.procurify.com.", "an address on procurify.com"),
    ("https://procurify.com", "must include your company's subdomain"),
    ("https://www.procurify.com", "must include your company's subdomain"),
    ("https://eu.acme.procurify.com", "single company name"),
    ("https://-acme.procurify.com", "letters, digits and inner hyphens"),
    ("https://acme_co.procurify.com", "letters, digits and inner hyphens"),
    ("https://" + "a" * 64 + ".procurify.com", "letters, digits and inner hyphens"),
    ("https://ACME.procurify.com", "must be written in lowercase"),
    ("https://Acme.Procurify.com", "must be written in lowercase"),
    ("HTTPS://acme.procurify.com", "must be written in lowercase"),
    (" https://acme.procurify.com", "spaces or line breaks around it"),
    ("https://acme.procurify.com ", "spaces or line breaks around it"),
    ("https://acme.procurify.com\n", "spaces or line breaks around it"),
    ("https://10.0.0.1", "not an IP address"),
    ("https://192.168.1.20", "not an IP address"),
    ("https://[::1]", "not an IP address"),
    ("https://localhost", "not an IP address or a private host"),
    ("http://127.0.0.1:8080", f"only when the host sets {ALLOW_LOOPBACK_ENV}=1"),
    ("http://localhost:8765", f"only when the host sets {ALLOW_LOOPBACK_ENV}=1"),
    ("https://", "has no host"),
    ("", "must not be empty"),
]


def test_the_table_is_large_enough() -> None:
    assert len(GOOD_BASE_URLS) + len(BAD_BASE_URLS) >= 25
    assert len({phrase for _, phrase in BAD_BASE_URLS}) >= 18  # distinct kinds of message


@pytest.mark.parametrize("base_url", GOOD_BASE_URLS)
def test_good_base_urls_pass_schema_validate_and_hook(
    schema: dict[str, Any], base_url: str, no_loopback_env: None
) -> None:
    data = good(base_url=base_url)
    assert schema_accepts(schema, data)
    assert validate(data).ok
    result = plugin.validate_credential(connector_type="procurify", credential=data, live=False)
    assert result is not None
    assert result.ok, result.errors
    assert parse(data).base_url == base_url


@pytest.mark.parametrize(("base_url", "phrase"), BAD_BASE_URLS)
def test_bad_base_urls_get_their_own_message(
    schema: dict[str, Any], base_url: str, phrase: str, no_loopback_env: None
) -> None:
    data = good(base_url=base_url)
    assert not schema_accepts(schema, data), "the JSON Schema must refuse it too"
    messages = base_url_messages(data)
    assert messages, "validate() must refuse it"
    assert any(phrase in message for message in messages), messages
    assert not any(GENERIC in message for message in messages), "too vague a message"
    hooked = plugin.validate_credential(connector_type="procurify", credential=data, live=False)
    assert hooked is not None
    assert not hooked.ok
    assert [e.message for e in hooked.errors] == messages
    with pytest.raises(CredentialError) as raised:
        parse(data)
    assert phrase in str(raised.value)


def test_several_problems_each_get_a_message() -> None:
    messages = base_url_messages(good(base_url="http://user@acme.procurify.com:8080/x?y#z"))
    for phrase in ("https://", "port", "user name", "path", "query", "fragment"):
        assert any(phrase in message for message in messages), (phrase, messages)


# --- loopback: only when the host allows it, then only http with a port ---------------------

LOOPBACK_GOOD = ["http://127.0.0.1:8080", "http://localhost:8765", "http://127.0.0.1:1"]
LOOPBACK_BAD = [
    ("http://127.0.0.1", "needs a port"),
    ("http://localhost", "needs a port"),
    ("https://127.0.0.1:8080", "must use http://"),
    ("https://localhost:8443", "must use http://"),
    ("http://127.0.0.1:8080/", "must not end with a slash"),
    ("http://127.0.0.1:8080/api", "must not include a path"),
    ("http://acme.procurify.com", "must use https://"),
    ("http://example.com:8080", "must use https://"),
    ("http://10.0.0.1:8080", "not an IP address"),
]


@pytest.mark.parametrize("base_url", LOOPBACK_GOOD)
def test_loopback_accepted_only_when_allowed(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = good(base_url=base_url)
    assert validate(data, allow_loopback=True).ok
    assert not validate(data, allow_loopback=False).ok
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    allowed = plugin.validate_credential(connector_type="procurify", credential=data, live=False)
    assert allowed is not None
    assert allowed.ok
    for value in ("0", "true", "yes", ""):
        monkeypatch.setenv(ALLOW_LOOPBACK_ENV, value)
        refused = plugin.validate_credential(
            connector_type="procurify", credential=data, live=False
        )
        assert refused is not None
        assert not refused.ok, value
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV)
    refused = plugin.validate_credential(connector_type="procurify", credential=data, live=False)
    assert refused is not None
    assert not refused.ok


@pytest.mark.parametrize(("base_url", "phrase"), LOOPBACK_BAD)
def test_loopback_rules_when_allowed(base_url: str, phrase: str) -> None:
    messages = base_url_messages(good(base_url=base_url), allow_loopback=True)
    assert any(phrase in message for message in messages), messages


def test_loopback_allowed_reads_the_environment() -> None:
    assert loopback_allowed({ALLOW_LOOPBACK_ENV: "1"})
    assert loopback_allowed({ALLOW_LOOPBACK_ENV: " 1 "})
    assert not loopback_allowed({ALLOW_LOOPBACK_ENV: "0"})
    assert not loopback_allowed({})


def test_the_credential_cannot_allow_loopback_itself() -> None:
    data = good(base_url="http://127.0.0.1:8080", allow_loopback=True)
    result = validate(data)
    assert not result.ok
    assert any(error.field is None and "Unknown field" in error.message for error in result.errors)


# --- the other fields -------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["name", "client_id", "client_secret", "base_url"])
def test_each_required_field(schema: dict[str, Any], missing: str) -> None:
    data = good()
    del data[missing]
    assert not schema_accepts(schema, data)
    result = validate(data)
    assert not result.ok
    assert [(e.field, e.message.endswith("is required.")) for e in result.errors] == [
        (missing, True)
    ]


def test_everything_missing_gives_one_message_per_field() -> None:
    result = validate({})
    assert [error.field for error in result.errors] == [
        "name",
        "client_id",
        "client_secret",
        "base_url",
    ]
    assert result.errors[2].message == "Client Secret is required."


@pytest.mark.parametrize(
    ("field", "value", "phrase"),
    [
        ("client_id", "", "Client ID must not be empty."),
        ("client_secret", "", "Client Secret must not be empty."),
        ("name", "", "Name must not be empty."),
        ("client_id", "abc def", "must not contain spaces"),
        ("client_id", " abc", "spaces or line breaks around it"),
        ("client_id", "abc\n", "spaces or line breaks around it"),
        ("client_secret", SECRET + "\n", "spaces or line breaks around it"),
        ("client_secret", "\t" + SECRET, "spaces or line breaks around it"),
        ("client_id", 12345, "Client ID must be text."),
        ("client_secret", None, "Client Secret must be text."),
        ("base_url", ["https://acme.procurify.com"], "Base URL must be text."),
        ("description", 3, "Description must be text."),
        ("name", "n" * 201, "Name is too long (at most 200 characters)."),
        ("client_secret", "x" * 1001, "Client Secret is too long"),
    ],
)
def test_field_problems(schema: dict[str, Any], field: str, value: object, phrase: str) -> None:
    data = good(**{field: value})
    assert not schema_accepts(schema, data)
    result = validate(data)
    assert not result.ok
    assert [error.field for error in result.errors] == [field]
    assert phrase in result.errors[0].message


def test_unknown_fields_are_named(schema: dict[str, Any]) -> None:
    data = good(token="x", extra=1)
    assert not schema_accepts(schema, data)
    result = validate(data)
    assert [(e.field, e.message) for e in result.errors] == [
        (
            None,
            "Unknown field(s): extra, token. Allowed: name, description, client_id, "
            "client_secret, base_url.",
        )
    ]


@pytest.mark.parametrize("value", [None, [], ["a"], "text", 3, 2.5, True])
def test_non_object_input(value: object) -> None:
    result = validate(value)
    assert not result.ok
    assert [(e.field, e.message) for e in result.errors] == [
        (None, "The credential must be a JSON object.")
    ]


def test_optional_description(schema: dict[str, Any]) -> None:
    data = good(description="Created by finance")
    assert schema_accepts(schema, data)
    assert validate(data).ok
    assert parse(data).description == "Created by finance"
    assert parse(good()).description is None


# --- the schema as a form ---------------------------------------------------------------------


def test_schema_marks_the_secret(schema: dict[str, Any]) -> None:
    secret = schema["properties"]["client_secret"]
    assert secret["writeOnly"] is True
    assert secret["format"] == "password"
    assert secret.get("x-masked") is True or secret.get("x-secret") is True
    assert "examples" not in secret
    assert "default" not in secret


def test_schema_documents_every_field(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name", "client_id", "client_secret", "base_url"]
    assert schema["title"]
    assert schema["description"]
    for name, prop in schema["properties"].items():
        assert prop["type"] == "string", name
        assert prop.get("title"), name
        assert len(prop.get("description", "")) > 20, name
    for name in ("name", "client_id", "base_url", "description"):
        assert schema["properties"][name]["examples"], name
    example = good(
        base_url=schema["properties"]["base_url"]["examples"][0],
        client_id=schema["properties"]["client_id"]["examples"][0],
    )
    assert schema_accepts(schema, example)
    assert validate(example).ok
    assert set(schema["x-field-order"]) == set(schema["properties"])


def test_packaged_schema_is_the_repository_file(schema: dict[str, Any]) -> None:
    assert credential_schema() == schema


# --- the model and its masking ----------------------------------------------------------------


def test_credential_model_masks_the_secret() -> None:
    credential = parse(good(description="d"))
    assert isinstance(credential, Credential)
    assert credential.client_secret.reveal() == SECRET
    for text in (
        repr(credential),
        str(credential),
        f"{credential}",
        repr(credential.client_secret),
        str(credential.client_secret),
        f"{credential.client_secret:>40}",
    ):
        assert SECRET not in text
    assert credential.to_dict()["client_secret"] == MASK
    assert json.dumps(credential.to_dict()).count(SECRET) == 0


def test_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret(SECRET))


def test_secret_equality() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("a"))


def test_credential_error_lists_every_field_without_the_secret() -> None:
    with pytest.raises(CredentialError) as raised:
        parse({"client_secret": SECRET + " x", "base_url": "http://acme.procurify.com/"})
    error = raised.value
    fields = [field for field, _ in error.errors]
    assert fields.count("base_url") == 2
    assert {"name", "client_id", "client_secret"} <= set(fields)
    assert SECRET not in str(error)
    assert SECRET not in repr(error)


def test_module_constants() -> None:
    assert cred_module.PROCURIFY_DOMAIN == "procurify.com"
    assert ALLOW_LOOPBACK_ENV == "NEXLA_PROCURIFY_ALLOW_LOOPBACK"
