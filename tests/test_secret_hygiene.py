"""Secret hygiene as an invariant: whatever the secret and the token look like, and however a
server echoes them back, nothing the connector prints, logs, raises (message, repr, chained
causes and what they hold, request bodies included) or returns contains them."""

from __future__ import annotations

import contextlib
import html
import io
import json
import logging
import os
import re
import string
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import pytest
import requests
import requests_mock
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nexla_procurify import plugin, source
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.cli import main
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.errors import ProcurifyError
from nexla_procurify.http import HttpClient, HttpPolicy

BASE = "https://acme.procurify.com"
TOKEN_URL = BASE + "/api/v3/oauth/token"
NO_WAIT = HttpPolicy(max_attempts=2, backoff_initial=0.0, backoff_max=0.0)

# Secrets of any shape (punctuation, any script, any case; no spaces: the credential form
# refuses them), tokens of any shape a header can carry.
secrets_ = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                  blacklist_characters="\x85\u180e"),
    min_size=12, max_size=40,
)
tokens = st.text(st.sampled_from(string.ascii_letters + string.digits + string.punctuation),
                 min_size=16, max_size=48)


# --- the echoing server -------------------------------------------------------------------------


def spellings(value: str) -> list[str]:
    """``value`` in every escaping a server may echo it in."""
    found: list[str] = []
    for variant in dict.fromkeys([value, value.lower(), value.upper(), value.swapcase()]):
        json_ascii = json.dumps(variant)[1:-1]
        found += [
            variant,
            json_ascii,
            json_ascii.upper(),
            json.dumps(variant, ensure_ascii=False)[1:-1],
            "".join(json.dumps(char)[1:-1] if ord(char) > 0xFFFF else f"\\u{ord(char):04x}"
                    for char in variant),
            "".join(f"\\u{ord(char):04X}" if ord(char) <= 0xFFFF else char for char in variant),
            json_ascii.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("-", "\\u002d"),
            quote(variant, safe=""),
            quote(variant, safe="").lower(),
            quote_plus(variant),
            html.escape(variant),
            "".join(f"&#{ord(char)};" for char in variant),
            repr(variant)[1:-1],
            repr(variant.encode("utf-8", "surrogatepass"))[2:-1],
        ]
    return found


def echo(*values: str) -> dict[str, Any]:
    """A Django REST framework style error body repeating ``values`` in every spelling."""
    return {"detail": [f"invalid: {form}" for value in values for form in spellings(value)],
            "client_secret": [f"'{form}'" for value in values for form in spellings(value)]}


def raw(body: Any) -> bytes:
    """The body as a server may send it: escaped spellings inside, and each one also
    written raw into the JSON text (not as a JSON string)."""
    return json.dumps(body, ensure_ascii=False).encode()


# --- what the connector exposes -----------------------------------------------------------------


def exposed(thing: Any, depth: int = 0, seen: set[int] | None = None) -> Iterator[str]:
    """Every text reachable from ``thing``: its ``str`` and ``repr``, and for exceptions and
    objects their causes, context, arguments and attributes (a ``requests`` exception's
    request and its body, say). A ``Secret`` shows only its ``repr`` (it masks itself)."""
    seen = set() if seen is None else seen
    if id(thing) in seen or depth > 8 or thing is None:
        return
    seen.add(id(thing))
    if isinstance(thing, str):
        yield thing
        return
    if isinstance(thing, bytes | bytearray):
        yield bytes(thing).decode("utf-8", "replace")
        return
    if isinstance(thing, bool | int | float) or (callable(thing) and not isinstance(
        thing, BaseException
    )):
        return
    yield repr(thing)
    if isinstance(thing, Secret):
        return
    if isinstance(thing, BaseException):
        yield str(thing)
        for linked in (thing.__cause__, thing.__context__, thing.args):
            yield from exposed(linked, depth + 1, seen)
    if isinstance(thing, Mapping):
        for key, value in thing.items():
            yield from exposed(key, depth + 1, seen)
            yield from exposed(value, depth + 1, seen)
        return
    if isinstance(thing, list | tuple | set | frozenset):
        for item in thing:
            yield from exposed(item, depth + 1, seen)
        return
    for value in getattr(thing, "__dict__", {}).values():
        yield from exposed(value, depth + 1, seen)


_UNICODE_ESCAPE = re.compile(r"\\[uU]([0-9a-fA-F]{4})")


