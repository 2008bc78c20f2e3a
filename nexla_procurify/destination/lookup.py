"""Finding a Procurify record by its key, and telling whether a found record is ours.

``find`` reads every page of ``GET <list>?<filter>=<value>`` (at most ``MAX_LOOKUP_PAGES``) and
filters the answer again, so that an ignored filter never makes every record a match.
``as_sent`` compares through Procurify's normalisation (``stored.same``), so that a record we
created is recognised as ours.
"""

from __future__ import annotations

__all__ = ["LOOKUP_PAGE_SIZE", "MAX_LOOKUP_PAGES", "as_sent", "find"]

from collections.abc import Mapping
from typing import Any

from nexla_procurify.destination.attempt import Attempt
from nexla_procurify.destination.prepare import Plan, Prepared
from nexla_procurify.envelope import pagination_value
from nexla_procurify.errors import ProcurifyError
from nexla_procurify.http import raise_for_response
from nexla_procurify.stored import same

LOOKUP_PAGE_SIZE = 50
# A key lookup reads at most this many pages; more means the filter matched far too much.
MAX_LOOKUP_PAGES = 20


def find(attempt: Attempt, plan: Plan, value: str | int) -> list[Mapping[str, Any]]:
    """The records whose lookup field equals ``value`` (``GET <list>?<filter>=<value>``),
    from every page of the answer (at most ``MAX_LOOKUP_PAGES``)."""
    resource = plan.resource
    lookup = resource.lookup
    assert lookup is not None
    path = resource.list_path({})
    action = f"look up {resource.title} by {lookup.field} (GET {path})"
    matches: dict[Any, Mapping[str, Any]] = {}
    key_schema = plan.request_fields().get(lookup.field)
    # Procurify stores the key trimmed (DRF's default), so it is looked for trimmed.
    wanted = value.strip() if isinstance(value, str) else value
    page, num_pages = 1, 1
    while page <= num_pages:
        params: dict[str, str | int] = {lookup.filter: wanted, "page_size": LOOKUP_PAGE_SIZE}
        if page > 1:
            params["page"] = page
        answer = attempt.read_json(path, params)
        response, body = answer.response, answer.body
        raise_for_response(response, action)
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, list):
            raise ProcurifyError(
                f"Procurify's answer to {action} had no 'data' list; try again later."
            )
        if page == 1:
            num_pages = max(pagination_value(body, "num_pages") or 1, 1)
            if num_pages > MAX_LOOKUP_PAGES:
                raise ProcurifyError(
                    f"The lookup to {action} is too broad: Procurify answered "
                    f"{num_pages} pages (more than {MAX_LOOKUP_PAGES}) for one "
                    f"{lookup.field}, so it seems to ignore the {lookup.filter!r} filter."
                )
        # Filtered again here: an ignored filter must not make every record a match.
        # A record seen on two pages (the list shifted meanwhile) counts once.
        for position, item in enumerate(data):
            if isinstance(item, Mapping) and same(
                value, item.get(lookup.field), key_schema, lookup.field
            ):
                found_id = plan.id_of(item)
                seen = found_id if isinstance(found_id, str | int) else (page, position)
                matches.setdefault(seen, item)
        page += 1
    return list(matches.values())


def as_sent(plan: Plan, prepared: Prepared, existing: Mapping[str, Any]) -> bool:
    """Whether ``existing`` holds every field the record gave (under the record field
    the lookup's ``compare`` names, where request and record differ)."""
    given = prepared.given
    lookup = plan.resource.lookup
    compare = lookup.compare if lookup is not None else None
    pairs = compare.items() if compare is not None else ((name, name) for name in given)
    fields = plan.request_fields()
    return all(
        same(given[name], existing.get(stored), fields.get(name), name)
        for name, stored in pairs
        if name in given
    )
