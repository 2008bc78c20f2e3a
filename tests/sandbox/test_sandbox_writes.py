"""The sandbox's writes and knobs: creates, updates, actions, field errors, edits during reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sandbox.client import Client, paging

from nexla_procurify.sandbox import Fault, Sandbox

VENDOR = {"name": "Globex Paper", "email": ["ap@globex.example"], "type": 3, "overall_score": None}


@pytest.fixture
def running() -> Iterator[Sandbox]:
    with Sandbox(records=25, seed=0) as sandbox:
        yield sandbox


@pytest.fixture
def client(running: Sandbox) -> Client:
    return Client(running)


class TestCreate:
    def test_vendor_create_is_listed_and_found_by_external_id(
        self, client: Client, running: Sandbox
    ) -> None:
        response = client.send("POST", "/api/v3/vendors", {**VENDOR, "external_id": "EXT-1"})
        assert response.status_code == 201
        body = response.json()
        assert body["metadata"] == {}
        assert body["data"]["id"] == 26
        assert body["data"]["external_id"] == "EXT-1"
        assert body["data"]["dateModified"].endswith("Z")
        found = client.get("/api/v3/vendors", external_id="EXT-1").json()["data"]
        assert [v["id"] for v in found] == [26]
        assert paging(client.get("/api/v3/vendors").json())["count"] == 26
        assert running.created("vendors") == 1

    def test_field_errors(self, client: Client) -> None:
        response = client.send("POST", "/api/v3/vendors", {"email": ["not-an-email"], "type": 99})
        assert response.status_code == 400
        errors = response.json()
        assert errors["name"] == ["This field is required."]
        assert errors["email"] == ["Enter a valid email address."]
        assert errors["type"] == ['"99" is not a valid choice.']
        wrong_type = client.send("POST", "/api/v3/vendors", {**VENDOR, "name": 5})
        assert wrong_type.json() == {"name": ["Not a valid string."]}
        not_a_dict = client.send("POST", "/api/v3/vendors", [VENDOR])
        assert "non_field_errors" in not_a_dict.json()

    def test_nested_field_errors(self, client: Client) -> None:
        response = client.send(
            "POST",
            "/api/v3/requisitions",
            {
                "required_date": "2026-01-01",
                "location_name": "HQ",
                "department_name": "IT",
                "line_items": [{}],
            },
        )
        assert response.status_code == 400
        assert any(key.startswith("line_items.0.") for key in response.json())

    def test_duplicate_external_id_and_code(self, client: Client, running: Sandbox) -> None:
        duplicate = client.send("POST", "/api/v3/vendors", {**VENDOR, "external_id": "V-000003"})
        assert duplicate.status_code == 400
        assert duplicate.json() == {"external_id": ["vendor with this external id already exists."]}
        code = running.records("account_codes")[0]["code"]
        refused = client.send(
            "POST", "/api/v3/account-codes", {"code": code, "description": "Again"}
        )
        assert refused.json() == {"code": ["account code with this code already exists."]}
        assert running.created("vendors") == 0

    @pytest.mark.parametrize(
        ("path", "body"),
        [
            ("/api/v3/departments", {"branch": 1, "name": "Robotics"}),
            ("/api/v3/account-codes", {"code": "9999", "description": "Robots"}),
        ],
    )
    def test_other_creates(self, client: Client, path: str, body: dict[str, Any]) -> None:
        response = client.send("POST", path, body)
        assert response.status_code == 201, response.text
        assert response.json()["data"]["id"] >= 1

    def test_commit_then_drop_stores_exactly_one(self, client: Client, running: Sandbox) -> None:
        running.inject(Fault("commit_then_drop", method="POST", path="/api/v3/vendors"))
        with pytest.raises(requests.ConnectionError):
            client.send("POST", "/api/v3/vendors", {**VENDOR, "external_id": "DROP-1"})
        assert running.created("vendors") == 1
        assert [v["external_id"] for v in running.records("vendors")].count("DROP-1") == 1


class TestUpdate:
    def test_put_bumps_cursor(self, client: Client, running: Sandbox) -> None:
        before = running.record("vendors", 4)
        assert before is not None
        response = client.send("PUT", "/api/v3/vendors/4", {**VENDOR, "name": "Renamed"})
        assert response.status_code == 200
        record = response.json()["data"]
        assert record["name"] == "Renamed"
        assert record["id"] == 4
        assert record["dateModified"] > before["dateModified"]
        assert client.send("PUT", "/api/v3/vendors/999", VENDOR).status_code == 404
        assert client.send("PUT", "/api/v3/vendors/999", VENDOR).json() == {"detail": "Not found."}
        assert client.send("PUT", "/api/v3/vendors/4", {"name": "x"}).status_code == 400

    def test_patch_changes_only_what_is_sent(self, client: Client, running: Sandbox) -> None:
        before = running.record("vendors", 2)
        assert before is not None
        response = client.send("PATCH", "/api/v3/vendors/2", {"comments": "Net 30"})
        assert response.status_code == 200
        after = response.json()["data"]
        assert after["comments"] == "Net 30"
        assert after["name"] == before["name"]

    def test_put_may_not_steal_an_external_id(self, client: Client) -> None:
        response = client.send("PUT", "/api/v3/vendors/4", {**VENDOR, "external_id": "V-000005"})
        assert response.status_code == 400
        same = client.send("PUT", "/api/v3/vendors/4", {**VENDOR, "external_id": "V-000004"})
        assert same.status_code == 200

    def test_purchase_order_close_and_reopen(self, client: Client, running: Sandbox) -> None:
        closed = client.send("POST", "/api/v3/purchase-orders/3/close")
        assert closed.status_code == 200
        assert closed.json()["data"]["state"] == 3
        reopened = client.send("POST", "/api/v3/purchase-orders/3/reopen")
        assert reopened.status_code == 200
        assert reopened.json()["data"]["state"] == 5
        assert client.send("POST", "/api/v3/purchase-orders/999/close").status_code == 404
        record = running.record("purchase_orders", 3)
        assert record is not None
        assert record["state"] == 5


class TestKnobs:
    def test_edit_and_add(self, running: Sandbox) -> None:
        before = running.record("orders", 5)
        assert before is not None
        edited = running.edit("orders", 5, description="changed")
        assert edited["description"] == "changed"
        assert edited["dateModified"] > before["dateModified"]
        assert running.record("orders", before["uuid"]) == edited
        added = running.add("vendors", name="Late Arrival")
        assert added["id"] == 26
        assert running.records("vendors")[-1]["name"] == "Late Arrival"
        running.clear("vendors")
        assert running.records("vendors") == []

    def test_edit_during_read(self, client: Client, running: Sandbox) -> None:
        running.edit_when("order_items", page=1, record_id=2, create=True)
        first = client.get("/api/v3/order-items", page_size=10).json()
        original = first["data"][1]
        assert original["id"] == 2
        second = client.get("/api/v3/order-items", page_size=10, page=3).json()
        assert paging(second)["count"] == 26
        assert second["data"][-1]["id"] == 26
        again = client.get("/api/v3/order-items", page_size=10).json()["data"][1]
        assert again["last_modified"] > original["last_modified"]
        assert again["name"].endswith("(edited)")
        # fired once only
        client.get("/api/v3/order-items", page_size=10)
        assert len(running.records("order_items")) == 26

    def test_on_page_runs_any_action(self, client: Client, running: Sandbox) -> None:
        seen: list[int] = []
        running.on_page("vendors", 2, lambda sandbox: seen.append(len(sandbox.records("vendors"))))
        client.get("/api/v3/vendors")
        assert seen == []
        client.get("/api/v3/vendors", page=2)
        assert seen == [25]


class TestReferences:
    def test_an_invitation_stores_the_records_it_cites(
        self, client: Client, running: Sandbox
    ) -> None:
        response = client.send(
            "POST",
            "/api/v3/users",
            [
                {
                    "email": "cited@example.com",
                    "home_location": 1,
                    "home_department": 2,
                    "role_id": 1,
                }
            ],
        )
        assert response.status_code == 201, response.text
        user = response.json()["data"][0]
        location = running.record("locations", 1)
        department = running.record("departments", 2)
        assert location is not None
        assert department is not None
        assert (user["location"]["id"], user["location"]["name"]) == (1, location["name"])
        assert (user["department"]["id"], user["department"]["name"]) == (2, department["name"])
        assert user["department"]["location"]["id"] == department["branch"]["id"]
        assert user["role"] == {"id": 1, "name": "Administrator", "type": 0}
        stored = running.record("users", user["id"])
        assert stored is not None
        assert stored["department"]["id"] == 2

    def test_an_invitation_by_email_alone_invents_no_names(self, client: Client) -> None:
        response = client.send("POST", "/api/v3/users", [{"email": "bare@example.com"}])
        user = response.json()["data"][0]
        assert (user["firstName"], user["lastName"], user["phone"], user["position"]) == (
            "",
            "",
            None,
            None,
        )
        assert user["department"] is None
        assert user["role"]["name"] == "Requester"

    def test_an_invitation_takes_its_location_from_locations(self, client: Client) -> None:
        response = client.send(
            "POST",
            "/api/v3/users",
            [
                {
                    "email": "where@example.com",
                    "locations": [{"id": 3, "all_departments": False, "departments": [{"id": 4}]}],
                }
            ],
        )
        user = response.json()["data"][0]
        assert (user["location"]["id"], user["department"]["id"]) == (3, 4)

    def test_unknown_ids_in_invitations_are_refused(self, client: Client, running: Sandbox) -> None:
        response = client.send(
            "POST",
            "/api/v3/users",
            [
                {"email": "fine@example.com"},
                {
                    "email": "lost@example.com",
                    "home_location": 999999,
                    "role_id": 77,
                    "locations": [{"id": 999999, "departments": [{"id": 2}, {"id": 888}]}],
                },
            ],
        )
        assert response.status_code == 400
        assert response.json() == [
            {},
            {
                "home_location": ['Invalid pk "999999" - object does not exist.'],
                "role_id": ['Invalid pk "77" - object does not exist.'],
                "locations.0.id": ['Invalid pk "999999" - object does not exist.'],
                "locations.0.departments.1.id": ['Invalid pk "888" - object does not exist.'],
            },
        ]
        assert len(running.records("users")) == 25

    @pytest.mark.parametrize(
        ("path", "body", "field"),
        [
            ("/api/v3/departments", {"branch": 99, "name": "Robotics"}, "branch"),
            ("/api/v3/account-codes", {"code": "9998", "description": "R", "parent": 99}, "parent"),
            (
                "/api/v3/catalog-items",
                {"name": "Bolt", "currency": 1, "custom_fields": [], "pref_vendor": 99},
                "pref_vendor",
            ),
            ("/api/v3/vendors", {**VENDOR, "currency": 99}, "currency"),
            ("/api/v2/ap/company-payment-methods", {"data": {}, "currency": 99}, "currency"),
            (
                "/api/v2/ap/vendor-payment-methods",
                {"data": {}, "vendor": 99, "currency": 1},
                "vendor",
            ),
        ],
    )
    def test_unknown_ids_in_creates_are_refused(
        self, client: Client, path: str, body: dict[str, Any], field: str
    ) -> None:
        response = client.send("POST", path, body)
        assert response.status_code == 400, response.text
        assert response.json() == {field: ['Invalid pk "99" - object does not exist.']}

    def test_known_ids_are_stored_as_the_records_they_cite(
        self, client: Client, running: Sandbox
    ) -> None:
        branch = running.record("locations", 3)
        assert branch is not None
        department = client.send(
            "POST", "/api/v3/departments", {"branch": 3, "name": "Robotics"}
        ).json()["data"]
        assert department["branch"]["name"] == branch["name"]
        vendor, currency = running.record("vendors", 3), running.record("currencies", 2)
        assert vendor is not None
        assert currency is not None
        item = client.send(
            "POST",
            "/api/v3/catalog-items",
            {"name": "Bolt", "currency": 2, "custom_fields": [], "pref_vendor": 3},
        ).json()["data"]
        assert (item["pref_vendor"]["id"], item["pref_vendor"]["name"]) == (3, vendor["name"])
        assert (item["currency"]["id"], item["currency"]["name"]) == (2, currency["name"])
        method = client.send(
            "POST", "/api/v2/ap/vendor-payment-methods", {"data": {}, "vendor": 3, "currency": 2}
        ).json()
        assert (method["vendor"], method["currency"]) == (3, 2)
        moved = client.send("PUT", "/api/v3/departments/2", {"branch": 4, "name": "Ops"})
        assert moved.json()["data"]["branch"]["id"] == 4
        user = client.send(
            "PUT",
            "/api/v3/users/2",
            {
                "email": "x@example.com",
                "firstName": "X",
                "lastName": "Y",
                "location": 1,
                "department": 3,
            },
        ).json()["data"]
        location = running.record("locations", 1)
        assert location is not None
        assert (user["location"]["name"], user["department"]["id"]) == (location["name"], 3)
        refused = client.send(
            "PUT",
            "/api/v3/users/2",
            {
                "email": "x@example.com",
                "firstName": "X",
                "lastName": "Y",
                "location": 1,
                "department": 999,
            },
        )
        assert refused.json() == {"department": ['Invalid pk "999" - object does not exist.']}
