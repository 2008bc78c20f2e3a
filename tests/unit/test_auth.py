"""The OAuth token manager and the authenticated session, against requests-mock."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import requests_mock as rm
from shared import BASE, FakeClock

from nexla_procurify import auth
from nexla_procurify.auth import (
    AUDIENCE,
    AccessToken,
    ProcurifySession,
    TokenManager,
    refresh_margin,
)
from nexla_procurify.credential import parse
from nexla_procurify.errors import ApiError, AuthenticationError, ConfigurationError, TransientError
from nexla_procurify.http import HttpClient, HttpPolicy

TOKEN = BASE + "/api/v3/oauth/token"
LEGACY_TOKEN = BASE + "/oauth/token"
ME = BASE + "/api/v3/users/me"
CLIENT_ID = "client-id-123"
SECRET = "zq9SecretValue0000aaaa"


def credential_dict() -> dict[str, Any]:
    return {"name": "test", "client_id": CLIENT_ID, "client_secret": SECRET, "base_url": BASE}


def token_answers(*lifetimes: float | None) -> list[dict[str, Any]]:
    answers = []
    for number, lifetime in enumerate(lifetimes, start=1):
        body: dict[str, Any] = {
            "access_token": f"tok-{number}",
            "token_type": "Bearer",
            "scope": "urn:procurify-api:domain:acme",
        }
        if lifetime is not None:
            body["expires_in"] = lifetime
        answers.append({"json": body})
    return answers


@pytest.fixture
def session(clock: FakeClock) -> ProcurifySession:
    client = HttpClient(HttpPolicy(), sleep=clock.sleep, clock=clock, rng=random.Random(0))
    made = ProcurifySession(parse(credential_dict()), client=client)
    made.tokens = TokenManager(made.credential, client, clock=clock)
    return made


# --- the exchange -----------------------------------------------------------------------------


def test_token_exchange_body_and_headers(
    requests_mock: rm.Mocker, session: ProcurifySession
) -> None:
    token = requests_mock.post(TOKEN, token_answers(86400))
    requests_mock.get(ME, json={"data": {}})
    assert session.get("/api/v3/users/me").status_code == 200
    assert token.call_count == 1
    sent = token.last_request
    assert sent is not None
    assert sent.json() == {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "audience": "https://api.procurify.com/",
        "grant_type": "client_credentials",
    }
    assert AUDIENCE == "https://api.procurify.com/"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["User-Agent"].startswith("nexla-procurify/")
    assert "Authorization" not in sent.headers
    # requests-mock's stub says int; it is what requests was given (here a pair)
    assert sent.timeout == HttpPolicy().timeout  # type: ignore[comparison-overlap]


def test_every_api_call_carries_the_token_and_client_header(
    requests_mock: rm.Mocker, session: ProcurifySession
) -> None:
    requests_mock.post(TOKEN, token_answers(86400))
    requests_mock.get(ME, json={})
    vendors = requests_mock.post(BASE + "/api/v3/vendors", status_code=201, json={})
    session.get("/api/v3/users/me", headers={"X-Extra": "1", "Authorization": "Bearer forged"})
    session.post("/api/v3/vendors", json={"name": "V"})
    for call in requests_mock.request_history[1:]:
        assert call.headers["Authorization"] == "Bearer tok-1"
        assert call.headers["X-Procurify-Client"] == "api"
        assert call.headers["Accept"] == "application/json"
    assert requests_mock.request_history[1].headers["X-Extra"] == "1"
    assert vendors.last_request is not None
    assert vendors.last_request.json() == {"name": "V"}


def test_falls_back_to_the_legacy_path_and_remembers_it(
    requests_mock: rm.Mocker, session: ProcurifySession, clock: FakeClock
) -> None:
    modern = requests_mock.post(TOKEN, status_code=404, json={"detail": "Not found."})
    legacy = requests_mock.post(LEGACY_TOKEN, token_answers(3600, 3600))
    requests_mock.get(ME, json={})
    assert session.get("/api/v3/users/me").status_code == 200
    assert (modern.call_count, legacy.call_count) == (1, 1)
    clock.now += 3600  # the token is due for renewal
    assert session.get("/api/v3/users/me").status_code == 200
    assert (modern.call_count, legacy.call_count) == (1, 2)
    assert session.tokens.exchanges == 2


def test_the_modern_path_is_used_first(requests_mock: rm.Mocker, session: ProcurifySession) -> None:
    modern = requests_mock.post(TOKEN, token_answers(3600))
    legacy = requests_mock.post(LEGACY_TOKEN, token_answers(3600))
    requests_mock.get(ME, json={})
    session.get("/api/v3/users/me")
    assert (modern.call_count, legacy.call_count) == (1, 0)


def test_404_on_both_paths_is_not_procurify(
    requests_mock: rm.Mocker, session: ProcurifySession
) -> None:
    requests_mock.post(TOKEN, status_code=404)
    requests_mock.post(LEGACY_TOKEN, status_code=404)
    with pytest.raises(ConfigurationError, match="not like Procurify"):
        session.get("/api/v3/users/me")


@pytest.mark.parametrize(
    "answer",
    [
        {"text": "<html>"},
        {"json": {"token": "x"}},
        {"json": ["x"]},
        {"json": {"access_token": ""}},
        {"json": {"access_token": 42}},
    ],
)
def test_an_answer_without_a_token_is_not_procurify(
    requests_mock: rm.Mocker, session: ProcurifySession, answer: dict[str, Any]
) -> None:
    requests_mock.post(TOKEN, **answer)
    with pytest.raises(ConfigurationError, match="not like Procurify"):
        session.get("/api/v3/users/me")


# --- caching and renewal ----------------------------------------------------------------------


def test_token_is_cached(requests_mock: rm.Mocker, session: ProcurifySession) -> None:
    token = requests_mock.post(TOKEN, token_answers(86400, 86400))
    requests_mock.get(ME, json={})
    session.get("/api/v3/users/me")
    session.get("/api/v3/users/me")
    session.get("/api/v3/users/me")
    assert token.call_count == 1
    assert session.tokens.exchanges == 1


def test_no_token_is_fetched_before_it_is_needed(
    requests_mock: rm.Mocker, session: ProcurifySession
) -> None:
    assert requests_mock.call_count == 0
    assert session.tokens.exchanges == 0


def test_refresh_margin() -> None:
    assert refresh_margin(86400) == 300
    assert refresh_margin(3000) == 300
    assert refresh_margin(600) == 60
    assert refresh_margin(1) == pytest.approx(0.1)


@pytest.mark.parametrize("lifetime", [86400.0, 3600.0, 100.0, 60.0])
def test_refresh_shortly_before_expiry(
    requests_mock: rm.Mocker, clock: FakeClock, lifetime: float
) -> None:
    requests_mock.post(TOKEN, token_answers(lifetime, lifetime, lifetime))
    client = HttpClient(sleep=clock.sleep, clock=clock)
    manager = TokenManager(parse(credential_dict()), client, clock=clock)
    clock.now = 50.0
    first = manager.token()
    renew_at = 50.0 + lifetime - min(300.0, lifetime / 10)
    assert first.expires_at == pytest.approx(50.0 + lifetime)
    assert first.refresh_at == pytest.approx(renew_at)
    clock.now = renew_at - min(1.0, lifetime / 100)
    assert manager.token() is first
    assert manager.exchanges == 1
    clock.now = renew_at
    second = manager.token()
    assert second is not first
    assert second.value.reveal() == "tok-2"
    assert manager.exchanges == 2
    assert second.refresh_at < second.expires_at


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (0, 60.0),
        (-5, 60.0),
        (-1e300, 60.0),
        (0.2, 60.0),
        (float("nan"), 86400.0),
        (float("inf"), 86400.0),
        (float("-inf"), 86400.0),
        (10**400, 86400.0),
        (1e12, 86400.0),
        ("3600", 3600.0),
        ("soon", 86400.0),
        ("nan", 86400.0),
        (True, 86400.0),
        ([60], 86400.0),
        ({"s": 1}, 86400.0),
        (3600, 3600.0),
    ],
)
def test_any_expires_in_gives_a_sane_lifetime(
    requests_mock: rm.Mocker, clock: FakeClock, expires_in: Any, lifetime: float
) -> None:
    body = json.dumps({"access_token": "tok-1", "expires_in": expires_in}, allow_nan=True).encode()
    requests_mock.post(TOKEN, content=body, headers={"Content-Type": "application/json"})
    manager = TokenManager(parse(credential_dict()), HttpClient(), clock=clock)
    token = manager.token()
    assert token.expires_at - clock.now == pytest.approx(lifetime)
    for _ in range(50):  # the same token serves call after call: no exchange per call
        clock.now += 0.5
        assert manager.token() is token
    assert manager.exchanges == 1


def test_missing_expires_in_means_a_day(requests_mock: rm.Mocker, clock: FakeClock) -> None:
    requests_mock.post(TOKEN, token_answers(None))
    manager = TokenManager(parse(credential_dict()), HttpClient(), clock=clock)
    assert manager.token().expires_at == pytest.approx(86400.0)


def test_invalidate_forgets_only_the_rejected_token(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(TOKEN, token_answers(3600, 3600))
    manager = TokenManager(parse(credential_dict()), HttpClient(), clock=clock)
    first = manager.token()
    stale = AccessToken(first.value, 0.0, 0.0)
    manager.invalidate(stale)  # another token: nothing happens
    assert manager.token() is first
    manager.invalidate(first)
    assert manager.token() is not first
    assert manager.exchanges == 2


# --- 401s -------------------------------------------------------------------------------------


def test_401_on_an_api_call_refreshes_once_and_retries_once(
    requests_mock: rm.Mocker, session: ProcurifySession
) -> None:
    token = requests_mock.post(TOKEN, token_answers(86400, 86400))
    me = requests_mock.get(ME, [{"status_code": 401}, {"json": {"data": {"id": 1}}}])
    response = session.get("/api/v3/users/me")
    assert response.status_code == 200
    assert token.call_count == 2
    assert [call.headers["Authorization"] for call in me.request_history] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]


def test_a_second_401_is_returned_not_looped(
    requests_mock: rm.Mocker, session: ProcurifySession
) -> None:
    token = requests_mock.post(TOKEN, token_answers(86400, 86400, 86400))
    me = requests_mock.get(ME, status_code=401, json={"detail": "no"})
    response = session.get("/api/v3/users/me")
    assert response.status_code == 401
    assert me.call_count == 2
    assert token.call_count == 2


def test_401_retry_also_works_for_request_json(
    requests_mock: rm.Mocker, session: ProcurifySession
) -> None:
    requests_mock.post(TOKEN, token_answers(86400, 86400))
    requests_mock.get(ME, [{"status_code": 401}, {"json": {"data": {"id": 7}}}])
    answer = session.request_json("GET", "/api/v3/users/me")
    response, body = answer.response, answer.body
    assert response.status_code == 200
    assert body == {"data": {"id": 7}}


@pytest.mark.parametrize("status", [400, 401, 403])
def test_credentials_rejected_at_the_token_endpoint(
    requests_mock: rm.Mocker, session: ProcurifySession, clock: FakeClock, status: int
) -> None:
    token = requests_mock.post(
        TOKEN, status_code=status, json={"error": "access_denied", "error_description": "no"}
    )
    me = requests_mock.get(ME, json={})
    with pytest.raises(AuthenticationError) as raised:
        session.get("/api/v3/users/me")
    assert token.call_count == 1  # never retried
    assert not me.called
    assert clock.sleeps == []
    assert f"HTTP {status}" in raised.value.message
    assert SECRET not in str(raised.value)


def test_rejected_on_the_legacy_path_too(
    requests_mock: rm.Mocker, session: ProcurifySession
) -> None:
    requests_mock.post(TOKEN, status_code=404)
    legacy = requests_mock.post(LEGACY_TOKEN, status_code=401)
    with pytest.raises(AuthenticationError):
        session.get("/api/v3/users/me")
    assert legacy.call_count == 1


def test_token_endpoint_outage_is_retried_then_transient(
    requests_mock: rm.Mocker, session: ProcurifySession, clock: FakeClock
) -> None:
    token = requests_mock.post(TOKEN, [{"status_code": 503}, *token_answers(60)])
    requests_mock.get(ME, json={})
    assert session.get("/api/v3/users/me").status_code == 200
    assert token.call_count == 2
    requests_mock.post(TOKEN, status_code=502)
    session.tokens.invalidate(session.tokens.token())
    with pytest.raises(TransientError, match="HTTP 502"):
        session.get("/api/v3/users/me")


def test_token_requests_do_not_follow_redirects(
    requests_mock: rm.Mocker, session: ProcurifySession
) -> None:
    requests_mock.post(TOKEN, status_code=307, headers={"Location": BASE + "/elsewhere"})
    elsewhere = requests_mock.post(BASE + "/elsewhere", json={"access_token": "x"})
    with pytest.raises(ApiError, match="HTTP 307"):
        session.get("/api/v3/users/me")
    assert not elsewhere.called


# --- paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["https://evil.example/x", "//evil.example/x", "api/v3/users/me", "", "evil.example"]
)
def test_paths_must_be_relative(
    requests_mock: rm.Mocker, session: ProcurifySession, path: str
) -> None:
    with pytest.raises(ConfigurationError, match="relative"):
        session.get(path)
    assert requests_mock.call_count == 0


def test_session_helpers(requests_mock: rm.Mocker, session: ProcurifySession) -> None:
    requests_mock.post(TOKEN, token_answers(86400))
    for method in ("GET", "POST", "PUT", "PATCH"):
        requests_mock.register_uri(method, BASE + "/api/v3/vendors/1", json={"m": method})
    assert session.get("/api/v3/vendors/1").json() == {"m": "GET"}
    assert session.post("/api/v3/vendors/1").json() == {"m": "POST"}
    assert session.put("/api/v3/vendors/1").json() == {"m": "PUT"}
    assert session.patch("/api/v3/vendors/1").json() == {"m": "PATCH"}
    assert session.base_url == BASE
    with session as same:
        assert same is session


def test_reprs_hide_secrets(requests_mock: rm.Mocker, session: ProcurifySession) -> None:
    requests_mock.post(TOKEN, json={"access_token": "AccessTokenValue123456", "expires_in": 60})
    token = session.tokens.token()
    for text in (
        repr(session),
        str(session),
        repr(session.tokens),
        repr(token),
        str(token),
        repr(session.credential),
    ):
        assert SECRET not in text
        assert "AccessTokenValue123456" not in text
    assert BASE in repr(session)


def test_live_check_policy_is_bounded() -> None:
    policy = auth.LIVE_CHECK_POLICY
    assert policy.max_elapsed <= 20
    assert policy.max_attempts <= 3
    assert policy.connect_timeout <= 10
