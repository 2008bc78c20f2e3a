"""What the command line reads: the credential (a file or ``PROCURIFY_*`` variables), JSON
configuration and state files, and the records of ``write``, line by line and bounded."""

from __future__ import annotations

__all__ = [
    "ENV_FIELDS",
    "InputRecords",
    "load_credential",
    "load_json_object",
    "load_state",
    "open_input",
]

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from nexla_procurify import jsonlines
from nexla_procurify.errors import ConfigurationError

# Credential field -> the environment variable that gives it when no --credential file is.
ENV_FIELDS = {
    "name": "PROCURIFY_CREDENTIAL_NAME",
    "description": "PROCURIFY_DESCRIPTION",
    "client_id": "PROCURIFY_CLIENT_ID",
    "client_secret": "PROCURIFY_CLIENT_SECRET",
    "base_url": "PROCURIFY_BASE_URL",
}


def load_credential(path: Path | None) -> dict[str, Any]:
    """The credential from a JSON file, or else from ``PROCURIFY_*`` environment variables."""
    if path is not None:
        return load_json_object(path, "credential")
    found = {field: os.environ[name] for field, name in ENV_FIELDS.items() if os.environ.get(name)}
    if not found:
        raise ConfigurationError(
            "no credential given: pass --credential FILE or set "
            + ", ".join(ENV_FIELDS[field] for field in ("client_id", "client_secret", "base_url"))
        )
    found.setdefault("name", "Procurify")
    return found


def load_state(path: Path | None) -> dict[str, Any] | None:
    """The state of ``--state FILE``: a state value, or a whole ``STATE`` line holding one."""
    if path is None:
        return None
    loaded = load_json_object(path, "state")
    if loaded.get("type") == "STATE" and isinstance(loaded.get("value"), dict):
        value: dict[str, Any] = loaded["value"]
        return value
    return loaded


def load_json_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in a file, or a ``ConfigurationError`` naming the file and the fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read {what} file {path}: {error.strerror}") from error
    except UnicodeDecodeError:
        raise ConfigurationError(f"{what} file {path} is not UTF-8 text") from None
    try:
        return jsonlines.load_object(text, f"{what} file {path}")
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


@contextlib.contextmanager
def open_input(path: Path | None) -> Iterator[BinaryIO]:
    """The input file in binary, or standard input when no file is given."""
    if path is None:
        yield sys.stdin.buffer
        return
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ConfigurationError(f"cannot read input file {path}: {error.strerror}") from error
    with handle:
        yield handle


class _InputStopped(Exception):
    """Raised into a blocked read of the input by the first SIGINT or SIGTERM."""


class InputRecords:
    """Records from JSON lines, lazily, until ``stop()``. Lines are read at most
    ``max_line_bytes`` at a time; a line that cannot be read as a record (too long, not UTF-8,
    not JSON, ...) is passed on as an ``UnreadableRecord`` saying why, so that it comes back
    ``rejected`` instead of ending the run."""

    def __init__(self, stream: BinaryIO, max_line_bytes: int = jsonlines.MAX_LINE_BYTES) -> None:
        self._lines = jsonlines.bounded_lines(stream, max_line_bytes)
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

    def __iter__(self) -> Iterator[Any]:
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
            yield jsonlines.decode_line(raw, number, self._limit)
