"""HTTP policy, in one place: timeouts, retries with backoff and jitter, ``Retry-After``,
same-origin redirects only, and the mapping of HTTP answers to ``ProcurifyError``s.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

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
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 8
    max_elapsed: float = 120.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    pool_size: int = 32

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
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class _SameOriginSession(requests.Session):
    """Follows a redirect only within the same scheme, host and port: the token and request
    bodies never travel to another host. Any other redirect is returned as the answer."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is None:
            return None
        return target if _origin(urljoin(resp.url, target)) == _origin(resp.url) else None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)


class HttpClient:
    """Sends requests under the policy; safe to share between threads."""

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy or HttpPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._rng_lock = threading.Lock()
        self._session = _SameOriginSession()
        self._session.verify = True
        adapter = HTTPAdapter(
            pool_connections=4, pool_maxsize=self.policy.pool_size, max_retries=0
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
        **kwargs: Any,
    ) -> requests.Response:
        """The final answer after the policy's retries; ``ConnectionFailedError`` if none came.

        ``idempotent`` overrides what the method implies (a token request may be repeated).
        """
        response, _ = self._send(method, url, on_retry, idempotent, False, kwargs)
        return response

    def send_json(
        self,
        method: str,
        url: str,
        *,
        on_retry: RetryListener | None = None,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> tuple[requests.Response, Any]:
        """Like ``send``, and a successful answer that is not valid JSON counts as a failed
        attempt (retried like a 5xx) for a request that may be repeated. Returns the answer
        and its decoded body (``None`` for an unsuccessful answer, and for a POST whose
        successful answer is not JSON: it took effect and must not be sent again)."""
        return self._send(method, url, on_retry, idempotent, True, kwargs)

    def _send(
        self,
        method: str,
        url: str,
        on_retry: RetryListener | None,
        idempotent: bool | None,
        decode: bool,
        kwargs: dict[str, Any],
    ) -> tuple[requests.Response, Any]:
        method = method.upper()
        repeatable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        if method not in IDEMPOTENT_METHODS:
            # A redirected POST would come back as a GET that "succeeds": the caller must see
            # the redirect itself.
            kwargs["allow_redirects"] = False
        kwargs.setdefault("timeout", self.policy.timeout)
        kwargs["verify"] = True
        path = urlsplit(url).path
        started = self._clock()
        attempt = 1
        while True:
            try:
                response = self._session.request(method, url, **kwargs)
            except requests.exceptions.SSLError as error:
                raise ConnectionFailedError(
                    f"The TLS certificate of {urlsplit(url).hostname} could not be verified: "
                    "check the Base URL (and the system's CA certificates).",
                    request_sent=False,
                ) from error
            except (
                requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
            ) as error:
                raise ConfigurationError(f"Not a usable address: {path}") from error
            except (
                requests.exceptions.InvalidHeader,
                requests.exceptions.InvalidJSONError,
            ) as error:
                # Refused by requests before anything was sent: a caller's mistake, not a fault.
                raise ConfigurationError(
                    f"The request {method} {path} could not be built: {type(error).__name__}."
                ) from error
            except requests.exceptions.RequestException as error:
                failure = _connection_failure(error, method, url)
                may_retry = repeatable or not failure.request_sent
                delay = self._backoff(attempt)
                if not may_retry or not self._has_budget(attempt, started, delay):
                    raise failure from error
                log.warning("%s; retrying %s %s in %.1fs (attempt %d)",
                            failure.message, method, path, delay, attempt + 1)
                self._wait(on_retry, RetryEvent(method, path, attempt, None, delay))
                attempt += 1
                continue
            log.debug("%s %s -> %s (attempt %d)", method, path, response.status_code, attempt)
            status = response.status_code
            body: Any = None
            if decode and 200 <= status < 300:
                try:
                    body = strict_json(response)
                except ValueError:
                    if not repeatable:
                        return response, None  # it took effect: the caller must not resend
                    status = 502  # a garbled answer: as if a gateway had failed
            if not is_retryable(status, repeatable=repeatable):
                return response, body
            hinted = retry_after_seconds(response)
            backoff = self._backoff(attempt)
            # Never sooner than Procurify asked, nor in a tight loop when it asks for 0 s.
            delay = backoff if hinted is None else max(hinted, backoff)
            if not self._has_budget(attempt, started, delay):
                if status != response.status_code:
                    raise _not_json(f"{method} {path}", f"{attempt} time(s)")
                return response, None
            log.warning("Procurify answered %s to %s %s; retrying in %.1fs (attempt %d)",
                        status, method, path, delay, attempt + 1)
            response.close()
            self._wait(on_retry, RetryEvent(method, path, attempt, status, delay))
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.policy.backoff_max, self.policy.backoff_initial * 2 ** (attempt - 1))
        with self._rng_lock:
            return self._rng.uniform(ceiling / 2, ceiling)

    def _has_budget(self, attempt: int, started: float, delay: float) -> bool:
        elapsed = self._clock() - started
        return attempt < self.policy.max_attempts and elapsed + delay <= self.policy.max_elapsed

    def _wait(self, on_retry: RetryListener | None, event: RetryEvent) -> None:
        if on_retry is not None:
            on_retry(event)
        self._sleep(event.delay)


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


def field_errors(response: requests.Response) -> dict[str, tuple[str, ...]]:
    """Procurify's (Django REST framework) field messages, flattened to dotted paths."""
    try:
        body = response.json()
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


def strict_json(response: requests.Response) -> Any:
    """The body decoded as JSON. Bytes that are not valid in the answer's character set (UTF-8
    unless its ``Content-Type`` names another) are a ``ValueError``, as text that is not JSON
    is, never replacement characters that would pass for data."""
    charset = requests.utils.get_encoding_from_headers(response.headers)
    content_type = response.headers.get("Content-Type", "").lower()
    encoding = charset if charset and "charset" in content_type else "utf-8-sig"
    try:
        text = response.content.decode(encoding)
    except LookupError:  # a character set Python does not know
        raise ValueError(f"unknown character set {charset!r}") from None
    return json.loads(text)


def json_body(response: requests.Response, action: str) -> Any:
    """The decoded JSON body, or a ``TransientError`` that says the answer was not JSON."""
    try:
        return response.json()
    except ValueError as error:
        raise _not_json(action, f"HTTP {response.status_code}") from error


def _not_json(what: str, detail: str) -> TransientError:
    return TransientError(
        f"Procurify's answer to {what} was not valid JSON ({detail}); try again later."
    )
