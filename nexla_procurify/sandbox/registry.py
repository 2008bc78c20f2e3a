"""What the sandbox knows of Procurify's behaviour beyond the contract: which operations serve
which collection of records, how records are keyed, which query parameters filter on which
field, and what a write stamps as modified.

The contract says what each operation takes and answers; it does not say that
``GET /api/v3/vendors/{id}`` and ``PUT /api/v3/vendors/{id}`` address the same records, nor that
``modified_date_0`` filters purchase orders on ``last_modified``. That is this table.
"""

from __future__ import annotations

__all__ = [
    "COLLECTIONS",
    "DEFAULT_ROLE",
    "DOMAIN",
    "ID_FIELDS",
    "ME_EMAIL",
    "ME_NAMES",
    "OPEN_STATES",
    "PATH_FIELDS",
    "REFERENCES",
    "ROLES",
    "STATUS_STATES",
    "Action",
    "Collection",
    "Granularity",
    "routes",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Action = Literal[
    "list",
    "get",
    "create",
    "update",
    "patch",
    "close",
    "reopen",
    "revise",
    "deactivate",
    "invite",
    "requisition",
    "approvers",
    "me",
    "token",
]
Granularity = Literal["date", "date-time"]


@dataclass(frozen=True)
class Collection:
    """How the sandbox serves one resource: its list operation, key, envelope and fields."""

    name: str
    list_op: str | None  # the contract operation listing it ("GET /api/v3/vendors")
    key: str = "id"  # the field path parameters and lookups address
    wrapped: bool = False  # list items are {"data": [record], "metadata": {}} (locations)
    paginated: bool = True
    filters: Mapping[str, str] = field(default_factory=dict)  # param -> field, when renamed
    ranges: Mapping[str, tuple[str, Granularity]] = field(default_factory=dict)  # base -> ...
    unique: tuple[str, ...] = ()  # fields two records may not share (400 on a duplicate)


_MODIFIED = "modified_date"
COLLECTIONS: Mapping[str, Collection] = MappingProxyType(
    {
        c.name: c
        for c in (
            Collection("vendors", "GET /api/v3/vendors", unique=("external_id",)),
            Collection("users", "GET /api/v3/users", unique=("email",)),
            Collection(
                "departments",
                "GET /api/v3/departments",
                filters={"locations": "branch"},
                unique=("external_id",),
            ),
            Collection("locations", "GET /api/v2/locations", wrapped=True, unique=("external_id",)),
            Collection("account_codes", "GET /api/v3/account-codes", unique=("code",)),
            Collection("accounts", "GET /api/v3/accounts"),
            Collection("currencies", "GET /api/v2/currencies"),
            Collection("catalog_items", "GET /api/v3/catalog-items"),
            Collection("catalog_bundles", "GET /api/v3/catalog-bundles"),
            Collection(
                "custom_fields",
                "GET /api/v3/custom-fields/order-items",
                filters={"meta__is_active": "is_active"},
            ),
            Collection("permissions", "GET /api/v3/permissions"),
            Collection("permission_groups", "GET /api/v3/permissions/groups"),
            Collection(
                "order_items",
                "GET /api/v3/order-items",
                ranges={"last_modified": ("last_modified", "date")},
            ),
            Collection(
                "global_order_items",
                "GET /api/v2/global/order_items",
                ranges={"last_modified": ("last_modified", "date")},
            ),
            Collection(
                "orders",
                "GET /api/v2/global/orders",
                key="uuid",
                ranges={
                    _MODIFIED: ("dateModified", "date"),
                    "date": ("date", "date"),
                    "required_date": ("dateRequired", "date"),
                },
            ),
            Collection(
                "purchase_orders",
                "GET /api/v2/purchase_orders/{role}/{status}",
                key="uuid",
                ranges={_MODIFIED: ("last_modified", "date"), "date": ("date", "date")},
            ),
            Collection(
                "bills",
                "GET /api/v3/ap/bills",
                ranges={
                    "last_modified_datetime": ("last_modified_datetime", "date-time"),
                    _MODIFIED: ("last_modified_datetime", "date"),
                },
            ),
            Collection("ap_items", "GET /api/v2/ap/items"),
            Collection(
                "payments",
                "GET /api/v2/ap/payments",
                filters={"payment_method__type": "payment_method_type"},
            ),
            Collection("company_payment_methods", "GET /api/v2/ap/company-payment-methods"),
            Collection("vendor_payment_methods", "GET /api/v2/ap/vendor-payment-methods"),
            Collection(
                "purchase_order_billing_history",
                "GET /api/v3/purchase-orders/billing-history",
                paginated=False,
            ),
            Collection("requisitions", None, key="uuid"),
            Collection("me", None),
        )
    }
)

# every other contract operation: (collection, action); lists come from ``list_op`` above
ROUTES: Mapping[str, tuple[str, Action]] = MappingProxyType(
    {
        "POST /oauth/token": ("me", "token"),
        "GET /api/v3/users/me": ("me", "me"),
        "GET /api/v3/vendors/{id}": ("vendors", "get"),
        "POST /api/v3/vendors": ("vendors", "create"),
        "PUT /api/v3/vendors/{id}": ("vendors", "update"),
        "PATCH /api/v3/vendors/{id}": ("vendors", "patch"),
        "POST /api/v3/users": ("users", "invite"),
        "PUT /api/v3/users/{id}": ("users", "update"),
        "DELETE /api/v3/users/{id}": ("users", "deactivate"),
        "POST /api/v3/departments": ("departments", "create"),
        "PUT /api/v3/departments/{id}": ("departments", "update"),
        "POST /api/v2/locations": ("locations", "create"),
        "GET /api/v2/locations/{id}": ("locations", "get"),
        "POST /api/v3/account-codes": ("account_codes", "create"),
        "PUT /api/v3/account-codes/{id}": ("account_codes", "update"),
        "POST /api/v3/catalog-items": ("catalog_items", "create"),
        "PUT /api/v3/catalog-items/{id}": ("catalog_items", "update"),
        "PUT /api/v3/custom-fields/{id}": ("custom_fields", "update"),
        "POST /api/v2/ap/company-payment-methods": ("company_payment_methods", "create"),
        "POST /api/v2/ap/vendor-payment-methods": ("vendor_payment_methods", "create"),
        "GET /api/v2/ap/bills/{id}": ("bills", "get"),
        "GET /api/v2/ap/payments/{id}/approver-choices": ("payments", "approvers"),
        "GET /api/v2/purchase_orders/{id}": ("purchase_orders", "get"),
        "PUT /api/v3/purchase-orders/{procurify_PO}": ("purchase_orders", "update"),
        "PUT /api/v2/purchase_order/revise/{procurify_PO}": ("purchase_orders", "revise"),
        "POST /api/v3/purchase-orders/{procurify_PO}/close": ("purchase_orders", "close"),
        "POST /api/v3/purchase-orders/{procurify_PO}/reopen": ("purchase_orders", "reopen"),
        "POST /api/v3/requisitions": ("requisitions", "requisition"),
    }
)
# path parameters that address a record by another field than the collection's key
PATH_FIELDS: Mapping[str, str] = MappingProxyType({"procurify_PO": "procurify_PO"})
# what an ``{id}`` path parameter may be, in the order tried: a purchase order's is "Procurify PO
# or UUID" (the SDK's words for /api/v2/purchase_orders/{id})
ID_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"purchase_orders": ("procurify_PO", "uuid")}
)

