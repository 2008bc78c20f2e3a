"""OAuth 2.0 client credentials, the session side: ``ProcurifySession`` sends each request with
a fresh access token (renewed once on a 401), and ``check_connection`` is the live check of a
credential. Tokens themselves are ``tokens.py``'s; its names a caller knows from here are
re-exported.
"""

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
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Unpack

import requests

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
    json_body,
    raise_for_response,
)
from nexla_procurify.messages import FieldError, ValidationResult
from nexla_procurify.tokens import (
    AUDIENCE,
    DEFAULT_LIFETIME,
    TOKEN_PATHS,
    USER_AGENT,
    AccessToken,
    TokenManager,
    refresh_margin,
    scrub,
)

log = logging.getLogger("nexla_procurify.auth")


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
        return self.credential.masked(
            f"ProcurifySession(base_url={self.base_url!r}, credential={self.credential.name!r})"
        )

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
        sent = replace(
            options,
            headers=self._headers(token, options.headers or {}),
            scrub=self._scrubber(token),
        )
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
LIVE_CHECK_POLICY = HttpPolicy(
    connect_timeout=5.0, read_timeout=20.0, max_attempts=3, max_elapsed=20.0
)


def check_connection(
    credential: Credential,
    policy: HttpPolicy | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> ValidationResult:
    """Exchange a token and call ``GET /api/v3/users/me``; say which field is at fault.
    The whole check ends within the policy's ``max_elapsed`` (``LIVE_CHECK_POLICY``). The
    messages mask the secret where they quote another field repeating it (the Base URL's
    host)."""
    result = _checked_connection(credential, policy or LIVE_CHECK_POLICY, clock)
    return ValidationResult.of(
        [FieldError(error.field, credential.masked(error.message)) for error in result.errors]
    )


def _checked_connection(
    credential: Credential, policy: HttpPolicy, clock: Callable[[], float]
) -> ValidationResult:
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
