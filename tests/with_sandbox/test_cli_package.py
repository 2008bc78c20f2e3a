"""How the command line is put together: every command the parser knows runs a function, and
the sandbox is imported only by the commands that run one (``sandbox``, ``demo``): ``spec``,
``discover``, ``check``, ``read`` and ``write`` start without it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from nexla_procurify.cli import arguments, commands
from nexla_procurify.credential import ALLOW_LOOPBACK_ENV
from nexla_procurify.sandbox import Sandbox

# Runs the command line in a fresh interpreter, then prints the sandbox modules it imported.
PROGRAM = """
import sys
from nexla_procurify.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
loaded = sorted(name for name in sys.modules if name.startswith("nexla_procurify.sandbox"))
print("SANDBOX-MODULES", " ".join(loaded) or "-", file=sys.stderr)
sys.exit(code)
"""


def _run(argv: list[str], stdin: str = "") -> tuple[int, str, list[str]]:
    env = {**os.environ, ALLOW_LOOPBACK_ENV: "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    line = next(line for line in done.stderr.splitlines() if line.startswith("SANDBOX-MODULES"))
    modules = [name for name in line.split()[1:] if name != "-"]
    return done.returncode, done.stdout, modules


def test_every_command_of_the_parser_runs_a_function() -> None:
    parser = arguments.parser()
    choices = [action.choices for action in parser._actions if action.dest == "command"]
    assert len(choices) == 1
    assert isinstance(choices[0], dict)
    assert set(choices[0]) == set(commands.COMMANDS)


@pytest.mark.parametrize("argv", [["spec"], ["discover"]])
def test_commands_without_a_server_do_not_import_the_sandbox(argv: list[str]) -> None:
    code, out, modules = _run(argv)
    assert code == 0
    assert out.strip()
    assert modules == []


def test_read_check_and_write_do_not_import_the_sandbox(sandbox: Sandbox, tmp_path: Path) -> None:
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps(sandbox.credential()))
    code, out, modules = _run(["read", "vendors", "--credential", str(credential), "--limit", "2"])
    assert code == 0
    assert [json.loads(line)["type"] for line in out.splitlines()][:3] == [
        "SCHEMA",
        "RECORD",
        "RECORD",
    ]
    assert modules == []
    code, _, modules = _run(["check", "--live", "--credential", str(credential)])
    assert (code, modules) == (0, [])
    code, out, modules = _run(
        [
            "write",
            "departments",
            "--operation",
            "create",
            "--dry-run",
            "--credential",
            str(credential),
        ],
        stdin=json.dumps({"name": "Lazy", "branch": 1}) + "\n",
    )
    assert code == 0
    assert json.loads(out.splitlines()[0])["status"] == "validated"
    assert modules == []


def test_the_sandbox_command_still_finds_the_sandbox() -> None:
    with socket.socket() as taken:  # a port in use: the command stops after importing it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, _, modules = _run(["sandbox", "--port", str(taken.getsockname()[1])])
    assert code == 2
    assert "nexla_procurify.sandbox" in modules
