"""A write run: records taken lazily, written by a bounded pool, one result per record in input
order.

At most ``WINDOW_PER_WORKER * concurrency`` records are in flight, so memory stays flat. Under
``concurrency: "auto"`` (the default) ``concurrency`` is the hard maximum and every request goes
through a ``ControlledSession``, whose controller finds how many the account takes at once.
Records that address the same Procurify record (same id or same upsert/lookup key) are written
one after the other, in input order, even with ``concurrency`` > 1 (``TurnTaker``).

``FLUSH`` in the input is not a record and gets no result: the run yields every result owed
before it takes the next record (a caller that feeds records as they come, such as the Singer
target, uses it to have everything so far written and reported without ending the run).
"""

from __future__ import annotations

__all__ = ["FLUSH", "WINDOW_PER_WORKER", "TurnTaker", "write", "write_planned"]

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from nexla_procurify.auth import ProcurifySession
from nexla_procurify.concurrency import result_of
from nexla_procurify.controlled import controlled
from nexla_procurify.destination.circuit import Abort
from nexla_procurify.destination.config import parse_config
from nexla_procurify.destination.prepare import Plan
from nexla_procurify.destination.record import RecordWriter
from nexla_procurify.messages import WriteResult

WINDOW_PER_WORKER = 2


class _Flush:
    def __repr__(self) -> str:
        return "FLUSH"


FLUSH: Final = _Flush()


class TurnTaker:
    """Lets records that address the same Procurify record run one at a time, in input order.

    Tickets are taken on the submitting thread in input order; a worker waits for its turn.
    Only keys with a record in flight are held, so memory follows the window, not the input.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queues: dict[Hashable, deque[int]] = {}

    def take_ticket(self, key: Hashable | None, index: int) -> None:
        """Queue record ``index`` for ``key`` (on the submitting thread, in input order)."""
        if key is None:
            return
        with self._changed:
            self._queues.setdefault(key, deque()).append(index)

    @contextmanager
    def turn(self, key: Hashable | None, index: int) -> Iterator[None]:
        """Wait until it is record ``index``'s turn for ``key``; the next one's when done."""
        if key is None:
            yield
            return
        with self._changed:
            self._changed.wait_for(lambda: self._queues[key][0] == index)
        try:
            yield
        finally:
            with self._changed:
                queue = self._queues[key]
                queue.popleft()
                if not queue:
                    del self._queues[key]
                self._changed.notify_all()


@dataclass
class _Run:
    """One ``write`` call's moving parts (never shared between calls)."""

    writer: RecordWriter
    abort: Abort | None
    turns: TurnTaker = field(default_factory=TurnTaker)

    def handle(self, index: int, record: object, key: Hashable | None) -> WriteResult:
        with self.turns.turn(key, index):
            if self.abort is not None and self.abort.skips(index):
                return self.abort.skipped(index)
            result = self.writer.write(index, record)
        if self.abort is not None:
            self.abort.note(result)
        return result

    @property
    def stopped(self) -> bool:
        return self.abort is not None and self.abort.tripped


def write(
    session: ProcurifySession,
    config: Mapping[str, Any],
    records: Iterable[Mapping[str, Any]],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[WriteResult]:
    """Write ``records``; yield exactly one ``WriteResult`` per record taken, in input order.

    The configuration is checked before anything is sent (``ConfigurationError``). Records are
    taken lazily: at most ``2 * concurrency`` are in flight, so memory stays flat.
    ``sleep`` is the pause before a confirming lookup (tests pass a no-op).
    """
    return write_planned(session, Plan.of(parse_config(config)), records, sleep=sleep)


def write_planned(
    session: ProcurifySession,
    plan: Plan,
    records: Iterable[object],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[WriteResult]:
    """``write`` with the configuration already resolved into a ``Plan`` (such as one for a
    resource described otherwise than in the catalogue)."""
    if plan.config.auto_concurrency and plan.config.concurrency > 1:
        session = controlled(session, plan.config.concurrency)
    run = _Run(
        writer=RecordWriter(session, plan, sleep),
        abort=Abort() if plan.config.on_error == "abort" else None,
    )
    return _results(run, iter(records), plan.config.concurrency)


def _results(run: _Run, records: Iterator[Any], concurrency: int) -> Iterator[WriteResult]:
    if concurrency == 1:
        yield from _sequential(run, records)
    else:
        yield from _concurrent(run, records, concurrency)


def _sequential(run: _Run, records: Iterator[Any]) -> Iterator[WriteResult]:
    for index, record in enumerate(record for record in records if record is not FLUSH):
        yield run.handle(index, record, None)
        if run.stopped:
            return


def _concurrent(run: _Run, records: Iterator[Any], concurrency: int) -> Iterator[WriteResult]:
    window: deque[Future[WriteResult]] = deque()
    limit = WINDOW_PER_WORKER * concurrency
    index = 0
    pool = ThreadPoolExecutor(concurrency, thread_name_prefix="procurify-write")
    input_error: BaseException | None = None
    try:
        while True:
            flush = False
            while input_error is None and len(window) < limit and not run.stopped:
                try:
                    record = next(records)
                except StopIteration:
                    break
                except Exception as error:  # the input itself failed: finish, then re-raise
                    input_error = error
                    break
                if record is FLUSH:
                    flush = True
                    break
                key = run.writer.plan.addressed(record)
                run.turns.take_ticket(key, index)
                window.append(pool.submit(run.handle, index, record, key))
                index += 1
            if flush:
                while window:
                    yield result_of(window.popleft())
                continue
            if not window:
                break
            yield result_of(window.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if input_error is not None:
        raise input_error
