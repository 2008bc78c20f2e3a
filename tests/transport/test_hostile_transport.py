"""The HTTP layer against a misbehaving server on loopback: every request ends by its
deadline, holds a bounded amount, and every failure is a clear ``ProcurifyError``."""

from __future__ import annotations

import socket
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests_mock as rm
from hostile import (
    Answer,
    Drip,
    DripHeaders,
    Drop,
    GzipBomb,
    HostileServer,
    Reply,
    Request,
    Silence,
    deep_json,
    redirect,
)
from transport.transport_helpers import hostile_policy

from nexla_procurify import auth, plugin, source
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    ProcurifyError,
    TransientError,
)
from nexla_procurify.http import HttpClient, HttpPolicy, error_for_response

SECRET = "client-secret-0123456789"
TOKEN = "tok-0123456789abcdef"
ME = "/api/v3/users/me"
FAST = hostile_policy(0.6)


def token_answer(request: Request) -> Answer | None:
    if request.path.endswith("/oauth/token"):
        return Reply.json({"access_token": TOKEN, "expires_in": 3600})
    return None


def serving(answer: Callable[[Request], Answer]) -> Callable[[Request], Answer]:
    """A handler issuing tokens and answering everything else with ``answer``."""

    def handle(request: Request) -> Answer:
        return token_answer(request) or answer(request)

    return handle


def session_for(base_url: str, policy: HttpPolicy = FAST) -> ProcurifySession:
    return ProcurifySession(
        Credential("test", "client-id", Secret(SECRET), base_url), policy=policy
    )


@pytest.fixture
def server_for() -> Iterator[Callable[[Callable[[Request], Answer]], HostileServer]]:
    servers: list[HostileServer] = []

    def start(handler: Callable[[Request], Answer]) -> HostileServer:
        server = HostileServer(handler, lifetime=30.0).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


# --- deadlines --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [Drip(b'{"data": {"id": 1}}' * 10, every=0.1), DripHeaders(every=0.1), Silence()],
    ids=["body", "headers", "silence"],
)
def test_a_slow_answer_ends_at_the_request_deadline(server_for: Any, answer: Answer) -> None:
    server = server_for(serving(lambda _: answer))
    with (
        session_for(server.base_url) as session,
        pytest.raises(ConnectionFailedError, match=r"within 0\.6 s") as raised,
    ):
        session.get(ME)
    assert raised.value.request_sent
    assert "HttpPolicy.max_elapsed" in raised.value.message


def test_a_slow_token_answer_ends_at_the_deadline_too(server_for: Any) -> None:
    server = server_for(lambda _: Drip(b'{"access_token": "x"}', every=0.1))
    with (
        session_for(server.base_url) as session,
        pytest.raises(ConnectionFailedError, match=r"within 0\.6 s"),
    ):
        session.get(ME)


def test_a_live_check_ends_within_its_total_whatever_each_request_takes(
    requests_mock: rm.Mocker,
) -> None:
    now = [0.0]

    def slow(seconds: float, body: dict[str, Any]) -> Callable[..., dict[str, Any]]:
        def answer(request: Any, context: Any) -> dict[str, Any]:
            now[0] += seconds  # each answer takes 15 s: within a request's 20 s
            return body

        return answer

    base = "https://acme.procurify.com"
    requests_mock.post(
        base + "/api/v3/oauth/token", json=slow(15, {"access_token": TOKEN, "expires_in": 3600})
    )
    requests_mock.get(base + ME, json=slow(15, {"data": {"id": 1}}))
    credential = Credential("test", "client-id", Secret(SECRET), base)
    result = auth.check_connection(credential, clock=lambda: now[0])
    assert not result.ok
    assert [error.field for error in result.errors] == ["base_url"]
    assert "within 20 s" in result.errors[0].message


def test_the_live_check_policy_bounds_the_whole_check() -> None:
    assert auth.LIVE_CHECK_POLICY.max_elapsed == 20.0


# --- size -------------------------------------------------------------------------------------


def test_a_gzip_bomb_is_refused_while_streaming(server_for: Any) -> None:
    server = server_for(serving(lambda _: GzipBomb(inflated=256 << 20)))
    policy = HttpPolicy(max_answer_bytes=1 << 20, max_elapsed=30.0, max_attempts=1)
    tracemalloc.start()
    try:
        with (
            session_for(server.base_url, policy) as session,
            pytest.raises(ConnectionFailedError, match="larger than 1048576 bytes"),
        ):
            session.get(ME)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20  # the answer inflates to 256 MiB: it was never held


def test_the_default_answer_limit_is_64_mib() -> None:
    assert HttpPolicy().max_answer_bytes == 64 * 1024 * 1024


def test_an_announced_oversized_answer_is_not_read(server_for: Any) -> None:
    server = server_for(serving(lambda _: Reply(200, b"x" * 4096)))
    with (
        session_for(server.base_url, HttpPolicy(max_answer_bytes=1024)) as session,
        pytest.raises(ConnectionFailedError, match="larger than 1024 bytes"),
    ):
        session.get(ME)


# --- hostile JSON -----------------------------------------------------------------------------


def test_a_deeply_nested_token_answer_is_not_procurify(server_for: Any) -> None:
    server = server_for(lambda _: Reply.raw_json(deep_json()))
    with (
        session_for(server.base_url) as session,
        pytest.raises(ConfigurationError, match="nested more than 100 levels"),
    ):
        session.get(ME)


