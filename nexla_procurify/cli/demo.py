"""The ``demo`` command: the connector read, resumed and wrote against an in-process sandbox.
It imports the sandbox, and is itself imported only when the demo runs (the ``sandbox`` command
imports the sandbox the same way, in ``commands``)."""

from __future__ import annotations

__all__ = ["run"]

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from nexla_procurify.cli.commands import CONNECTOR, connector_host, print_validation
from nexla_procurify.cli.process import EXIT_FAILED, EXIT_OK
from nexla_procurify.credential import ALLOW_LOOPBACK_ENV
from nexla_procurify.host import Host
from nexla_procurify.http import json_body, raise_for_response
from nexla_procurify.messages import Record
from nexla_procurify.sandbox import Sandbox


def run(args: argparse.Namespace) -> int:
    """The ``demo`` command."""
    with _loopback_allowed():  # this process is the host; the sandbox is loopback
        return _run_demo()


@contextlib.contextmanager
def _loopback_allowed() -> Iterator[None]:
    previous = os.environ.get(ALLOW_LOOPBACK_ENV)
    os.environ[ALLOW_LOOPBACK_ENV] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[ALLOW_LOOPBACK_ENV]
        else:
            os.environ[ALLOW_LOOPBACK_ENV] = previous


def _run_demo() -> int:
    host = connector_host()
    with Sandbox(records={"vendors": 240, "purchase_orders": 130}) as sandbox:
        print(f"1. Started the Procurify sandbox at {sandbox.base_url}")
        credential = sandbox.credential("Demo credential")
        result = host.validate_credential(CONNECTOR, credential, live=True)
        if not result.ok:
            print_validation(result, sys.stderr)
            return EXIT_FAILED
        print("2. Credential validated live: Procurify issued a token.")
        with host.authenticate(CONNECTOR, credential) as session:
            response = session.get("/api/v3/users/me")
            raise_for_response(response, "read the API user")
            me = json_body(response, "read the API user")["data"]
            print(f"   Authenticated as {me['firstName']} {me['lastName']} <{me['email']}>.")
            vendors, _ = _demo_read(host, session, {"resource": "vendors"})
            print(f"3. Read {len(vendors)} vendors, for example:")
            for vendor in vendors[:3]:
                print(f"     #{vendor['id']:<4} {vendor['name']:<32} {vendor['external_id']}")
            config = {"resource": "purchase_orders", "role": "purchased", "status": "all"}
            orders, state = _demo_read(host, session, config)
            print(f"4. Read {len(orders)} purchase orders, for example:")
            for order in orders[:3]:
                print(f"     {_po_line(order)}")
            print(f"   Saved state for the next incremental run: {json.dumps(state)}")
            sandbox.edit("purchase_orders", 3)
            changed, _ = _demo_read(host, session, config, state)
            print(
                f"5. Someone edited PO-000003; the incremental run read {len(changed)} "
                f"purchase orders (changed ones and the boundary day) instead of {len(orders)}."
            )
            upserts = [
                {
                    "name": "Acme Office Supply",
                    "email": ["ap@acme.example"],
                    "type": 3,
                    "external_id": "DEMO-1",
                },
                {
                    "name": "Globex Furniture",
                    "email": ["billing@globex.example"],
                    "type": 4,
                    "external_id": "DEMO-2",
                },
                {**_vendor_request(vendors[0]), "name": vendors[0]["name"] + " (renamed)"},
                {"name": "No email or type", "external_id": "DEMO-3"},
            ]
            write_config = {"resource": "vendors", "operation": "upsert", "key": "external_id"}
            for round_number in (1, 2):
                outcome = [
                    r.to_dict() for r in host.write(CONNECTOR, session, write_config, upserts)
                ]
                print(f"{5 + round_number}. Upserted vendors by external_id (run {round_number}):")
                for upsert, written in zip(upserts, outcome, strict=True):
                    detail = f"id {written['id']}" if written["id"] else written.get("error", "")
                    print(f"     {upsert['external_id']:<9} {written['status']:<10} {detail}")
    print("Demo finished: the connector read, resumed and wrote against the sandbox.")
    return EXIT_OK


def _demo_read(
    host: Host, session: Any, config: dict[str, Any], state: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    records: list[dict[str, Any]] = []
    last_state: dict[str, Any] = {}
    for message in host.read(CONNECTOR, session, config, state):
        if isinstance(message, Record):
            records.append(dict(message.record))
        else:
            last_state = dict(message.value)
    return records, last_state


def _po_line(order: Mapping[str, Any]) -> str:
    """A purchase order in one line; the contract lets ``vendor_name`` be null (the vendor is
    then the preferred vendor record) and ``number`` be absent."""
    number = order.get("number") or order.get("procurify_PO") or "?"
    vendor = order.get("vendor_name") or (order.get("pref_vendor") or {}).get("name") or "?"
    currency = (order.get("purchased_currency") or {}).get("name") or ""
    return f"{number!s:<10} {vendor!s:<32} {order.get('total') or '':>12} {currency}"


def _vendor_request(vendor: Mapping[str, Any]) -> dict[str, Any]:
    return {key: vendor[key] for key in ("name", "email", "type", "external_id")}
