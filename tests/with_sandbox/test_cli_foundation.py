"""The command line's foundation commands: spec, check, demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nexla_procurify.cli import ENV_FIELDS, main
from nexla_procurify.credential import ALLOW_LOOPBACK_ENV, credential_schema
from nexla_procurify.sandbox import Sandbox

SECRET = "CliSecretValue987654321xyz"
GOOD = {
    "name": "prod",
    "client_id": "cid-1",
    "client_secret": SECRET,
    "base_url": "https://acme.procurify.com",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_FIELDS.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)


def write(tmp_path: Path, data: Any, name: str = "credential.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert "Traceback" not in out + err
    return code, out, err


def test_spec_prints_the_credential_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "spec")
    assert code == 0
    assert json.loads(out) == credential_schema()


def test_check_a_good_credential_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "check", "--credential", str(write(tmp_path, GOOD)))
    assert code == 0
    assert "Credential is valid." in out


def test_check_from_environment_variables(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCURIFY_CLIENT_ID", GOOD["client_id"])
    monkeypatch.setenv("PROCURIFY_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("PROCURIFY_BASE_URL", GOOD["base_url"])
    code, out, _ = run(capsys, "check")
    assert code == 0
    assert "Credential is valid." in out


def test_check_environment_variables_are_validated(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCURIFY_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("PROCURIFY_BASE_URL", "https://acme.procurify.com/")
    code, out, _ = run(capsys, "check")
    assert code != 0
    assert "  client_id: Client ID is required." in out
    assert "  base_url: Base URL must not end with a slash" in out


def test_check_a_bad_credential_one_line_per_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = dict(GOOD, client_id="", base_url="http://acme.procurify.com:8080", extra=1)
    code, out, _ = run(capsys, "check", "--credential", str(write(tmp_path, bad)))
    assert code != 0
    lines = out.strip().splitlines()
    assert lines[0] == "Credential is not valid:"
    assert "  client_id: Client ID must not be empty." in lines
    assert any(line.startswith("  base_url: Base URL must use https://") for line in lines)
    assert any(line.startswith("  base_url: Base URL must not include a port") for line in lines)
    assert any(line.startswith("  credential: Unknown field(s): extra.") for line in lines)
    assert all(line.startswith("  ") for line in lines[1:])


def test_check_json_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = dict(GOOD, base_url="https://acme.procurify.com/api")
    code, out, _ = run(capsys, "check", "--json", "--credential", str(write(tmp_path, bad)))
    assert code != 0
    result = json.loads(out)
    assert result["ok"] is False
    assert [error["field"] for error in result["errors"]] == ["base_url"]


def test_check_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "check", "--credential", str(tmp_path / "nope.json"))
    assert code != 0
    assert "cannot read credential file" in err
    assert "nope.json" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        ("{not json", "is not valid JSON"),
        ("", "is not valid JSON"),
        ('["a"]', "must hold a JSON object"),
        ("42", "must hold a JSON object"),
    ],
)
def test_check_unreadable_credential_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, phrase: str
) -> None:
    code, _, err = run(capsys, "check", "--credential", str(write(tmp_path, content)))
    assert code != 0
    assert phrase in err
    assert err.startswith("nexla-procurify: error:")


def test_check_invalid_json_does_not_echo_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = json.dumps(GOOD)[:-1]  # the secret is in it
    code, _, err = run(capsys, "check", "--credential", str(write(tmp_path, broken)))
    assert code != 0
    assert "is not valid JSON" in err


def test_check_without_any_credential(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check")
    assert code != 0
    assert "no credential given" in err
    assert "PROCURIFY_CLIENT_SECRET" in err


def test_secrets_are_not_taken_from_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["check", "--client-secret", SECRET])
    assert raised.value.code == 2
    _, err = capsys.readouterr()
    assert "unrecognized arguments" in err


def test_check_live_against_the_sandbox(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shared_sandbox: Sandbox,
) -> None:
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    credential = shared_sandbox.credential()
    path = write(tmp_path, credential)
    code, out, err = run(capsys, "check", "--live", "--credential", str(path))
    assert code == 0, out + err
    assert "Procurify accepted it" in out
    assert credential["client_secret"] not in out + err

    wrong = write(tmp_path, dict(credential, client_secret=SECRET), "wrong.json")
    code, out, err = run(capsys, "-v", "check", "--live", "--credential", str(wrong))
    assert code != 0
    assert "  client_secret: Procurify rejected the Client ID or Client Secret" in out
    assert credential["client_secret"] not in out + err


def test_check_live_from_environment_variables(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, shared_sandbox: Sandbox
) -> None:
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    credential = shared_sandbox.credential()
    monkeypatch.setenv("PROCURIFY_CLIENT_ID", credential["client_id"])
    monkeypatch.setenv("PROCURIFY_CLIENT_SECRET", credential["client_secret"])
    monkeypatch.setenv("PROCURIFY_BASE_URL", credential["base_url"])
    code, out, err = run(capsys, "check", "--live", "--json")
    assert code == 0, out + err
    assert json.loads(out) == {"ok": True, "errors": []}
    assert credential["client_secret"] not in out + err


def test_loopback_needs_the_host_setting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, shared_sandbox: Sandbox
) -> None:
    path = write(tmp_path, shared_sandbox.credential())
    code, out, _ = run(capsys, "check", "--credential", str(path))
    assert code != 0
    assert ALLOW_LOOPBACK_ENV in out


def test_demo(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "0")  # restored after the test (demo sets it)
    code, out, err = run(capsys, "demo")
    assert code == 0, out + err
    assert "Credential validated" in out
    assert "Authenticated as" in out


def test_module_entry_point_in_a_subprocess(tmp_path: Path) -> None:
    path = write(tmp_path, dict(GOOD, base_url="https://acme.procurify.com?x"))
    env = {k: v for k, v in os.environ.items() if k not in ENV_FIELDS.values()}
    done = subprocess.run(
        [sys.executable, "-m", "nexla_procurify", "check", "--credential", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode != 0
    assert "base_url: Base URL must not include a query" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
