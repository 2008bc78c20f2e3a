"""The values the hooks hand back to a host: small frozen dataclasses with ``to_dict()``.

As JSON lines they are Singer messages (``RECORD``, ``STATE``, ``SCHEMA``).
"""

from __future__ import annotations

__all__ = [
    "Checkpoint",
    "FieldError",
    "Record",
    "SchemaMessage",
    "ValidationResult",
    "WriteResult",
    "WriteStatus",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

WriteStatus = Literal["created", "updated", "unchanged", "validated", "rejected", "failed"]


@dataclass(frozen=True)
class FieldError:
    """One validation problem; ``field`` is ``None`` when no single field is at fault."""

    field: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON."""
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True)
class ValidationResult:
    """The result of checking a credential: ok, or the problems by field."""

    ok: bool
    errors: tuple[FieldError, ...] = ()

    @classmethod
    def of(cls, errors: tuple[FieldError, ...] | list[FieldError]) -> ValidationResult:
        """A result holding ``errors``: ok when there are none."""
        return cls(ok=not errors, errors=tuple(errors))

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON."""
        return {"ok": self.ok, "errors": [error.to_dict() for error in self.errors]}


@dataclass(frozen=True)
class Record:
    """One record read from a stream."""

    stream: str
    record: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The record as a Singer-style ``RECORD`` message."""
        return {"type": "RECORD", "stream": self.stream, "record": dict(self.record)}


@dataclass(frozen=True)
class Checkpoint:
    """State to hand back as ``state`` on the next run; resuming from it loses no record."""

    value: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint as a Singer-style ``STATE`` message."""
        return {"type": "STATE", "value": dict(self.value)}


@dataclass(frozen=True)
class SchemaMessage:
    """The JSON Schema of a stream's records, its key and bookmark fields."""

    stream: str
    schema: Mapping[str, Any]
    key_properties: tuple[str, ...] = ()
    bookmark_properties: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The schema as a Singer-style ``SCHEMA`` message."""
        message = {
            "type": "SCHEMA",
            "stream": self.stream,
            "schema": dict(self.schema),
            "key_properties": list(self.key_properties),
        }
        if self.bookmark_properties:
            message["bookmark_properties"] = list(self.bookmark_properties)
        return message


@dataclass(frozen=True)
class WriteResult:
    """The outcome of writing one input record (``index`` is its position in the input)."""

    index: int
    status: WriteStatus
    id: Any = None
    error: str | None = None
    details: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the record went through: its status is neither rejected nor failed."""
        return self.status not in ("rejected", "failed")

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON (``error`` and ``details`` only when there are some)."""
        result: dict[str, Any] = {"index": self.index, "status": self.status, "id": self.id}
        if self.error is not None:
            result["error"] = self.error
        if self.details:
            result["details"] = {key: list(value) for key, value in self.details.items()}
        return result
