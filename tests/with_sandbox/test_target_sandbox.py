"""``target-procurify``, the installed command, against the sandbox over loopback."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nexla_procurify.sandbox import Fault, Sandbox

_SCRIPT = Path(sys.executable).parent / "target-procurify"
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "nexla_procurify.target"]


def vendor(external_id: str, name: str | None = None) -> dict[str, Any]:
    name = name or f"Vendor {external_id}"
    return {
        "name": name,
        "email": [f"{external_id.lower()}@v.example"],
        "type": 3,
        "external_id": external_id,
    }


def singer(*messages: dict[str, Any]) -> bytes:
    return "".join(json.dumps(message) + "\n" for message in messages).encode()


def record(stream: str, data: Any) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": data}


def state(value: Any) -> dict[str, Any]:
    return {"type": "STATE", "value": value}


def schema(stream: str, key: str = "external_id") -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object"},
        "key_properties": [key],
    }


@pytest.fixture
def settings_file(sandbox: Sandbox, tmp_path: Path) -> Path:
    credential = sandbox.credential()
    del credential["name"]  # optional for the target
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                **credential,
                "results_file": str(tmp_path / "results.jsonl"),
                "streams": {"teams": {"resource": "departments", "operation": "create"}},
            }
        )
    )
    return path


def run_target(
    settings_file: Path, data: bytes, *extra: str
) -> tuple[int, list[Any], list[dict[str, Any]], str]:
    """Exit status, the state values on stdout, the results, and stderr."""
    finished = subprocess.run(
        [*COMMAND, "--config", str(settings_file), *extra],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
    )
    results_path = settings_file.parent / "results.jsonl"
    results = (
        [json.loads(line) for line in results_path.read_text().splitlines()]
        if results_path.exists()
        else []
    )
    states = [json.loads(line) for line in finished.stdout.decode().splitlines()]
    return finished.returncode, states, results, finished.stderr.decode()


def test_streams_are_written_and_every_state_echoed(sandbox: Sandbox, settings_file: Path) -> None:
    data = singer(
        schema("vendors"),
        record("vendors", vendor("TGT-1")),
        record("vendors", vendor("TGT-2")),
        state({"bookmarks": {"v": 1}}),
        schema("teams", "id"),
        record("teams", {"name": "Team T", "branch": 1}),
        {"type": "ACTIVATE_VERSION", "stream": "vendors", "version": 1},
        record("vendors", vendor("TGT-1")),
        state({"bookmarks": {"v": 2}}),
    )
    code, states, results, err = run_target(settings_file, data)
    assert code == 0, err
    assert states[-1] == {"bookmarks": {"v": 2}}
    assert [
        (r["stream"], r["index"], r["status"]) for r in results if r["stream"] == "vendors"
    ] == [("vendors", 0, "created"), ("vendors", 1, "created"), ("vendors", 2, "unchanged")]
    assert [r["status"] for r in results if r["stream"] == "teams"] == ["created"]
    held = [v["external_id"] for v in sandbox.records("vendors")]
    assert held.count("TGT-1") == held.count("TGT-2") == 1
    assert "vendors -> vendors upsert: 3 records: 2 created, 0 updated, 1 unchanged" in err
    assert sandbox.credential()["client_secret"] not in err

    code, states, results, _ = run_target(settings_file, data)  # the same input again
    assert code == 0
    assert [r["status"] for r in results if r["stream"] == "vendors"] == ["unchanged"] * 3
    assert [v["external_id"] for v in sandbox.records("vendors")].count("TGT-1") == 1


def test_settings_from_the_environment_as_meltano_passes_them(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **{
            f"TARGET_PROCURIFY_{key.upper()}": str(value)
            for key, value in sandbox.credential().items()
        },
        "TARGET_PROCURIFY_STREAMS": json.dumps({"vendor_feed": {"resource": "vendors"}}),
        "TARGET_PROCURIFY_CONCURRENCY": "2",
    }
    finished = subprocess.run(
        [*COMMAND],
        input=singer(record("vendor_feed", vendor("ENV-1")), state({"done": True})),
        capture_output=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert finished.returncode == 0, finished.stderr.decode()
    assert json.loads(finished.stdout) == {"done": True}
    result = json.loads(finished.stderr.decode().splitlines()[0])  # results: standard error
    assert (result["stream"], result["status"]) == ("vendor_feed", "created")


def test_a_record_not_written_holds_every_later_state(
    sandbox: Sandbox, settings_file: Path
) -> None:
    data = singer(
        record("vendors", vendor("HOLD-1")),
        state(1),
        record("vendors", {"name": "no email"}),
        state(2),
        record("vendors", vendor("HOLD-3")),
        state(3),
    )
    code, states, results, err = run_target(settings_file, data)
    assert code == 1
    assert states == [1]
    assert [r["status"] for r in results] == ["created", "rejected", "created"]
    assert "email is required" in results[1]["error"]
    assert "No further STATE is echoed: record 1 of stream 'vendors' was not written" in err


def test_a_state_comes_only_once_its_records_are_in_procurify(
    sandbox: Sandbox, settings_file: Path
) -> None:
    """The input stays open after the STATE (a tap busy with its next page): the STATE comes
    anyway, and only after the record it follows is stored."""
    sandbox.inject(Fault("delay", delay=1.0, method="POST", path="/api/v3/vendors"))
    with subprocess.Popen(
        [*COMMAND, "--config", str(settings_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as process:
        try:
            assert process.stdin is not None
            assert process.stdout is not None
            process.stdin.write(singer(record("vendors", vendor("SLOW-1")), state("after")))
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], 60)  # a bound, not a measure
            assert ready, "no STATE while the input stayed open"
            assert json.loads(process.stdout.readline()) == "after"
            assert [v["external_id"] for v in sandbox.records("vendors")].count("SLOW-1") == 1
            process.stdin.close()
            assert process.wait(timeout=60) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_abort_stops_the_target_and_reports_what_was_not_written(
    sandbox: Sandbox, settings_file: Path, concurrency: int
) -> None:
    sandbox.inject(Fault("status", status=403, method="GET", path="/api/v3/vendors", times=None))
    settings = json.loads(settings_file.read_text())
    settings_file.write_text(
        json.dumps({**settings, "on_error": "abort", "concurrency": concurrency})
    )
    data = singer(*(record("vendors", vendor(f"AB-{n}")) for n in range(50)), state("end"))
    code, states, results, err = run_target(settings_file, data)
    assert code == 1
    assert states == []
    assert results[0]["status"] == "failed"
    assert all(r["status"] == "failed" for r in results)
    assert [r["index"] for r in results] == list(range(len(results)))
    assert len(results) < 50  # the rest of the input was not read
    assert "Stopped: the run stopped after record " in err
    assert not [v for v in sandbox.records("vendors") if v["external_id"].startswith("AB-")]


def test_a_refused_credential_stops_calling_procurify_across_states(
    sandbox: Sandbox, settings_file: Path
) -> None:
    settings = json.loads(settings_file.read_text())
    settings_file.write_text(json.dumps({**settings, "client_secret": "wrong-secret-123"}))
    messages = []
    for n in range(6):
        messages += [record("vendors", vendor(f"NO-{n}")), state(n)]
    code, states, results, _ = run_target(settings_file, singer(*messages))
    assert code == 1
    assert states == []
    assert [r["status"] for r in results] == ["failed"] * 6
    token_requests = sandbox.requests_to("/api/v3/oauth/token") + sandbox.requests_to(
        "/oauth/token"
    )
    assert len(token_requests) <= 2  # one run for the stream: its circuit outlives each STATE


def test_a_dry_run_writes_nothing_and_echoes_no_state(
    sandbox: Sandbox, settings_file: Path
) -> None:
    code, states, results, _ = run_target(
        settings_file, singer(record("teams", {"name": "Dry", "branch": 1}), state(1))
    )
    assert code == 0
    assert states == [1]
    settings = json.loads(settings_file.read_text())
    settings_file.write_text(json.dumps({**settings, "dry_run": True}))
    before = sandbox.created("departments")
    code, states, results, err = run_target(
        settings_file, singer(record("teams", {"name": "Dry 2", "branch": 1}), state(2))
    )
    assert code == 0
    assert states == []
    assert [r["status"] for r in results] == ["validated"]
    assert sandbox.created("departments") == before
    assert "a dry run writes nothing" in err


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            b'{"type": "RECORD", "stream": "bills", "record": {}}\n',
            "Stream 'bills' is not a Procurify destination resource",
        ),
        (b"not json\n", "Input line 3 is not valid JSON"),
    ],
)
def test_input_the_target_cannot_follow_ends_it_cleanly(
    sandbox: Sandbox, settings_file: Path, line: bytes, message: str
) -> None:
    data = (
        singer(record("vendors", vendor("FIRST-1")), state("before"))
        + line
        + singer(record("vendors", vendor("AFTER-1")), state("after"))
    )
    code, states, results, err = run_target(settings_file, data)
    assert code == 2
    assert states == ["before"]
    assert [r["status"] for r in results] == ["created"]
    assert message in err
    assert "Traceback" not in err


def test_a_credential_that_is_not_valid_is_named_without_its_secret(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "client_id": "x",
                "client_secret": "hidden-secret-777",
                "base_url": "https://acme.procurify.com/",
            }
        )
    )
    code, _, _, err = run_target(path, b"")
    assert code == 2
    assert "base_url: Base URL must not end with a slash" in err
    assert "hidden-secret-777" not in err


def test_sigterm_while_waiting_for_input_finishes_and_echoes(
    sandbox: Sandbox, settings_file: Path
) -> None:
    with subprocess.Popen(
        [*COMMAND, "--config", str(settings_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        try:
            assert process.stdin is not None
            assert process.stdout is not None
            process.stdin.write(singer(record("vendors", vendor("TERM-1")), state("t")))
            process.stdin.flush()
            assert json.loads(process.stdout.readline()) == "t"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 143
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
