"""An embedded Procurify-compatible server on loopback, for demos, tests and benchmarks.

    with Sandbox() as sandbox:
        credential = sandbox.credential()   # a credential dict for this sandbox
        sandbox.inject(Fault("status", status=429, retry_after=1, path="/api/v3/users/me"))

Clients must be allowed loopback Base URLs: ``NEXLA_PROCURIFY_ALLOW_LOOPBACK=1``.
"""

from __future__ import annotations

import secrets
from typing import Any

from nexla_procurify.sandbox.api import ProcurifyApi
from nexla_procurify.sandbox.faults import Fault, FaultPlan
from nexla_procurify.sandbox.server import LoggedRequest, LoopbackServer

__all__ = ["Fault", "LoggedRequest", "Sandbox"]


class Sandbox:
    def __init__(
        self,
        *,
        port: int = 0,
        token_lifetime: float = 86400.0,
        latency: float = 0.0,
        client_id: str | None = None,
        client_secret: str | None = None,
        legacy_token_path_only: bool = False,
    ) -> None:
        self.client_id = client_id or "sandbox-" + secrets.token_hex(8)
        self._client_secret = client_secret or secrets.token_urlsafe(32)
        self.faults = FaultPlan()
        self.api = ProcurifyApi(
            client_id=self.client_id,
            client_secret=self._client_secret,
            token_lifetime=token_lifetime,
            legacy_token_path_only=legacy_token_path_only,
        )
        self._server = LoopbackServer(
            self.api.dispatch, self.faults, port=port, latency=latency
        )

    def __repr__(self) -> str:
        return f"Sandbox(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        host, port = self._server.address
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[LoggedRequest]:
        return self._server.log.entries()

    def requests_to(self, path: str, method: str | None = None) -> list[LoggedRequest]:
        return self._server.log.entries(method=method, path=path)

    @property
    def latency(self) -> float:
        return self._server.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._server.latency = seconds

    def credential(self, name: str = "Procurify sandbox") -> dict[str, Any]:
        """A credential for this sandbox (it holds the sandbox's secret: keep it off screens)."""
        return {
            "name": name,
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "base_url": self.base_url,
        }

    def inject(self, *faults: Fault) -> None:
        for fault in faults:
            self.faults.add(fault)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (answers 401), as after 24 hours."""
        self.api.tokens.expire_all()

    def start(self) -> Sandbox:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
