"""source-procurify: the Airbyte source protocol, its parts and the console script run against
the sandbox as PyAirbyte runs a local executable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from nexla_procurify.airbyte import protocol
from nexla_procurify.credential import ALLOW_LOOPBACK_ENV
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.resources import catalogue
from nexla_procurify.sandbox import Fault, Sandbox

SOURCE = str(Path(sys.executable).with_name("source-procurify"))


def _run(*arguments: str) -> tuple[int, list[dict[str, Any]], str]:
    done = subprocess.run(
        [SOURCE, *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, ALLOW_LOOPBACK_ENV: "1"},
        check=False,
    )
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def _config(sandbox: Sandbox, tmp_path: Path, **settings: Any) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**sandbox.credential(), **settings}))
    return str(path)


def _configured(tmp_path: Path, streams: dict[str, str]) -> str:
    """A configured catalog of ``streams`` (name -> sync mode) from the discovered one."""
    discovered = {s["name"]: s for s in protocol.catalog()["catalog"]["streams"]}
    configured = {
        "streams": [
            {
                "stream": discovered[name],
                "sync_mode": mode,
                "destination_sync_mode": "append_dedup" if mode == "incremental" else "overwrite",
            }
            for name, mode in streams.items()
        ]
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(configured))
    return str(path)


def test_spec_is_a_spec_message_that_admits_the_sandbox_config(allow_loopback: None) -> None:
    code, messages, _ = _run("spec")
    assert code == 0
    assert [m["type"] for m in messages] == ["SPEC"]
    schema = messages[0]["spec"]["connectionSpecification"]
    Draft7Validator.check_schema(schema)
    with Sandbox() as sandbox:
        Draft7Validator(schema).validate(sandbox.credential())  # PyAirbyte validates it
    assert schema["properties"]["client_secret"]["airbyte_secret"] is True


def test_check_says_succeeded_or_failed(allow_loopback: None, tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        code, messages, _ = _run("check", "--config", _config(sandbox, tmp_path))
        assert (code, messages) == (0, [protocol.connection_status(True)])
        wrong = {**sandbox.credential(), "client_secret": "not-the-secret"}
        (tmp_path / "wrong.json").write_text(json.dumps(wrong))
        code, messages, _ = _run("check", "--config", str(tmp_path / "wrong.json"))
    assert code == 0
    status = messages[0]["connectionStatus"]
    assert status["status"] == "FAILED"
    assert "not-the-secret" not in json.dumps(messages)
    assert "client_secret" in status["message"] or "Client" in status["message"]


def test_discover_gives_modes_cursors_and_keys(allow_loopback: None, tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        code, messages, _ = _run("discover", "--config", _config(sandbox, tmp_path))
    assert code == 0
    streams = messages[0]["catalog"]["streams"]
    assert [s["name"] for s in streams] == list(catalogue().names("source"))
    for stream in streams:
        resource = catalogue().resources[stream["name"]]
        assert stream["source_defined_primary_key"] == [[name] for name in resource.key]
        if resource.incremental:
            assert stream["supported_sync_modes"] == ["full_refresh", "incremental"]
            assert stream["default_cursor_field"] == [resource.incremental.cursor_field]
        else:
            assert stream["supported_sync_modes"] == ["full_refresh"]


def test_read_two_streams_and_resume_from_their_states(
    allow_loopback: None, tmp_path: Path
) -> None:
    with Sandbox(records={"vendors": 23, "order_items": 31}) as sandbox:
        config = _config(sandbox, tmp_path, page_size=10)
        catalog = _configured(tmp_path, {"vendors": "full_refresh", "order_items": "incremental"})
        code, messages, err = _run("read", "--config", config, "--catalog", catalog)
        assert code == 0, err
        records = [m["record"] for m in messages if m["type"] == "RECORD"]
        assert all(isinstance(r["emitted_at"], int) for r in records)
        assert sum(r["stream"] == "vendors" for r in records) == 23
        assert sum(r["stream"] == "order_items" for r in records) == 31
        states = [m["state"] for m in messages if m["type"] == "STATE"]
        assert {s["stream"]["stream_descriptor"]["name"] for s in states} == {
            "vendors",
            "order_items",
        }
        assert sum(s["sourceStats"]["recordCount"] for s in states) == 54
        statuses = [
            (
                m["trace"]["stream_status"]["stream_descriptor"]["name"],
                m["trace"]["stream_status"]["status"],
            )
            for m in messages
            if m["type"] == "TRACE"
        ]
        assert ("vendors", "COMPLETE") in statuses
        assert ("order_items", "COMPLETE") in statuses

        latest = {s["stream"]["stream_descriptor"]["name"]: s for s in states}
        state = tmp_path / "state.json"  # as PyAirbyte keeps it: the latest state per stream
        state.write_text(json.dumps(list(latest.values())))
        code, again, err = _run(
            "read", "--config", config, "--catalog", catalog, "--state", str(state)
        )
    assert code == 0, err
    records = [m["record"] for m in again if m["type"] == "RECORD"]
    assert sum(r["stream"] == "vendors" for r in records) == 23
    assert sum(r["stream"] == "order_items" for r in records) < 31


def test_a_failing_stream_is_a_trace_error(allow_loopback: None, tmp_path: Path) -> None:
    with Sandbox(records={"vendors": 5, "departments": 5}) as sandbox:
        sandbox.inject(Fault("status", status=403, path="/api/v3/departments", times=None))
        code, messages, _ = _run(
            "read",
            "--config",
            _config(sandbox, tmp_path),
            "--catalog",
            _configured(tmp_path, {"departments": "full_refresh", "vendors": "full_refresh"}),
        )
    assert code == 1
    errors = [
        m["trace"]["error"]
        for m in messages
        if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"
    ]
    assert [e["stream_descriptor"] for e in errors] == [{"name": "departments"}]
    assert sum(m["type"] == "RECORD" for m in messages) == 5


def test_a_wrong_configuration_is_a_config_error_trace(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "client_id": "x",
                "client_secret": "hidden-value-9",
                "base_url": "https://acme.procurify.com",
                "page_size": 0,
            }
        )
    )
    code, messages, _ = _run("discover", "--config", str(path))
    assert code == 2
    error = messages[0]["trace"]["error"]
    assert error["failure_type"] == "config_error"
    assert "page_size" in error["message"]
    assert "hidden-value-9" not in json.dumps(messages)


# -- parts ---------------------------------------------------------------------------------------


def test_states_in_every_shape_airbyte_passes() -> None:
    value = {"version": 2, "resource": "orders"}
    stream = {
        "type": "STREAM",
        "stream": {"stream_descriptor": {"name": "orders"}, "stream_state": value},
    }
    assert protocol.stream_states([stream]) == {"orders": value}
    assert protocol.stream_states([{"type": "STATE", "state": stream}]) == {"orders": value}
    assert protocol.stream_states({"orders": value}) == {"orders": value}
    assert protocol.stream_states({"type": "LEGACY", "data": {"orders": value}}) == {
        "orders": value
    }
    assert protocol.stream_states(None) == {} == protocol.stream_states([])
    written = protocol.stream_state("orders", value, 3)["state"]
    assert protocol.stream_states([written]) == {"orders": value}
    with pytest.raises(ConfigurationError, match="GLOBAL"):
        protocol.stream_states([{"type": "GLOBAL", "global": {}}])


def test_configured_streams_keep_the_fields_asked_for() -> None:
    discovered = {s["name"]: s for s in protocol.catalog()["catalog"]["streams"]}
    narrow = {**discovered["order_items"], "json_schema": {"properties": {"name": {}}}}
    chosen = protocol.configured_streams(
        {
            "streams": [
                {"stream": narrow, "sync_mode": "incremental"},
                {"stream": discovered["vendors"], "sync_mode": "full_refresh"},
            ]
        }
    )
    assert [c.stream for c in chosen] == ["order_items", "vendors"]
    assert chosen[0].incremental
    cursor = catalogue().resources["order_items"].incremental
    assert cursor is not None
    kept = chosen[0].project({"id": 1, "name": "x", "other": 2, cursor.cursor_field: "t"})
    assert kept == {"id": 1, "name": "x", cursor.cursor_field: "t"}
    # PyAirbyte asks for incremental on every stream: one without a cursor is read in full
    full = protocol.configured_streams(
        {"streams": [{"stream": discovered["vendors"], "sync_mode": "incremental"}]}
    )
    assert not full[0].incremental
    with pytest.raises(ConfigurationError, match="sync_mode"):
        protocol.configured_streams(
            {"streams": [{"stream": discovered["vendors"], "sync_mode": "sometimes"}]}
        )


def test_ctrl_c_during_a_read_ends_it_without_a_traceback(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.inject(Fault("delay", delay=30.0, method="GET", path="/api/v3/vendors", times=None))
    config = _config(sandbox, tmp_path, concurrency=1)
    catalog = _configured(tmp_path, {"vendors": "full_refresh"})
    with subprocess.Popen(
        [SOURCE, "read", "--config", config, "--catalog", catalog],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, ALLOW_LOOPBACK_ENV: "1"},
    ) as process:
        assert process.stdout is not None
        process.stdout.readline()  # a first message: the read is under way (and waiting)
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=60)
        assert process.returncode == 130
        assert "Traceback" not in errors
