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
    """The JSON object in a file, or a ``ConfigurationError`` naming the file and the fault
    (the ``OSError`` is not chained to it: its words are in the message)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read {what} file {path}: {error.strerror}") from None
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
