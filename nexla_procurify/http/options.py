"""What a caller hands to one request besides its method and address (``RequestOptions``),
and what it is told before each retry (``RetryEvent``).
"""

from __future__ import annotations

__all__ = ["RequestFields", "RequestOptions", "RetryEvent", "RetryListener", "Scrubber"]

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import requests


@dataclass(frozen=True)
class RetryEvent:
    """Told to a request's ``on_retry`` listener before each retry (e.g. to slow a reader).

    ``status`` is the answer's HTTP status (``None`` when no answer came); ``delay`` the wait
    before the retry (the backoff, or the answer's ``Retry-After`` when longer);
    ``retry_after`` the answer's ``Retry-After`` in seconds (``None`` without one): the wait
    the server asked for; ``unusable`` says why a successful answer could not be used (its body
    was not JSON), else ``None``."""

    method: str
    path: str
    attempt: int
    status: int | None
    delay: float
    unusable: str | None = None
    retry_after: float | None = None


RetryListener = Callable[[RetryEvent], None]
# Applied to every answer's body as soon as it is read (masks secrets in it).
Scrubber = Callable[[requests.Response], None]


@dataclass(frozen=True, kw_only=True)
class RequestOptions:
    """One request's options. TLS verification is always on and answers are always read
    whole under the policy: neither is an option."""

    params: Mapping[str, Any] | None = None
    """The query, as ``requests`` takes it."""

    json: Any = None
    """A body to send as JSON (``None``: no JSON body)."""

    data: bytes | str | None = None
    """A body to send as is (with its own ``Content-Type`` header)."""

    headers: Mapping[str, str] | None = None
    """Headers added to the request."""

    timeout: float | tuple[float, float] | None = None
    """Connect and read timeouts in seconds (``None``: the policy's); always capped to what
    remains of the request's time."""

    allow_redirects: bool = True
    """Whether redirects within the same origin are followed (never for a POST)."""

    idempotent: bool | None = None
    """Whether the request may be repeated after it may have taken effect; ``None``: what
    the method implies (a token request is a POST that may be repeated)."""

    on_retry: RetryListener | None = None
    """Told before each retry."""

    scrub: Scrubber | None = None
    """Applied to every answer as soon as it is read, before anything decodes it."""


class RequestFields(TypedDict, total=False):
    """The ``RequestOptions`` a caller of a session gives as keyword arguments
    (``session.get(path, params=...)``); the session adds the headers and the scrubbing."""

    params: Mapping[str, Any] | None
    json: Any
    data: bytes | str | None
    headers: Mapping[str, str] | None
    timeout: float | tuple[float, float] | None
    allow_redirects: bool
    on_retry: RetryListener | None
