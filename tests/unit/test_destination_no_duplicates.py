"""Writing with requests-mock: each operation, validation, Procurify's answers, no duplicates,
dry runs, ordering, laziness and abort."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import requests_mock as requests_mock_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared import BASE as BASE_URL

from nexla_procurify import destination, http
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.destination import create, operations
from nexla_procurify.destination.circuit import Circuit
from nexla_procurify.errors import TransientError
from nexla_procurify.http import HttpClient, HttpPolicy
from nexla_procurify.messages import WriteResult

TOKEN_PATH = "/api/v3/oauth/token"
CLIENT_SECRET = "client-secret-never-shown-0123456789"
ACCESS_TOKEN = "access-token-never-shown-9876543210"
VENDORS = "/api/v3/vendors"
FAST = HttpPolicy(max_attempts=3, max_elapsed=60.0)

Answer = Callable[[Any, Any], Any]


def make_session(policy: HttpPolicy = FAST) -> ProcurifySession:
    credential = Credential("test", "client-id", Secret(CLIENT_SECRET), BASE_URL)
    return ProcurifySession(credential, client=HttpClient(policy, sleep=lambda _: None))


def vendor(external_id: str | None = None, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"name": "Acme Supplies", "email": ["ap@acme.test"], "type": 2}
    if external_id is not None:
        record["external_id"] = external_id
    record.update(fields)
    return record


def run(
    config: Mapping[str, Any], records: Any, session: ProcurifySession | None = None
) -> list[WriteResult]:
    return list(destination.write(session or make_session(), config, records, sleep=lambda _: None))


def writes(mocker: requests_mock_module.Mocker) -> list[tuple[str, str]]:
    return [
        (call.method, urlsplit(call.url).path)
        for call in mocker.request_history
        if call.method in ("POST", "PUT", "PATCH") and urlsplit(call.url).path != TOKEN_PATH
    ]


def last(mocker: requests_mock_module.Mocker) -> Any:
    request = mocker.last_request
    assert request is not None
    return request


class FakeProcurify:
    """Just enough of Procurify behind requests-mock: a store per list path, creates, updates,
    lookups, and scripted faults for the next POSTs."""

    def __init__(self, mocker: requests_mock_module.Mocker) -> None:
        self.mocker = mocker
        self.lock = threading.Lock()
        self.stores: dict[str, dict[int, dict[str, Any]]] = {}
        self.ids = itertools.count(100)
        # Each entry: (commit the record?, what to do: an HTTP status or an exception)
        self.post_faults: deque[tuple[bool, int | type[Exception]]] = deque()
        mocker.post(BASE_URL + TOKEN_PATH, json={"access_token": ACCESS_TOKEN, "expires_in": 86400})

    def serve(self, path: str, *, patch: bool = False) -> FakeProcurify:
        self.stores[path] = {}
        item = re.compile(re.escape(BASE_URL + path) + r"/(\d+)$")
        self.mocker.get(BASE_URL + path, json=self._lister(path))
        self.mocker.post(BASE_URL + path, json=self._creator(path))
        self.mocker.put(item, json=self._updater(path, replace=True))
        if patch:
            self.mocker.patch(item, json=self._updater(path, replace=False))
        return self

    def records(self, path: str = VENDORS) -> list[dict[str, Any]]:
        return list(self.stores[path].values())

    def _lister(self, path: str) -> Answer:
        def answer(request: Any, context: Any) -> Any:
            query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
            query.pop("page_size", None)
            with self.lock:
                found = [
                    r
                    for r in self.stores[path].values()
                    if all(str(r.get(k)) == v for k, v in query.items())
                ]
            return {"data": found, "metadata": {"pagination": {"count": len(found)}}}

        return answer

    def _creator(self, path: str) -> Answer:
        def answer(request: Any, context: Any) -> Any:
            commit, outcome = self.post_faults.popleft() if self.post_faults else (True, 201)
            record: dict[str, Any] = {}
            if commit:
                with self.lock:
                    record = {"id": next(self.ids), **request.json()}
                    self.stores[path][record["id"]] = record
            if isinstance(outcome, type):
                raise outcome("scripted fault")
            context.status_code = outcome
            return {"data": record, "metadata": {}} if outcome == 201 else {"detail": "oops"}

        return answer

    def _updater(self, path: str, *, replace: bool) -> Answer:
        def answer(request: Any, context: Any) -> Any:
            found_id = int(urlsplit(request.url).path.rsplit("/", 1)[1])
            with self.lock:
                if found_id not in self.stores[path]:
                    context.status_code = 404
                    return {"detail": "Not found."}
                old = self.stores[path][found_id]
                new = {"id": found_id, **request.json()} if replace else {**old, **request.json()}
                self.stores[path][found_id] = new
            return {"data": new, "metadata": {}}

        return answer


@pytest.fixture
def fake(requests_mock: requests_mock_module.Mocker) -> FakeProcurify:
    return FakeProcurify(requests_mock).serve(VENDORS, patch=True)


CREATE = {"resource": "vendors", "operation": "create"}
UPSERT = {"resource": "vendors", "operation": "upsert", "concurrency": 1}


# ------------------------------------------------------------------------------------ create


def test_create_reports_procurify_id_and_sends_the_record(fake: FakeProcurify) -> None:
    results = run(CREATE, [vendor("V-1"), vendor("V-2", name="Beta")])
    assert [(r.index, r.status) for r in results] == [(0, "created"), (1, "created")]
    # With concurrency the two POSTs may reach Procurify in either order: match by key.
    ids = {rec["external_id"]: rec["id"] for rec in fake.records()}
    assert [r.id for r in results] == [ids["V-1"], ids["V-2"]]
    assert results[0].error is None
    sent = sorted(
        (c for c in fake.mocker.request_history if c.method == "POST" and c.url.endswith(VENDORS)),
        key=lambda call: call.json()["external_id"],
    )
    # overall_score is required (nullable) by Procurify, which computes it: sent as null.
    assert sent[0].json() == {**vendor("V-1"), "overall_score": None}
    assert sent[0].headers["Content-Type"] == "application/json"
    assert sent[0].headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_invalid_records_are_rejected_locally_and_the_others_go_on(fake: FakeProcurify) -> None:
    records = [
        vendor("V-1"),
        {"email": "ap@acme.test", "type": 9},
        ["not", "an", "object"],
        vendor("V-2", active="yes"),
        vendor("V-3"),
    ]
    results = run({**CREATE, "concurrency": 3}, records)
    assert [r.status for r in results] == ["created", "rejected", "rejected", "rejected", "created"]
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    missing = results[1]
    assert dict(missing.details) == {
        "name": ("is required",),
        "email": ("must be a list",),
        "type": ("must be one of 2, 7, 3, 4, 6",),
    }
    assert "name is required" in (missing.error or "")
    assert "email must be a list" in (missing.error or "")
    assert results[2].error == "The record must be a JSON object, not a list."
    assert results[3].details == {"active": ("must be true or false",)}
    assert len(writes(fake.mocker)) == 2


def test_rejections_echo_no_value(fake: FakeProcurify) -> None:
    huge = "S3CRET" * 5000
    [result] = run(CREATE, [vendor(email=huge, fax=["x"], type="supplier")])
    assert result.status == "rejected"
    assert "S3CRET" not in json.dumps(result.to_dict())
    assert set(result.details) == {"email", "fax", "type"}


def test_a_record_that_is_not_json_is_rejected(fake: FakeProcurify) -> None:
    # A payment method's ``data`` is an open object: only the JSON check can refuse these.
    [nan, obj] = run(
        {"resource": "company_payment_methods", "operation": "create"},
        [{"data": {"score": float("nan")}}, {"data": {"extra": object()}}],
    )
    assert nan.status == obj.status == "rejected"
    assert "cannot be sent as JSON" in (nan.error or "")
    assert writes(fake.mocker) == []


def test_procurify_400_is_rejected_with_its_field_messages(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + VENDORS,
        status_code=400,
        json={"external_id": ["Vendor with this external id already exists."]},
    )
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "rejected"
    assert result.details == {"external_id": ("Vendor with this external id already exists.",)}
    assert "external_id: Vendor with this external id already exists." in (result.error or "")


@pytest.mark.parametrize(
    ("status", "fragment"),
    [(403, "not allowed"), (404, "Not found"), (401, "refused the access token")],
)
def test_permission_address_and_token_errors_fail(
    requests_mock: requests_mock_module.Mocker, status: int, fragment: str
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + VENDORS, status_code=status, json={"detail": "no"})
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "failed"
    assert fragment in (result.error or "")


def test_a_refused_credential_fails_the_rest_without_calling_again(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    requests_mock.post(BASE_URL + TOKEN_PATH, status_code=401, json={"error": "access_denied"})
    results = run({**CREATE, "concurrency": 1}, [vendor("V-1"), vendor("V-2"), vendor("V-3")])
    assert [r.status for r in results] == ["failed"] * 3
    assert "rejected the Client ID or Client Secret" in (results[2].error or "")
    assert requests_mock.call_count == 1


# ------------------------------------------------------------------- no duplicate creations


@pytest.mark.parametrize("status", [500, 502, 504])
def test_an_uncertain_post_that_took_effect_is_found_not_repeated(
    fake: FakeProcurify, status: int
) -> None:
    fake.post_faults.append((True, status))
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "created"
    assert len(fake.records()) == 1
    assert result.id == fake.records()[0]["id"]
    assert writes(fake.mocker) == [("POST", VENDORS)]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_an_uncertain_post_that_did_not_take_effect_is_sent_again(
    fake: FakeProcurify, status: int
) -> None:
    fake.post_faults.append((False, status))
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "created"
    assert len(fake.records()) == 1
    assert writes(fake.mocker) == [("POST", VENDORS), ("POST", VENDORS)]


@pytest.mark.parametrize(
    "exception", [requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError]
)
def test_a_dropped_or_timed_out_post_is_looked_up(
    fake: FakeProcurify, exception: type[Exception]
) -> None:
    fake.post_faults.append((True, exception))
    [result] = run(CREATE, [vendor("V-1")])
    assert (result.status, result.id) == ("created", fake.records()[0]["id"])
    assert len(fake.records()) == 1
    assert len(writes(fake.mocker)) == 1


def test_creation_gives_up_after_bounded_attempts(fake: FakeProcurify) -> None:
    fake.post_faults.extend([(False, 502)] * 5)
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "failed"
    assert "after 3 attempts" in (result.error or "")
    assert "it was not created" in (result.error or "")
    assert len(writes(fake.mocker)) == destination.MAX_CREATE_ATTEMPTS
    assert fake.records() == []


def test_a_resent_post_refused_as_duplicate_is_found_and_reported_created(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    """The first POST committed but its answer was lost and the lookup did not see it yet;
    the re-sent POST is refused as a duplicate: the record exists, it was created once."""
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + VENDORS,
        [
            {"status_code": 502, "json": {"detail": "Bad gateway"}},
            {
                "status_code": 400,
                "json": {"external_id": ["vendor with this external id already exists."]},
            },
        ],
    )
    requests_mock.get(
        BASE_URL + VENDORS,
        [  # not found by any lookup of the first check
            *[{"json": {"data": [], "metadata": {"pagination": {"count": 0, "num_pages": 1}}}}]
            * len(destination.LOOKUP_PAUSES),
            {
                "json": {
                    "data": [{"id": 41, **vendor("V-1")}],
                    "metadata": {"pagination": {"count": 1, "num_pages": 1}},
                }
            },
        ],
    )
    [result] = run(CREATE, [vendor("V-1")])
    assert (result.status, result.id, result.error) == ("created", 41, None)
    assert writes(requests_mock) == [("POST", VENDORS), ("POST", VENDORS)]


def test_a_first_post_refused_with_400_is_rejected_without_lookup(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + VENDORS,
        status_code=400,
        json={"external_id": ["vendor with this external id already exists."]},
    )
    lookups = requests_mock.get(BASE_URL + VENDORS, json={"data": [{"id": 41, **vendor("V-1")}]})
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "rejected"
    assert "external_id" in result.details
    assert lookups.call_count == 0


def test_a_resent_post_refused_and_still_not_found_stays_rejected(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + VENDORS,
        [
            {"status_code": 502, "json": {"detail": "Bad gateway"}},
            {"status_code": 400, "json": {"name": ["This field is required."]}},
        ],
    )
    requests_mock.get(BASE_URL + VENDORS, json={"data": []})
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "rejected"
    assert "name" in result.details


def test_the_creation_check_reads_every_page_of_the_lookup(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + VENDORS, status_code=502, json={"detail": "Bad gateway"})
    requests_mock.get(BASE_URL + VENDORS, json=paged_lookup("V-1", found_id=77))
    [result] = run(CREATE, [vendor("V-1")])
    assert (result.status, result.id) == ("created", 77)
    assert writes(requests_mock) == [("POST", VENDORS)]


def test_payment_method_creates_report_the_id_of_the_bare_record(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    """Payment-method creates answer the bare record; its own ``data`` holds payment details."""
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + "/api/v2/ap/company-payment-methods",
        status_code=201,
        json={"data": {"payable_to": "Acme", "id": "acct-9"}, "id": 6, "name": "Wire", "type": 1},
    )
    requests_mock.post(
        BASE_URL + "/api/v2/ap/vendor-payment-methods",
        status_code=201,
        json={"data": {"payable_to": "Acme"}, "id": 8, "vendor": 3},
    )
    [company] = run(
        {"resource": "company_payment_methods", "operation": "create"},
        [{"data": {"payable_to": "Acme", "id": "acct-9"}, "name": "Wire"}],
    )
    [vendor_method] = run(
        {"resource": "vendor_payment_methods", "operation": "create"},
        [{"vendor": 3, "data": {"payable_to": "Acme"}}],
    )
    assert (company.status, company.id) == ("created", 6)
    assert (vendor_method.status, vendor_method.id) == ("created", 8)


def test_an_enveloped_create_answer_still_gives_the_record_id(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + "/api/v3/departments",
        status_code=201,
        json={"data": {"id": 12, "name": "Finance"}, "metadata": {}},
    )
    [result] = run(
        {"resource": "departments", "operation": "create"}, [{"branch": 1, "name": "Finance"}]
    )
    assert (result.status, result.id) == ("created", 12)


@pytest.mark.parametrize("module", [create, operations])
def test_post_outcome_policy_comes_from_the_http_module(module: ModuleType) -> None:
    assert not hasattr(module, "_outcome_unknown")
    assert vars(module)["post_outcome_unknown"] is http.post_outcome_unknown


def test_without_a_lookup_an_uncertain_post_fails_and_is_not_repeated(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    fake = FakeProcurify(requests_mock).serve("/api/v3/departments")
    fake.post_faults.append((True, 502))
    [result] = run(
        {"resource": "departments", "operation": "create"}, [{"branch": 1, "name": "Finance"}]
    )
    assert result.status == "failed"
    assert "may have been created in Procurify" in (result.error or "")
    assert len(writes(requests_mock)) == 1


def test_a_record_without_its_lookup_key_fails_after_an_uncertain_post(
    fake: FakeProcurify,
) -> None:
    fake.post_faults.append((True, requests.exceptions.ReadTimeout))
    [result] = run(CREATE, [vendor()])
    assert result.status == "failed"
    assert "may have been created in Procurify" in (result.error or "")
    assert len(writes(fake.mocker)) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_a_post_surely_not_applied_is_retried_by_the_policy(
    fake: FakeProcurify, status: int
) -> None:
    fake.post_faults.append((False, status))
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "created"
    assert len(writes(fake.mocker)) == 2
    assert len(fake.records()) == 1


def test_a_refused_connection_fails_without_lookup(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(BASE_URL + VENDORS, exc=requests.exceptions.ConnectTimeout)
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "failed"
    assert "Could not connect" in (result.error or "")
    assert not [c for c in requests_mock.request_history if c.method == "GET"]


@pytest.mark.parametrize("fault", [502, requests.exceptions.ReadTimeout])
def test_an_uncertain_post_finding_another_record_with_its_key_is_rejected(
    fake: FakeProcurify, fault: int | type[Exception]
) -> None:
    """The key already belonged to an older record (Procurify would refuse the POST as a
    duplicate): finding that record proves nothing was created, and nothing is re-sent."""
    fake.stores[VENDORS][41] = {"id": 41, **vendor("V-1", name="Older vendor")}
    fake.post_faults.append((False, fault))
    [result] = run(CREATE, [vendor("V-1", name="New vendor")])
    assert (result.status, result.id) == ("rejected", None)
    assert "already exists in Procurify (id 41)" in (result.error or "")
    assert result.details == {"external_id": ("already belongs to the Vendors record 41",)}
    assert writes(fake.mocker) == [("POST", VENDORS)]
    assert fake.stores[VENDORS][41]["name"] == "Older vendor"


def test_a_resent_post_refused_finding_another_record_is_rejected_as_existing(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + VENDORS,
        [
            {"status_code": 502, "json": {"detail": "Bad gateway"}},
            {
                "status_code": 400,
                "json": {"external_id": ["vendor with this external id already exists."]},
            },
        ],
    )
    requests_mock.get(
        BASE_URL + VENDORS,
        [
            *[{"json": {"data": []}}] * len(destination.LOOKUP_PAUSES),
            {"json": {"data": [{"id": 41, **vendor("V-1", name="Someone else")}]}},
        ],
    )
    [result] = run(CREATE, [vendor("V-1")])
    assert result.status == "rejected"
    assert "already exists in Procurify (id 41)" in (result.error or "")


@pytest.mark.parametrize("commit", [True, False])
def test_a_success_without_the_created_record_is_confirmed_by_lookup(
    fake: FakeProcurify, commit: bool
) -> None:
    """A 200 whose body holds no record id: found as sent is created (with the id); not found
    is failed as "may have been created", and never sent again."""
    fake.post_faults.append((commit, 200))
    [result] = run(CREATE, [vendor("V-1")])
    if commit:
        assert (result.status, result.id) == ("created", fake.records()[0]["id"])
    else:
        assert result.status == "failed"
        assert "may have been created in Procurify" in (result.error or "")
        assert "HTTP 200 without the created record" in (result.error or "")
    assert writes(fake.mocker) == [("POST", VENDORS)]


def test_a_success_that_is_not_json_without_a_lookup_is_failed(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + "/api/v3/departments", status_code=200, text="<html>maintenance</html>"
    )
    [result] = run(
        {"resource": "departments", "operation": "create"}, [{"branch": 1, "name": "Finance"}]
    )
    assert (result.status, result.id) == ("failed", None)
    assert "may have been created in Procurify" in (result.error or "")
    assert len(writes(requests_mock)) == 1


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirected_post_is_failed_not_created(
    requests_mock: requests_mock_module.Mocker, status: int
) -> None:
    FakeProcurify(requests_mock)
    requests_mock.post(
        BASE_URL + "/api/v3/departments",
        status_code=status,
        headers={"Location": "https://elsewhere.example/api/v3/departments"},
    )
    [result] = run(
        {"resource": "departments", "operation": "create"}, [{"branch": 1, "name": "Finance"}]
    )
    assert (result.status, result.id) == ("failed", None)
    assert "redirected the request to create a Departments record" in (result.error or "")
    assert f"HTTP {status}" in (result.error or "")
    assert all("elsewhere" not in call.url for call in requests_mock.request_history)


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


def paged_lookup(key: str, found_id: int, *, num_pages: int = 2) -> Answer:
    """A lookup whose filter matches loosely (``V-1`` also finds ``V-10``...): full pages of
    near misses, the exact match alone on the last page."""

    def answer(request: Any, context: Any) -> Any:
        page = int(parse_qs(urlsplit(request.url).query).get("page", ["1"])[0])
        pagination = {
            "count": 50 * (num_pages - 1) + 1,
            "num_pages": num_pages,
            "current_page": page,
            "page_size": 50,
        }
        if page < num_pages:
            data = [{"id": page * 100 + n, **vendor(f"{key}{n}")} for n in range(50)]
        else:
            data = [{"id": found_id, **vendor(key)}]
        return {"data": data, "metadata": {"pagination": pagination}}

    return answer


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
    stream.close()  # type: ignore[attr-defined]


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
