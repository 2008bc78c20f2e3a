"""What a configuration asks for, and each record made ready to send: pure, no I/O.

A ``Plan`` resolves a ``DestinationConfig`` once per run (the resource, the operation sent,
the update an upsert uses, the request schema's validator). ``Plan.prepare`` turns one input
record into a ``Prepared`` one (what to send, and where) or raises ``RecordRejected`` with the
field and reason: an unreadable or non-object record, nesting too deep, what the request schema
refuses, a missing or unusable id or upsert key, a value that is not JSON.
"""

from __future__ import annotations

__all__ = [
    "MAX_NESTING_DEPTH",
    "SAFE_ID",
    "Plan",
    "Prepared",
    "UnreadableRecord",
]

import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from nexla_procurify.destination.attempt import RecordRejected, encode, rejected_for_fields
from nexla_procurify.destination.config import MAX_SHOWN_VALUE, UPSERT, DestinationConfig
from nexla_procurify.resources import Operation, Resource
from nexla_procurify.validation import FieldProblems, schema_problems, shipped_validator

# Lists and objects nested deeper than this are refused before validation (no real Procurify
# record comes close; validating or encoding thousands of levels exhausts the stack).
MAX_NESTING_DEPTH = 64
# An id goes into a URL path: digits only (Procurify's ids are integers), never '/', '..',
# '?' or '#'.
SAFE_ID = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class UnreadableRecord:
    """An input record its reader could not read (such as a damaged line of a file): its
    result is ``rejected`` with ``reason``, and it is never sent."""

    reason: str


@dataclass(frozen=True)
class Prepared:
    """A validated record: what to send, and where. ``defaulted`` names the fields the
    connector added (Procurify computes them); they are not the user's and are never
    compared with, or patched onto, an existing record."""

    body: dict[str, Any]
    target_id: str | int | None = None
    key_value: str | None = None
    defaulted: frozenset[str] = frozenset()

    @property
    def given(self) -> dict[str, Any]:
        """The fields the record itself gave."""
        return {name: value for name, value in self.body.items() if name not in self.defaulted}


