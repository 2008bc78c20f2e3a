"""JSON from the user's files and input lines, bounded, and with a message for each way it can
be damaged: the command line's credential, state and config files and ``write``'s input.

* ``bounded_lines(stream, limit)`` reads lines of at most ``limit`` bytes: a longer line is
  never held whole (its rest is read and dropped in small chunks) and comes out as
  ``TOO_LONG``, so that it is one rejected record and the run goes on with memory bounded.
* ``decode_line(raw, number, limit)`` is the record on a line, or an ``UnreadableRecord``
  saying what is wrong with the line: too long, a byte order mark, UTF-16, not UTF-8, JSON
  cut short, not JSON, nested too deeply.
* ``StoppableLines(stream, limit)`` is the numbered values of a stream's lines (blank lines
  skipped, ``decode_line`` for each), read lazily until the stream's end or ``stop(signum)``:
  the reader under ``write``'s records and ``target-procurify``'s Singer messages.
* ``line_limit(value)`` is ``--max-line-bytes`` checked: from 1 byte to 1 GiB.
* ``load_object(text, what)`` is a file's JSON object, or a ``ValueError`` whose message says
  what is wrong: not JSON, a number too large (``1e400``) or not finite, nesting too deep.
"""

from __future__ import annotations

__all__ = [
    "LARGEST_LINE_BYTES",
    "MAX_LINE_BYTES",
    "TOO_LONG",
    "StoppableLines",
    "bounded_lines",
    "decode_line",
    "line_limit",
    "load_object",
]

import codecs
import json
import math
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

from nexla_procurify.destination import MAX_NESTING_DEPTH, UnreadableRecord
from nexla_procurify.errors import ConfigurationError

MAX_LINE_BYTES = 16 * 1024 * 1024  # the default largest input line
LARGEST_LINE_BYTES = 1024 * 1024 * 1024  # the most --max-line-bytes may be: a line is held whole
DISCARD_CHUNK = 1024 * 1024  # the rest of a line too long is dropped this much at a time
MAX_INTEGER_DIGITS = 4000  # below Python's own limit on converting digits to an int


class _TooLong:
    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG: Final = _TooLong()


def line_limit(value: int) -> int:
    """``value`` as the largest input line (``--max-line-bytes``), or a ``ConfigurationError``
    when it is not from 1 byte to ``LARGEST_LINE_BYTES`` (a line that long is held in memory
    whole; a larger number is not even a size the reader can ask for)."""
    if not 1 <= value <= LARGEST_LINE_BYTES:
        raise ConfigurationError(
            "--max-line-bytes must be a whole number of bytes from 1 to "
            f"{LARGEST_LINE_BYTES} (1 GiB)."
        )
    return value


