"""The sandbox's rate-limit mode: requests per second and requests at once, 429 with
``Retry-After`` beyond them, the token endpoints never limited."""

from __future__ import annotations

import pytest
import requests
from shared import FakeClock

from nexla_procurify.sandbox import Sandbox
from nexla_procurify.sandbox.limits import RateLimit, RateLimiter


def test_a_token_bucket_holds_one_second_of_requests() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(rate=2.0), clock=clock)
    assert limiter.enter() is None
    assert limiter.enter() is None
    assert limiter.enter() == pytest.approx(0.5)  # one request's worth at 2 per second
    clock.now += 0.25
    assert limiter.enter() == pytest.approx(0.25)
    clock.now += 0.25
    assert limiter.enter() is None
    assert (limiter.admitted, limiter.refused) == (3, 2)


def test_requests_at_once_beyond_the_cap_are_refused_until_one_ends() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(at_once=1), clock=clock)
    assert limiter.enter() is None
    wait = limiter.enter()
    assert wait is not None
    assert wait > 0
    limiter.leave()
    assert limiter.enter() is None


@pytest.mark.parametrize(
    ("rate", "at_once"), [(0.0, None), (-1.0, None), (float("inf"), None), (None, 0)]
)
def test_impossible_limits_are_refused(rate: float | None, at_once: int | None) -> None:
    with pytest.raises(ValueError, match="limit"):
        RateLimit(rate, at_once)


def test_the_sandbox_answers_429_with_retry_after_beyond_its_rate() -> None:
    with Sandbox(rate_limit=1.0) as sandbox:
        credential = sandbox.credential()
        tokens = [
            requests.post(
                sandbox.base_url + "/oauth/token",
                timeout=10,
                json={
                    "client_id": credential["client_id"],
                    "client_secret": credential["client_secret"],
                    "audience": "https://api.procurify.com/",
                    "grant_type": "client_credentials",
                },
            )
            for _ in range(3)
        ]
        assert [token.status_code for token in tokens] == [200] * 3  # never limited
        headers = {
            "Authorization": "Bearer " + tokens[0].json()["access_token"],
            "X-Procurify-Client": "api",
        }
        answers = [
            requests.get(sandbox.base_url + "/api/v3/vendors", headers=headers, timeout=10)
            for _ in range(3)
        ]
    statuses = [answer.status_code for answer in answers]
    assert statuses[0] == 200
    assert 429 in statuses
    limited = answers[statuses.index(429)]
    assert 0 < float(limited.headers["Retry-After"]) <= 1.0
    assert "throttled" in limited.json()["detail"]
    assert sandbox.rate_limited == statuses.count(429)


def test_without_limits_nothing_is_refused() -> None:
    with Sandbox() as sandbox:
        assert sandbox.rate_limited == 0
