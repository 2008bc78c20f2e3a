"""The ``target-procurify`` command (entry point ``nexla_procurify.target:main``): the options
Singer targets and Meltano use (``--config`` files, ``--input``, ``--about`` with
``--format``, ``--version``), the outputs, and every error a user can act on as one message and
an exit status, never a traceback: 2 for the configuration or an input that is not a Singer
stream, 1 for a record not written or Procurify's errors, 128 + the signal when stopped."""

from __future__ import annotations

__all__ = ["main"]

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from nexla_procurify import __version__, jsonlines, plugin
from nexla_procurify.cli.inputs import open_input
from nexla_procurify.cli.process import exit_status, masked_output, start_logging
from nexla_procurify.cli.running import stop_signals
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.host import Host
from nexla_procurify.secret import Secret, redact_text
from nexla_procurify.target import about, config
from nexla_procurify.target.run import EXIT_INPUT, run
from nexla_procurify.target.singer_input import SingerInput


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=about.NAME,
        description="Singer target: writes SCHEMA/RECORD/STATE messages from standard input "
        "into Procurify; echoes each STATE on standard output once every record "
        "before it is written; per-record results go to the results file or "
        "standard error.",
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="a JSON settings file (repeatable; later files win; ENV is "
        f"accepted: {config.ENV_PREFIX}* variables are always read and "
        "win over files)",
    )
    parser.add_argument(
        "--input",
        type=Path,
        metavar="FILE",
        help="read Singer messages from FILE instead of standard input",
    )
    parser.add_argument(
        "--max-line-bytes",
        type=int,
        default=jsonlines.MAX_LINE_BYTES,
        metavar="N",
        help="the longest input line taken, in bytes (default: 16 MiB, at most 1 GiB); "
        "a longer one ends the run",
    )
    parser.add_argument(
        "--about",
        action="store_true",
        help="describe the target, its settings and resources, and exit",
    )
    parser.add_argument(
        "--format",
        choices=about.FORMATS,
        default="text",
        help="the format of --about (default: text)",
    )
    parser.add_argument("--version", action="version", version=f"{about.NAME} {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log each HTTP request (method, path, status) to standard error",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``target-procurify`` with ``argv`` (default ``sys.argv[1:]``); the exit status."""
    args = _parser().parse_args(argv)
    if args.about:
        return exit_status(lambda: _about(args.format), about.NAME, usage=EXIT_INPUT)
    start_logging(logging.DEBUG if args.verbose else logging.WARNING)
    return exit_status(lambda: _run(args), about.NAME, usage=EXIT_INPUT)


def _about(form: str) -> int:
    print(about.about(form), flush=True)  # flushed here: a closed pipe is then ours to handle
    return 0


def _run(args: argparse.Namespace) -> int:
    jsonlines.line_limit(args.max_line_bytes)
    raw = config.load(args.config, os.environ)
    # What is said about the configuration, and the run's errors, mask its secret.
    with masked_output(raw) as secrets:
        return _run_with(args, config.parse(raw), secrets)


def _run_with(
    args: argparse.Namespace, settings: config.TargetConfig, secrets: Sequence[Secret]
) -> int:
    with open_input(args.input) as stream, _results(settings.results_file) as results:
        messages = SingerInput(stream, args.max_line_bytes)
        with stop_signals(
            messages.stop,
            "finishing and reporting the records already taken",
            "check the records that were in flight in Procurify.",
        ):
            outcome = run(
                settings,
                messages,
                host=Host(plugins=[plugin]),
                echo=_line_writer(sys.stdout),
                report=_line_writer(results, secrets, settings.results_file),
            )
            for line in outcome.summary:
                print(redact_text(line, secrets), file=sys.stderr)
    return outcome.status


def _line_writer(
    out: TextIO, secrets: Sequence[Secret] = (), name: str | None = None
) -> Callable[[str], None]:
    """Each line written and flushed; a failure to write the file ``name`` names it."""

    def write(line: str) -> None:
        try:
            out.write(redact_text(line, secrets) + "\n")
            out.flush()
        except BrokenPipeError:
            raise
        except OSError as error:
            if name is None:
                raise
            raise OSError(error.errno, error.strerror, name) from None

    return write


@contextlib.contextmanager
def _results(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stderr
        return
    try:
        handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as error:
        raise ConfigurationError(f"cannot write results file {path}: {error.strerror}") from None
    try:
        yield handle
    finally:
        # Each line was flushed as it was written: what closing fails to write is the line
        # whose failure the run already said.
        with contextlib.suppress(OSError):
            handle.close()
