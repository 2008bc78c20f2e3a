"""How generated records cite each other: purchase orders and orders with their line items,
bills with their items and costs.

Order items are laid out in blocks of ``SLOTS``: order item ``p`` is line ``p % SLOTS + 1`` of
order (requisition) ``p // SLOTS`` and, when it is one of the ``item_count`` lines that order's
purchase order bought, of purchase order ``p // SLOTS``. So a purchase order's detail shows the
order items that cite it (same ids, names, prices), and every link is computed from positions
alone: nothing is materialised, any size starts at once. A bill's items and costs are its
children the same way (ids ``b * SLOTS + j + 1``). Children take their parent's keys, currency,
vendor and purchaser.
"""

from __future__ import annotations

__all__ = ["fill_children", "linked"]

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nexla_procurify.sandbox.generate import Gen, Plan, Record
from nexla_procurify.sandbox.shape import MISSING
from nexla_procurify.sandbox.words import mix, salt

if TYPE_CHECKING:
    from nexla_procurify.sandbox.database import Database
    from nexla_procurify.sandbox.store import Table

SLOTS = 3
_LINES = salt("links.lines")
ORDER_ITEMS = ("order_items", "global_order_items")


def lines(seed: int, position: int) -> int:
    """How many lines record ``position`` of a parent has (1..SLOTS)."""
    return 1 + mix(seed, _LINES, position) % SLOTS


def children(parent: int, count: int) -> range:
    """The positions of a parent's ``count`` children."""
    return range(parent * SLOTS, parent * SLOTS + count)


