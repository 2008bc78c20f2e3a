"""The fault matrix: a misbehaving server at each place a run talks to Procurify (the token,
the first, a middle and the last page of a read, a POST, a PUT), with each fault once or on
every try. Every cell ends, within the request deadline (small here, through the policy),
with the right records exactly once or a ``ProcurifyError`` naming the resource, the page
and the cause; and nothing in what it returns or raises holds the secret or the token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hostile import (
    Answer,
    Drip,
    Drop,
    DropAfterHeaders,
    GzipBomb,
    HostileServer,
    Reply,
    Request,
    Silence,
    deep_json,
    echo,
    exposed,
    leaked,
    redirect,
)
from transport.transport_helpers import hostile_policy

from nexla_procurify import destination, plugin
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.errors import ProcurifyError

SECRET = "matrix-client-secret-4711"
TOKEN = "matrix-access-token-0815"
PAGE_SIZE = 2
PAGES = 3
VENDORS = "/api/v3/vendors"
POLICY = hostile_policy(0.4, max_answer_bytes=1 << 20)
# A generous bound for a cell that hangs: far beyond every deadline, so never the reason a
# passing cell passes, and it keeps a broken deadline from hanging the suite.
HANG = 60.0

PLACES = ["token", "first page", "middle page", "last page", "POST", "PUT"]
PLACE_PAGE = {"token": 1, "first page": 1, "middle page": 2, "last page": PAGES}
# What the message says for each fault (any of these).
CAUSES = {
    "drip": ("within 0.4 s",),
    "silence": ("within 0.4 s",),
    "drop": ("dropped the connection",),
    "drop after headers": ("dropped the connection",),
    "gzip bomb": ("larger than",),
    "deep json": ("nested more than 100",),
    "redirect loop": ("redirect loop", "redirected"),
    "redirect bad port": ("redirected",),
    "redirect elsewhere": ("redirected",),
    "echo": ("HTTP 400",),
}
# Faults that end a request by its deadline: once is the same as always.
DEADLINE_FAULTS = {"drip", "silence"}
# Faults a GET (and the token request) survives when they happen once: retried.
SURVIVED_ONCE = {"drop", "drop after headers"}


def record(number: int) -> dict[str, Any]:
    return {
        "id": number,
        "name": f"Vendor {number}",
        "email": [f"v{number}@example.com"],
        "type": 3,
        "overall_score": None,
        "external_id": f"V-{number}",
        "active": True,
    }


@dataclass
class FakeProcurify:
    """Procurify's token, vendor list, vendor create and update, with a fault at one place."""

    place: str
    fault: str
    once: bool
    elsewhere: str
    created: dict[str, int] = field(default_factory=dict)
    faulted: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Answer:
        place = self._place_of(request)
        with self._lock:
            hit = place == self.place and not (self.once and self.faulted)
            if hit:
                self.faulted += 1
        if (
            request.method == "POST"
            and request.path == VENDORS
            and (
                not hit
                or self.fault in {"drip", "silence", "drop after headers", "gzip bomb", "deep json"}
            )
        ):
            self._create(request)  # it took effect: only the answer goes wrong
        if hit:
            return self._faulty(request)
        return self._answer(request, place)

    def _place_of(self, request: Request) -> str:
        if request.path.endswith("/oauth/token"):
            return "token"
        if request.method == "POST":
            return "POST"
        if request.method == "PUT":
            return "PUT"
        if "external_id" in request.query:
            return "lookup"
        page = int(request.query.get("page", ["1"])[0])
        return {1: "first page", 2: "middle page", PAGES: "last page"}.get(page, "beyond")

    def _create(self, request: Request) -> None:
        body = request.json()
        with self._lock:
            self.created.setdefault(body["external_id"], 100 + len(self.created))

    def _answer(self, request: Request, place: str) -> Answer:
        if place == "token":
            return Reply.json({"access_token": TOKEN, "expires_in": 3600})
        if place == "POST":
            body = request.json()
            return Reply.json(
                {"data": {**body, "id": self.created[body["external_id"]]}}, status=201
            )
        if place == "PUT":
            return Reply.json({"data": {**request.json(), "id": 3}})
        if place == "lookup":
            wanted = request.query["external_id"][0]
            found = [
                {
                    **record(0),
                    "id": number,
                    "external_id": key,
                    "name": "Acme",
                    "email": ["ap@acme.example"],
                }
                for key, number in self.created.items()
                if key == wanted
            ]
            return Reply.json(
                {
                    "data": found,
                    "metadata": {
                        "pagination": {"count": len(found), "num_pages": 1, "current_page": 1}
                    },
                }
            )
        page = int(request.query.get("page", ["1"])[0])
        if page > PAGES:
            return Reply.json({"detail": "Invalid page."}, status=404)
        first = (page - 1) * PAGE_SIZE + 1
        return Reply.json(
            {
                "data": [record(number) for number in range(first, first + PAGE_SIZE)],
                "metadata": {
                    "pagination": {
                        "count": PAGES * PAGE_SIZE,
                        "num_pages": PAGES,
                        "current_page": page,
                        "page_size": PAGE_SIZE,
                    }
                },
            }
        )

    def _faulty(self, request: Request) -> Answer:
        success = 201 if request.method == "POST" else 200
        target = request.path + (
            "?" + "&".join(f"{k}={v[0]}" for k, v in request.query.items()) if request.query else ""
        )
        answers: dict[str, Answer] = {
            "drip": Drip(b'{"data": []}' * 20, every=0.1),
            "silence": Silence(),
            "drop": Drop(),
            "drop after headers": DropAfterHeaders(status=success),
            "gzip bomb": GzipBomb(inflated=32 << 20, status=success),
            "deep json": Reply.raw_json(deep_json(), status=success),
            "redirect loop": redirect(target),
            "redirect bad port": redirect("http://127.0.0.1:99999" + request.path),
            "redirect elsewhere": redirect(self.elsewhere + request.path),
            "echo": Reply.json(echo(SECRET, TOKEN), status=400),
        }
        return answers[self.fault]


