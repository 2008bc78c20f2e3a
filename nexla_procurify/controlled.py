"""The session under ``concurrency: "auto"``: every request of a read or a write run passes
through one ``Gate`` (``concurrency.py``), which finds how many the account takes at once."""

from __future__ import annotations

__all__ = ["ControlledSession", "controlled"]

from typing import Unpack

import requests

from nexla_procurify.auth import ProcurifySession
from nexla_procurify.concurrency import Controller, ControllerSettings, Gate, Slot
from nexla_procurify.http import (
    Answer,
    RequestFields,
    RetryEvent,
    RetryListener,
    retry_after_seconds,
)


class ControlledSession(ProcurifySession):
    """``session`` (its token and connections shared) whose requests start under ``gate``:
    a 429 on the way is told to the gate before the retry, the answer's time after it, and a
    429 that is the final answer as a refusal. Closing it leaves ``session`` open: its owner
    closes it."""

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
            response = self._inner.request(method, path, **options)
            self._refused(slot, response)
            return response

    def request_json(self, method: str, path: str, **options: Unpack[RequestFields]) -> Answer:
        """A request and its JSON answer, once the gate lets it start."""
        with self.gate.slot() as slot:
            options["on_retry"] = self._listener(slot, options.get("on_retry"))
            answer = self._inner.request_json(method, path, **options)
            self._refused(slot, answer.response)
            return answer

    def close(self) -> None:
        """Nothing to release: the wrapped session's owner closes it."""

    def _refused(self, slot: Slot, response: requests.Response) -> None:
        if response.status_code == 429:  # not retried (its Retry-After is beyond the budget)
            self.gate.throttled(slot, retry_after=retry_after_seconds(response))

    def _listener(self, slot: Slot, then: RetryListener | None) -> RetryListener:
        def on_retry(event: RetryEvent) -> None:
            if then is not None:
                then(event)  # first: it may end the request (its read was closed)
            self.gate.retrying(
                slot,
                throttled=event.status == 429,
                delay=event.delay,
                retry_after=event.retry_after,
            )

        return on_retry


def controlled(session: ProcurifySession, maximum: int) -> ControlledSession:
    """``session`` under a fresh controller whose hard maximum is ``maximum``."""
    return ControlledSession(session, Gate(Controller(ControllerSettings(maximum=maximum))))
