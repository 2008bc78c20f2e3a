"""What a long command needs while it runs: the first and second stop signal, the progress
line on standard error, and closing a read left unfinished."""

from __future__ import annotations

__all__ = ["STOP_SIGNALS", "Progress", "Stop", "StopPoint", "closed_after", "stop_signals"]

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stop(BaseException):
    """Raised in the main thread by a first SIGINT or SIGTERM during ``read``: a
    ``BaseException``, so that nothing on the way mistakes it for an error to handle."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class StopPoint:
    """The ``on_first`` of ``read`` and the tap: a ``Stop`` raised where the main thread is,
    except while a line is being written (``write``): then as soon as the line is whole. A
    stop in the middle of a write (a slow reader has filled the pipe) would leave half a line,
    and the last STATE printed after it would be joined to it: not JSON, lost to the host."""

    def __init__(self) -> None:
        self._writing = False
        self._pending: int | None = None

    def __call__(self, signum: int) -> None:
        """A first stop signal (called by the signal handler, on the main thread)."""
        if self._writing:
            self._pending = signum
            return
        raise Stop(signum)

    def write(self, out: TextIO, line: str) -> None:
        """``line`` written whole to ``out``; then the stop that came meanwhile, if any."""
        self._writing = True
        try:
            out.write(line)
        finally:
            self._writing = False
        if self._pending is not None:
            raise Stop(self._pending)


@contextlib.contextmanager
def closed_after(messages: Iterator[Any]) -> Iterator[Iterator[Any]]:
    """Closes a generator left unfinished (``--limit``), which stops its page prefetching."""
    try:
        yield messages
    finally:
        close = getattr(messages, "close", None)
        if callable(close):
            close()


@contextlib.contextmanager
def stop_signals(on_first: Callable[[int], None], stopping: str, abandoned: str) -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM (how hosts and schedulers stop a job): the first one says
    ``stopping`` and calls ``on_first(signum)``; a second one (either) says ``abandoned`` and
    ends the process at once, with 128 + its number, without waiting for anything in flight."""
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        if received:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            print(f"Stopped at once: {abandoned}", file=sys.stderr, flush=True)
            os._exit(128 + signum)  # workers may be waiting out retries: do not join them
        received.append(signum)
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        print(
            f"Stopping ({name}): {stopping} (signal again to stop at once).",
            file=sys.stderr,
            flush=True,
        )
        on_first(signum)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals
        return
    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Progress:
    """Counts for the stderr progress line (on a terminal) and the final summary (always)."""

    def __init__(self, stream: str, err: TextIO) -> None:
        self.stream = stream
        self.err = err
        self.records = 0
        self.pages = 0
        self.started = time.monotonic()
        self.live = err.isatty()

    def record(self) -> None:
        """One record printed."""
        self.records += 1

    def page(self) -> None:
        """One page finished (a checkpoint printed); redraws the line on a terminal."""
        self.pages += 1
        if self.live:
            print(f"\r{self._line()}", end="", file=self.err, flush=True)

    def finish(self) -> None:
        """The summary line."""
        print(("\r" if self.live else "") + self._line() + " done.", file=self.err)

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return (
            f"{self.stream}: {self.records} records, {self.pages} pages, "
            f"{elapsed:.1f}s, {self.records / elapsed:.0f} records/s"
        )
