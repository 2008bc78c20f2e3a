"""Writing with requests-mock, the run: records that break things, dry runs, ordering,
laziness, abort, no secret in a result, and one result per record in order."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Generator, Iterator, Mapping
from typing import Any

import pytest
import requests_mock as requests_mock_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared import BASE as BASE_URL
from unit.destination_helpers import (
    ACCESS_TOKEN,
    CLIENT_SECRET,
    CREATE,
    UPSERT,
    VENDORS,
    FakeProcurify,
    make_session,
    run,
    vendor,
    writes,
)

from nexla_procurify import destination
from nexla_procurify.messages import WriteResult

# ------------------------------------------------------------------- records that break things


def nested(levels: int) -> list[Any]:
    top: list[Any] = []
    inner = top
    for _ in range(levels):
        inner.append([])
        inner = inner[0]
    return top


def test_a_deeply_nested_record_is_rejected_without_sending(fake: FakeProcurify) -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    results = run(
        CREATE,
        [
            vendor("V-1", comments=nested(5000)),
            vendor("V-2", extra=cyclic),
            vendor("V-3", comments=nested(5)),
        ],
    )
    assert [r.status for r in results] == ["rejected", "rejected", "rejected"]
    assert "comments is nested too deeply" in (results[0].error or "")
    assert results[1].details == {
        "extra": (
            f"is nested too deeply (more than {destination.MAX_NESTING_DEPTH} levels of lists "
            "or objects)",
        )
    }
    assert "comments must be text" in (results[2].error or "")  # an ordinary schema problem
    assert writes(fake.mocker) == []


class Unlistable(Mapping[str, Any]):
    """A record (as a host may hand one in) that breaks unexpectedly when its fields are
    listed: the writer fails on it before anything is sent."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = dict(fields)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def __iter__(self) -> Iterator[str]:
        raise KeyError("boom")

    def __len__(self) -> int:
        return len(self.fields)


def test_an_unexpected_error_before_sending_says_not_written(fake: FakeProcurify) -> None:
    [result] = run(CREATE, [Unlistable(vendor("V-1"))])
    assert result.status == "failed"
    assert "Unexpected KeyError" in (result.error or "")
    assert "it was not written" in (result.error or "")
    assert writes(fake.mocker) == []


def test_an_unexpected_error_after_sending_says_it_may_have_been_written(
    fake: FakeProcurify,
) -> None:
    fake.post_faults.append((True, KeyError))  # the POST is sent, then something breaks
    first, second = run({**CREATE, "concurrency": 1}, [vendor("V-1"), Unlistable(vendor("V-2"))])
    assert "Unexpected KeyError" in (first.error or "")
    assert "it may or may not have been written" in (first.error or "")
    assert "it was not written" in (second.error or "")  # the flag is per record
    assert writes(fake.mocker) == [("POST", VENDORS)]


# ---------------------------------------------------------------------------------- dry run


def test_dry_run_validates_without_writing(fake: FakeProcurify) -> None:
    config = {**CREATE, "dry_run": True}
    results = run(config, [vendor("V-1"), {"name": 1}])
    assert [r.status for r in results] == ["validated", "rejected"]
    assert fake.mocker.call_count == 0


def test_dry_run_update_reports_the_id_it_would_write(fake: FakeProcurify) -> None:
    [result] = run(
        {"resource": "vendors", "operation": "patch", "dry_run": True}, [{"id": 7, "name": "x"}]
    )
    assert (result.status, result.id) == ("validated", 7)
    assert writes(fake.mocker) == []


def test_dry_run_upsert_looks_up_but_never_writes(fake: FakeProcurify) -> None:
    fake.stores[VENDORS][1] = {"id": 1, **vendor("SAME")}
    fake.stores[VENDORS][2] = {"id": 2, **vendor("CHANGED")}
    results = run(
        {**UPSERT, "dry_run": True}, [vendor("NEW"), vendor("SAME"), vendor("CHANGED", name="x")]
    )
    assert [(r.status, r.id) for r in results] == [
        ("validated", None),
        ("unchanged", 1),
        ("validated", 2),
    ]
    assert writes(fake.mocker) == []
    assert len(fake.records()) == 2


# ---------------------------------------------------------------------- order, laziness, abort


def counted(records: list[Any], taken: list[int]) -> Iterator[Any]:
    for record in records:
        taken.append(1)
        yield record


def test_abort_stops_at_the_first_failure_sequentially(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + VENDORS,
        [
            {"status_code": 201, "json": {"data": {"id": 1}}},
            {"status_code": 400, "json": {"name": ["bad"]}},
            {"status_code": 403, "json": {}},
            {"status_code": 201, "json": {"data": {"id": 4}}},
        ],
    )
    taken: list[int] = []
    records = [vendor(), vendor(), vendor(), vendor(), vendor()]
    results = run({**CREATE, "concurrency": 1, "on_error": "abort"}, counted(records, taken))
    assert [r.status for r in results] == ["created", "rejected", "failed"]
    assert len(taken) == 3


