"""HTTP policy, in one place: timeouts, retries with backoff and jitter, ``Retry-After``,
same-origin redirects only, and the mapping of HTTP answers to ``ProcurifyError``s.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.utils import guess_json_utf
from urllib3.exceptions import MaxRetryError, NewConnectionError

from nexla_procurify.cutoff import CutoffAdapter, Watch
from nexla_procurify.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    PermissionDeniedError,
    ProcurifyError,
    RateLimitError,
    TransientError,
)

log = logging.getLogger("nexla_procurify.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
# A POST answered with these surely did not take effect, so sending it again is safe.
POST_NOT_APPLIED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class HttpPolicy:
    """How requests are made. ``max_elapsed`` is the whole time one request may take: every
    attempt, the waits between them, redirects and the reading of its answer, however slowly
    the server sends it; a request still under way then is cut off."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 8
    max_elapsed: float = 120.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    pool_size: int = 32
    max_answer_bytes: int = 64 * 1024 * 1024  # decompressed
    max_redirects: int = 10

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


@dataclass(frozen=True)
class RetryEvent:
    """Told to a request's ``on_retry`` listener before each retry (e.g. to slow a reader)."""

    method: str
    path: str
    attempt: int
    status: int | None
    delay: float


RetryListener = Callable[[RetryEvent], None]
# Applied to every answer's body as soon as it is read (masks secrets in it).
Scrubber = Callable[[requests.Response], None]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Redirects that keep the method and the body: the only ones a PUT or PATCH follows.
BODY_KEEPING_REDIRECTS = frozenset({307, 308})
READ_CHUNK = 64 * 1024
# Deeper JSON is refused: no Procurify answer comes near it, and recursive code downstream
# (ours, and a host's) must not meet it.
MAX_JSON_DEPTH = 100


def post_outcome_unknown(status: int) -> bool:
    """Whether a POST answered with ``status`` may nevertheless have taken effect."""
    return status >= 500 and status not in POST_NOT_APPLIED_STATUSES


def is_retryable(status: int, *, repeatable: bool) -> bool:
    if repeatable:
        return status == 429 or status >= 500
    return status in POST_NOT_APPLIED_STATUSES


