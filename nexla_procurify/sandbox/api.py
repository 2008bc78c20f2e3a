"""What the sandbox answers: Procurify's token endpoints and API, with its auth rules."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from nexla_procurify.sandbox.server import Request, Response, Router

AUDIENCE = "https://api.procurify.com/"
TOKEN_PATHS = ("/api/v3/oauth/token", "/oauth/token")
DOMAIN = "sandbox"
ME = {
    "id": 1,
    "firstName": "Sandy",
    "lastName": "Box",
    "email": "sandy.box@sandbox.example",
    "is_active": True,
    "role": {"id": 1, "name": "Administrator"},
    "location": {"id": 1, "name": "Head Office"},
    "department": {"id": 1, "name": "Finance"},
    "position": "Controller",
}


class TokenStore:
    """Issued access tokens and their expiry; thread-safe."""

    def __init__(self, lifetime: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()
        self.issued = 0

    def issue(self) -> str:
        token = "sbx_" + secrets.token_urlsafe(24)
        with self._lock:
            self._expiry[token] = self._clock() + self.lifetime
            self.issued += 1
        return token

    def valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._expiry.get(token)
        return expiry is not None and self._clock() < expiry

    def expire_all(self) -> None:
        with self._lock:
            self._expiry.clear()


class ProcurifyApi:
    """The routes of a Procurify instance, served by ``LoopbackServer``."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_lifetime: float,
        legacy_token_path_only: bool = False,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.tokens = TokenStore(token_lifetime)
        self.router = Router()
        for path in TOKEN_PATHS:
            if legacy_token_path_only and path != "/oauth/token":
                continue
            self.router.add("POST", path, self._token)
        self.router.add("GET", "/api/v3/users/me", self._me)

    def dispatch(self, request: Request) -> Response:
        handler, params, path_known = self.router.resolve(request.method, request.path)
        if handler is None:
            if path_known:
                return Response(405, {"detail": f'Method "{request.method}" not allowed.'})
            return Response(404, {"detail": "Not found."})
        request = Request(
            request.method, request.path, request.query, request.headers, request.body, params
        )
        if request.path not in TOKEN_PATHS:
            refused = self._authorize(request)
            if refused is not None:
                return refused
        return handler(request)

    def _authorize(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return Response(401, {"detail": "Authentication credentials were not provided."})
        if not self.tokens.valid(token):
            return Response(401, {"detail": "Given token not valid for any token type"})
        if request.headers.get("x-procurify-client") != "api":
            return Response(400, {"detail": "The X-Procurify-Client: api header is required."})
        return None

    def _token(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return Response(400, {"error": "invalid_request",
                                  "error_description": "A JSON body is required."})
        if body.get("grant_type") != "client_credentials":
            return Response(403, {"error": "unsupported_grant_type",
                                  "error_description": "Only client_credentials is supported."})
        if body.get("audience") != AUDIENCE:
            return Response(403, {"error": "access_denied",
                                  "error_description": "Service not enabled within domain."})
        if not (
            secrets.compare_digest(str(body.get("client_id", "")), self.client_id)
            and secrets.compare_digest(str(body.get("client_secret", "")), self._client_secret)
        ):
            return Response(401, {"error": "access_denied", "error_description": "Unauthorized"})
        return Response(
            200,
            {
                "access_token": self.tokens.issue(),
                "scope": f"urn:procurify-api:domain:{DOMAIN} "
                f"urn:procurify-api:email:{ME['email']}",
                "expires_in": self.tokens.lifetime,
                "token_type": "Bearer",
            },
        )

    def _me(self, request: Request) -> Response:
        return Response(200, {"data": dict(ME), "metadata": {}})
