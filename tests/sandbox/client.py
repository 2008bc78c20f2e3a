"""A plain HTTP client of a running sandbox, as a Procurify API user calls it (not the
connector), for the sandbox's own tests; and how its answers are read."""

from __future__ import annotations

from typing import Any

import requests

from nexla_procurify.sandbox import Sandbox
from nexla_procurify.sandbox.contract import Operation

__all__ = ["PATH_ARGS", "Client", "paging", "path_of"]

PATH_ARGS = {"id": "3", "procurify_PO": "3", "role": "purchased", "status": "all"}
"""A value for each path parameter of the contract's operations."""


class Client:
    """Calls a sandbox with a token it asked for (the Procurify API's own headers)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.base = sandbox.base_url
        self.http = requests.Session()
        self.http.headers.update(
            {"Authorization": f"Bearer {self.token()['access_token']}", "X-Procurify-Client": "api"}
        )

    def token(self, path: str = "/oauth/token") -> Any:
        """The answer of the token endpoint at ``path`` to the sandbox's credential."""
        credential = self.sandbox.credential()
        return requests.post(
            self.base + path,
            timeout=10,
            json={
                "client_id": credential["client_id"],
                "client_secret": credential["client_secret"],
                "audience": "https://api.procurify.com/",
                "grant_type": "client_credentials",
            },
        ).json()

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        return self.http.request(method, self.base + path, json=body, params=params, timeout=30)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(self.base + path, params=params, timeout=30)

    def send(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, self.base + path, json=body, timeout=30)


def path_of(operation: Operation) -> str:
    """The operation's path with a value for each of its parameters."""
    path = operation.path
    for name, value in PATH_ARGS.items():
        path = path.replace("{" + name + "}", value)
    return path


def paging(body: dict[str, Any]) -> dict[str, Any]:
    """The pagination of a list answer (at the top, or in its ``metadata``)."""
    found: dict[str, Any] = (
        body["pagination"] if "pagination" in body else (body["metadata"]["pagination"])
    )
    return found
