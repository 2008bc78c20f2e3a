"""When to try a request again: the policy's settings and ``decide``, a pure function from one
attempt's outcome to "retry after d" or "stop because ...".

Nothing here sends, sleeps or reads a clock: the loop that does (``client.py``) hands in what
happened, how long it has taken and a jitter drawn from its random source, and does what the
decision says. The whole policy can so be read, and tested, as a table.
"""

from __future__ import annotations

__all__ = [
    "IDEMPOTENT_METHODS",
    "POST_NOT_APPLIED_STATUSES",
    "Answered",
    "Decision",
    "HttpPolicy",
    "NoAnswer",
    "NotJson",
    "Outcome",
    "Retry",
    "Stop",
    "StopReason",
    "backoff_delay",
    "decide",
    "is_retryable",
    "post_outcome_unknown",
    "repeatable",
]

import enum
import math
from dataclasses import dataclass

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
# A POST answered with these surely did not take effect, so sending it again is safe.
POST_NOT_APPLIED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class HttpPolicy:
    """How requests are made: timeouts, retries and the limits on what is read.

    ``max_elapsed`` is the whole time one request may take: every attempt, the waits between
    them, redirects and the reading of its answer, however slowly the server sends it; a
    request still under way then is cut off."""

    connect_timeout: float = 10.0
    """Seconds one connection attempt may take (capped to what remains of ``max_elapsed``)."""

    read_timeout: float = 60.0
    """Seconds one wait for data from the server may take (capped to what remains of
    ``max_elapsed``); it bounds each read, not the whole answer."""

    max_attempts: int = 8
    """Attempts per request, the first included (for 429, 5xx, no answer; a POST only when it
    surely did not take effect)."""

    max_elapsed: float = 120.0
    """Seconds one request may take in all: attempts, waits, redirects, reading the answer."""

    backoff_initial: float = 0.5
    """Ceiling of the first wait in seconds; it doubles with each attempt (jittered between
    half the ceiling and the ceiling)."""

    backoff_max: float = 30.0
    """Largest ceiling of a wait in seconds (a longer ``Retry-After`` is still honoured when
    it fits the time budget)."""

    pool_size: int = 32
    """Connections kept open per host (as many requests may run at once without waiting)."""

    max_answer_bytes: int = 64 * 1024 * 1024
    """Largest answer read, in bytes once decompressed; a larger one counts as no answer."""

    max_redirects: int = 10
    """Redirects followed (within the same scheme, host and port) before it is a loop."""

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect_timeout, read_timeout)``, as ``requests`` takes them."""
        return (self.connect_timeout, self.read_timeout)


def post_outcome_unknown(status: int) -> bool:
    """Whether a POST answered with ``status`` may nevertheless have taken effect."""
    return status >= 500 and status not in POST_NOT_APPLIED_STATUSES


def is_retryable(status: int, *, repeatable: bool) -> bool:
    """Whether an answer with ``status`` is worth another attempt: any 429 or 5xx for a
    request that may be repeated, else only those that surely did not take effect."""
    if repeatable:
        return status == 429 or status >= 500
    return status in POST_NOT_APPLIED_STATUSES


def repeatable(method: str, *, idempotent: bool | None = None) -> bool:
    """Whether a request may be sent again after it may have taken effect: what its method
    implies, unless ``idempotent`` says otherwise (a token request may be repeated)."""
    return method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent


# --- what one attempt came to --------------------------------------------------------------


@dataclass(frozen=True)
class NoAnswer:
    """No HTTP answer came (refused, dropped, timed out, too large to read).
    ``request_sent``: whether the request may have reached the server."""

    request_sent: bool


@dataclass(frozen=True)
class Answered:
    """An HTTP answer; ``retry_after`` is its ``Retry-After`` in seconds, if any."""

    status: int
    retry_after: float | None = None


@dataclass(frozen=True)
class NotJson:
    """A successful answer whose body had to be JSON and was not (``reason`` says why)."""

    status: int
    reason: str
    retry_after: float | None = None


Outcome = NoAnswer | Answered | NotJson


# --- what to do next ---------------------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    """Try again after ``delay`` seconds."""

    delay: float


class StopReason(enum.Enum):
    """Why no further attempt is made."""

    FINAL = "the outcome is final: a success, or an answer no retry can change"
    MAY_HAVE_TAKEN_EFFECT = "the request may have taken effect and must not be repeated"
    ATTEMPTS = "the policy's attempts are used up (HttpPolicy.max_attempts)"
    TIME = "the next attempt would end past the request's time (HttpPolicy.max_elapsed)"


@dataclass(frozen=True)
class Stop:
    """Make no further attempt; the last outcome stands."""

    because: StopReason


Decision = Retry | Stop


def backoff_delay(policy: HttpPolicy, attempt: int, jitter: float) -> float:
    """The wait after attempt ``attempt`` (from 1): between half the ceiling and the ceiling
    (``backoff_initial`` doubled per attempt, at most ``backoff_max``), placed there by
    ``jitter`` (from 0 to 1)."""
    ceiling = min(policy.backoff_max, policy.backoff_initial * 2.0 ** (attempt - 1))
    return ceiling / 2 + (ceiling / 2) * jitter


def decide(
    method: str,
    outcome: Outcome,
    attempt: int,
    elapsed: float,
    *,
    policy: HttpPolicy,
    jitter: float,
    idempotent: bool | None = None,
    remaining: float = math.inf,
) -> Decision:
    """What to do after attempt ``attempt`` (from 1) of a request, ``elapsed`` seconds after
    it started, came to ``outcome``.

    A request that may be repeated (``repeatable``) is retried after no answer, a 429 or a
    5xx, and after a success that was not JSON; any other (a POST) only when it surely did
    not take effect: no answer because nothing was sent, or 429 or 503. The wait is the
    backoff (``jitter`` places it, see ``backoff_delay``), or ``Retry-After`` when that is
    longer; a retry is made only while attempts remain and the wait ends within
    ``max_elapsed`` and before ``remaining`` seconds from now (a client's own end, if
    sooner).
    """
    may_repeat = repeatable(method, idempotent=idempotent)
    hint: float | None = None
    if isinstance(outcome, NoAnswer):
        if not may_repeat and outcome.request_sent:
            return Stop(StopReason.MAY_HAVE_TAKEN_EFFECT)
    elif isinstance(outcome, NotJson):
        if not may_repeat:
            return Stop(StopReason.MAY_HAVE_TAKEN_EFFECT)
        hint = outcome.retry_after
    else:
        if not is_retryable(outcome.status, repeatable=may_repeat):
            unknown = not may_repeat and is_retryable(outcome.status, repeatable=True)
            return Stop(StopReason.MAY_HAVE_TAKEN_EFFECT if unknown else StopReason.FINAL)
        hint = outcome.retry_after
    backoff = backoff_delay(policy, attempt, jitter)
    # Never sooner than Procurify asked, nor in a tight loop when it asks for 0 s.
    delay = backoff if hint is None else max(hint, backoff)
    if attempt >= policy.max_attempts:
        return Stop(StopReason.ATTEMPTS)
    if elapsed + delay > policy.max_elapsed or delay >= remaining:
        return Stop(StopReason.TIME)
    return Retry(delay)
