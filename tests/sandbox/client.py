"""A plain HTTP client of a running sandbox, as a Procurify API user calls it (not the
connector), for the sandbox's own tests; valid bodies for its operations, and how its answers
are read."""

from __future__ import annotations

import time
from typing import Any

import requests

from nexla_procurify.sandbox import Sandbox
from nexla_procurify.sandbox.contract import Operation, contract
from nexla_procurify.sandbox.generate import Compiler

__all__ = ["PATH_ARGS", "UNIQUE", "Client", "credentials", "paging", "path_of", "valid_body"]

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
        return requests.post(self.base + path, timeout=10, json=credentials(self.sandbox)).json()

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        return self.http.request(method, self.base + path, json=body, params=params, timeout=30)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(self.base + path, params=params, timeout=30)

    def send(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, self.base + path, json=body, timeout=30)


def credentials(sandbox: Sandbox) -> dict[str, str]:
    """The body of a token request with the sandbox's credential."""
    credential = sandbox.credential()
    return {
        "client_id": credential["client_id"],
        "client_secret": credential["client_secret"],
        "audience": "https://api.procurify.com/",
        "grant_type": "client_credentials",
    }


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


UNIQUE = {"external_id": "CONTRACT-{}", "code": "C-90{}", "email": "new.person{}@example.com"}
"""Fields that must be unique in a created record, with the pattern of a unique value."""


def valid_body(operation: Operation, tag: int = 0) -> Any:
    """A body generated from the operation's request schema, its unique fields made unique."""
    if operation.request_body is None:
        return None
    body = Compiler("request", contract().defs, seed=11, anchor=time.time()).value(
        operation.request_body, "items", 40
    )  # "items": a list body gets one or two
    items = body if isinstance(body, list) else [body]
    for index, item in enumerate(items):
        for key, value in UNIQUE.items():
            if isinstance(item.get(key), str):
                item[key] = value.format(f"{tag}{index}")
        if "role_id" in item:
            item["role_id"] = 1 + index  # roles are a small fixed set
    return body