def test_abort_with_concurrency_reports_every_record_taken(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    records = [vendor() for _ in range(3)] + [vendor(name="BOOM")] + [vendor() for _ in range(200)]

    def by_name(request: Any, context: Any) -> Any:
        context.status_code = 403 if request.json()["name"] == "BOOM" else 201
        return {"data": {"id": 1}}

    requests_mock.post(re.compile(re.escape(BASE_URL + VENDORS)), json=by_name)
    taken: list[int] = []
    results = run({**CREATE, "concurrency": 4, "on_error": "abort"}, counted(records, taken))
    assert [r.index for r in results] == list(range(len(taken)))
    assert [r.status for r in results[:4]] == ["created"] * 3 + ["failed"]
    assert len(taken) <= 4 + 2 * 4 + 1
    for late in results[4:]:
        assert late.status in ("created", "failed")
        if late.status == "failed":
            assert "Not written: the run stopped after record 3 failed" in (late.error or "")


def test_records_are_taken_lazily(requests_mock: requests_mock_module.Mocker) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + VENDORS, status_code=201, json={"data": {"id": 1}})
    taken: list[int] = []

    def endless() -> Iterator[dict[str, Any]]:
        while True:
            taken.append(1)
            yield vendor()

    stream = destination.write(make_session(), {**CREATE, "concurrency": 3}, endless())
    first = list(itertools.islice(stream, 5))
    assert [r.index for r in first] == [0, 1, 2, 3, 4]
    assert len(taken) <= 5 + 2 * 3
    assert isinstance(stream, Generator)
    stream.close()


def test_an_input_error_comes_after_the_results_before_it(fake: FakeProcurify) -> None:
    def broken() -> Iterator[dict[str, Any]]:
        yield vendor("A")
        yield vendor("B")
        raise ValueError("line 3 is not JSON")

    seen: list[WriteResult] = []
    results = destination.write(make_session(), {**CREATE, "concurrency": 2}, broken())
    seen.append(next(results))
    seen.append(next(results))
    with pytest.raises(ValueError, match="line 3"):
        next(results)
    assert [r.status for r in seen] == ["created", "created"]


def test_no_secret_in_any_result(requests_mock: requests_mock_module.Mocker) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + VENDORS,
        [
            {"status_code": 400, "json": {"name": ["bad"]}},
            {"status_code": 401},
            {"status_code": 401},
        ],
    )
    results = run(
        {**CREATE, "concurrency": 1}, [vendor(), vendor(), {"x": CLIENT_SECRET}, vendor()]
    )
    text = json.dumps([r.to_dict() for r in results]) + repr(results)
    assert CLIENT_SECRET not in text
    assert ACCESS_TOKEN not in text


# ------------------------------------------------------------------------------ the property


record_strategy = st.one_of(
    st.builds(lambda n: vendor(name=f"v{n}"), st.integers(0, 10**6)),
    st.builds(lambda n: {"name": n}, st.integers()),
    st.sampled_from([None, 3, "text", [1, 2]]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(record_strategy, max_size=30), concurrency=st.integers(1, 8))
def test_every_record_gets_exactly_one_result_in_order(
    records: list[Any], concurrency: int
) -> None:
    with requests_mock_module.Mocker() as mocker:
        FakeProcurify(mocker)
        mocker.post(BASE_URL + VENDORS, status_code=201, json={"data": {"id": 1}})
        results = run({**CREATE, "concurrency": concurrency}, iter(records))
    assert [r.index for r in results] == list(range(len(records)))
    for record, result in zip(records, results, strict=True):
        valid = isinstance(record, dict) and "email" in record
        assert result.status == ("created" if valid else "rejected")


def test_records_nested_100000_deep_from_a_host_are_rejected_not_raised(
    fake: FakeProcurify,
) -> None:
    deep_list: list[Any] = []
    tail = deep_list
    for _ in range(100_000):
        tail.append([])
        tail = tail[0]
    records = [
        vendor("V-1", comments=nested(100_000)),
        deep_list,
        nested(100_000),
        vendor("V-2", payment_term_ref=nested(100_000)),
    ]
    for operation in ({**CREATE, "concurrency": 4}, {**UPSERT, "key": "external_id"}):
        results = run(operation, records)
        assert [r.status for r in results] == ["rejected"] * 4
        assert "nested too deeply" in (results[0].error or "")
        assert "must be a JSON object, not a list" in (results[1].error or "")
    assert writes(fake.mocker) == []
