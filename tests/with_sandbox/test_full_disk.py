"""The console scripts writing to a full disk (``/dev/full``): one message on standard error
saying what could not be written, why and what to do, and status 1; never a traceback, and
nothing left over to fail again at exit."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from nexla_procurify.sandbox import Sandbox

SCRIPTS = Path(sys.executable).parent
FULL = "/dev/full"
NO_SPACE = "could not write standard output: No space left on device. Free space"
RECORD = {"name": "Full Disk", "email": ["full@v.example"], "type": 3, "external_id": "FULL-1"}

pytestmark = pytest.mark.skipif(not Path(FULL).exists(), reason="needs /dev/full")


def _run(command: str, *, unbuffered: bool, stdin: bytes = b"") -> tuple[int, str]:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1" if unbuffered else ""}
    finished = subprocess.run(
        ["bash", "-c", command],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
        env=environment,
    )
    err = finished.stderr.decode()
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    return finished.returncode, err


@pytest.mark.parametrize("unbuffered", [True, False])
@pytest.mark.parametrize(
    "arguments",
    [
        "nexla-procurify spec",
        "nexla-procurify discover",
        "nexla-procurify read vendors --credential {credential}",
        "tap-procurify --about",
        "tap-procurify --discover",
        "tap-procurify --config {credential} --catalog {catalog}",
        "target-procurify --about",
        "source-procurify spec",
        "source-procurify discover --config {credential}",
    ],
)
def test_a_full_disk_is_said_with_status_1(
    arguments: str, unbuffered: bool, sandbox: Sandbox, tmp_path: Path
) -> None:
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps(sandbox.credential()))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps(
            {
                "streams": [
                    {
                        "tap_stream_id": "vendors",
                        "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
                    }
                ]
            }
        )
    )
    given = arguments.format(
        credential=shlex.quote(str(credential)), catalog=shlex.quote(str(catalog))
    )
    status, err = _run(f"{SCRIPTS}/{given} > {FULL}", unbuffered=unbuffered)
    assert status == 1, err
    assert NO_SPACE in err


def test_a_write_that_cannot_print_its_results_says_to_check_procurify(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps(sandbox.credential()))
    command = (
        f"{SCRIPTS}/nexla-procurify write vendors --operation upsert --key external_id "
        f"--credential {shlex.quote(str(credential))} > {FULL}"
    )
    status, err = _run(command, unbuffered=True, stdin=json.dumps(RECORD).encode() + b"\n")
    assert status == 1, err
    assert NO_SPACE in err
    assert "Records may have been written in Procurify without their results being printed" in err


def test_the_target_says_a_results_file_it_cannot_write(sandbox: Sandbox, tmp_path: Path) -> None:
    settings = {**sandbox.credential(), "results_file": FULL}
    del settings["name"]
    config = tmp_path / "config.json"
    config.write_text(json.dumps(settings))
    messages = [
        {"type": "SCHEMA", "stream": "vendors", "schema": {"type": "object"}},
        {"type": "RECORD", "stream": "vendors", "record": RECORD},
        {"type": "STATE", "value": {"bookmarks": {"v": 1}}},
    ]
    lines = "".join(json.dumps(each) + "\n" for each in messages).encode()
    command = f"{SCRIPTS}/target-procurify --config {shlex.quote(str(config))}"
    status, err = _run(command, unbuffered=True, stdin=lines)
    assert status == 1, err
    assert f"could not write the results file {FULL}: No space left on device" in err
    assert "without their results being reported: check there" in err
    del settings["results_file"]  # results on standard error, states on a full disk
    config.write_text(json.dumps(settings))
    status, err = _run(f"{command} > {FULL}", unbuffered=False, stdin=lines)
    assert status == 1, err
    assert err.count(NO_SPACE) == 1  # said once: what was still buffered is not tried again


_PRINTS_THEN_FAILS = """
import sys
from nexla_procurify.cli.process import exit_status
from nexla_procurify.errors import ProcurifyError


def command():
    print("RECORD")  # buffered: still to be written when the error comes
    raise ProcurifyError("Procurify answered 500")


sys.exit(exit_status(command, "demo"))
"""


@pytest.mark.parametrize(
    ("redirect", "expected"), [(f"> {FULL}", 1), ("| true", 141)], ids=["full disk", "pipe"]
)
def test_output_still_buffered_when_a_command_fails_is_written_before_the_exit(
    redirect: str, expected: int, tmp_path: Path
) -> None:
    script = tmp_path / "prints_then_fails.py"
    script.write_text(_PRINTS_THEN_FAILS)
    status, err = _run(
        f"{sys.executable} {script} {redirect}; exit ${{PIPESTATUS[0]}}", unbuffered=False
    )
    assert status == expected, err
    assert "demo: error: Procurify answered 500" in err