def retry_after_seconds(response: requests.Response, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (it may be a number or an HTTP date), or ``None``."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """Scheme, host and port of ``url``; ``None`` when it has none that can be used (such
    as a port that is not a number)."""
    try:
        parts = urlsplit(url)
        return (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)
    except ValueError:
        return None


class _NoRedirectSession(requests.Session):
    """Leaves every redirect to ``HttpClient`` (which follows only the safe ones): requests
    would otherwise work out the next hop of every redirect, and fail on a bad address."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


class _Cut(Exception):
    """The request's deadline passed while its answer was being read."""


class HttpClient:
    """Sends requests under the policy; safe to share between threads.

    ``until`` (a time on ``clock``) ends every request of this client by then, whatever its
    own budget: a live check's total time.
    """

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        until: float | None = None,
    ) -> None:
        self.policy = policy or HttpPolicy()
        self._sleep = sleep
        self._clock = clock
        self._until = until
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._rng_lock = threading.Lock()
        self._watch = Watch()
        self._session = _NoRedirectSession()
        self._session.verify = True
        self._session.max_redirects = self.policy.max_redirects
        adapter = CutoffAdapter(
            self._watch, pool_connections=4, pool_maxsize=self.policy.pool_size, max_retries=0
        )
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def close(self) -> None:
        self._session.close()

    def send(
        self,
        method: str,
        url: str,
        *,
        on_retry: RetryListener | None = None,
        idempotent: bool | None = None,
        scrub: Scrubber | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """The final answer after the policy's retries, its body read (``content``);
        ``ConnectionFailedError`` if none came in time.

        ``idempotent`` overrides what the method implies (a token request may be repeated).
        """
        response, _ = self._send(method, url, on_retry, idempotent, False, scrub, kwargs)
        return response

    def send_json(
        self,
        method: str,
        url: str,
        *,
        on_retry: RetryListener | None = None,
        idempotent: bool | None = None,
        scrub: Scrubber | None = None,
        **kwargs: Any,
    ) -> tuple[requests.Response, Any]:
        """Like ``send``, and a successful answer that is not valid JSON counts as a failed
        attempt (retried like a 5xx) for a request that may be repeated. Returns the answer
        and its decoded body (``None`` for an unsuccessful answer, and for a POST whose
        successful answer is not JSON: it took effect and must not be sent again)."""
        return self._send(method, url, on_retry, idempotent, True, scrub, kwargs)

    def _send(
        self,
        method: str,
        url: str,
        on_retry: RetryListener | None,
        idempotent: bool | None,
        decode: bool,
        scrub: Scrubber | None,
        kwargs: dict[str, Any],
    ) -> tuple[requests.Response, Any]:
        method = method.upper()
        repeatable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        # A redirected POST would come back as a GET that "succeeds": the caller must see
        # the redirect itself.
        follow = bool(kwargs.pop("allow_redirects", True)) and method in IDEMPOTENT_METHODS
        kwargs.pop("stream", None)
        kwargs["verify"] = True
        path = urlsplit(url).path
        started = self._clock()
        ends = started + self.policy.max_elapsed
        if self._until is not None:
            ends = min(ends, self._until)
        attempt = 1
        while True:
            outcome = self._attempt(method, url, follow, kwargs, ends)
            if isinstance(outcome, ConnectionFailedError):
                may_retry = repeatable or not outcome.request_sent
                delay = self._backoff(attempt)
                if not may_retry or not self._has_budget(attempt, started, delay, ends):
                    raise outcome
                log.warning("%s; retrying %s %s in %.1fs (attempt %d)",
                            outcome.message, method, path, delay, attempt + 1)
                self._wait(on_retry, RetryEvent(method, path, attempt, None, delay))
                attempt += 1
                continue
            response = outcome
            if scrub is not None:
                scrub(response)
            log.debug("%s %s -> %s (attempt %d)", method, path, response.status_code, attempt)
            status = response.status_code
            body: Any = None
            garbled = ""
            if decode and 200 <= status < 300:
                try:
                    body = loads(response)
                except ValueError as error:
                    if not repeatable:
                        return response, None  # it took effect: the caller must not resend
                    garbled = str(error)
                    status = 502  # a garbled answer: as if a gateway had failed
            if not is_retryable(status, repeatable=repeatable):
                return response, body
            hinted = retry_after_seconds(response)
            backoff = self._backoff(attempt)
            # Never sooner than Procurify asked, nor in a tight loop when it asks for 0 s.
            delay = backoff if hinted is None else max(hinted, backoff)
            if not self._has_budget(attempt, started, delay, ends):
                if garbled:
                    raise _not_json(f"{method} {path}", f"{garbled}; {attempt} time(s)")
                return response, None
            answered = f"an answer that was not usable JSON ({garbled})" if garbled else status
            log.warning("Procurify answered %s to %s %s; retrying in %.1fs (attempt %d)",
                        answered, method, path, delay, attempt + 1)
            self._wait(on_retry, RetryEvent(method, path, attempt, status, delay))
            attempt += 1

    def _attempt(
        self, method: str, url: str, follow: bool, kwargs: dict[str, Any], ends: float
    ) -> requests.Response | ConnectionFailedError:
        """One attempt (with the redirects it follows), its answer read whole; a
        ``ConnectionFailedError`` when no answer came in time. Raises the failures that no
        retry can mend. Nothing raised here carries a ``requests`` exception along: those
        hold the request, and with it the secret or the token."""
        path = urlsplit(url).path
        remaining = ends - self._clock()
        if remaining <= 0:
            return self._late(method, path)
        failure: ProcurifyError | None = None
        final = False  # a failure no retry can mend
        cut = False
        with self._watch.running(remaining) as deadline:
            try:
                response = self._exchange(method, url, follow, kwargs, ends)
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
                    f"Procurify sent an answer that could not be decompressed ({method} "
                    f"{path}).", request_sent=True)
            except requests.exceptions.RequestException as error:
                failure = _connection_failure(error, method, url)
        # A socket timeout at the end of the budget (its read timeout is capped to what
        # remains) is the deadline too, whichever of the two noticed first.
        out_of_time = (isinstance(failure, ConnectionFailedError) and not final
                       and self._clock() >= ends)
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
        self, method: str, url: str, follow: bool, kwargs: dict[str, Any], ends: float
    ) -> requests.Response:
        """Send, read the answer, and follow redirects within the same origin."""
        path = urlsplit(url).path
        hops = 0
        sent = dict(kwargs)
        while True:
            sent["timeout"] = self._timeouts(sent.get("timeout"), ends)
            response = self._session.request(
                method, url, stream=True, allow_redirects=False, **sent
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
            log.debug("%s %s -> %s (redirected within the same origin)", method,
                      urlsplit(url).path, response.status_code)
            url = target
            sent.pop("params", None)  # the new address carries its own query

    def _timeouts(self, given: Any, ends: float) -> tuple[float, float]:
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

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.policy.backoff_max, self.policy.backoff_initial * 2 ** (attempt - 1))
        with self._rng_lock:
            return self._rng.uniform(ceiling / 2, ceiling)

    def _has_budget(self, attempt: int, started: float, delay: float, ends: float) -> bool:
        now = self._clock()
        elapsed = now - started
        return (attempt < self.policy.max_attempts
                and elapsed + delay <= self.policy.max_elapsed
                and now + delay < ends)

    def _wait(self, on_retry: RetryListener | None, event: RetryEvent) -> None:
        if on_retry is not None:
            on_retry(event)
        self._sleep(event.delay)


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
    return ConnectionFailedError(
        f"Procurify {reason} ({method} {path}).", request_sent=True
    )