# purchase-order state codes (PurchaseOrderStateEnum)
PURCHASED, CANCELLED, CLOSED, PAID, REOPENED = 0, 1, 3, 4, 5
OPEN_STATES = frozenset({PURCHASED, REOPENED})
# what ``/api/v2/purchase_orders/{role}/{status}`` lists, per status
STATUS_STATES: Mapping[str, frozenset[int] | None] = MappingProxyType(
    {
        "all": None,
        "open": OPEN_STATES,
        "partial": OPEN_STATES,
        "closed": frozenset({CLOSED}),
        "paid": frozenset({PAID}),
        "cancelled": frozenset({CANCELLED}),
    }
)
# ids a write body may give for another record: body field -> the collection it cites ("roles":
# the fixed set below). An unknown id is a 400 naming the field; a known one is stored as the
# record (as the answer schema shows it).
REFERENCES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "users": {
            "home_location": "locations",
            "home_department": "departments",
            "role_id": "roles",
            "location": "locations",
            "department": "departments",
        },
        "departments": {"branch": "locations"},
        "catalog_items": {
            "pref_vendor": "vendors",
            "currency": "currencies",
            "account_code": "account_codes",
            "departments": "departments",
        },
        "account_codes": {"parent": "account_codes", "departments": "departments"},
        "vendors": {"currency": "currencies"},
        "company_payment_methods": {"currency": "currencies"},
        "vendor_payment_methods": {"vendor": "vendors", "currency": "currencies"},
    }
)
# user roles (a user's ``role``: {id, name, type}); an invitation without ``role_id`` gets the
# requester's
ROLES: tuple[tuple[int, str, int], ...] = (
    (1, "Administrator", 0),
    (2, "Approver", 1),
    (3, "Purchaser", 2),
    (4, "Requester", 3),
    (5, "Accounts payable", 4),
)
DEFAULT_ROLE = 4
# the identity the sandbox's token speaks for (its users/me and the token's scope)
ME_EMAIL = "sandy.box@sandbox.example"
ME_NAMES = ("Sandy", "Box")
DOMAIN = "sandbox"


def routes() -> dict[str, tuple[str, Action]]:
    """Every served operation name -> (collection, action)."""
    found: dict[str, tuple[str, Action]] = dict(ROUTES)
    for collection in COLLECTIONS.values():
        if collection.list_op is not None:
            found[collection.list_op] = (collection.name, "list")
    return found