def _ident(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def linked(database: Database, name: str, plan: Plan) -> Plan:
    """``plan`` with the fields that cite a parent or count children computed from the links."""
    seed = database.seed
    overrides: dict[str, Gen] = {}
    if name == "purchase_orders":
        overrides["item_count"] = lambda p, _h: lines(seed, p)
        overrides.update(_copied(plan, "pref_vendor", VENDOR_FIELDS))
        overrides.update(_copied(plan, "purchased_currency", {"purchased_currency_rate": "rate"}))
    elif name == "orders":
        pos = database.tables["purchase_orders"]
        overrides.update(
            {
                "num": lambda p, _h: p + 1,
                "item_count": lambda _p, _h: SLOTS,
                "lineCount": lambda _p, _h: SLOTS,
                "purchasedCount": lambda p, _h: (
                    _int(pos.value(p, "item_count")) if p < len(pos) else 0
                ),
            }
        )
    elif name in ORDER_ITEMS:
        overrides.update(_order_item_links(database, plan))
    elif name == "bills":
        overrides["items"] = lambda p, _h: [c + 1 for c in children(p, lines(seed, p))]
    elif name == "ap_items":
        overrides.update(_bill_item_links(database, plan))
    fields = tuple((key, overrides.get(key, gen)) for key, gen in plan.fields)
    return Plan(plan.name, plan.seed, fields)


# a purchase order's or bill's vendor fields, from its vendor object
VENDOR_FIELDS: Mapping[str, str] = {
    "vendor_name": "name",
    "vendor_contact": "contact",
    "vendor_addressLineOne": "addressLineOne",
    "vendor_postalCode": "postalCode",
    "vendor_city": "city",
    "vendor_state_province": "state_province",
    "vendor_country": "country",
    "vendor_address_one": "addressLineOne",
    "vendor_address_two": "addressLineTwo",
    "vendor_postal_code": "postalCode",
    "punchout_supplier_name": "name",
}


def _copied(plan: Plan, source: str, names: Mapping[str, str]) -> dict[str, Gen]:
    """Generators of fields that repeat a field of the record's ``source`` object."""
    origin = plan.by_name.get(source)
    if origin is None:
        return {}
    found: dict[str, Gen] = {}
    for name, key in names.items():
        own = plan.by_name.get(name)
        if own is not None:
            found[name] = _copy(origin, key, own)
    return found


def _copy(origin: Gen, key: str, own: Gen) -> Gen:
    def gen(p: int, h: int) -> Any:
        value = origin(p, h)
        found = value.get(key) if isinstance(value, dict) else None
        return own(p, h) if found is None else found

    return gen


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _order_item_links(database: Database, plan: Plan) -> dict[str, Gen]:
    pos: Table = database.tables["purchase_orders"]
    orders: Table = database.tables["orders"]
    own = plan.by_name

    def on_po(p: int) -> int | None:
        """The purchase order position order item ``p`` is a line of (None: not purchased)."""
        q, j = divmod(p, SLOTS)
        return q if q < len(pos) and j < _int(pos.value(q, "item_count")) else None

    def from_po(field: str, pick: Any, otherwise: Any) -> Gen:
        def gen(p: int, h: int) -> Any:
            q = on_po(p)
            if q is None:
                return otherwise(p, h)
            return pick(pos.value(q, field))

        return gen

    def generated(field: str) -> Gen:
        gen = own.get(field)
        return gen if gen is not None else (lambda _p, _h: None)

    def vendor_name(vendor: Any) -> Any:
        return vendor.get("name") if isinstance(vendor, dict) else None

    return {
        "purchase_order": from_po("procurify_PO", lambda v: v, lambda _p, _h: None),
        "PO": from_po("procurify_PO", lambda v: [v], lambda _p, _h: []),
        "PO_line_num": lambda p, _h: p % SLOTS + 1,
        "orderNum": lambda p, _h: (
            orders.value(p // SLOTS, "num") if p // SLOTS < len(orders) else None
        ),
        "currency": from_po("purchased_currency", _ident, generated("currency")),
        "pref_vendor": from_po("pref_vendor", _ident, generated("pref_vendor")),
        "purchaser": from_po("purchaser", _ident, generated("purchaser")),
        "vendor": from_po("pref_vendor", vendor_name, generated("vendor")),
    }


def _bill_item_links(database: Database, plan: Plan) -> dict[str, Gen]:
    bills: Table = database.tables["bills"]
    pos: Table = database.tables["purchase_orders"]
    props = database.shaper.properties(database.item_schema("ap_items")) or {}
    seed = database.seed
    own = plan.by_name

    def on_bill(p: int) -> int | None:
        """The bill position item ``p`` is a line of (None: on no bill)."""
        q, j = divmod(p, SLOTS)
        return q if q < len(bills) and j < lines(seed, q) else None

    def from_bill(field: str) -> Gen:
        fallback = own.get(field) or (lambda _p, _h: None)
        schema = props.get(field)

        def gen(p: int, h: int) -> Any:
            q = on_bill(p)
            generated = fallback(p, h)
            if q is None or schema is None:
                return generated
            fitted = _fit(database, bills.value(q, field), schema, generated)
            return generated if fitted is MISSING else fitted

        return gen

    def po(p: int, h: int) -> Any:
        q = on_bill(p)
        if q is None or q >= len(pos) or "po" not in own:
            return own["po"](p, h) if "po" in own else None
        return {
            "id": pos.value(q, "procurify_PO"),
            "uuid": pos.value(q, "uuid"),
            "number": pos.value(q, "number"),
        }

    return {
        "bill": lambda p, _h: None if on_bill(p) is None else p // SLOTS + 1,
        "vendor": from_bill("vendor"),
        "currency": from_bill("currency"),
        "po": po,
    }


def fill_children(
    database: Database, name: str, answer: Record, position: int, schema: Mapping[str, Any]
) -> Record:
    """A detail answer (of ``schema``) whose nested children agree with it."""
    props = database.shaper.properties(schema) or {}
    if name == "purchase_orders" and "order_items" in answer:
        answer["order_items"] = _po_lines(database, answer, position, props["order_items"])
    if name in ("bills", "purchase_orders"):
        vendor = answer.get("vendor" if name == "bills" else "pref_vendor")
        for field, key in VENDOR_FIELDS.items():
            value = vendor.get(key) if isinstance(vendor, dict) else None
            if field in answer and isinstance(value, str) and field in props:
                fitted = _fit(database, value, props[field])
                if fitted is not MISSING:
                    answer[field] = fitted
    if name == "bills":
        for field in ("items", "costs", "bill_statuses"):
            if isinstance(answer.get(field), list) and field in props:
                answer[field] = _bill_children(database, answer, position, field, props[field])
        pos = database.tables["purchase_orders"]
        if isinstance(answer.get("added_purchase_orders"), list) and position < len(pos):
            currency = answer.get("currency")
            added = {
                "id": pos.value(position, "procurify_PO"),
                "number": pos.value(position, "number"),
                "currency": currency.get("name") if isinstance(currency, dict) else None,
                "total_amount": pos.value(position, "total"),
            }
            fitted = _fit(database, [added], props["added_purchase_orders"])
            answer["added_purchase_orders"] = [] if fitted is MISSING else fitted
    return answer


def _fit(
    database: Database, value: Any, schema: Mapping[str, Any] | None, current: Any = None
) -> Any:
    """``value`` fitted to ``schema``; a parent's object that lacks fields the child's schema
    requires is laid over the child's own (``current``)."""
    if schema is None or value is None:
        return MISSING
    fitted = database.shaper.conform(value, schema)
    if fitted is MISSING and isinstance(value, dict) and isinstance(current, dict):
        fitted = database.shaper.conform(database.shaper.lay(current, value, schema), schema)
    return fitted


def _overlay(
    database: Database, child: Record, schema: Mapping[str, Any], values: Mapping[str, Any]
) -> Record:
    props = database.shaper.properties(schema) or {}
    for key, value in values.items():
        if key in child:
            fitted = _fit(database, value, props.get(key), child[key])
            if fitted is not MISSING:
                child[key] = fitted
    return child


def _po_lines(
    database: Database, po: Record, position: int, schema: Mapping[str, Any]
) -> list[Record]:
    item = database.shaper.items(schema)
    if item is None:
        return []
    count = po.get("item_count")
    count = count if isinstance(count, int) else lines(database.seed, position)
    table = database.tables["order_items"]
    orders = database.tables["orders"]
    vendor = po.get("pref_vendor")
    found: list[Record] = []
    for p in children(position, count):
        record = table.get(p) if p < len(table) else table.plan.record(p)
        child = database.shape("order_items", record, item, p)
        links: dict[str, Any] = {
            "purchase_order": po.get("procurify_PO"),
            "PO": [po.get("procurify_PO")],
            "purchase_order_uuid": po.get("uuid"),
            "purchase_order_number": po.get("number"),
            "PO_line_num": p % SLOTS + 1,
            "orderNum": position + 1,
            "currency": po.get("purchased_currency"),
            "pref_vendor": vendor,
            "vendor": vendor.get("name") if isinstance(vendor, dict) else None,
            "purchaser": po.get("purchaser"),
            "purchased_currency_rate": po.get("purchased_currency_rate"),
        }
        if position < len(orders):
            links["order_uuid"] = orders.value(position, "uuid")
        found.append(_overlay(database, child, item, links))
    return found


def _bill_children(
    database: Database, bill: Record, position: int, field: str, schema: Mapping[str, Any]
) -> list[Record]:
    item = database.shaper.items(schema)
    if item is None:
        return []
    table = database.tables["bills"]
    stored = table.value(position, "items") if field == "items" else None
    ids = (
        [i for i in stored if isinstance(i, int)]
        if isinstance(stored, list)
        else [c + 1 for c in children(position, lines(database.seed, position))]
    )
    plan = database.plan_for("bills." + field, item)
    currency = bill.get("currency")
    pos = database.tables["purchase_orders"]
    lines_table = database.tables["ap_items"]
    found: list[Record] = []
    for ident in ids:
        p = ident - 1
        if field == "items":  # the same item as the bill items list (ap/items) shows it
            record = lines_table.get(p) if p < len(lines_table) else lines_table.plan.record(p)
            child = database.shape("ap_items", record, item, p)
        else:
            child = plan.record(p)
        links: dict[str, Any] = {
            "id": ident,
            "bill": bill.get("id"),
            "currency": currency,
            "vendor": bill.get("vendor"),
        }
        if field == "items" and position < len(pos):
            links["po"] = {
                "id": pos.value(position, "procurify_PO"),
                "uuid": pos.value(position, "uuid"),
                "number": pos.value(position, "number"),
            }
        found.append(_overlay(database, child, item, links))
    return found
