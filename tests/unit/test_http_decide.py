"""The retry policy as a table: ``decide`` maps one attempt's outcome to "retry after d" or
"stop because ...", with no clock, no sleep and no network."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
import requests
import requests_mock as rm
from hypothesis import given
from hypothesis import strategies as st

from nexla_procurify.errors import RateLimitError, TransientError
from nexla_procurify.http import (
    Answered,
    Decision,
    HttpClient,
    HttpPolicy,
    NoAnswer,
    NotJson,
    Outcome,
    RequestFields,
    RequestOptions,
    Retry,
    RetryEvent,
    Stop,
    StopReason,
    backoff_delay,
    decide,
    error_for_response,
)

POLICY = HttpPolicy()  # 8 attempts, 120 s, backoff from 0.5 s up to 30 s
FINAL = Stop(StopReason.FINAL)
TOOK_EFFECT = Stop(StopReason.MAY_HAVE_TAKEN_EFFECT)
ATTEMPTS = Stop(StopReason.ATTEMPTS)
TIME = Stop(StopReason.TIME)

# method, idempotent, outcome, attempt, elapsed, remaining, jitter -> decision
TABLE: list[tuple[str, bool | None, Outcome, int, float, float, float, Decision]] = [
    # answers that end the request as they are
    ("GET", None, Answered(200), 1, 0.0, math.inf, 1.0, FINAL),
    ("GET", None, Answered(404), 1, 0.0, math.inf, 1.0, FINAL),
    ("GET", None, Answered(302), 1, 0.0, math.inf, 1.0, FINAL),
    ("POST", None, Answered(201), 1, 0.0, math.inf, 1.0, FINAL),
    ("POST", None, Answered(400), 1, 0.0, math.inf, 1.0, FINAL),
    # 429 and 5xx: retried where repeating is safe, after the backoff
    ("GET", None, Answered(503), 1, 0.0, math.inf, 1.0, Retry(0.5)),
    ("GET", None, Answered(503), 1, 0.0, math.inf, 0.0, Retry(0.25)),
    ("GET", None, Answered(500), 3, 0.0, math.inf, 1.0, Retry(2.0)),
    ("put", None, Answered(502), 1, 0.0, math.inf, 1.0, Retry(0.5)),
    ("PATCH", None, Answered(504), 2, 0.0, math.inf, 1.0, Retry(1.0)),
    ("DELETE", None, Answered(429), 1, 0.0, math.inf, 1.0, Retry(0.5)),
    # Retry-After: honoured when longer than the backoff, never shorter than it
    ("GET", None, Answered(429, retry_after=7.0), 1, 0.0, math.inf, 1.0, Retry(7.0)),
    ("GET", None, Answered(429, retry_after=0.0), 1, 0.0, math.inf, 0.0, Retry(0.25)),
    ("GET", None, Answered(503, retry_after=200.0), 1, 0.0, math.inf, 1.0, TIME),
    # a POST: only when it surely did not take effect
    ("POST", None, Answered(429), 1, 0.0, math.inf, 1.0, Retry(0.5)),
    ("POST", None, Answered(503), 1, 0.0, math.inf, 1.0, Retry(0.5)),
    ("POST", None, Answered(500), 1, 0.0, math.inf, 1.0, TOOK_EFFECT),
    ("POST", None, Answered(502), 1, 0.0, math.inf, 1.0, TOOK_EFFECT),
    ("POST", None, Answered(504), 1, 0.0, math.inf, 1.0, TOOK_EFFECT),
    ("POST", None, NoAnswer(request_sent=False), 1, 0.0, math.inf, 1.0, Retry(0.5)),
    ("POST", None, NoAnswer(request_sent=True), 1, 0.0, math.inf, 1.0, TOOK_EFFECT),
    ("POST", None, NotJson(200, "not valid JSON"), 1, 0.0, math.inf, 1.0, TOOK_EFFECT),
    # ... unless the caller says it may be repeated (a token request)
    ("POST", True, NoAnswer(request_sent=True), 1, 0.0, math.inf, 1.0, Retry(0.5)),
    ("POST", True, Answered(500), 1, 0.0, math.inf, 1.0, Retry(0.5)),
    ("GET", False, Answered(500), 1, 0.0, math.inf, 1.0, TOOK_EFFECT),
    # no answer, and a success that was not JSON, for a request that may be repeated
    ("GET", None, NoAnswer(request_sent=True), 1, 0.0, math.inf, 1.0, Retry(0.5)),
    ("GET", None, NoAnswer(request_sent=False), 2, 0.0, math.inf, 1.0, Retry(1.0)),
    ("GET", None, NotJson(200, "not valid JSON"), 1, 0.0, math.inf, 1.0, Retry(0.5)),
    ("GET", None, NotJson(200, "x", retry_after=9.0), 1, 0.0, math.inf, 1.0, Retry(9.0)),
    # the budgets: attempts, the request's time, and the client's own end
    ("GET", None, Answered(503), 7, 0.0, math.inf, 1.0, Retry(30.0)),
    ("GET", None, Answered(503), 8, 0.0, math.inf, 1.0, ATTEMPTS),
    ("GET", None, NoAnswer(request_sent=True), 8, 0.0, math.inf, 1.0, ATTEMPTS),
    ("GET", None, NotJson(200, "x"), 8, 0.0, math.inf, 1.0, ATTEMPTS),
    ("GET", None, Answered(503), 1, 119.5, math.inf, 1.0, Retry(0.5)),
    ("GET", None, Answered(503), 1, 119.6, math.inf, 1.0, TIME),
    ("GET", None, Answered(503), 1, 0.0, 0.6, 1.0, Retry(0.5)),
    ("GET", None, Answered(503), 1, 0.0, 0.5, 1.0, TIME),
    # what ends the request anyway is not a matter of budget
    ("GET", None, Answered(200), 8, 500.0, 0.0, 1.0, FINAL),
    ("POST", None, Answered(500), 8, 500.0, 0.0, 1.0, TOOK_EFFECT),
]


@pytest.mark.parametrize(
    ("method", "idempotent", "outcome", "attempt", "elapsed", "remaining", "jitter", "expected"),
    TABLE,
)
def test_decide(
    method: str,
    idempotent: bool | None,
    outcome: Outcome,
    attempt: int,
    elapsed: float,
    remaining: float,
    jitter: float,
    expected: Decision,
) -> None:
    decision = decide(
        method,
        outcome,
        attempt,
        elapsed,
        policy=POLICY,
        jitter=jitter,
        idempotent=idempotent,
        remaining=remaining,
    )
    assert decision == expected


@pytest.mark.parametrize(
    ("attempt", "jitter", "delay"),
    [
        (1, 0.0, 0.25),
        (1, 1.0, 0.5),
        (2, 0.5, 0.75),
        (4, 1.0, 4.0),
        (7, 1.0, 30.0),
        (7, 0.0, 15.0),
        (30, 1.0, 30.0),
    ],
)
def test_backoff_doubles_up_to_its_ceiling(attempt: int, jitter: float, delay: float) -> None:
    assert backoff_delay(POLICY, attempt, jitter) == delay


OUTCOMES = st.one_of(
    st.builds(NoAnswer, st.booleans()),
    st.builds(Answered, st.integers(100, 599), st.none() | st.floats(0, 500, allow_nan=False)),
    st.builds(
        NotJson,
        st.integers(200, 299),
        st.just("not valid JSON"),
        st.none() | st.floats(0, 500, allow_nan=False),
    ),
)


@given(
    method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "POST"]),
    idempotent=st.none() | st.booleans(),
    outcome=OUTCOMES,
    attempt=st.integers(1, 12),
    elapsed=st.floats(0, 200, allow_nan=False),
    remaining=st.floats(0, 200, allow_nan=False) | st.just(math.inf),
    jitter=st.floats(0, 1),
)
def test_a_retry_always_fits_the_budget(
    method: str,
    idempotent: bool | None,
    outcome: Outcome,
    attempt: int,
    elapsed: float,
    remaining: float,
    jitter: float,
) -> None:
    decision = decide(
        method,
        outcome,
        attempt,
        elapsed,
        policy=POLICY,
        jitter=jitter,
        idempotent=idempotent,
        remaining=remaining,
    )
    if isinstance(decision, Retry):
        assert attempt < POLICY.max_attempts
        assert elapsed + decision.delay <= POLICY.max_elapsed
        assert decision.delay < remaining
        assert decision.delay >= backoff_delay(POLICY, attempt, jitter)
        hint = None if isinstance(outcome, NoAnswer) else outcome.retry_after
        assert hint is None or decision.delay >= hint
        if method == "POST" and not idempotent:  # only when it surely did not take effect
            assert outcome in (NoAnswer(False),) or (
                isinstance(outcome, Answered) and outcome.status in (429, 503)
            )


def test_a_retried_success_that_was_not_json_is_told_as_such(requests_mock: rm.Mocker) -> None:
    """The listener hears the answer's own status and why it was not used, not a made-up
    502 (a listener that slows down on 429 or counts outages must not be misled)."""
    url = "https://acme.procurify.com/api/v3/vendors"
    requests_mock.get(url, [{"text": "<html>gateway</html>"}, {"json": {"data": []}}])
    events: list[RetryEvent] = []
    waits: list[float] = []
    client = HttpClient(HttpPolicy(), sleep=waits.append, rng=random.Random(0))
    answer = client.send_json("GET", url, RequestOptions(on_retry=events.append))
    assert (answer.status, answer.body) == (200, {"data": []})
    [event] = events
    assert (event.status, event.unusable, event.attempt) == (200, "not valid JSON", 1)
    assert waits == [event.delay]


class _CountedRandom(random.Random):
    """A seeded random source that counts its draws."""

    draws = 0

    def random(self) -> float:
        self.draws += 1
        return super().random()


def test_the_jitter_is_drawn_only_for_a_retry(requests_mock: rm.Mocker) -> None:
    """A seeded random source gives the same waits whatever succeeded or failed for good
    in between: an attempt that is not retried draws nothing."""
    url = "https://acme.procurify.com/api/v3/vendors"
    requests_mock.get(url, [{"status_code": 503}, {"json": {}}, {"status_code": 404}])
    counted = _CountedRandom(0)
    client = HttpClient(HttpPolicy(), sleep=lambda _: None, rng=counted)
    assert client.send_json("GET", url, RequestOptions()).body == {}
    assert counted.draws == 1  # the wait after the 503; none for the success
    client.send("GET", url, RequestOptions())  # a 404 is final
    assert counted.draws == 1


def test_session_keywords_are_request_options() -> None:
    """What a session call takes as keywords is a subset of ``RequestOptions`` (the session
    itself sets the rest: the headers it adds and the masking of answers)."""
    fields = {field.name for field in dataclasses.fields(RequestOptions)}
    assert set(RequestFields.__annotations__) <= fields
    assert fields - set(RequestFields.__annotations__) == {"idempotent", "scrub"}


def test_a_rate_limit_is_a_transient_error() -> None:
    """A 429 that outlasted the retries means "try again later", like an outage: a caller
    catching ``TransientError`` catches it too, and can still tell it apart."""
    request = requests.Request("GET", "https://acme.procurify.com/api/v3/vendors").prepare()
    response = rm.create_response(request, status_code=429, content=b"")
    error = error_for_response(response, "list vendors")
    assert type(error) is RateLimitError
    assert isinstance(error, TransientError)
