"""Concurrency that finds the account's limit by itself: the controller behind
``concurrency: "auto"`` (pure: every measurement and every clock reading is handed to it), and
the ``Gate`` that lets requests start under it.

The controller is AIMD with a latency gradient and pacing, as TCP's and Netflix's concurrency
limits are:

- it starts modestly (``initial`` requests at once) and, in *slow start*, grows by one request
  per clean answer (doubling every round trip) while latency stays near its baseline and no
  answer is a 429; after the first sign of congestion it grows by about ``growth`` requests per
  round trip, and only while the limit is what holds the requests back (throughput can still
  grow);
- a 429 multiplies the limit by ``backoff`` and paces request starts at a little less than the
  rate of the answers delivered over the last ``window`` seconds (the rate the account allows);
  a clean window lets that rate grow again by ``rate_growth``, to at most ``probe`` times the
  rate delivered (a server's burst allowance hides an excess for a while: the probe stays
  near what is really delivered). Until a paced rate has itself been answered 429, it grows
  by ``first_rate_growth`` instead (*rate slow start*): the first 429 usually comes within a
  read's first second, when the answers of less than one window are all there is to measure,
  so that first pace is low. The 429 that ends it paces at ``first_rate_backoff`` of the rate
  delivered: a probe grown past the limit has spent the server's burst allowance, so the rate
  delivered over that window overstates what the account allows;
- latency above ``tolerance`` times its baseline (the server is queueing) multiplies the limit
  by ``latency_backoff``;
- at most one decrease per round trip (the answers of one burst are one signal; after a 429,
  per ``window``, as the 429s of one excess come back over the ``Retry-After`` waits), never
  below ``minimum``, never above ``maximum`` (the hard maximum).

Starts are spaced by one round trip divided by the limit (pacing, so that a burst never leaves
at once), or by the paced rate once a 429 has set one. A 429's ``Retry-After`` is the account's
wait, not one request's: no request starts before it is over; and the retries of one burst of
429s leave one by one at the paced rate instead of together into the same empty allowance.
"""

from __future__ import annotations

__all__ = [
    "AUTO",
    "MAX_HOLD",
    "WAKE",
    "Concurrency",
    "Controller",
    "ControllerSettings",
    "Gate",
    "Slot",
    "result_of",
]

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, TypeVar

_T = TypeVar("_T")

AUTO: Literal["auto"] = "auto"
# A configured concurrency: a number pins it, "auto" lets the controller find it.
Concurrency = int | Literal["auto"]

# How often a wait of the main thread wakes up (seconds): a stop signal that the kernel hands
# to another thread is only handled once the main thread runs again, so it never blocks longer.
WAKE = 0.05
# The longest pause between two request starts, however low the paced rate falls (seconds).
MAX_SPACING = 5.0
# The longest a 429's Retry-After holds the run's other starts (seconds): the default time
# budget of one request (HttpPolicy.max_elapsed); a longer wait is beyond any request's budget.
MAX_HOLD = 120.0


@dataclass(frozen=True)
class ControllerSettings:
    """The controller's constants; only ``maximum`` (the hard maximum) is usually set."""

    maximum: int
    initial: int = 2
    minimum: int = 1
    backoff: float = 0.5
    latency_backoff: float = 0.9
    tolerance: float = 4.0
    rate_backoff: float = 0.95
    growth: float = 3.0
    window: float = 1.0
    rate_growth: float = 0.02
    probe: float = 1.05
    first_rate_growth: float = 0.15
    first_rate_backoff: float = 0.7

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError("the controller needs 1 <= minimum <= maximum")


