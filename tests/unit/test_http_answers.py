"""The HTTP client's answers: redirects, errors mapped from statuses and failures, requests
that cannot be built, and the deadline while a body streams."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import requests
import requests_mock as rm
from shared import BASE, FakeClock
from unit.http_helpers import URL, client_for, started_clock

from nexla_procurify.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    PermissionDeniedError,
    RateLimitError,
    TransientError,
)
from nexla_procurify.http import (
    RequestOptions,
    error_for_response,
    field_errors,
    json_body,
    raise_for_response,
)


@pytest.fixture
def clock() -> FakeClock:
    return started_clock()


def test_redirect_to_another_host_is_not_followed(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.get(URL, status_code=302, headers={"Location": "https://evil.example/steal"})
    evil = requests_mock.get("https://evil.example/steal", json={})
    bearer = RequestOptions(headers={"Authorization": "Bearer t0k"})
    response = client_for(clock).send("GET", URL, bearer)
    assert response.status_code == 302
    assert not evil.called
    assert requests_mock.call_count == 1


@pytest.mark.parametrize(
    "location",
    [
        "http://acme.procurify.com/x",
        "https://acme.procurify.com:8443/x",
        "https://other.procurify.com/x",
    ],
)
def test_redirect_to_another_origin_is_not_followed(
    requests_mock: rm.Mocker, clock: FakeClock, location: str
) -> None:
    requests_mock.get(URL, status_code=301, headers={"Location": location})
    requests_mock.get(location, json={})
    assert client_for(clock).send("GET", URL).status_code == 301
    assert requests_mock.call_count == 1


@pytest.mark.parametrize("location", ["/api/v3/vendors/", "https://acme.procurify.com/api/v3/v"])
def test_same_origin_redirect_is_followed(
    requests_mock: rm.Mocker, clock: FakeClock, location: str
) -> None:
    requests_mock.get(URL, status_code=301, headers={"Location": location})
    target = requests_mock.get(BASE + location if location.startswith("/") else location, json={})
    bearer = RequestOptions(headers={"Authorization": "Bearer t0k"})
    response = client_for(clock).send("GET", URL, bearer)
    assert response.status_code == 200
    assert target.called
    assert target.last_request is not None
    assert target.last_request.headers["Authorization"] == "Bearer t0k"


def test_unusable_address_is_a_configuration_error(clock: FakeClock) -> None:
    with pytest.raises(ConfigurationError):
        client_for(clock).send("GET", "not a url")


def answer(status: int, body: Any = None, text: str | None = None) -> requests.Response:
    """An answer to a GET of ``URL``: ``text`` as is, else ``body`` as JSON (none if ``None``)."""
    if text is not None:
        content = text.encode()
    else:
        content = b"" if body is None else json.dumps(body).encode()
    request = requests.Request("GET", URL).prepare()
    return rm.create_response(request, status_code=status, content=content)


@pytest.mark.parametrize(
    ("status", "kind", "phrase"),
    [
        (401, AuthenticationError, "HTTP 401"),
        (403, PermissionDeniedError, "HTTP 403"),
        (404, ApiError, "HTTP 404"),
        (429, RateLimitError, "HTTP 429"),
        (500, TransientError, "HTTP 500"),
        (502, TransientError, "HTTP 502"),
        (503, TransientError, "HTTP 503"),
        (504, TransientError, "HTTP 504"),
        (302, ApiError, "HTTP 302"),
        (409, ApiError, "HTTP 409"),
    ],
)
def test_error_for_response(status: int, kind: type[Exception], phrase: str) -> None:
    error = error_for_response(answer(status, {"detail": "x"}), "list vendors")
    assert type(error) is kind
    assert phrase in error.message
    assert "list vendors" in error.message
    with pytest.raises(kind):
        raise_for_response(answer(status), "list vendors")


def test_400_carries_procurify_field_errors() -> None:
    body = {
        "name": ["This field is required."],
        "email": ["Enter a valid email address.", "Too long."],
        "address": {"city": ["Required."]},
        "non_field_errors": ["Vendor already exists."],
    }
    error = error_for_response(answer(400, body), "create a vendor")
    assert isinstance(error, ApiError)
    assert error.status == 400
    assert error.field_errors == {
        "name": ("This field is required.",),
        "email": ("Enter a valid email address.", "Too long."),
        "address.city": ("Required.",),
        "non_field_errors": ("Vendor already exists.",),
    }
    assert "name: This field is required." in error.message
    assert "address.city: Required." in error.message


def test_400_without_json_still_maps() -> None:
    error = error_for_response(answer(400, text="<html>bad</html>"), "create a vendor")
    assert isinstance(error, ApiError)
    assert error.field_errors == {}
    assert error.message.endswith("(HTTP 400).")


def test_field_errors_shapes() -> None:
    assert field_errors(answer(400, {"detail": "Nope."})) == {"detail": ("Nope.",)}
    assert field_errors(answer(400, ["A.", "B."])) == {"non_field_errors": ("A.", "B.")}
    assert field_errors(answer(400, {"items": [{"qty": ["Bad."]}, {}]})) == {
        "items.0.qty": ("Bad.",)
    }


def test_success_is_not_an_error() -> None:
    raise_for_response(answer(200, {}), "x")
    raise_for_response(answer(201, {}), "x")
    assert json_body(answer(200, {"a": 1}), "x") == {"a": 1}
    with pytest.raises(TransientError, match="not valid JSON"):
        json_body(answer(200, text="<html>"), "read it")


def test_a_post_is_never_redirected(requests_mock: rm.Mocker, clock: FakeClock) -> None:
    requests_mock.post(URL, status_code=301, headers={"Location": URL + "/"})
    requests_mock.get(URL + "/", json={"data": []})
    response = client_for(clock).send("POST", URL, RequestOptions(json={"name": "x"}))
    assert response.status_code == 301
    assert [call.method for call in requests_mock.request_history] == ["POST"]


def test_tls_failures_are_not_retried_and_say_so(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.get(URL, exc=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(ConnectionFailedError, match="TLS certificate") as raised:
        client_for(clock).send("GET", URL)
    assert raised.value.request_sent is False
    assert requests_mock.call_count == 1


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.InvalidURL("bad"),
        requests.exceptions.InvalidHeader("bad"),
        requests.exceptions.InvalidJSONError("bad"),
    ],
)
def test_requests_that_cannot_be_built_are_configuration_errors(
    requests_mock: rm.Mocker, clock: FakeClock, error: Exception
) -> None:
    requests_mock.get(URL, exc=error)
    with pytest.raises(ConfigurationError):
        client_for(clock).send("GET", URL)
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


class SlowBody(io.RawIOBase):
    """A body whose every read takes a second on ``clock``."""

    def __init__(self, clock: FakeClock, size: int) -> None:
        self.clock = clock
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            return 0
        self.clock.now += 1.0
        self.left -= 1
        buffer[0:1] = b"x"
        return 1


def test_the_deadline_is_checked_while_the_body_streams(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    size = 4 * 64 * 1024  # four chunks as the body is read
    requests_mock.get(URL, body=SlowBody(clock, size))
    with pytest.raises(ConnectionFailedError, match=r"within 5 s") as raised:
        client_for(clock, max_elapsed=5).send("GET", URL)
    assert raised.value.request_sent
    assert clock.now < 1000 + size  # stopped reading, not read to the end