@pytest.mark.parametrize("depth", [101, 5_000, 100_000])
def test_a_deeply_nested_page_is_a_clear_error(server_for: Any, depth: int) -> None:
    server = server_for(serving(lambda _: Reply.raw_json(deep_json(depth))))
    with (
        session_for(server.base_url) as session,
        pytest.raises(TransientError, match=r"vendors page 1.*nested more than 100"),
    ):
        list(source.read(session, {"resource": "vendors"}, None))


def test_a_deeply_nested_400_body_is_a_plain_refusal(server_for: Any) -> None:
    server = server_for(serving(lambda _: Reply.raw_json(deep_json(), status=400)))
    with session_for(server.base_url) as session:
        response = session.post("/api/v3/vendors", json={"name": "x"})
        error = error_for_response(response, "create a vendor")
    assert isinstance(error, ApiError)
    assert error.message == "Procurify refused the request to create a vendor (HTTP 400)."


def test_a_token_that_cannot_be_sent_in_a_header_is_a_clear_error(server_for: Any) -> None:
    def handle(request: Request) -> Answer:
        if request.path.endswith("/oauth/token"):
            return Reply.json({"access_token": "tök€n-☃-value", "expires_in": 3600})
        return Reply.json({"data": {"id": 1}})

    server = server_for(handle)
    with (
        session_for(server.base_url) as session,
        pytest.raises(AuthenticationError, match="cannot be sent in an HTTP header"),
    ):
        session.get(ME)
    credential = Credential("test", "client-id", Secret(SECRET), server.base_url)
    result = auth.check_connection(credential, FAST)
    assert not result.ok
    assert server.paths().count(ME) == 0


# --- redirects --------------------------------------------------------------------------------


def test_a_same_origin_redirect_loop_says_so(server_for: Any) -> None:
    server = server_for(serving(lambda request: redirect(request.path)))
    with (
        session_for(server.base_url) as session,
        pytest.raises(ApiError, match="redirect loop") as raised,
    ):
        session.get(ME)
    assert "dropped" not in raised.value.message
    assert server.paths().count(ME) == FAST.max_redirects + 1


@pytest.mark.parametrize(
    "location", ["http://127.0.0.1:99999/x", "http://127.0.0.1:abc/x", "http://[::1/x"]
)
def test_a_redirect_with_a_bad_address_is_not_followed(server_for: Any, location: str) -> None:
    server = server_for(serving(lambda _: redirect(location)))
    with session_for(server.base_url) as session:
        response = session.get(ME)
    assert response.status_code == 302
    assert "redirected" in error_for_response(response, "read the API user").message


@pytest.mark.parametrize("location", ["http://127.0.0.1:99999/token", "http://127.0.0.1:x/"])
def test_live_validation_blames_the_base_url_for_a_bad_redirect(
    server_for: Any, allow_loopback: None, location: str
) -> None:
    server = server_for(lambda _: redirect(location))
    credential = {
        "name": "n",
        "client_id": "client-id",
        "client_secret": SECRET,
        "base_url": server.base_url,
    }
    result = plugin.validate_credential(
        connector_type="procurify", credential=credential, live=True
    )
    assert result is not None
    assert not result.ok
    assert [error.field for error in result.errors] == ["base_url"]


def test_a_redirect_to_another_origin_carries_nothing_there(server_for: Any) -> None:
    elsewhere = server_for(lambda _: Reply.json({"data": {"id": 1}}))
    server = server_for(serving(lambda _: redirect(elsewhere.base_url + ME)))
    with session_for(server.base_url) as session:
        assert session.get(ME).status_code == 302
    assert elsewhere.requests == []


def test_a_put_is_not_redirected_by_a_redirect_that_drops_its_body(server_for: Any) -> None:
    server = server_for(
        serving(
            lambda request: (
                redirect("/api/v3/vendors/2") if request.path.endswith("/1") else Reply.json({})
            )
        )
    )
    with session_for(server.base_url) as session:
        assert session.put("/api/v3/vendors/1", json={"name": "x"}).status_code == 302
    assert "/api/v3/vendors/2" not in server.paths()


# --- ordinary failures are ProcurifyErrors, naming the page --------------------------------------


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("fault", ["unreachable", "dropped", "silent", "tls", "teapot"])
def test_ordinary_failures_of_a_read_are_procurify_errors(server_for: Any, fault: str) -> None:
    if fault == "unreachable":
        base_url = closed_port()
    elif fault == "tls":
        base_url = server_for(lambda _: Reply.json({})).base_url.replace("http:", "https:")
    else:
        answers: dict[str, Callable[[Request], Answer]] = {
            "dropped": lambda _: Drop(),
            "silent": lambda _: Silence(),
            "teapot": lambda _: Reply.json({"detail": "short and stout"}, status=418),
        }
        base_url = server_for(answers[fault]).base_url
    with session_for(base_url) as session, pytest.raises(ProcurifyError) as raised:
        list(source.read(session, {"resource": "vendors"}, None))
    assert "vendors page 1" in raised.value.message
    assert SECRET not in repr(raised.value)


def test_http_client_alone_cuts_a_drip(server_for: Any) -> None:
    body = b"x" * 300
    server = server_for(lambda _: Drip(body, every=0.05))
    client = HttpClient(FAST)
    try:
        with pytest.raises(ConnectionFailedError, match="did not finish answering GET /slow"):
            client.send("GET", server.base_url + "/slow")
    finally:
        client.close()
    # Cut off mid-body (the connection shut down), not read to the end and then refused.
    [sent] = server.wait_for_drips(1)
    assert sent < len(body)
