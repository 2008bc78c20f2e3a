"""Write answers: creates, updates and patches, purchase-order actions, user invitations and
deactivation, requisitions. Bodies are checked against the contract's request schema first
(DRF-style 400 naming each field); writes change the stored records and stamp their modified
fields."""

from __future__ import annotations

__all__ = ["close", "create", "deactivate", "invite", "reopen", "requisition", "update"]

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from nexla_procurify.sandbox import drf, references
from nexla_procurify.sandbox.call import BadBody, Call, not_found
from nexla_procurify.sandbox.database import Database
from nexla_procurify.sandbox.generate import Record
from nexla_procurify.sandbox.hooks import PageHooks
from nexla_procurify.sandbox.registry import CLOSED, REOPENED
from nexla_procurify.sandbox.server import Response
from nexla_procurify.sandbox.words import salt, uuid_for

_KEYS = frozenset({"id", "uuid", "procurify_PO", "user"})
# an invitation's fields, as the user record names them
_INVITATION: Mapping[str, str] = MappingProxyType(
    {
        "email": "email",
        "first_name": "firstName",
        "last_name": "lastName",
        "phone": "phone",
        "position": "position",
    }
)


def _checked(database: Database, call: Call) -> tuple[Any, Response | None]:
    """The request body, or the 400 that refuses it."""
    try:
        body = call.body()
    except BadBody as bad:
        return None, Response(400, {"detail": str(bad)})
    schema = call.operation.request_body
    if schema is None:
        return body, None
    many = database.shaper.resolve(schema).get("type") == "array"
    errors = drf.body_errors(database.shaper.check(schema), body, many)
    if errors:
        return body, Response(400, errors)
    if database.normalise:
        body = drf.normalised(database.shaper, schema, body)
    return body, None


def _duplicate(
    database: Database, name: str, body: Mapping[str, Any], position: int | None
) -> dict[str, list[str]]:
    """400 errors when ``body`` reuses another record's unique field."""
    table = database.table(name)
    for field in database.collection(name).unique:
        value = body.get(field)
        if value is None or value == "":
            continue
        if any(found != position for found in table.find(field, value)):
            noun = name.removesuffix("s").replace("_", " ")
            return {field: [f"{noun} with this {field.replace('_', ' ')} already exists."]}
    return {}


def _store(database: Database, name: str, body: Mapping[str, Any]) -> tuple[int, Record]:
    """A new record of ``name``: generated, with the body's fields over it (call locked)."""
    table = database.table(name)
    item = database.item_schema(name)
    nullable = database.shaper.properties(item) or {}

    def build(position: int) -> Record:
        base = table.plan.record(position)
        for field in database.collection(name).unique:
            if field in base and database.shaper.check(nullable[field]).is_valid(None):
                base[field] = None  # a natural key is never made up
        merged = database.shaper.merge(base, body, item, _KEYS)
        return database.stamped(name, merged)

    position, record = table.append(build)
    table.creates += 1
    table.lag(position, database.list_lag)
    return position, record


def create(database: Database, hooks: PageHooks, call: Call) -> Response:
    """A create: the body checked as Procurify checks it, then the record added."""
    body, refused = _checked(database, call)
    if refused is not None:
        return refused
    name = call.collection
    table = database.table(name)
    body, errors = references.expand(database, name, body)
    if errors:
        return Response(400, errors)
    with table.lock:
        errors = _duplicate(database, name, body, None)
        if errors:
            return Response(400, errors)
        position, record = _store(database, name, body)
    shaped = database.shape(name, record, call.data_schema(database), position)
    return call.answer(database, 201, shaped, position)


def _change(
    database: Database,
    call: Call,
    body: Mapping[str, Any] | None,
    change: Callable[[Record], Record],
) -> Response:
    name = call.collection
    table = database.table(name)
    with table.lock:
        position = call.position(database)
        if position is None:
            return not_found()
        if body:
            errors = _duplicate(database, name, body, position)
            if errors:
                return Response(400, errors)
        record = database.stamped(name, change(table.get(position)))
        table.put(position, record)
    schema = call.data_schema(database) or database.item_schema(name)
    shaped = database.shape(name, record, schema, position)
    return call.answer(database, 200, shaped, position)


