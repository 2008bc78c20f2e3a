"""The ``source-procurify`` command: the Airbyte source protocol (``spec``, ``check --config``,
``discover --config``, ``read --config --catalog [--state]``), every answer an AirbyteMessage on
standard output, as PyAirbyte runs a local executable.

``read`` reads every configured stream in one run, side by side within the ``concurrency``
budget (``source.many``, shared with the Singer tap): RECORDs with ``emitted_at``, a per-stream
STATE after each page, stream status TRACEs, and a TRACE error for a stream that stopped (the
others go on; the run then exits 1).
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import json
import logging
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nexla_procurify import plugin
from nexla_procurify.airbyte import protocol
from nexla_procurify.cli.inputs import load_json_object, read_file_text
from nexla_procurify.cli.process import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    StandardOutputError,
    credential_problems,
    discard_output,
    flushed,
    masked_output,
    output_closed,
    output_failed,
    start_logging,
)
from nexla_procurify.errors import (
    AuthenticationError,
    ConfigurationError,
    CredentialError,
    ProcurifyError,
    TransientError,
)
from nexla_procurify.flat_config import FlatConfig, parse_flat_config
from nexla_procurify.jsonlines import load_object
from nexla_procurify.source.many import (
    StreamCheckpoint,
    StreamRead,
    StreamRecord,
    StreamStarted,
    read_many,
)

NAME = "source-procurify"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=NAME, description="Airbyte source for Procurify.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec", help="the configuration's specification")
    for name in ("check", "discover", "read"):
        command = commands.add_parser(name)
        command.add_argument("--config", type=Path, required=True, metavar="FILE")
    read = commands.choices["read"]
    read.add_argument(
        "--catalog", type=Path, required=True, metavar="FILE", help="the configured catalog"
    )
    read.add_argument("--state", type=Path, metavar="FILE", help="the state to resume from")
    return parser


def _emit(message: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the source with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = _parser().parse_args(argv)
    start_logging(logging.INFO)
    if output_closed(NAME):
        return EXIT_BROKEN_PIPE
    try:
        status = _said(args)
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED  # Ctrl-C: what was emitted stands (each STATE after its page)
    except BrokenPipeError:
        discard_output()
        status = EXIT_BROKEN_PIPE
    except StandardOutputError as error:
        status = output_failed(NAME, error)
    return flushed(NAME, status)


def _said(args: argparse.Namespace) -> int:
    """The command's exit status, its errors said as TRACE messages."""
    try:
        if args.command == "spec":
            _emit(protocol.spec())
            return EXIT_OK
        if args.command == "check":
            return _check(args.config)
        raw = load_json_object(args.config, "config")
        # What is said about the configuration, and the run's errors, mask its secret.
        with masked_output(raw):
            config = parse_flat_config(raw, what="source")
            if args.command == "discover":
                _emit(protocol.catalog())
                return EXIT_OK
            return _read(config, args.catalog, args.state)
    except (ConfigurationError, CredentialError) as error:
        _emit(protocol.trace_error(_message(error), "config_error"))
        return EXIT_USAGE
    except ProcurifyError as error:
        _emit(protocol.trace_error(error.message, _failure(error)))
        return EXIT_FAILED


def _message(error: ProcurifyError) -> str:
    if isinstance(error, CredentialError):
        return "The credential is not valid: " + "; ".join(credential_problems(error))
    return error.message


def _failure(error: ProcurifyError) -> protocol.FailureType:
    if isinstance(error, ConfigurationError | CredentialError | AuthenticationError):
        return "config_error"
    return "transient_error" if isinstance(error, TransientError) else "system_error"


def _check(path: Path) -> int:
    """``CONNECTION_STATUS``: the configuration checked, then the credential signed in."""
    try:
        raw = load_json_object(path, "config")
        # The live check's log lines too: a Base URL may repeat the secret.
        with masked_output(raw):
            config = parse_flat_config(raw, what="source")
            result = plugin.validate_credential(
                connector_type=plugin.CONNECTOR_TYPE, credential=dict(config.credential), live=True
            )
    except ConfigurationError as error:  # masked as it left masked_output
        _emit(protocol.connection_status(False, error.message))
        return EXIT_OK
    assert result is not None
    problems = "; ".join(
        f"{error.field or 'credential'}: {error.message}" for error in result.errors
    )
    _emit(protocol.connection_status(result.ok, problems or None))
    return EXIT_OK


def _load_state(path: Path | None) -> object:
    """A state file: a JSON list of state messages, or an object (a legacy state)."""
    if path is None:
        return None
    text = read_file_text(path, "state")
    if text.lstrip().startswith("["):
        try:
            wrapped = load_object('{"states": ' + text + "}", f"state file {path}")
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        return wrapped["states"]
    return load_json_object(path, "state")


def _read(config: FlatConfig, catalog_path: Path, state_path: Path | None) -> int:
    streams = protocol.configured_streams(load_json_object(catalog_path, "catalog"))
    saved = protocol.stream_states(_load_state(state_path))
    reads = [
        StreamRead(
            each.stream,
            config.source_config(each.stream),
            saved.get(each.stream) if each.incremental else None,
        )
        for each in streams
    ]
    by_name = {each.stream: each for each in streams}
    session = plugin.authenticate(
        connector_type=plugin.CONNECTOR_TYPE, credential=dict(config.credential)
    )
    assert session is not None
    since: Counter[str] = Counter()  # records of each stream since its last STATE
    running: set[str] = set()
    failed: list[str] = []
    with session:
        events = read_many(session, reads, budget=config.budget)
        try:
            for event in events:
                if isinstance(event, StreamStarted):
                    _emit(protocol.stream_status(event.stream, "STARTED"))
                elif isinstance(event, StreamRecord):
                    if event.stream not in running:
                        running.add(event.stream)
                        _emit(protocol.stream_status(event.stream, "RUNNING"))
                    since[event.stream] += 1
                    _emit(
                        protocol.record(event.stream, by_name[event.stream].project(event.record))
                    )
                elif isinstance(event, StreamCheckpoint):
                    _emit(protocol.stream_state(event.stream, event.value, since[event.stream]))
                    since[event.stream] = 0
                elif event.error is None:
                    _emit(protocol.stream_status(event.stream, "COMPLETE"))
                else:
                    failed.append(event.stream)
                    _emit(
                        protocol.trace_error(
                            event.error.message, _failure(event.error), event.stream
                        )
                    )
                    _emit(protocol.stream_status(event.stream, "INCOMPLETE"))
        finally:
            close = getattr(events, "close", None)
            if callable(close):
                close()
    if failed:
        print(
            f"{NAME}: error: {len(failed)} stream(s) stopped: {', '.join(failed)}", file=sys.stderr
        )
        return EXIT_FAILED
    return EXIT_OK
