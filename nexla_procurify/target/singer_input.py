"""The target's input: Singer messages, one JSON object per line, read lazily and bounded.

``SCHEMA``, ``RECORD`` and ``STATE`` come out as small values with their line number;
``ACTIVATE_VERSION`` is skipped (Procurify records have no table versions to switch). Anything
else that is not a usable Singer message (a line that is not JSON, a message without its
``type`` or ``stream``, ``BATCH``) is a ``SingerInputError`` naming the line: the stream is
broken and nothing after it can be trusted. A ``RECORD`` whose ``record`` is not an object is
passed on as it is: the destination rejects it, as ``write`` rejects such a line.
"""

from __future__ import annotations

__all__ = [
    "IGNORED_TYPES",
    "RecordLine",
    "SchemaLine",
    "SingerInput",
    "SingerInputError",
    "StateLine",
]

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nexla_procurify import jsonlines
from nexla_procurify.destination import UnreadableRecord
from nexla_procurify.errors import ProcurifyError

IGNORED_TYPES = ("ACTIVATE_VERSION",)


class SingerInputError(ProcurifyError):
    """The input is not a Singer stream the target can follow (the line is named)."""


@dataclass(frozen=True)
class SchemaLine:
    """A ``SCHEMA`` message: the stream it announces, and its line in the input."""

    stream: str
    line: int


@dataclass(frozen=True)
class RecordLine:
    """A ``RECORD`` message: its stream, the record, and its line in the input."""

    stream: str
    record: Any
    line: int


@dataclass(frozen=True)
class StateLine:
    """A ``STATE`` message: its value, echoed once what came before it is written."""

    value: Any
    line: int


class SingerInput(jsonlines.StoppableLines):
    """The messages of a binary stream until its end or ``stop()``; ``stopped_by`` is the
    signal that stopped it early. Not a value: the reader of one run."""

    def __iter__(self) -> Iterator[SchemaLine | RecordLine | StateLine]:
        for number, value in self.numbered():
            message = _message(value, number)
            if message is not None:
                yield message


def _message(value: Any, number: int) -> SchemaLine | RecordLine | StateLine | None:
    where = f"Input line {number}"
    if isinstance(value, UnreadableRecord):
        raise SingerInputError(f"{value.reason.rstrip('.')}: the input is not a Singer stream.")
    if not isinstance(value, dict):
        raise SingerInputError(
            f"{where} is not a Singer message: one JSON object per line, "
            'such as {"type": "RECORD", "stream": ..., "record": ...}.'
        )
    kind = value.get("type")
    if kind == "STATE":
        if "value" not in value:
            raise SingerInputError(f"{where} is a STATE message without its 'value'.")
        return StateLine(value["value"], number)
    if kind in IGNORED_TYPES:
        return None
    if kind not in ("SCHEMA", "RECORD"):
        if kind == "BATCH":
            raise SingerInputError(
                f"{where} is a BATCH message: target-procurify takes "
                "records one per RECORD message; turn batching off in the "
                "tap."
            )
        shown = kind if isinstance(kind, str) and len(kind) <= 40 else "..."
        raise SingerInputError(
            f"{where} has no Singer message type that target-procurify takes "
            f"(got {shown!r}): SCHEMA, RECORD, STATE or ACTIVATE_VERSION."
        )
    stream = value.get("stream")
    if not isinstance(stream, str) or not stream:
        raise SingerInputError(f"{where} is a {kind} message without its 'stream' name.")
    if kind == "SCHEMA":
        return SchemaLine(stream, number)
    return RecordLine(stream, value.get("record"), number)