class Controller:
    """The limit on requests in flight and the spacing of their starts (see the module
    docstring). Not thread-safe: the ``Gate`` holds its lock around every call."""

    def __init__(self, settings: ControllerSettings) -> None:
        self.settings = settings
        self._limit = float(max(settings.minimum, min(settings.initial, settings.maximum)))
        self.slow_start = True
        self.baseline: float | None = None  # the lowest recent latency: the uncongested one
        self.recent: float | None = None  # latency, smoothed over the last answers
        self.rate: float | None = None  # paced starts per second, once a 429 set it
        self.rate_found = False  # a paced rate has been answered 429: it grows slowly from then
        self._hold_until = -math.inf  # no further decrease before (one round trip)
        self._rate_since = 0.0
        self._delivered: deque[float] = deque()

    @property
    def limit(self) -> int:
        """How many requests may be in flight now (from ``minimum`` to ``maximum``)."""
        return int(self._limit)

    def spacing(self) -> float:
        """Seconds to leave between two request starts (0 until a latency is known)."""
        if self.rate is not None:
            return min(MAX_SPACING, 1.0 / self.rate)
        if self.baseline is None:
            return 0.0
        return min(MAX_SPACING, self.baseline / self._limit)

    def on_answer(self, now: float, latency: float | None, *, saturated: bool) -> None:
        """A request ended with a usable answer (no 429) at ``now``; ``latency`` is its time
        (``None`` when retries make it no measurement); ``saturated``: the limit was in use
        when it started (so that more room could be used)."""
        self._delivered.append(now)
        self._forget(now)
        if latency is not None:
            self._measure(latency)
            if self._climbing() and now >= self._hold_until:
                self._decrease(now, self.settings.latency_backoff)
                return
        if self.rate is not None:
            self._grow_rate(now)
        if saturated and not self._climbing():
            step = 1.0 if self.slow_start else min(1.0, self.settings.growth / self._limit)
            self._limit = min(float(self.settings.maximum), self._limit + step)

    def on_throttled(self, now: float) -> None:
        """Procurify answered 429 at ``now``: back off, and pace at the rate delivered."""
        self._forget(now)
        if now < self._hold_until:
            return
        backoff = self.settings.rate_backoff
        if self.rate is not None and not self.rate_found:
            self.rate_found = True
            backoff = self.settings.first_rate_backoff
        delivered = len(self._delivered) / self.settings.window
        pace = self._limit / self.baseline if self.baseline else None
        candidates = [value for value in (delivered, self.rate, pace) if value]
        if candidates:
            self.rate = max(0.1, min(candidates) * backoff)
            self._rate_since = now
        self._decrease(now, self.settings.backoff)
        self._hold_until = now + max(self.recent or 0.0, self.settings.window)

    def _decrease(self, now: float, factor: float) -> None:
        self.slow_start = False
        self._limit = max(float(self.settings.minimum), self._limit * factor)
        self._hold_until = now + (self.recent or 0.0)

    def _grow_rate(self, now: float) -> None:
        if self.rate is None or now - self._rate_since < self.settings.window:
            return
        delivered = len(self._delivered) / self.settings.window
        if self.rate_found:
            growth, probe = self.settings.rate_growth, self.settings.probe
        else:
            growth = self.settings.first_rate_growth
            probe = 1.0 + growth
        grown = self.rate * (1.0 + growth)
        self.rate = max(self.rate, min(grown, delivered * probe))
        self._rate_since = now
        if self.baseline and self.rate * self.baseline >= self.settings.maximum:
            self.rate = None  # the pace no longer holds anything back

    def _measure(self, latency: float) -> None:
        self.recent = latency if self.recent is None else 0.8 * self.recent + 0.2 * latency
        if self.baseline is None or latency < self.baseline:
            self.baseline = latency
        else:  # drift up slowly, so that a server that got slower for good is followed
            self.baseline += (latency - self.baseline) * 0.01

    def _climbing(self) -> bool:
        if self.recent is None or self.baseline is None:
            return False
        return self.recent > self.settings.tolerance * max(self.baseline, 0.001)

    def _forget(self, now: float) -> None:
        while self._delivered and self._delivered[0] <= now - self.settings.window:
            self._delivered.popleft()


@dataclass
class Slot:
    """One request's place under the gate: whether it started with the limit in use (at least
    half of it), whether it was retried on the way (then its time is no latency sample), and
    whether its final answer was a 429 (then it is no answer at all)."""

    saturated: bool
    retried: bool = False
    refused: bool = False


