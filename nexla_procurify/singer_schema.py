"""Target-friendly stream schemas: a shipped stream schema (JSON Schema 2020-12) flattened into
the form Singer targets read.

Targets (target-sqlite, target-postgres, ...) read a ``SCHEMA`` message property by property and
expect a plain ``type`` on each; they do not follow ``$ref`` nor understand ``anyOf``/``oneOf``/
``allOf``. :func:`flatten_schema` gives every schema in it a plain ``type`` (``"X"``, or a list
such as ``["X", "null"]``): every ``$ref`` is inlined, ``allOf`` intersected, ``anyOf``/``oneOf``
merged into one type list (``number`` absorbs ``integer``; objects merge their properties,
required where every branch requires them; arrays their items). A constraint survives a merge
when every branch admitting its type carries it, widened (the larger ``maxLength``, the union of
``enum`` values; ``format`` and ``pattern`` when the branches agree). ``const`` becomes a one-value
``enum`` (Singer schemas are draft-4 era). Left out: ``$schema``, ``$id``, ``$defs``, annotations
below the top (``x-...``), and what a target cannot use or may misread (``not``, ``if``,
``patternProperties``, ``exclusiveMinimum``: a boolean in draft 4, a number in 2020-12). The key
properties are made required and non-null.

The promise: every instance valid against the given schema is valid against the result (which
may be looser), but for a key that is missing or null; every field the given schema declares
anywhere (in any branch, through any reference) the result declares.

Recursive references: a ``$ref`` met again within its own expansion, or more than
:data:`MAX_REF_DEPTH` expansions deep, is not expanded: it becomes the types its target declares
(``{"type": "object"}``: a target stores the value as JSON), or every JSON type when its target
declares none, and the fields below it are not declared. None of the shipped stream schemas is
recursive. References outside the document (or to anchors) become every JSON type.
"""

from __future__ import annotations

__all__ = ["MAX_REF_DEPTH", "flatten_schema"]

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any
from urllib.parse import unquote

# Nested ``$ref`` expansions followed before a reference is cut short (see the module docstring).
MAX_REF_DEPTH = 16

Schema = dict[str, Any]

_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")
_ALL = frozenset(_ORDER)
# Constraints that apply to values of one kind only (``maxLength`` says nothing of a number).
_GROUPS: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = (
    (frozenset({"string"}), ("minLength", "maxLength", "pattern", "format")),
    (frozenset({"integer", "number"}), ("minimum", "maximum", "multipleOf")),
    (frozenset({"array"}), ("minItems", "maxItems", "uniqueItems")),
    (frozenset({"object"}), ("minProperties", "maxProperties")),
)
_LOWER = frozenset({"minLength", "minimum", "minItems", "minProperties"})
_UPPER = frozenset({"maxLength", "maximum", "maxItems", "maxProperties"})


def flatten_schema(schema: Mapping[str, Any], key: Sequence[str] = ()) -> Schema:
    """``schema`` (a stream schema, left unchanged) flattened for Singer targets, with the
    properties named in ``key`` required and non-null (see the module docstring)."""
    flat = _emit(_node(schema, _Context(schema, ())))
    top: Schema = {name: schema[name] for name in ("title", "description") if name in schema}
    top.update(flat)
    properties = top.get("properties", {})
    for name in key:
        if name in properties:
            properties[name] = _not_null(properties[name])
        required = top.setdefault("required", [])
        if name not in required:
            required.append(name)
    return top


@dataclass(frozen=True)
class _Context:
    root: Mapping[str, Any]
    refs: tuple[str, ...]  # the references being expanded, outermost first


# Internally a schema is a dict whose "type" is the frozenset of types it admits (every type
# when the schema says none), with the constraints kept, "properties", "items" and
# "additionalProperties" holding such dicts.


def _any() -> Schema:
    return {"type": _ALL}


def _never() -> Schema:
    return {"type": frozenset(), "enum": []}


def _admits(types: frozenset[str], kind: str) -> bool:
    return kind in types or (kind == "integer" and "number" in types)


def _kind(value: Any) -> str:
    """The JSON type of a value (``1.0`` is an integer, as in JSON Schema)."""
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    names = {type(None): "null", bool: "boolean", int: "integer", str: "string", list: "array"}
    return names.get(type(value), "object")


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {str(name): _canonical(item) for name, item in value.items()}
    return value


def _same(value: Any) -> str:
    """A key equal for values JSON Schema calls equal (``1`` and ``1.0``; not ``1``, ``true``)."""
    return json.dumps(_canonical(value), sort_keys=True)


