"""When a run stops: stops calling Procurify (``Circuit``), or stops writing (``Abort``).

The circuit opens when Procurify cannot help any later record: once it refuses the
credential, once a record fails because it kept answering 429 (``RateLimitError``, also behind
a lookup that checked a creation), or once ``TRANSIENT_FAILURES_TO_STOP`` consecutive input
records failed because it was unavailable (counted in input order, whatever order the workers
finish in). Later records are then ``failed`` with the reason, without a call.

``Abort`` is ``on_error: abort``: it remembers the first failed record, and records after it not
yet started are ``failed`` with "not written".
"""

from __future__ import annotations

__all__ = ["OUTAGE_MEMORY", "TRANSIENT_FAILURES_TO_STOP", "Abort", "Circuit", "circuit_cause"]

import threading

from nexla_procurify.errors import ProcurifyError, RateLimitError, TransientError
from nexla_procurify.messages import WriteResult

# Records failing in a row because Procurify was unavailable before the run stops calling it.
TRANSIENT_FAILURES_TO_STOP = 3
OUTAGE_MEMORY = 1024  # input positions remembered for that (far more than are in flight)


class Circuit:
    """Whether the run still calls Procurify; shared by the worker threads of one run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped: str | None = None
        # Recent input positions that failed because Procurify was unavailable.
        self._outages: set[int] = set()

    @property
    def stopped(self) -> str | None:
        """Why the run stopped calling Procurify (the later records' error), or ``None``."""
        return self._stopped

    def stop(self, message: str) -> None:
        """Stop calling Procurify; the first reason given is kept."""
        with self._lock:
            if self._stopped is None:
                self._stopped = message

    def note_failure(self, index: int, error: ProcurifyError) -> None:
        """Record ``index`` failed with ``error``: stop when no later record can do better."""
        cause = circuit_cause(error)
        if isinstance(cause, RateLimitError):
            self.stop(
                f"Not sent: the run stopped calling Procurify after record {index} "
                f"failed. {cause.message}"
            )
        elif isinstance(cause, TransientError) and self._outage_run_ends_at(index):
            self.stop(
                f"Not sent: the run stopped calling Procurify after "
                f"{TRANSIENT_FAILURES_TO_STOP} records in a row failed because it "
                f"was unavailable (the last, record {index}: {cause.message})"
            )

    def _outage_run_ends_at(self, index: int) -> bool:
        """Whether ``index`` completes a run of consecutive input positions (in input order,
        whatever order they finished in) that all failed because Procurify was unavailable."""
        needed = TRANSIENT_FAILURES_TO_STOP
        with self._lock:
            self._outages.add(index)
            if len(self._outages) > OUTAGE_MEMORY:
                self._outages = {seen for seen in self._outages if seen > index - OUTAGE_MEMORY}
            return any(
                all(first + step in self._outages for step in range(needed))
                for first in range(index - needed + 1, index + 1)
            )


def circuit_cause(error: BaseException) -> BaseException:
    """The rate limit or outage behind ``error`` (such as a lookup that checked a POST); a
    ``RateLimitError`` is a ``TransientError``."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, TransientError):
            return seen
        seen = seen.__cause__
    return error


class Abort:
    """Remembers the first (lowest index) failed record of an ``on_error: abort`` run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed_index: int | None = None

    def note(self, result: WriteResult) -> None:
        """Note a record's result: the earliest failure in input order trips the circuit."""
        if result.status != "failed":
            return
        with self._lock:
            if self._failed_index is None or result.index < self._failed_index:
                self._failed_index = result.index

    @property
    def tripped(self) -> bool:
        """Whether a record has failed, so that later ones are not sent."""
        return self._failed_index is not None

    def skips(self, index: int) -> bool:
        """Whether record ``index`` is not sent: it comes after the failed one."""
        failed = self._failed_index
        return failed is not None and index > failed

    def skipped(self, index: int) -> WriteResult:
        """The result of a record not sent because the run stopped."""
        return WriteResult(
            index,
            "failed",
            error=f"Not written: the run stopped after record {self._failed_index} failed "
            '(on_error is "abort").',
        )
