"""Writing with requests-mock, run-wide circuits: when a run stops calling Procurify."""

from __future__ import annotations

import re

import pytest
import requests_mock as requests_mock_module
from shared import BASE as BASE_URL
from unit.destination_helpers import (
    CREATE,
    FAST,
    VENDORS,
    FakeProcurify,
    run,
    vendor,
)

from nexla_procurify import destination
from nexla_procurify.destination.circuit import Circuit
from nexla_procurify.errors import TransientError

# ------------------------------------------------------------------ run-wide circuits


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_sustained_rate_limit_stops_the_run_without_calling_again(
    requests_mock: requests_mock_module.Mocker, concurrency: int
) -> None:
    FakeProcurify(requests_mock)
    posts = requests_mock.post(BASE_URL + VENDORS, status_code=429, json={"detail": "slow"})
    results = run({**CREATE, "concurrency": concurrency}, [vendor(f"V-{n}") for n in range(40)])
    assert [r.status for r in results] == ["failed"] * 40
    assert all("HTTP 429" in (r.error or "") for r in results)
    not_sent = [r for r in results if (r.error or "").startswith("Not sent")]
    assert len(not_sent) >= 40 - 2 * concurrency
    # Only the records already in flight when the first one gave up spent their retries.
    assert posts.call_count <= FAST.max_attempts * 2 * concurrency
    if concurrency == 1:
        assert posts.call_count == FAST.max_attempts
        assert "after record 0 failed" in (results[1].error or "")


def test_a_rate_limited_creation_check_stops_the_run(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    posts = requests_mock.post(BASE_URL + VENDORS, status_code=502, json={"detail": "bad"})
    requests_mock.get(BASE_URL + VENDORS, status_code=429, json={"detail": "slow"})
    first, second = run({**CREATE, "concurrency": 1}, [vendor("V-1"), vendor("V-2")])
    assert "may have been created" in (first.error or "")
    assert (second.error or "").startswith("Not sent")
    assert posts.call_count == 1


def test_repeated_outages_stop_the_run_after_a_few_records_in_a_row(
    fake: FakeProcurify,
) -> None:
    puts = fake.mocker.put(re.compile(re.escape(BASE_URL + VENDORS) + r"/\d+$"), status_code=500)
    records = [{"id": n, **vendor()} for n in range(1, 11)]
    results = run({"resource": "vendors", "operation": "update", "concurrency": 1}, records)
    stop = destination.TRANSIENT_FAILURES_TO_STOP
    assert [r.status for r in results] == ["failed"] * 10
    assert all("HTTP 500" in (r.error or "") for r in results[:stop])
    assert all((r.error or "").startswith("Not sent") for r in results[stop:])
    assert puts.call_count == stop * FAST.max_attempts


def test_an_outage_of_one_record_does_not_stop_the_others(fake: FakeProcurify) -> None:
    """A 5xx caused by one record's content must not cost the rest of the run."""
    for n in range(1, 11):
        fake.stores[VENDORS][n] = {"id": n, **vendor()}
    fake.mocker.put(BASE_URL + VENDORS + "/3", status_code=500)
    fake.mocker.put(BASE_URL + VENDORS + "/6", status_code=500)
    records = [{"id": n, **vendor()} for n in (3, 1, 3, 2, 6, 4, 3, 5, 3, 7)]
    results = run({"resource": "vendors", "operation": "update", "concurrency": 1}, records)
    assert [r.status for r in results] == [
        "failed",
        "updated",
        "failed",
        "updated",
        "failed",
        "updated",
        "failed",
        "updated",
        "failed",
        "updated",
    ]


def test_outages_are_counted_in_input_order_whatever_order_they_finish_in() -> None:
    """With workers in parallel, good records finish while bad ones are still retrying: the
    bad ones' failures arrive together, yet they were never consecutive in the input."""
    circuit = Circuit()
    outage = TransientError("Procurify is unavailable: it answered HTTP 500.")
    for index in (13, 9, 5):  # finished together, far apart in the input
        circuit.note_failure(index, outage)
    assert circuit.stopped is None
    for index in (7, 6):  # 5, 6, 7: three in a row in the input
        circuit.note_failure(index, outage)
    assert circuit.stopped is not None
    assert "3 records in a row" in circuit.stopped
