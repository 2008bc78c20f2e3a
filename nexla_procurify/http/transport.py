"""One attempt of a request: sent, its answer read whole (decompressed as it streams,
bounded in size, cut off at the deadline), redirects within the same origin followed, and
every failure of the transport turned into a ``ProcurifyError`` that holds no secret.

``Transport.attempt`` decides nothing about retrying: it says what happened (an answer, or a
``ConnectionFailedError`` for no answer) and the loop in ``client.py`` asks ``decide``.
"""

from __future__ import annotations

__all__ = ["READ_CHUNK", "Transport"]

import logging
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from nexla_procurify.cutoff import CutoffAdapter, Watch
from nexla_procurify.errors import (
    ApiError,
    ConfigurationError,
    ConnectionFailedError,
    ProcurifyError,
)
from nexla_procurify.http.options import RequestOptions
from nexla_procurify.http.policy import IDEMPOTENT_METHODS, HttpPolicy

log = logging.getLogger("nexla_procurify.http")

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Redirects that keep the method and the body: the only ones a PUT or PATCH follows.
BODY_KEEPING_REDIRECTS = frozenset({307, 308})
READ_CHUNK = 64 * 1024


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """Scheme, host and port of ``url``; ``None`` when it has none that can be used (such
    as a port that is not a number)."""
    try:
        parts = urlsplit(url)
        return (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)
    except ValueError:
        return None


class _NoRedirectSession(requests.Session):
    """Leaves every redirect to ``Transport`` (which follows only the safe ones): requests
    would otherwise work out the next hop of every redirect, and fail on a bad address."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


class _Cut(Exception):
    """The request's deadline passed while its answer was being read."""


