"""A misbehaving HTTP server for tests: it drips, never answers, drops the connection after
the headers, sends gzip bombs, deep JSON, odd redirects, or whatever a handler returns.

It listens on 127.0.0.1 only, answers one request per connection, and stops by itself: when
the ``with`` block ends, or after ``lifetime`` seconds at the latest. Every wait is bounded.

It is one module of about 400 lines because it is one tool: the listener, the request it
reads and the misbehaviours it answers with are used together and change together.
"""

from __future__ import annotations

import contextlib
import gzip
import html
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, unquote, unquote_plus, urlsplit

from nexla_procurify.credential import Secret

MAX_REQUEST_BYTES = 1 << 20
# One gzip member inflating to 1 MiB of zeros (about 1 KiB): a bomb is many of them.
_MEMBER_SIZE = 1 << 20
_MEMBER = gzip.compress(b"\0" * _MEMBER_SIZE, compresslevel=9)
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    418: "I'm a teapot",
    500: "Internal Server Error",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Reply:
    """A well-formed answer."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Reply:
        return cls(status, json.dumps(value).encode(), (("Content-Type", "application/json"),))

    @classmethod
    def raw_json(cls, text: str, status: int = 200) -> Reply:
        return cls(status, text.encode(), (("Content-Type", "application/json"),))


@dataclass(frozen=True)
class Drip:
    """Headers announcing ``body``, then its bytes one at a time, ``every`` seconds apart."""

    body: bytes = b'{"data": []}'
    every: float = 0.2
    status: int = 200


@dataclass(frozen=True)
class DripHeaders:
    """The status line and headers themselves, one byte every ``every`` seconds."""

    every: float = 0.2


@dataclass(frozen=True)
class Silence:
    """Read the request and never answer (until the server stops)."""


@dataclass(frozen=True)
class Drop:
    """Read the request and close the connection without a word."""


@dataclass(frozen=True)
class DropAfterHeaders:
    """Headers announcing ``length`` bytes, then close."""

    status: int = 200
    length: int = 1000


@dataclass(frozen=True)
class GzipBomb:
    """A gzip answer of about ``inflated / 1000`` bytes that inflates to ``inflated``."""

    inflated: int = 512 * _MEMBER_SIZE
    status: int = 200


Answer = Reply | Drip | DripHeaders | Silence | Drop | DropAfterHeaders | GzipBomb
Handler = Callable[[Request], Answer]


def deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status, b"", (("Location", location),))


@dataclass
class HostileServer:
    handler: Handler
    lifetime: float = 60.0
    requests: list[Request] = field(default_factory=list)
    # Bytes of each dripped body sent before it ended or the client hung up.
    dripped: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> HostileServer:
        accepting = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)
        accepting.start()
        self._threads.append(accepting)
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        for thread in list(self._threads):
            thread.join(timeout=2.0)

    def stop(self) -> None:
        self._stop.set()
        self._timer.cancel()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the waiting accept()
        self._listener.close()

    def wait_for_drips(self, count: int, limit: float = 10.0) -> list[int]:
        """The dripped byte counts once ``count`` drips ended (or ``limit`` seconds passed)."""
        ends = threading.Event()
        for _ in range(int(limit / 0.05)):
            with self._lock:
                if len(self.dripped) >= count:
                    return list(self.dripped)
            ends.wait(0.05)
        with self._lock:
            return list(self.dripped)

    def paths(self) -> list[str]:
        with self._lock:
            return [request.path for request in self.requests]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            worker = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            worker.start()
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(worker)

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(5.0)
        with connection:
            try:
                request = _read_request(connection)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                self._answer(connection, self.handler(request))
            except OSError:
                return  # the client went away: nothing more to do

    def _answer(self, connection: socket.socket, answer: Answer) -> None:
        if isinstance(answer, Reply):
            connection.sendall(_head(answer.status, answer.headers, len(answer.body)) + answer.body)
        elif isinstance(answer, Drip):
            connection.sendall(
                _head(answer.status, (("Content-Type", "application/json"),), len(answer.body))
            )
            sent = 0
            try:
                for byte in _bytes(answer.body):
                    if self._stop.wait(answer.every):
                        return
                    connection.sendall(byte)
                    sent += 1
            finally:
                with self._lock:
                    self.dripped.append(sent)
        elif isinstance(answer, DripHeaders):
            for byte in _bytes(_head(200, (), 2) + b"{}"):
                if self._stop.wait(answer.every):
                    return
                connection.sendall(byte)
        elif isinstance(answer, Silence):
            self._stop.wait(self.lifetime)
        elif isinstance(answer, DropAfterHeaders):
            connection.sendall(
                _head(answer.status, (("Content-Type", "application/json"),), answer.length)
            )
        elif isinstance(answer, GzipBomb):
            connection.sendall(
                _head(
                    answer.status,
                    (("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
                    None,
                )
            )
            for _ in range(max(1, answer.inflated // _MEMBER_SIZE)):
                if self._stop.is_set():
                    return
                connection.sendall(_MEMBER)
        # Drop: nothing at all


def _bytes(data: bytes) -> Iterator[bytes]:
    for position in range(len(data)):
        yield data[position : position + 1]


def _head(status: int, headers: tuple[tuple[str, str], ...], length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Whatever')}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read_request(connection: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk or len(data) > MAX_REQUEST_BYTES:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = min(int(headers.get("content-length", "0") or 0), MAX_REQUEST_BYTES)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    parts = urlsplit(target)
    return Request(method, parts.path, parse_qs(parts.query), headers, body[:length])


# --- echoing secrets, and finding them again -----------------------------------------------------


def spellings(value: str) -> list[str]:
    """``value`` in every escaping a server may echo it in."""
    found: list[str] = []
    for variant in dict.fromkeys([value, value.lower(), value.upper(), value.swapcase()]):
        json_ascii = json.dumps(variant)[1:-1]
        found += [
            variant,
            json_ascii,
            json_ascii.upper(),
            json.dumps(variant, ensure_ascii=False)[1:-1],
            "".join(
                json.dumps(char)[1:-1] if ord(char) > 0xFFFF else f"\\u{ord(char):04x}"
                for char in variant
            ),
            "".join(f"\\u{ord(char):04X}" if ord(char) <= 0xFFFF else char for char in variant),
            json_ascii.replace("&", "\\u0026")
            .replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("-", "\\u002d"),
            quote(variant, safe=""),
            quote(variant, safe="").lower(),
            quote_plus(variant),
            html.escape(variant),
            "".join(f"&#{ord(char)};" for char in variant),
            repr(variant)[1:-1],
            repr(variant.encode("utf-8", "surrogatepass"))[2:-1],
        ]
    return found


def echo(*values: str) -> dict[str, Any]:
    """A Django REST framework style error body repeating ``values`` in every spelling."""
    return {
        "detail": [f"invalid: {form}" for value in values for form in spellings(value)],
        "client_secret": [f"'{form}'" for value in values for form in spellings(value)],
    }


def raw(body: Any) -> bytes:
    """The body as a server may send it: escaped spellings inside, and each one also
    written raw into the JSON text (not as a JSON string)."""
    return json.dumps(body, ensure_ascii=False).encode()


def exposed(thing: Any, depth: int = 0, seen: set[int] | None = None) -> Iterator[str]:
    """Every text reachable from ``thing``: its ``str`` and ``repr``, and for exceptions and
    objects their causes, context, arguments and attributes (a ``requests`` exception's
    request and its body, say). A ``Secret`` shows only its ``repr`` (it masks itself)."""
    seen = set() if seen is None else seen
    if id(thing) in seen or depth > 8 or thing is None:
        return
    seen.add(id(thing))
    if isinstance(thing, str):
        yield thing
        return
    if isinstance(thing, bytes | bytearray):
        yield bytes(thing).decode("utf-8", "replace")
        return
    if isinstance(thing, bool | int | float) or (
        callable(thing) and not isinstance(thing, BaseException)
    ):
        return
    yield repr(thing)
    if isinstance(thing, Secret):
        return
    if isinstance(thing, BaseException):
        yield str(thing)
        for linked in (thing.__cause__, thing.__context__, thing.args):
            yield from exposed(linked, depth + 1, seen)
    if isinstance(thing, Mapping):
        for key, value in thing.items():
            yield from exposed(key, depth + 1, seen)
            yield from exposed(value, depth + 1, seen)
        return
    if isinstance(thing, list | tuple | set | frozenset):
        for item in thing:
            yield from exposed(item, depth + 1, seen)
        return
    for value in getattr(thing, "__dict__", {}).values():
        yield from exposed(value, depth + 1, seen)


_UNICODE_ESCAPE = re.compile(r"\\[uU]([0-9a-fA-F]{4})")


def decodings(text: str) -> Iterator[str]:
    """``text`` and its readings with one level of escapes decoded (the oracle: written
    independently of the connector's masking)."""
    yield text
    unescaped = _UNICODE_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)
    yield unescaped.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    yield unquote(text)
    yield unquote_plus(text)
    yield html.unescape(text)
    with contextlib.suppress(UnicodeError, ValueError):
        yield text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    with contextlib.suppress(UnicodeError, ValueError):
        yield (
            text.encode("latin-1", "backslashreplace")
            .decode("unicode_escape")
            .encode("latin-1")
            .decode("utf-8")
        )


def fold(text: str) -> str:
    return text.upper().casefold()


def leaked(texts: list[str], *values: str) -> list[str]:
    wanted = [fold(value) for value in values]
    return [
        text[:200]
        for text in texts
        for reading in decodings(text)
        if any(value in fold(reading) for value in wanted)
    ]
