"""OAuth 2.0 client credentials: the token manager and the authenticated session."""

from __future__ import annotations

__all__ = [
    "AUDIENCE",
    "DEFAULT_LIFETIME",
    "LIVE_CHECK_POLICY",
    "TOKEN_PATHS",
    "AccessToken",
    "ProcurifySession",
    "TokenManager",
    "check_connection",
    "refresh_margin",
]

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Unpack

import requests
from requests.utils import guess_json_utf

from nexla_procurify import __version__
from nexla_procurify.credential import Credential
from nexla_procurify.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    ProcurifyError,
)
from nexla_procurify.http import (
    Answer,
    HttpClient,
    HttpPolicy,
    RequestFields,
    RequestOptions,
    error_for_response,
    json_body,
    loads,
    raise_for_response,
)
from nexla_procurify.messages import FieldError, ValidationResult
from nexla_procurify.secret import Secret, redact_text

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
    return (isinstance(value, str) and bool(value) and value.isascii()
            and all("!" <= char <= "~" for char in value))


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
        return f"TokenManager(base_url={self._credential.base_url!r})"

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


class ProcurifySession:
    """An authenticated session bound to one Procurify Base URL; safe to share between threads.

    ``request`` returns the final ``requests.Response`` for any HTTP answer from the API. It
    raises a ``ProcurifyError`` when no answer came at all, when no access token could be had
    (``AuthenticationError``, or ``ConfigurationError`` for a Base URL that is not Procurify),
    and for a path that is not relative to the Base URL (``ConfigurationError``).
    """

    def __init__(
        self,
        credential: Credential,
        *,
        policy: HttpPolicy | None = None,
        client: HttpClient | None = None,
    ) -> None:
        self.credential = credential
        self.client = client or HttpClient(policy)
        self.tokens = TokenManager(credential, self.client)

    @property
    def base_url(self) -> str:
        """The credential's Procurify URL, the root of every path."""
        return self.credential.base_url

    def __repr__(self) -> str:
        return f"ProcurifySession(base_url={self.base_url!r}, credential={self.credential.name!r})"

    def __enter__(self) -> ProcurifySession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    def request(
        self, method: str, path: str, **options: Unpack[RequestFields]
    ) -> requests.Response:
        """The final answer to ``method path`` (see the class); ``options`` as
        ``RequestOptions`` takes them (``params``, ``json``, ``headers``, ...)."""
        return self._authorized(method, path, RequestOptions(**options), decode=False).response

    def request_json(self, method: str, path: str, **options: Unpack[RequestFields]) -> Answer:
        """Like ``request``; a successful answer that is not JSON is retried like a 5xx.
        The ``Answer`` holds the decoded body (``None`` unless the answer was a success)."""
        return self._authorized(method, path, RequestOptions(**options), decode=True)

    def _authorized(
        self, method: str, path: str, options: RequestOptions, *, decode: bool
    ) -> Answer:
        if not path.startswith("/") or path.startswith("//"):
            raise ConfigurationError(
                f"A session path must be relative to the Base URL and start with '/': {path!r}"
            )
        url = self.base_url + path
        token = self.tokens.token()
        answer = self._send(method, url, options, token, decode=decode)
        if answer.status == 401:
            log.info("Procurify answered 401; renewing the access token and retrying once")
            answer.response.close()
            self.tokens.invalidate(token)
            token = self.tokens.token()
            answer = self._send(method, url, options, token, decode=decode)
        return answer

    def _send(
        self, method: str, url: str, options: RequestOptions, token: AccessToken, *, decode: bool
    ) -> Answer:
        """One call of the client with ``token``, its headers and the masking of answers."""
        sent = replace(options, headers=self._headers(token, options.headers or {}),
                       scrub=self._scrubber(token))
        if decode:
            return self.client.send_json(method, url, sent)
        return Answer(self.client.send(method, url, sent), None)

    def _scrubber(self, token: AccessToken) -> Callable[[requests.Response], None]:
        """Masks the secret and the token in every answer, before anything reads it."""
        secret = self.credential.client_secret

        def scrub_answer(response: requests.Response) -> None:
            scrub(response, secret, token.value)

        return scrub_answer

    def get(self, path: str, **options: Unpack[RequestFields]) -> requests.Response:
        """``request("GET", path, ...)``."""
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Unpack[RequestFields]) -> requests.Response:
        """``request("POST", path, ...)``."""
        return self.request("POST", path, **options)

    def put(self, path: str, **options: Unpack[RequestFields]) -> requests.Response:
        """``request("PUT", path, ...)``."""
        return self.request("PUT", path, **options)

    def patch(self, path: str, **options: Unpack[RequestFields]) -> requests.Response:
        """``request("PATCH", path, ...)``."""
        return self.request("PATCH", path, **options)

    @staticmethod
    def _headers(token: AccessToken, extra: Mapping[str, str]) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **extra,
            "Authorization": f"Bearer {token.value.reveal()}",
            "X-Procurify-Client": "api",
        }


# A live check answers within seconds: a person is waiting in front of a form. Its
# ``max_elapsed`` bounds the whole check (every token path and the API call together).
LIVE_CHECK_POLICY = HttpPolicy(connect_timeout=5.0, read_timeout=20.0, max_attempts=3,
                               max_elapsed=20.0)


def check_connection(credential: Credential, policy: HttpPolicy | None = None,
                     *, clock: Callable[[], float] = time.monotonic) -> ValidationResult:
    """Exchange a token and call ``GET /api/v3/users/me``; say which field is at fault.
    The whole check ends within the policy's ``max_elapsed`` (``LIVE_CHECK_POLICY``)."""
    policy = policy or LIVE_CHECK_POLICY
    client = HttpClient(policy, clock=clock, until=clock() + policy.max_elapsed)
    with ProcurifySession(credential, client=client) as session:
        try:
            response = session.get("/api/v3/users/me")
            if response.status_code == 401:
                raise AuthenticationError(
                    "Procurify issued a token but refused it: the API application may have "
                    "been deleted. Create a new one under Settings > Integrations > API."
                )
            raise_for_response(response, "read the API user (GET /api/v3/users/me)")
            json_body(response, "read the API user")
        except AuthenticationError as error:
            return ValidationResult.of(
                [FieldError("client_id", error.message), FieldError("client_secret", error.message)]
            )
        except (ConfigurationError, ConnectionFailedError) as error:
            return ValidationResult.of([FieldError("base_url", error.message)])
        except ApiError as error:
            field = "base_url" if 300 <= error.status < 400 else None  # sent elsewhere
            return ValidationResult.of([FieldError(field, error.message)])
        except ProcurifyError as error:
            return ValidationResult.of([FieldError(None, error.message)])
    return ValidationResult.of([])
