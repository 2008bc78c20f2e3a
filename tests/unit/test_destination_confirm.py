"""After a POST whose outcome is unknown, our own creation is recognised although Procurify
stored it normalised (as Django REST framework does) and although its lists lag behind the
write; never ``failed``/``rejected`` for our own success, never created twice."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import requests_mock as requests_mock_module
from shared import BASE as BASE_URL

from nexla_procurify import destination
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import Credential, Secret
from nexla_procurify.http import HttpClient, HttpPolicy
from nexla_procurify.messages import WriteResult
from nexla_procurify.stored import same

VENDORS = "/api/v3/vendors"
USERS = "/api/v3/users"


def drf_stored(body: Mapping[str, Any]) -> dict[str, Any]:
    """What Procurify stores and lists: text trimmed, e-mails lower-cased, the decimal
    reformatted to six places, the integer choice as its digits."""
    stored: dict[str, Any] = {}
    for name, value in body.items():
        if name == "overall_score" and value is not None:
            stored[name] = f"{Decimal(value):.6f}"
        elif name == "type":
            stored[name] = str(value)
        elif "email" in name and isinstance(value, list):
            stored[name] = [item.strip().lower() for item in value]
        elif "email" in name and isinstance(value, str):
            stored[name] = value.strip().lower()
        elif isinstance(value, str):
            stored[name] = value.strip()
        else:
            stored[name] = value
    return stored


class LaggingProcurify:
    """A list that shows a created record only from its ``lag``-th lookup on, and POSTs that
    commit, then answer 500 (``lost`` times) or a dropped connection."""

    def __init__(
        self,
        mocker: requests_mock_module.Mocker,
        path: str,
        *,
        lag: int = 0,
        lost: int = 1,
        drop: bool = False,
        wrapped_list: bool = False,
    ) -> None:
        self.records: list[dict[str, Any]] = []
        self.lag = lag
        self.lost = lost
        self.drop = drop
        self.lookups = 0
        self.posts = 0
        self.ids = itertools.count(500)
        mocker.post(
            BASE_URL + "/api/v3/oauth/token", json={"access_token": "token", "expires_in": 86400}
        )
        mocker.post(BASE_URL + path, json=self._create(wrapped_list))
        mocker.get(BASE_URL + path, json=self._list)

    def _create(self, wrapped_list: bool) -> Any:
        def answer(request: Any, context: Any) -> Any:
            self.posts += 1
            body = request.json()
            sent = body[0] if wrapped_list else body
            record = {"id": next(self.ids), **drf_stored(sent)}
            if wrapped_list:  # users: an invitation's names are stored as the profile's
                record["firstName"] = record.pop("first_name", None)
                record["lastName"] = record.pop("last_name", None)
            self.records.append(record)
            if self.posts <= self.lost:
                if self.drop:
                    raise requests.exceptions.ConnectionError("dropped after sending")
                context.status_code = 500
                return {"detail": "Server error"}
            context.status_code = 201
            return {"data": [record] if wrapped_list else record, "metadata": {}}

        return answer

    def _list(self, request: Any, context: Any) -> Any:
        self.lookups += 1
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        query.pop("page_size", None)
        shown = self.records if self.lookups > self.lag else []
        if "search" in query:
            wanted = query["search"].lower()
            found = [r for r in shown if str(r.get("email", "")).lower() == wanted]
        else:
            found = [r for r in shown if all(str(r.get(k)) == v for k, v in query.items())]
        return {"data": found, "metadata": {"pagination": {"count": len(found), "num_pages": 1}}}


def session() -> ProcurifySession:
    credential = Credential("test", "client-id", Secret("secret-0123456789"), BASE_URL)
    return ProcurifySession(
        credential,
        client=HttpClient(HttpPolicy(max_attempts=3, max_elapsed=60.0), sleep=lambda _: None),
    )


def run(
    config: Mapping[str, Any], records: list[dict[str, Any]], pauses: list[float] | None = None
) -> list[WriteResult]:
    slept = pauses if pauses is not None else []
    return list(destination.write(session(), config, records, sleep=slept.append))


SENT_VENDOR = {
    "name": "  Acme Supplies ",
    "email": ["AP@Acme.TEST ", "Billing@ACME.test"],
    "type": 2,
    "overall_score": "12.5",
    "external_id": "V-1",
    "comments": "first line\n",
}


@pytest.mark.parametrize("drop", [False, True])
def test_a_lost_answer_finds_our_normalised_record_as_created(
    requests_mock: requests_mock_module.Mocker, drop: bool
) -> None:
    fake = LaggingProcurify(requests_mock, VENDORS, drop=drop)
    [result] = run({"resource": "vendors", "operation": "create"}, [SENT_VENDOR])
    assert (result.status, result.id, result.error) == ("created", 500, None)
    assert fake.posts == 1


def test_an_upsert_of_a_normalised_record_is_unchanged(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    fake = LaggingProcurify(requests_mock, VENDORS, lost=0)
    config = {"resource": "vendors", "operation": "upsert", "key": "external_id"}
    first = run(config, [SENT_VENDOR])
    second = run(config, [SENT_VENDOR])
    assert [r.status for r in first + second] == ["created", "unchanged"]
    assert fake.posts == 1
    assert [r.method for r in requests_mock.request_history].count("PATCH") == 0


def test_a_lookup_lagging_behind_the_write_is_retried_not_resent(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    lag = len(destination.LOOKUP_PAUSES) - 1  # found by the last lookup of the check
    fake = LaggingProcurify(requests_mock, VENDORS, lag=lag)
    pauses: list[float] = []
    [result] = run({"resource": "vendors", "operation": "create"}, [SENT_VENDOR], pauses)
    assert (result.status, result.id) == ("created", 500)
    assert fake.posts == 1
    assert fake.lookups == len(destination.LOOKUP_PAUSES)
    assert pauses == list(destination.LOOKUP_PAUSES)  # growing, and bounded in total
    assert pauses == sorted(pauses)


def test_a_lag_beyond_the_bound_is_found_by_the_resent_posts_refusal(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    """Longer than every pause: the re-sent POST is refused as a duplicate (the key is
    unique), and the record it then finds is ours: created, once."""
    fake = LaggingProcurify(requests_mock, VENDORS, lag=len(destination.LOOKUP_PAUSES) + 1)
    requests_mock.post(
        BASE_URL + VENDORS,
        [
            {"status_code": 500, "json": {"detail": "Server error"}},
            {
                "status_code": 400,
                "json": {"external_id": ["vendor with this external id already exists."]},
            },
        ],
    )
    fake.records.append({"id": 77, **drf_stored(SENT_VENDOR)})
    [result] = run({"resource": "vendors", "operation": "create"}, [SENT_VENDOR])
    assert (result.status, result.id) == ("created", 77)


def test_a_user_invitation_stored_normalised_is_created(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    fake = LaggingProcurify(requests_mock, USERS, lag=1, wrapped_list=True)
    invitation = {
        "email": "Ada.Lovelace@Example.COM",
        "first_name": " Ada",
        "last_name": "Lovelace ",
    }
    [result] = run({"resource": "users", "operation": "create"}, [invitation])
    assert (result.status, result.id) == ("created", 500)
    assert fake.posts == 1


def test_a_different_record_with_the_key_is_still_refused(
    requests_mock: requests_mock_module.Mocker,
) -> None:
    fake = LaggingProcurify(requests_mock, VENDORS, lost=0)
    fake.records.append({"id": 41, **drf_stored({**SENT_VENDOR, "name": "Someone else"})})
    requests_mock.post(BASE_URL + VENDORS, status_code=500, json={"detail": "Server error"})
    [result] = run({"resource": "vendors", "operation": "create"}, [SENT_VENDOR])
    assert result.status == "rejected"
    assert "already exists in Procurify (id 41)" in (result.error or "")


EMAIL_FIELD = {"type": "string", "format": "email"}
EMAILS_FIELD = {"type": "array", "items": EMAIL_FIELD}
DECIMAL_FIELD = {"type": ["string", "null"], "format": "decimal"}
TEXT_FIELD = {"type": ["string", "null"]}
INTEGER_FIELD = {"type": ["integer", "null"]}


@pytest.mark.parametrize(
    ("sent", "stored", "schema", "name"),
    [
        ("  Acme ", "Acme", TEXT_FIELD, "name"),
        ("AP@Acme.Test", "ap@acme.test", EMAIL_FIELD, "email"),
        (["AP@Acme.Test"], ["ap@acme.test"], EMAILS_FIELD, "email"),
        ("Ap@Acme.Test", "ap@acme.test", None, "contact_email"),
        ("12.5", "12.500000", DECIMAL_FIELD, "overall_score"),
        (12.5, "12.500000", None, "total"),
        (3, "3", INTEGER_FIELD, "currency"),
        ("3", 3, INTEGER_FIELD, "currency"),
        (7, {"id": 7, "name": "Expanded"}, INTEGER_FIELD, "currency"),
        ({"name": " Net 30 "}, {"name": "Net 30", "active": True}, None, "payment_term_ref"),
        (None, None, TEXT_FIELD, "url"),
    ],
)
def test_what_drf_normalises_is_the_same(sent: Any, stored: Any, schema: Any, name: str) -> None:
    assert same(sent, stored, schema, name)


@pytest.mark.parametrize(
    ("sent", "stored", "schema", "name"),
    [
        ("Acme", "acme", TEXT_FIELD, "name"),
        ("1.5", "1.50", TEXT_FIELD, "code"),
        ("007", "7", TEXT_FIELD, "code"),
        ("12.5", "12.4", DECIMAL_FIELD, "overall_score"),
        (["a@b.test"], ["a@b.test", "c@d.test"], EMAILS_FIELD, "email"),
        (True, 1, None, "active"),
        (None, "", TEXT_FIELD, "url"),
        ("x", None, TEXT_FIELD, "url"),
        ({"name": "Net 30"}, {"name": "Net 60"}, None, "payment_term_ref"),
    ],
)
def test_what_differs_stays_different(sent: Any, stored: Any, schema: Any, name: str) -> None:
    assert not same(sent, stored, schema, name)
