"""The sandbox's writes and knobs: creates, updates, actions, field errors, edits during reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from test_sandbox_lists import Client, paging

from nexla_procurify.sandbox import Fault, Sandbox

# overall_score is required (and nullable) in Procurify's OptimizedVendorRequest.
VENDOR = {"name": "Globex Paper", "email": ["ap@globex.example"], "type": 3,
          "overall_score": None}


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
        response = client.send("POST", "/api/v3/vendors", {"email": ["not-an-email"],
                                                           "type": 99})
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
        response = client.send("POST", "/api/v3/requisitions", {
            "required_date": "2026-01-01", "location_name": "HQ", "department_name": "IT",
            "line_items": [{}]})
        assert response.status_code == 400
        assert any(key.startswith("line_items.0.") for key in response.json())

    def test_duplicate_external_id_and_code(self, client: Client, running: Sandbox) -> None:
        duplicate = client.send("POST", "/api/v3/vendors", {**VENDOR, "external_id": "V-000003"})
        assert duplicate.status_code == 400
        assert duplicate.json() == {
            "external_id": ["vendor with this external id already exists."]}
        code = running.records("account_codes")[0]["code"]
        refused = client.send("POST", "/api/v3/account-codes",
                              {"code": code, "description": "Again"})
        assert refused.json() == {"code": ["account code with this code already exists."]}
        assert running.created("vendors") == 0

    @pytest.mark.parametrize(
        ("path", "body"),
        [("/api/v3/departments", {"branch": 1, "name": "Robotics"}),
         ("/api/v3/account-codes", {"code": "9999", "description": "Robots"}),
         ("/api/v3/requisitions", {"required_date": "2026-01-01", "location_name": "HQ",
                                   "department_name": "IT", "line_items": []})],
    )
    def test_other_creates(self, client: Client, path: str, body: dict[str, Any]) -> None:
        response = client.send("POST", path, body)
        assert response.status_code == 201, response.text
        assert response.json()["data"]["id"] >= 1

    def test_commit_then_drop_stores_exactly_one(self, client: Client,
                                                 running: Sandbox) -> None:
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
        assert client.send("PUT", "/api/v3/vendors/999", VENDOR).json() == {
            "detail": "Not found."}
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
