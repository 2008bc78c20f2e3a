"""Plausible text for generated records: names, people, addresses, currencies, products.

Correlated fields (a city and its province, a currency's code and rate, a person's names and
email) are chosen by the record's position (or the nested value's variant), so that they agree
within one object; independent fields by the record's hash.

Over 400 lines: two hundred lines of word lists (one entry per line, as the formatter lays
them out) ahead of the functions that draw from them; moving the lists away from their only
reader would make neither easier to change.
"""

from __future__ import annotations

__all__ = ["REFERENCES", "iso", "iso_date", "mix", "rate", "salt", "text", "uuid_for"]

import hashlib
import time
import uuid
from collections.abc import Callable

Text = Callable[[int, int], str]

_MASK = (1 << 64) - 1
COMPANIES = (
    "Acme",
    "Northwind",
    "Summit",
    "Blue Ridge",
    "Pacific",
    "Evergreen",
    "Granite",
    "Harbor",
    "Maple",
    "Silverline",
    "Redwood",
    "Lakeside",
    "Prairie",
    "Atlas",
    "Cascade",
    "Golden",
)
TRADES = (
    "Office Supply",
    "Industrial",
    "Logistics",
    "Technologies",
    "Paper",
    "Lab Equipment",
    "Furniture",
    "Catering",
    "Electric",
    "Software",
    "Freight",
    "Print",
    "Safety",
    "Tools",
)
SUFFIXES = ("Inc.", "Ltd.", "LLC", "Corp.", "Co.", "Group")
FIRST = (
    "Ava",
    "Liam",
    "Noah",
    "Emma",
    "Olivia",
    "Mateo",
    "Sofia",
    "Lucas",
    "Mia",
    "Ethan",
    "Aria",
    "Leo",
    "Chloe",
    "Kai",
    "Zoe",
    "Omar",
    "Priya",
    "Hiro",
    "Nadia",
    "Jonas",
)
LAST = (
    "Smith",
    "Chen",
    "Garcia",
    "Patel",
    "Nguyen",
    "Kim",
    "Brown",
    "Singh",
    "Martin",
    "Lopez",
    "Wilson",
    "Tanaka",
    "Dubois",
    "Rossi",
    "Novak",
    "Khan",
    "Silva",
    "Murphy",
    "Berg",
    "Cohen",
)
CITIES = (
    ("Vancouver", "BC", "Canada", "V6B 1A1"),
    ("Toronto", "ON", "Canada", "M5V 2T6"),
    ("Seattle", "WA", "United States", "98101"),
    ("Austin", "TX", "United States", "73301"),
    ("Denver", "CO", "United States", "80202"),
    ("Montreal", "QC", "Canada", "H2Y 1C6"),
)
STREETS = (
    "Main Street",
    "Granville Street",
    "King Street West",
    "Pine Street",
    "Congress Ave",
    "Larimer Street",
    "Rue Saint-Paul",
    "Harbour Road",
)
DEPARTMENTS = (
    "Finance",
    "Operations",
    "Engineering",
    "Marketing",
    "Sales",
    "Facilities",
    "IT",
    "Human Resources",
    "Legal",
    "Procurement",
    "Research",
    "Customer Success",
)
PRODUCTS = (
    "Printer paper (case)",
    "Laptop stand",
    "USB-C dock",
    "Safety goggles",
    "Nitrile gloves",
    "Whiteboard markers",
    "Office chair",
    "Standing desk",
    "Coffee beans 1kg",
    "Toner cartridge",
    "Label printer",
    "Monitor 27in",
    "Network switch",
    "Shipping boxes",
    "Hand sanitizer",
)
CURRENCIES = (
    ("USD", "US Dollar", 1.0),
    ("CAD", "Canadian Dollar", 1.36),
    ("EUR", "Euro", 0.92),
    ("GBP", "Pound Sterling", 0.79),
    ("JPY", "Japanese Yen", 151.2),
    ("AUD", "Australian Dollar", 1.52),
    ("CHF", "Swiss Franc", 0.9),
    ("MXN", "Mexican Peso", 17.05),
)
PAYMENT_METHODS = ("Corporate Visa", "Operating account", "Amex", "Wire transfer", "ACH", "Cheque")
TAXES = ("GST 5%", "VAT 20%", "Sales tax 8%", "HST 13%", "Exempt")
UNITS = ("each", "box", "case", "hour", "kg")
# attachments: (mimetype, file stem, extension), chosen together by position
FILES = (
    ("application/pdf", "quote", "pdf"),
    ("image/png", "receipt", "png"),
    ("image/jpeg", "packing-slip", "jpg"),
    ("text/csv", "price-list", "csv"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "invoice", "xlsx"),
    ("application/pdf", "invoice", "pdf"),
)
NOTES = (
    "See attached quote",
    "Approved by finance",
    "Deliver to reception",
    "Standard terms apply",
    "Per annual agreement",
    "Rush order",
    "Split across two months",
    "Replaces damaged unit",
)
DISCLAIMERS = (
    "Prices include all applicable taxes unless stated otherwise.",
    "Please reference the PO number on every invoice and packing slip.",
    "Goods remain subject to inspection on receipt.",
)
CONFIRMATIONS = ("Confirmed by vendor", "Awaiting vendor confirmation", "Partially confirmed")
CUSTOM_VALUES = ("PRJ-1042", "CC-310", "NSF-2291", "AT-00017")
COLORS = ("#E53935", "#43A047", "#1E88E5", "#FDD835", "#8E24AA")
_MONEY = ("amount", "cost", "price", "total", "subtotal", "balance", "tax")
# integer fields that refer to another record (nested: ids 1..VARIANTS)
REFERENCES = frozenset(
    {
        "account",
        "account_code",
        "approver",
        "bill",
        "branch",
        "catalog_item",
        "currency",
        "department",
        "location",
        "pref_vendor",
        "purchaser",
        "requester",
        "vendor",
        "user",
        "purchase_order",
        "orderNum",
        "tax",
        "payment_method",
        "default_payment_method",
        "group",
        "home_location",
        "home_department",
        "last_changed_by",
        "parent",
    }
)
PEOPLE = (
    "user",
    "purchaser",
    "approver",
    "requester",
    "requester",
    "buyer",
    "last_export_user",
    "next_approver",
    "approval_delegatee",
    "creator",
    "owner",
    "submitter",
    "members",
    "users",
    "approvers",
    "receiver",
    "delegatee",
    "created_by",
    "updated_by",
)


