"""A thread pool whose calls answer in an order the test draws: concurrent requests, in any
interleaving, on the reading thread (so hypothesis can draw and shrink the order)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future
from typing import Any


class DrawnFuture(Future[Any]):
    def __init__(self, owner: DrawnOrder) -> None:
        super().__init__()
        self.owner = owner

    def result(self, timeout: float | None = None) -> Any:
        while not self.done():
            self.owner.run_one()
        return super().result(timeout)


class DrawnOrder(Executor):
    """Runs nothing until a result is awaited; then runs the submitted calls one at a time,
    each chosen among those waiting by ``choose(number waiting)``, until that one is done.
    Also the pool factory the source takes (``pools=``): every pool it asks for is this one."""

    def __init__(self, choose: Callable[[int], int]) -> None:
        self.choose = choose
        self.pending: list[tuple[DrawnFuture, Callable[..., Any], tuple[Any, ...]]] = []
        self.most_in_flight = 0

    @classmethod
    def from_picks(cls, picks: Iterable[int]) -> DrawnOrder:
        """Chosen by the next of ``picks`` (modulo the number waiting; the oldest once
        ``picks`` run out)."""
        drawn = iter(picks)
        return cls(lambda waiting: next(drawn, 0) % waiting)

    def __call__(self, *, max_workers: int, thread_name_prefix: str) -> DrawnOrder:
        return self

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        assert not kwargs
        future = DrawnFuture(self)
        self.pending.append((future, fn, args))
        self.most_in_flight = max(self.most_in_flight, len(self.pending))
        return future

    def run_one(self) -> None:
        future, fn, args = self.pending.pop(self.choose(len(self.pending)))
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn(*args))
        except BaseException as error:  # handed to the reader, as a thread pool does
            future.set_exception(error)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for future, _, _ in self.pending:
                future.cancel()
            self.pending.clear()
