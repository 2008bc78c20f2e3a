"""What the command line leaves behind: process state, files, threads, exit codes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexla_procurify import cli
from nexla_procurify.credential import ALLOW_LOOPBACK_ENV
from nexla_procurify.sandbox import Sandbox


def test_demo_restores_the_loopback_setting(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    assert cli.main(["demo"]) == 0
    capsys.readouterr()
    assert ALLOW_LOOPBACK_ENV not in os.environ


def test_a_credential_file_is_private_even_when_it_existed(tmp_path: Path) -> None:
    target = tmp_path / "credential.json"
    target.write_text("{}")
    target.chmod(0o644)
    cli._write_private(target, json.dumps({"client_secret": "x"}))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_read_with_a_limit_stops_prefetching(sandbox: Sandbox, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps(sandbox.credential()))
    before = {thread.name for thread in threading.enumerate()}
    assert cli.main(["read", "vendors", "--credential", str(credential), "--page-size", "2",
                     "--concurrency", "4", "--limit", "1"]) == 0
    capsys.readouterr()
    readers = [thread for thread in threading.enumerate()
               if thread.name.startswith("read-vendors") and thread.name not in before]
    for thread in readers:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in readers)


def test_output_cut_short_exits_like_a_tool_killed_by_sigpipe() -> None:
    command = (f"{sys.executable} -m nexla_procurify discover | head -c 10 > /dev/null; "
               "echo ${PIPESTATUS[0]}")
    finished = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                              timeout=60, check=True)
    assert finished.stdout.strip() == "141"
    assert "Traceback" not in finished.stderr


def test_an_unfinished_read_is_closed_before_its_session() -> None:
    closed: list[str] = []

    def messages() -> Iterator[int]:
        try:
            yield 1
            yield 2
        finally:
            closed.append("messages")

    with cli._closed_after(messages()) as opened:
        next(opened)
    assert closed == ["messages"]
