"""A stop signal that comes while the output is blocked (a slow reader has filled the pipe):
``read`` and the tap finish the line they were writing, then print the last STATE again as the
last line; every line stays whole JSON, whatever moment the signal lands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexla_procurify.credential import ALLOW_LOOPBACK_ENV
from nexla_procurify.sandbox import Sandbox

TAP = str(Path(sys.executable).with_name("tap-procurify"))


def _main_thread_syscall(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/task/{pid}/syscall").read_text()
    except OSError:
        pytest.skip("needs Linux's /proc/PID/syscall to see the process blocked on a write")


def _stopped_while_blocked(command: list[str], unbuffered: bool) -> tuple[int, list[str], str]:
    """Run ``command`` without reading its output until it is blocked writing it, send
    SIGTERM, then read everything: (exit status, output lines, standard error)."""
    environment = {**os.environ, ALLOW_LOOPBACK_ENV: "1"}
    environment.pop("PYTHONUNBUFFERED", None)
    if unbuffered:  # as in many containers: a write a signal interrupts is cut short
        environment["PYTHONUNBUFFERED"] = "1"
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    ) as process:
        try:
            deadline = time.monotonic() + 60
            while not _main_thread_syscall(process.pid).startswith("1 0x1 "):  # write(1, ...)
                assert process.poll() is None, "the command ended before its output filled"
                assert time.monotonic() < deadline, "the command never blocked on its output"
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    return process.returncode, out.decode().splitlines(), err.decode()


def _assert_whole_lines_and_the_last_state_last(lines: list[str]) -> None:
    messages = [json.loads(line) for line in lines]  # every line whole JSON
    assert messages[-1]["type"] == "STATE"
    assert any(message == messages[-1] for message in messages[:-1])


@pytest.fixture(scope="module")
def large() -> Iterator[Sandbox]:
    with Sandbox(records={"purchase_orders": 400}) as sandbox:
        yield sandbox


@pytest.mark.parametrize("unbuffered", [False, True])
def test_read_stopped_while_its_output_is_blocked_leaves_whole_lines(
    large: Sandbox, tmp_path: Path, unbuffered: bool
) -> None:
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps(large.credential()))
    command = [sys.executable, "-m", "nexla_procurify", "read", "purchase_orders"]
    status, lines, err = _stopped_while_blocked(
        [*command, "--page-size", "8", "--credential", str(credential)], unbuffered
    )
    assert status == 143, err
    _assert_whole_lines_and_the_last_state_last(lines)
    assert "Traceback" not in err


@pytest.mark.parametrize("unbuffered", [False, True])
def test_the_tap_stopped_while_its_output_is_blocked_leaves_whole_lines(
    large: Sandbox, tmp_path: Path, unbuffered: bool
) -> None:
    config = tmp_path / "config.json"
    credential = large.credential()
    config.write_text(
        json.dumps(
            {key: credential[key] for key in ("client_id", "client_secret", "base_url")}
            | {"page_size": 8}
        )
    )
    discovered = subprocess.run(
        [TAP, "--config", str(config), "--discover"],
        capture_output=True,
        check=True,
        text=True,
        env={**os.environ, ALLOW_LOOPBACK_ENV: "1"},
    )
    catalog = json.loads(discovered.stdout)
    catalog["streams"] = [s for s in catalog["streams"] if s["stream"] == "purchase_orders"]
    for entry in catalog["streams"][0]["metadata"]:
        if entry["breadcrumb"] == []:
            entry["metadata"]["selected"] = True
    selected = tmp_path / "catalog.json"
    selected.write_text(json.dumps(catalog))
    status, lines, err = _stopped_while_blocked(
        [TAP, "--config", str(config), "--catalog", str(selected)], unbuffered
    )
    assert status == 143, err
    _assert_whole_lines_and_the_last_state_last(lines)
    assert "Traceback" not in err
