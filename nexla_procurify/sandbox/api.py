"""What the sandbox answers: Procurify's token endpoints and API, with its auth rules.

Routes are derived from the resource catalogue: a ``GET`` per readable resource and one route
per write operation.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from nexla_procurify import manifest
from nexla_procurify.resources import Operation, Resource
from nexla_procurify.sandbox import envelope, query
from nexla_procurify.sandbox.database import Database
from nexla_procurify.sandbox.hooks import PageHooks
from nexla_procurify.sandbox.server import Request, Response, Router
from nexla_procurify.sandbox.writes import field_errors, merge, validator

AUDIENCE = "https://api.procurify.com/"
TOKEN_PATHS = ("/api/v3/oauth/token", "/oauth/token")
DOMAIN = "sandbox"
ME: Mapping[str, Any] = {
    "id": 1,
    "user": 1,
    "firstName": "Sandy",
    "lastName": "Box",
    "email": "sandy.box@sandbox.example",
    "is_active": True,
    "role": {"id": 1, "name": "Administrator"},
    "location": {"id": 1, "name": "Head Office"},
    "department": None,
    "position": "Controller",
    "systemaccess_cache": {},
}
NOT_FOUND = {"detail": "Not found."}
INVALID_PAGE = {"detail": "Invalid page."}
# what a purchase order action does to the record
ACTIONS: Mapping[str, Mapping[str, Any]] = {
    "close": {"state": 3},
    "reopen": {"state": 5, "closed_date": None},
}
# creates whose 201 answer is the bare record (their response models have no envelope)
BARE_CREATES = frozenset({"company_payment_methods", "vendor_payment_methods"})


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
    """The routes of a Procurify instance, served by ``LoopbackServer``."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_lifetime: float,
        legacy_token_path_only: bool = False,
        database: Database | None = None,
        hooks: PageHooks | None = None,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.tokens = TokenStore(token_lifetime)
        self.database = database if database is not None else Database()
        self.hooks = hooks if hooks is not None else PageHooks()
        self.router = Router()
        for path in TOKEN_PATHS:
            if legacy_token_path_only and path != "/oauth/token":
                continue
            self.router.add("POST", path, self._token)
        self.router.add("GET", "/api/v3/users/me", self._me)
        self._add_catalogue_routes()

    def _add_catalogue_routes(self) -> None:
        for resource in self.database.catalogue.resources.values():
            if resource.readable and resource.path and resource.pagination != "single":
                self.router.add("GET", resource.path, self._lister(resource))
            for operation in resource.operations.values():
                self.router.add(operation.method, operation.path,
                                self._writer(resource, operation))

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
        return Response(200, envelope.single(dict(ME)))

    # -- lists ----------------------------------------------------------------------------------

    def _lister(self, resource: Resource) -> Callable[[Request], Response]:
        return lambda request: self._list(resource, request)

    def _list(self, resource: Resource, request: Request) -> Response:
        scope: query.Condition | None = None
        if resource.path_params:
            for param in resource.path_params:
                if request.params.get(param.name) not in param.choices:
                    return Response(404, NOT_FOUND)
            role, status = request.params["role"], request.params["status"]
            if (role, status) != ("purchased", "all"):
                scope = query.PurchaseOrderScope(role, status)
        table = self.database.table(resource.name)
        try:
            selection = query.parse(resource, table.plan.field_names, request.query, scope)
        except query.InvalidFilter as invalid:
            return Response(400, invalid.errors)
        base = f"http://{request.headers.get('host', '127.0.0.1')}{request.path}"
        extra: dict[str, Any] = {}
        with table.lock:
            positions = query.select(table, selection)
            paging: dict[str, Any] | None = None
            number = 1
            if resource.pagination == "none":
                shown = positions
            else:
                try:
                    page = envelope.paginate(request.query, len(positions),
                                             self.database.catalogue.max_page_size)
                except envelope.PageNotFound:
                    return Response(404, INVALID_PAGE)
                number = page.number
                shown = positions[page.start:page.stop]
                paging = envelope.pagination(page, base, request.query)
            records = [table.get(position) for position in shown]
            summary = envelope.SUMMARIES.get(resource.name)
            if summary is not None:
                extra = table.cached((selection, "summary"), lambda: summary(table, positions))
            if resource.name == "purchase_orders":
                counts = table.cached("counts", lambda: envelope.purchase_order_counts(table))
                extra = {"counts": {role: {**tally, "page": len(records)}
                                    for role, tally in counts.items()}}
        body = envelope.list_body(resource.name, records, paging, extra)
        self.hooks.fire(resource.name, number)
        return Response(200, body)

    # -- writes ---------------------------------------------------------------------------------

    def _writer(self, resource: Resource, operation: Operation) -> Callable[[Request], Response]:
        request_check = (
            None if operation.request_schema is None
            else validator(_request_schema(operation.request_schema))
        )

        def handle(request: Request) -> Response:
            body: Any = {}
            if request.body:
                try:
                    body = json.loads(request.body)
                except ValueError as exc:
                    return Response(400, {"detail": f"JSON parse error - {exc}"})
            if request_check is not None:
                errors = field_errors(request_check, body)
                if errors:
                    return Response(400, errors)
            if operation.name == "create":
                return self._create(resource, body)
            return self._change(resource, operation, request, body)

        return handle

    def _create(self, resource: Resource, body: dict[str, Any]) -> Response:
        database = self.database
        table = database.table(resource.name)
        check = database.stream_validator(resource.name)
        with table.lock:
            refused = self._duplicate(resource, body, None)
            if refused is not None:
                return refused

            def build(position: int) -> dict[str, Any]:
                base = table.plan.record(position)
                if not base:
                    base = {"id": position + 1, "created_at": database.now()}
                unique = resource.lookup.field if resource.lookup else None
                if unique is not None and unique in base:
                    base[unique] = None  # a natural key is never made up
                return database.stamped(resource.name, merge(base, body, check, ("id",)))

            _, record = table.append(build)
            table.creates += 1
        if resource.name in BARE_CREATES:
            return Response(201, record)
        return Response(201, envelope.single(record))

    def _change(self, resource: Resource, operation: Operation, request: Request,
                body: dict[str, Any]) -> Response:
        database = self.database
        table = database.table(resource.name)
        id_field = operation.id_field or "id"
        with table.lock:
            position = table.position_of(id_field, request.params.get(id_field, ""))
            if position is None:
                return Response(404, NOT_FOUND)
            current = table.get(position)
            if operation.name in ACTIONS:
                record = {**current, **ACTIONS[operation.name]}
                if operation.name == "close" and "closed_date" in record:
                    record["closed_date"] = database.now()
            else:
                refused = self._duplicate(resource, body, position)
                if refused is not None:
                    return refused
                protected = {"id", id_field, *resource.key}
                record = merge(current, body, database.stream_validator(resource.name),
                               protected)
            record = database.stamped(resource.name, record)
            table.put(position, record)
        return Response(200, envelope.single(record))

    def _duplicate(self, resource: Resource, body: dict[str, Any],
                   position: int | None) -> Response | None:
        """400 when the body reuses another record's unique natural key."""
        field = resource.lookup.field if resource.lookup else resource.upsert_key
        if field is None:
            return None
        value = body.get(field)
        if value is None or value == "":
            return None
        table = self.database.table(resource.name)
        if any(found != position for found in table.find(field, value)):
            noun = resource.title.lower().removesuffix("s")
            words = field.replace("_", " ")
            return Response(400, {field: [f"{noun} with this {words} already exists."]})
        return None


def _request_schema(path: str) -> dict[str, Any]:
    schema: dict[str, Any] = manifest.load_json(path)
    return schema
