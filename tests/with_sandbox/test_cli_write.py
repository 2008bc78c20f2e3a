"""``nexla-procurify write`` against the sandbox."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest
from with_sandbox.writing import cli_write

from nexla_procurify import cli
from nexla_procurify.sandbox import Sandbox


def test_write_prints_one_result_per_line_and_a_summary(
    sandbox: Sandbox, credential_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = tmp_path / "vendors.jsonl"
    records.write_text(
        json.dumps(
            {
                "name": "A",
                "email": ["a@a.example"],
                "type": 3,
                "external_id": "CLI-1",
                "overall_score": None,
            }
        )
        + "\n\nnot json\n"
        + json.dumps(
            {
                "name": "B",
                "email": ["b@b.example"],
                "type": 4,
                "external_id": "CLI-2",
                "overall_score": None,
            }
        )
        + "\n"
    )
    code = cli.main(
        [
            "write",
            "vendors",
            str(records),
            "--operation",
            "upsert",
            "--key",
            "external_id",
            "--credential",
            str(credential_file),
        ]
    )
    out, err = capsys.readouterr()
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["status"] for r in results] == ["created", "rejected", "created"]
    assert [r["index"] for r in results] == [0, 1, 2]
    assert code == 1  # a record was rejected
    assert "vendors upsert: 3 records: 2 created" in err
    assert "1 rejected" in err
    assert [v["external_id"] for v in sandbox.records("vendors")].count("CLI-1") == 1
    assert sandbox.credential()["client_secret"] not in out + err


def test_write_from_stdin_dry_run_writes_nothing(
    sandbox: Sandbox,
    credential_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = len(sandbox.records("departments"))
    line = json.dumps({"name": "Research", "branch": 1})
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO((line + "\n").encode())))
    code, results, _ = cli_write(capsys, credential_file, "departments", "--dry-run")
    assert code == 0
    assert [r["status"] for r in results] == ["validated"]
    assert len(sandbox.records("departments")) == before
    assert sandbox.requests_to("/api/v3/departments", method="POST") == []


def test_write_with_an_unsupported_operation_is_a_usage_error(
    credential_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        ["write", "currencies", "--operation", "create", "--credential", str(credential_file)]
    )
    _, err = capsys.readouterr()
    assert code == 2
    assert "currencies" in err
    assert "Traceback" not in err


def test_a_missing_input_file_is_a_one_line_error(
    credential_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli_write(capsys, credential_file, "vendors", str(tmp_path / "nope.jsonl"))
    assert code == 2
    assert err.count("\n") == 1
    assert "cannot read input file" in err


def test_lines_that_are_not_utf8_or_too_deep_are_rejected_not_fatal(
    credential_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = tmp_path / "odd.jsonl"
    good = json.dumps({"name": "Research", "branch": 1}).encode()
    records.write_bytes(b"\xff\xfe not utf-8\n" + b"[" * 100_000 + b"\n" + good + b"\n")
    code, results, _ = cli_write(capsys, credential_file, "departments", str(records))
    statuses = [r["status"] for r in results]
    assert statuses == ["rejected", "rejected", "created"]
    assert code == 1


class InterruptingInput:
    """Standard input that presses Ctrl-C after handing out ``after`` lines."""

    def __init__(self, lines: list[bytes], after: int) -> None:
        self.lines = iter(lines)
        self.after = after
        self.given = 0

    def readline(self, size: int = -1) -> bytes:
        if self.given == self.after:
            os.kill(os.getpid(), signal.SIGINT)
        self.given += 1
        return next(self.lines, b"")


def test_the_first_ctrl_c_finishes_and_reports_what_was_sent(
    sandbox: Sandbox,
    credential_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = [
        json.dumps(
            {
                "name": f"V{n}",
                "email": ["v@v.example"],
                "type": 3,
                "external_id": f"INT-{n}",
                "overall_score": None,
            }
        ).encode()
        + b"\n"
        for n in range(20)
    ]
    monkeypatch.setattr("sys.stdin", SimpleNamespace(buffer=InterruptingInput(lines, 5)))
    code, results, err = cli_write(capsys, credential_file, "vendors", "--concurrency", "1")
    assert code == 130
    assert [r["status"] for r in results] == ["created"] * 5
    created = [v for v in sandbox.records("vendors") if v["external_id"].startswith("INT-")]
    assert len(created) == 5  # everything sent was reported
    assert "Interrupted" in err
