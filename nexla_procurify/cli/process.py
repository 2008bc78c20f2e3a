"""What the package's console scripts do around their work: logging on standard error (all
four), the exit statuses, and each error a user can act on as one message on standard error and
a status, never a traceback (``nexla-procurify``, ``tap-procurify``, ``target-procurify``;
``source-procurify`` says its errors as Airbyte messages), and the secret of the configuration
a script was given masked in all it says (``masked_output``)."""

from __future__ import annotations

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "credential_problems",
    "exit_status",
    "fail",
    "masked_output",
    "output_closed",
    "start_logging",
]

import contextlib
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence

from nexla_procurify.errors import ConfigurationError, CredentialError, ProcurifyError, masking
from nexla_procurify.secret import Secret, redact_text, secrets_in

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
EXIT_TERMINATED = 143  # 128 + SIGTERM


def _quiet_closed_stderr() -> None:
    """When the process was started with standard error closed (``2>&-``), what would be said
    there goes nowhere: ``print(file=None)`` would otherwise print it on standard output, which
    carries the program's data (records, STATE messages)."""
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process


def _whole_lines_out() -> None:
    """With unbuffered output (``PYTHONUNBUFFERED``, ``python -u``, usual in containers),
    standard output is a text layer straight over the file, and a write that a signal
    interrupts halfway (a stop while a slow reader has filled the pipe) returns having written
    part of the line, the rest dropped: the next line would be joined to it. A buffered writer
    finishes every write; each line still goes out as soon as it ends."""
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper) and isinstance(out.buffer, io.RawIOBase):
        out.flush()
        own = io.FileIO(out.buffer.fileno(), "w", closefd=False)  # the file stays the owner's
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(own),
            encoding=out.encoding,
            errors=out.errors,
            line_buffering=True,
        )


def output_closed(program: str) -> bool:
    """Whether the process was started with standard output closed (``>&-``), said on
    standard error as ``program``'s error: nothing it prints could reach anyone. Otherwise
    standard output is made to write whole lines (see ``_whole_lines_out``)."""
    _quiet_closed_stderr()
    if sys.stdout is not None:
        _whole_lines_out()
        return False
    fail(
        program,
        "standard output is closed, so nothing can be printed: run it with standard output "
        "open (redirect it to a file, or to /dev/null to discard it).",
    )
    return True


def start_logging(level: int) -> None:
    """Log records of ``level`` and above on standard error, one line each (nowhere when
    standard error is closed)."""
    _quiet_closed_stderr()
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # The connector logs HTTP activity itself (method, path, status); urllib3 would log
    # whole URLs, whose query strings hold record values.
    logging.getLogger("urllib3").setLevel(logging.CRITICAL)


@contextlib.contextmanager
def masked_output(config: object) -> Iterator[tuple[Secret, ...]]:
    """While a script works with ``config`` (raw, as read, before any check): its secret masked
    in every ``ProcurifyError`` raised inside (the message that ``exit_status`` says) and in
    every log line, whatever the configuration misplaces it as (a key, a stream's name, a
    path). Gives the secrets, for what the script prints itself."""
    secrets = secrets_in(config)
    if not secrets:
        yield secrets
        return
    hiding = _MaskingFilter(secrets)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(hiding)
    try:
        with masking(secrets):
            yield secrets
    finally:
        for handler in handlers:
            handler.removeFilter(hiding)


class _MaskingFilter(logging.Filter):
    """Masks secrets in each log record a handler formats (its arguments merged in)."""

    def __init__(self, secrets: Sequence[Secret]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # the handler reports a record it cannot format
            return True
        masked = redact_text(message, self.secrets)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def fail(program: str, message: str) -> None:
    """An error line on standard error: ``program: error: message``."""
    print(f"{program}: error: {message}", file=sys.stderr)


def credential_problems(error: CredentialError) -> list[str]:
    """Each problem of a credential, ``field: message`` (``credential`` for the whole)."""
    return [f"{field or 'credential'}: {message}" for field, message in error.errors]


def exit_status(
    command: Callable[[], int],
    program: str,
    *,
    usage: int = EXIT_USAGE,
    one_line: bool = False,
) -> int:
    """``command``'s exit status, or the status of the error it raised, once said on standard
    error as ``program``'s: ``usage`` for the configuration or the credential (each field's
    problem on a line of its own, or all on one line when ``one_line``), 1 for Procurify's
    errors, 130 when interrupted, 141 when the reader of standard output went away or
    standard output was closed from the start."""
    if output_closed(program):
        return EXIT_BROKEN_PIPE
    try:
        return command()
    except CredentialError as error:
        problems = credential_problems(error)
        if one_line:
            fail(program, "the credential is not valid: " + "; ".join(problems))
        else:
            fail(program, "the credential is not valid:")
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        return usage
    except ConfigurationError as error:
        fail(program, error.message)
        return usage
    except ProcurifyError as error:
        fail(program, error.message)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (``| head``): stop quietly, with the status a
        # Unix tool killed by SIGPIPE has, so that a script can tell output was cut short.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