def _node(schema: Any, context: _Context) -> Schema:
    if schema is False:
        return _never()
    if not isinstance(schema, Mapping):
        return _any()
    parts = [_own(schema, context)]
    if "$ref" in schema:
        parts.append(_ref(schema["$ref"], context))
    if isinstance(schema.get("allOf"), list):
        parts.extend(_node(sub, context) for sub in schema["allOf"])
    for name in ("anyOf", "oneOf"):
        if isinstance(schema.get(name), list):
            parts.append(reduce(_join, (_node(sub, context) for sub in schema[name]), _never()))
    return reduce(_meet, parts)


def _own(schema: Mapping[str, Any], context: _Context) -> Schema:
    """What ``schema`` says itself, without its references and compositions."""
    declared = schema.get("type")
    node: Schema = {"type": _ALL}
    if isinstance(declared, str | list):
        node["type"] = frozenset([declared] if isinstance(declared, str) else declared) & _ALL
    if "const" in schema or isinstance(schema.get("enum"), list):
        node["enum"] = [schema["const"]] if "const" in schema else list(schema["enum"])
        if declared is None:
            node["type"] = frozenset(_kind(value) for value in node["enum"])
    elif node["type"] == {"null"}:  # one value: kept when a union of enums holds it
        node["enum"] = [None]
    for _, names in _GROUPS:
        node.update({name: schema[name] for name in names if name in schema})
    if isinstance(schema.get("properties"), Mapping):
        node["properties"] = {
            str(name): _node(sub, context) for name, sub in schema["properties"].items()
        }
    if isinstance(schema.get("required"), list):
        node["required"] = [str(name) for name in schema["required"]]
    if "patternProperties" in schema:  # left out: the other fields may then be anything
        node["additionalProperties"] = _any()
    elif "additionalProperties" in schema:
        node["additionalProperties"] = _node(schema["additionalProperties"], context)
    items, prefix = schema.get("items"), schema.get("prefixItems")
    if isinstance(prefix, list):
        if items is not None:  # without ``items``, anything may follow the prefix
            node["items"] = reduce(_join, (_node(sub, context) for sub in [*prefix, items]))
    elif isinstance(items, Mapping | bool):
        node["items"] = _node(items, context)
    return node


def _ref(ref: Any, context: _Context) -> Schema:
    target = _resolve(context.root, ref)
    if target is None:
        return _any()
    if ref in context.refs or len(context.refs) >= MAX_REF_DEPTH:
        if isinstance(target, Mapping) and isinstance(target.get("type"), str | list):
            return _own({"type": target["type"]}, context)
        return _never() if target is False else _any()
    return _node(target, _Context(context.root, (*context.refs, ref)))


def _resolve(root: Mapping[str, Any], ref: Any) -> Any:
    """The schema a local ``#/...`` JSON pointer reference names, or ``None``."""
    if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
        return None
    node: Any = root
    for part in ref[2:].split("/") if ref != "#" else ():
        part = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _meet(a: Schema, b: Schema) -> Schema:
    """A schema admitting every instance both admit (their intersection, or looser)."""
    node: Schema = {
        "type": frozenset(
            kind
            for kind in a["type"] | b["type"]
            if _admits(a["type"], kind) and _admits(b["type"], kind)
        )
    }
    if "enum" in a and "enum" in b:
        other = {_same(value) for value in b["enum"]}
        node["enum"] = [value for value in a["enum"] if _same(value) in other]
    elif "enum" in a or "enum" in b:
        node["enum"] = a.get("enum", b.get("enum"))
    for name in (name for _, names in _GROUPS for name in names):
        if name in a and name in b:
            node[name] = _combine(name, a[name], b[name], union=False)
        elif name in a or name in b:
            node[name] = a.get(name, b.get(name))
    if "properties" in a or "properties" in b:
        mine, theirs = a.get("properties", {}), b.get("properties", {})
        node["properties"] = {
            name: _meet(mine[name], theirs[name])
            if name in mine and name in theirs
            else mine.get(name, theirs.get(name))
            for name in [*mine, *theirs]
        }
    if "required" in a or "required" in b:
        node["required"] = list(dict.fromkeys([*a.get("required", []), *b.get("required", [])]))
    for name in ("additionalProperties", "items"):
        if name in a and name in b:
            node[name] = _meet(a[name], b[name])
        elif name in a or name in b:
            node[name] = a.get(name, b.get(name))
    return node


