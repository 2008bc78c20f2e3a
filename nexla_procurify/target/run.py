"""One target run: Singer messages in, records written through the ``write_destination`` hook
stream by stream, states echoed once safe, a summary, and the exit status.

The reading thread routes each ``RECORD`` to its stream's writer (started at the stream's first
``SCHEMA`` or ``RECORD``), flushes every writer and hands the state to the gate at each
``STATE``. It stops reading at the end of the input, at a first SIGINT or SIGTERM, when a
writer stopped (``on_error: abort``), when an output cannot be written, or at a message it
cannot follow; in every case the records already taken are finished and reported, and the
states they make safe are echoed, before the run ends.
"""

from __future__ import annotations

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_FAILED", "EXIT_INPUT", "EXIT_OK", "Outcome", "run"]

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from nexla_procurify import plugin
from nexla_procurify.cli.process import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    StandardOutputError,
    discard_output,
)
from nexla_procurify.errors import ConfigurationError, ProcurifyError
from nexla_procurify.host import Host
from nexla_procurify.messages import WriteStatus
from nexla_procurify.target.config import TargetConfig
from nexla_procurify.target.gate import StateGate
from nexla_procurify.target.singer_input import (
    RecordLine,
    SchemaLine,
    SingerInput,
    SingerInputError,
    StateLine,
)
from nexla_procurify.target.stream_writer import StreamWriter

EXIT_INPUT = EXIT_USAGE  # the configuration, or an input that is not a Singer stream
CONNECTOR = plugin.CONNECTOR_TYPE


@dataclass(frozen=True)
class Outcome:
    """How a run ended: its exit status and the lines of its summary (for standard error)."""

    status: int
    summary: tuple[str, ...]


def run(
    config: TargetConfig,
    messages: SingerInput,
    *,
    host: Host,
    echo: Callable[[str], None],
    report: Callable[[str], None],
) -> Outcome:
    """Run the target over ``messages``; ``echo`` and ``report`` write one line of state and
    of results. A credential that is not valid is a ``CredentialError`` before any input."""
    hold = "a dry run writes nothing" if config.routing.dry_run else None
    gate = StateGate(echo=echo, report=report, hold=hold)
    stopped = threading.Event()
    reasons: list[str] = []
    error: ProcurifyError | None = None

    def on_stop(reason: str) -> None:
        reasons.append(reason)
        stopped.set()

    writers: dict[str, StreamWriter] = {}
    with host.authenticate(CONNECTOR, config.credential_dict()) as session:

        def write(settings: dict[str, Any], records: Any) -> Any:
            return host.write(CONNECTOR, session, settings, records)

        def writer(stream: str) -> StreamWriter:
            if stream not in writers:
                writers[stream] = StreamWriter(config.routing.route(stream), write, gate, on_stop)
            return writers[stream]

        try:
            for message in messages:
                if isinstance(message, RecordLine):
                    writer(message.stream).put(message.record)
                elif isinstance(message, SchemaLine):
                    writer(message.stream)
                elif isinstance(message, StateLine):
                    for each in writers.values():
                        each.flush()
                    gate.state(message.value)
                if stopped.is_set() or gate.failure is not None:
                    break
        except ProcurifyError as problem:  # a stream not mapped, a line that is not Singer
            error = problem
        finally:
            for each in writers.values():
                each.close()
            for each in writers.values():
                each.join()
    gate.finish()
    return _outcome(gate, writers, error, reasons, messages.stopped_by)


def _outcome(
    gate: StateGate,
    writers: dict[str, StreamWriter],
    error: ProcurifyError | None,
    reasons: list[str],
    signum: int | None,
) -> Outcome:
    lines = []
    for stream, each in writers.items():
        counts = gate.counts.get(stream, Counter())
        total = sum(counts.values())
        shown = ", ".join(f"{counts.get(status, 0)} {status}" for status in get_args(WriteStatus))
        lines.append(f"{each.route.describe()}: {total} records: {shown}.")
    states = "no STATE echoed" if not gate.echoed else f"{gate.echoed} STATE(s) echoed"
    lines.append(f"{states}" + (f" ({gate.held})." if gate.held else "."))
    lines.extend(f"Stopped: {reason}." for reason in reasons)
    if signum is not None:
        lines.append(
            "Interrupted: the records above were handled; the rest of the input was not read."
        )
        return Outcome(128 + signum, tuple(lines))
    if error is not None:
        lines.append(f"target-procurify: error: {error.message}")
        usage = isinstance(error, ConfigurationError | SingerInputError)
        return Outcome(EXIT_INPUT if usage else EXIT_FAILED, tuple(lines))
    if isinstance(gate.failure, BrokenPipeError):
        return Outcome(EXIT_BROKEN_PIPE, tuple(lines))
    if gate.failure is not None:
        lines.append(f"target-procurify: error: {_unwritten(gate.failure)}")
        return Outcome(EXIT_FAILED, tuple(lines))
    failed = any(
        counts.get(status, 0)
        for counts in gate.counts.values()
        for status in ("rejected", "failed")
    )
    return Outcome(EXIT_FAILED if failed or reasons else EXIT_OK, tuple(lines))


def _unwritten(failure: BaseException) -> str:
    """What could not be written (``failure`` of the state gate) and what to do."""
    reason = getattr(failure, "strerror", None) or str(failure)
    if isinstance(failure, StandardOutputError):
        discard_output()  # said here: what is still buffered must not fail again at exit
        return (
            f"could not write standard output: {reason}. Free space on the disk it goes to, or "
            "check the file or device it is redirected to; no STATE was echoed after it."
        )
    name = getattr(failure, "filename", None)
    where = f"the results file {name}" if name else "the results"
    return (
        f"could not write {where}: {reason}. Free space on its disk, or check its path. Records "
        "may have been written in Procurify without their results being reported: check there."
    )
