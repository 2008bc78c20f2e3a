"""Read answers: lists with Procurify's envelope, filters and pagination; single records;
``users/me``; a payment's approver choices."""

from __future__ import annotations

__all__ = ["approvers", "get_record", "list_records", "me"]

from typing import Any

from nexla_procurify.sandbox import listing, query
from nexla_procurify.sandbox.call import Call, not_found
from nexla_procurify.sandbox.database import Database
from nexla_procurify.sandbox.hooks import PageHooks
from nexla_procurify.sandbox.server import Response
from nexla_procurify.sandbox.words import mix


def list_records(database: Database, hooks: PageHooks, call: Call) -> Response:
    """A list answer: filtered, ordered and paginated, in the collection's envelope."""
    name = call.collection
    collection = database.collection(name)
    scope: query.Condition | None = None
    if name == "purchase_orders":
        role, status = call.args["role"], call.args["status"]
        if (role, status) != ("purchased", "all"):
            scope = query.PurchaseOrderScope(role, status)
    table = database.table(name)
    request = call.request
    try:
        selection = query.parse(collection, table.plan.field_names, request.multi, scope)
    except query.InvalidFilter as invalid:
        return Response(400, invalid.errors)
    base = f"http://{request.headers.get('host', '127.0.0.1')}{request.path}"
    extra: dict[str, Any] = {}
    _, schema = call.operation.success()
    top_level = "pagination" in (database.shaper.properties(schema or {}) or {})
    with table.lock:
        positions = table.listed(query.select(table, selection))
        paging: dict[str, Any] | None = None
        number = 1
        if not collection.paginated:
            shown = positions
        else:
            try:
                page = listing.paginate(request.query, len(positions))
            except listing.PageNotFound:
                return Response(404, {"detail": "Invalid page."})
            number = page.number
            shown = positions[page.start : page.stop]
            paging = listing.pagination(page, base, request.multi)
        records = [table.get(position) for position in shown]
        summary = listing.SUMMARIES.get(name)
        if summary is not None:
            extra = table.cached((selection, "summary"), lambda: summary(table, positions))
        if name == "purchase_orders":
            counts = table.cached("counts", lambda: listing.purchase_order_counts(table))
            extra = {
                "counts": {role: {**tally, "page": len(records)} for role, tally in counts.items()}
            }
    body = listing.list_body(
        records, paging, extra, wrapped=collection.wrapped, top_level=top_level
    )
    hooks.fire(name, number)
    return Response(200, body)


def get_record(database: Database, hooks: PageHooks, call: Call) -> Response:
    """One record by its id; 404 when there is none."""
    table = database.table(call.collection)
    with table.lock:
        position = call.position(database)
        if position is None:
            return not_found()
        record = table.get(position)
    shaped = database.shape(call.collection, record, call.data_schema(database), position)
    return call.answer(database, 200, shaped, position)


def me(database: Database, hooks: PageHooks, call: Call) -> Response:
    """The signed-in user (``/me``)."""
    return call.answer(database, 200, database.me(call.data_schema(database)))


def approvers(database: Database, hooks: PageHooks, call: Call) -> Response:
    """The users who may approve payment ``{id}`` (generated, stable per payment)."""
    table = database.table("payments")
    with table.lock:
        position = call.position(database)
        if position is None:
            return not_found()
        amount = table.value(position, "amount")
    data = call.data_schema(database)
    item = database.shaper.items(data) or data
    plan = database.plan_for("approvers", item)
    count = 1 + mix(database.seed, position) % 3
    choices = [plan.record(position * 3 + n) for n in range(count)]
    try:
        total = float(amount)
    except (TypeError, ValueError):
        total = 0.0
    return Response(
        200,
        {
            "data": choices,
            "metadata": {"summary": {"total_cost": total}, "permissions": {"can_approve": True}},
        },
    )
