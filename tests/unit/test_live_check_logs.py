"""A live check (``nexla-procurify check --live``, ``source-procurify check``) masks a secret
that the Base URL repeats, in its log lines too ("Could not connect to <host>")."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import requests_mock

from nexla_procurify.airbyte.source import main as airbyte_main
from nexla_procurify.cli import main as cli_main

SECRET = "zq9xk2mp7vl4nr8t"
CREDENTIAL = {
    "client_id": "abc",
    "client_secret": SECRET,
    "base_url": f"https://{SECRET}.procurify.com",
}


def _cli(folder: Path) -> int:
    path = folder / "credential.json"
    path.write_text(json.dumps({**CREDENTIAL, "name": "n"}))
    return cli_main(["-v", "check", "--live", "--credential", str(path)])


def _airbyte(folder: Path) -> int:
    path = folder / "config.json"
    path.write_text(json.dumps(CREDENTIAL))
    return airbyte_main(["check", "--config", str(path)])


@pytest.mark.parametrize("check", [_cli, _airbyte], ids=["nexla-procurify", "source-procurify"])
def test_the_live_checks_log_lines_mask_a_secret_in_the_base_url(
    check: Callable[[Path], int],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    with requests_mock.Mocker() as mock:
        mock.register_uri(
            requests_mock.ANY, requests_mock.ANY, exc=requests.exceptions.ConnectTimeout
        )
        check(tmp_path)
    said = capsys.readouterr()
    logged = [record.getMessage() for record in caplog.records]
    assert any("Could not connect" in line for line in logged)  # the line that held it
    for text in [said.out, said.err, *logged]:
        assert SECRET not in text.lower()
