"""A host reading several sources at once (``Host.read_many``, the ``read_sources`` hook):
every stream's records exactly once and in its own order, one state for the whole run that a
resumed run continues from, a failing stream reported once the others are read, and a plugin
without the hook read one source after the other."""

from __future__ import annotations

import types
from collections.abc import Generator, Iterator
from typing import Any

import pytest

import nexla_procurify.plugin
from nexla_procurify import hookspecs
from nexla_procurify.errors import ConfigurationError, PermissionDeniedError
from nexla_procurify.host import Host
from nexla_procurify.messages import Checkpoint, Record
from nexla_procurify.sandbox import Fault, Sandbox

SIZES = {"vendors": 57, "departments": 23, "users": 31, "order_items": 45}


def _host() -> Host:
    return Host(plugins=[nexla_procurify.plugin])


def _configs() -> dict[str, dict[str, Any]]:
    return {name: {"resource": name, "page_size": 7} for name in SIZES}


def test_every_stream_once_in_its_order_with_one_state(allow_loopback: None) -> None:
    host = _host()
    with Sandbox(records=SIZES) as sandbox:
        session = host.authenticate("procurify", sandbox.credential())
        with session:
            alone = {
                name: [
                    m.record
                    for m in host.read("procurify", session, config)
                    if isinstance(m, Record)
                ]
                for name, config in _configs().items()
            }
            messages = list(host.read_many("procurify", session, _configs()))
    records: dict[str, list[Any]] = {name: [] for name in SIZES}
    for message in messages:
        if isinstance(message, Record):
            records[message.stream].append(message.record)
    assert records == alone
    last = messages[-1]
    assert isinstance(last, Checkpoint)
    assert set(last.value["streams"]) == set(SIZES)
    # Each checkpoint holds every stream's state as it stood after the records before it.
    assert all(isinstance(m, Record | Checkpoint) for m in messages)


def test_a_run_resumed_from_any_checkpoint_loses_no_record(allow_loopback: None) -> None:
    host = _host()
    with Sandbox(records=SIZES) as sandbox:
        session = host.authenticate("procurify", sandbox.credential())
        with session:
            first = host.read_many("procurify", session, _configs())
            assert isinstance(first, Generator)  # closed below, as a host closes a read
            seen: set[tuple[str, Any]] = set()
            checkpoints = 0
            state = None
            for message in first:
                if isinstance(message, Record):
                    seen.add((message.stream, message.record["id"]))
                else:
                    state = message.value
                    checkpoints += 1
                    if checkpoints == 9:
                        break
            first.close()
            # Only what came before the checkpoint counts as read.
            resumed = list(host.read_many("procurify", session, _configs(), state))
    resumed_ids = {(m.stream, m.record["id"]) for m in resumed if isinstance(m, Record)}
    everything = {(name, record_id) for name in SIZES for record_id in range(1, SIZES[name] + 1)}
    assert resumed_ids | seen >= everything


def test_a_failing_stream_is_raised_after_the_others_are_read(allow_loopback: None) -> None:
    host = _host()
    with Sandbox(records={"vendors": 30, "departments": 30}) as sandbox:
        sandbox.inject(Fault("status", status=403, path="/api/v3/departments", times=None))
        session = host.authenticate("procurify", sandbox.credential())
        records: list[Record] = []

        def read() -> None:
            for message in host.read_many(
                "procurify",
                session,
                {"departments": {"resource": "departments"}, "vendors": {"resource": "vendors"}},
            ):
                if isinstance(message, Record):
                    records.append(message)

        with session, pytest.raises(PermissionDeniedError, match="Stream departments") as raised:
            read()
    assert "403" in raised.value.message
    assert len(records) == 30
    assert {record.stream for record in records} == {"vendors"}


def test_every_stream_at_fault_is_named_before_any_request(allow_loopback: None) -> None:
    host = _host()
    with Sandbox(records={"vendors": 3}) as sandbox:
        session = host.authenticate("procurify", sandbox.credential())
        before = len(sandbox.requests)
        with session, pytest.raises(ConfigurationError) as raised:
            host.read_many(
                "procurify",
                session,
                {"a": {"resource": "vendors", "page_size": 0}, "b": {"resource": "nope"}},
            )
        assert len(sandbox.requests) == before
    assert "a: " in raised.value.message
    assert "b: " in raised.value.message
    # A session that is not one is said first (test_hook_arguments); with one, still none sent.
    with pytest.raises(ConfigurationError, match="c: "):
        host.read_many("procurify", session, {"c": "vendors"})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="streams"):
        host.read_many("procurify", session, {"a": {"resource": "vendors"}}, {"resource": "x"})


def test_a_plugin_without_the_hook_is_read_one_source_after_the_other() -> None:
    def read_source(
        connector_type: str, session: Any, config: dict[str, Any], state: Any
    ) -> Iterator[Any]:
        start = (state or {}).get("at", 0)
        for at in range(start, start + 2):
            yield Record(config["resource"], {"id": at})
            yield Checkpoint({"at": at + 1})

    def connector_manifest() -> dict[str, Any]:
        return {"type": "old"}

    old = types.ModuleType("old_plugin")
    old.read_source = hookspecs.hookimpl(read_source)  # type: ignore[attr-defined]
    old.connector_manifest = hookspecs.hookimpl(connector_manifest)  # type: ignore[attr-defined]
    host = Host(plugins=[old])
    messages = list(
        host.read_many("old", None, {"x": {"resource": "r"}}, {"streams": {"x": {"at": 5}}})
    )
    assert messages == [
        Record("x", {"id": 5}),
        Checkpoint({"streams": {"x": {"at": 6}}}),
        Record("x", {"id": 6}),
        Checkpoint({"streams": {"x": {"at": 7}}}),
    ]
    with pytest.raises(ConfigurationError, match="No installed connector"):
        host.read_many("other", None, {})


def test_an_answer_that_is_not_json_is_asked_again_within_the_budget(
    allow_loopback: None,
) -> None:
    host = _host()
    with Sandbox(records={"vendors": 30}) as sandbox:
        sandbox.inject(Fault("invalid_json", path="/api/v3/vendors", times=2))
        session = host.authenticate("procurify", sandbox.credential())
        with session:
            messages = list(
                host.read_many("procurify", session, {"vendors": {"resource": "vendors"}})
            )
    assert sorted(m.record["id"] for m in messages if isinstance(m, Record)) == list(range(1, 31))