def mix(*parts: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps), stable across runs and platforms."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = (h ^ (part & _MASK)) * 0xBF58476D1CE4E5B9 & _MASK
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & _MASK
        h ^= h >> 29
    return h


def salt(text: str) -> int:
    """A stable number from ``text`` (a field's or collection's name), to vary what it generates."""
    return mix(
        int.from_bytes(text.encode()[:32].ljust(32, b"\0"), "big") & _MASK,
        len(text),
        int.from_bytes(text.encode()[-16:].ljust(16, b"\0"), "big") & _MASK,
    )


def iso(timestamp: float) -> str:
    """UTC ISO-8601 with ``Z``, whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def iso_date(timestamp: float) -> str:
    """The UTC date of ``timestamp``, as ``YYYY-MM-DD``."""
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


def uuid_for(seed: int, rsalt: int, position: int) -> str:
    """A stable UUID for a record's field."""
    return str(uuid.UUID(int=mix(seed, rsalt, position) << 64 | mix(rsalt, position)))


def rate(position: int, places: int) -> str:
    """The exchange rate of the currency at ``position``, with ``places`` decimals."""
    return f"{CURRENCIES[position % len(CURRENCIES)][2]:.{places}f}"


def company(position: int) -> str:
    """Vendor ``position + 1``'s name (nested vendor references agree with the vendor list)."""
    h = mix(position, 0x5EED)
    return (
        f"{COMPANIES[h % len(COMPANIES)]} {TRADES[(h >> 8) % len(TRADES)]} "
        f"{SUFFIXES[(h >> 16) % len(SUFFIXES)]}"
    )


def first_name(position: int) -> str:
    return FIRST[position % len(FIRST)]


