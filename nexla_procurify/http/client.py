"""The request loop: one attempt after another (``transport.py``) until ``decide``
(``policy.py``) says stop, with the waits, the logs and the ``on_retry`` events between them.
"""

from __future__ import annotations

__all__ = ["NO_OPTIONS", "HttpClient", "retry_after_seconds"]

import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from functools import partial
from urllib.parse import urlsplit

import requests

from nexla_procurify.errors import ConnectionFailedError
from nexla_procurify.http.answers import Answer, loads, not_json
from nexla_procurify.http.options import RequestOptions, RetryEvent
from nexla_procurify.http.policy import (
    Answered,
    HttpPolicy,
    NoAnswer,
    NotJson,
    Outcome,
    Retry,
    StopReason,
    decide,
)
from nexla_procurify.http.transport import Transport

log = logging.getLogger("nexla_procurify.http")

NO_OPTIONS = RequestOptions()


def retry_after_seconds(response: requests.Response, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (it may be a number or an HTTP date), or ``None``."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class HttpClient:
    """Sends requests under the policy; safe to share between threads.

    ``until`` (a time on ``clock``) ends every request of this client by then, whatever its
    own budget: a live check's total time.
    """

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        until: float | None = None,
    ) -> None:
        self.policy = policy or HttpPolicy()
        self._sleep = sleep
        self._clock = clock
        self._until = until
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._rng_lock = threading.Lock()
        self._transport = Transport(self.policy, clock=clock)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._transport.close()

    def send(
        self, method: str, url: str, options: RequestOptions = NO_OPTIONS
    ) -> requests.Response:
        """The final answer after the policy's retries, its body read (``content``);
        ``ConnectionFailedError`` if none came in time."""
        return self._send(method, url, options, decode=False).response

    def send_json(self, method: str, url: str, options: RequestOptions = NO_OPTIONS) -> Answer:
        """Like ``send``, and a successful answer that is not valid JSON counts as a failed
        attempt (retried like a 5xx) for a request that may be repeated; when the retries
        run out, a ``TransientError`` says so. The ``Answer`` holds the decoded body
        (``None`` for an unsuccessful answer, and for a POST whose successful answer is not
        JSON: it took effect and must not be sent again)."""
        return self._send(method, url, options, decode=True)

    def _send(self, method: str, url: str, options: RequestOptions, *, decode: bool) -> Answer:
        method = method.upper()
        path = urlsplit(url).path
        started = self._clock()
        ends = started + self.policy.max_elapsed
        if self._until is not None:
            ends = min(ends, self._until)
        attempt = 1
        while True:
            result = self._transport.attempt(method, url, options, ends)
            body: object = None
            outcome: Outcome
            if isinstance(result, ConnectionFailedError):
                outcome = NoAnswer(result.request_sent)
            else:
                if options.scrub is not None:
                    options.scrub(result)
                status = result.status_code
                log.debug("%s %s -> %s (attempt %d)", method, path, status, attempt)
                outcome = Answered(status, retry_after_seconds(result))
                if decode and 200 <= status < 300:
                    try:
                        body = loads(result)
                    except ValueError as error:
                        outcome = NotJson(status, str(error), outcome.retry_after)
            now = self._clock()
            decide_with = partial(
                decide,
                method,
                outcome,
                attempt,
                now - started,
                policy=self.policy,
                idempotent=options.idempotent,
                remaining=ends - now,
            )
            # The jitter only lengthens a wait, so a stop without it is a stop with it; it is
            # drawn only for a retry (a seeded random source then gives the same waits).
            settled = decide_with(jitter=0.0)
            if isinstance(settled, Retry):
                settled = decide_with(jitter=self._jitter())
            if isinstance(settled, Retry):
                self._retry(method, path, attempt, result, outcome, settled.delay, options)
                attempt += 1
                continue
            if isinstance(result, ConnectionFailedError):
                raise result
            if isinstance(outcome, NotJson):
                if settled.because is StopReason.MAY_HAVE_TAKEN_EFFECT:
                    return Answer(result, None)  # it took effect: the caller must not resend
                raise not_json(f"{method} {path}", f"{outcome.reason}; {attempt} time(s)")
            return Answer(result, body)

    def _retry(
        self,
        method: str,
        path: str,
        attempt: int,
        result: requests.Response | ConnectionFailedError,
        outcome: Outcome,
        delay: float,
        options: RequestOptions,
    ) -> None:
        """Say why the request is sent again, tell the listener, and wait."""
        if isinstance(result, ConnectionFailedError):
            log.warning(
                "%s; retrying %s %s in %.1fs (attempt %d)",
                result.message,
                method,
                path,
                delay,
                attempt + 1,
            )
            event = RetryEvent(method, path, attempt, None, delay)
        else:
            unusable = outcome.reason if isinstance(outcome, NotJson) else None
            answered = (
                f"an answer that was not usable JSON ({unusable})"
                if unusable
                else result.status_code
            )
            log.warning(
                "Procurify answered %s to %s %s; retrying in %.1fs (attempt %d)",
                answered,
                method,
                path,
                delay,
                attempt + 1,
            )
            retry_after = outcome.retry_after if isinstance(outcome, Answered | NotJson) else None
            event = RetryEvent(
                method, path, attempt, result.status_code, delay, unusable, retry_after
            )
        if options.on_retry is not None:
            options.on_retry(event)
        self._sleep(delay)

    def _jitter(self) -> float:
        with self._rng_lock:
            return self._rng.random()
