"""What the sandbox answers: every operation of Procurify's contract, with its auth rules.

A request is matched to a contract operation (404 for an unknown path, 405 for another method);
its query and path parameters are checked against the operation (400 naming each parameter,
404 for a path parameter out of its choices); ``registry`` says which collection and action
serve it; ``reads`` and ``writes`` answer.
"""

from __future__ import annotations

__all__ = ["ProcurifyApi"]

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from nexla_procurify.sandbox import reads, writes
from nexla_procurify.sandbox.call import Call, not_found
from nexla_procurify.sandbox.contract import Contract
from nexla_procurify.sandbox.database import Database
from nexla_procurify.sandbox.hooks import PageHooks
from nexla_procurify.sandbox.registry import DOMAIN, ME_EMAIL, Action, routes
from nexla_procurify.sandbox.server import Request, Response

AUDIENCE = "https://api.procurify.com/"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - the contract's token endpoint, not a secret
TOKEN_ALIAS = "/api/v3/oauth/token"  # noqa: S105 - the one Procurify's user docs name
# parameters DRF's pagination reads leniently (a bad page is 404 "Invalid page.", a bad size
# falls back to the default): not refused as other wrongly typed parameters are
_PAGINATION = frozenset({"page", "page_size"})

Handler = Callable[[Database, PageHooks, Call], Response]
HANDLERS: Mapping[Action, Handler] = MappingProxyType(
    {
        "list": reads.list_records,
        "get": reads.get_record,
        "me": reads.me,
        "approvers": reads.approvers,
        "create": writes.create,
        "update": writes.update,
        "patch": writes.update,
        "revise": writes.update,
        "close": writes.close,
        "reopen": writes.reopen,
        "deactivate": writes.deactivate,
        "invite": writes.invite,
        "requisition": writes.requisition,
    }
)


class TokenStore:
    """Issued access tokens and their expiry; thread-safe."""

    def __init__(self, lifetime: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        token = "sbx_" + secrets.token_urlsafe(24)
        with self._lock:
            self._expiry[token] = self._clock() + self.lifetime
        return token

    def valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._expiry.get(token)
        return expiry is not None and self._clock() < expiry

    def expire_all(self) -> None:
        with self._lock:
            self._expiry.clear()


class ProcurifyApi:
    """The operations of a Procurify instance, served by ``LoopbackServer``.

    ``strict_query``: a query parameter the operation does not document is refused (400), so
    that a client sending one is caught; Procurify itself (Django REST framework) ignores it,
    as the sandbox does with ``strict_query=False``. Wrongly typed documented parameters are
    refused either way.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_lifetime: float,
        legacy_token_path_only: bool = False,
        database: Database | None = None,
        hooks: PageHooks | None = None,
        strict_query: bool = True,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.tokens = TokenStore(token_lifetime)
        self.database = database if database is not None else Database()
        self.contract: Contract = self.database.contract
        self.hooks = hooks if hooks is not None else PageHooks()
        self.strict_query = strict_query
        self.token_paths = (TOKEN_PATH,) if legacy_token_path_only else (TOKEN_PATH, TOKEN_ALIAS)
        self.routes = routes()
        unserved = [op.name for op in self.contract.operations if op.name not in self.routes]
        if unserved:
            raise RuntimeError(f"The sandbox serves no {', '.join(unserved)}")

    def dispatch(self, request: Request) -> Response:
        """The answer to one request: the token endpoint, or the contract operation its method
        and path address."""
        path = request.path
        if path in self.token_paths or path.rstrip("/") in self.token_paths:
            if request.method != "POST":
                return _not_allowed(request.method)
            return self._token(request)
        found = self.contract.find(request.method, path)
        if found is None:
            if self.contract.on_path(path):
                return _not_allowed(request.method)
            return not_found()
        operation, args = found
        refused = self._authorize(request)
        if refused is not None:
            return refused
        if self.contract.path_problems(operation, args):
            return not_found()
        problems = self.contract.query_problems(operation, request.multi)
        for name in list(problems):
            if name in _PAGINATION or (
                not self.strict_query and name not in operation.query_params
            ):
                del problems[name]
        if problems:
            return Response(400, problems)
        collection, action = self.routes[operation.name]
        call = Call(operation, collection, args, request)
        return HANDLERS[action](self.database, self.hooks, call)

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
        body: Any = request.json()
        if not isinstance(body, dict):
            return Response(
                400, {"error": "invalid_request", "error_description": "A JSON body is required."}
            )
        if body.get("grant_type") != "client_credentials":
            return Response(
                403,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "Only client_credentials is supported.",
                },
            )
        if body.get("audience") != AUDIENCE:
            return Response(
                403,
                {
                    "error": "access_denied",
                    "error_description": "Service not enabled within domain.",
                },
            )
        if not (
            _same(str(body.get("client_id", "")), self.client_id)
            and _same(str(body.get("client_secret", "")), self._client_secret)
        ):
            return Response(401, {"error": "access_denied", "error_description": "Unauthorized"})
        return Response(
            200,
            {
                "access_token": self.tokens.issue(),
                "scope": f"urn:procurify-api:domain:{DOMAIN} urn:procurify-api:email:{ME_EMAIL}",
                "expires_in": self.tokens.lifetime,
                "token_type": "Bearer",
            },
        )


def _not_allowed(method: str) -> Response:
    return Response(405, {"detail": f'Method "{method}" not allowed.'})


def _same(given: str, expected: str) -> bool:
    """Whether ``given`` is ``expected``, in constant time, for any text (``compare_digest``
    takes only ASCII strings; their UTF-8 bytes it takes all)."""
    return secrets.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
