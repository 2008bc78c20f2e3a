"""The ``tap-procurify`` command: a Singer tap as the Singer specification and the Meltano SDK
run one (``--config``, ``--discover``, ``--catalog``/``--properties``, ``--state``, ``--about``).

Every selected stream is read in one run, side by side within the ``concurrency`` budget
(``source.many``); standard output carries only Singer messages: the SCHEMA of every selected
stream first, then RECORDs and, after each page of any stream, a STATE holding every stream's
bookmark. A stream that fails does not stop the others; the run then exits 1, naming it.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from nexla_procurify import __version__, plugin
from nexla_procurify.cli.inputs import load_json_object
from nexla_procurify.cli.process import (
    EXIT_FAILED,
    EXIT_OK,
    exit_status,
    fail,
    masked_output,
    start_logging,
)
from nexla_procurify.cli.running import Stop, StopPoint, stop_signals
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.flat_config import FlatConfig, flat_schema, from_environment, parse_flat_config
from nexla_procurify.source.many import (
    StreamCheckpoint,
    StreamEnded,
    StreamRead,
    StreamRecord,
    read_many,
)
from nexla_procurify.tap.catalog import SelectedStream, discover_catalog, select, select_all
from nexla_procurify.tap.state import bookmarks_from, state_value

NAME = "tap-procurify"
ENV_PREFIX = "TAP_PROCURIFY_"
CAPABILITIES = ("catalog", "state", "discover", "about")

log = logging.getLogger("nexla_procurify.tap")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=NAME, description="Singer tap for Procurify: every selected stream in one run."
    )
    parser.add_argument(
        "--config",
        action="append",
        metavar="FILE",
        default=[],
        help="a JSON file of settings (repeatable: later files win), or ENV "
        f"for the {ENV_PREFIX}* environment variables",
    )
    parser.add_argument("--discover", action="store_true", help="print the catalog")
    parser.add_argument("--catalog", type=Path, metavar="FILE", help="the streams to read")
    parser.add_argument(
        "--properties",
        type=Path,
        metavar="FILE",
        help="the streams to read (the older name of --catalog)",
    )
    parser.add_argument("--state", type=Path, metavar="FILE", help="the state to resume from")
    parser.add_argument("--about", action="store_true", help="what this tap is and takes")
    parser.add_argument(
        "--format",
        choices=("json", "markdown", "text"),
        default="text",
        help="the format of --about",
    )
    parser.add_argument("--version", action="version", version=f"{NAME} {__version__}")
    return parser


def _fail(message: str) -> None:
    fail(NAME, message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tap with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = _parser().parse_args(argv)
    start_logging(logging.INFO)
    return exit_status(lambda: _command(args), NAME, one_line=True)


def _command(args: argparse.Namespace) -> int:
    if args.about:
        _about(args.format, sys.stdout)
        return EXIT_OK
    raw = _raw_config(args.config) if args.config or not args.discover else None
    # What is said about the configuration, and the run's errors, mask its secret.
    with masked_output(raw):
        return _run(args, None if raw is None else parse_flat_config(raw))


def _run(args: argparse.Namespace, config: FlatConfig | None) -> int:
    if args.discover:
        json.dump(discover_catalog(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    assert config is not None
    return _sync(config, args)


def _raw_config(files: Sequence[str]) -> dict[str, Any]:
    """The settings of every ``--config`` file merged in order (``ENV``: the environment's);
    the environment alone when no file is given (not yet checked)."""
    merged: dict[str, Any] = {}
    for name in files or ["ENV"]:
        if name == "ENV":
            merged.update(from_environment(ENV_PREFIX, os.environ))
        else:
            merged.update(load_json_object(Path(name), "config"))
    if not merged:
        raise ConfigurationError(
            f"no configuration given: pass --config FILE or set {ENV_PREFIX}CLIENT_ID, "
            f"{ENV_PREFIX}CLIENT_SECRET and {ENV_PREFIX}BASE_URL"
        )
    return merged


def _about(form: str, out: TextIO) -> None:
    about = {
        "name": NAME,
        "description": "Singer tap for Procurify (purchase orders, bills, vendors, ...).",
        "version": __version__,
        "capabilities": list(CAPABILITIES),
        "supported_python_versions": ["3.11", "3.12", "3.13"],
        "settings": flat_schema(),
    }
    if form == "json":
        json.dump(about, out, indent=2)
        out.write("\n")
        return
    lines = [
        f"# {NAME}",
        "",
        str(about["description"]),
        "",
        f"Version: {__version__}",
        "",
        "Capabilities: " + ", ".join(CAPABILITIES),
        "",
        "Settings:",
        "",
    ]
    schema = about["settings"]
    assert isinstance(schema, dict)
    for key, prop in schema["properties"].items():
        required = " (required)" if key in schema["required"] else ""
        lines.append(f"- {key}{required}: {prop.get('description', '')}")
    out.write("\n".join(lines) + "\n")


def _selection(args: argparse.Namespace) -> list[SelectedStream]:
    path = args.catalog or args.properties
    return select(load_json_object(path, "catalog")) if path else select_all()


def _sync(config: FlatConfig, args: argparse.Namespace) -> int:
    streams = _selection(args)
    saved = bookmarks_from(load_json_object(args.state, "state") if args.state else None)
    reads = [
        StreamRead(each.stream, config.source_config(each.stream), saved.get(each.stream))
        for each in streams
    ]
    by_name = {each.stream: each for each in streams}
    bookmarks: dict[str, Mapping[str, Any]] = dict(saved)
    out = sys.stdout
    failed: list[str] = []
    last_state: str | None = None
    stop_point = StopPoint()
    log.info("Reading %d stream(s): %s", len(streams), ", ".join(by_name) or "none")
    session = plugin.authenticate(
        connector_type=plugin.CONNECTOR_TYPE, credential=dict(config.credential)
    )
    assert session is not None
    try:
        with (
            stop_signals(
                stop_point,
                "ending the run after the last message printed",
                "resume from the last STATE message printed.",
            ),
            session,
        ):
            events = read_many(session, reads, budget=config.budget)
            for each in streams:
                stop_point.write(
                    out,
                    _text(
                        {
                            "type": "SCHEMA",
                            "stream": each.stream,
                            "schema": each.schema,
                            "key_properties": list(each.key_properties),
                            **(
                                {"bookmark_properties": list(each.bookmark_properties)}
                                if each.bookmark_properties
                                else {}
                            ),
                        },
                    ),
                )
            try:
                for event in events:
                    if isinstance(event, StreamRecord):
                        stop_point.write(
                            out,
                            _text(
                                {
                                    "type": "RECORD",
                                    "stream": event.stream,
                                    "record": by_name[event.stream].project(event.record),
                                },
                            ),
                        )
                    elif isinstance(event, StreamCheckpoint):
                        bookmarks[event.stream] = event.value
                        # Kept before it is written: a signal between the two still finds
                        # it, and prints it (once more) as the last line.
                        last_state = _text({"type": "STATE", "value": state_value(bookmarks)})
                        stop_point.write(out, last_state)
                    elif isinstance(event, StreamEnded) and event.error is not None:
                        failed.append(event.stream)
                        _fail(f"stream {event.stream}: {event.error.message}")
            finally:
                close = getattr(events, "close", None)
                if callable(close):
                    close()
    except Stop as stop:
        if last_state is not None:
            out.write(last_state)  # last, so that a host keeps it as the state to resume
        out.flush()
        print("Interrupted: resume from the last STATE message printed.", file=sys.stderr)
        sys.stderr.flush()
        os._exit(128 + stop.signum)  # prefetching workers may wait on slow answers
    out.flush()
    if failed:
        others = "no stream was read" if len(failed) == len(streams) else "the others were read"
        _fail(
            f"{len(failed)} stream(s) stopped: {', '.join(failed)}; {others}. "
            "Run again to resume them from the last STATE."
        )
        return EXIT_FAILED
    return EXIT_OK


def _text(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":")) + "\n"
