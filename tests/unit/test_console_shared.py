"""The pieces every console script shares: errors as a message and an exit status
(``cli.process.exit_status``, with the program's name and its usage status), the stoppable
reader of input lines (``jsonlines.StoppableLines``), and the files they open."""

from __future__ import annotations

import errno
import io
from pathlib import Path

import pytest

from nexla_procurify.cli.inputs import load_json_object, open_input
from nexla_procurify.cli.process import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    StandardOutputError,
    exit_status,
)
from nexla_procurify.destination import UnreadableRecord
from nexla_procurify.errors import ConfigurationError, CredentialError, ProcurifyError
from nexla_procurify.jsonlines import StoppableLines


def raising(error: BaseException) -> int:
    raise error


def test_the_command_s_own_status_is_returned() -> None:
    assert exit_status(lambda: 7, "prog") == 7


def test_a_configuration_error_is_said_as_the_program_s_with_its_usage_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = exit_status(lambda: raising(ConfigurationError("bad setting")), "prog", usage=5)
    assert status == 5
    assert capsys.readouterr().err == "prog: error: bad setting\n"


def test_a_credential_error_lists_each_field_on_its_own_line_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = CredentialError([("client_id", "is required"), (None, "is empty")])
    assert exit_status(lambda: raising(error), "prog") == 2
    assert capsys.readouterr().err == (
        "prog: error: the credential is not valid:\n"
        "  client_id: is required\n"
        "  credential: is empty\n"
    )


def test_a_credential_error_on_one_line_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    error = CredentialError([("client_id", "is required"), ("base_url", "is not a URL")])
    assert exit_status(lambda: raising(error), "tap", one_line=True) == 2
    assert capsys.readouterr().err == (
        "tap: error: the credential is not valid: client_id: is required; base_url: is not a URL\n"
    )


def test_procurify_s_errors_and_an_interrupt_have_their_statuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert exit_status(lambda: raising(ProcurifyError("gone")), "prog", usage=9) == EXIT_FAILED
    assert capsys.readouterr().err == "prog: error: gone\n"
    assert exit_status(lambda: raising(KeyboardInterrupt()), "prog") == EXIT_INTERRUPTED
    assert EXIT_BROKEN_PIPE == 141


def test_the_lines_are_numbered_blank_ones_skipped_and_damaged_ones_said() -> None:
    lines = StoppableLines(io.BytesIO(b'{"a": 1}\n\n  \n[2]\nnot json\n'))
    numbered = list(lines.numbered())
    assert [number for number, _ in numbered] == [1, 4, 5]
    assert numbered[0][1] == {"a": 1}
    assert numbered[1][1] == [2]
    assert isinstance(numbered[2][1], UnreadableRecord)
    assert lines.stopped_by is None


def test_a_stop_ends_the_lines_and_one_after_the_end_does_nothing() -> None:
    lines = StoppableLines(io.BytesIO(b"1\n2\n3\n"))
    numbered = lines.numbered()
    assert next(numbered) == (1, 1)
    lines.stop(15)
    assert list(numbered) == []
    assert lines.stopped_by == 15

    whole = StoppableLines(io.BytesIO(b"1\n"))
    assert list(whole.numbered()) == [(1, 1)]
    whole.stop(2)
    assert whole.stopped_by is None


def test_a_file_that_cannot_be_read_chains_no_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(ConfigurationError, match="cannot read config file") as loaded:
        load_json_object(missing, "config")
    assert loaded.value.__cause__ is None
    assert loaded.value.__suppress_context__
    with (
        pytest.raises(ConfigurationError, match="cannot read input file") as opened,
        open_input(missing),
    ):
        pass
    assert opened.value.__cause__ is None
    assert opened.value.__suppress_context__


def test_standard_output_that_cannot_be_written_is_said_with_status_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    full = StandardOutputError(errno.ENOSPC, "No space left on device")
    assert exit_status(lambda: raising(full), "prog", unreported=" Check there.") == EXIT_FAILED
    assert capsys.readouterr().err == (
        "prog: error: could not write standard output: No space left on device. Free space on "
        "the disk it goes to, or check the file or device it is redirected to. Check there.\n"
    )
    with pytest.raises(OSError, match="not an output"):  # another OSError is not taken for one
        exit_status(lambda: raising(OSError(errno.EIO, "not an output")), "prog")
