"""The console scripts, run as hosts run them against the sandbox, never print a client secret
that their configuration misplaces (as a key, a stream's or filter's name, a results file):
the in-process property test (``tests/unit/test_misplaced_secret.py``) draws the places; here
the real executables show that the masking holds with real standard streams and logging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nexla_procurify.credential import ALLOW_LOOPBACK_ENV
from nexla_procurify.sandbox import Sandbox

BIN = Path(sys.executable).parent


def _run(script: str, arguments: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TAP_PROCURIFY_", "TARGET_PROCURIFY_", "PROCURIFY_"))
    }
    environment[ALLOW_LOOPBACK_ENV] = "1"
    return subprocess.run(
        [str(BIN / script), *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )


def _file(tmp_path: Path, name: str, value: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def test_the_tap_and_the_airbyte_source_mask_a_secret_used_as_a_key_and_a_stream(
    shared_sandbox: Sandbox, tmp_path: Path
) -> None:
    credential = shared_sandbox.credential()
    secret = credential["client_secret"]
    config = {**credential, secret: 1, "filters": {secret: {}, "vendors": {secret: 1}}}
    path = _file(tmp_path, "config.json", config)
    tap = _run("tap-procurify", ["--config", path])
    check = _run("source-procurify", ["check", "--config", path])
    assert tap.returncode == 2
    assert "Unknown tap setting(s): ********" in tap.stderr
    assert '"status":"FAILED"' in check.stdout
    for said in (tap.stdout, tap.stderr, check.stdout, check.stderr):
        assert secret not in said


def test_the_target_masks_a_secret_used_as_a_stream_name(
    shared_sandbox: Sandbox, tmp_path: Path
) -> None:
    credential = shared_sandbox.credential()
    secret = credential["client_secret"]
    streams = {secret: {"resource": "vendors", "operation": "create"}}
    path = _file(tmp_path, "config.json", {**credential, "streams": streams})
    lines = [
        {"type": "RECORD", "stream": secret, "record": {"name": "no email, no type"}},
        {"type": "STATE", "value": {"bookmarks": {}}},
    ]
    target = _run(
        "target-procurify",
        ["--config", path],
        "".join(json.dumps(line) + "\n" for line in lines),
    )
    assert target.returncode == 1  # the record is rejected
    assert '"stream": "********"' in target.stderr
    assert "No further STATE is echoed" in target.stderr
    assert secret not in target.stdout + target.stderr
