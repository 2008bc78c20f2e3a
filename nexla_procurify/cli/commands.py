"""The commands, one function each (``COMMANDS``): ``spec``, ``check``, ``sandbox``,
``discover``, ``read``, ``write``, and ``demo``, whose module (and the sandbox) is imported only
when it runs."""

from __future__ import annotations

__all__ = [
    "COMMANDS",
    "CONNECTOR",
    "PROGRAM",
    "connector_host",
    "fail",
    "print_validation",
    "write_private",
]

import argparse
import json
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TextIO, get_args

from nexla_procurify import destination, jsonlines, plugin, source
from nexla_procurify.cli import arguments, process
from nexla_procurify.cli.inputs import InputRecords, load_credential, load_state, open_input
from nexla_procurify.cli.process import (
    EXIT_FAILED,
    EXIT_OK,
)
from nexla_procurify.cli.running import Progress, Stop, StopPoint, closed_after, stop_signals
from nexla_procurify.credential import ALLOW_LOOPBACK_ENV, credential_schema
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.host import Host
from nexla_procurify.messages import Record, ValidationResult, WriteStatus

CONNECTOR = plugin.CONNECTOR_TYPE
PROGRAM = "nexla-procurify"
WRITE_STATUSES: tuple[str, ...] = get_args(WriteStatus)


def fail(message: str) -> None:
    """An error line on standard error, as the command line words them."""
    process.fail(PROGRAM, message)


def connector_host() -> Host:
    """A host with this connector registered directly (no entry point lookup)."""
    return Host(plugins=[plugin])


def _spec(args: argparse.Namespace) -> int:
    print(json.dumps(credential_schema(), indent=2))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    credential = load_credential(args.credential)
    with process.masked_output(credential):  # the live check's log lines too
        result: ValidationResult = connector_host().validate_credential(
            CONNECTOR, credential, live=args.live
        )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    elif result.ok:
        print("Credential is valid" + (" and Procurify accepted it." if args.live else "."))
    else:
        print_validation(result, sys.stdout)
    return EXIT_OK if result.ok else EXIT_FAILED


def print_validation(result: ValidationResult, out: TextIO) -> None:
    """A refused credential, one line per problem."""
    print("Credential is not valid:", file=out)
    for error in result.errors:
        print(f"  {error.field or 'credential'}: {error.message}", file=out)


