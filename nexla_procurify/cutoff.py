"""Cutting a request off at its deadline, whatever the server does.

A socket timeout bounds each read, not the whole answer: a server that sends a byte every few
seconds (in the headers or in the body) never trips it. Here each request runs under a
``Deadline``; when it passes, a timer shuts down the socket of the connection the request is
using, so that the blocked read returns at once and the request fails. The connection pools
tell the request's ``Deadline`` which connection it took (``Watch``), and forget it when the
connection goes back to the pool, so that a pooled connection is never cut.
"""

from __future__ import annotations

__all__ = ["CutoffAdapter", "Watch"]

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests import PreparedRequest
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# When the deadline passes before the connection has its socket (still resolving or
# connecting), look again this often until it has one or the request ends.
RECHECK_SECONDS = 0.05


class Deadline:
    """One request's cut-off. ``expired`` tells, afterwards, whether it was cut."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: Any = None
        self._done = False
        self.expired = False

    def attach(self, connection: Any) -> None:
        with self._lock:
            if self._done:
                return
            self._connection = connection
            if self.expired:
                _cut(connection)

    def detach(self, connection: Any) -> None:
        with self._lock:
            if self._connection is connection:
                self._connection = None

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            if self._connection is not None and _cut(self._connection):
                return
        # No socket yet (a connection being opened): look again shortly.
        timer = threading.Timer(RECHECK_SECONDS, self.expire)
        timer.daemon = True
        timer.start()

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._connection = None


def _cut(connection: Any) -> bool:
    """Shut the connection's socket down (both ways); whether it had one."""
    # ``sock`` is gone once the answer holds the socket alone (``Connection: close``):
    # ``opened`` is the socket the connection last opened.
    sock = getattr(connection, "sock", None) or getattr(connection, "opened", None)
    if sock is None:
        return False
    # The plain socket's shutdown, also for a TLS socket: it wakes a blocked read in another
    # thread without touching the TLS state that thread is using. Already closed: nothing
    # left to cut.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    return True


class Watch:
    """Which ``Deadline`` each thread's current request runs under (one per HTTP client)."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def running(self, seconds: float) -> Iterator[Deadline]:
        """Run the request of this thread under a deadline ``seconds`` from now."""
        deadline = Deadline()
        timer = threading.Timer(max(0.0, seconds), deadline.expire)
        timer.daemon = True
        self._local.current = deadline
        timer.start()
        try:
            yield deadline
        finally:
            timer.cancel()
            deadline.finish()
            self._local.current = None

    def attach(self, connection: Any) -> None:
        """Let this thread's deadline, if any, cut ``connection``."""
        current: Deadline | None = getattr(self._local, "current", None)
        if current is not None:
            current.attach(connection)

    def detach(self, connection: Any) -> None:
        """The connection is done with: this thread's deadline no longer cuts it."""
        current: Deadline | None = getattr(self._local, "current", None)
        if current is not None:
            current.detach(connection)


class _WatchedHTTPConnection(HTTPConnection):
    opened: socket.socket | None = None

    def connect(self) -> None:
        super().connect()
        self.opened = self.sock


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection
    watch: Watch | None = None

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        if self.watch is not None:
            self.watch.attach(connection)
        return connection

    def _put_conn(self, conn: Any) -> None:
        if self.watch is not None:
            self.watch.detach(conn)
        super()._put_conn(conn)


class _WatchedHTTPSConnectionPool(_WatchedHTTPConnectionPool, HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _watch_pools_of(manager: PoolManager) -> None:
    """Make ``manager`` create watched pools (unless it has its own kind, such as SOCKS)."""
    classes = manager.pool_classes_by_scheme
    if classes.get("http") is HTTPConnectionPool and classes.get("https") is HTTPSConnectionPool:
        manager.pool_classes_by_scheme = {
            "http": _WatchedHTTPConnectionPool,
            "https": _WatchedHTTPSConnectionPool,
        }


class CutoffAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections ``watch`` can cut."""

    def __init__(self, watch: Watch, **kwargs: Any) -> None:
        self.watch = watch
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """``HTTPAdapter.init_poolmanager``, its pools' connections watched."""
        super().init_poolmanager(*args, **kwargs)
        _watch_pools_of(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """``HTTPAdapter.proxy_manager_for``, its pools' connections watched."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, PoolManager):
            _watch_pools_of(manager)
        return manager

    def get_connection_with_tls_context(
        self,
        request: PreparedRequest,
        verify: bool | str | None,
        proxies: Any = None,
        cert: Any = None,
    ) -> Any:
        """``HTTPAdapter.get_connection_with_tls_context``, the connection's pool watched."""
        pool = super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
        if isinstance(pool, _WatchedHTTPConnectionPool | _WatchedHTTPSConnectionPool):
            pool.watch = self.watch
        return pool
