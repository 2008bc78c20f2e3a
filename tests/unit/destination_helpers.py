"""Helpers for the destination tests: a fake Procurify behind requests-mock (a store per list
path, scripted faults), a session, records, the run and what it wrote."""

from __future__ import annotations

import itertools
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests_mock as requests_mock_module
from shared import BASE as BASE_URL

from nexla_procurify import destination
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import Credential, Secret
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


CREATE = {"resource": "vendors", "operation": "create"}
UPSERT = {"resource": "vendors", "operation": "upsert", "concurrency": 1}


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
