"""The console scripts started with standard output or standard error closed (``>&-``,
``2>&-``): a clear message and the closed-pipe status instead of a traceback, and nothing meant
for standard error ever printed on standard output (which carries the data)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from nexla_procurify.sandbox import Sandbox

SCRIPTS = Path(sys.executable).parent
CLOSED_PIPE = 141


def _bash(command: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["bash", "-c", command], input=stdin, capture_output=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    "arguments",
    [
        "tap-procurify --about",
        "tap-procurify --discover",
        "tap-procurify --config {config}",
        "source-procurify spec",
        "source-procurify check --config {config}",
        "source-procurify read --config {config} --catalog {config}",
        "target-procurify --about",
        "target-procurify --config {config}",
        "nexla-procurify discover",
    ],
)
def test_closed_standard_output_is_said_and_ends_141(arguments: str, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}")
    command = str(SCRIPTS / arguments.format(config=shlex.quote(str(config))))
    finished = _bash(f"{command} >&-")
    err = finished.stderr.decode()
    assert finished.returncode == CLOSED_PIPE, err
    assert "standard output is closed" in err
    assert "Traceback" not in err


def test_closed_standard_error_never_reaches_standard_output(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"page_size": 0}')
    finished = _bash(f"{SCRIPTS / 'tap-procurify'} --config {shlex.quote(str(config))} 2>&-")
    assert finished.returncode == 2
    assert finished.stdout == b""  # the configuration error had nowhere to go: not here


def test_the_targets_results_and_summary_stay_off_standard_output(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    credential = sandbox.credential()
    del credential["name"]
    config = tmp_path / "config.json"
    config.write_text(json.dumps(credential))  # no results file: results go to stderr
    messages = [
        {"type": "SCHEMA", "stream": "vendors", "schema": {"type": "object"}},
        {
            "type": "RECORD",
            "stream": "vendors",
            "record": {
                "name": "Closed Err",
                "email": ["closed@v.example"],
                "type": 3,
                "external_id": "CLOSED-ERR",
            },
        },
        {"type": "RECORD", "stream": "vendors", "record": {"name": 5}},  # rejected
        {"type": "STATE", "value": {"bookmarks": {"v": 1}}},
    ]
    data = "".join(json.dumps(m) + "\n" for m in messages).encode()
    command = f"{SCRIPTS / 'target-procurify'} --config {shlex.quote(str(config))} 2>&-"
    finished = _bash(command, data)
    assert finished.returncode == 1, _bash(
        command.removesuffix(" 2>&-"), data
    ).stderr  # one record not written
    lines = finished.stdout.decode().splitlines()
    assert all(json.loads(line)["type"] == "STATE" for line in lines), lines
    assert [v["external_id"] for v in sandbox.records("vendors")].count("CLOSED-ERR") == 1
