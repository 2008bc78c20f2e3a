"""Actions to run when a given page of a list is served ("another user edits during a read")."""

from __future__ import annotations

__all__ = ["PageHooks"]

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Trigger:
    resource: str
    page: int
    action: Callable[[], object]
    remaining: int | None


class PageHooks:
    """Thread-safe; an action runs after its page's answer is built, before it is sent."""

    def __init__(self) -> None:
        self._triggers: list[_Trigger] = []
        self._lock = threading.Lock()

    def add(
        self, resource: str, page: int, action: Callable[[], object], times: int | None = 1
    ) -> None:
        """Run ``action`` when page ``page`` of ``resource`` is served (``times`` times;
        ``None``: always)."""
        with self._lock:
            self._triggers.append(_Trigger(resource, page, action, times))

    def fire(self, resource: str, page: int) -> None:
        """Run the actions due for page ``page`` of ``resource``."""
        due: list[Callable[[], object]] = []
        with self._lock:
            for trigger in list(self._triggers):
                if trigger.resource != resource or trigger.page != page:
                    continue
                due.append(trigger.action)
                if trigger.remaining is not None:
                    trigger.remaining -= 1
                    if trigger.remaining <= 0:
                        self._triggers.remove(trigger)
        for action in due:
            action()
