"""The HTTP policy: retries, backoff, Retry-After, budgets, POST safety, reading JSON answers."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest
import requests
import requests_mock as rm
from shared import FakeClock
from unit.http_helpers import URL, client_for, dropped, refused, started_clock

from nexla_procurify.errors import (
    ConnectionFailedError,
    TransientError,
)
from nexla_procurify.http import (
    RequestOptions,
    RetryEvent,
    is_retryable,
    retry_after_seconds,
)


@pytest.fixture
def clock() -> FakeClock:
    return started_clock()


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH"])
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_repeatable_methods_retry_429_and_5xx(
    requests_mock: rm.Mocker, clock: FakeClock, method: str, status: int
) -> None:
    requests_mock.register_uri(
        method, URL, [{"status_code": status}, {"status_code": status}, {"json": {"ok": 1}}]
    )
    response = client_for(clock).send(method, URL)
    assert response.status_code == 200
    assert requests_mock.call_count == 3
    assert len(clock.sleeps) == 2


def test_backoff_is_exponential_with_jitter(requests_mock: rm.Mocker, clock: FakeClock) -> None:
    requests_mock.get(URL, status_code=503)
    response = client_for(
        clock, max_attempts=7, backoff_initial=0.5, backoff_max=4.0, max_elapsed=1000
    ).send("GET", URL)
    assert response.status_code == 503  # the final answer, returned
    assert requests_mock.call_count == 7
    assert len(clock.sleeps) == 6
    for attempt, delay in enumerate(clock.sleeps, start=1):
        ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling, (attempt, delay)
    assert len(set(clock.sleeps)) == len(clock.sleeps)  # jittered, not a fixed ladder


def test_jitter_is_reproducible_with_a_seeded_rng(requests_mock: rm.Mocker) -> None:
    requests_mock.get(URL, status_code=503)
    runs = []
    for _ in range(2):
        clock = FakeClock()
        client_for(clock, max_attempts=4).send("GET", URL)
        runs.append(clock.sleeps)
    assert runs[0] == runs[1]


def test_retry_after_seconds_is_honoured(requests_mock: rm.Mocker, clock: FakeClock) -> None:
    requests_mock.get(
        URL,
        [
            {"status_code": 429, "headers": {"Retry-After": "7"}},
            {"status_code": 503, "headers": {"Retry-After": "0"}},
            {"status_code": 200},
        ],
    )
    assert client_for(clock).send("GET", URL).status_code == 200
    assert clock.sleeps[0] == 7.0
    # "Retry-After: 0" is not a licence for a tight loop: the backoff still applies.
    assert 0.0 < clock.sleeps[1] <= 1.0


def test_retry_after_http_date_is_honoured(requests_mock: rm.Mocker, clock: FakeClock) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    requests_mock.get(
        URL, [{"status_code": 429, "headers": {"Retry-After": when}}, {"status_code": 200}]
    )
    assert client_for(clock).send("GET", URL).status_code == 200
    assert len(clock.sleeps) == 1
    assert 27.0 <= clock.sleeps[0] <= 31.0


def test_retry_after_parsing() -> None:
    def answer(value: str) -> requests.Response:
        response = requests.Response()
        response.headers["Retry-After"] = value
        return response

    assert retry_after_seconds(answer("12")) == 12.0
    assert retry_after_seconds(answer(" 1.5 ")) == 1.5
    assert retry_after_seconds(answer("-3")) == 0.0
    assert retry_after_seconds(answer("soon")) is None
    assert retry_after_seconds(requests.Response()) is None
    past = email.utils.formatdate(1_000_000, usegmt=True)
    assert retry_after_seconds(answer(past), now=2_000_000) == 0.0
    future = email.utils.formatdate(1_000_060, usegmt=True)
    assert retry_after_seconds(answer(future), now=1_000_000) == pytest.approx(60.0)


def test_unparseable_retry_after_falls_back_to_backoff(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.get(
        URL, [{"status_code": 429, "headers": {"Retry-After": "later"}}, {"status_code": 200}]
    )
    assert client_for(clock, backoff_initial=2.0).send("GET", URL).status_code == 200
    assert 1.0 <= clock.sleeps[0] <= 2.0


def test_bounded_by_max_attempts(requests_mock: rm.Mocker, clock: FakeClock) -> None:
    requests_mock.get(URL, status_code=502)
    response = client_for(clock, max_attempts=3, max_elapsed=1000).send("GET", URL)
    assert response.status_code == 502
    assert requests_mock.call_count == 3


def test_bounded_by_max_elapsed(requests_mock: rm.Mocker, clock: FakeClock) -> None:
    requests_mock.get(URL, status_code=503, headers={"Retry-After": "4"})
    response = client_for(clock, max_attempts=100, max_elapsed=10).send("GET", URL)
    assert response.status_code == 503
    assert clock.sleeps == [4.0, 4.0]  # a third wait would end after 12 s > 10 s
    assert requests_mock.call_count == 3


def test_a_retry_after_beyond_the_budget_is_not_waited_for(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.get(URL, status_code=429, headers={"Retry-After": "3600"})
    response = client_for(clock, max_elapsed=120).send("GET", URL)
    assert response.status_code == 429
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


def test_slow_answers_count_against_max_elapsed(requests_mock: rm.Mocker, clock: FakeClock) -> None:
    def slow(request: Any, context: Any) -> str:
        clock.now += 8  # each answer takes 8 s
        context.status_code = 503
        context.headers["Retry-After"] = "0"
        return ""

    requests_mock.get(URL, text=slow)
    client_for(clock, max_attempts=100, max_elapsed=20).send("GET", URL)
    assert requests_mock.call_count == 3  # 8 + 8 + 8 > 20


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 410, 422])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "POST"])
def test_other_4xx_are_not_retried(
    requests_mock: rm.Mocker, clock: FakeClock, status: int, method: str
) -> None:
    requests_mock.register_uri(method, URL, status_code=status)
    assert client_for(clock).send(method, URL).status_code == status
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH"])
@pytest.mark.parametrize(
    "failure",
    [refused, dropped, requests.exceptions.ReadTimeout, requests.exceptions.ConnectTimeout],
)
def test_connection_errors_are_retried_for_repeatable_methods(
    requests_mock: rm.Mocker, clock: FakeClock, method: str, failure: Any
) -> None:
    requests_mock.register_uri(method, URL, [{"exc": failure()}, {"status_code": 200}])
    assert client_for(clock).send(method, URL).status_code == 200
    assert requests_mock.call_count == 2


def test_connection_errors_until_the_budget_ends_raise(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.get(URL, exc=refused())
    with pytest.raises(ConnectionFailedError) as raised:
        client_for(clock, max_attempts=4).send("GET", URL)
    assert requests_mock.call_count == 4
    assert raised.value.request_sent is False
    assert "acme.procurify.com" in raised.value.message


def test_read_timeout_is_reported_as_possibly_sent(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.get(URL, exc=requests.exceptions.ReadTimeout)
    with pytest.raises(ConnectionFailedError) as raised:
        client_for(clock, max_attempts=2).send("GET", URL)
    assert raised.value.request_sent is True
    assert "did not answer in time" in raised.value.message
    assert isinstance(raised.value, TransientError)


@pytest.mark.parametrize("status", [429, 503])
def test_post_retried_on_429_and_503(
    requests_mock: rm.Mocker, clock: FakeClock, status: int
) -> None:
    requests_mock.post(URL, [{"status_code": status}, {"status_code": 201}])
    assert client_for(clock).send("POST", URL, RequestOptions(json={"a": 1})).status_code == 201
    assert requests_mock.call_count == 2


@pytest.mark.parametrize("status", [500, 502, 504])
def test_post_not_retried_when_it_may_have_taken_effect(
    requests_mock: rm.Mocker, clock: FakeClock, status: int
) -> None:
    requests_mock.post(URL, [{"status_code": status}, {"status_code": 201}])
    assert client_for(clock).send("POST", URL, RequestOptions(json={})).status_code == status
    assert requests_mock.call_count == 1


def test_post_retried_when_the_connection_was_refused(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(URL, [{"exc": refused()}, {"status_code": 201}])
    assert client_for(clock).send("POST", URL, RequestOptions(json={})).status_code == 201
    assert requests_mock.call_count == 2


@pytest.mark.parametrize("failure", [requests.exceptions.ReadTimeout, dropped])
def test_post_not_retried_after_a_timeout_or_a_drop(
    requests_mock: rm.Mocker, clock: FakeClock, failure: Any
) -> None:
    requests_mock.post(URL, [{"exc": failure()}, {"status_code": 201}])
    with pytest.raises(ConnectionFailedError) as raised:
        client_for(clock).send("POST", URL, RequestOptions(json={}))
    assert raised.value.request_sent is True
    assert requests_mock.call_count == 1


def test_idempotent_override_lets_a_post_be_retried(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(URL, [{"status_code": 500}, {"status_code": 200}])
    assert client_for(clock).send("POST", URL, RequestOptions(idempotent=True)).status_code == 200
    assert requests_mock.call_count == 2


def test_is_retryable() -> None:
    assert is_retryable(500, repeatable=True)
    assert is_retryable(429, repeatable=True)
    assert not is_retryable(404, repeatable=True)
    assert is_retryable(503, repeatable=False)
    assert not is_retryable(500, repeatable=False)


def test_on_retry_listener_is_told_before_each_retry(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.get(
        URL,
        [{"status_code": 429, "headers": {"Retry-After": "2"}}, {"exc": dropped()}, {"json": {}}],
    )
    events: list[RetryEvent] = []
    client_for(clock).send("GET", URL, RequestOptions(on_retry=events.append))
    assert [(e.attempt, e.status, e.path) for e in events] == [
        (1, 429, "/api/v3/vendors"),
        (2, None, "/api/v3/vendors"),
    ]
    assert events[0].delay == 2.0


def test_every_request_has_timeouts_and_tls_verification(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.get(URL, json={})
    with pytest.raises(TypeError):
        RequestOptions(verify=False)  # type: ignore[call-arg]  # not an option at all
    client_for(clock, connect_timeout=3, read_timeout=9).send("GET", URL)
    request = requests_mock.last_request
    assert request is not None
    # requests-mock's stub says int; it is what requests was given (here a pair)
    assert request.timeout == (3, 9)  # type: ignore[comparison-overlap]
    assert request.verify is not False  # True, or the CA bundle path from the environment
    assert request.verify


def test_send_json_retries_a_success_that_is_not_json(
    requests_mock: rm.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.get(URL, [{"text": "<html>gateway</html>"}, {"json": {"data": [1]}}])
    answer = client_for(clock).send_json("GET", URL)
    response, body = answer.response, answer.body
    assert response.status_code == 200
    assert body == {"data": [1]}
    assert requests_mock.call_count == 2
    # said as it was: a 200 whose body was not JSON, not a 502
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "not usable JSON (not valid JSON)" in warning
    assert "502" not in warning


def test_send_json_gives_up_with_a_transient_error(
    requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.get(URL, text="<html>")
    with pytest.raises(TransientError, match="not valid JSON"):
        client_for(clock, max_attempts=3).send_json("GET", URL)
    assert requests_mock.call_count == 3


def test_send_json_does_not_repeat_a_post(requests_mock: rm.Mocker, clock: FakeClock) -> None:
    requests_mock.post(URL, [{"text": "<html>"}, {"json": {}}])
    answer = client_for(clock).send_json("POST", URL, RequestOptions(json={}))
    response, body = answer.response, answer.body
    # It took effect: the answer is handed back (no body) rather than an error that invites
    # the caller to send it again.
    assert (response.status_code, body) == (200, None)
    assert requests_mock.call_count == 1


def test_send_json_returns_no_body_for_an_error(requests_mock: rm.Mocker, clock: FakeClock) -> None:
    requests_mock.get(URL, status_code=404, json={"detail": "Not found."})
    answer = client_for(clock).send_json("GET", URL)
    response, body = answer.response, answer.body
    assert response.status_code == 404
    assert body is None
