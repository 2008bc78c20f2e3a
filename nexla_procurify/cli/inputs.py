"""What the command line reads: the credential (a file or ``PROCURIFY_*`` variables), JSON
configuration and state files (each at most ``MAX_FILE_BYTES``), and the records of ``write``,
line by line and bounded."""

from __future__ import annotations

__all__ = [
    "ENV_FIELDS",
    "MAX_FILE_BYTES",
    "InputRecords",
    "load_credential",
    "load_json_object",
    "load_state",
    "open_input",
    "read_file_text",
]

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from nexla_procurify import jsonlines
from nexla_procurify.errors import ConfigurationError

# The largest configuration, credential, state or catalog file read (one more byte is read to
# tell): a file without end (``/dev/zero``, a FIFO) is refused instead of filling memory.
MAX_FILE_BYTES = jsonlines.MAX_LINE_BYTES

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


def read_file_text(path: Path, what: str, *, limit: int = MAX_FILE_BYTES) -> str:
    """The text of a ``what`` file of at most ``limit`` bytes, or a ``ConfigurationError``
    naming the file and the fault (the ``OSError`` is not chained to it: its words are in the
    message). At most ``limit`` + 1 bytes are read, whatever the file holds."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise ConfigurationError(f"cannot read {what} file {path}: {error.strerror}") from None
    if len(data) > limit:
        raise ConfigurationError(
            f"{what} file {path} is larger than {_size(limit)}, the most read: "
            f"give a {what} file of at most that size."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{what} file {path} is not UTF-8 text") from None


def _size(limit: int) -> str:
    mib = 1024 * 1024
    return f"{limit // mib} MiB" if limit % mib == 0 else f"{limit} bytes"


def load_json_object(path: Path, what: str, *, limit: int = MAX_FILE_BYTES) -> dict[str, Any]:
    """The JSON object in a ``what`` file of at most ``limit`` bytes (``read_file_text``), or a
    ``ConfigurationError`` naming the file and the fault."""
    text = read_file_text(path, what, limit=limit)
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
        raise ConfigurationError(f"cannot read input file {path}: {error.strerror}") from None
    with handle:
        yield handle


class InputRecords(jsonlines.StoppableLines):
    """Records from JSON lines, lazily, until ``stop()``. Lines are read at most
    ``max_line_bytes`` at a time; a line that cannot be read as a record (too long, not UTF-8,
    not JSON, ...) is passed on as an ``UnreadableRecord`` saying why, so that it comes back
    ``rejected`` instead of ending the run."""

    def __iter__(self) -> Iterator[Any]:
        for _number, value in self.numbered():
            yield value