def _sandbox(args: argparse.Namespace) -> int:
    from nexla_procurify.sandbox import Sandbox  # only this command and the demo need it

    try:
        sandbox = Sandbox(
            port=args.port,
            token_lifetime=args.token_lifetime,
            latency=args.latency,
            records=args.records,
            seed=args.seed,
            rate_limit=args.rate_limit,
            max_at_once=args.max_at_once,
        )
    except OSError as error:
        raise ConfigurationError(
            f"cannot listen on 127.0.0.1:{args.port}: {error.strerror} (try another --port)"
        ) from error
    with sandbox:
        print(f"Procurify sandbox listening on {sandbox.base_url}")
        if args.write_credential:
            write_private(args.write_credential, json.dumps(sandbox.credential(), indent=2))
            print(f"Credential written to {args.write_credential}")
            print(f"Use it with {ALLOW_LOOPBACK_ENV}=1, e.g.:")
            print(
                f"  {ALLOW_LOOPBACK_ENV}=1 nexla-procurify check --live "
                f"--credential {args.write_credential}"
            )
        else:
            print(f"Client ID: {sandbox.client_id} (pass --write-credential FILE for the secret)")
        print("Press Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    return EXIT_OK


def _discover(args: argparse.Namespace) -> int:
    for message in source.discover():
        print(json.dumps(message.to_dict()))
    return EXIT_OK


def _read(args: argparse.Namespace) -> int:
    # The credential first: what is said about the rest masks its secret, misplaced there.
    credential = load_credential(args.credential)
    with process.masked_output(credential):
        return _read_with(args, credential)


def _read_with(args: argparse.Namespace, credential: dict[str, Any]) -> int:
    config = arguments.source_config(args)
    state = load_state(args.state)
    host = connector_host()
    resource = source.parse_config(config).resource
    out = sys.stdout
    progress = Progress(resource.name, sys.stderr)
    last_state: str | None = None
    stop_point = StopPoint()
    try:
        with (
            stop_signals(
                stop_point,
                "ending the read after the last page printed",
                "resume from the last STATE line printed.",
            ),
            host.authenticate(CONNECTOR, credential) as session,
            closed_after(host.read(CONNECTOR, session, config, state)) as messages,
        ):
            stop_point.write(out, json.dumps(source.schema_message(resource).to_dict()) + "\n")
            for message in messages:
                if isinstance(message, Record):
                    if args.limit is not None and progress.records >= args.limit:
                        break
                    progress.record()
                else:
                    if "in_progress" in message.value:
                        progress.page()
                line = json.dumps(message.to_dict(), separators=(",", ":")) + "\n"
                if not isinstance(message, Record):
                    # Remembered before it is written: a stop signal between the two must not
                    # leave an older STATE as the last line (a resume would read a page twice).
                    last_state = line
                stop_point.write(out, line)
    except Stop as stop:
        # The last STATE line comes last, so that `tail -n 1` is where the next run resumes.
        if last_state is not None:
            out.write(last_state)
        out.flush()
        progress.finish()
        print(
            "Interrupted: resume from the last STATE line printed (--state FILE).", file=sys.stderr
        )
        sys.stderr.flush()
        # Prefetching workers may be waiting on a slow answer; the interpreter would join them
        # at exit (up to HttpPolicy.max_elapsed). Everything owed is printed: end now.
        os._exit(128 + stop.signum)
    out.flush()
    progress.finish()
    return EXIT_OK


def _write(args: argparse.Namespace) -> int:
    # The credential first: what is said about the rest masks its secret, misplaced there.
    credential = load_credential(args.credential)
    with process.masked_output(credential):
        return _write_with(args, credential)


def _write_with(args: argparse.Namespace, credential: dict[str, Any]) -> int:
    config = arguments.destination_config(args)
    destination.parse_config(config)
    jsonlines.line_limit(args.max_line_bytes)
    host = connector_host()
    counts: Counter[str] = Counter()
    with open_input(args.input) as stream:
        records = InputRecords(stream, args.max_line_bytes)
        # Installed before anything is sent, removed after the summary: a first SIGINT or
        # SIGTERM only stops the input, so every record sent is finished and reported.
        with stop_signals(
            records.stop,
            "finishing and reporting the records already sent",
            "check the records that were in flight in Procurify.",
        ):
            with host.authenticate(CONNECTOR, credential) as session:
                for result in host.write(CONNECTOR, session, config, records):
                    counts[result.status] += 1
                    print(json.dumps(result.to_dict()), flush=False)
            sys.stdout.flush()
            summary = ", ".join(f"{counts[status]} {status}" for status in WRITE_STATUSES)
            print(
                f"{args.resource} {config.get('operation')}: {sum(counts.values())} "
                f"records: {summary}.",
                file=sys.stderr,
            )
            signum = records.stopped_by
            if signum is not None:
                print(
                    "Interrupted: the records above were handled; the rest of the input "
                    "was not read.",
                    file=sys.stderr,
                )
                return 128 + signum
    return EXIT_FAILED if counts["rejected"] or counts["failed"] else EXIT_OK


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600), even if it existed."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # the mode given to open() only applies to a new file
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def _demo(args: argparse.Namespace) -> int:
    from nexla_procurify.cli import demo  # the sandbox, only for the command that needs it

    return demo.run(args)


# Command name (as ``arguments.parser`` names them) -> the function that runs it.
COMMANDS: Mapping[str, Callable[[argparse.Namespace], int]] = MappingProxyType(
    {
        "spec": _spec,
        "check": _check,
        "sandbox": _sandbox,
        "discover": _discover,
        "read": _read,
        "write": _write,
        "demo": _demo,
    }
)