def _join(a: Schema, b: Schema) -> Schema:
    """A schema admitting every instance either admits (their union, or looser)."""
    node: Schema = {"type": a["type"] | b["type"]}
    if "enum" in a and "enum" in b:
        node["enum"] = list({_same(value): value for value in [*a["enum"], *b["enum"]]}.values())
    for kinds, names in _GROUPS:
        in_a, in_b = (any(_admits(s["type"], kind) for kind in kinds) for s in (a, b))
        for name in names:
            if in_a and in_b and name in a and name in b:
                wider = _combine(name, a[name], b[name], union=True)
                if wider is not None:
                    node[name] = wider
            elif in_a != in_b and name in (a if in_a else b):
                node[name] = (a if in_a else b)[name]
    in_a, in_b = ("object" in s["type"] for s in (a, b))
    if in_a and in_b:
        fields = list(dict.fromkeys([*a.get("properties", {}), *b.get("properties", {})]))
        if fields:
            node["properties"] = {name: _join(_field(a, name), _field(b, name)) for name in fields}
        node["required"] = [name for name in a.get("required", []) if name in b.get("required", [])]
        # Fields no property names: declared by a branch that has no properties or says what
        # other fields hold (``additionalProperties``), anything by one that does not.
        extra_a, extra_b = a.get("additionalProperties"), b.get("additionalProperties")
        if any(
            extra is not None or "properties" not in s for s, extra in ((a, extra_a), (b, extra_b))
        ):
            node["additionalProperties"] = (
                _any() if extra_a is None or extra_b is None else _join(extra_a, extra_b)
            )
    elif in_a or in_b:
        source = a if in_a else b
        node.update(
            {
                name: source[name]
                for name in ("properties", "required", "additionalProperties")
                if name in source
            }
        )
    in_a, in_b = ("array" in s["type"] for s in (a, b))
    if in_a and in_b and "items" in a and "items" in b:
        node["items"] = _join(a["items"], b["items"])
    elif in_a != in_b and "items" in (a if in_a else b):
        node["items"] = (a if in_a else b)["items"]
    return node


def _field(schema: Schema, name: str) -> Schema:
    """The schema ``schema`` holds a field ``name`` of an object to."""
    found: Schema = schema.get("properties", {}).get(name, schema.get("additionalProperties"))
    return _any() if found is None else found


def _combine(name: str, a: Any, b: Any, *, union: bool) -> Any:
    """One value for a constraint both schemas carry: in their intersection (both hold), or in
    their union (either holds; ``None`` to drop it)."""
    if name in _LOWER | _UPPER:
        return (min if (name in _LOWER) == union else max)(a, b)
    if name == "uniqueItems":
        return a and b if union else a or b
    return a if a == b or not union else None


def _unconstrained(node: Schema) -> bool:
    return node["type"] >= _ALL and len(node) == 1


def _emit(node: Schema) -> Schema:
    """The Singer form of an internal schema: ``type`` a name or a list, ``null`` last."""
    types = node["type"] or _ALL  # admits nothing: any form is as true, the loosest is plainest
    if "number" in types:
        types = types - {"integer"}
    ordered = [kind for kind in _ORDER if kind in types]
    out: Schema = {"type": ordered[0] if len(ordered) == 1 else ordered}
    values = [value for value in node.get("enum", ()) if _admits(types, _kind(value))]
    if values and node["type"]:
        out["enum"] = values
    for kinds, names in _GROUPS:
        if kinds & types:
            out.update({name: node[name] for name in names if name in node})
    if "object" in types:
        if "properties" in node:
            out["properties"] = {name: _emit(sub) for name, sub in node["properties"].items()}
        if node.get("required"):
            out["required"] = list(node["required"])
        extra = node.get("additionalProperties")
        if extra is not None and not _unconstrained(extra):
            out["additionalProperties"] = _emit(extra) if extra["type"] else False
        elif extra is not None and "properties" in out:  # other fields declared, any value
            out["additionalProperties"] = True
    if "array" in types and "items" in node and not _unconstrained(node["items"]):
        out["items"] = _emit(node["items"])
    return out


def _not_null(schema: Schema) -> Schema:
    """A key property's schema without ``null`` (unless it admits nothing else)."""
    declared = schema["type"]
    kinds = [
        kind for kind in ([declared] if isinstance(declared, str) else declared) if kind != "null"
    ]
    if not kinds:
        return schema
    enum = (
        {"enum": [value for value in schema["enum"] if value is not None]}
        if "enum" in schema
        else {}
    )
    return {**schema, "type": kinds[0] if len(kinds) == 1 else kinds, **enum}
