"""``target-procurify`` without a server: its settings, its Singer input, ``--about``, the
state gate, and the destination's ``FLUSH``."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexla_procurify import destination
from nexla_procurify.destination import FLUSH, Plan
from nexla_procurify.errors import ConfigurationError, CredentialError
from nexla_procurify.messages import WriteResult
from nexla_procurify.target import about, cli, config
from nexla_procurify.target.gate import StateGate
from nexla_procurify.target.run import run
from nexla_procurify.target.singer_input import (
    RecordLine,
    SchemaLine,
    SingerInput,
    SingerInputError,
    StateLine,
)

SECRET = "s3cr3t-value-for-target-tests"
CREDENTIAL = {"client_id": "abc", "client_secret": SECRET, "base_url": "https://acme.procurify.com"}


def _file(tmp_path: Path, name: str, data: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


# -- settings -------------------------------------------------------------------------------


def test_files_merge_in_order_and_the_environment_wins(tmp_path: Path) -> None:
    first = _file(tmp_path, "a.json", {**CREDENTIAL, "concurrency": 2, "on_error": "abort"})
    second = _file(tmp_path, "b.json", {"concurrency": 3})
    environ = {
        "TARGET_PROCURIFY_ON_ERROR": "continue",
        "TARGET_PROCURIFY_DRY_RUN": "true",
        "TARGET_PROCURIFY_STREAMS": '{"s": {"resource": "departments", "operation": "create"}}',
        "TARGET_PROCURIFY__DIALECT": "ignored: a Meltano extra, not a setting",
    }
    merged = config.load([first, "ENV", second], environ)
    assert merged["concurrency"] == 3
    assert merged["on_error"] == "continue"
    assert merged["dry_run"] is True
    parsed = config.parse(merged)
    assert parsed.routing.route("s").config.operation == "create"
    assert parsed.routing.route("s").config.concurrency == 3
    assert parsed.routing.route("s").config.dry_run is True


def test_streams_flattened_as_meltano_passes_them_are_nested_again() -> None:
    environ = {
        "TARGET_PROCURIFY_STREAMS": json.dumps(
            {
                "suppliers.resource": "vendors",
                "public.teams.resource": "departments",
                "public.teams.operation": "create",
            }
        )
    }
    routing = config.parse({**CREDENTIAL, **config.load([], environ)}).routing
    assert routing.route("suppliers").config.resource == "vendors"
    assert routing.route("public.teams").describe() == "public.teams -> departments create"


def test_the_credential_can_come_from_the_environment_alone() -> None:
    environ = {f"TARGET_PROCURIFY_{key.upper()}": value for key, value in CREDENTIAL.items()}
    environ["TARGET_PROCURIFY_CONCURRENCY"] = "5"
    parsed = config.parse(config.load([], environ))
    assert parsed.credential.client_id == "abc"
    assert parsed.credential_dict()["name"] == config.DEFAULT_NAME
    assert parsed.routing.concurrency == 5
    assert SECRET not in repr(parsed)


def test_a_stream_goes_to_its_resource_with_upsert_by_its_key() -> None:
    parsed = config.parse(CREDENTIAL)
    route = parsed.routing.route("vendors")
    assert (route.config.resource, route.config.operation) == ("vendors", "upsert")
    assert route.hook_config()["operation"] == "upsert"
    assert parsed.routing.route("account_codes").config.operation == "upsert"


def test_a_resource_without_upsert_needs_its_operation() -> None:
    with pytest.raises(ConfigurationError, match=r"streams\.locations\.operation.*create"):
        config.parse(CREDENTIAL).routing.route("locations")


def test_a_stream_that_is_no_resource_must_be_mapped() -> None:
    with pytest.raises(ConfigurationError, match="'bills' is not a Procurify destination"):
        config.parse(CREDENTIAL).routing.route("bills")


def test_every_problem_is_named_at_once_before_the_credential() -> None:
    raw = {
        **CREDENTIAL,
        "client_secret": "",
        "colour": "red",
        "concurrency": 99,
        "streams": {
            "a": {"resource": "vendors", "operation": "close"},
            "b": {"resource": "locations"},
            "c": {"table": "x"},
        },
    }
    with pytest.raises(ConfigurationError) as raised:
        config.parse(raw)
    message = raised.value.message
    for part in (
        "colour",
        "'concurrency' must be \"auto\" or a whole number from 1 to 32",
        "Stream 'a': Resource 'vendors' does not support operation 'close'",
        "Stream 'b' writes to locations, which cannot be upserted",
        "Unknown setting(s) in streams.c: table",
    ):
        assert part in message
    with pytest.raises(CredentialError) as refused:
        config.parse({**CREDENTIAL, "client_secret": ""})
    assert refused.value.errors[0][0] == "client_secret"


def test_an_environment_object_that_is_not_json_is_named() -> None:
    with pytest.raises(ConfigurationError, match="TARGET_PROCURIFY_STREAMS is not valid JSON"):
        config.load([], {"TARGET_PROCURIFY_STREAMS": "{vendors"})


def test_an_unreadable_config_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", str(tmp_path / "missing.json")]) == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_about_in_each_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--about", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "target-procurify"
    assert set(info["settings"]["required"]) == {"client_id", "client_secret", "base_url"}
    assert info["resources"]["vendors"]["default_operation"] == "upsert"
    assert info["resources"]["locations"]["default_operation"] is None
    assert "TARGET_PROCURIFY_STREAMS" in about.about("text")
    assert about.about("markdown").startswith("# target-procurify")


# -- Singer input ---------------------------------------------------------------------------


def _messages(*lines: object) -> list[Any]:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    return list(SingerInput(io.BytesIO(text.encode())))


def test_singer_messages_come_with_their_line() -> None:
    found = _messages(
        {"type": "SCHEMA", "stream": "s", "schema": {}},
        "",
        {"type": "ACTIVATE_VERSION", "stream": "s", "version": 1},
        {"type": "RECORD", "stream": "s", "record": {"a": 1}},
        {"type": "RECORD", "stream": "s", "record": 5},
        {"type": "STATE", "value": {"bookmarks": {}}},
    )
    assert found == [
        SchemaLine("s", 1),
        RecordLine("s", {"a": 1}, 4),
        RecordLine("s", 5, 5),
        StateLine({"bookmarks": {}}, 6),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "Input line 2 is not valid JSON"),
        ([1], "Input line 2 is not a Singer message"),
        ({"type": "RECORD", "record": {}}, "Input line 2 is a RECORD message without its 'stream'"),
        ({"type": "STATE"}, "Input line 2 is a STATE message without its 'value'"),
        ({"type": "BATCH", "stream": "s"}, "BATCH message"),
        ({"type": "HELLO"}, "got 'HELLO'"),
    ],
)
def test_a_line_that_is_not_singer_is_named(line: object, message: str) -> None:
    with pytest.raises(SingerInputError, match=message):
        _messages({"type": "STATE", "value": 1}, line)


# -- the state gate -------------------------------------------------------------------------


class _Outputs:
    """What a gate echoes and reports, decoded."""

    def __init__(self) -> None:
        self.states: list[Any] = []
        self.results: list[dict[str, Any]] = []

    def gate(self, hold: str | None = None) -> StateGate:
        return StateGate(
            echo=lambda line: self.states.append(json.loads(line)),
            report=lambda line: self.results.append(json.loads(line)),
            hold=hold,
        )


def test_a_state_waits_for_every_stream_before_it() -> None:
    out = _Outputs()
    gate = out.gate()
    gate.sent("a")
    gate.sent("b")
    gate.state(1)
    gate.result("a", WriteResult(0, "created", id=1))
    assert out.states == []
    gate.result("b", WriteResult(0, "updated", id=2))
    assert out.states == [1]
    assert [r["stream"] for r in out.results] == ["a", "b"]


def test_a_dry_run_echoes_no_state() -> None:
    out = _Outputs()
    gate = out.gate(hold="a dry run writes nothing")
    gate.state(1)
    gate.finish()
    assert out.states == []


def test_a_broken_results_sink_holds_states() -> None:
    def broken(line: str) -> None:
        raise OSError("disk full")

    states: list[str] = []
    gate = StateGate(echo=states.append, report=broken)
    gate.sent("a")
    gate.state(1)
    gate.result("a", WriteResult(0, "created"))
    assert states == []
    assert isinstance(gate.failure, OSError)


_STATUSES = st.sampled_from(["created", "updated", "unchanged", "rejected", "failed"])
_EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.sampled_from("abc"), _STATUSES), st.tuples(st.just("state"))
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(events=_EVENTS, order=st.randoms(use_true_random=False))
def test_states_are_echoed_in_order_only_after_their_records_were_written(
    events: list[tuple[Any, ...]], order: Any
) -> None:
    """Whatever the order in which the streams finish (each in its own order): every record
    has exactly one result, an echoed state comes after the results of all the records
    before it, none of them was not written, and the last state that can be echoed is."""
    results: list[dict[str, Any]] = []
    echoed: list[tuple[int, Counter[str]]] = []
    gate = StateGate(
        echo=lambda line: echoed.append((json.loads(line), Counter(r["stream"] for r in results))),
        report=lambda line: results.append(json.loads(line)),
    )
    owed: dict[str, list[WriteResult]] = {"a": [], "b": [], "c": []}
    before: list[list[tuple[str, str]]] = []  # for each state, the records that came before
    seen: list[tuple[str, str]] = []
    for event in events:
        if event[0] == "record":
            _, stream, status = event
            owed[stream].append(WriteResult(gate.sent(stream), status))
            seen.append((stream, status))
        else:
            gate.state(len(before))
            before.append(list(seen))
    queues = {stream: list(owed_results) for stream, owed_results in owed.items() if owed_results}
    while queues:
        stream = order.choice(sorted(queues))
        gate.result(stream, queues[stream].pop(0))
        if not queues[stream]:
            del queues[stream]
    gate.finish()
    assert sorted((r["stream"], r["index"]) for r in results) == sorted(
        (stream, index) for stream, done in owed.items() for index in range(len(done))
    )
    states = [state for state, _ in echoed]
    assert states == sorted(set(states))
    for state, reported in echoed:
        assert Counter(stream for stream, _ in before[state]) <= reported
        assert all(status not in ("rejected", "failed") for _, status in before[state])
    clean = [
        n
        for n, records in enumerate(before)
        if all(status not in ("rejected", "failed") for _, status in records)
    ]
    assert states[-1:] == clean[-1:]


# -- FLUSH in write_destination -------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4])
def test_flush_reports_every_record_before_the_next_is_taken(concurrency: int) -> None:
    plan = Plan.of(
        destination.parse_config(
            {
                "resource": "departments",
                "operation": "create",
                "dry_run": True,
                "concurrency": concurrency,
            }
        )
    )
    results: list[WriteResult] = []
    taken_after_flush: list[int] = []

    def records() -> Iterator[Any]:
        yield {"name": "A", "branch": 1}
        yield {"name": "B", "branch": 1}
        yield FLUSH
        taken_after_flush.append(len(results))
        yield FLUSH
        yield {"name": "C", "branch": 1}

    for result in destination.write_planned(None, plan, records()):  # type: ignore[arg-type]
        results.append(result)
    assert taken_after_flush == [2]
    assert [(r.index, r.status) for r in results] == [
        (0, "validated"),
        (1, "validated"),
        (2, "validated"),
    ]


# -- a whole run, with a stand-in for the hook ------------------------------------------------


class _FakeHost:
    """Stands in for ``Host``: ``write`` gives each record the status it names, in order."""

    def authenticate(self, connector_type: str, credential: dict[str, Any]) -> Any:
        return contextlib.nullcontext(object())

    def write(
        self, connector_type: str, session: Any, config: dict[str, Any], records: Any
    ) -> Iterator[WriteResult]:
        wanted = (record for record in records if record is not FLUSH)
        for index, record in enumerate(wanted):
            yield WriteResult(index, record["status"], id=record["n"])


_LINES = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["vendors", "account_codes", "feed"]),
            st.sampled_from(["created", "unchanged", "rejected"]),
        ),
        st.just("state"),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(lines=_LINES)
def test_every_record_of_every_stream_gets_one_result_and_states_wait_for_them(
    lines: list[Any],
) -> None:
    messages: list[dict[str, Any]] = []
    sent: list[tuple[str, int, str]] = []
    for n, line in enumerate(lines):
        if line == "state":
            messages.append({"type": "STATE", "value": n})
        else:
            stream, status = line
            messages.append(
                {"type": "RECORD", "stream": stream, "record": {"n": n, "status": status}}
            )
            sent.append((stream, n, status))
    raw = {**CREDENTIAL, "streams": {"feed": {"resource": "departments", "operation": "create"}}}
    states: list[int] = []
    results: list[dict[str, Any]] = []
    outcome = run(
        config.parse(raw),
        SingerInput(io.BytesIO("".join(json.dumps(m) + "\n" for m in messages).encode())),
        host=_FakeHost(),  # type: ignore[arg-type]
        echo=lambda line: states.append(json.loads(line)),
        report=lambda line: results.append(json.loads(line)),
    )
    assert sorted((r["stream"], r["id"]) for r in results) == sorted(
        (stream, n) for stream, n, _ in sent
    )
    for stream in ("vendors", "account_codes", "feed"):
        ids = [r["id"] for r in results if r["stream"] == stream]
        assert ids == [n for s, n, _ in sent if s == stream]  # each stream in its order
    first_bad = min((n for _, n, status in sent if status == "rejected"), default=None)
    clean_states = [
        n
        for n, line in enumerate(lines)
        if line == "state" and (first_bad is None or n < first_bad)
    ]
    assert states == sorted(states)
    assert set(states) <= set(clean_states)
    assert states[-1:] == clean_states[-1:]
    assert outcome.status == (1 if first_bad is not None else 0)


def test_a_results_file_with_a_nul_character_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _file(tmp_path, "config.json", {**CREDENTIAL, "results_file": "sec\u0000ret"})
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["--config", settings, "--input", os.devnull]) == 2
    assert "'results_file' must be a path without a NUL character" in capsys.readouterr().err