class Transport:
    """Sends one attempt of a request through its own pool of connections; safe to share
    between threads."""

    def __init__(self, policy: HttpPolicy, *, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._clock = clock
        self._watch = Watch()
        self._session = _NoRedirectSession()
        self._session.verify = True
        self._session.max_redirects = policy.max_redirects
        adapter = CutoffAdapter(
            self._watch, pool_connections=4, pool_maxsize=policy.pool_size, max_retries=0
        )
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._session.close()

    def attempt(
        self, method: str, url: str, options: RequestOptions, ends: float
    ) -> requests.Response | ConnectionFailedError:
        """One attempt (with the redirects it follows), its answer read whole; a
        ``ConnectionFailedError`` when no answer came before ``ends`` (a time on the
        clock). Raises the failures that no retry can mend. Nothing raised here carries a
        ``requests`` exception along: those hold the request, and with it the secret or the
        token."""
        path = urlsplit(url).path
        remaining = ends - self._clock()
        if remaining <= 0:
            return self._late(method, path)
        failure: ProcurifyError | None = None
        final = False  # a failure no retry can mend
        cut = False
        with self._watch.running(remaining) as deadline:
            try:
                response = self._exchange(method, url, options, ends)
            except _Cut:
                cut = True
            except requests.exceptions.SSLError:
                final = True
                failure = ConnectionFailedError(
                    f"The TLS certificate of {urlsplit(url).hostname} could not be verified "
                    "(or it does not speak HTTPS): check the Base URL (and the system's CA "
                    "certificates).",
                    request_sent=False,
                )
            except (
                requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
            ):
                failure = ConfigurationError(f"Not a usable address: {path}")
            except (
                requests.exceptions.InvalidHeader,
                requests.exceptions.InvalidJSONError,
                UnicodeError,
            ) as error:
                # Refused before anything was sent: a caller's mistake, not a fault.
                failure = ConfigurationError(
                    f"The request {method} {path} could not be built: {type(error).__name__}."
                )
            except requests.exceptions.ContentDecodingError:
                failure = ConnectionFailedError(
                    f"Procurify sent an answer that could not be decompressed ({method} {path}).",
                    request_sent=True,
                )
            except requests.exceptions.RequestException as error:
                failure = _connection_failure(error, method, url)
        # A socket timeout at the end of the budget (its read timeout is capped to what
        # remains) is the deadline too, whichever of the two noticed first.
        out_of_time = (
            isinstance(failure, ConnectionFailedError) and not final and self._clock() >= ends
        )
        if cut or deadline.expired or out_of_time:
            return self._late(method, path)
        if isinstance(failure, ConnectionFailedError) and not final:
            return failure
        if failure is not None:
            raise failure
        return response

    def _late(self, method: str, path: str) -> ConnectionFailedError:
        return ConnectionFailedError(
            f"Procurify did not finish answering {method} {path} within "
            f"{self.policy.max_elapsed:g} s, the time allowed for one request "
            "(HttpPolicy.max_elapsed): it stopped there. Try again later.",
            request_sent=True,
        )

    def _exchange(
        self, method: str, url: str, options: RequestOptions, ends: float
    ) -> requests.Response:
        """Send, read the answer, and follow redirects within the same origin (a redirected
        POST would come back as a GET that "succeeds": the caller must see the redirect)."""
        path = urlsplit(url).path
        follow = options.allow_redirects and method in IDEMPOTENT_METHODS
        params = options.params
        hops = 0
        while True:
            response = self._session.request(
                method,
                url,
                params=params,
                data=options.data,
                json=options.json,
                headers=options.headers,
                timeout=self._timeouts(options.timeout, ends),
                verify=True,
                stream=True,
                allow_redirects=False,
            )
            self._read(response, method, path, ends)
            target = _redirect_target(response, method) if follow else None
            if target is None:
                return response
            hops += 1
            if hops > self.policy.max_redirects:
                raise ApiError(
                    f"Procurify redirected {method} {path} more than "
                    f"{self.policy.max_redirects} times within {urlsplit(url).hostname} (a "
                    "redirect loop): check that the Base URL is your company's Procurify "
                    "address, or try again later.",
                    status=response.status_code,
                )
            log.debug(
                "%s %s -> %s (redirected within the same origin)",
                method,
                urlsplit(url).path,
                response.status_code,
            )
            url = target
            params = None  # the new address carries its own query

    def _timeouts(
        self, given: float | tuple[float, float] | None, ends: float
    ) -> tuple[float, float]:
        connect, read = given if isinstance(given, tuple) else (given, given)
        connect = self.policy.connect_timeout if connect is None else float(connect)
        read = self.policy.read_timeout if read is None else float(read)
        remaining = max(0.001, ends - self._clock())
        return (min(connect, remaining), min(read, remaining))

    def _read(self, response: requests.Response, method: str, path: str, ends: float) -> None:
        """Read the whole body into ``response.content``: decompressed as it streams,
        refused beyond ``max_answer_bytes``, cut off at the deadline."""
        limit = self.policy.max_answer_bytes
        try:
            declared = int(response.headers.get("Content-Length", "0"))
        except ValueError:
            declared = 0
        try:
            if declared > limit and not response.headers.get("Content-Encoding"):
                raise self._too_large(method, path)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(READ_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise self._too_large(method, path)
                if self._clock() > ends:
                    raise _Cut
                chunks.append(chunk)
        except BaseException:
            response.close()
            raise
        response._content = b"".join(chunks)
        response._content_consumed = True  # type: ignore[attr-defined]
        response.close()  # the connection goes back to the pool

    def _too_large(self, method: str, path: str) -> ConnectionFailedError:
        # Counted as no answer: a POST answered so may have taken effect (checked by the
        # caller), and an answer this size is not read again by a retry.
        return ConnectionFailedError(
            f"Procurify's answer to {method} {path} was larger than "
            f"{self.policy.max_answer_bytes} bytes once decompressed "
            "(HttpPolicy.max_answer_bytes), so it was not read: ask for less (a smaller "
            "'page_size'), or raise the limit.",
            request_sent=True,
        )


def _redirect_target(response: requests.Response, method: str) -> str | None:
    """Where a redirect leads, when it may be followed: within the same scheme, host and
    port (the token and request bodies never travel to another host), and for a method
    with a body only when the redirect keeps it (307, 308). Any other redirect is returned
    to the caller as the answer."""
    status = response.status_code
    if status not in REDIRECT_STATUSES:
        return None
    if method not in ("GET", "HEAD") and status not in BODY_KEEPING_REDIRECTS:
        return None
    location = response.headers.get("Location")
    if not location:
        return None
    try:
        target = urljoin(response.url, location)
    except ValueError:
        return None
    origin = _origin(target)
    if origin is None or origin != _origin(response.url):
        return None
    return target


def _connection_failure(
    error: requests.exceptions.RequestException, method: str, url: str
) -> ConnectionFailedError:
    host = urlsplit(url).hostname
    path = urlsplit(url).path
    if isinstance(error, requests.exceptions.ConnectTimeout) or _refused(error):
        return ConnectionFailedError(
            f"Could not connect to {host} ({type(error).__name__}): check the Base URL and "
            "the network, then try again.",
            request_sent=False,
        )
    if isinstance(error, requests.exceptions.Timeout):
        reason = "did not answer in time"
    else:
        reason = "dropped the connection before answering"
    return ConnectionFailedError(f"Procurify {reason} ({method} {path}).", request_sent=True)


def _refused(error: requests.exceptions.RequestException) -> bool:
    cause = error.args[0] if error.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return isinstance(cause, NewConnectionError | ConnectionRefusedError)
