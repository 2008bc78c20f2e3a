"""The session against the embedded sandbox: live validation, faults, threads."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from requests_mock import ANY

from nexla_procurify import plugin
from nexla_procurify.auth import ProcurifySession, TokenManager
from nexla_procurify.credential import parse
from nexla_procurify.http import HttpClient, HttpPolicy, RequestOptions
from nexla_procurify.sandbox import Fault, Sandbox

ME = "/api/v3/users/me"
TOKEN = "/api/v3/oauth/token"
LEGACY_TOKEN = "/oauth/token"
FAST = HttpPolicy(
    connect_timeout=2,
    read_timeout=5,
    max_attempts=5,
    max_elapsed=10,
    backoff_initial=0.01,
    backoff_max=0.05,
)


class Fresh:
    """The module's shared sandbox as one test sees it: no faults, only its own requests.

    (A sandbox takes about half a second to stop, so tests share one where they can.)
    """

    def __init__(self, shared: Sandbox) -> None:
        self.shared = shared
        shared.faults.clear()
        self._start = len(shared.requests)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shared, name)

    @property
    def requests(self) -> list[Any]:
        return self.shared.requests[self._start :]

    def requests_to(self, path: str, method: str | None = None) -> list[Any]:
        return [r for r in self.requests if r.path == path and method in (None, r.method)]


@pytest.fixture
def sandbox(shared_sandbox: Sandbox, allow_loopback: None) -> Iterator[Fresh]:
    fresh = Fresh(shared_sandbox)
    yield fresh
    shared_sandbox.faults.clear()


def session_for(sandbox: Sandbox | Fresh, sleeps: list[float] | None = None) -> ProcurifySession:
    credential = parse(sandbox.credential(), allow_loopback=True)
    if sleeps is None:
        return ProcurifySession(credential, policy=FAST)

    def record(seconds: float) -> None:
        sleeps.append(seconds)

    return ProcurifySession(credential, client=HttpClient(FAST, sleep=record))


def live(credential: dict[str, Any]) -> Any:
    result = plugin.validate_credential(
        connector_type="procurify", credential=credential, live=True
    )
    assert result is not None
    return result


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- live validation --------------------------------------------------------------------------


def test_live_validation_succeeds(sandbox: Fresh) -> None:
    result = live(sandbox.credential())
    assert result.ok, result.errors
    assert len(sandbox.requests_to(TOKEN, "POST")) == 1
    assert [r.authorized for r in sandbox.requests_to(ME, "GET")] == [True]


def test_live_validation_with_a_wrong_secret(sandbox: Fresh) -> None:
    credential = dict(sandbox.credential(), client_secret="WrongSecretValue12345678")
    result = live(credential)
    assert not result.ok
    assert {error.field for error in result.errors} == {"client_id", "client_secret"}
    assert all("rejected the Client ID or Client Secret" in e.message for e in result.errors)
    assert len(sandbox.requests_to(TOKEN)) == 1  # not retried
    assert sandbox.requests_to(ME) == []


def test_live_validation_with_a_wrong_client_id(sandbox: Fresh) -> None:
    result = live(dict(sandbox.credential(), client_id="someone-else"))
    assert {error.field for error in result.errors} == {"client_id", "client_secret"}


def test_live_validation_of_an_unreachable_base_url(allow_loopback: None) -> None:
    credential = {
        "name": "x",
        "client_id": "id",
        "client_secret": "secretsecret",
        "base_url": f"http://127.0.0.1:{closed_port()}",
    }
    started = time.monotonic()
    result = live(credential)
    assert time.monotonic() - started < 10
    assert not result.ok
    assert [error.field for error in result.errors] == ["base_url"]
    assert "Could not connect" in result.errors[0].message


def test_live_validation_skips_the_network_for_an_invalid_credential(sandbox: Fresh) -> None:
    result = live(dict(sandbox.credential(), client_id=""))
    assert not result.ok
    assert sandbox.requests == []


@pytest.mark.parametrize("path", [TOKEN, ME])
def test_live_validation_during_an_outage(sandbox: Fresh, path: str) -> None:
    sandbox.inject(Fault("status", status=503, retry_after=0, path=path, times=None))
    started = time.monotonic()
    result = live(sandbox.credential())
    assert time.monotonic() - started < 10
    assert not result.ok
    assert [error.field for error in result.errors] == [None]
    assert "unavailable" in result.errors[0].message
    assert "HTTP 503" in result.errors[0].message
    assert 1 < len(sandbox.requests_to(path)) <= 3  # retried, within the live budget


def test_live_validation_of_something_that_is_not_procurify(requests_mock: Any) -> None:
    requests_mock.register_uri(ANY, ANY, status_code=404, text="<html>Not found</html>")
    result = live(
        {
            "name": "n",
            "client_id": "c",
            "client_secret": "secretsecret",
            "base_url": "https://acme.procurify.com",
        }
    )
    assert len(requests_mock.request_history) == 2  # both token paths, then it stops
    assert [error.field for error in result.errors] == ["base_url"]
    assert "not like Procurify" in result.errors[0].message


# --- the legacy token path --------------------------------------------------------------------


def test_legacy_token_path_fallback(allow_loopback: None) -> None:
    with Sandbox(legacy_token_path_only=True) as sandbox, session_for(sandbox) as session:
        assert live(sandbox.credential()).ok
        assert session.get(ME).status_code == 200
        assert len(sandbox.requests_to(LEGACY_TOKEN)) == 2  # one per session
        modern_before = len(sandbox.requests_to(TOKEN))
        sandbox.expire_tokens()
        assert session.get(ME).status_code == 200  # renewed, straight on the path that worked
        assert len(sandbox.requests_to(TOKEN)) == modern_before
        assert len(sandbox.requests_to(LEGACY_TOKEN)) == 3


# --- faults the session recovers from ---------------------------------------------------------


def test_429_with_retry_after_is_honoured(sandbox: Fresh) -> None:
    sleeps: list[float] = []
    sandbox.inject(Fault("status", status=429, retry_after=0.05, path=ME, times=2))
    with session_for(sandbox, sleeps) as session:
        assert session.get(ME).status_code == 200
    assert sleeps == [0.05, 0.05]
    assert len(sandbox.requests_to(ME)) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_recovered(sandbox: Fresh, status: int) -> None:
    sandbox.inject(Fault("status", status=status, path=ME, times=2))
    with session_for(sandbox) as session:
        assert session.get(ME).status_code == 200
    assert len(sandbox.requests_to(ME)) == 3


def test_dropped_connection_is_recovered(sandbox: Fresh) -> None:
    sandbox.inject(Fault("drop", path=ME, times=1))
    with session_for(sandbox) as session:
        answer = session.request_json("GET", ME)
        response, body = answer.response, answer.body
    assert response.status_code == 200
    assert body["data"]["id"] == 1
    assert len(sandbox.requests_to(ME)) == 2


def test_dropped_token_exchange_is_recovered(sandbox: Fresh) -> None:
    sandbox.inject(Fault("drop", path=TOKEN, times=1))
    with session_for(sandbox) as session:
        assert session.get(ME).status_code == 200
        assert session.tokens.exchanges == 1
    assert len(sandbox.requests_to(TOKEN)) == 2


def test_invalid_json_is_retried_by_request_json(sandbox: Fresh) -> None:
    sandbox.inject(Fault("invalid_json", path=ME, times=1))
    with session_for(sandbox) as session:
        body = session.request_json("GET", ME).body
    assert body["data"]["firstName"] == "Sandy"


def test_expired_token_is_renewed(sandbox: Fresh) -> None:
    with session_for(sandbox) as session:
        assert session.get(ME).status_code == 200
        sandbox.inject(Fault("expire_token", path=ME, times=1))
        assert session.get(ME).status_code == 200
        assert session.tokens.exchanges == 2
        sandbox.expire_tokens()
        assert session.get(ME).status_code == 200
        assert session.tokens.exchanges == 3


def test_the_sandbox_requires_the_client_header(sandbox: Fresh) -> None:
    with session_for(sandbox) as session:
        token = session.tokens.token().value.reveal()
        bare = session.client.send(
            "GET",
            sandbox.base_url + ME,
            RequestOptions(headers={"Authorization": f"Bearer {token}"}),
        )
        assert bare.status_code == 400
        assert session.get(ME).status_code == 200


# --- threads ----------------------------------------------------------------------------------


def test_sixteen_threads_share_one_session_and_one_token(sandbox: Fresh) -> None:
    barrier = threading.Barrier(16)
    with session_for(sandbox) as session:

        def work(_: int) -> list[int]:
            barrier.wait()  # all threads ask for the (missing) token at once
            return [session.get(ME).status_code for _ in range(5)]

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = [s for batch in pool.map(work, range(16)) for s in batch]
    assert statuses == [200] * 80
    assert len(sandbox.requests_to(TOKEN)) == 1
    assert session.tokens.exchanges == 1
    assert len(sandbox.requests_to(ME)) == 80


class SteppedClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_renewal_is_single_flight(sandbox: Fresh) -> None:
    """Each time the token comes due, 16 threads ask at once and one exchange happens."""
    clock = SteppedClock()
    rounds = 4
    barrier = threading.Barrier(16)
    step = threading.Barrier(16, action=lambda: setattr(clock, "now", clock.now + 86400))
    with session_for(sandbox) as session:
        session.tokens = TokenManager(session.credential, session.client, clock=clock)

        def work(_: int) -> list[int]:
            barrier.wait()
            statuses = []
            for _ in range(rounds):
                statuses.append(session.get(ME).status_code)
                step.wait()  # the last thread to arrive moves the clock past expiry
            return statuses

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = [s for batch in pool.map(work, range(16)) for s in batch]
    assert statuses == [200] * 16 * rounds
    assert session.tokens.exchanges == rounds
    assert len(sandbox.requests_to(TOKEN)) == rounds


def test_short_lived_tokens_under_concurrency(allow_loopback: None) -> None:
    with Sandbox(token_lifetime=0.5) as sandbox, session_for(sandbox) as session:
        deadline = time.monotonic() + 1.2

        def work(_: int) -> list[int]:
            statuses = []
            while time.monotonic() < deadline:
                statuses.append(session.get(ME).status_code)
            return statuses

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = [s for batch in pool.map(work, range(16)) for s in batch]
        exchanges = len(sandbox.requests_to(TOKEN))
    assert statuses
    assert set(statuses) == {200}
    assert exchanges == session.tokens.exchanges
    # renewed every ~0.45 s by one thread: a handful, not one per thread per renewal
    assert 2 <= exchanges <= 8, exchanges


@pytest.fixture
def busy_sandbox(allow_loopback: None) -> Iterator[Sandbox]:
    with Sandbox(latency=0.02) as running:
        yield running


def test_threads_with_faults_all_succeed(busy_sandbox: Sandbox) -> None:
    busy_sandbox.inject(
        Fault("status", status=429, retry_after=0, path=ME, times=5),
        Fault("status", status=502, path=ME, times=5),
    )
    with session_for(busy_sandbox) as session, ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda _: session.get(ME).status_code, range(32)))
    assert statuses == [200] * 32
    assert len(busy_sandbox.requests_to(ME)) == 42
