"""The sandbox's behaviour beyond the shapes of its answers: routing, query and body checks as
Procurify makes them, what writes do, and realistic, consistent data."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests
from sandbox.client import Client, credentials, valid_body

import nexla_procurify.sandbox as sandbox_package
from nexla_procurify.sandbox import Sandbox
from nexla_procurify.sandbox.contract import Operation, contract
from nexla_procurify.sandbox.server import QuietServer


@pytest.fixture
def fresh(allow_loopback: None) -> Iterator[Client]:
    with Sandbox(records=25, seed=0) as sandbox:
        yield Client(sandbox)


def operation(method: str, template: str) -> Operation:
    return contract().operation(method, template)


class TestRouting:
    def test_unknown_path_and_other_method(self, fresh: Client) -> None:
        missing = fresh.call("GET", "/api/v3/nothing-here")
        assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})
        other = fresh.call("DELETE", "/api/v3/vendors")
        assert other.status_code == 405
        assert other.json() == {"detail": 'Method "DELETE" not allowed.'}
        assert fresh.call("GET", "/oauth/token").status_code == 405

    def test_both_token_paths_and_the_legacy_knob(self, fresh: Client) -> None:
        assert "access_token" in fresh.token("/api/v3/oauth/token")
        assert "access_token" in fresh.token("/oauth/token")
        with Sandbox(legacy_token_path_only=True) as legacy:
            refused = requests.post(
                legacy.base_url + "/api/v3/oauth/token", timeout=10, json=credentials(legacy)
            )
            assert refused.status_code == 404

    def test_path_parameters_out_of_their_choices(self, fresh: Client) -> None:
        assert fresh.call("GET", "/api/v2/purchase_orders/purchased/lost").status_code == 404
        assert fresh.call("GET", "/api/v3/vendors/abc").status_code == 404
        assert fresh.call("GET", "/api/v3/vendors/999").json() == {"detail": "Not found."}


class TestQuery:
    def test_wrongly_typed_and_undocumented_parameters(self, fresh: Client) -> None:
        typed = fresh.call("GET", "/api/v3/vendors", type="three")
        assert typed.status_code == 400
        assert list(typed.json()) == ["type"]
        undocumented = fresh.call("GET", "/api/v3/currencies")
        assert undocumented.status_code == 404  # v3 has no currencies
        twice = fresh.call("GET", "/api/v3/vendors", search=["a", "b"])
        assert twice.json() == {"search": ["Only one value is allowed."]}

    def test_repeated_list_parameter(self, fresh: Client) -> None:
        everything = fresh.call("GET", "/api/v3/departments", page_size=100).json()["data"]
        wanted = [d["id"] for d in everything if d["branch"]["id"] in (1, 2)]
        assert len(wanted) >= 2
        found = fresh.call("GET", "/api/v3/departments", locations=[1, 2], page_size=100)
        assert [d["id"] for d in found.json()["data"]] == wanted
        assert (
            "locations=1&locations=2"
            in fresh.call("GET", "/api/v3/departments", locations=[1, 2], page_size=1).json()[
                "metadata"
            ]["pagination"]["next"]
        )
        bad = fresh.call("GET", "/api/v3/departments", locations=["x"])
        assert bad.status_code == 400
        assert list(bad.json()) == ["locations"]


class TestBodies:
    def test_field_errors_name_each_field(self, fresh: Client) -> None:
        response = fresh.call(
            "POST", "/api/v3/vendors", {"name": "x" * 151, "email": ["ap@acme.example"], "type": 3}
        )
        assert response.status_code == 400
        assert response.json() == {
            "name": ["Ensure this field has no more than 150 characters."],
            "overall_score": ["This field is required."],
        }

    def test_nested_field_errors(self, fresh: Client) -> None:
        body = valid_body(operation("POST", "/api/v3/requisitions"))
        body["line_items"] = [{**body["line_items"][0], "quantity": "1.123456"}]
        response = fresh.call("POST", "/api/v3/requisitions", body)
        assert response.status_code == 400
        assert list(response.json()) == ["line_items.0.quantity"]

    def test_invitations_are_a_list(self, fresh: Client) -> None:
        one = fresh.call("POST", "/api/v3/users", {"email": "one@example.com"})
        assert one.json() == {"non_field_errors": ['Expected a list of items but got type "dict".']}
        bad = fresh.call(
            "POST", "/api/v3/users", [{"email": "ok@example.com"}, {"email": "not-an-email"}]
        )
        assert bad.status_code == 400
        assert bad.json() == [{}, {"email": ["Enter a valid email address."]}]
        assert len(fresh.sandbox.records("users")) == 25


class TestWrites:
    def test_invitations_create_users(self, fresh: Client) -> None:
        response = fresh.call(
            "POST",
            "/api/v3/users",
            [
                {
                    "email": "ada@example.com",
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "home_location": 2,
                },
                {"email": "alan@example.com", "first_name": "Alan"},
            ],
        )
        assert response.status_code == 201
        body = response.json()
        assert body["metadata"] == {}
        assert [(u["id"], u["email"], u["firstName"]) for u in body["data"]] == [
            (26, "ada@example.com", "Ada"),
            (27, "alan@example.com", "Alan"),
        ]
        assert body["data"][0]["location"]["id"] == 2
        listed = fresh.call("GET", "/api/v3/users", search="ada@example", page_size=100)
        assert [u["id"] for u in listed.json()["data"]] == [26]
        again = fresh.call("POST", "/api/v3/users", [{"email": "ada@example.com"}])
        assert again.json() == [{"email": ["user with this email already exists."]}]

    def test_requisition_answers_its_uuid(self, fresh: Client) -> None:
        response = fresh.call(
            "POST", "/api/v3/requisitions", valid_body(operation("POST", "/api/v3/requisitions"))
        )
        assert response.status_code == 201
        body = response.json()
        assert set(body) == {"data", "metadata"}
        assert set(body["data"]) == {"uuid"}
        assert fresh.sandbox.created("requisitions") == 1
        assert fresh.sandbox.record("orders", body["data"]["uuid"]) is not None

    def test_created_record_has_a_single_get(self, fresh: Client) -> None:
        body = {
            **valid_body(operation("POST", "/api/v3/vendors")),
            "name": "Initech",
            "external_id": "INI-1",
        }
        created = fresh.call("POST", "/api/v3/vendors", body).json()["data"]
        found = fresh.call("GET", f"/api/v3/vendors/{created['id']}").json()["data"]
        assert (found["id"], found["name"], found["external_id"]) == (26, "Initech", "INI-1")

    def test_delete_deactivates_a_user(self, fresh: Client) -> None:
        response = fresh.call("DELETE", "/api/v3/users/3")
        assert (response.status_code, response.content) == (204, b"")
        record = fresh.sandbox.record("users", 3)
        assert record is not None
        assert record["is_active"] is False
        inactive = fresh.call("GET", "/api/v3/users", is_active="false", page_size=100).json()
        assert 3 in [u["id"] for u in inactive["data"]]
        assert fresh.call("DELETE", "/api/v3/users/999").status_code == 404

    def test_revise_changes_the_purchase_order(self, fresh: Client) -> None:
        before = fresh.sandbox.record("purchase_orders", 3)
        assert before is not None
        body = {
            **valid_body(operation("PUT", "/api/v2/purchase_order/revise/{procurify_PO}")),
            "comment": "Revised: net 45",
        }
        response = fresh.call("PUT", "/api/v2/purchase_order/revise/3", body)
        assert response.status_code == 200
        assert response.json()["data"]["comment"] == "Revised: net 45"
        after = fresh.sandbox.record("purchase_orders", 3)
        assert after is not None
        assert after["version"] == before["version"] + 1
        assert after["last_modified"] > before["last_modified"]
        detail = fresh.call("GET", "/api/v2/purchase_orders/3").json()["data"]
        assert detail["comment"] == "Revised: net 45"
        assert detail["uuid"] == before["uuid"]

    def test_paid_purchase_orders(self, fresh: Client) -> None:
        fresh.sandbox.edit("purchase_orders", 2, state=4)
        paid = fresh.call("GET", "/api/v2/purchase_orders/purchased/paid", page_size=100)
        edited = fresh.sandbox.record("purchase_orders", 2)
        assert edited is not None
        assert edited["uuid"] in [r["uuid"] for r in paid.json()["data"]]
        assert {r["state"] for r in paid.json()["data"]} == {4}


class TestData:
    def test_nested_values_are_realistic(self, fresh: Client) -> None:
        vendor = fresh.call("GET", "/api/v3/vendors/1").json()["data"]
        assert vendor["payment_methods"]
        assert "currency" in vendor["payment_methods"][0]
        po = fresh.call("GET", "/api/v2/purchase_orders/1").json()["data"]
        assert po["order_items"]
        assert po["purchaser"]["email"].endswith("@sandbox.example")
        assert po["buyer_address"]["city"]
        assert po["purchased_currency"]["name"]
        bill = fresh.call("GET", "/api/v2/ap/bills/1").json()["data"]
        assert bill["items"]
        assert bill["vendor"]["name"]
        currencies = fresh.call("GET", "/api/v2/currencies", page_size=100).json()["data"]
        assert (currencies[0]["name"], currencies[0]["rate"]) == ("USD", "1.000000")
        approvers = fresh.call("GET", "/api/v2/ap/payments/1/approver-choices").json()["data"]
        assert approvers
        assert "@" in approvers[0]["user"]["email"]
        me = fresh.call("GET", "/api/v3/users/me").json()["data"]
        assert me["email"] == "sandy.box@sandbox.example"
        assert me["role"] is None or isinstance(me["role"], int)

    def test_nested_references_agree_with_the_records_they_cite(self, fresh: Client) -> None:
        vendors = {v["id"]: v for v in fresh.sandbox.records("vendors")}
        users = {u["id"]: u for u in fresh.sandbox.records("users")}
        for bill in fresh.sandbox.records("bills"):
            assert bill["vendor"]["name"] == vendors[bill["vendor"]["id"]]["name"]
        for po in fresh.sandbox.records("purchase_orders"):
            purchaser = users[po["purchaser"]["id"]]
            assert (po["purchaser"]["firstName"], po["purchaser"]["email"]) == (
                purchaser["firstName"],
                purchaser["email"],
            )
        # detail answers: children carry their parent's keys, count, currency and vendor
        items = {i["id"]: i for i in fresh.sandbox.records("order_items")}
        orders = {o["num"] for o in fresh.sandbox.records("orders")}
        lines: dict[int, list[int]] = {}
        for summary in fresh.sandbox.records("purchase_orders"):
            po = fresh.call("GET", f"/api/v2/purchase_orders/{summary['uuid']}").json()["data"]
            assert po["item_count"] == len(po["order_items"]) >= 1
            assert (po["vendor_name"], po["purchased_currency_rate"]) == (
                po["pref_vendor"]["name"],
                po["purchased_currency"]["rate"],
            )
            lines[po["procurify_PO"]] = [line["id"] for line in po["order_items"]]
            for number, line in enumerate(po["order_items"], 1):
                assert (
                    line["purchase_order"],
                    line["purchase_order_uuid"],
                    line["purchase_order_number"],
                    line["PO"],
                    line["PO_line_num"],
                ) == (po["procurify_PO"], po["uuid"], po["number"], [po["procurify_PO"]], number)
                assert line["currency"] == {
                    k: v for k, v in po["purchased_currency"].items() if k in line["currency"]
                }
                assert line["pref_vendor"]["id"] == po["pref_vendor"]["id"]
                assert line["vendor"] == po["pref_vendor"]["name"]
                assert line["purchaser"]["id"] == po["purchaser"]["id"]
                listed = items.get(line["id"])
                if listed is not None:  # the same order item, as the order-items list shows it
                    assert (listed["name"], listed["purchase_order"], listed["currency"]) == (
                        line["name"],
                        po["procurify_PO"],
                        po["purchased_currency"]["id"],
                    )
        for item in items.values():
            if item["purchase_order"] is not None:
                assert item["id"] in lines[item["purchase_order"]]
            assert item["orderNum"] is None or item["orderNum"] in orders
        bill_lines = {i["id"]: i for i in fresh.sandbox.records("ap_items")}
        bills = {b["id"]: b for b in fresh.sandbox.records("bills")}
        for summary in bills.values():
            bill = fresh.call("GET", f"/api/v2/ap/bills/{summary['id']}").json()["data"]
            assert [i["id"] for i in bill["items"]] == summary["items"]
            assert bill["vendor_name"] == bill["vendor"]["name"]
            for added in bill["added_purchase_orders"]:
                assert added["number"] == f"PO-{added['id']:06d}"
            for line in bill["items"]:
                assert (line["bill"], line["vendor"]["id"], line["currency"]["id"]) == (
                    bill["id"],
                    bill["vendor"]["id"],
                    bill["currency"]["id"],
                )
                listed_line = bill_lines.get(line["id"])
                if listed_line is not None:  # the same item, as the ap/items list shows it
                    assert (listed_line["description"], listed_line["bill"]) == (
                        line["description"],
                        bill["id"],
                    )
            for cost in bill["costs"]:
                assert (cost["bill"], cost["currency"]) == (bill["id"], bill["currency"]["id"])
            assert {s["bill"] for s in bill["bill_statuses"]} <= {bill["id"]}
        for line in bill_lines.values():
            if line["bill"] is not None:
                assert line["id"] in bills[line["bill"]]["items"]
                assert line["vendor"]["id"] == bills[line["bill"]]["vendor"]["id"]

    def test_orders_and_purchase_orders_are_keyed_by_uuid(self, fresh: Client) -> None:
        for name in ("orders", "purchase_orders"):
            records = fresh.sandbox.records(name)
            assert "id" not in records[0]
            assert len({r["uuid"] for r in records}) == 25

    def test_a_purchase_order_detail_by_po_number_or_uuid(self, fresh: Client) -> None:
        # the SDK documents the {id} of /api/v2/purchase_orders/{id} as "Procurify PO or UUID"
        record = fresh.sandbox.records("purchase_orders")[6]
        by_number = fresh.call("GET", f"/api/v2/purchase_orders/{record['procurify_PO']}")
        by_uuid = fresh.call("GET", f"/api/v2/purchase_orders/{record['uuid']}")
        assert by_number.status_code == by_uuid.status_code == 200
        assert by_number.json() == by_uuid.json()
        assert fresh.call("GET", "/api/v2/purchase_orders/no-such-po").status_code == 404

    def test_the_sandbox_imports_nothing_of_the_connector(self) -> None:
        folder = Path(sandbox_package.__file__).parent
        for source in folder.glob("*.py"):
            for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                for name in names:
                    assert not name.startswith("nexla_procurify") or name.startswith(
                        "nexla_procurify.sandbox"
                    ), (source.name, name)


class TestRobustness:
    def test_a_credential_that_is_not_ascii(self, allow_loopback: None) -> None:
        with Sandbox(client_id="clïent", client_secret="pässwörd™Ω12") as unusual:
            url = unusual.base_url + "/oauth/token"
            good = requests.post(url, timeout=10, json=credentials(unusual))
            assert good.status_code == 200
            wrong = {**credentials(unusual), "client_secret": "pässwörd™Ω13"}
            assert requests.post(url, timeout=10, json=wrong).status_code == 401

    @pytest.mark.parametrize("dropped", [ConnectionResetError, BrokenPipeError])
    def test_a_dropped_connection_is_not_reported(
        self, dropped: type[OSError], capsys: pytest.CaptureFixture[str]
    ) -> None:
        server = QuietServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        try:
            try:
                raise dropped("the client went away")
            except OSError:
                server.handle_error(None, ("127.0.0.1", 1))
            assert capsys.readouterr().err == ""
            try:
                raise ValueError("a fault of the sandbox")
            except ValueError:
                server.handle_error(None, ("127.0.0.1", 1))
            assert "ValueError: a fault of the sandbox" in capsys.readouterr().err
        finally:
            server.server_close()