@dataclass(frozen=True, eq=False)
class Plan:
    """The write a configuration asks for, resolved once per run and shared by its workers.

    ``operation`` is what is sent for a record (``create`` for an upsert); ``update`` is what
    an upsert sends to a record it found (``PATCH`` where the resource has it, else ``PUT``).
    """

    config: DestinationConfig
    resource: Resource
    operation: Operation
    update: Operation | None
    validator: Draft202012Validator | None

    @classmethod
    def of(cls, config: DestinationConfig, resource: Resource | None = None) -> Plan:
        """The plan of ``config``, for ``resource`` (default: the catalogue's, by name)."""
        resource = resource if resource is not None else config.target
        upsert = config.operation == UPSERT
        operation = resource.operation("create" if upsert else config.operation)
        update = None
        if upsert:
            update = resource.operations.get("patch") or resource.operations.get("update")
        schema_path = operation.request_schema
        return cls(
            config,
            resource,
            operation,
            update,
            shipped_validator(schema_path) if schema_path else None,
        )

    @property
    def upsert(self) -> bool:
        """Whether the operation is an upsert."""
        return self.config.operation == UPSERT

    # ---- the fields that name a record

    @property
    def lookup_field(self) -> str:
        """The field a record is looked up by (``key`` when the resource has no lookup)."""
        lookup = self.resource.lookup
        return lookup.field if lookup else "key"

    @property
    def id_field(self) -> str:
        """The field of Procurify's records that holds their id (the resource's key)."""
        return self.resource.key[0] if self.resource.key else "id"

    def id_of(self, record: Mapping[str, Any] | None) -> Any:
        """The id of a record as Procurify answered it (``None`` when it has none)."""
        if not isinstance(record, Mapping):
            return None
        return record.get(self.id_field)

    def request_fields(self) -> Mapping[str, Any]:
        """The request schema's field schemas (they tell decimals and e-mails apart)."""
        schema = self.validator.schema if self.validator else None
        properties = schema.get("properties") if isinstance(schema, Mapping) else None
        return properties if isinstance(properties, Mapping) else {}

    def addressed(self, record: object) -> Hashable | None:
        """The id or key that names the Procurify record ``record`` addresses (records that
        address the same one are written one after the other), or ``None``."""
        if not isinstance(record, Mapping):
            return None
        name = self._address_field()
        value = record.get(name) if name else None
        if isinstance(value, str | int) and not isinstance(value, bool):
            return (name, value)
        return None

    def _address_field(self) -> str | None:
        if self.upsert:
            return self.resource.upsert_key
        if self.operation.id_field:
            return self.operation.id_field
        return self.resource.lookup.field if self.resource.lookup else None

    # ---- preparation

    def prepare(self, record: object) -> Prepared:
        """``record`` made ready to send, or ``RecordRejected`` saying why it cannot be."""
        if isinstance(record, UnreadableRecord):
            raise RecordRejected(record.reason, {"record": ("could not be read",)})
        if not isinstance(record, Mapping):
            raise RecordRejected(
                f"The record must be a JSON object, not {_json_kind(record)}.",
                {"record": ("must be a JSON object",)},
            )
        _check_nesting(record)
        try:
            body, defaulted = self._body(record)
            problems = schema_problems(self.validator, body) if self.validator else {}
            target_id = self._target_id(record, problems)
            key_value = self._upsert_key_value(record, problems)
            if problems:
                raise rejected_for_fields(problems)
            _check_json(body)
        except RecursionError:
            raise _too_deep("record") from None
        return Prepared(body=body, target_id=target_id, key_value=key_value, defaulted=defaulted)

    def _target_id(self, record: Mapping[str, Any], problems: FieldProblems) -> int | None:
        id_field = self.operation.id_field
        if id_field is None:
            return None
        value = record.get(id_field)
        if value is None:
            problems.setdefault(id_field, []).append(
                f"is required: it says which {self.resource.title} record to "
                f"{self.config.operation}"
            )
            return None
        # Every id in Procurify's write paths is an integer (the contract's path parameters);
        # digits as text (from a CSV) are the same id. Nothing else goes into a URL path.
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str) and SAFE_ID.fullmatch(value):
            return int(value)  # results carry the id as Procurify does: a number
        problems.setdefault(id_field, []).append(
            "must be a whole number (Procurify's id of the record)"
        )
        return None

    def _upsert_key_value(self, record: Mapping[str, Any], problems: FieldProblems) -> str | None:
        if not self.upsert:
            return None
        key = self.resource.upsert_key
        assert key is not None
        value = record.get(key)
        if not isinstance(value, str) or not value:
            problems.setdefault(key, []).append(
                "is required (non-empty text) for an upsert: it is how the record is found"
            )
            return None
        return value

    def _body(self, record: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
        """The record as sent (what is validated): without the id field unless the schema
        declares it, with the operation's defaults for the fields it leaves out (and their
        names); an action (close, reopen, deactivate) sends no body."""
        if self.operation.request_schema is None:
            return {}, frozenset()
        body = dict(record)
        id_field = (self.update or self.operation).id_field
        schema = self.validator.schema if self.validator else None
        declared = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        if id_field is not None and id_field not in declared:
            body.pop(id_field, None)
        defaulted = frozenset(name for name in self.operation.defaults if name not in body)
        body.update({name: self.operation.defaults[name] for name in defaulted})
        return body, defaulted


def _check_nesting(record: Mapping[str, Any]) -> None:
    """Refuse a field nested more than ``MAX_NESTING_DEPTH`` levels (or holding itself),
    without recursion: validation and encoding would otherwise exhaust the stack."""
    for name, value in record.items():
        pending: list[tuple[object, int]] = [(value, 1)]
        while pending:
            item, depth = pending.pop()
            if isinstance(item, Mapping):
                children: Iterable[object] = item.values()
            elif isinstance(item, list | tuple):
                children = item
            else:
                continue
            if depth > MAX_NESTING_DEPTH:
                raise _too_deep(str(name)[:MAX_SHOWN_VALUE])
            pending.extend((child, depth + 1) for child in children)


def _too_deep(name: str) -> RecordRejected:
    reason = f"is nested too deeply (more than {MAX_NESTING_DEPTH} levels of lists or objects)"
    return RecordRejected(f"Invalid record: {name} {reason}.", {name: (reason,)})


def _check_json(body: Mapping[str, Any]) -> None:
    try:
        encode(body)
    except (TypeError, ValueError):
        raise RecordRejected(
            "The record holds a value that cannot be sent as JSON (such as NaN, infinity, "
            "a date object or bytes): convert it to text or a number first.",
            {"record": ("holds a value that is not JSON",)},
        ) from None


def _json_kind(value: object) -> str:
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"
