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
    "StandardOutputError",
    "credential_problems",
    "discard_output",
    "exit_status",
    "fail",
    "flushed",
    "masked_output",
    "output_closed",
    "output_failed",
    "start_logging",
]

import contextlib
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

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


class StandardOutputError(OSError):
    """Standard output could not be written (a full disk, an I/O error): not its reader going
    away, which stays a ``BrokenPipeError``."""


class _OutputFile(io.FileIO):
    """Standard output's file, whose failures say that it was standard output that failed."""

    def write(self, data: Any) -> int:
        try:
            return super().write(data)
        except (BrokenPipeError, BlockingIOError):
            raise
        except OSError as error:
            raise StandardOutputError(error.errno, error.strerror) from None


def _whole_lines_out() -> None:
    """Standard output over a file that says its failures as ``StandardOutputError``s. With
    unbuffered output (``PYTHONUNBUFFERED``, ``python -u``, usual in containers), standard
    output is a text layer straight over the file, and a write that a signal interrupts
    halfway (a stop while a slow reader has filled the pipe) returns having written part of
    the line, the rest dropped: the next line would be joined to it. A buffered writer
    finishes every write; each line then goes out as soon as it ends."""
    out = sys.stdout
    if not isinstance(out, io.TextIOWrapper) or isinstance(
        getattr(out.buffer, "raw", None), _OutputFile
    ):
        return
    unbuffered = isinstance(out.buffer, io.RawIOBase)
    if not unbuffered and not isinstance(out.buffer, io.BufferedWriter):
        return
    out.flush()
    own = _OutputFile(out.buffer.fileno(), "w", closefd=False)  # the file stays the owner's
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(own),
        encoding=out.encoding,
        errors=out.errors,
        line_buffering=unbuffered or out.line_buffering,
        write_through=out.write_through,
    )


def output_failed(program: str, error: StandardOutputError, unreported: str = "") -> int:
    """Standard output could not be written: said on standard error as ``program``'s error
    (with ``unreported``, what may have been done without being said), and what is still
    buffered for it dropped (it would fail again at exit). The exit status, 1."""
    fail(
        program,
        f"could not write standard output: {error.strerror or error}. Free space on the disk "
        "it goes to, or check the file or device it is redirected to." + unreported,
    )
    discard_output()
    return EXIT_FAILED


def discard_output() -> None:
    """What is still buffered for standard output, and anything printed later, goes nowhere:
    its file failed or its reader went away, and a later write would fail again (at exit,
    as an "Exception ignored" traceback)."""
    with contextlib.suppress(OSError, ValueError):  # not a file (a test's capture)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def flushed(program: str, status: int, unreported: str = "") -> int:
    """``status`` once what is still buffered for standard output is written, whatever the
    command ended with; 141 when its reader went away meanwhile, ``output_failed`` when its
    file failed (not at exit, where it would be a traceback and status 120)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        discard_output()
        return EXIT_BROKEN_PIPE
    except StandardOutputError as error:
        return output_failed(program, error, unreported)
    return status


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
    unreported: str = "",
) -> int:
    """``command``'s exit status, or the status of the error it raised, once said on standard
    error as ``program``'s: ``usage`` for the configuration or the credential (each field's
    problem on a line of its own, or all on one line when ``one_line``), 1 for Procurify's
    errors and when standard output could not be written (``output_failed``, saying
    ``unreported``), 130 when interrupted, 141 when the reader of standard output went away or
    standard output was closed from the start."""
    if output_closed(program):
        return EXIT_BROKEN_PIPE
    status = _status(command, program, usage, one_line, unreported)
    return flushed(program, status, unreported)


def _status(
    command: Callable[[], int], program: str, usage: int, one_line: bool, unreported: str
) -> int:
    """``command``'s exit status, or its error's said (see ``exit_status``)."""
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
        discard_output()
        return EXIT_BROKEN_PIPE
    except StandardOutputError as error:
        return output_failed(program, error, unreported)
