"""Injected faults: what the sandbox does instead of answering normally."""

from __future__ import annotations

__all__ = ["Fault", "FaultPlan"]

import threading
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal[
    "status",  # answer `status` (with `Retry-After` when `retry_after` is set)
    "drop",  # close the connection without answering, before acting on the request
    "commit_then_drop",  # act on the request, then close the connection without answering
    "expire_token",  # treat the caller's token as expired (401)
    "invalid_json",  # answer 200 with a body that is not JSON
    "delay",  # answer normally after `delay` seconds
]


@dataclass(frozen=True)
class Fault:
    """A fault for the requests that match ``method``, ``path`` (exact) and ``query`` items.

    It applies to the first ``times`` matching requests, or to all when ``times`` is None.
    """

    kind: FaultKind
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    method: str | None = None
    path: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    times: int | None = 1

    def matches(self, method: str, path: str, query: dict[str, str]) -> bool:
        """Whether a request (``method``, ``path``, ``query``) is one this fault is for."""
        return (
            (self.method is None or self.method.upper() == method)
            and (self.path is None or self.path == path)
            and all(query.get(key) == value for key, value in self.query)
        )


@dataclass
class _Armed:
    fault: Fault
    remaining: int | None


class FaultPlan:
    """The faults still to happen; consulted by every request, thread-safe."""

    def __init__(self) -> None:
        self._armed: list[_Armed] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        """Arm ``fault`` for its number of times."""
        with self._lock:
            self._armed.append(_Armed(fault, fault.times))

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._armed.clear()

    def take(self, method: str, path: str, query: dict[str, str]) -> Fault | None:
        """The first armed fault matching the request, used up once; ``None`` when none matches."""
        with self._lock:
            for armed in self._armed:
                if not armed.fault.matches(method, path, query):
                    continue
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining <= 0:
                        self._armed.remove(armed)
                return armed.fault
        return None
