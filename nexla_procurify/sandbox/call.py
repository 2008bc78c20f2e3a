"""One request as the handlers see it: the contract operation it addresses, the collection that
serves it, and helpers shared by ``reads`` and ``writes``."""

from __future__ import annotations

__all__ = ["BadBody", "Call", "not_found"]

import json
from dataclasses import dataclass
from typing import Any

from nexla_procurify.sandbox.contract import Operation
from nexla_procurify.sandbox.database import Database
from nexla_procurify.sandbox.registry import ID_FIELDS, PATH_FIELDS
from nexla_procurify.sandbox.server import Request, Response
from nexla_procurify.sandbox.shape import Schema


def not_found() -> Response:
    """Procurify's 404 answer."""
    return Response(404, {"detail": "Not found."})


class BadBody(ValueError):
    """A body that is not JSON (DRF answers 400 "JSON parse error")."""


@dataclass(frozen=True)
class Call:
    """One request matched to a contract operation: the collection it addresses and its path
    parameters."""

    operation: Operation
    collection: str
    args: dict[str, str]  # path parameters
    request: Request

    def body(self) -> Any:
        """The request's JSON body (``None`` when empty); ``BadBody`` when it is not JSON."""
        if not self.request.body:
            return None
        try:
            return json.loads(self.request.body)
        except ValueError as exc:
            raise BadBody(f"JSON parse error - {exc}") from None

    def position(self, database: Database) -> int | None:
        """The position of the record the path addresses (``{id}``, ``{procurify_PO}``)."""
        table = database.table(self.collection)
        for name, value in self.args.items():
            fields: tuple[str, ...] = ()
            if name in PATH_FIELDS:
                fields = (PATH_FIELDS[name],)
            elif name == "id":
                fields = ID_FIELDS.get(self.collection, ("id",))
            for field in fields:
                with table.lock:
                    position = table.position_of(field, value)
                if position is not None:
                    return position
            if fields:
                return None
        return None

    def data_schema(self, database: Database) -> Schema:
        """The schema of the record this operation answers with."""
        return database.data_schema(self.operation)

    def enveloped(self, database: Database) -> bool:
        """Whether the answer wraps its record as ``{"data": ..., "metadata": ...}`` (payment
        method creates answer the bare record)."""
        _, schema = self.operation.success()
        if schema is None:
            return True
        return {"data", "metadata"} <= set(database.shaper.properties(schema) or {})

    def answer(self, database: Database, status: int, data: Any, position: int = 0) -> Response:
        """The answer with ``data``, wrapped in the envelope when this operation's answers are."""
        if not self.enveloped(database):
            return Response(status, data)
        return Response(status, {"data": data, "metadata": metadata(database, self, position)})


def metadata(database: Database, call: Call, position: int) -> dict[str, Any]:
    """A single answer's ``metadata``: generated from its schema, permissions granted."""
    _, schema = call.operation.success()
    if schema is None:
        return {}
    meta = database.shaper.properties(schema) or {}
    meta_schema = meta.get("metadata")
    if meta_schema is None or not database.shaper.properties(meta_schema):
        return {}
    record = database.plan_for(call.collection + ".metadata", meta_schema).record(position)
    granted: dict[str, Any] = _granted(record)
    return granted


def _granted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: True if k.startswith("can_") else _granted(v) for k, v in value.items()}
    return value
