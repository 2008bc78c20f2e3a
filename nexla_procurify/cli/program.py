"""The program around the commands: logging, choosing the command, and turning the errors a
user can act on into a message and an exit status (never a traceback)."""

from __future__ import annotations

__all__ = ["main"]

import logging
import os
import sys
from collections.abc import Sequence

from nexla_procurify.cli import arguments, commands
from nexla_procurify.cli.commands import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    fail,
)
from nexla_procurify.errors import ConfigurationError, CredentialError, ProcurifyError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = arguments.parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The connector logs HTTP activity itself (method, path, status); urllib3 would log
    # whole URLs, whose query strings hold record values.
    logging.getLogger("urllib3").setLevel(logging.CRITICAL)
    try:
        code: int = commands.COMMANDS[args.command](args)
    except CredentialError as error:
        fail("the credential is not valid:")
        for field, message in error.errors:
            print(f"  {field or 'credential'}: {message}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigurationError as error:
        fail(error.message)
        return EXIT_USAGE
    except ProcurifyError as error:
        fail(error.message)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (``| head``): stop quietly, with the status a
        # Unix tool killed by SIGPIPE has, so that a script can tell output was cut short.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code
