"""One stream's writer: a single ``write_destination`` run for the whole stream, fed record by
record from the reading thread through a small bounded queue, on its own thread.

One run per stream keeps every rule of ``write_destination`` for the stream as a whole (one
result per record in order, records addressing the same Procurify record in order, the circuit
that stops calling Procurify, ``on_error: abort``). ``flush()`` puts ``destination.FLUSH`` in
the queue so that the run reports every record so far without waiting for the next one (a STATE
must not wait for records that may come much later). When the run ends before its input
(``on_error: abort``), the records still queued are reported ``failed`` "not written", and
``on_stop`` tells the reader to stop taking input.
"""

from __future__ import annotations

__all__ = ["StreamWriter", "Writer"]

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from nexla_procurify.destination import FLUSH
from nexla_procurify.destination.run import WINDOW_PER_WORKER
from nexla_procurify.messages import WriteResult
from nexla_procurify.target.config import Route
from nexla_procurify.target.gate import StateGate

log = logging.getLogger("nexla_procurify.target")

# The ``write_destination`` hook, bound to a session: (config, records) -> results.
Writer = Callable[[dict[str, Any], Iterable[Any]], Iterator[WriteResult]]


class _End:
    def __repr__(self) -> str:
        return "END"


_END: Final = _End()


class StreamWriter:
    """Writes the records of one stream; ``put`` and ``flush`` from the reading thread only."""

    def __init__(
        self, route: Route, write: Writer, gate: StateGate, on_stop: Callable[[str], None]
    ) -> None:
        self.route = route
        self._write = write
        self._gate = gate
        self._on_stop = on_stop
        self._queue: queue.Queue[Any] = queue.Queue(
            maxsize=WINDOW_PER_WORKER * route.config.concurrency
        )
        self._unflushed = False
        self._ended = False
        self._results = 0
        self._first_failed: int | None = None
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"target-{route.stream}"[:60]
        )
        self._thread.start()

    def put(self, record: Any) -> None:
        """Hand one record to the run (blocks while the queue is full)."""
        self._gate.sent(self.route.stream)
        self._unflushed = True
        self._queue.put(record)

    def flush(self) -> None:
        """Have every record put so far written and reported without waiting for more."""
        if self._unflushed:
            self._unflushed = False
            self._queue.put(FLUSH)

    def close(self) -> None:
        """No more records: the run finishes what it holds; ``join`` waits for it."""
        self._queue.put(_END)

    def join(self) -> None:
        """Wait until the stream's run has handed back every result."""
        self._thread.join()

    def _records(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is _END:
                self._ended = True
                return
            yield item

    def _run(self) -> None:
        stream = self.route.stream
        reason = f"the writer of stream {stream!r} stopped"
        try:
            for result in self._write(self.route.hook_config(), self._records()):
                self._results += 1
                if result.status == "failed" and self._first_failed is None:
                    self._first_failed = result.index
                self._gate.result(stream, result)
        except Exception as error:  # a bug: say so, and report the rest as not written
            log.exception("Unexpected error while writing stream %r", stream)
            reason = f"an unexpected error stopped the writer of stream {stream!r} ({error})"
        if self._ended:
            return
        if self._first_failed is not None and self.route.config.on_error == "abort":
            reason = (
                f"the run stopped after record {self._first_failed} of stream {stream!r} "
                'failed (on_error is "abort")'
            )
        self._on_stop(reason)
        self._drain(reason)

    def _drain(self, reason: str) -> None:
        """Report every record still queued as not written, until ``close``."""
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if item is FLUSH:
                continue
            self._gate.result(
                self.route.stream,
                WriteResult(self._results, "failed", error=f"Not written: {reason}."),
            )
            self._results += 1
