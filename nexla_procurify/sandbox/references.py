"""Ids in write bodies that cite other records.

Procurify's serializers take another record by its primary key (DRF's
``PrimaryKeyRelatedField``): an unknown id is refused with ``Invalid pk "7" - object does not
exist.`` under the field's name, a known one is stored as the record it cites. ``expand`` does
both for the fields ``registry.REFERENCES`` lists; the record is then fitted to the answer
schema by ``Shaper.merge`` (a department's ``branch`` is also offered as its ``location``, the
name a user's department gives it).
"""

from __future__ import annotations

__all__ = ["Errors", "cited", "default_role", "expand", "invalid"]

from collections.abc import Mapping
from typing import Any

from nexla_procurify.sandbox.database import Database
from nexla_procurify.sandbox.generate import Record
from nexla_procurify.sandbox.registry import DEFAULT_ROLE, REFERENCES, ROLES

Errors = dict[str, list[str]]


def invalid(ref: Any) -> str:
    """DRF's message for a reference to a record that does not exist."""
    return f'Invalid pk "{ref}" - object does not exist.'


def role(role_id: int) -> Record | None:
    for number, name, kind in ROLES:
        if number == role_id:
            return {"id": number, "name": name, "type": kind}
    return None


def default_role() -> Record:
    """The role users get when none is given."""
    found = role(DEFAULT_ROLE)
    assert found is not None
    return found


def cited(database: Database, target: str, ref: Any) -> Record | None:
    """The record of ``target`` whose id is ``ref``; None when there is none."""
    if isinstance(ref, dict):
        ref = ref.get("id")
    if not isinstance(ref, int) or isinstance(ref, bool):
        return None
    if target == "roles":
        return role(ref)
    table = database.table(target)
    with table.lock:
        position = database.locate(target, ref)
        if position is None:
            return None
        record = dict(table.get(position))
    if "branch" in record:
        record.setdefault("location", record["branch"])
    return record


def expand(
    database: Database, collection: str, body: Mapping[str, Any]
) -> tuple[dict[str, Any], Errors]:
    """``body`` with each cited id replaced by its record, and the errors of unknown ids."""
    out = dict(body)
    errors: Errors = {}
    for field, target in REFERENCES.get(collection, {}).items():
        value = body.get(field)
        if value is None:
            continue
        refs = value if isinstance(value, list) else [value]
        found = [cited(database, target, ref) for ref in refs]
        missing = [ref for ref, record in zip(refs, found, strict=True) if record is None]
        if missing:
            ref = missing[0]
            errors[field] = [invalid(ref.get("id") if isinstance(ref, dict) else ref)]
        else:
            out[field] = found if isinstance(value, list) else found[0]
    return out, errors
