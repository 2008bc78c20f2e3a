"""What the command line leaves behind: process state, files, threads, exit codes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nexla_procurify import cli
from nexla_procurify.cli import commands, running
from nexla_procurify.credential import ALLOW_LOOPBACK_ENV
from nexla_procurify.sandbox import Fault, Sandbox


def test_demo_restores_the_loopback_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    assert cli.main(["demo"]) == 0
    capsys.readouterr()
    assert ALLOW_LOOPBACK_ENV not in os.environ


def test_a_credential_file_is_private_even_when_it_existed(tmp_path: Path) -> None:
    target = tmp_path / "credential.json"
    target.write_text("{}")
    target.chmod(0o644)
    commands.write_private(target, json.dumps({"client_secret": "x"}))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_read_with_a_limit_stops_prefetching(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps(sandbox.credential()))
    before = {thread.name for thread in threading.enumerate()}
    assert (
        cli.main(
            [
                "read",
                "vendors",
                "--credential",
                str(credential),
                "--page-size",
                "2",
                "--concurrency",
                "4",
                "--limit",
                "1",
            ]
        )
        == 0
    )
    capsys.readouterr()
    readers = [
        thread
        for thread in threading.enumerate()
        if thread.name.startswith("read-vendors") and thread.name not in before
    ]
    for thread in readers:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in readers)


SCRIPTS = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        f"{sys.executable} -m nexla_procurify discover",
        f"{SCRIPTS / 'target-procurify'} --about",
        f"{SCRIPTS / 'tap-procurify'} --discover",
    ],
)
def test_output_cut_short_exits_like_a_tool_killed_by_sigpipe(command: str) -> None:
    # The reader is gone before the program starts writing (``true`` reads nothing), so every
    # write meets a closed pipe. An output that fit in the pipe before it closed (a race this
    # test does not rely on) would end 0: either way, no traceback.
    command = f"{command} | true; echo ${{PIPESTATUS[0]}}"
    finished = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True
    )
    assert finished.stdout.strip() in {"141", "0"}
    assert "Traceback" not in finished.stderr
    assert "Exception ignored" not in finished.stderr


def test_a_long_output_cut_short_exits_141() -> None:
    command = f"{sys.executable} -m nexla_procurify discover | head -c 10 > /dev/null"
    finished = subprocess.run(
        ["bash", "-c", f"{command}; echo ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert finished.stdout.strip() == "141"  # far more than a pipe holds: the write must fail


def test_an_unfinished_read_is_closed_before_its_session() -> None:
    closed: list[str] = []

    def messages() -> Iterator[int]:
        try:
            yield 1
            yield 2
        finally:
            closed.append("messages")

    with running.closed_after(messages()) as opened:
        next(opened)
    assert closed == ["messages"]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:  # a failed test must not leave a writer waiting on its input
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                with contextlib.suppress(BrokenPipeError):  # input it could not take
                    pipe.close()


def _write_process(
    sandbox: Sandbox, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps(sandbox.credential()))
    env = {**os.environ, ALLOW_LOOPBACK_ENV: "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nexla_procurify",
            "write",
            "departments",
            "--operation",
            "create",
            "--concurrency",
            "1",
            "--credential",
            str(credential),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    processes.append(process)
    return process


def _created_departments(sandbox: Sandbox, names: set[str]) -> int:
    return sum(1 for record in sandbox.records("departments") if record["name"] in names)


def test_ctrl_c_while_waiting_for_input_reports_what_was_written(
    sandbox: Sandbox, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    process = _write_process(sandbox, tmp_path, processes)
    names = {f"Waiting {n}" for n in range(3)}
    assert process.stdin is not None
    for name in sorted(names):
        process.stdin.write(json.dumps({"name": name, "branch": 1}).encode() + b"\n")
    process.stdin.flush()  # and the input stays open, as a pipe from a slow producer would
    deadline = time.monotonic() + 30
    while _created_departments(sandbox, names) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)  # with the input still open: communicate() would close it
    assert process.stdout is not None
    assert process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    process.stdin.close()
    assert process.returncode == 130
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["created"] * 3
    assert b"Interrupted" in err


def test_a_second_ctrl_c_stops_at_once(
    sandbox: Sandbox, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    sandbox.inject(Fault("delay", delay=20, method="POST", path="/api/v3/departments"))
    process = _write_process(sandbox, tmp_path, processes)
    assert process.stdin is not None
    process.stdin.write(json.dumps({"name": "Slow", "branch": 1}).encode() + b"\n")
    process.stdin.flush()
    deadline = time.monotonic() + 30
    while not sandbox.requests_to("/api/v3/departments", method="POST"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=15)
    assert process.returncode == 130
    assert time.monotonic() - started < 10
    assert b"Stopped at once" in err


def _spawn(
    arguments: list[str], sandbox: Sandbox, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps(sandbox.credential()))
    process = subprocess.Popen(
        [sys.executable, "-m", "nexla_procurify", *arguments, "--credential", str(credential)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, ALLOW_LOOPBACK_ENV: "1"},
    )
    processes.append(process)
    return process


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, "the command ended before it was stopped"
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_write_reports_every_record_it_created(
    allow_loopback: None,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
    signum: int,
    code: int,
) -> None:
    """Stopped as a scheduler stops a job, with four records in flight: every department the
    sandbox created is in the output as created, with its id; then the summary."""
    names = [f"Stopped {n}" for n in range(400)]
    records = tmp_path / "departments.jsonl"
    records.write_text("".join(json.dumps({"name": name, "branch": 1}) + "\n" for name in names))
    with Sandbox(latency=0.02) as sandbox:
        process = _spawn(
            ["write", "departments", str(records), "--operation", "create", "--concurrency", "4"],
            sandbox,
            tmp_path,
            processes,
        )
        _wait_for(lambda: sandbox.created("departments") >= 12, process)
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
        created = {
            record["name"]: record["id"]
            for record in sandbox.records("departments")
            if record["name"] in set(names)
        }
    results = [json.loads(line) for line in out.splitlines()]
    assert process.returncode == code
    assert [r["index"] for r in results] == list(range(len(results)))
    assert all(r["status"] == "created" for r in results)
    assert {names[r["index"]]: r["id"] for r in results} == created
    assert len(created) < len(names)  # it did stop
    assert f"departments create: {len(results)} records: {len(results)} created" in err.decode()
    assert b"Interrupted" in err
    assert b"Traceback" not in err


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (signal.SIGTERM, signal.SIGTERM),
        (signal.SIGINT, signal.SIGTERM),
        (signal.SIGTERM, signal.SIGINT),
    ],
)
def test_a_second_signal_of_either_kind_stops_at_once(
    sandbox: Sandbox,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
    first: int,
    second: int,
) -> None:
    sandbox.inject(Fault("delay", delay=20, method="POST", path="/api/v3/departments"))
    process = _write_process(sandbox, tmp_path, processes)
    assert process.stdin is not None
    process.stdin.write(json.dumps({"name": "Slow", "branch": 1}).encode() + b"\n")
    process.stdin.flush()
    _wait_for(lambda: bool(sandbox.requests_to("/api/v3/departments", method="POST")), process)
    process.send_signal(first)
    time.sleep(0.3)
    process.send_signal(second)
    _, err = process.communicate(timeout=15)  # well before the 20 s the POST is held
    assert process.returncode == 128 + second
    assert b"Stopped at once" in err


def test_sigterm_ends_a_read_without_waiting_for_a_slow_answer_in_flight(
    allow_loopback: None,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    # Page 3 takes 300 s to come: the stopped read must not wait for it to exit.
    slow = Fault("delay", delay=300.0, path="/api/v3/vendors", query=(("page", "3"),), times=None)
    with Sandbox(records={"vendors": 50}) as sandbox:
        sandbox.inject(slow)
        process = _spawn(
            ["read", "vendors", "--page-size", "5", "--concurrency", "2"],
            sandbox,
            tmp_path,
            processes,
        )
        _wait_for(
            lambda: any(r.query.get("page") == "3" for r in sandbox.requests_to("/api/v3/vendors")),
            process,
        )
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)  # far less than the slow answer's 300 s
    assert process.returncode == 143
    assert b"Traceback" not in err
    assert json.loads(out.splitlines()[-1])["type"] == "STATE"


def test_sigterm_ends_a_read_with_the_state_to_resume_from(
    allow_loopback: None,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Sandbox(records={"vendors": 300}, latency=0.05) as sandbox:
        process = _spawn(
            ["read", "vendors", "--page-size", "5", "--concurrency", "2"],
            sandbox,
            tmp_path,
            processes,
        )
        _wait_for(lambda: len(sandbox.requests_to("/api/v3/vendors")) >= 6, process)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 143
        assert b"Interrupted" in err
        assert b"Traceback" not in err
        lines = [json.loads(line) for line in out.splitlines()]
        assert lines[-1]["type"] == "STATE"
        first = {m["record"]["id"] for m in lines if m["type"] == "RECORD"}
        assert 0 < len(first) < 300
        state = tmp_path / "state.json"
        state.write_text(json.dumps(lines[-1]))
        credential = tmp_path / "credential.json"
        assert (
            cli.main(
                [
                    "read",
                    "vendors",
                    "--state",
                    str(state),
                    "--page-size",
                    "5",
                    "--credential",
                    str(credential),
                ]
            )
            == 0
        )
        rest = {
            json.loads(line)["record"]["id"]
            for line in capsys.readouterr().out.splitlines()
            if json.loads(line)["type"] == "RECORD"
        }
    assert first | rest == set(range(1, 301))  # nothing lost by stopping


class _StoppedAfterState(io.StringIO):
    """Standard output on which a stop signal lands as the second mid-read STATE line is
    written (after the line is out, before the command goes on)."""

    def __init__(self) -> None:
        super().__init__()
        self.states: list[str] = []

    def write(self, text: str) -> int:
        written = super().write(text)
        if '"type":"STATE"' in text and '"in_progress"' in text and len(self.states) < 2:
            self.states.append(text)
            if len(self.states) == 2:
                raise running.Stop(signal.SIGTERM)
        return written


def test_a_stop_as_a_state_is_written_leaves_that_state_last(
    sandbox: Sandbox, credential_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _StoppedAfterState()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(os, "_exit", _exit_as_system_exit)
    with pytest.raises(SystemExit) as ended:
        cli.main(
            [
                "read",
                "vendors",
                "--credential",
                str(credential_file),
                "--page-size",
                "5",
                "--concurrency",
                "1",
            ]
        )  # no prefetch left running past the test
    assert ended.value.code == 128 + signal.SIGTERM
    assert len(out.states) == 2
    # The last line is the STATE being written when the signal came, not the one before it.
    assert out.getvalue().splitlines()[-1] == out.states[1].strip()


def _exit_as_system_exit(status: int) -> None:
    raise SystemExit(status)
