"""``-v`` logs method, path and status: never a query string (it holds record values)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from nexla_procurify.cli import main
from nexla_procurify.sandbox import Sandbox


def test_verbose_read_logs_paths_without_query_strings(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps(sandbox.credential()))
    caplog.set_level(logging.DEBUG)
    code = main(
        [
            "-v",
            "read",
            "vendors",
            "--credential",
            str(credential),
            "--filter",
            "name=Zyx-secret-value",
        ]
    )
    assert code == 0
    # (the in-process sandbox logs its own access lines: it is the server, not the connector)
    logged = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith("nexla_procurify.sandbox")
    )
    assert "GET /api/v3/vendors -> 200" in logged
    assert "?" not in logged
    assert "Zyx-secret-value" not in logged + capsys.readouterr().err
