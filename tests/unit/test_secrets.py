"""Properties: validation never crashes, agrees with the schema, and secrets never show."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import string
from pathlib import Path
from typing import Any

import pytest
import requests_mock
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from shared import BASE

from nexla_procurify import plugin
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.cli import main
from nexla_procurify.credential import ALLOW_LOOPBACK_ENV, credential_schema, parse, validate
from nexla_procurify.errors import CredentialError, ProcurifyError
from nexla_procurify.http import HttpClient, HttpPolicy
from nexla_procurify.sandbox import Fault, Sandbox

FIELDS = ["name", "description", "client_id", "client_secret", "base_url"]
SCHEMA = Draft202012Validator(credential_schema())
NO_WAIT = HttpPolicy(max_attempts=3, backoff_initial=0.0, backoff_max=0.0)

# A marker prefix: hypothesis also draws strings it finds in the code ("ValidationResult"),
# which would be found in any repr without being a leak.
secrets_ = st.text(alphabet=string.ascii_letters + string.digits, min_size=16, max_size=64).map(
    lambda text: f"s3cr3t-{text}"
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# Base URLs near the valid ones, so that many are accepted and many are almost right.
base_urls = st.one_of(
    st.from_regex(r"\Ahttps://[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?\.procurify\.com\Z"),
    st.builds(
        lambda scheme, host, tail: f"{scheme}{host}{tail}",
        st.sampled_from(["https://", "http://", "HTTPS://", "", " https://", "https:/"]),
        st.sampled_from(
            [
                "acme.procurify.com",
                "ACME.procurify.com",
                "a.b.procurify.com",
                "procurify.com",
                "127.0.0.1:8080",
                "localhost:80",
                "acme.example.com",
                "u@acme.procurify.com",
                "-x.procurify.com",
                "acme.procurify.com:443",
            ]
        ),
        st.sampled_from(["", "/", "/api", "?x", "#f", " ", "\n", ":8080", "."]),
    ),
    st.text(max_size=40),
)
field_values = st.one_of(st.text(max_size=30), secrets_, json_values)


def credentials(secret: st.SearchStrategy[str] = secrets_) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "name": st.one_of(st.just("Procurify"), field_values),
            "client_id": st.one_of(
                st.text(string.ascii_letters, min_size=1, max_size=20), field_values
            ),
            "client_secret": secret,
            "base_url": base_urls,
        },
        optional={"description": field_values, "extra": field_values},
    )


def shown(result: Any) -> str:
    return json.dumps(result.to_dict()) + repr(result) + str(result)


# --- validate() never raises ------------------------------------------------------------------


@given(json_values)
def test_validate_never_raises_on_any_json(value: Any) -> None:
    result = validate(value)
    assert result.ok is (not result.errors)
    assert all(isinstance(error.message, str) and error.message for error in result.errors)


@given(st.fixed_dictionaries({name: field_values for name in FIELDS}), st.booleans())
def test_validate_never_raises_with_the_right_keys(data: dict[str, Any], loopback: bool) -> None:
    result = validate(data, allow_loopback=loopback)
    assert result.ok is (not result.errors)
    for error in result.errors:
        assert error.field in (*FIELDS, None)


@given(st.dictionaries(st.sampled_from([*FIELDS, "x"]), field_values), st.booleans())
def test_validate_never_raises_with_some_keys(data: dict[str, Any], loopback: bool) -> None:
    validate(data, allow_loopback=loopback)


@given(credentials())
def test_validate_agrees_with_the_schema(data: dict[str, Any]) -> None:
    if validate(data).ok:
        assert SCHEMA.is_valid(data), data
    else:
        # whatever validate() refuses, it refuses with a reason
        assert validate(data).errors


@given(st.from_regex(r"\Ahttps://[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\.procurify\.com\Z"))
def test_every_schema_valid_company_url_is_accepted(base_url: str) -> None:
    data = {"name": "n", "client_id": "c", "client_secret": "s" * 16, "base_url": base_url}
    assert SCHEMA.is_valid(data) is validate(data).ok


# --- the secret never shows -------------------------------------------------------------------


@given(credentials(), secrets_)
def test_secret_never_in_validation_results_or_errors(data: dict[str, Any], secret: str) -> None:
    data = dict(data, client_secret=secret)
    assume(all(secret not in repr(value) for key, value in data.items() if key != "client_secret"))
    for loopback in (False, True):
        result = validate(data, allow_loopback=loopback)
        assert secret not in shown(result)
        if result.ok:
            credential = parse(data, allow_loopback=loopback)
            assert secret not in repr(credential) + str(credential)
            assert secret not in json.dumps(credential.to_dict())
        else:
            with pytest.raises(CredentialError) as raised:
                parse(data, allow_loopback=loopback)
            error = raised.value
            assert secret not in str(error) + repr(error) + repr(error.errors)


@given(secrets_, st.sampled_from(["", " ", "\n", "\t", " x"]))
def test_a_malformed_secret_is_not_quoted(secret: str, noise: str) -> None:
    data = {
        "name": "n",
        "client_id": "c",
        "client_secret": noise + secret + noise,
        "base_url": BASE,
    }
    result = validate(data)
    assert secret not in shown(result)


@settings(
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(secret=secrets_, token=secrets_, reject=st.booleans())
def test_secret_and_token_never_in_logs_reprs_or_errors(
    caplog: pytest.LogCaptureFixture, secret: str, token: str, reject: bool
) -> None:
    caplog.clear()
    credential = parse({"name": "n", "client_id": "cid", "client_secret": secret, "base_url": BASE})
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG), requests_mock.Mocker() as mock:
        if reject:
            mock.post(
                BASE + "/api/v3/oauth/token",
                [{"status_code": 503}, {"status_code": 401, "json": {"error": "denied"}}],
            )
        else:
            mock.post(BASE + "/api/v3/oauth/token", status_code=404)
            mock.post(BASE + "/oauth/token", json={"access_token": token, "expires_in": 60})
        mock.get(
            BASE + "/api/v3/users/me",
            [{"status_code": 401}, {"status_code": 502}, {"json": {"data": {}}}],
        )
        mock.post(BASE + "/api/v3/vendors", status_code=400, json={"name": ["Required."]})
        with ProcurifySession(credential, client=HttpClient(NO_WAIT, sleep=lambda _: None)) as s:
            texts += [repr(s), str(s), repr(s.tokens), repr(s.credential)]
            try:
                s.get("/api/v3/users/me")
                s.post("/api/v3/vendors", json={})
                access = s.tokens.token()
                texts += [repr(access), str(access)]
            except ProcurifyError as error:
                assert reject
                texts += [str(error), repr(error)]
    assert caplog.records, "the exchange and the calls are logged at DEBUG"
    texts += [record.getMessage() for record in caplog.records]
    texts.append(caplog.text)
    joined = "\n".join(texts)
    assert secret not in joined
    assert token not in joined


@settings(
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(secret=secrets_, base_url=base_urls, live=st.booleans(), as_json=st.booleans())
def test_secret_never_in_check_output(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    secret: str,
    base_url: str,
    live: bool,
    as_json: bool,
) -> None:
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)  # no real loopback connections
    path = tmp_path / "credential.json"
    path.write_text(
        json.dumps(
            {"name": "n", "client_id": "cid", "client_secret": secret, "base_url": base_url}
        ),
        encoding="utf-8",
    )
    argv = ["-v", "check", "--credential", str(path)]
    argv += ["--live"] * live + ["--json"] * as_json
    out, err = io.StringIO(), io.StringIO()
    with (
        requests_mock.Mocker() as mock,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        mock.post(re.compile(r"/oauth/token$"), status_code=401, json={"error": "denied"})
        code = main(argv)
    assert secret not in out.getvalue() + err.getvalue()
    assert "Traceback" not in err.getvalue()
    if not validate(json.loads(path.read_text())).ok or live:
        assert code != 0


def test_sandbox_secret_never_in_debug_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    with caplog.at_level(logging.DEBUG), Sandbox() as sandbox:
        credential = sandbox.credential()
        sandbox.inject(Fault("status", status=503, retry_after=0, path="/api/v3/users/me"))
        checked = plugin.validate_credential(
            connector_type="procurify", credential=credential, live=True
        )
        assert checked is not None
        assert checked.ok
        session = plugin.authenticate(connector_type="procurify", credential=credential)
        assert session is not None
        with session:
            sandbox.expire_tokens()
            assert session.get("/api/v3/users/me").status_code == 200
            token = session.tokens.token().value.reveal()
        wrong = dict(credential, client_secret=credential["client_secret"][::-1])
        failed = plugin.validate_credential(connector_type="procurify", credential=wrong, live=True)
        assert failed is not None
        assert not failed.ok
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert any(r.name.startswith("nexla_procurify") for r in caplog.records)
    assert credential["client_secret"] not in caplog.text
    assert wrong["client_secret"] not in caplog.text + shown(failed)
    assert token not in caplog.text
    assert "sbx_" not in caplog.text  # no sandbox token, whole or in part