def last_name(position: int) -> str:
    return LAST[(position // len(FIRST) + position * 7) % len(LAST)]


def person(position: int) -> str:
    return f"{first_name(position)} {last_name(position)}"


def email(position: int) -> str:
    return (
        f"{first_name(position).lower()}.{last_name(position).lower()}{position + 1}"
        "@sandbox.example"
    )


def cycled(options: tuple[str, ...]) -> Text:
    def name(position: int, _h: int) -> str:
        base = options[position % len(options)]
        cycle = position // len(options)
        return base if cycle == 0 else f"{base} {cycle + 1}"

    return name


def _is_person(owner: str) -> bool:
    return owner in PEOPLE or owner.endswith("user") or "approver" in owner


def _namer(collection: str, parent: str) -> Text:
    owner = parent.lower()
    if "currency" in owner or (collection == "currencies" and owner == collection):
        return lambda p, _h: CURRENCIES[p % len(CURRENCIES)][0]
    if "department" in owner:
        return cycled(DEPARTMENTS)
    if owner in ("branch", "location", "locations") or "address" in owner:
        return cycled(tuple(f"{city[0]} Office" for city in CITIES))
    if "vendor" in owner:
        return lambda p, _h: company(p)
    if _is_person(owner):
        return lambda p, _h: person(p)
    if "account" in owner:
        return lambda p, _h: f"{DEPARTMENTS[p % len(DEPARTMENTS)]} expenses"
    if "payment" in owner or "creditcard" in owner:
        return cycled(PAYMENT_METHODS)
    if any(word in owner for word in ("item", "product", "catalog", "line")):
        return cycled(PRODUCTS)
    if "bundle" in owner:
        return cycled(tuple(f"{d} starter kit" for d in DEPARTMENTS))
    if "permission" in owner or "group" in owner:
        return cycled(("Requesters", "Approvers", "Purchasers", "AP clerks"))
    if "custom" in owner or "field" in owner:
        return cycled(("Project code", "Cost center", "Grant", "Asset tag"))
    if "domain" in owner:
        return lambda _p, _h: "Sandbox Inc."
    if "shipping_method" in owner or "shipping_term" in owner:
        return cycled(("Ground", "Express", "Freight", "Customer pickup"))
    if "term" in owner:
        return cycled(("Net 30", "Net 45", "Due on receipt"))
    if "tax" in owner:
        return lambda p, _h: TAXES[p % len(TAXES)]
    title = owner.replace("_", " ").strip().capitalize() or "Item"
    return cycled(tuple(f"{title} {word}" for word in ("A", "B", "C", "D")))


def text(collection: str, name: str, parent: str, fmt: str | None, fsalt: int) -> Text:
    """A generator of plausible text for field ``name`` of an object called ``parent``."""
    lower = name.lower()
    owner = (
        parent
        if parent != collection
        else {
            "vendors": "vendor",
            "users": "user",
            "departments": "department",
            "locations": "location",
            "currencies": "currency",
            "catalog_items": "item",
            "order_items": "item",
            "global_order_items": "item",
            "catalog_bundles": "bundle",
            "permission_groups": "group",
            "custom_fields": "custom_field",
            "company_payment_methods": "payment",
            "vendor_payment_methods": "payment",
            "account_codes": "account",
            "accounts": "account",
            "ap_items": "item",
        }.get(collection, collection)
    )

    def choose(options: tuple[str, ...]) -> Text:
        return lambda _p, h: options[((h ^ fsalt) * 0x2545F4914F6CDD1D & _MASK) % len(options)]

    if fmt == "email" or "email" in lower:
        return lambda p, _h: email(p)
    if fmt == "uri" or any(w in lower for w in ("url", "image", "logo", "icon", "attachment")):
        return lambda p, _h: f"https://sandbox.example/{owner}/{p + 1}"
    if "phone" in lower or lower in ("fax", "mobile"):
        return lambda p, _h: f"+1-604-555-{p % 10000:04d}"
    if "city" in lower:
        return lambda p, _h: CITIES[p % len(CITIES)][0]
    if "state_province" in lower or lower == "province":
        return lambda p, _h: CITIES[p % len(CITIES)][1]
    if "country" in lower:
        return lambda p, _h: CITIES[p % len(CITIES)][2]
    if "postalcode" in lower or "postal_code" in lower:
        return lambda p, _h: CITIES[p % len(CITIES)][3]
    if "addresslineone" in lower or "address_one" in lower:
        return lambda p, h: f"{100 + h % 9900} {STREETS[p % len(STREETS)]}"
    if "addresslinetwo" in lower or "address_two" in lower:
        return lambda p, _h: f"Suite {100 + p % 900}"
    if lower in ("firstname", "first_name"):
        return lambda p, _h: first_name(p)
    if lower in ("lastname", "last_name"):
        return lambda p, _h: last_name(p)
    if lower in ("code", "gl_code", "accountcode") or lower.endswith("_code"):
        return lambda p, _h: f"{4000 + p}"
    if lower == "codename":
        return lambda p, _h: f"can_manage_{('orders', 'bills', 'vendors', 'users')[p % 4]}_{p + 1}"
    if lower in ("external_id", "invoice_uuid"):
        prefix = owner[:1].upper() or "X"
        return lambda p, _h: f"{prefix}-{p + 1:06d}"
    if lower in ("sku", "internalsku"):
        return lambda p, _h: f"SKU-{p + 1:06d}"
    if lower in ("number", "po_num", "invoice_number", "num"):
        prefix = (
            "PO"
            if "purchase" in collection or "po" in owner.lower() or ("purchase" in owner.lower())
            else owner[:2].upper()
        )
        return lambda p, _h: f"{prefix}-{p + 1:06d}"
    if lower in ("unit", "unittype"):
        return choose(UNITS)
    if lower in ("subdomain",):
        return lambda _p, _h: "sandbox"
    if lower.endswith("name") and lower != "name":
        if any(w in lower for w in ("vendor", "supplier", "company")):
            return lambda p, _h: company(p)
        if any(w in lower for w in ("method", "payment", "creditcard")):
            return cycled(PAYMENT_METHODS)
        if "tax" in lower:
            return lambda p, _h: TAXES[p % len(TAXES)]
        if any(w in lower for w in ("location", "branch")):
            return cycled(tuple(f"{city[0]} Office" for city in CITIES))
        if "department" in lower:
            return cycled(DEPARTMENTS)
        return lambda p, _h: person(p)
    if lower == "name":
        return _namer(collection, owner)
    if lower == "description" and "currenc" in owner:
        return lambda p, _h: CURRENCIES[p % len(CURRENCIES)][1]
    if lower in ("description", "linecomment", "comment", "comments", "note", "po_note"):
        return lambda p, _h: f"{PRODUCTS[p % len(PRODUCTS)]} for {DEPARTMENTS[p % 12]}"
    if "contact" in lower or lower in ("position",):
        return lambda p, _h: (
            person(p) if "contact" in lower else ("Buyer", "Controller", "Manager")[p % 3]
        )
    if "terms" in lower or lower.endswith("_term"):
        return choose(("Net 30", "Net 45", "Due on receipt"))
    return _common(lower, fsalt) or choose(NOTES)


def _common(lower: str, fsalt: int) -> Text | None:
    """Realistic text for common field names (None: no rule for ``lower``)."""

    def choose(options: tuple[str, ...]) -> Text:
        return lambda _p, h: options[((h ^ fsalt) * 0x2545F4914F6CDD1D & _MASK) % len(options)]

    def hexed(p: int) -> str:
        return hashlib.sha1(f"{fsalt}:{p}".encode(), usedforsecurity=False).hexdigest()

    if lower == "mimetype" or lower.endswith("content_type"):
        return lambda p, _h: FILES[p % len(FILES)][0]
    if lower in ("file", "filename", "file_name", "path"):
        return lambda p, _h: (
            f"attachments/{FILES[p % len(FILES)][1]}-{p + 1:05d}.{FILES[p % len(FILES)][2]}"
        )
    if "hash" in lower or lower in ("checksum", "sha1"):
        return lambda p, _h: hexed(p)
    if lower == "slack_user_id":
        return lambda p, _h: "U" + hexed(p)[:10].upper()
    if lower == "ip_address":
        return lambda p, _h: f"203.0.113.{p % 254 + 1}"
    if lower == "address":
        return lambda p, h: (
            f"{100 + h % 9900} {STREETS[p % len(STREETS)]}, {CITIES[p % len(CITIES)][0]}"
        )
    if lower in ("purchase_order_number", "po_number"):
        return lambda p, _h: f"PO-{p + 1:06d}"
    if lower in ("reference_number", "reference", "confirmation_number"):
        return lambda p, _h: f"REF-{p + 1:06d}"
    if lower in ("vendor", "merchant", "supplier", "vendor_name", "supplier_name"):
        return lambda p, _h: company(p)
    if lower in (
        "requester",
        "next_approver",
        "changed_by",
        "approver",
        "created_by",
        "updated_by",
        "user",
        "buyer",
    ):
        return lambda p, _h: person(p)
    if "disclaimer" in lower:
        return lambda p, _h: DISCLAIMERS[p % len(DISCLAIMERS)]
    if "confirmation" in lower:
        return choose(CONFIRMATIONS)
    if lower.endswith(("description", "comment", "notes", "note", "memo")):
        return lambda p, _h: f"{PRODUCTS[p % len(PRODUCTS)]} for {DEPARTMENTS[p % 12]}"
    if lower in ("field_label", "label"):
        return cycled(("Project code", "Cost center", "Grant", "Asset tag"))
    if lower in ("value", "default_value"):
        return lambda p, _h: CUSTOM_VALUES[p % len(CUSTOM_VALUES)]
    if lower in ("field_choice", "choice", "option"):
        return choose(("Capital", "Operating", "Grant-funded", "Internal"))
    if "currency" in lower:
        return lambda p, _h: CURRENCIES[p % len(CURRENCIES)][0]
    if "shipping_method" in lower:
        return choose(("Ground", "Express", "Freight", "Customer pickup"))
    if lower == "po_pdf_labels":
        return choose(("Vendor number", "Account number", "Tax ID"))
    if lower in ("fields_cache", "data", "metadata", "settings"):
        return lambda _p, _h: "{}"
    if lower == "color":
        return choose(COLORS)
    if lower == "symbol":
        return choose(("flag", "star", "alert"))
    if lower == "type":
        return choose(("goods", "service"))
    if "score" in lower:
        return lambda _p, h: f"{((h ^ fsalt) * 0x2545F4914F6CDD1D & _MASK) % 100000 / 1000:.3f}"
    if any(word in lower for word in _MONEY):
        return lambda _p, h: f"{((h ^ fsalt) * 0x2545F4914F6CDD1D & _MASK) % 5000000 / 100:.2f}"
    return None
