"""OAuth 2.0 client credentials, the token side: exchanging the credential for an access token
at Procurify's token endpoint, how long to keep it and when to renew it (``TokenManager``), and
masking our secrets in whatever an answer repeats (``scrub``). The session that uses the token
is ``auth.py``'s.
"""

from __future__ import annotations

__all__ = [
    "AUDIENCE",
    "DEFAULT_LIFETIME",
    "TOKEN_PATHS",
    "USER_AGENT",
    "AccessToken",
    "TokenManager",
    "refresh_margin",
    "scrub",
]

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from requests.utils import guess_json_utf

from nexla_procurify import __version__
from nexla_procurify.credential import Credential
from nexla_procurify.errors import AuthenticationError, ConfigurationError
from nexla_procurify.http import HttpClient, RequestOptions, error_for_response, loads
from nexla_procurify.secret import Secret, redact_text

# The same logger as the session's: what a host configures for ``nexla_procurify.auth`` holds.
log = logging.getLogger("nexla_procurify.auth")

TOKEN_PATHS = ("/api/v3/oauth/token", "/oauth/token")
AUDIENCE = "https://api.procurify.com/"
DEFAULT_LIFETIME = 86400.0
# Whatever ``expires_in`` says, a token is kept at least this long (so that a server saying
# 0, or -1, cannot make every call exchange a token; a 401 still renews it earlier) and at
# most a day.
MIN_LIFETIME = 60.0
MAX_LIFETIME = 86400.0
MAX_REFRESH_MARGIN = 300.0
NOT_PROCURIFY = (
    "The Base URL answered, but not like Procurify: it gave no access token. Check that it "
    "is your company's Procurify address."
)


@dataclass(frozen=True)
class AccessToken:
    """A bearer token (never shown), when it expires and when to refresh it before that."""

    value: Secret
    expires_at: float
    refresh_at: float

    def fresh(self, now: float) -> bool:
        """Whether the token may still be used at ``now`` (before its refresh time)."""
        return now < self.refresh_at


def token_lifetime(expires_in: object) -> float:
    """The lifetime to assume for ``expires_in`` as a server sent it: a number (or a numeric
    text) within ``MIN_LIFETIME`` and ``MAX_LIFETIME``; anything else (missing, NaN,
    infinite, not a number) is the usual day, and a 401 renews a token that ends sooner."""
    if isinstance(expires_in, bool):
        return DEFAULT_LIFETIME
    if isinstance(expires_in, str):
        try:
            expires_in = float(expires_in.strip())
        except ValueError:
            return DEFAULT_LIFETIME
    if not isinstance(expires_in, int | float):
        return DEFAULT_LIFETIME
    try:
        seconds = float(expires_in)
    except OverflowError:  # an integer too large for a float
        return MAX_LIFETIME
    if not math.isfinite(seconds):
        return DEFAULT_LIFETIME
    return min(MAX_LIFETIME, max(MIN_LIFETIME, seconds))


def usable_token(value: object) -> bool:
    """Whether ``value`` can be sent as a bearer token: printable ASCII, no spaces."""
    return (
        isinstance(value, str)
        and bool(value)
        and value.isascii()
        and all("!" <= char <= "~" for char in value)
    )


def refresh_margin(lifetime: float) -> float:
    """How long before expiry to renew: five minutes, or a tenth of a short lifetime."""
    return min(MAX_REFRESH_MARGIN, lifetime / 10)