def _refused(error: requests.exceptions.RequestException) -> bool:
    cause = error.args[0] if error.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return isinstance(cause, NewConnectionError | ConnectionRefusedError)


def loads(response: requests.Response) -> Any:
    """The answer's body as JSON; ``ValueError`` (saying why, never quoting the body, and
    chained to nothing that holds it) when it is not valid JSON, not in its declared
    character set, or nested deeper than ``MAX_JSON_DEPTH``."""
    reason = _undecodable(response)
    if isinstance(reason, str):
        raise ValueError(reason)
    return reason[0]


def _undecodable(response: requests.Response) -> str | tuple[Any]:
    content = response.content
    guessed: str | None = guess_json_utf(content)  # type: ignore[no-untyped-call]
    encoding = response.encoding or guessed or "utf-8"
    try:
        text = content.decode(encoding)
    except LookupError:
        return f"an unknown character set ({encoding[:40]})"
    except UnicodeDecodeError:
        return f"not valid {encoding}"
    try:
        value = json.loads(text)
    except RecursionError:
        return f"nested more than {MAX_JSON_DEPTH} levels deep"
    except ValueError:
        return "not valid JSON"
    if _deeper_than(value, MAX_JSON_DEPTH):
        return f"nested more than {MAX_JSON_DEPTH} levels deep"
    return (value,)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels in ``value`` (without recursion)."""
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        current, depth = pending.pop()
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        pending.extend((child, depth + 1) for child in children
                       if isinstance(child, dict | list))
    return False


def field_errors(response: requests.Response) -> dict[str, tuple[str, ...]]:
    """Procurify's (Django REST framework) field messages, flattened to dotted paths."""
    try:
        body = loads(response)
    except ValueError:
        return {}
    found: dict[str, tuple[str, ...]] = {}
    _flatten(body, "", found)
    return found


def _flatten(value: Any, prefix: str, found: dict[str, tuple[str, ...]]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), found)
    elif isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        found[prefix or "non_field_errors"] = tuple(value)
    elif isinstance(value, list):
        for position, inner in enumerate(value):
            _flatten(inner, f"{prefix}.{position}" if prefix else str(position), found)
    elif isinstance(value, str):
        found[prefix or "detail"] = (value,)


def describe_field_errors(errors: Mapping[str, tuple[str, ...]]) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())


def error_for_response(response: requests.Response, action: str) -> ProcurifyError:
    """The typed error for an unsuccessful answer; ``action`` says what was being done."""
    status = response.status_code
    details = field_errors(response)
    if status == 401:
        return AuthenticationError(
            f"Procurify refused the access token while trying to {action} (HTTP 401): check "
            "that the API application still exists and its Client Secret was not rotated."
        )
    if status == 403:
        return PermissionDeniedError(
            f"The API application is not allowed to {action} (HTTP 403): ask a Procurify "
            "administrator to grant it the needed permission."
        )
    if status == 429:
        return RateLimitError(
            f"Procurify kept asking to slow down while trying to {action} (HTTP 429): "
            "try again later or lower 'concurrency'."
        )
    if status >= 500:
        return TransientError(
            f"Procurify is unavailable: it answered HTTP {status} while trying to {action}. "
            "Nothing is wrong with the configuration: try again later."
        )
    if 300 <= status < 400:
        return ApiError(
            f"Procurify redirected the request to {action} to another address (HTTP "
            f"{status}): check that the Base URL is your company's Procurify address.",
            status=status,
        )
    if status == 404:
        return ApiError(f"Not found while trying to {action} (HTTP 404).", status=status,
                        field_errors=details)
    summary = describe_field_errors(details)
    return ApiError(
        f"Procurify refused the request to {action} (HTTP {status})"
        + (f": {summary}" if summary else "."),
        status=status,
        field_errors=details,
    )


def raise_for_response(response: requests.Response, action: str) -> None:
    if response.status_code >= 300:
        raise error_for_response(response, action)


def json_body(response: requests.Response, action: str) -> Any:
    """The decoded JSON body, or a ``TransientError`` that says the answer was not JSON."""
    try:
        return loads(response)
    except ValueError as error:
        reason = str(error)
    raise _not_json(action, f"{reason}; HTTP {response.status_code}")


def _not_json(what: str, detail: str) -> TransientError:
    return TransientError(
        f"Procurify's answer to {what} was not usable JSON ({detail}); try again later."
    )
