"""Whether a record Procurify stored holds what was sent, once Procurify has normalised it.

Procurify is a Django REST framework API, and DRF stores a value in its own form rather than as
sent: text is trimmed (``CharField(trim_whitespace=True)``, the default), decimals are
reformatted to the field's places (``"12.5"`` comes back ``"12.500000"``), e-mail addresses
are lower-cased (the domain at least), and a whole number may be sent as its digits. A record
found after a POST whose answer was lost must be recognised as ours through that normalisation,
or our own creation would be reported as someone else's record.

``same(sent, stored, schema, name)`` compares one value, guided by the request schema of the
field where there is one (``format: decimal``, ``format: email``, ``type``), and by the
field's name (``email``) where there is none. Booleans are never numbers, and ``None`` equals
only ``None``.
"""

from __future__ import annotations

__all__ = ["same"]

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

# Longest text compared as a number: a decimal with more digits than this is compared as text
# (Decimal() of a huge string is slow, and no Procurify amount comes close).
MAX_NUMBER_TEXT = 60


def same(sent: Any, stored: Any, schema: Any = None, name: str = "") -> bool:
    """Whether ``stored`` (as Procurify answers it) is ``sent`` after DRF's normalisation."""
    schema = schema if isinstance(schema, Mapping) else {}
    if sent == stored and type(sent) is type(stored):
        return True
    if isinstance(sent, bool) or isinstance(stored, bool):
        return sent is stored
    if sent is None or stored is None:
        return False
    if isinstance(sent, Mapping):
        return _same_object(sent, stored, schema)
    if isinstance(sent, list | tuple):
        return _same_list(sent, stored, schema, name)
    if isinstance(stored, Mapping):
        # A related record sent by id may come back expanded.
        return "id" in stored and same(sent, stored["id"])
    if _is_email(schema, name) and isinstance(sent, str) and isinstance(stored, str):
        return sent.strip().casefold() == stored.strip().casefold()
    if _numeric(schema, sent, stored):
        sent_number, stored_number = _number(sent), _number(stored)
        if sent_number is not None and stored_number is not None:
            return sent_number == stored_number
    if isinstance(sent, str) and isinstance(stored, str):
        return sent.strip() == stored.strip()
    return bool(sent == stored)


def _same_object(sent: Mapping[str, Any], stored: Any, schema: Mapping[str, Any]) -> bool:
    if not isinstance(stored, Mapping):
        return False
    properties = schema.get("properties")
    fields = properties if isinstance(properties, Mapping) else {}
    return all(
        same(value, stored.get(key), fields.get(key), str(key)) for key, value in sent.items()
    )


def _same_list(
    sent: list[Any] | tuple[Any, ...], stored: Any, schema: Mapping[str, Any], name: str
) -> bool:
    if not isinstance(stored, list | tuple) or len(stored) != len(sent):
        return False
    items = schema.get("items")
    return all(same(one, other, items, name) for one, other in zip(sent, stored, strict=True))


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {item for item in declared if isinstance(item, str)}
    return set()


def _is_email(schema: Mapping[str, Any], name: str) -> bool:
    if schema.get("format") == "email":
        return True
    return not schema and "email" in name.lower()


def _numeric(schema: Mapping[str, Any], sent: Any, stored: Any) -> bool:
    """Whether the two are compared as numbers: a decimal or number field, an integer field
    sent or stored as its digits, or (without a schema) a number against its text."""
    if schema.get("format") == "decimal" or _types(schema) & {"number", "integer"}:
        return True
    if schema:
        return False
    return isinstance(sent, int | float) != isinstance(stored, int | float)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None
