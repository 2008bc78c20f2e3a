"""The sandbox's rate-limit mode: at most ``rate`` API requests per second (a token bucket
holding one second of them) and at most ``at_once`` in progress; beyond either, a 429 with
``Retry-After`` (the seconds until a request would be let through), as a rate-limited
Procurify account answers. The token endpoints are not limited."""

from __future__ import annotations

__all__ = ["RateLimit", "RateLimiter"]

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# The shortest ``Retry-After`` given (seconds).
MIN_RETRY_AFTER = 0.01


@dataclass(frozen=True)
class RateLimit:
    """The limits: ``rate`` requests per second, ``at_once`` requests in progress (``None``:
    no such limit)."""

    rate: float | None = None
    at_once: int | None = None

    def __post_init__(self) -> None:
        if self.rate is not None and not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError("the rate limit must be a positive number of requests per second")
        if self.at_once is not None and self.at_once < 1:
            raise ValueError("the limit on requests at once must be at least 1")

    @property
    def active(self) -> bool:
        """Whether any limit is set."""
        return self.rate is not None or self.at_once is not None


class RateLimiter:
    """Admits requests under a ``RateLimit``; ``clock`` is injected (tests pass a fake).
    Counts what it refused (``refused``) and let through (``admitted``)."""

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._capacity = max(1.0, limit.rate or 0.0)
        self._tokens = self._capacity
        self._stamp = clock()
        self._in_progress = 0
        self.admitted = 0
        self.refused = 0

    def enter(self) -> float | None:
        """Let a request in (``None``), or the ``Retry-After`` in seconds of its 429. Every
        request let in must ``leave``."""
        with self._lock:
            wait = self._wait()
            if wait is not None:
                self.refused += 1
                return max(MIN_RETRY_AFTER, wait)
            if self.limit.rate is not None:
                self._tokens -= 1.0
            self._in_progress += 1
            self.admitted += 1
            return None

    def leave(self) -> None:
        """A request let in has been answered."""
        with self._lock:
            self._in_progress -= 1

    def _wait(self) -> float | None:
        rate = self.limit.rate
        if rate is not None:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * rate)
            self._stamp = now
            if self._tokens < 1.0:
                return (1.0 - self._tokens) / rate
        if self.limit.at_once is not None and self._in_progress >= self.limit.at_once:
            # No time can be known for a request to end: a short pause, as such servers give.
            return 1.0 / rate if rate is not None else 0.1
        return None
