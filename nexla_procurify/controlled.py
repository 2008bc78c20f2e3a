"""The session under ``concurrency: "auto"``: every request of a read or a write run passes
through one ``Gate`` (``concurrency.py``), which finds how many the account takes at once."""

from __future__ import annotations

__all__ = ["ControlledSession", "controlled"]

from typing import Unpack

import requests

from nexla_procurify.auth import ProcurifySession
from nexla_procurify.concurrency import Controller, ControllerSettings, Gate, Slot
from nexla_procurify.http import Answer, RequestFields, RetryEvent, RetryListener


class ControlledSession(ProcurifySession):
    """``session`` (its token and connections shared) whose requests start under ``gate``:
    a 429 on the way is told to the gate before the retry, the answer's time after it. Closing
    it leaves ``session`` open: its owner closes it."""

    def __init__(self, session: ProcurifySession, gate: Gate) -> None:
        # Not ProcurifySession.__init__: the token manager and the client are the session's.
        self.credential = session.credential
        self.client = session.client
        self.tokens = session.tokens
        self._inner = session
        self.gate = gate

    def request(
        self, method: str, path: str, **options: Unpack[RequestFields]
    ) -> requests.Response:
        """A request, once the gate lets it start."""
        with self.gate.slot() as slot:
            options["on_retry"] = self._listener(slot, options.get("on_retry"))
            return self._inner.request(method, path, **options)

    def request_json(self, method: str, path: str, **options: Unpack[RequestFields]) -> Answer:
        """A request and its JSON answer, once the gate lets it start."""
        with self.gate.slot() as slot:
            options["on_retry"] = self._listener(slot, options.get("on_retry"))
            return self._inner.request_json(method, path, **options)

    def close(self) -> None:
        """Nothing to release: the wrapped session's owner closes it."""

    def _listener(self, slot: Slot, then: RetryListener | None) -> RetryListener:
        def on_retry(event: RetryEvent) -> None:
            self.gate.retrying(slot, throttled=event.status == 429, delay=event.delay)
            if then is not None:
                then(event)

        return on_retry


def controlled(session: ProcurifySession, maximum: int) -> ControlledSession:
    """``session`` under a fresh controller whose hard maximum is ``maximum``."""
    return ControlledSession(session, Gate(Controller(ControllerSettings(maximum=maximum))))
