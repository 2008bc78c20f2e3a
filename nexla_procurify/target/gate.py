"""When a STATE may be echoed: only once every record that came before it, in every stream, is
written; and where each per-record result goes.

A ``STATE`` message is held with a watermark: how many records of each stream came before it.
It is released once each stream has that many results, and echoed (its value, one JSON line on
standard output, as Singer targets do) only when none of those results is ``rejected`` or
``failed``: a record that was not written holds every later STATE back, so that the next run,
resuming from the last STATE echoed, sends it again. States released together are echoed as
one, the latest (each one holds everything the earlier ones did). A dry run echoes none: it
wrote nothing, and the next run must send the same records.

Results go to their own sink (a file, or standard error), never to standard output, which
carries states only. If a sink cannot be written, states are held from then on and the run
stops (``failure``).
"""

from __future__ import annotations

__all__ = ["NOT_WRITTEN", "StateGate"]

import json
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nexla_procurify.messages import WriteResult

NOT_WRITTEN = ("rejected", "failed")
log = logging.getLogger("nexla_procurify.target")


@dataclass(frozen=True)
class _Held:
    """A STATE waiting for its records: ``marks`` is the count of each stream's records sent
    before it, ``sent`` the total (to merge states with no record between them)."""

    value: Any
    marks: dict[str, int]
    sent: int


class StateGate:
    """Counts each stream's records sent and results received, and echoes states in order as
    they become safe. Shared by the reading thread and the stream writers' threads; every
    output line is written under its lock, so lines never interleave."""

    def __init__(
        self, *, echo: Callable[[str], None], report: Callable[[str], None], hold: str | None = None
    ) -> None:
        """``echo`` writes a line to the state output, ``report`` one to the results sink;
        ``hold`` (such as a dry run's reason) holds every state from the start."""
        self._lock = threading.Lock()
        self._echo = echo
        self._report = report
        self._sent: Counter[str] = Counter()
        self._done: Counter[str] = Counter()
        self._first_not_written: dict[str, int] = {}
        self._pending: deque[_Held] = deque()
        self._total_sent = 0
        self.held: str | None = hold
        self.failure: BaseException | None = None
        self.counts: dict[str, Counter[str]] = {}
        self.echoed = 0
        if hold is not None:
            log.warning("No STATE will be echoed: %s.", hold)

    def sent(self, stream: str) -> int:
        """A record of ``stream`` is handed to its writer; returns its index in the stream."""
        with self._lock:
            index = self._sent[stream]
            self._sent[stream] += 1
            self._total_sent += 1
            return index

    def state(self, value: Any) -> None:
        """A STATE message came (after every record sent so far)."""
        with self._lock:
            if self.held is not None:
                return
            held = _Held(value, dict(self._sent), self._total_sent)
            if self._pending and self._pending[-1].sent == held.sent:
                self._pending[-1] = held  # no record between them: the later one is enough
            else:
                self._pending.append(held)
            self._release()

    def result(self, stream: str, result: WriteResult) -> None:
        """The result of a record of ``stream`` (each stream's, in its input order)."""
        with self._lock:
            self.counts.setdefault(stream, Counter())[result.status] += 1
            self._done[stream] += 1
            if result.status in NOT_WRITTEN:
                self._first_not_written.setdefault(stream, result.index)
            line = json.dumps({"stream": stream, **result.to_dict()})
            self._write(self._report, line, "the results")
            self._release()

    def finish(self) -> None:
        """Every writer is done: echo what is still owed."""
        with self._lock:
            self._release()

    def _release(self) -> None:
        ready: _Held | None = None
        while self._pending and self.held is None:
            front = self._pending[0]
            if any(self._done[stream] < mark for stream, mark in front.marks.items()):
                break
            self._pending.popleft()
            for stream, mark in front.marks.items():
                first = self._first_not_written.get(stream)
                if first is not None and first < mark:
                    self._hold(
                        f"record {first} of stream {stream!r} was not written (see "
                        "its result); the next run sends again what came after the "
                        "last STATE echoed"
                    )
                    break
            else:
                ready = front
        if ready is not None:
            self._write(self._echo, json.dumps(ready.value), "the state")
            if self.failure is None:
                self.echoed += 1

    def _hold(self, reason: str) -> None:
        if self.held is None:
            self.held = reason
            self._pending.clear()
            log.warning("No further STATE is echoed: %s.", reason)

    def _write(self, sink: Callable[[str], None], line: str, what: str) -> None:
        if self.failure is not None:
            return
        try:
            sink(line)
        except (OSError, ValueError) as error:  # ValueError: a closed file
            self.failure = error
            self._hold(f"{what} could not be written ({error})")
