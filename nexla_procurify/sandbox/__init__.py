"""An embedded Procurify-compatible server on loopback, for demos, tests and benchmarks.

    with Sandbox(records=25, seed=0) as sandbox:
        credential = sandbox.credential()   # a credential dict for this sandbox
        sandbox.inject(Fault("status", status=429, retry_after=1, path="/api/v3/users/me"))
        sandbox.edit_when("vendors", page=2, record_id=3)   # someone edits during a read

Every operation of Procurify's API contract (``contract/procurify.json``) is served as the
contract describes it: lists with Procurify's envelope, filters and ordering, single records,
writes with DRF-style field errors, from deterministic data of any size generated from the
contract's response schemas. Nothing here reads the connector's own catalogue.

Clients must be allowed loopback Base URLs: ``NEXLA_PROCURIFY_ALLOW_LOOPBACK=1``.
"""

from __future__ import annotations

__all__ = ["Fault", "LoggedRequest", "Sandbox"]

import copy
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from nexla_procurify.sandbox.api import ProcurifyApi
from nexla_procurify.sandbox.database import DEFAULT_RECORDS, Database
from nexla_procurify.sandbox.faults import Fault, FaultPlan
from nexla_procurify.sandbox.hooks import PageHooks
from nexla_procurify.sandbox.limits import RateLimit
from nexla_procurify.sandbox.server import LoggedRequest, LoopbackServer


class Sandbox:
    """A Procurify look-alike on loopback: the contract's API over generated data, with faults to
    inject and every request logged; a context manager that starts and stops it."""

    def __init__(
        self,
        *,
        port: int = 0,
        token_lifetime: float = 86400.0,
        latency: float = 0.0,
        client_id: str | None = None,
        client_secret: str | None = None,
        legacy_token_path_only: bool = False,
        records: int | Mapping[str, int] = DEFAULT_RECORDS,
        seed: int = 0,
        anchor: float | None = None,
        strict_query: bool = True,
        normalise: bool = False,
        list_lag: int = 0,
        rate_limit: float | None = None,
        max_at_once: int | None = None,
    ) -> None:
        """``records``: how many seeded records each collection has (an int for all, or a dict
        name -> count, others keeping the default). ``seed`` fixes the data; ``anchor`` (epoch
        seconds, default: the current hour) is the end of the 90-day window the generated
        modified timestamps fall in. ``strict_query``: refuse (400) query parameters the
        operation does not document; Procurify ignores them (``False``). ``normalise``: store
        written bodies as Procurify's Django REST framework serializers do (text trimmed,
        e-mails lower-cased, decimals to their places). ``list_lag``: a record created through
        the API is missing from the next ``list_lag`` list answers of its resource, as when
        Procurify's lists lag behind its writes. ``rate_limit`` (requests per second) and
        ``max_at_once`` (requests in progress): the rate-limit mode, answering API requests
        beyond either with 429 and ``Retry-After`` (``rate_limited`` counts them)."""
        self.client_id = client_id or "sandbox-" + secrets.token_hex(8)
        self._client_secret = client_secret or secrets.token_urlsafe(32)
        self.faults = FaultPlan()
        self.hooks = PageHooks()
        self.database = Database(
            records, seed=seed, anchor=anchor, normalise=normalise, list_lag=list_lag
        )
        self.api = ProcurifyApi(
            client_id=self.client_id,
            client_secret=self._client_secret,
            token_lifetime=token_lifetime,
            legacy_token_path_only=legacy_token_path_only,
            database=self.database,
            hooks=self.hooks,
            strict_query=strict_query,
        )
        self._server = LoopbackServer(
            self.api.dispatch,
            self.faults,
            port=port,
            latency=latency,
            rate_limit=RateLimit(rate_limit, max_at_once),
        )

    def __repr__(self) -> str:
        return f"Sandbox(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        """The root URL of the running sandbox (``http://127.0.0.1:<port>``)."""
        host, port = self._server.address
        return f"http://{host}:{port}"

    @property
    def rate_limited(self) -> int:
        """How many API requests the rate-limit mode answered with 429."""
        limiter = self._server.limiter
        return 0 if limiter is None else limiter.refused

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request the sandbox has answered, in order."""
        return self._server.log.entries()

    def requests_to(self, path: str, method: str | None = None) -> list[LoggedRequest]:
        """The requests answered on ``path`` (and ``method``, when given), in order."""
        return self._server.log.entries(method=method, path=path)

    def credential(self, name: str = "Procurify sandbox") -> dict[str, Any]:
        """A credential for this sandbox (it holds the sandbox's secret: keep it off screens)."""
        return {
            "name": name,
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "base_url": self.base_url,
        }

    def inject(self, *faults: Fault) -> None:
        """Arm ``faults``: the next matching requests get them instead of their answer."""
        for fault in faults:
            self.faults.add(fault)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (answers 401), as after 24 hours."""
        self.api.tokens.expire_all()

    # -- data -----------------------------------------------------------------------------------

    def records(self, resource: str) -> list[dict[str, Any]]:
        """The current records of ``resource`` in id order (copies, for assertions)."""
        table = self.database.table(resource)
        with table.lock:
            return [copy.deepcopy(record) for record in table.rows()]

    def record(self, resource: str, record_id: int | str) -> dict[str, Any] | None:
        """One record by id (or by key, e.g. an order's uuid); None when there is none."""
        table = self.database.table(resource)
        with table.lock:
            position = self.database.locate(resource, record_id)
            return None if position is None else copy.deepcopy(table.get(position))

    def created(self, resource: str) -> int:
        """How many records successful POST creates stored for ``resource``."""
        return self.database.table(resource).creates

    def edit(self, resource: str, record_id: int | str, **changes: Any) -> dict[str, Any]:
        """Another user edits a record: ``changes`` (default: a visible text change) and its
        cursor / modified fields set to now. ``record_id`` is the id (for orders and purchase
        orders, which have none, the hidden id 1..N) or the key (a uuid)."""
        return copy.deepcopy(self.database.edit(resource, record_id, changes))

    def add(self, resource: str, **fields: Any) -> dict[str, Any]:
        """Another user creates a record: the next id, cursor fields now, ``fields`` over it."""
        return copy.deepcopy(self.database.add(resource, fields))

    def clear(self, resource: str) -> None:
        """Empty a resource's table."""
        self.database.table(resource).clear()

    def on_page(
        self,
        resource: str,
        page: int,
        action: Callable[[Sandbox], object],
        *,
        times: int | None = 1,
    ) -> None:
        """Run ``action(sandbox)`` when page ``page`` of ``resource``'s list has been built,
        before it is sent (the first ``times`` times; None: every time)."""
        self.hooks.add(resource, page, lambda: action(self), times)

    def edit_when(
        self,
        resource: str,
        *,
        page: int,
        record_id: int | str | None = None,
        changes: Mapping[str, Any] | None = None,
        create: bool = False,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        """When page ``page`` of ``resource`` is served: edit ``record_id`` (with ``changes``)
        and/or create a record (with ``fields``), as another user would during a read."""

        def act(sandbox: Sandbox) -> None:
            if record_id is not None:
                sandbox.edit(resource, record_id, **dict(changes or {}))
            if create:
                sandbox.add(resource, **dict(fields or {}))

        self.on_page(resource, page, act)

    def start(self) -> Sandbox:
        """Start serving (in a thread); returns the sandbox."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