def cells() -> Iterator[Any]:
    for place in PLACES:
        for fault in CAUSES:
            for once in (True, False):
                if once and fault in DEADLINE_FAULTS:
                    continue
                yield pytest.param(
                    place, fault, once, id=f"{place}-{fault}-{'once' if once else 'always'}"
                )


def run_cell(fake: FakeProcurify, base_url: str, place: str) -> Any:
    credential = Credential("matrix", "client-id", Secret(SECRET), base_url)
    with ProcurifySession(credential, policy=POLICY) as session:
        if place == "POST":
            return list(
                destination.write(
                    session,
                    {"resource": "vendors", "operation": "create"},
                    [
                        {
                            "name": "Acme",
                            "email": ["ap@acme.example"],
                            "type": 3,
                            "external_id": "V-1",
                        }
                    ],
                    sleep=lambda _: None,
                )
            )
        if place == "PUT":
            return list(
                destination.write(
                    session,
                    {"resource": "vendors", "operation": "update"},
                    [{"id": 3, "name": "Acme", "email": ["ap@acme.example"], "type": 3}],
                    sleep=lambda _: None,
                )
            )
        messages = plugin.read_source(
            connector_type="procurify",
            session=session,
            config={"resource": "vendors", "page_size": PAGE_SIZE},
            state=None,
        )
        return list(messages or [])


def within_bound(work: Any) -> Any:
    """``work()``'s result or exception, failing the test if it has not ended by ``HANG``."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(work())
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG)
    assert outcome, f"the cell did not end within {HANG} s"
    return outcome[0]


@pytest.mark.parametrize(("place", "fault", "once"), list(cells()))
def test_fault_matrix(place: str, fault: str, once: bool) -> None:
    with HostileServer(lambda _: Reply.json({}), lifetime=HANG) as elsewhere:
        fake = FakeProcurify(place, fault, once, elsewhere.base_url)
        with HostileServer(fake.handle, lifetime=HANG) as server:
            outcome = within_bound(lambda: run_cell(fake, server.base_url, place))
        assert elsewhere.requests == []  # nothing ever travels to another origin
    assert fake.faulted >= 1
    assert not isinstance(outcome, BaseException) or isinstance(outcome, ProcurifyError), repr(
        outcome
    )
    assert not leaked(list(exposed(outcome)), SECRET, TOKEN)
    if place in ("POST", "PUT"):
        check_write(place, fault, fake, outcome)
    else:
        check_read(place, fault, once, outcome)


def check_read(place: str, fault: str, once: bool, outcome: Any) -> None:
    if isinstance(outcome, ProcurifyError):
        assert f"vendors page {PLACE_PAGE[place]}" in outcome.message, outcome.message
        assert any(cause in outcome.message for cause in CAUSES[fault]), outcome.message
        assert not (once and fault in SURVIVED_ONCE), outcome.message
        return
    ids = [message.record["id"] for message in outcome if hasattr(message, "record")]
    assert ids == list(range(1, PAGES * PAGE_SIZE + 1))  # every record, exactly once


def check_write(place: str, fault: str, fake: FakeProcurify, outcome: Any) -> None:
    assert not isinstance(outcome, BaseException), repr(outcome)
    assert len(outcome) == 1  # one result per record
    result = outcome[0]
    assert len(fake.created) <= 1  # a creation is never duplicated
    if result.status == "created":
        assert result.id == fake.created["V-1"]
    elif result.status == "updated":
        assert result.id == 3
    else:
        assert result.status in ("failed", "rejected")
        causes = (*CAUSES[fault], "may have been created")
        assert any(cause in (result.error or "") for cause in causes), result.error