def decodings(text: str) -> Iterator[str]:
    """``text`` and its readings with one level of escapes decoded (the oracle: written
    independently of the connector's masking)."""
    yield text
    unescaped = _UNICODE_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)
    yield unescaped.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    yield unquote(text)
    yield unquote_plus(text)
    yield html.unescape(text)
    with contextlib.suppress(UnicodeError, ValueError):
        yield text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    with contextlib.suppress(UnicodeError, ValueError):
        yield (text.encode("latin-1", "backslashreplace").decode("unicode_escape")
               .encode("latin-1").decode("utf-8"))


def fold(text: str) -> str:
    return text.upper().casefold()


def leaked(texts: list[str], *values: str) -> list[str]:
    wanted = [fold(value) for value in values]
    return [text[:200] for text in texts for reading in decodings(text)
            if any(value in fold(reading) for value in wanted)]


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
        result = plugin.validate_credential(connector_type="procurify",
                                            credential=credential_dict(secret), live=True)
        return result.to_dict() if result is not None else None

    def read() -> Any:
        with session_for(secret) as session:
            return [message.to_dict() for message in source.read(
                session, {"resource": "vendors", "concurrency": 1}, None)]

    def write() -> Any:
        with session_for(secret) as session:
            results = plugin.write_destination(
                connector_type="procurify", session=session,
                config={"resource": "departments", "operation": "create"},
                records=[{"name": "Finance", "location": 1}])
            return [result.to_dict() for result in results or []]

    def update() -> Any:
        with session_for(secret) as session:
            results = plugin.write_destination(
                connector_type="procurify", session=session,
                config={"resource": "departments", "operation": "update"},
                records=[{"id": 7, "name": "Finance", "location": 1}])
            return [result.to_dict() for result in results or []]

    yield from (live_check, read, write, update)


def cli_output(secret: str, *argv: str) -> list[str]:
    environment = {"PROCURIFY_CLIENT_ID": "client-id", "PROCURIFY_CLIENT_SECRET": secret,
                   "PROCURIFY_BASE_URL": BASE}
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
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

INVARIANT = settings(max_examples=25, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@INVARIANT
@given(secret=secrets_, status=st.sampled_from([400, 401, 403, 404, 418, 422]))
def test_a_token_endpoint_echoing_the_secret_leaks_nothing(secret: str, status: int) -> None:
    assume(not leaked(["client-id procurify vendors departments"], secret))
    texts: list[str] = []
    with requests_mock.Mocker() as mock, capture_logs() as logs:
        for path in ("/api/v3/oauth/token", "/oauth/token"):
            mock.post(BASE + path, status_code=status, content=raw(echo(secret)),
                      headers={"Content-Type": "application/json"})
        for run in connector_runs(secret):
            texts += outcome(run)
        texts += cli_output(secret, "check", "--live")
        texts += cli_output(secret, "-v", "read", "vendors")
    texts += logs.lines
    assert not leaked(texts, secret)


@INVARIANT
@given(secret=secrets_, token=tokens)
def test_an_api_echoing_the_secret_and_the_token_leaks_nothing(secret: str, token: str) -> None:
    assume(not leaked(["client-id procurify vendors departments"], secret, token))
    assume(fold(token) not in fold(secret) and fold(secret) not in fold(token))
    texts: list[str] = []
    both = echo(secret, token)
    page = {"data": [{"id": 1, "name": form} for form in spellings(secret) + spellings(token)],
            "metadata": {"pagination": {"count": 1, "num_pages": 1, "current_page": 1}}}
    with requests_mock.Mocker() as mock, capture_logs() as logs:
        for path in ("/api/v3/oauth/token", "/oauth/token"):
            mock.post(BASE + path, json={"access_token": token, "expires_in": 3600})
        json_headers = {"Content-Type": "application/json"}
        mock.get(BASE + "/api/v3/users/me", status_code=403, content=raw(both),
                 headers=json_headers)
        mock.get(BASE + "/api/v3/vendors", content=raw(page), headers=json_headers)
        mock.post(BASE + "/api/v3/departments", status_code=400, content=raw(both),
                  headers=json_headers)
        mock.put(re.compile(re.escape(BASE) + "/api/v3/departments/.*"), status_code=500,
                 content=raw(both), headers=json_headers)
        for run in connector_runs(secret):
            texts += outcome(run)
        texts += cli_output(secret, "check", "--live")
    texts += logs.lines
    assert not leaked(texts, secret, token)


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
    chain = [raised.value]
    while chain[-1].__cause__ or chain[-1].__context__:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)  # type: ignore[arg-type]
    assert all(isinstance(error, ProcurifyError) for error in chain)