class Gate:
    """Lets requests start under a ``Controller``, over every thread that uses it: at most
    ``limit`` in flight, starts spaced by ``spacing``. ``clock`` and ``sleep`` are injected
    (tests pass fakes); every wait is bounded by the requests in flight ending."""

    def __init__(
        self,
        controller: Controller,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.controller = controller
        self._clock = clock
        self._sleep = sleep
        self._changed = threading.Condition()
        self._in_flight = 0
        self._next_start = -math.inf
        self._held_until = -math.inf  # the end of a 429's Retry-After: no start before it
        self._next_retry = -math.inf  # the earliest the next retry after a 429 may leave

    @property
    def current(self) -> int:
        """The controller's limit now."""
        return self.controller.limit

    @property
    def in_flight(self) -> int:
        """Requests started and not ended."""
        return self._in_flight

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """Wait for room and for the paced start, hold a place while the body runs, then
        hand the outcome to the controller (a request that raised is no answer)."""
        with self._changed:
            self._changed.wait_for(lambda: self._in_flight < self.controller.limit)
            self._in_flight += 1
        answered = False
        slot: Slot | None = None
        began = 0.0
        try:
            with self._changed:
                now = self._clock()
                start = self._reserve(max(now, self._held_until))
                # The limit is in use when at least half of it is (as TCP validates its
                # window), and a start held back by a 429's pace is not held back by the limit.
                paced = self.controller.rate is not None and start > now
                slot = Slot(saturated=2 * self._in_flight >= self.controller.limit and not paced)
            self._wait_until(start)
            began = self._clock()
            yield slot
            answered = True
        finally:
            ended = self._clock()
            with self._changed:
                self._in_flight -= 1
                if answered and slot is not None and not slot.refused:
                    latency = None if slot.retried else ended - began
                    self.controller.on_answer(ended, latency, saturated=slot.saturated)
                self._changed.notify_all()

    def retrying(
        self,
        slot: Slot,
        *,
        throttled: bool,
        delay: float = 0.0,
        retry_after: float | None = None,
    ) -> None:
        """``slot``'s request is about to be retried once its caller has waited ``delay``
        seconds; ``throttled``: after a 429, which the controller hears at once (see
        ``throttled``). The retries of one burst of 429s leave one by one at the paced rate
        (this waits for a retry's turn beyond ``delay``, by at most ``MAX_SPACING``), instead
        of together into the same empty allowance."""
        slot.retried = True
        if not throttled:
            return
        with self._changed:
            now = self._clock()
            self._throttle(now, retry_after)
            spacing = self.controller.spacing()
            retry_at = max(now + delay, self._next_retry)
            self._next_retry = retry_at + spacing
            # The retry is one more request at the paced rate: the starts leave it one place.
            self._next_start = max(self._next_start, now) + spacing
            self._changed.notify_all()
        extra = min(MAX_SPACING, retry_at - now - delay)
        if extra > 0:
            self._sleep(extra)

    def throttled(self, slot: Slot, *, retry_after: float | None = None) -> None:
        """``slot``'s request ended with a 429 that is not retried: the controller hears it
        (a refusal is no answer to grow on), and the server's ``Retry-After`` holds back every
        other start of the run."""
        slot.refused = True
        with self._changed:
            self._throttle(self._clock(), retry_after)
            self._changed.notify_all()

    def _throttle(self, now: float, retry_after: float | None) -> None:
        """A 429 at ``now`` (hold the lock): back off, and no request starts before the wait
        the server asked for is over (it is the account's wait, not one request's)."""
        self.controller.on_throttled(now)
        if retry_after is not None and retry_after > 0:
            held = min(retry_after, MAX_HOLD)
            self._held_until = max(self._held_until, now + held)

    def _reserve(self, earliest: float) -> float:
        """The next paced start at or after ``earliest`` (hold the lock)."""
        start = max(earliest, self._next_start)
        self._next_start = start + self.controller.spacing()
        return start

    def _wait_until(self, start: float) -> None:
        """Sleep until ``start``; a 429 answered meanwhile whose ``Retry-After`` ends later
        holds this start back to the next paced start after it (each 429 moves it at most
        once)."""
        while True:
            now = self._clock()
            if start > now:
                self._sleep(start - now)
            with self._changed:
                if self._held_until <= start:
                    return
                start = self._reserve(max(self._clock(), self._held_until))


def result_of(future: Future[_T]) -> _T:
    """``future``'s result, waited for in steps of ``WAKE``: a wait that never returns to the
    interpreter would hold back a stop signal (SIGTERM, Ctrl-C) for as long as the request."""
    while True:
        try:
            return future.result(timeout=WAKE)
        except TimeoutError:
            continue