class TokenManager:
    """Fetches the token only when needed, caches it, and renews it with one thread while
    the others wait for the result."""

    def __init__(
        self,
        credential: Credential,
        client: HttpClient,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credential = credential
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._token_path: str | None = None
        self.exchanges = 0

    def __repr__(self) -> str:
        return self._credential.masked(f"TokenManager(base_url={self._credential.base_url!r})")

    def token(self) -> AccessToken:
        """A fresh token: the current one, or a new one fetched (one fetch at a time)."""
        current = self._token
        if current is not None and current.fresh(self._clock()):
            return current
        with self._lock:
            current = self._token
            if current is not None and current.fresh(self._clock()):
                return current
            self._token = self._exchange()
            return self._token

    def invalidate(self, rejected: AccessToken) -> None:
        """Forget ``rejected`` (answered with 401) unless another thread already renewed it."""
        with self._lock:
            if self._token is rejected:
                self._token = None

    def _exchange(self) -> AccessToken:
        paths = (self._token_path,) if self._token_path else TOKEN_PATHS
        response: requests.Response | None = None
        for path in paths:
            assert path is not None
            response = self._post_token(path)
            if response.status_code != 404:
                self._token_path = path
                break
        assert response is not None
        return self._token_from(response)

    def _post_token(self, path: str) -> requests.Response:
        body = {
            "client_id": self._credential.client_id,
            "client_secret": self._credential.client_secret.reveal(),
            "audience": AUDIENCE,
            "grant_type": "client_credentials",
        }
        secret = self._credential.client_secret

        def scrub_refusal(response: requests.Response) -> None:
            if response.status_code >= 300:  # a success holds the token: read it first
                scrub(response, secret)

        # Asking for a token twice is harmless, so the policy may retry this POST freely.
        return self._client.send(
            "POST",
            self._credential.base_url + path,
            RequestOptions(
                json=body,
                headers={"Accept": "application/json", "User-Agent": USER_AGENT},
                idempotent=True,
                scrub=scrub_refusal,
            ),
        )

    def _token_from(self, response: requests.Response) -> AccessToken:
        status = response.status_code
        if status in (400, 401, 403):
            raise AuthenticationError(
                f"Procurify rejected the Client ID or Client Secret (HTTP {status}). Copy "
                "both again from Settings > Integrations > API in Procurify; if the secret "
                "was lost, create a new API application."
            )
        if status == 404:
            raise ConfigurationError(f"{NOT_PROCURIFY} (The token endpoint answered HTTP 404.)")
        if status >= 300:
            raise error_for_response(response, "get an access token")
        try:
            payload = loads(response)
        except ValueError as error:
            reason = str(error)
        else:
            reason = ""
        # Raised outside the handler: the decoding error would carry the body (the token).
        if reason:
            raise ConfigurationError(f"{NOT_PROCURIFY} (Its answer was {reason}.)")
        if not isinstance(payload, dict):
            raise ConfigurationError(NOT_PROCURIFY)
        value = payload.get("access_token")
        if not isinstance(value, str) or not value:
            raise ConfigurationError(NOT_PROCURIFY)
        if not usable_token(value):
            raise AuthenticationError(
                "The token endpoint issued an access token that cannot be sent in an HTTP "
                "header (it holds spaces or characters outside printable ASCII): that is not "
                "a Procurify token. Check that the Base URL is your company's Procurify "
                "address."
            )
        lifetime = token_lifetime(payload.get("expires_in"))
        self.exchanges += 1
        now = self._clock()
        log.info("Obtained a Procurify access token valid for %.0fs", lifetime)
        return AccessToken(
            value=Secret(value),
            expires_at=now + lifetime,
            refresh_at=now + lifetime - refresh_margin(lifetime),
        )


USER_AGENT = f"nexla-procurify/{__version__}"


def scrub(response: requests.Response, *secrets: Secret) -> None:
    """Mask our secrets in an answer, in any spelling: its text ends up in records,
    messages and results. The body is read as its readers will read it (its declared
    character set, else JSON's), so that no encoding hides a secret from the masking."""
    content = response.content
    if not content:
        return
    guessed: str | None = guess_json_utf(content)  # type: ignore[no-untyped-call]
    encoding = response.encoding or guessed or "utf-8"
    try:
        text = content.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        encoding, text = "utf-8", content.decode("utf-8", "surrogateescape")
    cleaned = redact_text(text, secrets)
    if cleaned != text:
        # requests keeps the body in ``_content``; every reader (``.json()``, ``.text``)
        # goes through it.
        response._content = cleaned.encode(encoding, "surrogateescape")
