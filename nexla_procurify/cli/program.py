"""The program around the commands: logging, choosing the command, and turning the errors a
user can act on into a message and an exit status (never a traceback)."""

from __future__ import annotations

__all__ = ["UNREPORTED_WRITES", "main"]

import logging
from collections.abc import Sequence

from nexla_procurify.cli import arguments, commands
from nexla_procurify.cli.process import exit_status, start_logging

# What a write that could not print its results says (records were sent before their result).
UNREPORTED_WRITES = (
    " Records may have been written in Procurify without their results being printed: "
    "check there before writing them again."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = arguments.parser().parse_args(argv)
    start_logging(logging.DEBUG if args.verbose else logging.WARNING)
    unreported = UNREPORTED_WRITES if args.command == "write" else ""
    return exit_status(
        lambda: commands.COMMANDS[args.command](args), commands.PROGRAM, unreported=unreported
    )
