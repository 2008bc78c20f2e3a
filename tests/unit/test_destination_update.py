"""Writing with requests-mock, the other operations: update, patch, purchase-order actions
and upsert."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests_mock as requests_mock_module
from shared import BASE as BASE_URL
from unit.destination_helpers import (
    FAST,
    UPSERT,
    VENDORS,
    FakeProcurify,
    last,
    paged_lookup,
    run,
    vendor,
    writes,
)

from nexla_procurify import destination

# -------------------------------------------------------------------- update, patch, actions


def test_update_puts_to_the_record_id_without_the_id_in_the_body(fake: FakeProcurify) -> None:
    fake.stores[VENDORS][7] = {"id": 7, **vendor("V-7")}
    [result] = run(
        {"resource": "vendors", "operation": "update"}, [{"id": 7, **vendor("V-7", name="Renamed")}]
    )
    assert (result.status, result.id) == ("updated", 7)
    put = last(fake.mocker)
    assert (put.method, urlsplit(put.url).path) == ("PUT", "/api/v3/vendors/7")
    assert "id" not in put.json()
    assert fake.stores[VENDORS][7]["name"] == "Renamed"


@pytest.mark.parametrize(
    ("record_id", "reason"),
    [
        (None, "is required"),
        ("../users/1", "whole number"),
        (True, "whole number"),
        ([7], "whole number"),
        ("V-7", "whole number"),
        (-1, "whole number"),
    ],
)
def test_update_needs_a_plain_id(fake: FakeProcurify, record_id: Any, reason: str) -> None:
    record = vendor("V-7") if record_id is None else {"id": record_id, **vendor("V-7")}
    [result] = run({"resource": "vendors", "operation": "update"}, [record])
    assert result.status == "rejected"
    assert reason in result.details["id"][0]
    assert writes(fake.mocker) == []


def test_update_of_an_unknown_id_fails_with_not_found(fake: FakeProcurify) -> None:
    [result] = run({"resource": "vendors", "operation": "update"}, [{"id": 99, **vendor()}])
    assert result.status == "failed"
    assert "Not found" in (result.error or "")


def test_update_is_retried_through_5xx(fake: FakeProcurify) -> None:
    fake.stores[VENDORS][7] = {"id": 7, **vendor("V-7")}
    fake.mocker.put(
        BASE_URL + "/api/v3/vendors/7",
        [{"status_code": 502}, {"status_code": 200, "json": {"data": {"id": 7}}}],
    )
    [result] = run({"resource": "vendors", "operation": "update"}, [{"id": 7, **vendor()}])
    assert result.status == "updated"


def test_update_failing_after_retries_is_failed(fake: FakeProcurify) -> None:
    fake.mocker.put(BASE_URL + "/api/v3/vendors/7", status_code=500)
    [result] = run({"resource": "vendors", "operation": "update"}, [{"id": 7, **vendor()}])
    assert result.status == "failed"
    assert "HTTP 500" in (result.error or "")
    assert len(writes(fake.mocker)) == FAST.max_attempts


def test_patch_sends_only_the_fields_given(fake: FakeProcurify) -> None:
    fake.stores[VENDORS][7] = {"id": 7, **vendor("V-7")}
    [result] = run({"resource": "vendors", "operation": "patch"}, [{"id": 7, "active": False}])
    assert (result.status, result.id) == ("updated", 7)
    assert last(fake.mocker).method == "PATCH"
    assert last(fake.mocker).json() == {"active": False}
    assert fake.stores[VENDORS][7]["name"] == "Acme Supplies"


@pytest.mark.parametrize("action", ["close", "reopen"])
def test_purchase_order_actions_post_without_a_body(
    requests_mock: requests_mock_module.Mocker, action: str
) -> None:
    FakeProcurify(requests_mock)
    path = f"/api/v3/purchase-orders/1042/{action}"
    requests_mock.post(BASE_URL + path, json={"data": {"id": 1042}})
    results = run(
        {"resource": "purchase_orders", "operation": action},
        [{"procurify_PO": 1042}, {"PO_Num": "x"}],
    )
    assert [(r.status, r.id) for r in results] == [("updated", 1042), ("rejected", None)]
    assert "procurify_PO" in results[1].details
    assert writes(requests_mock) == [("POST", path)]
    assert requests_mock.request_history[-1].body is None


def test_an_uncertain_action_is_not_repeated(requests_mock: requests_mock_module.Mocker) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + "/api/v3/purchase-orders/5/close", status_code=504)
    [result] = run({"resource": "purchase_orders", "operation": "close"}, [{"procurify_PO": 5}])
    assert result.status == "failed"
    assert "may have carried out" in (result.error or "")
    assert len(writes(requests_mock)) == 1


# ----------------------------------------------------------------------------------- upsert


def test_upsert_creates_then_finds_nothing_to_do(fake: FakeProcurify) -> None:
    first = run(UPSERT, [vendor("V-1"), vendor("V-2")])
    second = run(UPSERT, [vendor("V-1"), vendor("V-2")])
    assert [r.status for r in first] == ["created", "created"]
    assert [(r.status, r.id) for r in second] == [("unchanged", r.id) for r in first]
    assert len(fake.records()) == 2
    assert len(writes(fake.mocker)) == 2


def test_upsert_patches_a_changed_vendor(fake: FakeProcurify) -> None:
    [created] = run(UPSERT, [vendor("V-1")])
    [updated] = run(UPSERT, [vendor("V-1", name="Renamed")])
    assert (updated.status, updated.id) == ("updated", created.id)
    assert last(fake.mocker).method == "PATCH"
    assert [r["name"] for r in fake.records()] == ["Renamed"]


def test_upsert_puts_where_there_is_no_patch(requests_mock: requests_mock_module.Mocker) -> None:
    fake = FakeProcurify(requests_mock).serve("/api/v3/account-codes")
    fake.stores["/api/v3/account-codes"][3] = {"id": 3, "code": "6000", "description": "Old"}
    config = {"resource": "account_codes", "operation": "upsert", "key": "code"}
    [result] = run(config, [{"code": "6000", "description": "Travel"}])
    assert (result.status, result.id) == ("updated", 3)
    assert last(requests_mock).method == "PUT"
    assert urlsplit(last(requests_mock).url).path == "/api/v3/account-codes/3"


def test_upsert_with_an_ambiguous_key_is_rejected(fake: FakeProcurify) -> None:
    fake.stores[VENDORS][1] = {"id": 1, **vendor("DUP")}
    fake.stores[VENDORS][2] = {"id": 2, **vendor("DUP")}
    [result] = run(UPSERT, [vendor("DUP", name="New")])
    assert result.status == "rejected"
    assert "Ambiguous key" in (result.error or "")
    assert writes(fake.mocker) == []


def test_upsert_needs_the_key(fake: FakeProcurify) -> None:
    [missing, empty] = run(UPSERT, [vendor(), vendor("")])
    assert missing.status == empty.status == "rejected"
    assert "external_id" in missing.details
    assert fake.mocker.call_count == 0


def test_upsert_ignores_records_the_filter_should_have_excluded(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.get(BASE_URL + VENDORS, json={"data": [{"id": 1, **vendor("OTHER")}]})
    requests_mock.post(BASE_URL + VENDORS, status_code=201, json={"data": {"id": 2}})
    [result] = run(UPSERT, [vendor("V-1")])
    assert (result.status, result.id) == ("created", 2)


def test_upsert_finds_an_exact_match_on_a_later_page(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    lookups = requests_mock.get(
        BASE_URL + VENDORS, json=paged_lookup("V-1", found_id=77, num_pages=3)
    )
    requests_mock.patch(BASE_URL + VENDORS + "/77", json={"data": {"id": 77}})
    [result] = run(UPSERT, [vendor("V-1", name="Renamed")])
    assert (result.status, result.id) == ("updated", 77), result.error
    assert writes(requests_mock) == [("PATCH", VENDORS + "/77")]
    pages = [
        parse_qs(urlsplit(call.url).query).get("page", ["1"])[0] for call in lookups.request_history
    ]
    assert pages == ["1", "2", "3"]


def test_an_upsert_lookup_answering_too_many_pages_fails_without_writing(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    pages = destination.MAX_LOOKUP_PAGES + 1
    lookups = requests_mock.get(BASE_URL + VENDORS, json=paged_lookup("V-1", 77, num_pages=pages))
    [result] = run(UPSERT, [vendor("V-1")])
    assert result.status == "failed"
    assert "too broad" in (result.error or "")
    assert writes(requests_mock) == []
    assert lookups.call_count == 1


def test_same_key_records_in_one_batch_are_written_in_order(fake: FakeProcurify) -> None:
    records = [vendor("K", name=f"v{n}") for n in range(6)] + [
        vendor(f"other-{n}") for n in range(6)
    ]
    results = run({**UPSERT, "concurrency": 8}, records)
    assert [r.status for r in results[:6]] == ["created"] + ["updated"] * 5
    assert len({r.id for r in results[:6]}) == 1
    keyed = [r for r in fake.records() if r["external_id"] == "K"]
    assert [r["name"] for r in keyed] == ["v5"]
