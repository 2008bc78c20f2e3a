"""dlt column hints from the flattened stream schemas: every property a resource declares
becomes a column with its data type, so that a column whose values are all null (which dlt
cannot infer a type from, and would drop) is still created.

No dlt import here: the hints are plain dicts (dlt's ``TColumnSchema``), computed from
:func:`nexla_procurify.singer_schema.flatten_schema`'s output.

Types: ``integer`` -> ``bigint``, ``number`` -> ``double``, ``boolean`` -> ``bool``, a string
with ``format: date-time`` -> ``timestamp`` and ``format: date`` -> ``date``; other strings,
``decimal`` ones included (kept exact as text), -> ``text``; objects and arrays -> ``json``
(stored as one JSON value in the resource's table, not unnested into child tables, so that one
record is one row). A property admitting several non-null types is ``json`` (a value of any of
them fits). Key properties are not nullable; every other column is.
"""

from __future__ import annotations

__all__ = ["column_hints", "data_type"]

from collections.abc import Mapping, Sequence
from typing import Any

_SCALARS = {"integer": "bigint", "number": "double", "boolean": "bool"}
_STRING_FORMATS = {"date-time": "timestamp", "date": "date"}


def data_type(prop: Mapping[str, Any]) -> str:
    """The dlt data type of one flattened property schema (see the module docstring)."""
    declared = prop.get("type")
    types = set(declared) if isinstance(declared, list) else {declared}
    types.discard("null")
    if types == {"integer", "number"}:
        types = {"number"}
    if len(types) != 1:
        return "json"  # several kinds (or none said): any JSON value
    (kind,) = types
    if kind == "string":
        return _STRING_FORMATS.get(str(prop.get("format")), "text")
    return _SCALARS.get(str(kind), "json")


def column_hints(schema: Mapping[str, Any], key: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """``{column: {"name", "data_type", "nullable"}}`` for every top-level property of the
    flattened ``schema``, in its order; the ``key`` columns not nullable."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    return {
        name: {
            "name": name,
            "data_type": data_type(prop if isinstance(prop, Mapping) else {}),
            "nullable": name not in key,
        }
        for name, prop in properties.items()
    }
