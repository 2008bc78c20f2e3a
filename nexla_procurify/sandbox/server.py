"""The sandbox's HTTP mechanics: a threaded loopback server and fault injection.

What Procurify answers lives in ``api.py``; this module only moves bytes.
"""

from __future__ import annotations

__all__ = ["LoggedRequest", "LoopbackServer", "QuietServer", "Request", "Response"]

import contextlib
import json
import logging
import math
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from nexla_procurify.sandbox.faults import Fault, FaultPlan
from nexla_procurify.sandbox.limits import RateLimit, RateLimiter

log = logging.getLogger("nexla_procurify.sandbox")


@dataclass(frozen=True)
class Request:
    """A request as the sandbox's handlers see it."""

    method: str
    path: str
    query: dict[str, str]  # the last value of each parameter
    headers: Mapping[str, str]
    body: bytes
    multi: dict[str, list[str]] = field(default_factory=dict)  # every value, in order

    def json(self) -> Any:
        """The decoded body; ``None`` when there is none or it is not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class Response:
    """A handler's answer: status, JSON body (or raw bytes) and headers."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    def encoded(self) -> bytes:
        """The body as sent: the raw bytes, or the JSON of ``body``."""
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()  # compact, as DRF renders


@dataclass(frozen=True)
class LoggedRequest:
    """What the log keeps of one request (whether it was authorized, never the token)."""

    method: str
    path: str
    query: dict[str, str]
    authorized: bool


class RequestLog:
    """What the sandbox was asked (never headers or bodies), for tests and the demo: the
    latest ``limit`` requests, so that a long-running sandbox does not grow."""

    def __init__(self, limit: int = 100_000) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [
                entry
                for entry in self._entries
                if (method is None or entry.method == method)
                and (path is None or entry.path == path)
            ]


class QuietServer(ThreadingHTTPServer):
    """A threaded HTTP server that says nothing when a client drops its connection (a killed
    process, a closed socket): only other errors of a request are printed on standard
    error, with their traceback, as ``socketserver`` does."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Nothing for a dropped connection; the traceback of any other error."""
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)


class LoopbackServer:
    """Serves ``dispatch`` on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        dispatch: Callable[[Request], Response],
        faults: FaultPlan,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self.dispatch = dispatch
        self.faults = faults
        self.latency = latency
        self.limiter = RateLimiter(rate_limit) if rate_limit and rate_limit.active else None
        self.log = RequestLog()
        handler = _make_handler(self)
        self._httpd = QuietServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on."""
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits for one poll: keep it short
            name="procurify-sandbox",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the socket and wait for the thread."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes
        server_version = "ProcurifySandbox/1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("sandbox: " + format, *args)

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            query = dict(pairs)
            multi: dict[str, list[str]] = {}
            for key, value in pairs:
                multi.setdefault(key, []).append(value)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            request = Request(self.command, parts.path, query, headers, body, multi)
            server.log.append(
                LoggedRequest(self.command, parts.path, query, "authorization" in headers)
            )
            limiter = server.limiter
            if limiter is None or parts.path.endswith("/oauth/token"):
                self._answer(request, query)
                return
            wait = limiter.enter()
            if wait is not None:
                self._send(_limited(wait))
                return
            try:
                self._answer(request, query)
            finally:
                limiter.leave()

        def _answer(self, request: Request, query: dict[str, str]) -> None:
            if server.latency:
                time.sleep(server.latency)
            fault = server.faults.take(self.command, request.path, query)
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay)
                fault = None
            if fault is not None and fault.kind == "drop":
                self._drop()
                return
            if fault is not None and fault.kind in ("status", "invalid_json", "expire_token"):
                self._send(_fault_response(fault))
                return
            response = server.dispatch(request)
            if fault is not None and fault.kind == "commit_then_drop":
                self._drop()
                return
            self._send(response)

        def _send(self, response: Response) -> None:
            payload = response.encoded()
            self.send_response(response.status)
            headers = {"Content-Type": "application/json", **response.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return _Handler


def _fault_response(fault: Fault) -> Response:
    if fault.kind == "invalid_json":
        return Response(200, raw=b"<html>Bad gateway</html>")
    if fault.kind == "expire_token":
        return Response(401, {"detail": "Given token not valid: the token has expired."})
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = _seconds(fault.retry_after)
    return Response(fault.status, {"detail": f"Injected fault: HTTP {fault.status}."}, headers)


def _limited(wait: float) -> Response:
    detail = f"Request was throttled. Expected available in {math.ceil(wait)} seconds."
    return Response(429, {"detail": detail}, {"Retry-After": _seconds(round(wait, 3))})


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