def update(database: Database, hooks: PageHooks, call: Call) -> Response:
    """PUT, PATCH and a purchase order's revision: the body's fields over the record."""
    body, refused = _checked(database, call)
    if refused is not None:
        return refused
    item = database.item_schema(call.collection)
    revise = call.operation.path.startswith("/api/v2/purchase_order/revise/")
    body, errors = references.expand(database, call.collection, body)
    if errors:
        return Response(400, errors)

    def change(current: Record) -> Record:
        record = database.shaper.merge(current, body, item, _KEYS)
        version = current.get("version")
        if revise and isinstance(version, int):
            record["version"] = version + 1
        return record

    return _change(database, call, body, change)


def close(database: Database, hooks: PageHooks, call: Call) -> Response:
    """Close a purchase order (its closed date set when it has one)."""
    return _change(
        database,
        call,
        None,
        lambda current: {
            **current,
            "state": CLOSED,
            **({"closed_date": database.now()} if "closed_date" in current else {}),
        },
    )


def reopen(database: Database, hooks: PageHooks, call: Call) -> Response:
    """Reopen a purchase order (its closed date cleared)."""
    return _change(
        database,
        call,
        None,
        lambda current: {
            **current,
            "state": REOPENED,
            **({"closed_date": None} if "closed_date" in current else {}),
        },
    )


def deactivate(database: Database, hooks: PageHooks, call: Call) -> Response:
    """DELETE /api/v3/users/{id}: the user stays, inactive (204)."""
    answered = _change(database, call, None, lambda current: {**current, "is_active": False})
    return answered if answered.status == 404 else Response(204)


def invite(database: Database, hooks: PageHooks, call: Call) -> Response:
    """POST /api/v3/users: one new user per invitation, all or none."""
    body, refused = _checked(database, call)
    if refused is not None:
        return refused
    table = database.table("users")
    data = call.data_schema(database)
    item = database.shaper.items(data) or data
    with table.lock:
        invited = [_invited(database, invitation) for invitation in body]
        users = [user for user, _ in invited]
        emails = [user["email"] for user in users]
        errors = [
            cited
            or _duplicate(database, "users", user, None)
            or (
                {"email": ["This email is invited twice."]}
                if emails.count(user["email"]) > 1
                else {}
            )
            for user, cited in invited
        ]
        if any(errors):
            return Response(400, errors)
        stored = [_store(database, "users", {**user, "is_active": True}) for user in users]
    shaped = [database.shape("users", record, item, position) for position, record in stored]
    return call.answer(database, 201, shaped)


def _invited(database: Database, invitation: Mapping[str, Any]) -> tuple[Record, references.Errors]:
    """The user an invitation makes (names empty and phone, position null when not given, as
    Procurify invents none), and the errors of the records it cites that do not exist."""
    expanded, errors = references.expand(database, "users", invitation)
    places: list[Record] = []
    departments: list[Record] = []
    for n, place in enumerate(invitation.get("locations") or ()):
        found = references.cited(database, "locations", place)
        if found is None:
            errors[f"locations.{n}.id"] = [references.invalid(place.get("id"))]
        else:
            places.append(found)
        for k, unit in enumerate(place.get("departments") or ()):
            department = references.cited(database, "departments", unit)
            if department is None:
                errors[f"locations.{n}.departments.{k}.id"] = [references.invalid(unit.get("id"))]
            else:
                departments.append(department)
    user: Record = {
        "firstName": "",
        "lastName": "",
        "phone": None,
        "position": None,
        "is_active": True,
    }
    user.update({_INVITATION[k]: v for k, v in invitation.items() if k in _INVITATION})
    user["role"] = expanded.get("role_id") or references.default_role()
    location = expanded.get("home_location") or (places[0] if places else None)
    if location is not None:
        user["location"] = location
    user["department"] = expanded.get("home_department") or (
        departments[0] if departments else None
    )
    return user, errors


def requisition(database: Database, hooks: PageHooks, call: Call) -> Response:
    """POST /api/v3/requisitions: a new order, answered with its uuid only."""
    body, refused = _checked(database, call)
    if refused is not None:
        return refused
    table = database.table("requisitions")
    with table.lock:
        key = uuid_for(database.seed, salt("requisitions"), len(table))
        table.append(lambda _position: {"uuid": key, **body})
        table.creates += 1
    database.add("orders", {"uuid": key})
    return call.answer(database, 201, {"uuid": key})
