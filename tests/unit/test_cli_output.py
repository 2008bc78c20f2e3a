"""How the scripts write their data lines: a stop signal never cuts one in half (it is
deferred until the line is written), and unbuffered standard output is given a writer that
finishes every write."""

from __future__ import annotations

import io
import signal
import sys
from pathlib import Path

import pytest

from nexla_procurify.cli.process import output_closed
from nexla_procurify.cli.running import Stop, StopPoint


class _SignalledMidWrite(io.StringIO):
    """A stream on which a stop signal arrives halfway through each write."""

    def __init__(self, point: StopPoint) -> None:
        super().__init__()
        self.point = point

    def write(self, text: str) -> int:
        half = len(text) // 2
        super().write(text[:half])
        self.point(signal.SIGTERM)  # what the signal handler calls, on the main thread
        return half + super().write(text[half:])


def test_a_stop_during_a_write_comes_once_the_line_is_whole() -> None:
    point = StopPoint()
    out = _SignalledMidWrite(point)
    with pytest.raises(Stop) as stopped:
        point.write(out, '{"type":"RECORD"}\n')
    assert stopped.value.signum == signal.SIGTERM
    assert out.getvalue() == '{"type":"RECORD"}\n'


def test_a_stop_between_writes_comes_at_once() -> None:
    point = StopPoint()
    with pytest.raises(Stop):
        point(signal.SIGINT)


def test_unbuffered_standard_output_gets_a_writer_that_finishes_each_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.txt"
    raw = io.FileIO(target, "wb")
    unbuffered = io.TextIOWrapper(raw, encoding="utf-8")  # as PYTHONUNBUFFERED=1 leaves stdout
    monkeypatch.setattr(sys, "stdout", unbuffered)
    try:
        assert not output_closed("test")
        given = sys.stdout
        assert isinstance(given, io.TextIOWrapper)
        assert isinstance(given.buffer, io.BufferedWriter)
        print('{"type":"STATE"}', file=given)
        assert target.read_text() == '{"type":"STATE"}\n'  # a whole line goes out at once
        given.close()  # closes its own view of the file, not the file
        assert not raw.closed
    finally:
        unbuffered.detach()
        raw.close()