def bounded_lines(stream: BinaryIO, limit: int) -> Iterator[bytes | _TooLong]:
    """The stream's lines (with their newline), each at most ``limit`` bytes besides the
    newline; ``TOO_LONG`` for a longer line, which is read on to its end but never held."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while not line.endswith(b"\n"):
            line = stream.readline(DISCARD_CHUNK)
            if not line:
                break
        yield TOO_LONG


class _InputStopped(Exception):
    """Raised into a blocked read of the input by the first SIGINT or SIGTERM."""


class StoppableLines:
    """The values on a binary stream's lines with their line numbers, lazily, until the
    stream's end or ``stop()``; ``stopped_by`` is the signal that stopped it early. Lines are
    read at most ``max_line_bytes`` at a time; blank lines are skipped; a line that cannot be
    read is an ``UnreadableRecord`` saying why (``decode_line``). Not a value: the reader of
    one run."""

    def __init__(self, stream: BinaryIO, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._lines = bounded_lines(stream, max_line_bytes)
        self._limit = max_line_bytes
        self.stopped_by: int | None = None  # the signal that stopped the input before its end
        self._reading = False
        self._exhausted = False

    def stop(self, signum: int) -> None:
        """No more input (called by the signal handler, on the thread reading the input).
        Once the whole input was read there is nothing to stop: the run ends by itself."""
        if self._exhausted:
            return
        if self.stopped_by is None:
            self.stopped_by = signum
        if self._reading:
            raise _InputStopped  # the input may never send another line: stop waiting

    def numbered(self) -> Iterator[tuple[int, Any]]:
        """``(line number, value)`` for each line that is not blank, until the end or a stop."""
        number = 0
        while self.stopped_by is None:
            self._reading = True
            try:
                raw = next(self._lines)
            except _InputStopped:
                return
            except StopIteration:
                self._exhausted = True
                return
            finally:
                self._reading = False
            number += 1
            if isinstance(raw, bytes) and not raw.strip():
                continue
            yield number, decode_line(raw, number, self._limit)


def decode_line(raw: bytes | _TooLong, number: int, limit: int) -> Any:
    """The JSON value on input line ``number``, or an ``UnreadableRecord`` saying why not."""
    where = f"Input line {number}"
    if isinstance(raw, _TooLong):
        return UnreadableRecord(
            f"{where} is longer than {limit} bytes, the largest input line (--max-line-bytes): "
            "it was not read."
        )
    if raw.startswith(codecs.BOM_UTF8):
        return UnreadableRecord(
            f"{where} starts with a byte order mark (BOM): save the input as UTF-8 without a BOM."
        )
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return UnreadableRecord(f"{where} is UTF-16 text: save the input as UTF-8.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = raw[error.start]
        return UnreadableRecord(
            f"{where} is not UTF-8 text (byte 0x{byte:02x} at position {error.start + 1}): "
            "save the input as UTF-8."
        )
    try:
        return _parse(text)
    except RecursionError:
        return UnreadableRecord(_too_deep(where))
    except json.JSONDecodeError as error:
        if _cut_short(error):
            return UnreadableRecord(
                f"{where} is cut short: its JSON ends before the record is complete "
                f"(column {error.colno}); one whole JSON object per line."
            )
        return UnreadableRecord(
            f"{where} is not valid JSON: {error.msg} (column {error.colno}); "
            "one JSON object per line."
        )
    except ValueError as error:  # a number that is not finite
        return UnreadableRecord(f"{where} {error}.")


def load_object(text: str, where: str) -> dict[str, Any]:
    """The JSON object in the ``text`` of a file (named ``where``, such as ``"credential file
    c.json"``); a ``ValueError`` whose message says what is wrong otherwise."""
    try:
        loaded = _parse(text)
    except RecursionError:
        raise ValueError(_too_deep(where)) from None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{where} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except ValueError as error:
        raise ValueError(f"{where} {error}") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{where} must hold a JSON object")
    if _depth_exceeds(loaded, MAX_NESTING_DEPTH):
        raise ValueError(_too_deep(where))
    return loaded


def _parse(text: str) -> Any:
    """JSON with every number usable: finite, and an integer Python can convert."""
    return json.loads(text, parse_constant=_not_finite, parse_float=_finite, parse_int=_integer)


def _too_deep(where: str) -> str:
    return (
        f"{where} is nested too deeply (more than {MAX_NESTING_DEPTH} levels of lists or objects)"
    )


def _cut_short(error: json.JSONDecodeError) -> bool:
    """Whether the JSON ended before the value did (a truncated line)."""
    return error.msg.startswith("Unterminated string") or (
        error.pos >= len(error.doc.rstrip()) and error.pos > 0
    )


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f"holds a number too large to use ({shown})")
    return value


def _integer(text: str) -> int:
    if len(text) > MAX_INTEGER_DIGITS:
        raise ValueError(f"holds a number too large to use ({len(text)} digits)")
    return int(text)


def _not_finite(text: str) -> Any:
    raise ValueError(f"holds {text}, which is not a number JSON allows")


def _depth_exceeds(value: object, limit: int) -> bool:
    """Whether lists or objects nest more than ``limit`` levels (without recursion)."""
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
