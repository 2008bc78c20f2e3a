"""Secret hygiene as an invariant: whatever the secret and the token look like, and however a
server echoes them back, nothing the connector prints, logs, raises (message, repr, chained
causes and what they hold, request bodies included) or returns contains them."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import re
import string
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import requests_mock
from hostile import echo, exposed, fold, leaked, raw, spellings
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shared import BASE

from nexla_procurify import plugin, source
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.cli import main
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.errors import ProcurifyError
from nexla_procurify.http import HttpClient, HttpPolicy

TOKEN_URL = BASE + "/api/v3/oauth/token"
NO_WAIT = HttpPolicy(max_attempts=2, backoff_initial=0.0, backoff_max=0.0)

# Secrets of any shape (punctuation, any script, any case; no spaces: the credential form
# refuses them), tokens of any shape a header can carry.
secrets_ = st.text(
    st.characters(
        blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="\x85\u180e"
    ),
    min_size=12,
    max_size=40,
)
tokens = st.text(
    st.sampled_from(string.ascii_letters + string.digits + string.punctuation),
    min_size=16,
    max_size=48,
)


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        if record.exc_info and record.exc_info[1] is not None:
            self.lines.extend(exposed(record.exc_info[1]))


@contextlib.contextmanager
def capture_logs() -> Iterator[Captured]:
    handler = Captured()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def outcome(run: Any) -> list[str]:
    """What running ``run`` exposes: its result (or the exception it raised)."""
    try:
        result = run()
    except Exception as error:
        return list(exposed(error))
    return list(exposed(result))


def session_for(secret: str) -> ProcurifySession:
    credential = Credential("test", "client-id", Secret(secret), BASE)
    return ProcurifySession(credential, client=HttpClient(NO_WAIT, sleep=lambda _: None))


def credential_dict(secret: str) -> dict[str, str]:
    return {"name": "n", "client_id": "client-id", "client_secret": secret, "base_url": BASE}


def connector_runs(secret: str) -> Iterator[Any]:
    def live_check() -> Any:
        result = plugin.validate_credential(
            connector_type="procurify", credential=credential_dict(secret), live=True
        )
        return result.to_dict() if result is not None else None

    def read() -> Any:
        with session_for(secret) as session:
            return [
                message.to_dict()
                for message in source.read(session, {"resource": "vendors", "concurrency": 1}, None)
            ]

    def write() -> Any:
        with session_for(secret) as session:
            results = plugin.write_destination(
                connector_type="procurify",
                session=session,
                config={"resource": "departments", "operation": "create"},
                records=[{"name": "Finance", "location": 1}],
            )
            return [result.to_dict() for result in results or []]

    def update() -> Any:
        with session_for(secret) as session:
            results = plugin.write_destination(
                connector_type="procurify",
                session=session,
                config={"resource": "departments", "operation": "update"},
                records=[{"id": 7, "name": "Finance", "location": 1}],
            )
            return [result.to_dict() for result in results or []]

    yield from (live_check, read, write, update)


def cli_output(secret: str, *argv: str) -> list[str]:
    environment = {
        "PROCURIFY_CLIENT_ID": "client-id",
        "PROCURIFY_CLIENT_SECRET": secret,
        "PROCURIFY_BASE_URL": BASE,
    }
    out, err = io.StringIO(), io.StringIO()
    urllib3_logger = logging.getLogger("urllib3")
    level = urllib3_logger.level  # the command line quiets it: put it back afterwards
    with contextlib.ExitStack() as stack:
        stack.callback(urllib3_logger.setLevel, level)
        for name, value in environment.items():
            stack.enter_context(_env(name, value))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        with contextlib.suppress(SystemExit):
            main(list(argv))
    return [out.getvalue(), err.getvalue()]


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


# --- the invariant -----------------------------------------------------------------------------

INVARIANT = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def shown_anyway() -> tuple[str, ...]:
    """What the runs below show with an ordinary secret (schemas, messages): a drawn secret
    found in it would be found without any leak (hypothesis draws words from the code)."""
    secret, token = "ordinary-secret-value", "ordinary-token-value"
    return (*token_endpoint_run(secret, 400), *api_run(secret, token))


@INVARIANT
@given(secret=secrets_, status=st.sampled_from([400, 401, 403, 404, 418, 422]))
def test_a_token_endpoint_echoing_the_secret_leaks_nothing(secret: str, status: int) -> None:
    assume(not leaked(list(shown_anyway()), secret))
    assert not leaked(token_endpoint_run(secret, status), secret)


def token_endpoint_run(secret: str, status: int) -> list[str]:
    texts: list[str] = []
    with requests_mock.Mocker() as mock, capture_logs() as logs:
        for path in ("/api/v3/oauth/token", "/oauth/token"):
            mock.post(
                BASE + path,
                status_code=status,
                content=raw(echo(secret)),
                headers={"Content-Type": "application/json"},
            )
        for run in connector_runs(secret):
            texts += outcome(run)
        texts += cli_output(secret, "check", "--live")
        texts += cli_output(secret, "-v", "read", "vendors")
    return texts + logs.lines


@INVARIANT
@given(secret=secrets_, token=tokens)
def test_an_api_echoing_the_secret_and_the_token_leaks_nothing(secret: str, token: str) -> None:
    assume(not leaked(list(shown_anyway()), secret, token))
    assume(fold(token) not in fold(secret) and fold(secret) not in fold(token))
    assert not leaked(api_run(secret, token), secret, token)


def api_run(secret: str, token: str) -> list[str]:
    texts: list[str] = []
    both = echo(secret, token)
    page = {
        "data": [{"id": 1, "name": form} for form in spellings(secret) + spellings(token)],
        "metadata": {"pagination": {"count": 1, "num_pages": 1, "current_page": 1}},
    }
    with requests_mock.Mocker() as mock, capture_logs() as logs:
        for path in ("/api/v3/oauth/token", "/oauth/token"):
            mock.post(BASE + path, json={"access_token": token, "expires_in": 3600})
        json_headers = {"Content-Type": "application/json"}
        mock.get(
            BASE + "/api/v3/users/me", status_code=403, content=raw(both), headers=json_headers
        )
        mock.get(BASE + "/api/v3/vendors", content=raw(page), headers=json_headers)
        mock.post(
            BASE + "/api/v3/departments", status_code=400, content=raw(both), headers=json_headers
        )
        mock.put(
            re.compile(re.escape(BASE) + "/api/v3/departments/.*"),
            status_code=500,
            content=raw(both),
            headers=json_headers,
        )
        for run in connector_runs(secret):
            texts += outcome(run)
        texts += cli_output(secret, "check", "--live")
    return texts + logs.lines


def dropping(request: Any, context: Any) -> Any:
    """What requests raises when a connection drops: it holds the request (and its body)."""
    raise requests.exceptions.ConnectionError("Connection aborted.", request=request)


@pytest.mark.parametrize("place", ["token", "page"])
def test_chained_causes_hold_no_request_and_no_secret(place: str) -> None:
    secret, token = "the-client-secret-value", "the-access-token-value"
    with requests_mock.Mocker() as mock:
        if place == "token":
            mock.post(requests_mock.ANY, text=dropping)
        else:
            mock.post(requests_mock.ANY, json={"access_token": token, "expires_in": 3600})
            mock.get(requests_mock.ANY, text=dropping)
        with session_for(secret) as session, pytest.raises(ProcurifyError) as raised:
            list(source.read(session, {"resource": "vendors"}, None))
    texts = list(exposed(raised.value))
    assert "vendors page 1" in raised.value.message
    assert not leaked(texts, secret, token)
    chain: list[BaseException] = [raised.value]
    while (cause := chain[-1].__cause__ or chain[-1].__context__) is not None:
        chain.append(cause)
    assert all(isinstance(error, ProcurifyError) for error in chain)
