"""Helpers for the HTTP client's tests: the address called, a client on a fake clock, and the
connection errors requests raises."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlsplit

import requests
from shared import BASE, FakeClock
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from nexla_procurify.http import (
    HttpClient,
    HttpPolicy,
)

URL = BASE + "/api/v3/vendors"


def client_for(clock: FakeClock, **policy: Any) -> HttpClient:
    return HttpClient(HttpPolicy(**policy), sleep=clock.sleep, clock=clock, rng=random.Random(0))


def refused() -> requests.exceptions.ConnectionError:
    """What requests raises when nothing listens on the port (nothing was sent)."""
    host = urlsplit(URL).hostname
    assert host is not None
    reason = NewConnectionError(
        HTTPSConnection(host), "Failed to establish a new connection: [Errno 111] refused"
    )
    return requests.exceptions.ConnectionError(
        MaxRetryError(HTTPSConnectionPool(host), URL, reason)
    )


def dropped() -> requests.exceptions.ConnectionError:
    """What requests raises when the server closes the connection without answering."""
    return requests.exceptions.ConnectionError(
        ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    )


def started_clock() -> FakeClock:
    """A fake clock not at 0: the client must measure time from its own start."""
    return FakeClock(1000.0)
