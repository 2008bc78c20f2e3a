"""tap-procurify run as Meltano runs it (the console script, against the sandbox on loopback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from shared import no_sleep

from nexla_procurify import plugin
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import ALLOW_LOOPBACK_ENV, parse
from nexla_procurify.http import HttpClient, HttpPolicy
from nexla_procurify.sandbox import Fault, Sandbox
from nexla_procurify.tap import tap
from nexla_procurify.tap.catalog import discover_catalog

TAP = str(Path(sys.executable).with_name("tap-procurify"))


def _run(
    arguments: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("TAP_PROCURIFY_")
    }
    environment[ALLOW_LOOPBACK_ENV] = "1"
    return subprocess.run(
        [TAP, *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env={**environment, **(env or {})},
        check=False,
    )


def _config(sandbox: Sandbox, tmp_path: Path, **settings: Any) -> Path:
    credential = sandbox.credential()
    credential.pop("name")  # optional for the tap
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**credential, **settings}))
    return path


def _catalog(tmp_path: Path, streams: dict[str, list[str]]) -> Path:
    """The discovered catalog with ``streams`` selected (each with its deselected fields), as
    Meltano writes it: ``selected`` on every breadcrumb."""
    catalog = discover_catalog()
    for entry in catalog["streams"]:
        name = entry["tap_stream_id"]
        for item in entry["metadata"]:
            crumb = item["breadcrumb"]
            item["metadata"]["selected"] = name in streams and not (
                crumb and crumb[1] in streams[name]
            )
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def _messages(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def _records(messages: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def test_discover_prints_the_catalog_pretty() -> None:
    done = _run(["--discover"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == discover_catalog()
    assert max(len(line) for line in done.stdout.splitlines()) < 2000  # readers cut long lines


def test_about_in_json() -> None:
    done = _run(["--about", "--format", "json"])
    about = json.loads(done.stdout)
    assert about["name"] == "tap-procurify"
    assert {"catalog", "state", "discover", "about"} <= set(about["capabilities"])
    assert "client_secret" in about["settings"]["properties"]
    assert _run(["--about"]).stdout.startswith("# tap-procurify")


def test_a_selected_catalog_reads_and_resumes_from_meltano_state(
    allow_loopback: None, tmp_path: Path
) -> None:
    with Sandbox(records={"vendors": 25, "order_items": 40}) as sandbox:
        config = _config(sandbox, tmp_path, page_size=10, concurrency=3)
        catalog = _catalog(tmp_path, {"vendors": ["name"], "order_items": []})
        first = _run(["--config", str(config), "--catalog", str(catalog)])
        assert first.returncode == 0, first.stderr
        messages = _messages(first.stdout)
        assert [m["stream"] for m in messages[:2]] == ["vendors", "order_items"]
        assert all(m["type"] == "SCHEMA" for m in messages[:2])
        assert "name" not in messages[0]["schema"]["properties"]
        assert messages[1]["bookmark_properties"]
        vendors, items = _records(messages, "vendors"), _records(messages, "order_items")
        assert sorted(r["id"] for r in vendors) == [r["id"] for r in sandbox.records("vendors")]
        assert all("name" not in r for r in vendors)
        assert len(items) == 40
        states = [m["value"] for m in messages if m["type"] == "STATE"]
        assert len(states) >= 3 + 4  # a STATE after each page
        assert set(states[-1]["bookmarks"]) == {"vendors", "order_items"}
        assert "cursor" in states[-1]["bookmarks"]["order_items"]

        state = tmp_path / "state.json"  # as Meltano stores and passes it
        state.write_text(json.dumps(states[-1]))
        second = _run(
            ["--config", str(config), "--properties", str(catalog), "--state", str(state)]
        )
        assert second.returncode == 0, second.stderr
        again = _messages(second.stdout)
    assert len(_records(again, "vendors")) == 25  # full table every run
    assert len(_records(again, "order_items")) < 40  # from the saved cursor
    last = [m["value"] for m in again if m["type"] == "STATE"][-1]
    assert set(last["bookmarks"]) == {"vendors", "order_items"}


def test_configuration_from_the_environment_and_bookmarks_kept(
    allow_loopback: None, tmp_path: Path
) -> None:
    with Sandbox(records={"departments": 5}) as sandbox:
        credential = sandbox.credential()
        env = {
            f"TAP_PROCURIFY_{key.upper()}": credential[key]
            for key in ("client_id", "client_secret", "base_url")
        }
        catalog = _catalog(tmp_path, {"departments": []})
        kept = {
            "version": 2,
            "resource": "orders",
            "cursor": "2026-01-01T00:00:00Z",
            "query": "0123456789abcdef",
        }
        state = tmp_path / "state.json"
        state.write_text(json.dumps({"bookmarks": {"orders": kept}}))
        done = _run(["--catalog", str(catalog), "--state", str(state)], env=env)
    assert done.returncode == 0, done.stderr
    messages = _messages(done.stdout)
    assert len(_records(messages, "departments")) == 5
    last = [m["value"] for m in messages if m["type"] == "STATE"][-1]
    assert last["bookmarks"]["orders"] == {**kept, "in_progress": None}  # kept, not read
    assert credential["client_secret"] not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ({"version": 2, "resource": "vendors"}, "unknown key"),
        ({"bookmarks": {"vendors": {"resource": "users"}}}, "vendors: "),
    ],
)
def test_a_wrong_state_is_a_usage_error(
    allow_loopback: None, tmp_path: Path, state: dict[str, Any], says: str
) -> None:
    with Sandbox(records={"vendors": 3}) as sandbox:
        config = _config(sandbox, tmp_path)
        path = tmp_path / "state.json"
        path.write_text(json.dumps(state))
        done = _run(
            [
                "--config",
                str(config),
                "--catalog",
                str(_catalog(tmp_path, {"vendors": []})),
                "--state",
                str(path),
            ]
        )
        assert sandbox.requests_to("/api/v3/vendors") == []
    assert done.returncode == 2
    assert done.stdout == ""
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_configuration_is_a_usage_error(tmp_path: Path) -> None:
    done = _run([])
    assert done.returncode == 2
    assert "TAP_PROCURIFY_CLIENT_ID" in done.stderr
    bad = tmp_path / "config.json"
    bad.write_text(
        json.dumps(
            {
                "client_id": "x",
                "client_secret": "very-secret-1",
                "base_url": "https://acme.procurify.com/",
                "colour": "red",
            }
        )
    )
    done = _run(["--config", str(bad)])
    assert done.returncode == 2
    assert "colour" in done.stderr
    assert "slash" in done.stderr
    assert "very-secret-1" not in done.stderr


def test_a_failing_stream_fails_the_run_after_the_others(
    allow_loopback: None, tmp_path: Path
) -> None:
    with Sandbox(records={"vendors": 12, "departments": 12}) as sandbox:
        sandbox.inject(Fault("status", status=403, path="/api/v3/departments", times=None))
        done = _run(
            [
                "--config",
                str(_config(sandbox, tmp_path)),
                "--catalog",
                str(_catalog(tmp_path, {"vendors": [], "departments": []})),
            ]
        )
    assert done.returncode == 1
    assert len(_records(_messages(done.stdout), "vendors")) == 12
    assert "departments" in done.stderr
    assert "Traceback" not in done.stderr


def test_sigterm_ends_the_run_with_the_last_state_last(
    allow_loopback: None, tmp_path: Path
) -> None:
    with Sandbox(records={"vendors": 50}) as sandbox:
        # page 2 hangs: the run is stopped while it waits
        sandbox.inject(
            Fault("delay", delay=60, path="/api/v3/vendors", query=(("page", "2"),), times=None)
        )
        config = _config(sandbox, tmp_path, page_size=10, concurrency=1)
        environment = {**os.environ, ALLOW_LOOPBACK_ENV: "1"}
        process = subprocess.Popen(
            [TAP, "--config", str(config), "--catalog", str(_catalog(tmp_path, {"vendors": []}))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        try:
            assert process.stdout is not None
            lines: list[str] = []
            while not lines or json.loads(lines[-1])["type"] != "STATE":
                line = process.stdout.readline()
                assert line, "the tap ended before its first STATE"
                lines.append(line)
            process.send_signal(signal.SIGTERM)
            rest, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    lines += rest.splitlines(keepends=True)
    assert process.returncode == 143, err
    assert sum('"type":"STATE"' in line for line in lines) == 2, (lines[-3:], err)
    assert lines[-1] == next(line for line in lines[:-1] if '"type":"STATE"' in line)
    assert len(_records(_messages("".join(lines)), "vendors")) == 10
    assert "Interrupted" in err


def test_config_files_merge_in_order_and_env_joins_them(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(
        json.dumps(
            {
                "client_id": "x",
                "client_secret": "secret-value-7",
                "base_url": "https://acme.procurify.com",
                "page_size": 0,
            }
        )
    )
    second.write_text(json.dumps({"page_size": 50}))
    assert _run(["--config", str(first), "--discover"]).returncode == 2  # page_size 0
    assert _run(["--config", str(first), "--config", str(second), "--discover"]).returncode == 0
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"client_id": "x", "base_url": "https://acme.procurify.com"}))
    assert _run(["--config", str(partial), "--discover"]).returncode == 2
    joined = _run(
        ["--config", "ENV", "--config", str(partial), "--discover"],
        env={"TAP_PROCURIFY_CLIENT_SECRET": "secret-value-7"},
    )
    assert joined.returncode == 0, joined.stderr


def test_when_every_request_fails_the_run_stops_soon_and_says_nothing_was_read(
    allow_loopback: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In process, with a policy of two attempts and no waits: what is counted is the streams
    # tried, not the time (the default policy spends up to a minute on each).
    def authenticate(*, connector_type: str, credential: dict[str, Any]) -> ProcurifySession:
        client = HttpClient(HttpPolicy(max_attempts=2), sleep=no_sleep)
        return ProcurifySession(parse(credential, allow_loopback=True), client=client)

    monkeypatch.setattr(plugin, "authenticate", authenticate)
    with Sandbox(records={"vendors": 3}) as sandbox:
        sandbox.inject(Fault("status", status=500, method="GET", times=None))
        code = tap.main(["--config", str(_config(sandbox, tmp_path, concurrency=2))])
        tried = {request.path for request in sandbox.requests if request.method == "GET"}
    out, err = capsys.readouterr()
    assert code == 1
    streams = len(discover_catalog()["streams"])
    assert f"{streams} stream(s) stopped" in err
    assert "no stream was read" in err
    assert "the others were read" not in err
    assert "Not read: 3 streams in a row stopped on Procurify's side" in err
    assert len(tried) <= 2 + 3 - 1  # those open at the third failure, and two after
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["SCHEMA"] * streams
